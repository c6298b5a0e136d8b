"""lbgen: one declarative spec, rendered into HAProxy and nginx configs for Kubernetes API servers.

The public API is small and stable; everything else is an implementation detail::

    spec = lbgen.load_spec("cluster.yaml")      # SpecError: the spec is not valid
    rendered = lbgen.render(spec, "haproxy")    # RenderError: it cannot be rendered for haproxy
    result = lbgen.check(rendered.text, "haproxy")

``RenderError`` and ``SpecError`` carry every diagnostic (``.diagnostics``); ``RenderError`` is a
``SpecError``, so one ``except`` catches both.

Heavy modules (Jinja2, the engine runners, the config parsers) are imported on first use so that
``lbgen validate`` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lbgen.diagnostics import RenderError, SpecError
from lbgen.version import VERSION

__version__ = VERSION

__all__ = ["RenderError", "SpecError", "__version__", "check", "diff", "load_spec", "render"]

if TYPE_CHECKING:
    from pathlib import Path

    from lbgen.compare import DiffResult
    from lbgen.rendering import Rendered
    from lbgen.runners import CheckResult
    from lbgen.spec.models import Spec


def load_spec(source: Any, *, filename: str | None = None) -> Spec:
    """Load and validate a spec from a path, ``-`` (stdin), bytes or text.

    A :class:`~pathlib.Path` is always a file name, ``bytes`` always the spec's content. A
    ``str`` is the spec's text when it holds a line break or starts with ``{`` (a one-line JSON
    or flow document), and otherwise a file name (``-``: standard input). ``filename`` names
    text and bytes in diagnostics (default ``<spec>``).

    Raises :class:`lbgen.diagnostics.SpecError` carrying every diagnostic found, and
    :class:`TypeError` for anything else than a path, ``str`` or ``bytes``.
    """
    from pathlib import Path

    from lbgen.spec.load import load_spec as _load_spec

    if isinstance(source, str) and ("\n" in source or source.lstrip().startswith("{")):
        source = source.encode("utf-8", "surrogatepass")
    elif not isinstance(source, str | bytes | Path):
        raise TypeError(
            f"load_spec() takes a path, YAML text or bytes, not {type(source).__name__}"
        )
    return _load_spec(source, filename=filename)


def render(
    spec: Spec,
    target: str,
    *,
    layout: str | None = None,
    allow_errors: bool = False,
    **options: Any,
) -> Rendered:
    """Render a loaded spec for ``target`` (``haproxy``, ``nginx``, ``nginx-plus``).

    Options as :func:`lbgen.rendering.render` (``templates``, ``strict``: translation warnings
    are errors, ``load_module``). Raises :class:`RenderError` (every diagnostic in
    ``.diagnostics``) when the rendering has an error-level diagnostic, so that its text cannot
    be used by mistake; with ``allow_errors=True`` it returns the :class:`Rendered` anyway
    (``ok`` is then False and the text must not be written).
    """
    from lbgen.rendering import render as _render

    rendered = _render(spec, target, layout=layout, **options)
    if not rendered.ok and not allow_errors:
        raise RenderError(rendered.diagnostics, rendered)
    return rendered


def check(config: str | bytes, engine: str, *, runner: str = "auto", **options: Any) -> CheckResult:
    """Let the real engine check a config's exact bytes (text is UTF-8); options ``image``,
    ``strict`` (engine warnings are failures), ``filename``, ``path`` (the file the bytes were
    read from: the local runner checks a full nginx config or an haproxy.cfg there, so that its
    relative ``include``s name the files beside it): see :func:`lbgen.runners.check_config`."""
    from lbgen.runners import check_config

    return check_config(config, engine, runner=runner, **options)


def diff(spec: Spec, target: str, against: str | Path, *, layout: str | None = None) -> DiffResult:
    """Compare what ``spec`` renders for ``target`` with the existing config file ``against``.

    The comparison is semantic (see :mod:`lbgen.compare`): ``result.equivalent`` is true when
    the engine would behave the same; ``result.text()`` lists each difference with the line of
    the existing file. Raises :class:`lbgen.diagnostics.SpecError` for an unreadable config or a
    spec the target cannot render.
    """
    from lbgen.compare import diff_config
    from lbgen.confparse import read_config_text

    return diff_config(spec, target, read_config_text(against), str(against), layout=layout)
