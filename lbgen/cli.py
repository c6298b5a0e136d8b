"""The ``lbgen`` command: a thin shell over the library.

Exit codes: 0 ok / no difference; 1 differences (``diff``, ``render --check``); 2 invalid input
(diagnostics printed, nothing written); 3 the engine rejected the config; 4 the engine is not
available; 70 an internal error (a bug: one line asking to report it). Bad input never ends in a
traceback.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import gc
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from lbgen import __version__
from lbgen.diagnostics import (
    FORMATTERS,
    Diagnostic,
    Level,
    SpecError,
    did_you_mean,
    has_errors,
)


class Exit(IntEnum):
    """Documented exit codes."""

    OK = 0
    DIFFERENT = 1
    INVALID = 2
    REJECTED = 3
    UNAVAILABLE = 4
    INTERNAL = 70  # EX_SOFTWARE: a bug in lbgen, never bad input


class Target(StrEnum):
    """Render targets."""

    haproxy = "haproxy"
    nginx = "nginx"
    nginx_plus = "nginx-plus"


class EngineTarget(StrEnum):
    """What ``explain`` and ``diff`` take: every engine (keepalived with ``--node``)."""

    haproxy = "haproxy"
    nginx = "nginx"
    nginx_plus = "nginx-plus"
    keepalived = "keepalived"


class RenderTarget(StrEnum):
    """What ``render`` and ``validate`` write: the engine targets, and keepalived per node."""

    haproxy = "haproxy"
    nginx = "nginx"
    nginx_plus = "nginx-plus"
    keepalived = "keepalived"
    kubeadm_static_pods = "kubeadm-static-pods"


class Proxy(StrEnum):
    """The proxy of ``-t kubeadm-static-pods``."""

    haproxy = "haproxy"
    nginx = "nginx"


class Layout(StrEnum):
    """nginx layouts (haproxy is always ``full``); keepalived: ``full`` or ``nft``."""

    full = "full"
    stream = "stream"
    upstreams = "upstreams"
    nft = "nft"


class Engine(StrEnum):
    """Engines that can check a config."""

    haproxy = "haproxy"
    nginx = "nginx"
    keepalived = "keepalived"


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


# --- help and usage: words, not Python types -----------------------------------------------


def _choices(param: Any) -> list[str]:
    """The values a choice parameter accepts (empty for other parameters)."""
    # typer >= 0.20 describes types itself (type_descriptor); older typer has click types.
    descriptor = getattr(param, "type_descriptor", None)
    click_type = getattr(param, "type", None)
    found = getattr(descriptor, "choices", None) or getattr(click_type, "choices", None) or ()
    return [str(getattr(c, "value", c)) for c in found]


def _metavar(param: Any) -> str:
    """``[a|b|c]`` for a choice, else ``PATH``, ``N`` or ``TEXT`` by the parameter's type."""
    choices = _choices(param)
    if choices:
        return f"[{'|'.join(choices)}]"
    descriptor = getattr(param, "type_descriptor", None)
    kind = f"{getattr(descriptor, 'annotation', '')} {getattr(param, 'type', '')}".lower()
    if "path" in kind:
        return "PATH"
    if "int" in kind:
        return "N"
    return "TEXT"


class _ChoiceError(typer.BadParameter):
    """A value outside a parameter's choices, said in one plain sentence."""

    def format_message(self) -> str:
        return self.message


class Command(TyperCommand):
    """Help without Python types: ``lbgen render [OPTIONS] SPEC``, ``-t [haproxy|nginx|…]``, and
    "invalid value 'apache' for -t/--target: choose haproxy, nginx, nginx-plus"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            # "\b" keeps the example paragraph as written: a rewrapped command line misleads.
            self.help = re.sub(r"\n\n(Examples?:)", "\n\n\b\n\\1", self.help)
        for param in self.params:
            flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
            if param.metavar is not None or flag:
                continue
            if param.param_type_name == "argument":
                param.metavar = str(param.name).upper()  # "Missing argument 'SPEC'."
            else:
                param.metavar = _metavar(param)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; start-up (see :func:`main`) ends here, unless the command ends it
        itself once it has imported what it needs (``validate``, ``render``)."""
        if self.name not in ("validate", "render"):
            _startup_done()
        return super().invoke(ctx)

    @staticmethod
    def _argument_name(param: Any) -> str:
        name = param.metavar
        dots = "..." if param.nargs != 1 else ""
        return f"{name}{dots}" if param.required else f"[{name}]{dots}"

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] SPEC...``: argument names in capitals, optional ones in brackets."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(self._argument_name(param))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """The Arguments and Options sections, with the metavars above instead of types."""
        arguments, options = [], []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                arguments.append((self._argument_name(param), getattr(param, "help", None) or ""))
            else:
                record = param.get_help_record(ctx)
                if record is not None:
                    options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Parse, turning a bad or missing choice into one sentence that lists the choices."""
        try:
            return super().parse_args(ctx, args)
        except typer.BadParameter as exc:
            param = exc.param
            choices = _choices(param) if param is not None else []
            if param is None or not choices or isinstance(exc, _ChoiceError):
                raise
            opts = getattr(param, "opts", None) or [str(param.name)]
            names = "/".join(sorted(opts, key=len))
            errors = getattr(exc.__cause__, "errors", None)  # a value that failed coercion
            if callable(errors) and errors():
                value = errors()[0].get("input")
                given = f" {value!r}" if isinstance(value, str) else ""
                message = f"invalid value{given} for {names}: choose {', '.join(choices)}"
                guess = _guess(value, choices) if isinstance(value, str) else None
                if guess is not None:
                    message += f" (did you mean {guess!r}?)"
            elif hasattr(exc, "param_type"):  # click's MissingParameter
                message = f"missing {names}: choose {', '.join(choices)}"
            else:
                raise
            raise _ChoiceError(message, ctx=ctx, param=param) from None

    def make_parser(self, ctx: Any) -> Any:
        """click's parser, refusing an option that takes one value when it is given twice: click
        keeps the last (``-t haproxy -t nginx`` would render nginx without a word)."""
        parser: Any = super().make_parser(ctx)
        parse = parser.parse_args

        def parse_once(args: list[str]) -> Any:
            opts, rest, order = parse(args=args)
            seen: set[str] = set()
            for param in order:
                single = param.param_type_name == "option" and not (
                    getattr(param, "multiple", False)
                    or getattr(param, "is_flag", False)  # --strict --strict says the same twice
                    or getattr(param, "count", False)
                )
                if single and param.name in seen:
                    names = "/".join(sorted(param.opts, key=len))
                    raise _UsageError(f"{names} is given more than once: it takes one value", ctx)
                seen.add(str(param.name))
            return opts, rest, order

        parser.parse_args = parse_once
        return parser


