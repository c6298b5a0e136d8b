"""Output for people and for CI: GitHub annotations, JSON, colour only on a terminal, NO_COLOR.

Every command runs as a real process; the terminal cases run it on a pseudo-terminal, so that
``isatty()`` is true exactly as in an interactive shell.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kubernetes-api.yaml"
RED, YELLOW, CYAN, RESET = "\x1b[31m", "\x1b[33m", "\x1b[36m", "\x1b[0m"
WEIGHT_ERROR = "pools.control-plane.servers.k8s-master2.weight: must be 0..256 (got 300)"

HAND_WRITTEN = """\
global
    log stdout format raw local0
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend k8s
    bind :6443
    default_backend cp
backend cp
    option ssl-hello-chk
    server m1 10.0.0.1:6443 check
"""


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without NO_COLOR (unless given), lbgen importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def run_lbgen(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """lbgen with stdout and stderr on pipes (what CI sees)."""
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        capture_output=True, text=True, cwd=cwd, env=environment(**env), timeout=120,
        check=False,
    )  # fmt: skip


def run_on_terminal(*args: str, cwd: Path, **env: str) -> tuple[int, str]:
    """lbgen with stdout and stderr on a pseudo-terminal (what a person sees)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "lbgen", *args],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=cwd,
        env=environment(**{"TERM": "xterm", **env}),
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = process.wait(timeout=120)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8")


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    """The example with k8s-master2's weight out of range (line 40, column 56)."""
    path = tmp_path / "spec.yaml"
    path.write_text(EXAMPLE.read_text().replace("weight: 50}", "weight: 300}"))
    return path


# --- GitHub annotations ------------------------------------------------------------------------


def test_validate_github_annotation_for_an_error(bad_spec: Path) -> None:
    result = run_lbgen("validate", "spec.yaml", "--format", "github", cwd=bad_spec.parent)
    assert result.returncode == 2
    assert result.stdout == f"::error file=spec.yaml,line=40,col=56,title=weight::{WEIGHT_ERROR}\n"
    assert RED not in result.stdout + result.stderr


