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
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from lbgen.confparse import parse_config, read_config_text
from lbgen.confparse.tree import ConfigTree, Node
from lbgen.diagnostics import Diagnostic, Level, SpecError, sort_key
from lbgen.effective import effective
from lbgen.effective.model import (
    Backend,
    Config,
    Origin,
    Server,
    format_duration,
)
from lbgen.engine import get_engine
from lbgen.frozen import record
from lbgen.spec.grammar import EXTRA_DIRECTIVE, LOG_TARGET
from lbgen.spec.layers import BUILTIN_DEFAULTS
from lbgen.spec.models import NAME_PATTERN
from lbgen.units import AddressError, parse_host_port

UNMAPPED = "import-unmapped"
"""A directive (or server parameter) the spec has no field for and no ``extra`` item can hold:
left out, named in a comment."""
KEPT = "import-extra"
"""A directive (or server parameter, or whole section) the spec has no field for, kept verbatim
in the matching ``extra`` list: nothing is lost, but lint and explain cannot reason about it."""
SKIPPED = "import-skipped"
"""A whole section the spec cannot hold (an HTTP frontend, a backend without servers)."""
LOSSY = "import-lossy"
"""Rendering the imported spec still differs from the config here."""
RENDER_OPTION = "import-render-option"
"""A line lbgen writes from an option of ``lbgen render``, not from a spec field (nginx's
``load_module`` of the stream module: ``--load-module PATH``): a note naming the option."""
NOT_IN_EFFECT = "import-not-in-effect"
"""Lines of a section that act on no imported proxy (an HAProxy ``defaults`` section a later
one replaced): left out, since rendering them would apply them."""
NOTHING = "import-empty"
"""The config holds no TCP frontend with servers behind it: there is nothing to import."""

_NAME = re.compile(NAME_PATTERN)
_SERVER_PARAMS = ("weight", "slowstart", "maxconn", "maxqueue")


@record
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
    import_into = get_engine(tree.engine).import_into
    assert import_into is not None, f"{tree.engine} cannot import"
    import_into(tree, draft)
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

    def keep(
        self, node: Node, where: tuple[str, ...], text: str, engine: str, why: str = "no spec field"
    ) -> bool:
        """A directive (or server parameter) without a spec field, kept verbatim: ``text`` goes
        in the ``extra`` list for ``engine`` of the spec block at ``where`` (``("global",)``,
        ``("frontends", name)``, ``("pools", pool, "servers", name)`` ...). False, and nothing
        kept, when ``text`` cannot be an extra item or ``where`` is no block of the draft (the
        caller then names it with :meth:`unmapped`)."""
        fields = self._block(where)
        if fields is None or not EXTRA_DIRECTIVE.matches(text):
            return False
        fields.setdefault(f"extra.{engine}", []).append(text)
        self._kept(node, text, f"{'.'.join(where)}.extra.{engine}", why)
        return True

    def keep_section(self, node: Node, header: str, lines: list[str], engine: str) -> bool:
        """A whole section the spec does not model, kept in ``global.extra.<engine>_sections``;
        False when the header or a line cannot be an extra item."""
        if not all(EXTRA_DIRECTIVE.matches(t) for t in (header, *lines)) or not lines:
            return False
        sections = self.global_.setdefault(f"extra.{engine}_sections", _Sections())
        if header in sections:
            return False
        sections[header] = lines
        self._kept(node, header, f"global.extra.{engine}_sections")
        self.skipped.add(node.line)
        return True

    def _block(self, where: tuple[str, ...]) -> dict[str, Any] | None:
        if where == ("global",):
            return self.global_
        if where == ("global", "health"):
            health = self.global_.get("health")
            return health if isinstance(health, dict) else None
        if where == ("defaults",):
            return self.defaults
        if len(where) == 2 and where[0] == "frontends":
            return self.frontends.get(where[1])
        if len(where) == 2 and where[0] == "pools":
            return self.pools.get(where[1])
        if len(where) == 4 and where[0] == "pools" and where[2] == "servers":
            return self.servers.get(where[1], {}).get(where[3])
        return None

    def _kept(self, node: Node, text: str, path: str, why: str = "no spec field") -> None:
        shown_text = one_line(text)
        self.diagnostics.append(
            Diagnostic(
                Level.NOTE, KEPT,
                f"{shown_text}: {why}; kept verbatim in {path} (lint and explain cannot reason "
                "about it)",
                file=node.file, line=node.line, col=node.col,
            )
        )  # fmt: skip
        self.warned.add((node.line, shown_text))
        self.warned.add((node.line, shown_text.split(" ", 1)[0]))

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

    def render_option(self, node: Node, option: str) -> None:
        """A line lbgen writes from ``option`` of ``lbgen render`` rather than from the spec."""
        self.diagnostics.append(
            Diagnostic(
                Level.NOTE, RENDER_OPTION,
                f"{shown(node)}: no spec field; lbgen writes it when rendered with {option}",
                file=node.file, line=node.line, col=node.col,
            )
        )  # fmt: skip

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
                if key.startswith("extra."):
                    continue  # verbatim directives belong to their section, not inherited
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
    "bind", "pool", "balance", "health.check", "health.path", "health.expect",
    "health.expect_body", "health.interval", "health.fast_interval", "health.down_interval",
    "health.rise", "health.fall", "health.timeout", "health.client_cert", "health.sni",
    "slowstart", "maxconn", "maxqueue", "weight", "retries", "redispatch", "start_unresolved",
    "timeouts.connect", "timeouts.client", "timeouts.server", "timeouts.tunnel",
    "timeouts.client_fin", "timeouts.server_fin", "timeouts.queue",
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
        if parts[0] == "extra" and isinstance(value, list):
            target[parts[-1]] = CommentedSeq(value)  # one directive a line: block style
    return out


