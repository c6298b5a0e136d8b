"""Import an existing HAProxy or nginx config into a spec: ``lbgen import``.

The config is parsed (:mod:`lbgen.confparse`) and its effective model
(:mod:`lbgen.confparse.effective`) is turned into spec fields:

- a field the config leaves to the engine becomes ``null`` wherever lbgen's built-in default
  would otherwise write something (so that rendering the import says what the config said, and
  nothing more);
- per-server values shared by a pool are hoisted to the pool, and pool or frontend values every
  pool or frontend shares are hoisted to ``defaults``, rather than repeated;
- every directive without a spec field becomes a YAML comment where it belongs and a warning
  (``import-unmapped``) pointing at its line.

Finally the imported spec is rendered for the config's engine and compared with the config
(:func:`lbgen.compare.diff_config`): any remaining difference the directive warnings do not
already name is reported as ``import-lossy``. The warnings therefore cover everything the spec
cannot reproduce, by construction.
"""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from lbgen.confparse import parse_config, read_config_text
from lbgen.confparse.effective import (
    Backend,
    Config,
    Frontend,
    Origin,
    Server,
    effective,
    format_duration,
    nginx_stream_nodes,
    normalize_address,
)
from lbgen.confparse.tree import ConfigTree, Node
from lbgen.diagnostics import Diagnostic, Level, SpecError, sort_key
from lbgen.engine import get_engine
from lbgen.names import LOG_FORMAT
from lbgen.resolve import BUILTIN_DEFAULTS
from lbgen.spec.models import NAME_PATTERN
from lbgen.units import AddressError, parse_host_port

UNMAPPED = "import-unmapped"
"""A directive (or server parameter) the spec has no field for: left out, named in a comment."""
SKIPPED = "import-skipped"
"""A whole section the spec cannot hold (an HTTP frontend, a backend without servers)."""
LOSSY = "import-lossy"
"""Rendering the imported spec still differs from the config here."""
NOTHING = "import-empty"
"""The config holds no TCP frontend with servers behind it: there is nothing to import."""

_NAME = re.compile(NAME_PATTERN)
_SERVER_PARAMS = ("weight", "slowstart", "maxconn", "maxqueue")


@dataclass(frozen=True)
class ImportResult:
    """The spec as YAML text, and what could not be imported (warnings) or went wrong."""

    yaml_text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    engine: str = "haproxy"
    target: str = "haproxy"
    """The render target the spec was checked against (``nginx-plus`` for active checks)."""

    @property
    def ok(self) -> bool:
        """False when an error means the YAML is not a usable spec."""
        return not any(d.level is Level.ERROR for d in self.diagnostics)


def import_config(text: str, filename: str, engine: str | None = None) -> ImportResult:
    """Turn config text (``engine`` ``haproxy``/``nginx``, detected when None) into a spec.

    Raises :class:`~lbgen.diagnostics.SpecError` when the config cannot be read (syntax, engine
    not recognisable, invalid values). See the module docstring for what the result holds.
    """
    tree = parse_config(text, filename, engine)
    config = effective(tree)
    errors = [d for d in config.diagnostics if d.level is Level.ERROR]
    if errors:
        raise SpecError(errors)
    draft = Draft(tree, config)
    if tree.engine == "haproxy":
        import_into = get_engine(tree.engine).import_into
        assert import_into is not None
        import_into(tree, draft)
    else:
        _NginxImport(draft).run()
    if not draft.frontends or not draft.pools:
        draft.diagnostics.append(
            Diagnostic(
                Level.ERROR,
                NOTHING,
                "nothing to import: no TCP frontend that sends its connections to servers",
                file=filename,
            )
        )
        return ImportResult(draft.yaml(), _sorted(draft.diagnostics), tree.engine, draft.target)
    yaml_text = draft.yaml()
    _self_check(draft, yaml_text, text, filename)
    return ImportResult(yaml_text, _sorted(draft.diagnostics), tree.engine, draft.target)


def import_file(path: str | Path, engine: str | None = None) -> ImportResult:
    """Read a config file and import it; see :func:`import_config`."""
    return import_config(read_config_text(path), str(path), engine)


