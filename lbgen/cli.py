"""The ``lbgen`` command: a thin shell over the library.

Exit codes: 0 ok / no difference; 1 differences (``diff``, ``render --check``); 2 invalid input
(diagnostics printed, nothing written); 3 the engine rejected the config; 4 the engine is not
available. Bad input never ends in a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from lbgen import __version__
from lbgen.diagnostics import FORMATTERS, Diagnostic, Level, SpecError, has_errors


class Exit(IntEnum):
    """Documented exit codes."""

    OK = 0
    DIFFERENT = 1
    INVALID = 2
    REJECTED = 3
    UNAVAILABLE = 4


class Target(StrEnum):
    """Render targets."""

    haproxy = "haproxy"
    nginx = "nginx"
    nginx_plus = "nginx-plus"


class Layout(StrEnum):
    """nginx layouts (haproxy is always ``full``)."""

    full = "full"
    stream = "stream"
    upstreams = "upstreams"


class Engine(StrEnum):
    """Engines that can check a config."""

    haproxy = "haproxy"
    nginx = "nginx"


class RunnerName(StrEnum):
    """Where the engine runs."""

    auto = "auto"
    local = "local"
    docker = "docker"


class Format(StrEnum):
    """Diagnostic output formats."""

    text = "text"
    json = "json"
    github = "github"


app = typer.Typer(
    name="lbgen",
    help="Render validated HAProxy and nginx configs for Kubernetes API servers from one spec.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lbgen {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Render validated HAProxy and nginx configs for Kubernetes API servers from one spec."""


# --- output helpers ----------------------------------------------------------------------------

_COLOURS = {Level.ERROR: "\x1b[31m", Level.WARNING: "\x1b[33m", Level.NOTE: "\x1b[36m"}


def _use_colour() -> bool:
    return sys.stderr.isatty() and not os.environ.get("NO_COLOR")


def emit(diagnostics: list[Diagnostic], fmt: Format = Format.text) -> None:
    """Print diagnostics to stderr (text) or stdout (json, github: meant for machines)."""
    if fmt is not Format.text:
        if diagnostics or fmt is Format.json:
            typer.echo(FORMATTERS[fmt.value](diagnostics))
        return
    for d in diagnostics:
        line = FORMATTERS["text"]([d])
        if _use_colour():
            line = f"{_COLOURS[d.level]}{line}\x1b[0m"
        typer.echo(line, err=True)


def fail(code: Exit, message: str) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    typer.echo(f"lbgen: {message}", err=True)
    raise typer.Exit(int(code))


def _load(spec: str, fmt: Format = Format.text):  # type: ignore[no-untyped-def]
    from lbgen.spec.load import attach, load

    try:
        loaded = load(spec)
    except SpecError as exc:
        emit(exc.diagnostics, fmt)
        raise typer.Exit(int(Exit.INVALID)) from None
    return attach(loaded)


def _engine_of(target: Target) -> str:
    return "haproxy" if target is Target.haproxy else "nginx"


def _engine_check(text: str, engine: str, runner: RunnerName, image: str | None, strict: bool):  # type: ignore[no-untyped-def]
    from lbgen.engines import EngineUnavailable, check_config

    try:
        result = check_config(text, engine, runner=runner.value, image=image, strict=strict)
    except EngineUnavailable as exc:
        fail(Exit.UNAVAILABLE, str(exc))
    return result


# --- commands ----------------------------------------------------------------------------------

SpecArg = Annotated[str, typer.Argument(help="Spec file (YAML or JSON), or - for stdin.")]