class _Sections(dict[str, list[str]]):
    """``extra.<engine>_sections``: header -> lines; headers are not dotted paths."""


def _yaml_value(value: Any) -> Any:
    if isinstance(value, _Sections):
        out = CommentedMap()
        for header, lines in value.items():
            out[header] = CommentedSeq(lines)  # one directive a line: block style
        return out
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


def udp_log(host_port: str) -> str | None:
    """``udp://HOST:PORT`` when the spec accepts it as a log target, else None."""
    candidate = f"udp://{host_port}"
    return candidate if LOG_TARGET.matches(candidate) else None


def spec_name(draft: Draft) -> str | None:
    """The spec name from a provenance header, when it is a valid name."""
    header = draft.config.header_fields().get("spec")
    if header and _NAME.match(header):
        return header
    stem = Path(draft.file).stem
    return draft.safe_name(stem, (), None, "spec") if stem and stem != "-" else None


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
                draft.diagnostics.append(_invalid(draft, d, filename))
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


INVALID = "import-invalid"
"""The imported spec does not load or render: the config says something lbgen refuses."""


def _invalid(draft: Draft, problem: Diagnostic, filename: str) -> Diagnostic:
    """An error of the imported spec, at the config line its failing field was read from when
    that is known (the spec's own line means nothing to the operator, who edits the config)."""
    origin = _config_origin(draft, problem.path)
    if origin is None:
        message = f"the imported spec does not render: {problem.message}"
        return Diagnostic(Level.ERROR, INVALID, message, file=filename)
    field_name = next((p for p in reversed(problem.path.split(".")) if not p.isdigit()), "")
    return Diagnostic(
        Level.ERROR, INVALID,
        f"the imported spec does not render {field_name}: {problem.message}",
        file=origin.file or filename, line=origin.line, col=origin.col,
    )  # fmt: skip


def _config_origin(draft: Draft, path: str) -> Origin | None:
    """Where in the config the imported spec field at the dotted ``path`` was read from: the
    line that set it, else the line of the server, pool or frontend it belongs to; None for a
    path the draft cannot trace (names may hold dots: matched against the draft's keys)."""
    parts = path.split(".")
    if parts[0] == "pools":
        pool, rest = _key(draft.pools, parts[1:])
        backend = _backend_of(draft, pool) if pool is not None else None
        if backend is None or pool is None:
            return None
        if rest[:1] == ["servers"]:
            server_key, field_path = _key(draft.servers.get(pool, {}), rest[1:])
            server = _server_of(draft, backend, pool, server_key) if server_key else None
            if server is None:
                return backend.origin
            return server.origins.get(".".join(field_path)) or server.origin
        return backend.origins.get(".".join(rest)) or backend.origin
    if parts[0] == "frontends":
        key, rest = _key(draft.frontends, parts[1:])
        frontend = draft.config.frontends.get(key) if key is not None else None
        if frontend is not None:
            return frontend.origins.get(".".join(rest)) or frontend.origin
        pool = draft.frontends[key].get("pool") if key is not None else None
        backend = _backend_of(draft, pool) if isinstance(pool, str) else None
        return backend.origin if backend is not None else None
    if parts[0] == "defaults":
        # A value every pool or frontend shared, hoisted: the first line that set it.
        hoisted = ".".join(parts[1:])
        origins = [
            *(b.origins for b in draft.config.backends.values()),
            *(f.origins for f in draft.config.frontends.values()),
        ]
        return next((o[hoisted] for o in origins if hoisted in o), None)
    return None


def _key(block: Mapping[str, Any], parts: list[str]) -> tuple[str | None, list[str]]:
    """The longest key of ``block`` that ``parts`` starts with (keys may hold dots), and the
    parts after it."""
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in block:
            return ".".join(parts[:end]), parts[end:]
    return None, parts


def _backend_of(draft: Draft, pool: str) -> Backend | None:
    """The config backend (upstream) a pool of the draft was imported from: the one of its
    name, else the one whose servers have the pool's addresses (a name the spec refused)."""
    addresses = {fields.get("address") for fields in draft.servers.get(pool, {}).values()}
    backend = draft.config.backends.get(pool)
    if backend is not None and addresses <= {s.endpoint for s in backend.servers.values()}:
        return backend
    return next(
        (b for b in draft.config.backends.values()
         if addresses and addresses <= {s.endpoint for s in b.servers.values()}),
        None,
    )  # fmt: skip


def _server_of(draft: Draft, backend: Backend, pool: str, key: str) -> Server | None:
    """The config server a server of the draft was imported from: the one with its address
    (the n-th of them for the n-th spec server of that address: nginx allows repeats)."""
    servers = draft.servers.get(pool, {})
    address = servers.get(key, {}).get("address")
    nth = [k for k, fields in servers.items() if fields.get("address") == address].index(key)
    matching = [s for s in backend.servers.values() if s.endpoint == address]
    return matching[nth] if nth < len(matching) else None


__all__ = [
    "INVALID",
    "KEPT",
    "LOSSY",
    "NOTHING",
    "NOT_IN_EFFECT",
    "RENDER_OPTION",
    "SKIPPED",
    "UNMAPPED",
    "ImportResult",
    "import_config",
    "import_file",
]