def _sorted(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = list(dict.fromkeys(diagnostics))
    return sorted(unique, key=sort_key)


# --- the spec being built ----------------------------------------------------------------------


def duration_text(us: int | None) -> str | None:
    """Microseconds (the effective model's base) as a spec duration in the largest exact unit."""
    return None if us is None else format_duration(us)


def _builtin(key: str) -> Any:
    """lbgen's built-in default for a dotted field (``health.interval``)."""
    value: Any = BUILTIN_DEFAULTS.model_dump(mode="json", by_alias=True)
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class Draft:
    """The spec under construction: flat per-entity fields, comments and diagnostics."""

    def __init__(self, tree: ConfigTree, config: Config) -> None:
        self.tree = tree
        self.config = config
        self.file = tree.file
        self.name: str | None = None
        self.global_: dict[str, Any] = {}
        self.frontends: dict[str, dict[str, Any]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.servers: dict[str, dict[str, dict[str, Any]]] = {}
        self.defaults: dict[str, Any] = {}
        self.comments: dict[tuple[str, ...], list[str]] = {}
        self.diagnostics: list[Diagnostic] = []
        self.warned: set[tuple[int | None, str]] = set()
        """(line, directive text or keyword) of every directive named in a warning."""
        self.skipped: set[int | None] = set()
        """Lines of sections left out as a whole."""
        self.target = tree.engine
        """The render target the import is checked against (nginx-plus for active checks)."""
        self.replaced: set[str] = set()
        """Scopes of lbgen's own listeners that stand in for a config's (``frontend X``)."""

    # -- reporting ------------------------------------------------------------------------------

    def unmapped(self, node: Node, where: tuple[str, ...], text: str | None = None,
                 why: str = "no spec field") -> None:  # fmt: skip
        """A directive (or part of one: ``text``) the spec cannot hold."""
        text_shown = one_line(text) if text else shown(node)
        self.comments.setdefault(where, []).append(f"{node.location()}: {text_shown}  ({why})")
        self.diagnostics.append(
            Diagnostic(
                Level.WARNING, UNMAPPED, f"{text_shown}: {why}; not in the imported spec",
                file=node.file, line=node.line, col=node.col,
            )
        )  # fmt: skip
        self.warned.add((node.line, text_shown))
        self.warned.add((node.line, text_shown.split(" ", 1)[0]))

    def skip(self, node: Node, what: str, why: str) -> None:
        """A whole section the spec cannot hold."""
        self.comments.setdefault((), []).append(f"{node.location()}: {what} left out ({why})")
        self.diagnostics.append(
            Diagnostic(
                Level.WARNING, SKIPPED, f"{what}: {why}; left out of the imported spec",
                file=node.file, line=node.line, col=node.col,
            )
        )  # fmt: skip
        self.skipped.add(node.line)

    def note(self, where: tuple[str, ...], text: str) -> None:
        """An explanation in the YAML (no diagnostic): how a value was derived."""
        self.comments.setdefault(where, []).append(text)

    def warn(self, origin: Origin | None, keyword: str, message: str) -> None:
        """A warning (``import-unmapped``) at an origin of the effective model, about the
        directive ``keyword`` on that line."""
        self.diagnostics.append(
            Diagnostic(
                Level.WARNING, UNMAPPED, message,
                file=origin.file if origin else self.file, line=origin.line if origin else None,
                col=origin.col if origin else None,
            )
        )  # fmt: skip
        if origin is not None:
            self.warned.add((origin.line, keyword))

    # -- names ----------------------------------------------------------------------------------

    def safe_name(self, text: str, taken: Iterable[str], node: Node | None, what: str) -> str:
        """A valid, unused spec name for ``text`` (warned when it had to change)."""
        name = text
        if not _NAME.match(name):
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-_.")[:63] or what
            if not name[0].isalnum():
                name = f"x{name}"[:63]
        base, count, used = name, 2, set(taken)
        while name in used:
            name = f"{base[:58]}-{count}"
            count += 1
        if name != text and node is not None:
            self.diagnostics.append(
                Diagnostic(
                    Level.NOTE, "import-renamed",
                    f"{what} {text!r} is not a valid or unique spec name; imported as {name!r}",
                    file=node.file, line=node.line, col=node.col,
                )
            )  # fmt: skip
        return name

    # -- hoisting -------------------------------------------------------------------------------

    def hoist(self) -> None:
        """Move to ``defaults`` every pool field all pools agree on and every frontend timeout
        all frontends agree on; then drop what merely repeats the inherited value."""
        for group, keys in (
            (self.pools, {k for p in self.pools.values() for k in p}),
            (self.frontends, {k for f in self.frontends.values() for k in f if "." in k}),
        ):
            for key in sorted(keys, key=_field_rank):
                values = [entity.get(key, _MISSING) for entity in group.values()]
                if group and all(v is not _MISSING and v == values[0] for v in values):
                    self.defaults[key] = values[0]
                    for entity in group.values():
                        del entity[key]
        # What the config says is written out even where it equals lbgen's built-in default
        # (an import documents the config); only a null where the built-in is null too goes.
        for fields in (self.defaults, *self.pools.values(), *self.frontends.values()):
            for key in list(fields):
                if key not in ("bind", "pool") and fields[key] is None and _builtin(key) is None:
                    del fields[key]

    # -- output ---------------------------------------------------------------------------------

    def yaml(self) -> str:
        """The spec as commented YAML, in spec order."""
        root = CommentedMap()
        root["version"] = 1
        if self.name:
            root["name"] = self.name
        if self.global_:
            root["global"] = _nest(self.global_)
        if self.defaults:
            root["defaults"] = _nest(_in_order(self.defaults))
        frontends = CommentedMap()
        for name, fields in self.frontends.items():
            frontends[name] = _nest(_in_order(fields))
        root["frontends"] = frontends
        pools = CommentedMap()
        for name, fields in self.pools.items():
            pool = _nest(_in_order(fields))
            servers = CommentedMap()
            for server_name, server in self.servers.get(name, {}).items():
                only_address = list(server) == ["address"]
                servers[server_name] = server["address"] if only_address else _nest(server)
            pool["servers"] = servers
            pools[name] = pool
        root["pools"] = pools
        self._attach_comments(root)
        stream = io.StringIO()
        _yaml().dump(root, stream)
        header = (
            f"# Imported by lbgen from {one_line(self.file)} ({self.tree.engine}).\n"
            "# Comments name what the config says that this spec cannot: review them before\n"
            "# rendering over the original (lbgen diff SPEC -t TARGET --against CONFIG).\n"
        )
        start = ""
        for line in self.comments.get((), []):
            start += f"# {one_line(line)}\n"
        return header + start + stream.getvalue().rstrip() + "\n"

    def _attach_comments(self, root: CommentedMap) -> None:
        for where, lines in list(self.comments.items()):
            if not where:
                continue
            parent: Any = root
            key_path = list(where)
            # Walk to the mapping that holds the last key; fall back to the nearest existing.
            found = True
            for part in key_path[:-1]:
                if isinstance(parent, CommentedMap) and part in parent:
                    parent = parent[part]
                else:
                    found = False
                    break
            if not found or not isinstance(parent, CommentedMap) or key_path[-1] not in parent:
                self.comments.setdefault((), []).extend(lines)
                continue
            depth = len(key_path) - 1
            text = "\n".join(one_line(line) for line in lines)
            parent.yaml_set_comment_before_after_key(key_path[-1], before=text, indent=2 * depth)


_MISSING: Any = object()
_FIELD_ORDER = (
    "bind", "pool", "balance", "health.check", "health.path", "health.expect", "health.interval",
    "health.fast_interval", "health.down_interval", "health.rise", "health.fall",
    "health.timeout", "health.client_cert", "health.sni", "slowstart", "maxconn", "maxqueue",
    "weight", "retries", "redispatch", "timeouts.connect", "timeouts.client", "timeouts.server",
    "timeouts.tunnel", "timeouts.client_fin", "timeouts.server_fin", "timeouts.queue",
)  # fmt: skip


def _field_rank(key: str) -> int:
    """Spec order (the order of DESIGN.md's example), so the YAML reads like a written spec."""
    return _FIELD_ORDER.index(key) if key in _FIELD_ORDER else len(_FIELD_ORDER)


def _in_order(flat: Mapping[str, Any]) -> dict[str, Any]:
    return {k: flat[k] for k in sorted(flat, key=_field_rank)}


def _nest(flat: Mapping[str, Any]) -> CommentedMap:
    """``{"health.check": "tcp"}`` -> ``{health: {check: tcp}}`` in insertion order."""
    out = CommentedMap()
    for key, value in flat.items():
        target = out
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, CommentedMap())
        target[parts[-1]] = _yaml_value(value)
    return out


def _yaml_value(value: Any) -> Any:
    if isinstance(value, list):
        seq = CommentedSeq([_yaml_value(v) for v in value])
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, dict):
        return _nest(value)
    if isinstance(value, str) and value[:1] in (":", "[", "*"):
        return DoubleQuotedScalarString(value)
    return value


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    # An explicit null says "leave it to the engine"; an empty value would look like a mistake.
    yaml.representer.add_representer(
        type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def shown(node: Node) -> str:
    """A directive as one line for a comment; a block's body elided."""
    words = one_line(" ".join(node.words()))
    return f"{words} {{ … }}" if node.children else words


def one_line(text: str) -> str:
    """Config text as it may appear in a YAML comment: a quoted newline in a directive must not
    end the comment and smuggle YAML into the spec."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def most_common(values: Sequence[Any]) -> Any:
    """The most frequent value; ties go to the one met first."""
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def valid_address(text: str, *, bind: bool) -> bool:
    """Whether the spec accepts ``text`` as an address (a bind may leave the host empty)."""
    try:
        parse_host_port(text, allow_empty_host=bind)
    except AddressError:
        return False
    return True


def server_params(draft: Draft, pool: str, servers: Mapping[str, Server],
                   names: Mapping[str, str]) -> None:  # fmt: skip
    """Hoist weight/slowstart/maxconn/maxqueue: the most common value goes to the pool, servers
    that differ keep their own; a value no server sets is left to the engine (null)."""
    fields = draft.pools[pool]
    for key in _SERVER_PARAMS:
        values = {k: getattr(s, key) for k, s in servers.items()}
        if not any(key in s.origins for s in servers.values()) or all(
            v is None for v in values.values()
        ):
            fields[key] = None
            continue
        if key == "weight" and any(v is not None and not 0 <= v <= 256 for v in values.values()):
            for k, server in servers.items():
                if values[k] is not None and not 0 <= values[k] <= 256:
                    draft.warn(
                        server.origins.get(key, server.origin), key,
                        f"weight {values[k]}: the spec allows 0..256; left out",
                    )  # fmt: skip
                    values[k] = None
        common = most_common([v for v in values.values() if v is not None] or [None])
        fields[key] = duration_text(common) if key == "slowstart" else common
        for k, value in values.items():
            if value != common and value is not None:
                spec_value = duration_text(value) if key == "slowstart" else value
                draft.servers[pool][names[k]][key] = spec_value


UDP_LOG = re.compile(r"udp://[A-Za-z0-9.-]+:\d{1,5}|udp://\[[0-9A-Fa-f:]+\]:\d{1,5}")
"""A ``udp://host:port`` log target as the engines' log lines can spell it."""


def spec_name(draft: Draft) -> str | None:
    """The spec name from a provenance header, when it is a valid name."""
    header = draft.config.header_fields().get("spec")
    if header and _NAME.match(header):
        return header
    stem = Path(draft.file).stem
    return draft.safe_name(stem, (), None, "spec") if stem and stem != "-" else None


# --- nginx -------------------------------------------------------------------------------------

_NGINX_METHODS = {
    ("least_conn",): "leastconn",
    ("hash", "$remote_addr", "consistent"): "source",
    ("random", "two", "least_conn"): "random",
}
_NGINX_SERVER_WORDS = ("weight", "max_fails", "fail_timeout", "max_conns", "down", "backup")
_NGINX_PROXY_KEYWORDS = frozenset(
    {"proxy_connect_timeout", "proxy_timeout", "proxy_next_upstream", "proxy_next_upstream_tries"}
)


class _NginxImport:
    """nginx stream config -> spec fields."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft
        self.config = draft.config
        self.pool_names: dict[str, str] = {}
        self.error_logs: list[Node] = []
        self.checks: dict[str, Node] = {}
        """NGINX Plus ``health_check`` of the server block proxying to each upstream."""

    def run(self) -> None:
        d = self.d
        d.name = spec_name(d)
        stream = nginx_stream_nodes(d.tree)
        for block in stream:
            check = block.last("health_check") if block.keyword == "server" else None
            target = block.last("proxy_pass")
            if check is not None and target is not None and target.args:
                self.checks.setdefault(target.args[0], check)
        # Active checks are NGINX Plus: the spec is then meant for target nginx-plus.
        d.target = "nginx-plus" if self.checks else "nginx"
        self._outside(stream)
        self._stream_level(stream)
        for node in self.error_logs:
            # lbgen writes error_log itself from global.log: only that one is not a loss.
            if node.args != (_error_log_for(d.global_.get("log")),):
                d.unmapped(node, ("global",))
        for node in stream:
            if node.keyword == "upstream" and node.args:
                self._upstream(node)
        self._server_blocks(stream)
        d.hoist()

    # -- outside the upstreams ------------------------------------------------------------------

    def _outside(self, stream: list[Node]) -> None:
        """Top-level directives of a full nginx.conf (the stream block itself is read later)."""
        d = self.d
        top = list(d.tree.directives())
        if not any(n.keyword == "stream" for n in top):
            return
        for node in top:
            if node.keyword == "stream":
                continue
            if node.keyword == "events":
                for inner in node.directives():
                    if inner.keyword == "worker_connections" and inner.args[:1] == (
                        inner.args[0] if inner.args[0].isdigit() else "",
                    ):
                        d.global_["maxconn"] = int(inner.args[0])
                        continue
                    d.unmapped(inner, ("global",))
                continue
            if node.keyword == "worker_processes" and node.args == ("auto",):
                continue
            if (
                node.keyword == "load_module"
                and node.args[:1]
                and node.args[0].endswith("ngx_stream_module.so")
            ):
                continue
            if node.keyword == "error_log":
                self.error_logs.append(node)  # judged once global.log is known
                continue
            d.unmapped(node, ("global",))

    def _stream_level(self, stream: list[Node]) -> None:
        d = self.d
        log: str | None = None
        for node in stream:
            key = node.keyword
            if key in ("upstream", "server") or key in _NGINX_PROXY_KEYWORDS:
                continue
            if key == "access_log" and node.args:
                log = _nginx_log(node.args[0])
                if log is None:
                    d.unmapped(node, ("global",), why="no spec log target says this")
                continue
            if key == "log_format" and node.args[:1] == (LOG_FORMAT,):
                continue
            if key == "match" and self.checks:
                continue  # read with the health_check that names it
            d.unmapped(node, ("global",))
        d.global_["log"] = log

    # -- upstreams ------------------------------------------------------------------------------

    def _upstream(self, block: Node) -> None:
        d = self.d
        name = block.args[0]
        backend = self.config.backends.get(name)
        if backend is None or not backend.servers:
            d.skip(block, f"upstream {name}", "it has no servers")
            return
        key = d.safe_name(name, d.pools, block, "pool")
        self.pool_names[name] = key
        where = ("pools", key)
        fields: dict[str, Any] = {"balance": None}
        d.pools[key] = fields
        for node in block.directives():
            if node.keyword == "server":
                continue
            method = _NGINX_METHODS.get(node.words())
            if method is not None:
                fields["balance"] = method
            elif node.keyword == "zone":
                continue  # shared state of the workers: lbgen decides, the diff ignores it
            else:
                d.unmapped(node, where)
        names = self._servers(block, backend, key)
        if self.checks:
            self._active_health(backend, key)
        else:
            self._passive_health(backend, key)
        server_params(d, key, backend.servers, names)

    def _servers(self, block: Node, backend: Backend, pool: str) -> dict[str, str]:
        d = self.d
        names: dict[str, str] = {}
        d.servers[pool] = {}
        hosts = Counter(s.address for s in backend.servers.values())
        nodes = [n for n in block.directives() if n.keyword == "server" and n.args]
        for (model_key, server), node in zip(backend.servers.items(), nodes, strict=False):
            where = ("pools", pool)
            if not valid_address(server.endpoint, bind=False):
                d.unmapped(node, where, f"server {node.args[0]}", "the spec needs host:port")
                continue
            base = server.address if hosts[server.address] == 1 else server.endpoint
            key = d.safe_name(base, d.servers[pool], None, "server")
            names[model_key] = key
            fields: dict[str, Any] = {"address": server.endpoint}
            if server.backup:
                fields["backup"] = True
            if server.disabled:
                fields["disabled"] = True
            d.servers[pool][key] = fields
            for param in node.args[1:]:
                word = param.partition("=")[0]
                passive = word in ("max_fails", "fail_timeout")
                if word not in (*_NGINX_SERVER_WORDS, "slow_start") or (passive and self.checks):
                    why = "the spec's NGINX Plus check is active" if passive else "no spec field"
                    d.unmapped(node, ("pools", pool, "servers", key), param, why)
        return names

    def _active_health(self, backend: Backend, pool: str) -> None:
        """NGINX Plus ``health_check`` (+ ``match``): interval, fails, passes and the check's
        timeout are the spec's; what the config leaves out is null."""
        d = self.d
        fields = d.pools[pool]
        check = self.checks.get(backend.name)
        health = backend.health
        if check is None:
            fields["health.check"] = "none"
            return
        params = dict(p.partition("=")[::2] for p in check.args)
        fields["health.check"] = "http" if health.check == "http" else "tcp"
        if health.check == "http":
            fields["health.path"] = health.path
            fields["health.expect"] = list(health.expect) if health.expect else None
            if health.method != "GET" or health.expect_raw or health.rules:
                d.warn(Origin.of(check), "health_check",
                       "match: the spec checks with a GET and a list of status codes")  # fmt: skip
        server = next(iter(backend.servers.values()))
        fields["health.interval"] = duration_text(server.inter) if "interval" in params else None
        fields["health.fall"] = server.fall if "fails" in params else None
        fields["health.rise"] = server.rise if "passes" in params else None
        timeout = backend.timeouts.check
        fields["health.timeout"] = (
            duration_text(timeout) if self._has_check_timeout(backend) else None
        )
        fields["health.fast_interval"] = None
        fields["health.down_interval"] = None
        for name in params:
            if name not in ("interval", "fails", "passes", "match"):
                d.warn(Origin.of(check), "health_check", f"health_check {name}=: no spec field")

    def _has_check_timeout(self, backend: Backend) -> bool:
        for block in nginx_stream_nodes(self.d.tree):
            target = block.last("proxy_pass") if block.keyword == "server" else None
            if target is not None and target.args[:1] == (backend.name,):
                return block.last("health_check_timeout") is not None
        return False

    def _passive_health(self, backend: Backend, pool: str) -> None:
        """nginx OSS checks passively: ``max_fails``/``fail_timeout`` are the spec's ``fall``
        and ``interval * fall`` (how lbgen renders them), the rest of ``health`` is null."""
        d = self.d
        fields = d.pools[pool]
        servers = list(backend.servers.values())
        pairs = [(s.max_fails, s.fail_timeout) for s in servers]
        if len(set(pairs)) > 1:
            d.warn(servers[0].origin, "max_fails",
                   f"max_fails/fail_timeout differ between the servers of upstream "
                   f"{backend.name}; the spec's health settings are per pool")  # fmt: skip
        max_fails, fail_timeout = most_common(pairs)
        explicit = any(("max_fails" in s.origins or "fail_timeout" in s.origins) for s in servers)
        if max_fails == 0 and explicit:
            fields["health.check"] = "none"
            return
        fields["health.check"] = "tcp"
        for name in ("fast_interval", "down_interval", "rise", "timeout"):
            fields[f"health.{name}"] = None
        if not explicit or max_fails is None or fail_timeout is None:
            fields["health.interval"] = None
            fields["health.fall"] = None
            return
        fields["health.fall"] = max_fails
        # Rounded down to whole ms: lbgen renders fail_timeout as interval * fall rounded up to
        # whole seconds, which then gives back exactly the config's fail_timeout.
        interval = fail_timeout // max_fails // 1000 * 1000
        fields["health.interval"] = duration_text(interval)
        d.note(
            ("pools", pool),
            f"passive check: max_fails={max_fails} fail_timeout={duration_text(fail_timeout)} is "
            f"health.fall {max_fails} with health.interval * fall = fail_timeout",
        )

    # -- server blocks --------------------------------------------------------------------------

    def _server_blocks(self, stream: list[Node]) -> None:
        d = self.d
        by_line = {f.origin.line: f for f in self.config.frontends.values() if f.origin}
        raw_stream = _stream_children(d.tree)
        labels = _frontend_comments(raw_stream)
        per_pool: dict[str, list[Frontend]] = {}
        blocks: list[tuple[Node, Frontend, str]] = []
        for node in stream:
            if node.keyword != "server" or node.args:
                continue
            frontend = by_line.get(node.line)
            if frontend is None:
                continue
            if frontend.backend is None:
                if self._health_listener(node, frontend):
                    continue
                d.skip(node, f"server {{listen {frontend.name}}}", "it proxies to no upstream")
                continue
            pool = self.pool_names.get(frontend.backend)
            if pool is None:
                d.skip(node, f"server {{listen {frontend.name}}}",
                       f"proxy_pass {frontend.backend} is no upstream here")  # fmt: skip
                continue
            label = labels.get(node.line) or frontend.backend
            key = d.safe_name(label, d.frontends, None, "frontend")
            binds = self._listens(node, key)
            if not binds:
                d.skip(node, f"server {{listen {frontend.name}}}", "no listen address to keep")
                continue
            d.frontends[key] = {"bind": binds, "pool": pool}
            per_pool.setdefault(pool, []).append(frontend)
            blocks.append((node, frontend, key))
        for pool, frontends in per_pool.items():
            self._proxy_settings(pool, frontends, [b for b in blocks if b[1] in frontends])

    def _listens(self, node: Node, frontend: str) -> list[str]:
        out: list[str] = []
        for listen in node.find("listen"):
            if not listen.args:
                continue
            address = normalize_address(listen.args[0])
            if address.startswith("0.0.0.0:"):
                address = address.removeprefix("0.0.0.0")
            if not valid_address(address, bind=True):
                self.d.unmapped(listen, ("frontends", frontend), why="not a host:port")
                continue
            out.append(address)
            if listen.args[1:]:
                self.d.unmapped(listen, ("frontends", frontend),
                                f"listen options {' '.join(listen.args[1:])}")  # fmt: skip
        return out

    def _health_listener(self, node: Node, frontend: Frontend) -> bool:
        d = self.d
        words = {n.keyword for n in node.directives()}
        if words != {"listen", "return"} or len(frontend.binds) != 1 or "health" in d.global_:
            return False
        address = frontend.binds[0].address
        if address.startswith("0.0.0.0:"):
            address = address.removeprefix("0.0.0.0")
        d.global_["health"] = {"bind": address, "path": "/healthz"}
        d.note(("global",), f"{node.location()}: a stream server that only returns a fixed "
               "response is lbgen's liveness endpoint (nginx answers any path)")  # fmt: skip
        return True

    def _proxy_settings(
        self, pool: str, frontends: list[Frontend], blocks: list[tuple[Node, Frontend, str]]
    ) -> None:
        """Connect/idle timeouts and retries live on nginx's server blocks but on the spec's
        pools (idle: the frontend's client timeout too); the blocks of one pool must agree."""
        d = self.d
        fields = d.pools[pool]
        first = frontends[0]
        for other in frontends[1:]:
            if (other.timeouts, other.next_upstream, other.next_upstream_tries) != (
                first.timeouts, first.next_upstream, first.next_upstream_tries,
            ):  # fmt: skip
                d.warn(other.origin, "server",
                       f"server blocks proxying to {pool} differ in timeouts or retries; the "
                       "spec keeps them per pool; the first block's are imported")  # fmt: skip
        origins = first.origins
        fields["timeouts.connect"] = (
            duration_text(first.timeouts.connect) if "timeouts.connect" in origins else None
        )
        idle = duration_text(first.timeouts.idle) if "timeouts.idle" in origins else None
        fields["timeouts.server"] = idle
        fields["timeouts.tunnel"] = idle
        fields["timeouts.server_fin"] = None
        fields["timeouts.queue"] = None
        retries: int | None = None
        if "next_upstream" in origins and first.next_upstream is False:
            retries = 0
        elif "next_upstream_tries" in origins and (first.next_upstream_tries or 0) >= 2:
            retries = (first.next_upstream_tries or 0) - 1
        elif "next_upstream_tries" in origins and first.next_upstream_tries == 1:
            d.warn(origins["next_upstream_tries"], "proxy_next_upstream_tries",
                   "proxy_next_upstream_tries 1: the spec says retries 0 as "
                   "proxy_next_upstream off")  # fmt: skip
        fields["retries"] = retries
        fields["redispatch"] = None
        for node, _frontend, key in blocks:
            d.frontends[key]["timeouts.client"] = idle
            d.frontends[key]["timeouts.client_fin"] = None
            for inner in node.directives():
                if inner.keyword in ("listen", "proxy_pass", *_NGINX_PROXY_KEYWORDS):
                    continue
                if inner.keyword in ("health_check", "health_check_timeout") and self.checks:
                    continue  # read by the upstream's health
                d.unmapped(inner, ("frontends", key))


def _nginx_log(target: str) -> str | None:
    if target == "off":
        return "none"
    if target in ("/dev/stdout", "stdout"):
        return "stdout"
    if target == "syslog:server=unix:/dev/log":
        return "syslog"
    if target.startswith("syslog:server="):
        server = target.removeprefix("syslog:server=").split(",")[0]
        candidate = f"udp://{server if ':' in server.rsplit(']', 1)[-1] else server + ':514'}"
        return candidate if UDP_LOG.fullmatch(candidate) else None
    return None


def _error_log_for(log: str | None) -> str | None:
    """The ``error_log`` lbgen's nginx full layout writes for a spec log target."""
    from lbgen.targets.nginx import _error_log

    return _error_log(log)


def _stream_children(tree: ConfigTree) -> list[Node]:
    """The stream context's statements with comments (to find ``# frontend NAME``)."""
    streams = [n for n in tree.nodes if n.keyword == "stream"]
    if streams:
        return [child for s in streams for child in s.children]
    return list(tree.nodes)


def _frontend_comments(nodes: Sequence[Node]) -> dict[int | None, str]:
    """``# frontend NAME`` right above a ``server {}`` block (how lbgen names its blocks)."""
    out: dict[int | None, str] = {}
    for before, node in itertools.pairwise(nodes):
        if before.is_comment and node.keyword == "server" and not node.args:
            words = (before.comment or "").split()
            if len(words) == 2 and words[0] == "frontend":
                out[node.line] = words[1]
    return out


# --- checking the import -----------------------------------------------------------------------


def _self_check(draft: Draft, yaml_text: str, text: str, filename: str) -> None:
    """Render the imported spec for the config's engine, compare, and warn about what still
    differs and no directive warning already names."""
    from lbgen.compare import diff_config
    from lbgen.spec.load import load_spec

    try:
        spec = load_spec(yaml_text.encode("utf-8"), filename="<imported>")
        result = diff_config(spec, draft.target, text, filename)
    except SpecError as exc:
        for d in exc.diagnostics:
            if d.level is Level.ERROR:
                draft.diagnostics.append(
                    Diagnostic(Level.ERROR, "import-invalid",
                               f"the imported spec does not render: {d.message}", file=filename)
                )  # fmt: skip
        return
    for change in result.changes:
        line = change.origin.line if change.origin else None
        if change.kind in ("added", "removed") and line in draft.skipped:
            continue
        if change.kind == "added" and f"{change.scope}" in draft.replaced:
            continue
        first_word = change.setting.split(" ", 1)[0]
        # Process settings carry no line in the model: matched by keyword alone.
        if change.path[:1] == ("globals",) and any(
            text.split(" ", 1)[0] == first_word for _, text in draft.warned
        ):
            continue
        # The same directive (or a spelling of it: send-proxy-v2) on the same line: named.
        if any(
            at == line and (text == change.setting or text.startswith(first_word))
            for at, text in draft.warned
        ):
            continue
        draft.diagnostics.append(
            Diagnostic(
                Level.WARNING, LOSSY,
                f"{change.text(with_origin=False)}: the imported spec renders this differently",
                file=change.origin.file if change.origin else filename,
                line=line, col=None,
            )
        )  # fmt: skip


__all__ = [
    "LOSSY",
    "NOTHING",
    "SKIPPED",
    "UNMAPPED",
    "ImportResult",
    "import_config",
    "import_file",
]