def _guess(value: str, choices: list[str]) -> str | None:
    """The choice a mistyped ``value`` meant: the same word in other capitals (``HAProxy``) or a
    close spelling (``haproxi``)."""
    for choice in choices:
        if choice.casefold() == value.casefold():
            return choice
    return did_you_mean(value.casefold(), choices)


#: click's UsageError and ClickException (vendored by typer >= 0.20, click's own before), found
#: through the one of them typer exports.
_UsageError: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
_ClickException: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _plain(message: str) -> str:
    """click's sentence in lbgen's style: ``Missing argument 'SPEC'.`` -> ``missing argument
    'SPEC'``, a suggestion in brackets."""
    message = message.strip().removesuffix(".")
    message = re.sub(r" \(Possible options: (.*)\)$", r" (did you mean \1?)", message)
    message = re.sub(r"\. Did you mean (.*)\?$", r" (did you mean \1?)", message)
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return message


class Group(TyperGroup):
    """The ``lbgen`` group, whose usage errors read like every other lbgen error: one line
    ``lbgen: MESSAGE`` and a hint, exit 2 (click prints usage, hint, a blank line and
    ``Error: MESSAGE``)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line (typer's ``main``); click's errors are printed here."""
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        kwargs["standalone_mode"] = False  # click's errors come here instead of being printed
        try:
            code = super().main(*args, **kwargs)
        except _ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``lbgen``: the help, as before
                say(exc.format_message())
                sys.exit(exc.exit_code)
            say(f"lbgen: {_plain(exc.format_message())}")
            if ctx is not None and ctx.command.get_help_option(ctx) is not None:
                say(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.")
            sys.exit(exc.exit_code)
        except typer.Abort:
            say("lbgen: aborted")
            sys.exit(1)
        # Without standalone_mode typer returns the code of a typer.Exit, or the command's value.
        sys.exit(code if isinstance(code, int) else 0)


_F = TypeVar("_F", bound=Callable[..., Any])


class App(typer.Typer):
    """The ``lbgen`` group: every command is a :class:`Command`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[_F], _F]:
        """Register a command; its class is :class:`Command` unless given."""
        kwargs.setdefault("cls", Command)
        return super().command(*args, **kwargs)


app = App(
    name="lbgen",
    help="Render validated HAProxy and nginx configs for Kubernetes API servers from one spec.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=Group,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"]},
)


def _version(value: bool) -> None:
    if value:
        write_stdout(f"lbgen {__version__}\n")
        raise typer.Exit()


def _max_input_size(value: str | None) -> str | None:
    from lbgen.inputs import parse_size, set_max_input_bytes

    if value is not None:
        try:
            set_max_input_bytes(parse_size(value))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    max_input_size: Annotated[
        str | None,
        typer.Option(
            "--max-input-size",
            callback=_max_input_size,
            metavar="SIZE",
            help="Largest spec or config read (e.g. 8M; default 2M, env LBGEN_MAX_INPUT_BYTES).",
        ),
    ] = None,
) -> None:
    """Render validated HAProxy and nginx configs for Kubernetes API servers from one spec."""


# --- output helpers ----------------------------------------------------------------------------

_COLOURS = {Level.ERROR: "\x1b[31m", Level.WARNING: "\x1b[33m", Level.NOTE: "\x1b[36m"}


class StdoutError(OSError):
    """The standard output could not take what a command had to print (a full disk, a closed
    pipe, a closed descriptor): :func:`main` says so in one line and exits 2."""


def write_stdout(text: str) -> None:
    """Print ``text`` on stdout, every byte of it, or raise :class:`StdoutError`.

    ``sys.stdout.write`` is not enough: with ``PYTHONUNBUFFERED=1`` (or ``python -u``) stdout has
    no buffer, and the one ``write()`` it makes may take only part of the text (a pipe whose
    reader left, a disk that filled up) and report success; the rest would be lost without a
    word, and exit 0. Here a short write is followed by another until all is written or the
    kernel gives the reason it cannot be.
    """
    stream = sys.stdout
    if stream is None:  # started with stdout closed (>&-): Python then has no sys.stdout
        raise StdoutError(errno.EBADF, "it is closed")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stream in memory (a test's capture)
        stream.write(text)
        stream.flush()
        return
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    try:
        stream.flush()  # what was printed before comes first
        while data:
            try:
                written = os.write(fd, data)
            except BlockingIOError:  # stdout shared with a program that made it non-blocking
                import select

                select.select([], [fd], [])
                continue
            data = data[written:]
    except OSError as exc:
        raise StdoutError(exc.errno, exc.strerror or str(exc)) from None


def say(text: str) -> None:
    """One message on stderr. A stderr that is closed (``2>&-``) or cannot be written
    (``2>/dev/full``) loses the message, but never changes the outcome: the exit code still
    tells, and a write that succeeded must not become a failure because its note was lost."""
    stream = sys.stderr
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        stream.write(f"{text}\n")
        stream.flush()


def _use_colour() -> bool:
    """Colour only for a terminal that can show it and a user who did not opt out."""
    stream = sys.stderr
    if stream is None:
        return False
    try:
        terminal = stream.isatty()
    except (OSError, ValueError):  # a closed or detached stream
        return False
    return terminal and not os.environ.get("NO_COLOR") and os.environ.get("TERM", "dumb") != "dumb"


def emit(diagnostics: list[Diagnostic], fmt: Format = Format.text) -> None:
    """Print diagnostics to stderr (text) or stdout (json, github: meant for machines)."""
    if fmt is not Format.text:
        if diagnostics or fmt is Format.json:
            write_stdout(FORMATTERS[fmt.value](diagnostics) + "\n")
        return
    for d in diagnostics:
        line = FORMATTERS["text"]([d])
        if _use_colour():
            line = f"{_COLOURS[d.level]}{line}\x1b[0m"
        say(line)


@contextlib.contextmanager
def _render_refusals(*one_line: type[Exception]) -> Iterator[None]:
    """A rendering's refusals as bad input, exit 2: ``one_line`` errors (a bad target, layout,
    node or override template) as their message, a value the rendering defence refused
    (:class:`UnsafeValueError`, a SpecError) as its diagnostic."""
    try:
        yield
    except one_line as exc:
        fail(Exit.INVALID, str(exc))
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None


def fail(code: Exit, message: str) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    say(f"lbgen: {message}")
    raise typer.Exit(int(code))


def _stdin_once(sources: list[str]) -> None:
    """Exit 2 when ``-`` is given twice: the first reading takes all of stdin, and the second
    would report an empty file that was never given."""
    if sum(str(source) == "-" for source in sources) > 1:
        fail(Exit.INVALID, "- (the standard input) is given twice: it can be read only once")


def _is_stdin(path: Path) -> bool:
    """Whether ``path`` is the regular file that stdin reads (``- < spec.yaml -o spec.yaml``,
    ``-o /dev/stdin``). A pipe or terminal is no file to compare: writing one is refused anyway."""
    import stat

    try:
        here, there = os.fstat(0), os.stat(path)
    except (OSError, ValueError):
        return False
    same = (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
    return same and stat.S_ISREG(here.st_mode)


def _refuse_own_input(output: Path | None, source: str, what: str) -> None:
    """Exit 2 before anything is read when ``-o output`` is the input ``source`` (a path or ``-``):
    the write would replace the one copy of the input (render-all's ``output-is-input``)."""
    from lbgen.output import same_file

    if output is None or str(output) == "-":
        return
    if same_file(output, source) or (str(source) == "-" and _is_stdin(output)):
        where = " (read from the standard input)" if str(source) == "-" else ""
        fail(
            Exit.INVALID,
            f"-o {output} is the {what}{where}: writing it would destroy the input; "
            "choose another output",
        )


def _startup_done() -> None:
    """Start-up is over: from here on the cyclic garbage collector runs again, for the input's
    garbage, but never again walks the objects of start-up (modules, classes, the command tree),
    which live as long as the process (:func:`gc.freeze`). Only after :func:`main` stopped it."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _load(spec: str, fmt: Format = Format.text):  # type: ignore[no-untyped-def]
    from lbgen.spec.load import attach, load

    _startup_done()
    try:
        loaded = load(spec)
    except SpecError as exc:
        emit(exc.diagnostics, fmt)
        raise typer.Exit(int(Exit.INVALID)) from None
    return attach(loaded)


def _engine_of(target: Target | RenderTarget) -> str:
    if target.value in ("haproxy", "keepalived"):
        return target.value
    return "nginx"


def _engine_check(  # type: ignore[no-untyped-def]
    config: bytes,
    engine: str,
    runner: RunnerName,
    image: str | None,
    strict: bool,
    name: str,
    path: Path | None = None,
):
    """The engine's verdict on ``config``'s exact bytes, its messages naming ``name``; ``path``:
    the file they were read from, which the local runner may check in place (see
    :func:`lbgen.runners.check_config`)."""
    from lbgen.runners import EngineUnavailable, check_config

    try:
        result = check_config(
            config, engine, runner=runner.value, image=image, strict=strict, filename=name,
            path=path,
        )  # fmt: skip
    except EngineUnavailable as exc:
        fail(Exit.UNAVAILABLE, str(exc))
    return result


#: ``--strict``: the translation's warnings (validate, render, the manifest, Ansible).
STRICT_HELP = "Translation warnings are errors (exit 2)."
#: ``--strict-engine``: the engine's own warnings, a separate choice.
STRICT_ENGINE_HELP = "Engine warnings are failures (exit 3): haproxy -c -dW, any nginx [warn] line."


# --- commands ----------------------------------------------------------------------------------

SpecArg = Annotated[str, typer.Argument(help="Spec file (YAML or JSON), or - for stdin.")]


@app.command()
def validate(
    specs: Annotated[list[str], typer.Argument(help="Spec files, or - for stdin.")],
    target: Annotated[
        list[RenderTarget] | None,
        typer.Option(
            "--target",
            "-t",
            help="Also check the translation to this target (keepalived: every node).",
        ),
    ] = None,
    strict: Annotated[bool, typer.Option(help=STRICT_HELP)] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Diagnostic format.")] = Format.text,
) -> None:
    """Check specs; print every problem as FILE:LINE:COL and exit 2 if there is an error.

    Example: lbgen validate cluster.yaml -t nginx --strict
    """
    from lbgen.spec.load import attach, load

    _startup_done()
    _stdin_once(specs)
    found: list[Diagnostic] = []
    for path in specs:
        try:
            loaded = load(path)
        except SpecError as exc:
            found += exc.diagnostics
            continue
        found += loaded.diagnostics
        spec = attach(loaded)
        shown = "<stdin>" if path == "-" else path  # as the loader names it
        for t in target or []:
            from lbgen.rendering import TargetError  # only when a translation is asked for

            # A spec the target cannot take is one more diagnostic, not the end: the other
            # specs' problems (and --format json's list) must still be reported.
            # keepalived renders one config per node of the vip tier: check each of them.
            nodes: list[str | None] = [None]
            if t in (RenderTarget.keepalived, RenderTarget.kubeadm_static_pods):
                if spec.vip is None:
                    needs = f"target {t.value} needs a vip section"
                    found.append(Diagnostic(Level.ERROR, "target", needs, shown))
                    continue
                nodes = [node.name for node in spec.vip.nodes]
            for node in nodes:
                try:
                    rendered = _render_any(spec, t, strict=strict, node=node)
                except SpecError as exc:  # a value the rendering defence refused
                    found += exc.diagnostics
                    continue
                except TargetError as exc:
                    refused = Diagnostic(Level.ERROR, "target", str(exc), shown)
                    found += [] if refused in found else [refused]  # once, not once per node
                    continue
                found += [
                    d
                    for d in rendered.diagnostics
                    if d not in loaded.diagnostics and d not in found
                ]
    emit(found, fmt)
    if has_errors(found):
        raise typer.Exit(int(Exit.INVALID))
    if fmt is Format.text:
        say(f"ok: {', '.join(specs)}")


@app.command("render")
def render_command(
    spec: SpecArg,
    target: Annotated[RenderTarget, typer.Option("--target", "-t", help="Engine to render for.")],
    layout: Annotated[
        Layout | None,
        typer.Option(
            help="nginx: full, stream (default) or upstreams. keepalived: full (default) or "
            "nft (the rule that holds SYNs to the VIP while no proxy listens)."
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            help="keepalived, kubeadm-static-pods: the node of the spec's vip tier to render for."
        ),
    ] = None,
    proxy: Annotated[
        Proxy | None, typer.Option(help="kubeadm-static-pods: the proxy's Pod (default haproxy).")
    ] = None,
    proxy_image: Annotated[
        str | None,
        typer.Option(help="kubeadm-static-pods: the proxy's image (haproxy:2.8, nginx:1.26)."),
    ] = None,
    keepalived_image: Annotated[
        str | None,
        typer.Option(help="kubeadm-static-pods: keepalived's image (lbgen-keepalived:bookworm)."),
    ] = None,
    output_text: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write here (atomically, through symlinks; - for stdout).",
        ),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if FILE would change.")
    ] = False,
    validate_: Annotated[
        bool, typer.Option("--validate", help="Let the engine check the text before writing.")
    ] = False,
    strict: Annotated[
        bool, typer.Option(help=f"{STRICT_HELP} Not the engine's: see --strict-engine.")
    ] = False,
    strict_engine: Annotated[
        bool,
        typer.Option(
            help="With --validate: " + STRICT_ENGINE_HELP[0].lower() + STRICT_ENGINE_HELP[1:]
        ),
    ] = False,
    runner: Annotated[RunnerName, typer.Option(help="Where --validate runs the engine.")] = (
        RunnerName.auto
    ),
    image: Annotated[str | None, typer.Option(help="Engine image for --runner docker.")] = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="Folder whose templates override the built-in ones.", readable=False),
    ] = None,
    load_module: Annotated[
        str | None, typer.Option(help="nginx --layout full: load_module path for stream.")
    ] = None,
) -> None:
    """Render a spec into an engine config (keepalived: one node's, --node NAME), or into a
    folder (kubeadm-static-pods: a node's static Pods and the configs they mount).

    Example: lbgen render cluster.yaml -t haproxy -o /etc/haproxy/haproxy.cfg --validate
    """
    from lbgen.output import WriteStatus, compare, file_path, plan_write, write_atomic
    from lbgen.rendering import TargetError, TemplateFailure, render

    _startup_done()
    # The option's text, not a Path: Path("new/") would drop the slash that says "a folder".
    output = Path(output_text) if output_text is not None else None
    pod_options = {"--proxy": proxy, "--proxy-image": proxy_image,
                   "--keepalived-image": keepalived_image}  # fmt: skip
    if target is RenderTarget.kubeadm_static_pods:
        if layout is not None:
            fail(Exit.INVALID, "target kubeadm-static-pods has no --layout (nginx: always full)")
        images = {"keepalived": keepalived_image} if keepalived_image else {}
        chosen = (proxy or Proxy.haproxy).value
        if proxy_image:
            images[chosen] = proxy_image
        _render_folder(
            spec, node, output, check=check, validate_=validate_, strict=strict,
            strict_engine=strict_engine, runner=runner, image=image, templates=templates,
            load_module=load_module, proxy=chosen, images=images,
        )  # fmt: skip
        return
    for flag, value in pod_options.items():
        if value is not None:
            fail(Exit.INVALID, f"{flag} is for -t kubeadm-static-pods, not {target.value}")
    if output is not None and str(output) == "-":
        output = None  # -o - : stdout, the one way to write somewhere that is not a file
        if check:
            fail(Exit.INVALID, "--check needs --output FILE to compare with, not -")
    if check and output is None:
        fail(Exit.INVALID, "--check needs --output FILE to compare with")
    if output is not None and output_text is not None:
        try:
            output = file_path(output_text)
        except OSError as exc:
            fail(Exit.INVALID, f"cannot write {output_text}: {exc.strerror or exc}")
    if validate_ and layout is Layout.nft:
        fail(Exit.INVALID, "--validate runs keepalived, not nft: check the rule with nft -c -f")
    _check_templates(templates)
    _refuse_own_input(output, spec, "spec being rendered")
    loaded_spec = _load(spec)
    with _render_refusals(TargetError, TemplateFailure):
        rendered = render(
            loaded_spec, target.value, layout=layout.value if layout else None,
            templates=templates, strict=strict, load_module=load_module, node=node,
        )  # fmt: skip
    emit(rendered.diagnostics)
    if not rendered.ok:
        raise typer.Exit(int(Exit.INVALID))
    data = rendered.text.encode("utf-8")
    try:
        # Exact bytes: a \n that became \r (HAProxy then ignores the rest of the line) differs.
        pending = compare(output, data) if output is not None else None
    except OSError as exc:
        fail(Exit.INVALID, f"cannot use {output}: {exc.strerror or exc}")
    if output is not None and check:
        if pending is not WriteStatus.UNCHANGED:
            try:
                # The checks the write makes before it writes (a dangling symlink, a file or
                # folder this user may not write, an owner it cannot keep, a missing folder):
                # render would fail (exit 2), not change the file; say what render would say.
                plan_write(output, rendered.text)
            except OSError as exc:
                fail(Exit.INVALID, f"cannot write {output}: {exc.strerror or exc}")
            fail(Exit.DIFFERENT, f"{output} is out of date (render would change it)")
        say(f"{output} is up to date")
        return
    if pending is WriteStatus.UNCHANGED:
        say(f"{output} unchanged")
        return
    if validate_:
        # The engine judges the very bytes write_atomic writes (UTF-8, newlines as rendered).
        name = str(output) if output is not None else "<stdout>"
        data = rendered.text.encode("utf-8")
        result = _engine_check(data, _engine_of(target), runner, image, strict_engine, name)
        if not result.ok:
            say(result.output)
            fail(Exit.REJECTED, result.verdict() + ("; nothing written" if output else ""))
    if output is None:
        write_stdout(rendered.text)
        return
    try:
        outcome = write_atomic(output, rendered.text)
    except OSError as exc:
        fail(Exit.INVALID, f"cannot write {output}: {exc.strerror or exc}")
    verb = "created" if outcome.status is WriteStatus.CREATED else "written"
    say(f"{output} {verb}")


def _check_templates(templates: Path | None) -> None:
    """Exit 2 unless ``--templates`` is a folder lbgen may read: the loader would not find the
    overrides in one it may not, and render the built-in templates without a word."""
    if templates is None:
        return
    if not templates.is_dir():
        fail(Exit.INVALID, f"--templates {templates}: not a folder")
    if not os.access(templates, os.R_OK | os.X_OK):
        fail(Exit.INVALID, f"--templates {templates}: cannot read: {os.strerror(errno.EACCES)}")


def _render_any(spec: Any, target: RenderTarget, *, strict: bool, node: str | None) -> Any:
    """``validate``'s translation: one file, or a folder target's files (diagnostics alike)."""
    from lbgen.rendering import TargetError, render
    from lbgen.staticpods import StaticPodsError, render_static_pods

    if target is RenderTarget.kubeadm_static_pods:
        try:
            return render_static_pods(spec, node, strict=strict)
        except StaticPodsError as exc:
            raise TargetError(str(exc)) from None
    return render(spec, target.value, strict=strict, node=node)


def _render_folder(
    spec: str,
    node: str | None,
    output: Path | None,
    *,
    check: bool,
    validate_: bool,
    strict: bool,
    strict_engine: bool,
    runner: RunnerName,
    image: str | None,
    templates: Path | None,
    load_module: str | None,
    proxy: str,
    images: dict[str, str],
) -> None:
    """``render -t kubeadm-static-pods``: the folder's files, checked or written, each atomically
    and only when every one of them rendered (and, with --validate, passed its engine)."""
    from lbgen.output import WriteStatus, plan_folder, stale_files, write_folder
    from lbgen.rendering import TargetError, TemplateFailure
    from lbgen.staticpods import CONFIG_NAMES, StaticPodsError, render_static_pods

    if output is None or str(output) == "-":
        fail(Exit.INVALID, "target kubeadm-static-pods writes a folder: give -o FOLDER")
    _check_templates(templates)
    loaded_spec = _load(spec)
    with _render_refusals(TargetError, TemplateFailure, StaticPodsError):
        rendered = render_static_pods(
            loaded_spec, node, proxy=proxy, images=images, templates=templates, strict=strict,
            load_module=load_module,
        )  # fmt: skip
    emit(rendered.diagnostics)
    if not rendered.ok:
        raise typer.Exit(int(Exit.INVALID))
    for name in rendered.files:
        _refuse_own_input(output / name, spec, "spec being rendered")
    if output.exists() and not output.is_dir():
        fail(Exit.INVALID, f"cannot use {output}: not a folder (this target writes several files)")
    try:
        stale = stale_files(output, rendered.files) if output.is_dir() else None
        leftovers = _leftover_proxy_files(output, proxy) if output.is_dir() else []
    except OSError as exc:
        fail(Exit.INVALID, f"cannot use {output}: {exc.strerror or exc}")
    if check:
        if stale != [] or leftovers:
            try:
                # The checks write_folder makes before it writes or makes anything: render
                # would fail there (exit 2), not change the folder; say what render would say.
                plan_folder(output, rendered.files)
            except OSError as exc:
                fail(Exit.INVALID, f"cannot write {output}: {exc.strerror or exc}")
        if stale is None:
            fail(Exit.DIFFERENT, f"{output} is out of date (render would create it)")
        for path in stale:
            verb = "change" if path.exists() else "create"
            say(f"lbgen: {path} is out of date (render would {verb} it)")
        for path in leftovers:
            say(f"lbgen: {path} is the other proxy's (render would remove it)")
        if stale or leftovers:
            raise typer.Exit(int(Exit.DIFFERENT))
        say(f"{output} is up to date")
        return
    if stale == [] and not leftovers:
        say(f"{output} unchanged")
        return
    if validate_:
        for engine in (proxy, "keepalived"):
            path = output / CONFIG_NAMES[engine]
            data = rendered.files[CONFIG_NAMES[engine]].encode("utf-8")
            result = _engine_check(data, engine, runner, image, strict_engine, str(path))
            if not result.ok:
                say(result.output)
                fail(Exit.REJECTED, result.verdict() + "; nothing written")
    try:
        outcomes = write_folder(output, rendered.files)
    except OSError as exc:
        fail(Exit.INVALID, f"cannot write {output}: {exc.strerror or exc}")
    for outcome in outcomes:
        if outcome.changed:
            verb = "created" if outcome.status is WriteStatus.CREATED else "written"
            say(f"{outcome.path} {verb}")
    for path in leftovers:
        try:
            path.unlink()
        except OSError as exc:
            fail(Exit.INVALID, f"cannot remove {path}: {exc.strerror or exc}")
        say(f"{path} removed (the other proxy's: the kubelet would run both)")


def _leftover_proxy_files(folder: Path, proxy: str) -> list[Path]:
    """The other proxy's files an earlier render left in ``folder`` (only regular files that
    lbgen generated: anything else there is the operator's)."""
    from lbgen.staticpods import other_proxy_files

    out = []
    for name in other_proxy_files(proxy):
        path = folder / name
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(64).startswith(b"# Generated by lbgen"):
                    out.append(path)
    return out


@app.command("check")
def check_command(
    config: Annotated[
        Path,
        typer.Argument(
            help="An haproxy.cfg or nginx config (any layout), or - for stdin.", readable=False
        ),
    ],
    engine: Annotated[Engine | None, typer.Option(help="Engine; guessed when absent.")] = None,
    runner: Annotated[RunnerName, typer.Option(help="Where the engine runs.")] = RunnerName.auto,
    image: Annotated[str | None, typer.Option(help="Engine image for --runner docker.")] = None,
    strict_engine: Annotated[
        bool,
        typer.Option(
            "--strict-engine",
            "--strict",
            help=f"{STRICT_ENGINE_HELP} (--strict is the same here: check has no translation.)",
        ),
    ] = False,
) -> None:
    """Let the real engine check a config's exact bytes: haproxy -c, nginx -t.

    A full nginx config or an haproxy.cfg FILE is checked where it is (nginx -t -c FILE), so a
    relative include names a file beside it; a stream/upstreams nginx file is wrapped into a
    temporary complete config (its messages still name FILE and its lines); stdin is checked
    from a temporary copy. Exit 3 rejected, 4 unavailable.

    Example: lbgen check haproxy.cfg --engine haproxy --strict-engine
    """
    from lbgen.confparse.detect import detect_engine, is_keepalived
    from lbgen.inputs import InputError, read_input, read_stdin

    stdin = str(config) == "-"
    shown = "<stdin>" if stdin else str(config)
    try:
        data = read_stdin() if stdin else read_input(config)
    except (OSError, InputError) as exc:
        fail(Exit.INVALID, f"cannot read {shown}: {getattr(exc, 'strerror', None) or exc}")
    # The bytes go to the engine unchanged; decoding is only for guessing which engine it is.
    text = data.decode("utf-8", "replace")
    name: str | None
    if engine is not None:
        name = engine.value
    elif is_keepalived(text):
        name = "keepalived"
    else:
        name = detect_engine(text, shown)
    if name is None:
        fail(
            Exit.INVALID,
            f"{shown}: cannot tell whether this is an haproxy, nginx or keepalived config; "
            "name it with --engine",
        )
    result = _engine_check(
        data, name, runner, image, strict_engine, shown, None if stdin else config
    )
    if not result.ok:
        say(result.output)
        fail(Exit.REJECTED, f"{shown}: {result.verdict()}")
    say(f"{shown}: {result.verdict()}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec (for editors and CI), built-in defaults included.

    Example: lbgen schema > lbgen.schema.json
    """
    from lbgen.spec.schema import spec_schema

    write_stdout(json.dumps(spec_schema(), indent=2) + "\n")


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
        Path,
        typer.Option(help="The manifest that lists spec -> target -> output.", readable=False),
    ] = Path(".lbgen-outputs.yaml"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if an output is out of date.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Diagnostic format.")] = Format.text,
) -> None:
    """Render every output listed in a manifest (.lbgen-outputs.yaml); --check for CI and hooks.

    Example: lbgen render-all --check --format github
    """
    from lbgen.manifest import Status, errors_to_show, load_manifest, shown, sync

    try:
        listed = load_manifest(manifest)
    except SpecError as exc:
        emit(exc.diagnostics, fmt)
        raise typer.Exit(int(Exit.INVALID)) from None
    outputs = listed.select(files) if files is not None else list(listed.outputs)
    results = sync(outputs, check=check)
    # Errors only, each once: translation warnings and spec errors are lbgen validate's to show.
    emit(errors_to_show(results), fmt)
    if fmt is Format.text:
        for r in results:
            warned = sum(d.level is Level.WARNING for d in r.diagnostics)
            noun = "warning" if warned == 1 else "warnings"
            more = f" ({warned} {noun}: lbgen validate -t {r.output.target})" if warned else ""
            say(f"{shown(r.output.output)}: {r.status}{more}")
    if any(r.status is Status.INVALID for r in results):
        raise typer.Exit(int(Exit.INVALID))
    if any(r.status is Status.OUT_OF_DATE for r in results):
        raise typer.Exit(int(Exit.DIFFERENT))


@app.command("explain")
def explain_command(
    spec: SpecArg,
    target: Annotated[EngineTarget, typer.Option("--target", "-t", help="Engine to explain for.")],
    layout: Annotated[
        Layout | None, typer.Option(help="nginx: full, stream (default) or upstreams.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    node: Annotated[
        str | None, typer.Option(help="keepalived: the node of the spec's vip tier to explain.")
    ] = None,
) -> None:
    """Show, per spec field, what it became in the engine's config or why it was dropped.

    Example: lbgen explain cluster.yaml -t nginx; lbgen explain tier.yaml -t keepalived --node lb1
    """
    from lbgen.explain import explain, format_explanation, format_json
    from lbgen.rendering import TargetError

    loaded_spec = _load(spec)
    try:
        explanation = explain(
            loaded_spec, target.value, layout=layout.value if layout else None, node=node
        )
    except TargetError as exc:
        fail(Exit.INVALID, str(exc))
    text = format_json(explanation) + "\n" if as_json else format_explanation(explanation)
    write_stdout(text)


class DiffFormat(StrEnum):
    """How ``diff`` shows the differences."""

    text = "text"
    unified = "unified"
    json = "json"


class ImportFrom(StrEnum):
    """Engines whose configs ``import`` reads."""

    haproxy = "haproxy"
    nginx = "nginx"


def _stdin_config() -> str:
    """The config text on stdin; one diagnostic (a SpecError) when it cannot be read or is
    binary or not UTF-8."""
    from lbgen.confparse.tree import CODE_UNREADABLE, ParseError, decode_config
    from lbgen.inputs import InputError, read_stdin

    try:
        return decode_config(read_stdin(), "<stdin>")
    except InputError as exc:
        raise SpecError([Diagnostic(Level.ERROR, CODE_UNREADABLE, f"cannot read config: {exc}",
                                    "<stdin>")]) from None  # fmt: skip
    except ParseError as exc:  # binary or non-UTF-8 stdin
        raise SpecError([exc.to_diagnostic()]) from None


def _read_config(config: str) -> str:
    """A config file's text (``-``: stdin); unreadable input exits 2 with a diagnostic."""
    from lbgen.confparse import read_config_text

    try:
        return _stdin_config() if config == "-" else read_config_text(config)
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None


@app.command("diff")
def diff_command(
    spec: SpecArg,
    target: Annotated[EngineTarget, typer.Option("--target", "-t", help="Engine to render for.")],
    against: Annotated[
        str, typer.Option("--against", help="The existing config to compare with (- for stdin).")
    ],
    layout: Annotated[
        Layout | None, typer.Option(help="nginx: full, stream (default) or upstreams.")
    ] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", help="Output format.")] = DiffFormat.text,
    node: Annotated[
        str | None, typer.Option(help="keepalived: the node of the spec's vip tier to compare.")
    ] = None,
) -> None:
    """Compare what SPEC renders with an existing config, setting by setting (exit 1: differs).

    Layout, comments, order and spellings (10s / 10000 / 10000ms) do not count; what the engine
    would do differently does, shown as "config value → spec value (file:line)".

    Example: lbgen diff cluster.yaml -t haproxy --against /etc/haproxy/haproxy.cfg;
    lbgen diff tier.yaml -t keepalived --node lb1 --against /etc/keepalived/keepalived.conf
    """
    from lbgen.compare import diff_config
    from lbgen.rendering import TargetError

    _stdin_once([spec, against])
    loaded_spec = _load(spec)
    text = _read_config(against)
    name = "<stdin>" if against == "-" else against
    try:
        result = diff_config(
            loaded_spec, target.value, text, name, layout=layout.value if layout else None,
            node=node,
        )  # fmt: skip
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    except TargetError as exc:
        fail(Exit.INVALID, str(exc))
    # Translation warnings belong to lbgen validate; here they would bury the differences.
    warned = sum(d.level is Level.WARNING for d in result.diagnostics)
    if warned and fmt is DiffFormat.text:
        say(
            f"lbgen: {warned} translation {'warning' if warned == 1 else 'warnings'} "
            f"(lbgen validate {spec} -t {target.value})"
        )
    if fmt is DiffFormat.json:
        write_stdout(result.json() + "\n")
    elif fmt is DiffFormat.unified:
        write_stdout(result.unified())
    else:
        write_stdout(result.text())
    raise typer.Exit(int(Exit.OK if result.equivalent else Exit.DIFFERENT))


@app.command("import")
def import_command(
    config: Annotated[str, typer.Argument(help="An haproxy.cfg or nginx config (- for stdin).")],
    from_: Annotated[
        ImportFrom | None,
        typer.Option("--from", help="The config's engine; detected when absent."),
    ] = None,
    output_text: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="PATH", help="Write the spec here (atomically; - for stdout)."
        ),
    ] = None,
) -> None:
    """Turn an existing config into a spec (YAML on stdout or in -o FILE).

    What the spec cannot hold becomes a YAML comment and a warning on stderr.

    Example: lbgen import /etc/haproxy/haproxy.cfg -o cluster.yaml
    """
    from lbgen.confparse.detect import is_keepalived
    from lbgen.importer import import_config
    from lbgen.output import file_path, write_atomic

    output = None
    if output_text is not None and output_text != "-":
        try:
            output = file_path(output_text)
        except OSError as exc:
            fail(Exit.INVALID, f"cannot write {output_text}: {exc.strerror or exc}")
    _refuse_own_input(output, config, "config being imported")
    text = _read_config(config)
    name = "<stdin>" if config == "-" else config
    if from_ is None and is_keepalived(text):
        fail(
            Exit.INVALID,
            f"{name}: a keepalived.conf cannot be imported: it holds the VIP tier but none of "
            "the proxy a spec describes; write the spec's vip section by hand and compare with "
            "lbgen diff SPEC -t keepalived --node NAME --against it",
        )
    try:
        result = import_config(text, name, from_.value if from_ else None)
    except SpecError as exc:
        emit(exc.diagnostics)
        raise typer.Exit(int(Exit.INVALID)) from None
    emit(result.diagnostics)
    if not result.ok:
        raise typer.Exit(int(Exit.INVALID))
    if output is None:
        write_stdout(result.yaml_text)
        return
    try:
        outcome = write_atomic(output, result.yaml_text)
    except OSError as exc:
        fail(Exit.INVALID, f"cannot write {output}: {exc.strerror or exc}")
    say(f"{output} {outcome.status.value}")


class FailOn(StrEnum):
    """The lowest level that makes ``lint`` exit 1."""

    note = "note"
    warning = "warning"
    error = "error"


@app.command()
def lint(
    configs: Annotated[
        list[Path] | None,
        typer.Argument(help="haproxy.cfg or nginx config files, or - for stdin.", readable=False),
    ] = None,
    engine: Annotated[
        Target | None, typer.Option(help="Engine; detected per file when absent.")
    ] = None,
    list_rules: Annotated[bool, typer.Option(help="Print the rules and exit.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    fail_on: Annotated[
        FailOn, typer.Option(help="Exit 1 when a finding is at this level or above.")
    ] = FailOn.warning,
    engine_version: Annotated[
        str | None,
        typer.Option(
            help="Engine version the config runs on (MAJOR.MINOR, e.g. 2.8); default: the "
            "local binary's, else the newest."
        ),
    ] = None,
) -> None:
    """Find known footguns in existing haproxy/nginx configs (exit 1: findings, 2: unreadable).

    Example: lbgen lint /etc/haproxy/haproxy.cfg --format github
    """
    from lbgen.lint import exit_code, explain, lint_path, lint_text, parse_engine_version

    if list_rules:
        write_stdout(explain() + "\n")
        return
    if not configs:
        fail(Exit.INVALID, "lint needs at least one CONFIG (or --list-rules)")
    version: tuple[int, int] | None = None
    if engine_version is not None:
        try:
            version = parse_engine_version(engine_version)
        except ValueError as exc:
            fail(Exit.INVALID, f"--engine-version: {exc}")
    _stdin_once([str(config) for config in configs])
    chosen = engine.value if engine else None
    found: list[Diagnostic] = []
    unreadable = False
    for config in configs:
        try:
            if str(config) == "-":  # stdin, as for check, diff and import
                found += lint_text(_stdin_config(), "<stdin>", chosen, version)
            else:
                found += lint_path(config, chosen, version)
        except SpecError as exc:
            found += exc.diagnostics
            unreadable = True
    emit(found, fmt)
    if unreadable:
        raise typer.Exit(int(Exit.INVALID))
    raise typer.Exit(exit_code(found, Level.parse(fail_on.value)))


_DISABLED = ("__all__", "1", "true")  # pydantic's own words for "no plugins at all"


def _get_plugins() -> Any:
    """pydantic's ``get_plugins`` without ``importlib.metadata`` while plugins are disabled."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _DISABLED:
        return ()
    # Plugins were enabled after all (by code running in this process): the real loader.
    sys.modules.pop("pydantic.plugin._loader", None)
    from pydantic.plugin._loader import get_plugins

    return get_plugins()


def _skip_plugin_discovery() -> None:
    """Spare the start-up the import of ``importlib.metadata`` (and ``email``, ``zipfile``, ``csv``
    under it: a tenth of the bare dependency import), which pydantic's plugin loader imports
    when the first validator is built even though the plugins are disabled: the loader is
    replaced by one that answers "no plugins" as the real one does for a disabled setting."""
    if (
        os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in _DISABLED
        or "pydantic.plugin._loader" in sys.modules
    ):
        return
    import types

    loader = types.ModuleType("pydantic.plugin._loader", "lbgen: plugins disabled")
    loader.get_plugins = _get_plugins  # type: ignore[attr-defined]
    sys.modules["pydantic.plugin._loader"] = loader


def _app_for(args: list[str]) -> typer.Typer:
    """The app that runs ``args``: when they start with a command's name, ``app`` with that
    command alone, which parses, helps and fails exactly as in the whole tree. typer builds the
    parameters of every command before it parses the command line: a tenth of `lbgen
    validate`'s start-up. Anything else (``--help``, ``--version``, a misspelt command, shell
    completion) gets every command."""
    if not args or "_LBGEN_COMPLETE" in os.environ or "_TYPER_COMPLETE_ARGS" in os.environ:
        return app
    for info in app.registered_commands:
        callback = info.callback
        name = info.name or (typer.main.get_command_name(callback.__name__) if callback else None)
        if name == args[0]:
            alone = copy.copy(app)
            alone.registered_commands = [info]
            return alone
    return app


#: Errors of writing to a stream (no file name): what a full disk, a quota or a closed pipe
#: does to the standard output. Files lbgen names are written by lbgen.output, which says so.
#: Messages go to stderr through :func:`say`, which never raises: such an error left over is
#: stdout's (click's own printing: --help, --version).
_STREAM_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _unwritable_stdout(reason: str) -> NoReturn:
    """Exit 2 with one line: the output could not be written (it is not a bug in lbgen)."""
    with contextlib.suppress(OSError):
        # Whatever is still buffered would fail again when the interpreter exits.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    say(f"lbgen: cannot write the standard output: {reason}")
    sys.exit(int(Exit.INVALID))


def _hold_standard_fds() -> None:
    """Put ``/dev/null`` on whichever of descriptors 0, 1 and 2 the caller closed (``>&-``).

    Python then has no ``sys.stdout`` (or stdin, stderr), and lbgen writes nothing there; but
    the first file lbgen opened would get the free number, and whatever still wrote to that
    descriptor (the interpreter's last words, a library's) would land in the spec or in the
    config being written.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                held = os.open(os.devnull, os.O_RDWR)  # the lowest free number: ``fd`` itself
            except OSError:
                return
            if held != fd:
                os.dup2(held, fd, inheritable=False)
                os.close(held)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the cleanup
    of an interrupted write (write_atomic's temp file) runs before the process ends."""


def _on_sigterm(signum: int, frame: Any) -> None:
    # One is enough: a second must not cut the cleanup of the first short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Terminated


def _catch_sigterm() -> Any:
    """Install :func:`_on_sigterm` unless SIGTERM's disposition was chosen already (ignored by
    the caller, or handled by a program that runs ``main`` in its process); the previous one."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None
    return previous


def main() -> None:
    """Console entry point; the last resort against a traceback.

    Every known failure already exits 2, 3 or 4 with a clear line. Anything else is a bug in
    lbgen: it becomes one line and exit 70 (EX_SOFTWARE), asking for a report, instead of a
    traceback that buries the cause (``LBGEN_TRACEBACK=1`` shows it for debugging).
    """
    # pydantic looks for plugins through importlib.metadata (every installed distribution's
    # entry points) when it builds the first model: a tenth of a second at every start, for
    # plugins that the lbgen command never uses. The library API leaves plugins alone.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _skip_plugin_discovery()
    _hold_standard_fds()
    previous_sigterm = _catch_sigterm()
    # Start-up (the command tree, typer's parameter coercion, the imports and model classes a
    # command needs) only creates objects that live until the process ends, yet the cyclic
    # garbage collector walks them over and over as they pile up: 5% of `lbgen render`'s
    # start-up. It rests until the command has what it needs (_startup_done), then runs again
    # for the input, as it always did.
    collecting = gc.isenabled()
    gc.disable()
    stdout = sys.stdout
    try:
        try:
            _app_for(sys.argv[1:])()
        finally:
            # A full disk or a closed pipe shows here, not at the interpreter's exit.
            if sys.stdout is not None:
                sys.stdout.flush()
    except SystemExit as exc:
        if sys.stdout is not stdout and exc.code == 1:
            # typer's answer to a closed pipe: it swaps stdout for a quiet wrapper and exits 1,
            # which here means "differences".
            _unwritable_stdout(os.strerror(errno.EPIPE))
        raise
    except _Terminated:
        say("lbgen: terminated")
        sys.exit(128 + signal.SIGTERM)
    except KeyboardInterrupt:
        say("lbgen: interrupted")
        sys.exit(130)
    except BaseException as exc:  # the one place that catches everything
        if os.environ.get("LBGEN_TRACEBACK"):
            raise
        if isinstance(exc, StdoutError):
            _unwritable_stdout(exc.strerror or str(exc))
        if isinstance(exc, OSError) and exc.filename is None and exc.errno in _STREAM_ERRNOS:
            _unwritable_stdout(exc.strerror or str(exc))
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        detail = detail.encode("ascii", "backslashreplace").decode("ascii")
        say(
            f"lbgen: internal error ({detail}); this is a bug in lbgen {__version__}, "
            "please report it with the command and input that caused it"
        )
        sys.exit(int(Exit.INTERNAL))
    finally:
        if previous_sigterm is signal.SIG_DFL:  # a caller in this process gets its default back
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if collecting:  # a caller in this process (a test) gets its collector back
            gc.enable()