@app.command()
def validate(
    specs: Annotated[list[str], typer.Argument(help="Spec files, or - for stdin.")],
    target: Annotated[
        list[Target] | None,
        typer.Option("--target", "-t", help="Also check the translation to this target."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Translation warnings are errors.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Diagnostic format.")] = Format.text,
) -> None:
    """Check specs; print every problem as FILE:LINE:COL and exit 2 if there is an error.

    Example: lbgen validate cluster.yaml -t nginx --strict
    """
    from lbgen.spec.load import attach, load

    found: list[Diagnostic] = []
    for path in specs:
        try:
            loaded = load(path)
        except SpecError as exc:
            found += exc.diagnostics
            continue
        found += loaded.diagnostics
        spec = attach(loaded)
        for t in target or []:
            from lbgen.rendering import render  # only when a translation is asked for

            try:
                rendered = render(spec, t.value, strict=strict)
            except SpecError as exc:  # a value the rendering defence refused
                found += exc.diagnostics
                continue
            found += [d for d in rendered.diagnostics if d not in loaded.diagnostics]
    emit(found, fmt)
    if has_errors(found):
        raise typer.Exit(int(Exit.INVALID))
    if fmt is Format.text:
        typer.echo(f"ok: {', '.join(specs)}", err=True)


@app.command("render")
def render_command(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="Engine to render for.")],
    layout: Annotated[
        Layout | None, typer.Option(help="nginx: full, stream (default) or upstreams.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (atomically).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if FILE would change.")
    ] = False,
    validate_: Annotated[
        bool, typer.Option("--validate", help="Let the engine check the text before writing.")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Translation warnings are errors.")] = False,
    runner: Annotated[RunnerName, typer.Option(help="Where --validate runs the engine.")] = (
        RunnerName.auto
    ),
    image: Annotated[str | None, typer.Option(help="Engine image for --runner docker.")] = None,
    templates: Annotated[
        Path | None, typer.Option(help="Folder whose templates override the built-in ones.")
    ] = None,
    load_module: Annotated[
        str | None, typer.Option(help="nginx --layout full: load_module path for stream.")
    ] = None,
) -> None:
    """Render a spec into an engine config.

    Example: lbgen render cluster.yaml -t haproxy -o /etc/haproxy/haproxy.cfg --validate
    """
    from lbgen.output import WriteStatus, read_existing, write_atomic
    from lbgen.rendering import TargetError, render

    if check and output is None:
        fail(Exit.INVALID, "--check needs --output FILE to compare with")
    if templates is not None and not templates.is_dir():
        fail(Exit.INVALID, f"--templates {templates}: not a folder")
    loaded_spec = _load(spec)
    try:
        rendered = render(
            loaded_spec, target.value, layout=layout.value if layout else None,
            templates=templates, strict=strict, load_module=load_module,
        )  # fmt: skip
    except TargetError as exc:
        fail(Exit.INVALID, str(exc))
    except SpecError as exc:  # a value the rendering defence refused (UnsafeValueError)
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    except Exception as exc:  # a broken override template is bad input, not a crash
        import jinja2

        if isinstance(exc, jinja2.TemplateError):
            fail(Exit.INVALID, f"template error: {exc}")
        raise
    emit(rendered.diagnostics)
    if not rendered.ok:
        raise typer.Exit(int(Exit.INVALID))
    try:
        existing = read_existing(output) if output is not None else None
    except OSError as exc:
        fail(Exit.INVALID, f"cannot read {output}: {exc.strerror}")
    if output is not None and check:
        if existing != rendered.text:
            fail(Exit.DIFFERENT, f"{output} is out of date (render would change it)")
        typer.echo(f"{output} is up to date", err=True)
        return
    if output is not None and existing == rendered.text:
        typer.echo(f"{output} unchanged", err=True)
        return
    if validate_:
        result = _engine_check(rendered.text, _engine_of(target), runner, image, strict)
        if not result.ok:
            typer.echo(result.output, err=True)
            fail(Exit.REJECTED, result.summary() + ("; nothing written" if output else ""))
    if output is None:
        sys.stdout.write(rendered.text)
        return
    try:
        outcome = write_atomic(output, rendered.text)
    except OSError as exc:
        fail(Exit.INVALID, f"cannot write {output}: {exc.strerror}")
    verb = "created" if outcome.status is WriteStatus.CREATED else "written"
    typer.echo(f"{output} {verb}", err=True)


@app.command("check")
def check_command(
    config: Annotated[Path, typer.Argument(help="An haproxy.cfg or nginx config (any layout).")],
    engine: Annotated[Engine | None, typer.Option(help="Engine; guessed when absent.")] = None,
    runner: Annotated[RunnerName, typer.Option(help="Where the engine runs.")] = RunnerName.auto,
    image: Annotated[str | None, typer.Option(help="Engine image for --runner docker.")] = None,
    strict: Annotated[
        bool, typer.Option(help="Engine warnings are failures (haproxy -dW, nginx [warn]).")
    ] = False,
) -> None:
    """Let the real engine check a config: haproxy -c, nginx -t. Exit 3 rejected, 4 unavailable.

    Example: lbgen check haproxy.cfg --engine haproxy --strict
    """
    from lbgen.engines import guess_engine

    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(Exit.INVALID, f"cannot read {config}: {getattr(exc, 'strerror', None) or exc}")
    name = engine.value if engine else guess_engine(text)
    result = _engine_check(text, name, runner, image, strict)
    if not result.ok:
        typer.echo(result.output, err=True)
        fail(Exit.REJECTED, f"{config}: {result.summary()}")
    typer.echo(f"{config}: {result.summary()}", err=True)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors and CI), built-in defaults included.

    Example: lbgen schema > lbgen.schema.json
    """
    from lbgen.spec.schema import spec_schema

    typer.echo(json.dumps(spec_schema(), indent=2))


@app.command("render-all")
def render_all(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Only the outputs these files affect (specs, outputs, templates: pre-commit "
            "passes the changed files); every output when absent."
        ),
    ] = None,
    manifest: Annotated[
        Path, typer.Option(help="The manifest that lists spec -> target -> output.")
    ] = Path(".lbgen-outputs.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if an output is out of date.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Diagnostic format.")] = Format.text,
) -> None:
    """Render every output listed in a manifest (.lbgen-outputs.yaml); --check for CI and hooks.

    Example: lbgen render-all --check --format github
    """
    from lbgen.manifest import Status, load_manifest, shown, sync

    try:
        listed = load_manifest(manifest)
    except SpecError as exc:
        emit(exc.diagnostics, fmt)
        raise typer.Exit(int(Exit.INVALID)) from None
    outputs = listed.select(files) if files is not None else list(listed.outputs)
    results = sync(outputs, check=check)
    # Errors only: translation warnings are lbgen validate's to show, once per spec.
    emit([d for r in results for d in r.diagnostics if d.level is Level.ERROR], fmt)
    if fmt is Format.text:
        for r in results:
            warned = sum(d.level is Level.WARNING for d in r.diagnostics)
            more = f" ({warned} warnings: lbgen validate -t {r.output.target})" if warned else ""
            typer.echo(f"{shown(r.output.output)}: {r.status}{more}", err=True)
    if any(r.status is Status.INVALID for r in results):
        raise typer.Exit(int(Exit.INVALID))
    if any(r.status is Status.OUT_OF_DATE for r in results):
        raise typer.Exit(int(Exit.DIFFERENT))


@app.command("explain")
def explain_command(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="Engine to explain for.")],
    layout: Annotated[
        Layout | None, typer.Option(help="nginx: full, stream (default) or upstreams.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show, per spec field, what it became in the engine's config or why it was dropped.

    Example: lbgen explain cluster.yaml -t nginx
    """
    from lbgen.explain import explain, format_explanation, format_json
    from lbgen.rendering import TargetError

    loaded_spec = _load(spec)
    try:
        explanation = explain(loaded_spec, target.value, layout=layout.value if layout else None)
    except TargetError as exc:
        fail(Exit.INVALID, str(exc))
    text = format_json(explanation) + "\n" if as_json else format_explanation(explanation)
    sys.stdout.write(text)


