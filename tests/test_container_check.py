"""The Docker runner's check, without Docker: its exact command line and files, run on this
machine in a private mount namespace where ``/tmp/lbgen`` is what the container would hold.

The local and the Docker runner share one builder (``lbgen.runners.base.check_files`` /
``check_arguments``, over the engine's ``command`` module); this proves the container side (shell
prologue, ``modules.conf``, output mapping, the ``--load-module`` hint) gives the same verdicts and
messages as the local runner.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import lbgen
from lbgen.runners import CheckResult, LocalRunner
from lbgen.runners.docker import CONTAINER_DIR, check_command, container_check_result

ROOT = Path(__file__).resolve().parents[1]
LOCAL = ROOT / "examples" / "local-demo.yaml"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private /tmp",
)

# The folder lives outside /tmp (which the namespace covers with a fresh tmpfs), and the engine
# runs from / as in a container.
_SCRIPT = f"""mount -t tmpfs tmpfs /tmp && mkdir {CONTAINER_DIR} || exit 99
cp -a "$0/in/." {CONTAINER_DIR}/ && cd / || exit 99
"$@" > "$0/out" 2>&1
status=$?
cp {CONTAINER_DIR}/modules.conf "$0/modules.out" 2>/dev/null
exit $status
"""


def container_check(
    config: bytes, engine: str, *, strict: bool = False, filename: str | None = None
) -> CheckResult:
    """What DockerRunner.check does, with this machine standing in for the image."""
    command, files = check_command(engine, config, strict=strict)
    with tempfile.TemporaryDirectory(prefix="lbgen-container-", dir="/var/tmp") as folder:
        (Path(folder) / "in").mkdir()
        for name, data in files.items():
            (Path(folder) / "in" / name).write_bytes(data)
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _SCRIPT, folder,
             *command],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode != 99, run.stderr
        output = (Path(folder) / "out").read_text("utf-8", "replace")
        modules = Path(folder) / "modules.out"
        module = modules.read_text() if modules.exists() else ""
    return container_check_result(
        engine, config, run.returncode, output, module, runner="docker:this-machine",
        command=command, strict=strict, filename=filename,
    )  # fmt: skip


def _stable(output: str) -> str:
    """Engine output without what differs from run to run (time stamps, process ids)."""
    stamp = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: ", re.M)
    output = stamp.sub(r"[\1] ", output)
    return re.sub(r"\((\d+)\)", "(PID)", output)


def rendered(target: str, layout: str, **options: str) -> bytes:
    spec = lbgen.load_spec(LOCAL)
    return lbgen.render(spec, target, layout=layout, **options).text.encode("utf-8")


CASES = [
    pytest.param("haproxy", rendered("haproxy", "full"), id="haproxy"),
    pytest.param(
        "haproxy",
        rendered("haproxy", "full").replace(b"# change", b"# caf\xe9: change", 1),
        id="haproxy-latin1",
    ),
    pytest.param(
        "haproxy", rendered("haproxy", "full").replace(b"roundrobin", b"nonsense", 1),
        id="haproxy-rejected",
    ),
    pytest.param("nginx", rendered("nginx", "stream"), id="nginx-stream"),
    pytest.param(
        "nginx", rendered("nginx", "stream").replace(b"proxy_pass ", b"proxy_pas ", 1),
        id="nginx-stream-rejected",
    ),
    pytest.param(
        "nginx", rendered("nginx", "upstreams").replace(b"proxy_pass ", b"proxy_pas ", 1),
        id="nginx-upstreams-rejected",
    ),
    pytest.param("nginx", rendered("nginx", "full"), id="nginx-full"),
]  # fmt: skip


@pytest.mark.parametrize(("engine", "config"), CASES)
def test_container_check_says_what_the_local_check_says(engine: str, config: bytes) -> None:
    local = LocalRunner().check(config, engine, strict=True, filename="mine.conf")
    container = container_check(config, engine, strict=True, filename="mine.conf")
    assert container.ok == local.ok, (local.output, container.output)
    assert _stable(container.output) == _stable(local.output)
    assert container.load_module == local.load_module
    assert CONTAINER_DIR not in container.output and "lbgen-wrapper" not in container.output
    if not local.ok:
        assert "mine.conf:" in container.output


def test_container_check_of_a_full_config_names_the_module_it_needs() -> None:
    """On an nginx whose stream module is dynamic (Debian's), a full config without load_module
    fails in the container too, and the hint names the path the prologue found there."""
    config = rendered("nginx", "full")
    result = container_check(config, "nginx", filename="nginx.conf")
    if not result.ok:
        assert result.load_module and result.load_module.endswith("ngx_stream_module.so")
        assert result.hint == (
            "nginx in this-machine loads stream as a dynamic module: the config needs "
            f"'load_module {result.load_module};' at its top (lbgen render writes it with "
            f"--load-module {result.load_module})"
        )
        fixed = rendered("nginx", "full", load_module=result.load_module)
        assert container_check(fixed, "nginx", filename="nginx.conf").ok
    else:  # an nginx with stream built in needs nothing
        assert result.load_module is None


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_docker_and_local_engines_run_with_one_command_line(engine: str) -> None:
    """The Docker runner starts the engine with the local runner's arguments (one builder)."""
    from lbgen.runners.base import command_line
    from lbgen.runners.docker import engine_command

    run_arguments = command_line(engine).run_arguments
    text = lbgen.render(lbgen.load_spec(LOCAL), engine).text
    name = "haproxy.cfg" if engine == "haproxy" else "nginx.conf"
    expected = run_arguments(text, CONTAINER_DIR, f"{CONTAINER_DIR}/{name}")
    assert engine_command(engine, text)[-len(expected) :] == expected
    if engine == "nginx":
        assert expected[-2:] == ["-g", f"pid {CONTAINER_DIR}/nginx.pid; daemon off;"]
        assert "-g" not in run_arguments("pid /run/x.pid;\ndaemon on;\n", "/d", "/d/c")
