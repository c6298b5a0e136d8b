"""Generated specs start in every engine build: one container run checks a whole batch.

The generator of ``tests/adversarial/specgen.py`` yields specs over every field; each valid one is
rendered for every target and layout, and every rendering lbgen does not refuse goes to the engine
build of this run (``lbgen-engine:bookworm``: haproxy 2.6 / nginx 1.22, ``:trixie``: haproxy 3.0 /
nginx 1.26, or the local binaries). In Docker all configs of a batch are checked by one shell loop
in one container without a network (``nginx -t`` binds its sockets), DNS names mapped to loopback
in its /etc/hosts. The counts per build are printed as figures.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from lbgen.nginx.command import LOADS_STREAM_MODULE, container_script, running_config
from tests.adversarial.specgen import ENGINE, load_document, refused, render_all, specs, warned
from tests.engine_check import can_isolate, dns_names, isolated_check

from .conftest import Figures
from .dockerd import DockerEngine
from .images import EngineBuild

pytestmark = pytest.mark.integration

CI = os.environ.get("CI", "") not in ("", "0", "false")
EXAMPLES = int(os.environ.get("LBGEN_ENGINE_START_EXAMPLES", "400" if CI else "60"))
BATCH_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Case:
    """One rendering lbgen does not refuse, for one engine."""

    key: str
    text: str
    warned: bool


@dataclass(frozen=True)
class Batch:
    """Every rendering of the generated specs, sorted by what lbgen said."""

    specs: int
    invalid: int
    refused: dict[str, int]
    cases: dict[str, list[Case]]  # by engine


@cache
def batch() -> Batch:
    """Generate the specs once per run (derandomized: every build sees the same ones)."""
    counts = {"specs": 0, "invalid": 0}
    refusals: dict[str, int] = {}
    cases: dict[str, list[Case]] = {"haproxy": [], "nginx": []}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(specs())
    def collect(document: dict[str, Any]) -> None:
        counts["specs"] += 1
        spec = load_document(document)
        if spec is None:
            counts["invalid"] += 1
            return
        for target, layout, rendered in render_all(spec):
            engine = ENGINE.get(target)
            if engine is None:
                continue
            if refused(rendered):
                refusals[engine] = refusals.get(engine, 0) + 1
                continue
            key = f"{target} {layout}"
            cases[engine].append(Case(key, rendered.text, warned(rendered)))

    collect()
    return Batch(counts["specs"], counts["invalid"], refusals, cases)


# --- running a batch ----------------------------------------------------------------------------

_MARK = "@@@lbgen-case"


def _docker_script(engine: str, count: int) -> str:
    """A shell loop checking c0..c<count-1>; prints a marker line with the exit codes per case."""
    from lbgen.runners.docker import CONTAINER_DIR

    d = CONTAINER_DIR
    head = f'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"\ncat {d}/hosts >> /etc/hosts\n'
    if engine == "haproxy":
        strict = f"haproxy -c -dW -f {d}/c$i.cfg"
        plain = f"haproxy -c -f {d}/c$i.cfg"
    else:
        # The prologue that writes modules.conf (load the stream module where nginx needs it).
        head += container_script(CONTAINER_DIR).rsplit("exec nginx", 1)[0]
        strict = f'nginx -t -p {d}/ -c {d}/c$i.conf -g "pid {d}/nginx.pid;"'
        plain = strict
    return head + (
        f"i=0; while [ $i -lt {count} ]; do\n"
        f"  out=$({strict} 2>&1); rc=$?; rc2=$rc\n"
        f"  if [ $rc -ne 0 ]; then rc2=$({plain} >/dev/null 2>&1; echo $?); fi\n"
        f'  printf "%s %s %s %s\\n%s\\n" {_MARK} $i $rc $rc2 "$out"\n'
        "  i=$((i+1))\ndone\n"
    )


def _docker_files(engine: str, cases: list[Case]) -> dict[str, str]:
    from lbgen.runners.docker import CONTAINER_DIR

    names = set().union(*(dns_names(c.text) for c in cases)) if cases else set()
    files = {"hosts": "".join(f"127.0.0.1 {n}\n" for n in sorted(names)), "modules.conf": ""}
    for i, case in enumerate(cases):
        if engine == "haproxy":
            files[f"c{i}.cfg"] = case.text
            continue
        wrapped = running_config(case.text, CONTAINER_DIR, stream_module=None)
        if not LOADS_STREAM_MODULE.search(case.text):
            wrapped = f"include {CONTAINER_DIR}/modules.conf;\n" + wrapped
        files[f"c{i}.conf"] = wrapped
    return files


def run_in_docker(
    client: Any, image: str, engine: str, cases: list[Case]
) -> list[tuple[int, int, str]]:
    """(strict exit, plain exit, output) per case, from one container without a network."""
    from lbgen.runners.docker import LABEL, _archive, _remove

    container = client.containers.create(
        image, command=["sh", "-c", _docker_script(engine, len(cases))], entrypoint=[],
        network_mode="none", labels={LABEL: "1"}, detach=True,
        # Docker turns IPv6 off in containers; the generated binds include ::1.
        sysctls={"net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.lo.disable_ipv6": "0"},
    )  # fmt: skip
    try:
        container.put_archive("/", _archive(_docker_files(engine, cases)))
        container.start()
        container.wait(timeout=BATCH_TIMEOUT_SECONDS)
        logs = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    finally:
        _remove(container)
    results: dict[int, tuple[int, int, str]] = {}
    for chunk in logs.split(_MARK + " ")[1:]:
        head, _, output = chunk.partition("\n")
        index, rc, rc2 = (int(x) for x in head.split())
        results[index] = (rc, rc2, output.strip())
    assert sorted(results) == list(range(len(cases))), logs[-2000:]
    return [results[i] for i in range(len(cases))]


def run_locally(engine: str, cases: list[Case]) -> list[tuple[int, int, str]]:
    """The same verdicts from the local binaries, each in a network namespace of its own."""
    out = []
    for case in cases:
        strict = isolated_check(case.text, engine, strict=True)
        rc = 0 if strict.ok or (engine == "nginx" and "[emerg]" not in strict.output) else 1
        rc2 = rc
        if rc and engine == "haproxy":
            rc2 = 0 if isolated_check(case.text, engine, strict=False).ok else 1
        out.append((rc, rc2, strict.output))
    return out


def judge(engine: str, case: Case, rc: int, rc2: int, output: str) -> bool:
    """The engine accepted what lbgen accepted (a -dW failure only where lbgen warned)."""
    if rc == 0:
        return not (engine == "nginx" and "[warn]" in output and not case.warned)
    return engine == "haproxy" and rc2 == 0 and case.warned


def test_generated_specs_start_in_the_engine_build(
    build: EngineBuild,
    mode: str,
    engine_ready: EngineBuild,
    docker_engine: DockerEngine | None,
    figures: Figures,
) -> None:
    if mode == "local" and not can_isolate():
        pytest.skip("local mode needs root, unshare and ip for a private network namespace")
    generated = batch()
    cases = generated.cases[build.engine]
    if docker_engine is not None:
        verdicts = run_in_docker(docker_engine.client, build.image, build.engine, cases)
    else:
        verdicts = run_locally(build.engine, cases)
    rejected = [
        (case, output)
        for case, (rc, rc2, output) in zip(cases, verdicts, strict=True)
        if not judge(build.engine, case, rc, rc2, output)
    ]
    refused = generated.refused.get(build.engine, 0)
    figures.add(
        "engine start",
        f"specs generated {generated.specs} (rejected by validation {generated.invalid}); "
        f"renderings refused by lbgen {refused} / accepted by engine "
        f"{len(cases) - len(rejected)} / rejected by engine {len(rejected)}",
    )
    assert cases, "no rendering reached the engine"
    if rejected:
        case, output = rejected[0]
        first = re.sub(r"\s+", " ", output)[:800]
        pytest.fail(
            f"{len(rejected)} renderings lbgen accepted were rejected by {build.id}; first "
            f"({case.key}): {first}\n--- rendering:\n{case.text}",
            pytrace=False,
        )