class DiffFormat(StrEnum):
    """How ``diff`` shows the differences."""

    text = "text"
    unified = "unified"
    json = "json"


class ImportFrom(StrEnum):
    """Engines whose configs ``import`` reads."""

    haproxy = "haproxy"
    nginx = "nginx"


def _read_config(config: str) -> str:
    """A config file's text (``-``: stdin); unreadable input exits 2 with a diagnostic."""
    from lbgen.confparse import read_config_text
    from lbgen.confparse.tree import ParseError, decode_config

    try:
        if config == "-":
            return decode_config(sys.stdin.buffer.read(), "<stdin>")
        return read_config_text(config)
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    except ParseError as exc:  # binary or non-UTF-8 stdin
        emit([exc.to_diagnostic()])
        raise typer.Exit(int(Exit.INVALID)) from None


@app.command("diff")
def diff_command(
    spec: SpecArg,
    target: Annotated[Target, typer.Option("--target", "-t", help="Engine to render for.")],
    against: Annotated[
        str, typer.Option("--against", help="The existing config to compare with (- for stdin).")
    ],
    layout: Annotated[
        Layout | None, typer.Option(help="nginx: full, stream (default) or upstreams.")
    ] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
) -> None:
    """Compare what SPEC renders with an existing config, setting by setting (exit 1: differs).

    Layout, comments, order and spellings (10s / 10000 / 10000ms) do not count; what the engine
    would do differently does, shown as "config value → spec value (file:line)".

    Example: lbgen diff cluster.yaml -t haproxy --against /etc/haproxy/haproxy.cfg
    """
    from lbgen.compare import diff_config
    from lbgen.rendering import TargetError

    loaded_spec = _load(spec)
    text = _read_config(against)
    name = "<stdin>" if against == "-" else against
    try:
        result = diff_config(
            loaded_spec, target.value, text, name, layout=layout.value if layout else None
        )
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    except TargetError as exc:
        fail(Exit.INVALID, str(exc))
    # Translation warnings belong to lbgen validate; here they would bury the differences.
    warned = sum(d.level is Level.WARNING for d in result.diagnostics)
    if warned and fmt is DiffFormat.text:
        typer.echo(
            f"lbgen: {warned} translation warnings (lbgen validate {spec} -t {target.value})",
            err=True,
        )
    if fmt is DiffFormat.json:
        typer.echo(result.json())
    elif fmt is DiffFormat.unified:
        sys.stdout.write(result.unified())
    else:
        sys.stdout.write(result.text())
    raise typer.Exit(int(Exit.OK if result.equivalent else Exit.DIFFERENT))


