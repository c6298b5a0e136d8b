"""Render a spec for a target: resolve, build the target view, fill its template.

One Jinja environment factory serves every template: Jinja's immutable sandbox whenever an
override folder is given (a template from ``--templates`` is not trusted code: no
``__class__``-style escapes, no underscore attributes, no mutating the view; lbgen's own templates
alone run without it), ``StrictUndefined`` (a missing value is a bug, not an empty
string), trimmed blocks, a kept trailing newline, and a loader that looks in the user's override
folder first, then in the templates shipped with the package.

Every value a template prints passes the engine's :func:`unsafe_in_config` check on the way (the
environment's ``finalize`` hook): a line break, a comment or statement character or an unbalanced
quote raises :class:`UnsafeValueError` instead of being written. Validation refuses such values
long before; this is the last line of defence should a value ever slip past it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

import jinja2

from lbgen.diagnostics import Diagnostic, Level, SpecError, promote_warnings, sort_key
from lbgen.frozen import record
from lbgen.gcpause import paused_gc
from lbgen.resolve import Resolved, resolve_spec
from lbgen.spec.models import Spec
from lbgen.version import VERSION
from lbgen.view import (
    DEFAULT_LAYOUT,
    LAYOUTS,
    NODE_TARGETS,
    TARGETS,
    Verbatim,
    build_view,
    provenance,
)


@record
class Rendered:
    """The rendered text and every diagnostic of loading and translation."""

    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    target: str = "haproxy"
    layout: str = "full"

    @property
    def ok(self) -> bool:
        """False when any diagnostic is an error (then ``text`` must not be used)."""
        return not any(d.level is Level.ERROR for d in self.diagnostics)


def packaged_templates() -> Path:
    """The folder of the built-in templates (inside the wheel, or the source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("lbgen's templates are missing from this installation")


class UnsafeValueError(SpecError):
    """A value that would change the structure of the config it is printed into.

    Raised while rendering, so nothing is written; a :class:`SpecError`, so every caller that
    reports spec errors reports this one too (one line, exit 2).
    """

    def __init__(self, engine: str, template: str, value: str, reason: str, file: str | None):
        self.engine, self.template, self.value, self.reason = engine, template, value, reason
        shown = repr(value) if len(value) <= 80 else repr(value[:60]) + "..."
        message = (
            f"refusing to render {shown} into {engine} config ({template}): it {reason}; "
            "validation should have refused it (please report this)"
        )
        super().__init__([Diagnostic(Level.ERROR, "unsafe-value", message, file=file)])

    def located(self, file: str) -> UnsafeValueError:
        """The same error, naming the spec file it came from."""
        return UnsafeValueError(self.engine, self.template, self.value, self.reason, file)


@functools.lru_cache(maxsize=256)
def _engine_of_template(name: str | None) -> tuple[str, ...]:
    folder = (name or "").partition("/")[0]
    return (folder,) if folder in ("haproxy", "nginx", "keepalived") else ("haproxy", "nginx")


@functools.lru_cache(maxsize=8)
def _checker(engine: str) -> Callable[[str], str | None]:
    """The engine's :func:`unsafe_in_config`, imported once (not once per printed value)."""
    if engine == "haproxy":
        from lbgen.haproxy.view import unsafe_in_config
    elif engine == "keepalived":
        from lbgen.keepalived.view import unsafe_in_config
    else:
        from lbgen.nginx.view import unsafe_in_config
    return unsafe_in_config


@functools.lru_cache(maxsize=1 << 16)
def _unsafe(engine: str, text: str) -> str | None:
    """The engine's :func:`unsafe_in_config`, cached: a config prints the same values often."""
    return _checker(engine)(text)


#: Text no engine's syntax gives a meaning beyond words split at spaces: no quote, brace, ``#``,
#: ``;``, ``!``, ``$`` or backslash, nothing outside printable ASCII. Most printed values (names,
#: addresses, durations, whole server lines) are such text, and one C match clears them without
#: asking each engine's checker (a tenth of the time a spec of 10,000 servers took to render).
_PLAIN = re.compile("[A-Za-z0-9 _.,:/=@%+*()\\[\\]<>?&|^~-]*")


@jinja2.pass_context
def _guard(context: jinja2.runtime.Context, value: Any) -> Any:
    """Jinja ``finalize``: every printed value is checked for the engine of its template."""
    if type(value) is int:  # digits and a minus sign: safe in every engine's syntax
        return value
    text = value if type(value) is str else str(value)
    if isinstance(value, Verbatim):
        if not text.isascii() or not text.isprintable():
            raise UnsafeValueError(
                _engine_of_template(context.name)[0], context.name or "?", text,
                "is not printable ASCII on one line", None,
            )  # fmt: skip
        return value
    if _PLAIN.fullmatch(text):
        return value
    for engine in _engine_of_template(context.name):
        reason = _unsafe(engine, text)
        if reason:
            raise UnsafeValueError(engine, context.name or "?", text, reason, None)
    return value


def make_environment(override: str | Path | None = None) -> jinja2.Environment:
    """The one Jinja environment: user overrides first (sandboxed), then the packaged templates.

    Without an override every template is lbgen's own, trusted code: that environment skips the
    sandbox's check on every attribute access (a third of a large rendering's time) and is
    built once per process, so each template is compiled once.
    """
    if not override:
        return _packaged_environment()
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # only overrides need the sandbox

    paths = [str(override), str(packaged_templates())]
    return ImmutableSandboxedEnvironment(**_options(paths))


@functools.lru_cache(maxsize=1)
def _packaged_environment() -> jinja2.Environment:
    options = _options([str(packaged_templates())])
    return jinja2.Environment(**options, bytecode_cache=_bytecode_cache(options))


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's file cache, for which an unreadable or unwritable folder is only a miss."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache(options: dict[str, Any]) -> jinja2.BytecodeCache | None:
    """The compiled packaged templates, kept between runs (compiling the haproxy one takes
    about 14 ms, loading it 1 ms): ``$LBGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/lbgen``, else
    ``~/.cache/lbgen``; ``LBGEN_CACHE_DIR=""`` turns it off.

    Jinja keys each entry by the template's file and checks its source's hash, so an edited
    template is compiled afresh; the folder's name carries what else shapes the compiled code
    (Jinja's version, the environment's options). Only lbgen's own templates are cached, never
    ``--templates`` overrides, and only in a folder that the user alone owns and can write to.
    """
    import hashlib
    import os

    configured = os.environ.get("LBGEN_CACHE_DIR")
    if configured == "":
        return None
    try:
        base = (
            Path(configured)
            if configured
            else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lbgen"
        )
        shape = [jinja2.__version__] + [
            f"{k}={getattr(v, '__qualname__', v)!r}" for k, v in sorted(options.items())
            if k != "loader"
        ]  # fmt: skip
        folder = base / ("templates-" + hashlib.sha256("\n".join(shape).encode()).hexdigest()[:16])
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = folder.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None
    if status.st_uid != os.getuid() or status.st_mode & 0o022:
        return None  # compiled code is run: not from a folder that someone else can write to
    return _QuietBytecodeCache(str(folder))


def _options(paths: list[str]) -> dict[str, Any]:
    return dict(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_guard,
    )


class TargetError(ValueError):
    """An unknown target or a layout the target does not have, or a bad render option."""


class TemplateFailure(ValueError):
    """An override template (``--templates``) failed: a syntax error, an unsafe access the
    sandbox refused, or any exception it raised. ``str()`` is one line naming the template."""


def _template_failure(exc: BaseException, override: Path) -> TemplateFailure:
    """One line for an exception out of an override template, at its file:line when known."""
    where = ""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.filename:
        where = f"{exc.filename}:{exc.lineno}: "
    else:
        # Jinja rewrites the traceback so that template frames carry the template's file/line.
        tb = exc.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name.startswith(str(override.resolve())) or name.startswith(str(override)):
                where = f"{name}:{tb.tb_lineno}: "
            tb = tb.tb_next
    kind = "" if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: "
    detail = " ".join(f"{kind}{exc}".split())
    return TemplateFailure(f"{where}template error: {detail}")


def target_layout(target: str, layout: str | None) -> str:
    """The layout to render ``target`` in (its default when None); TargetError if there is none."""
    if target in NODE_TARGETS:
        layout = layout or NODE_TARGETS[target][0]
        if layout not in NODE_TARGETS[target]:
            raise TargetError(
                f"target {target} has no layout {layout!r}; "
                f"choose one of {', '.join(NODE_TARGETS[target])}"
            )
        return layout
    if target not in TARGETS:
        raise TargetError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    layout = layout or DEFAULT_LAYOUT[target]
    if layout not in LAYOUTS[target]:
        raise TargetError(
            f"target {target} has no layout {layout!r}; choose one of {', '.join(LAYOUTS[target])}"
        )
    return layout


def render_resolved(
    resolved: Resolved,
    target: str,
    *,
    layout: str | None = None,
    templates: str | Path | None = None,
    strict: bool = False,
    load_module: str | None = None,
    node: str | None = None,
) -> Rendered:
    """Render an already resolved spec; see :func:`render`."""
    layout = target_layout(target, layout)
    if any(d.level is Level.ERROR for d in resolved.load_diagnostics):
        # A spec built in code skips the loader: its cross-check errors (a frontend naming no
        # pool, ...) stop here, as the loader would have stopped them, instead of in a view.
        diagnostics = sorted(resolved.load_diagnostics, key=sort_key)
        return Rendered(text="", diagnostics=diagnostics, target=target, layout=layout)
    if templates and not Path(templates).is_dir():
        # Jinja would search the folder, find nothing and fall back on the packaged templates.
        raise TargetError(f"templates {templates}: not a folder")
    options: dict[str, Any] = {}
    if load_module is not None:
        from lbgen.nginx.view import load_module_problem  # not imported for haproxy

        if target not in ("nginx", "nginx-plus") or layout != "full":
            # Only a whole nginx.conf has a main context to load a module in: anywhere else the
            # option would be dropped without a word.
            raise TargetError(
                f"--load-module goes into nginx's --layout full (nginx.conf); target {target} "
                f"layout {layout} has no place for it"
            )
        problem = load_module_problem(load_module)
        if problem is not None:
            raise TargetError(problem)
        options["load_module"] = load_module
    if target in NODE_TARGETS:
        options["node"] = node
    elif node is not None:
        raise TargetError(f"--node is for the per-node target keepalived, not {target}")
    try:
        view = build_view(resolved, target, layout, **options)
    except ValueError as exc:  # the keepalived view's NodeError: no such node, or none given
        if target not in NODE_TARGETS:
            raise
        raise TargetError(str(exc)) from None
    diagnostics = sorted([*resolved.load_diagnostics, *view.diagnostics], key=sort_key)
    if strict:
        diagnostics = promote_warnings(diagnostics)
    context = {**view.context, "header": provenance(resolved, VERSION, target, layout)}
    environment = make_environment(templates)
    try:
        text = environment.get_template(view.template).render(context)
    except UnsafeValueError as exc:
        raise exc.located(resolved.source.filename) from None
    except Exception as exc:
        if templates is None:
            raise
        # An override template is user input: whatever it raises is bad input, not a crash.
        raise _template_failure(exc, Path(templates)) from None
    return Rendered(text=text, diagnostics=diagnostics, target=target, layout=layout)


def render(
    spec: Spec,
    target: str,
    *,
    layout: str | None = None,
    templates: str | Path | None = None,
    strict: bool = False,
    load_module: str | None = None,
    node: str | None = None,
) -> Rendered:
    """Render ``spec`` for ``target`` (``haproxy``, ``nginx``, ``nginx-plus``, ``keepalived``).

    ``layout`` is ``full`` for haproxy; ``full``, ``stream`` (default) or ``upstreams`` for
    nginx. ``node``: the node of the spec's ``vip`` tier whose config the per-node target
    ``keepalived`` renders (required there, refused elsewhere). ``strict`` turns translation
    warnings into errors. The text is rendered even when
    there are errors, so that a caller can show it, but it must not be written.

    Raises :class:`TypeError` when ``spec`` is not a :class:`Spec` (use ``lbgen.load_spec``),
    :class:`TargetError` for an unknown target or layout or a bad ``load_module``,
    :class:`TemplateFailure` when an override template fails, and :class:`UnsafeValueError` (a
    SpecError) for a value that would change the config's structure.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"render() needs a Spec from lbgen.load_spec(), not {type(spec).__name__}")
    with paused_gc():  # resolving and the view make many small objects and few cycles
        return render_resolved(
            resolve_spec(spec), target, layout=layout, templates=templates, strict=strict,
            load_module=load_module, node=node,
        )  # fmt: skip
