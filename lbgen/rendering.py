"""Render a spec for a target: resolve, build the target view, fill its template.

One Jinja environment factory serves every template: Jinja's immutable sandbox (an override
template from ``--templates`` is not trusted code: no ``__class__``-style escapes, no underscore
attributes, no mutating the view), ``StrictUndefined`` (a missing value is a bug, not an empty
string), trimmed blocks, a kept trailing newline, and a loader that looks in the user's override
folder first, then in the templates shipped with the package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lbgen.diagnostics import Diagnostic, Level, promote_warnings, sort_key
from lbgen.resolve import Resolved, resolve_spec
from lbgen.spec.models import Spec
from lbgen.targets import DEFAULT_LAYOUT, LAYOUTS, TARGETS, build_view, provenance


@dataclass(frozen=True)
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


def make_environment(override: str | Path | None = None) -> jinja2.Environment:
    """The one Jinja environment: sandboxed, user overrides first, then the packaged templates."""
    paths = [str(override)] if override else []
    paths.append(str(packaged_templates()))
    return ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(paths),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
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
) -> Rendered:
    """Render an already resolved spec; see :func:`render`."""
    from lbgen import __version__
    from lbgen.targets.nginx import load_module_problem

    layout = target_layout(target, layout)
    options: dict[str, Any] = {}
    if load_module is not None:
        problem = load_module_problem(load_module)
        if problem is not None:
            raise TargetError(problem)
        options["load_module"] = load_module
    view = build_view(resolved, target, layout, **options)
    diagnostics = sorted([*resolved.load_diagnostics, *view.diagnostics], key=sort_key)
    if strict:
        diagnostics = promote_warnings(diagnostics)
    context = {**view.context, "header": provenance(resolved, __version__, target, layout)}
    environment = make_environment(templates)
    if templates is None:
        text = environment.get_template(view.template).render(context)
    else:
        # An override template is user input: whatever it raises is bad input, not a crash.
        try:
            text = environment.get_template(view.template).render(context)
        except Exception as exc:
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
) -> Rendered:
    """Render ``spec`` for ``target`` (``haproxy``, ``nginx``, ``nginx-plus``).

    ``layout`` is ``full`` for haproxy; ``full``, ``stream`` (default) or ``upstreams`` for
    nginx. ``strict`` turns translation warnings into errors. The text is rendered even when
    there are errors, so that a caller can show it, but it must not be written.

    Raises :class:`TypeError` when ``spec`` is not a :class:`Spec` (use ``lbgen.load_spec``),
    :class:`TargetError` for an unknown target or layout or a bad ``load_module``, and
    :class:`TemplateFailure` when an override template fails.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"render() needs a Spec from lbgen.load_spec(), not {type(spec).__name__}")
    return render_resolved(
        resolve_spec(spec), target, layout=layout, templates=templates, strict=strict,
        load_module=load_module,
    )  # fmt: skip


def template_names(target: str) -> Sequence[str]:
    """The template files a ``--templates`` folder may override for ``target``."""
    folder = "haproxy" if target == "haproxy" else "nginx"
    return sorted(p.name for p in (packaged_templates() / folder).glob("*.j2"))