def test_validate_github_annotations_for_translation_warnings(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(EXAMPLE.read_text())
    result = run_lbgen("validate", "spec.yaml", "-t", "nginx", "--format", "github", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "::warning file=spec.yaml,line=19,col=11,title=nginx-unsupported::defaults.health.rise: "
        "nginx OSS has no active health checks, so health.rise has no equivalent; left out"
    ) in lines
    assert any(line.startswith("::notice file=spec.yaml,line=8,col=11,") for line in lines)
    assert all(line.startswith(("::warning ", "::notice ")) for line in lines)


def test_github_properties_are_escaped(tmp_path: Path) -> None:
    # ':' and ',' separate annotation properties: a file name holding them must be escaped.
    name = "a,b:c.yaml"
    (tmp_path / name).write_text(EXAMPLE.read_text().replace("weight: 50}", "weight: 300}"))
    result = run_lbgen("validate", name, "--format", "github", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith("::error file=a%2Cb%3Ac.yaml,line=40,col=56,title=weight::")


def test_validate_json_is_machine_readable(bad_spec: Path) -> None:
    result = run_lbgen("validate", "spec.yaml", "--format", "json", cwd=bad_spec.parent)
    assert result.returncode == 2
    (row,) = json.loads(result.stdout)
    assert row == {
        "level": "error", "code": "weight", "file": "spec.yaml", "line": 40, "col": 56,
        "path": "pools.control-plane.servers.k8s-master2.weight",
        "message": "must be 0..256 (got 300)",
    }  # fmt: skip


def test_lint_github_annotation(tmp_path: Path) -> None:
    (tmp_path / "haproxy.cfg").write_text(HAND_WRITTEN)
    result = run_lbgen("lint", "haproxy.cfg", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("::warning file=haproxy.cfg,line=12,col=5,title=LB102::")


def test_render_all_github_annotation_points_at_the_stale_file(tmp_path: Path) -> None:
    (tmp_path / "spec.lbgen.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n  - {spec: spec.lbgen.yaml, target: haproxy, output: out/haproxy.cfg}\n"
    )
    assert run_lbgen("render-all", cwd=tmp_path).returncode == 0
    assert run_lbgen("render-all", "--check", cwd=tmp_path).returncode == 0
    stale = tmp_path / "out" / "haproxy.cfg"
    stale.write_text(stale.read_text().replace("weight 50", "weight 60"))
    result = run_lbgen("render-all", "--check", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == (
        "::error file=out/haproxy.cfg,title=out-of-date::out/haproxy.cfg is out of date: "
        "rendering spec.lbgen.yaml for haproxy changes it (the lbgen-render-update pre-commit "
        "hook or lbgen render-all rewrites it)\n"
    )


# --- colour ------------------------------------------------------------------------------------


def test_colour_on_a_terminal(bad_spec: Path) -> None:
    code, output = run_on_terminal("validate", "spec.yaml", cwd=bad_spec.parent)
    assert code == 2
    assert f"{RED}spec.yaml:40:56: error [weight] {WEIGHT_ERROR}{RESET}" in output


def test_warnings_and_notes_have_their_own_colours(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(EXAMPLE.read_text())
    code, output = run_on_terminal("validate", "spec.yaml", "-t", "nginx", cwd=tmp_path)
    assert code == 0
    assert f"{YELLOW}spec.yaml:19:11: warning [nginx-unsupported]" in output
    assert f"{CYAN}spec.yaml:8:11: note [nginx-health-any-path]" in output


def test_no_colour_through_a_pipe(bad_spec: Path) -> None:
    result = run_lbgen("validate", "spec.yaml", cwd=bad_spec.parent)
    assert result.returncode == 2
    assert result.stderr == f"spec.yaml:40:56: error [weight] {WEIGHT_ERROR}\n"


def test_no_color_is_respected_on_a_terminal(bad_spec: Path) -> None:
    code, output = run_on_terminal("validate", "spec.yaml", cwd=bad_spec.parent, NO_COLOR="1")
    assert code == 2
    assert f"spec.yaml:40:56: error [weight] {WEIGHT_ERROR}" in output
    assert "\x1b[" not in output


def test_an_empty_no_color_does_not_disable_colour(bad_spec: Path) -> None:
    # no-color.org: NO_COLOR counts when it is present *and not empty*.
    code, output = run_on_terminal("validate", "spec.yaml", cwd=bad_spec.parent, NO_COLOR="")
    assert code == 2
    assert RED in output


def test_github_format_is_never_coloured_even_on_a_terminal(bad_spec: Path) -> None:
    code, output = run_on_terminal(
        "validate", "spec.yaml", "--format", "github", cwd=bad_spec.parent
    )
    assert code == 2
    assert output.strip() == f"::error file=spec.yaml,line=40,col=56,title=weight::{WEIGHT_ERROR}"


# --- everyday comfort --------------------------------------------------------------------------


COMMANDS = [
    "validate", "render", "check", "schema", "lint", "render-all", "explain", "diff", "import",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(command: str) -> None:
    result = run_lbgen(command, "--help", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert f"Example: lbgen {command} " in result.stdout
    # The example is one line as written, not rewrapped at the terminal width.
    example = next(line for line in result.stdout.splitlines() if "Example: lbgen" in line)
    assert not example.endswith(" "), example


def test_a_long_example_is_not_rewrapped() -> None:
    result = run_lbgen("render", "--help", cwd=ROOT)
    example = "Example: lbgen render cluster.yaml -t haproxy -o /etc/haproxy/haproxy.cfg --validate"
    assert f"  {example}\n" in result.stdout


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_dash_h_is_help(command: str | None) -> None:
    words = [command] if command else []
    short = run_lbgen(*words, "-h", cwd=ROOT)
    long = run_lbgen(*words, "--help", cwd=ROOT)
    assert (short.returncode, short.stderr) == (0, ""), short.stderr
    assert short.stdout == long.stdout
    assert "-h, --help" in short.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_words_not_python_types(command: str) -> None:
    text = run_lbgen(command, "--help", cwd=ROOT).stdout
    for python in ("<list", "list[", "<str>", "<Path>", "<path>", "{", "}"):
        assert python not in text, (python, text)


def test_help_names_arguments_and_choices() -> None:
    validate = run_lbgen("validate", "-h", cwd=ROOT).stdout
    assert validate.startswith("Usage: python -m lbgen validate [OPTIONS] SPECS...\n")
    assert "  -t, --target [haproxy|nginx|nginx-plus|keepalived|kubeadm-static-pods]\n" in validate
    assert "  SPECS...  Spec files, or - for stdin.\n" in validate
    lint = run_lbgen("lint", "-h", cwd=ROOT).stdout
    assert lint.startswith("Usage: python -m lbgen lint [OPTIONS] [CONFIGS]...\n")
    render = run_lbgen("render", "-h", cwd=ROOT).stdout
    assert "  -o, --output PATH " in render
    assert "  --runner [auto|local|docker] " in render


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["render", "spec.yaml", "-t", "apache"],
         "lbgen: invalid value 'apache' for -t/--target: choose haproxy, nginx, nginx-plus, "
         "keepalived, "
         "kubeadm-static-pods\n"),
        (["render", "spec.yaml", "-t", "haproxi"],
         "lbgen: invalid value 'haproxi' for -t/--target: choose haproxy, nginx, nginx-plus, "
         "keepalived, "
         "kubeadm-static-pods "
         "(did you mean 'haproxy'?)\n"),
        (["validate", "spec.yaml", "-t", "ngnix"],
         "lbgen: invalid value 'ngnix' for -t/--target: choose haproxy, nginx, nginx-plus, "
         "keepalived, "
         "kubeadm-static-pods "
         "(did you mean 'nginx'?)\n"),
        (["render", "spec.yaml", "-t", "nginx", "--layout", "streams"],
         "lbgen: invalid value 'streams' for --layout: choose full, stream, upstreams, nft "
         "(did you mean 'stream'?)\n"),
        (["lint", "x.cfg", "--fail-on", "never"],
         "lbgen: invalid value 'never' for --fail-on: choose note, warning, error\n"),
        (["render", "spec.yaml"],
         "lbgen: missing -t/--target: choose haproxy, nginx, nginx-plus, keepalived, "
         "kubeadm-static-pods\n"),
    ],
)  # fmt: skip
def test_a_bad_choice_says_what_to_choose(args: list[str], says: str) -> None:
    """One line saying what to choose, and the hint: no usage block (exit 2)."""
    result = run_lbgen(*args, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr == says + f"Try 'python -m lbgen {args[0]} --help' for help.\n"
    assert "Value error" not in result.stderr


def test_a_dumb_terminal_gets_no_colour(bad_spec: Path) -> None:
    code, output = run_on_terminal("validate", "spec.yaml", cwd=bad_spec.parent, TERM="dumb")
    assert code == 2
    assert f"spec.yaml:40:56: error [weight] {WEIGHT_ERROR}" in output
    assert "\x1b[" not in output


@pytest.mark.parametrize(
    "args", [["render", "--help"], ["render", "spec.yaml", "-t", "apache"], ["--help"]]
)
def test_help_and_usage_errors_are_plain_text_on_a_terminal(args: list[str]) -> None:
    code, output = run_on_terminal(*args, cwd=ROOT)
    assert code in (0, 2)
    assert ("Usage:" if code == 0 else "lbgen: invalid value 'apache'") in output
    assert "\x1b[" not in output
    assert "╭" not in output  # no rich error panel


def complete(words: str) -> list[str]:
    """What typer's bash completion offers for the last of ``words`` (as the shell asks it)."""
    result = subprocess.run(
        [sys.executable, "-c", "from lbgen.cli import app; app(prog_name='lbgen')"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
        env=environment(_LBGEN_COMPLETE="complete_bash", COMP_WORDS=words,
                        COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1))),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_shell_completion() -> None:
    script = subprocess.run(
        [sys.executable, "-c", "from lbgen.cli import app; app(prog_name='lbgen')",
         "--show-completion", "bash"],
        capture_output=True, text=True, cwd=ROOT, env=environment(), timeout=60, check=False,
    )  # fmt: skip
    assert script.stdout.rstrip().endswith("complete -o default -F _lbgen_completion lbgen")
    assert complete("lbgen ren") == ["render", "render-all"]
    assert complete("lbgen explain spec.yaml -t ") == [
        "haproxy",
        "nginx",
        "nginx-plus",
        "keepalived",
    ]