@app.command("import")
def import_command(
    config: Annotated[str, typer.Argument(help="An haproxy.cfg or nginx config (- for stdin).")],
    from_: Annotated[
        ImportFrom | None,
        typer.Option("--from", help="The config's engine; detected when absent."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the spec here (atomically).")
    ] = None,
) -> None:
    """Turn an existing config into a spec (YAML on stdout or in -o FILE).

    What the spec cannot hold becomes a YAML comment and a warning on stderr.

    Example: lbgen import /etc/haproxy/haproxy.cfg -o cluster.yaml
    """
    from lbgen.importer import import_config
    from lbgen.output import write_atomic

    text = _read_config(config)
    name = "<stdin>" if config == "-" else config
    try:
        result = import_config(text, name, from_.value if from_ else None)
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    emit(result.diagnostics)
    if not result.ok:
        raise typer.Exit(int(Exit.INVALID))
    if output is None:
        sys.stdout.write(result.yaml_text)
        return
    try:
        write_atomic(output, result.yaml_text)
    except OSError as exc:
        fail(Exit.INVALID, f"cannot write {output}: {exc.strerror}")
    typer.echo(f"{output} written", err=True)


class FailOn(StrEnum):
    """The lowest level that makes ``lint`` exit 1."""

    note = "note"
    warning = "warning"
    error = "error"


@app.command()
def lint(
    configs: Annotated[
        list[Path] | None, typer.Argument(help="haproxy.cfg or nginx config files.")
    ] = None,
    engine: Annotated[
        Target | None, typer.Option(help="Engine; detected per file when absent.")
    ] = None,
    list_rules: Annotated[bool, typer.Option(help="Print the rules and exit.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a finding is at this level or above.")
    ] = FailOn.warning,
) -> None:
    """Find known footguns in existing haproxy/nginx configs (exit 1: findings, 2: unreadable).

    Example: lbgen lint /etc/haproxy/haproxy.cfg --format github
    """
    from lbgen.lint import exit_code, explain, lint_path

    if list_rules:
        typer.echo(explain())
        return
    if not configs:
        fail(Exit.INVALID, "lint needs at least one CONFIG (or --list-rules)")
    found: list[Diagnostic] = []
    unreadable = False
    for config in configs:
        try:
            found += lint_path(config, engine.value if engine else None)
        except SpecError as exc:
            found += exc.diagnostics
            unreadable = True
    emit(found, fmt)
    if unreadable:
        raise typer.Exit(int(Exit.INVALID))
    raise typer.Exit(exit_code(found, Level.parse(fail_on.value)))


def main() -> None:
    """Console entry point."""
    app()
