"""Measure how fast lbgen starts and renders; prints its figures, asserts nothing.

    .venv/bin/python benchmarks/startup.py [--runs N] [--instructions]

Figures: median wall time of `lbgen validate` and `lbgen render` on the bundled example (new
process each run, as CI and Ansible call it), each next to the bare import of lbgen's
dependencies (`python -c "import jinja2, pydantic, ruamel.yaml, typer"`), all measured
alternately in the same loop, and the ratio (of wall time, and of CPU time: steadier on a shared
machine). Two floors show what no lbgen code can go below: the modules a command needs from its
dependencies beyond their bare import (`pydantic.main`: any model, and typer's own parameter
coercion; `validate` does without Jinja). Then in-process render time for a large generated
spec (50 pools x 20 servers), and which heavy modules each command imported.

``--instructions`` also counts the instructions each command executes, once, under valgrind's
callgrind (``PYTHONHASHSEED=0``): a ratio that does not move with the machine's load, as times
on a shared machine do (a few percent between runs of the same build), at the price of about a
minute.

Every process may write and use compiled bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped from
the children's environment) and each command runs once before the measured runs, so lbgen is
measured as installed from a wheel, its modules compiled like those of its dependencies, and
with its template cache filled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from counting import child_environment, instructions
from render_scale import yaml_text

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "kubernetes-api.yaml"
HEAVY = ("docker", "crossplane", "rich", "jinja2", "pydantic.main")

BARE = [sys.executable, "-c", "import jinja2, pydantic, ruamel.yaml, typer"]
#: What `lbgen validate` cannot avoid importing: typer's coercion and any model need pydantic.main.
#: With the cyclic collector off, as the lbgen command starts (else the floor counts collections
#: that lbgen does not make, and is no floor).
FLOOR_VALIDATE = [
    sys.executable, "-c",
    "import gc; gc.disable(); import typer._adapters, ruamel.yaml, pydantic.main",
]  # fmt: skip
#: The same for `lbgen render`, which also needs Jinja.
FLOOR_RENDER = [
    sys.executable, "-c",
    "import gc; gc.disable(); import typer._adapters, ruamel.yaml, pydantic.main, jinja2",
]  # fmt: skip


#: What ``lbgen validate`` of the example does beyond its floor, stage by stage: each stage is a
#: process that runs every statement before it too (the validate floor's program, with plugins
#: skipped as the command skips them), counted under callgrind; the difference to the stage
#: before is that stage's cost.
_STAGE_PRELUDE = (
    "import os; os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', '__all__'); " + FLOOR_VALIDATE[-1]
)


class _Stage(NamedTuple):
    label: str
    statement: str
    #: The statement parses the example again: it takes the parse stage's place.
    reparses: bool = False


_STAGES = (
    _Stage("floor of validate (no lbgen code)", ""),
    _Stage(
        "import lbgen.cli (the command tree)", "from lbgen import cli; cli._skip_plugin_discovery()"
    ),
    _Stage(
        "import what the models use (units, grammar, types)",
        "import lbgen.units, lbgen.spec.types, lbgen.spec.source",
    ),
    _Stage("import the spec models (pydantic classes)", "import lbgen.spec.models as models"),
    _Stage(
        "import the loader and the cross-checks",
        "import lbgen.spec.load as load, lbgen.spec.checks",
    ),
    _Stage("generate Spec's core schema, build its validator", "models.Spec.model_rebuild()"),
    _Stage(
        "parse the example (ruamel, positions kept)", "load.parse_yaml(open(EXAMPLE).read(), '')"
    ),
    _Stage("validate it and cross-check (load() again)", "load.load(EXAMPLE)", reparses=True),
)
#: Spec's core schema, pickled for the "validator cache" row.
_PICKLE_SCHEMA = """
import pickle, sys
from lbgen import cli; cli._skip_plugin_discovery()
from lbgen.spec.models import Spec
Spec.model_rebuild()
open(sys.argv[1], "wb").write(pickle.dumps(Spec.__pydantic_core_schema__))
"""
#: The stages up to the loader, then Spec's validator from that pickle instead of pydantic's
#: schema generation, then the load.
_CACHED = """
import pickle
from pydantic_core import SchemaSerializer, SchemaValidator
schema = pickle.loads(open(PICKLED, "rb").read())
models.Spec.__pydantic_core_schema__ = schema
models.Spec.__pydantic_validator__ = SchemaValidator(schema)
models.Spec.__pydantic_serializer__ = SchemaSerializer(schema)
models.Spec.__pydantic_complete__ = True
load.load(EXAMPLE)
"""


def stages() -> None:
    """Print what ``lbgen validate`` of the example costs beyond its floor, stage by stage, and
    what a cache of Spec's validator (which lbgen does not have) would leave."""
    import tempfile

    env = child_environment()  # `python -c` in ROOT imports this checkout's lbgen
    head = f"{_STAGE_PRELUDE}; EXAMPLE = {str(EXAMPLE)!r}"

    def count(code: str) -> int | None:
        argv = [sys.executable, "-c", code]
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)  # .pyc files
        return instructions(argv)

    before: int | None = None
    statements = [head]
    print("lbgen validate of the example, stage by stage (each counts all before it too)")
    for label, statement, reparses in _STAGES:
        if reparses:
            statements.pop()
        if statement:
            statements.append(statement)
        total = count("; ".join(statements))
        if total is None:
            print("instructions: valgrind is not installed")
            return
        step = f"+{(total - before) / 1e6:5.0f} M" if before is not None else ""
        print(f"  {label:52} {total / 1e6:6.0f} M {step}")
        before = total
    with tempfile.TemporaryDirectory() as folder:
        pickled = f"{folder}/spec-schema.pickle"
        subprocess.run([sys.executable, "-c", _PICKLE_SCHEMA, pickled], cwd=ROOT, env=env,
                       check=True)  # fmt: skip
        imports = "; ".join(stage.statement for stage in _STAGES[1:5])
        cached = count(f"{head}; PICKLED = {pickled!r}; {imports}\n{_CACHED}")
    if cached is not None and before is not None:
        print(f"  {'the same with the validator from a pickled schema':52} {cached / 1e6:6.0f} M "
              f"({(cached - before) / 1e6:+.0f} M; lbgen has no such cache)")  # fmt: skip


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU (user + system) time of each command, all alternating in one loop
    after one warm-up run each. CPU time is the steadier figure on a machine shared with other
    work: waiting for a core does not count in it."""
    env = child_environment()
    wall: dict[str, list[float]] = {label: [] for label in commands}
    cpu: dict[str, list[float]] = {label: [] for label in commands}
    for round_ in range(runs + 1):
        for label, argv in commands.items():
            start = time.perf_counter()
            child = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=env
            )
            _, _, usage = os.wait4(child.pid, 0)
            if round_:  # round 0 writes the bytecode and the template cache: not counted
                wall[label].append(time.perf_counter() - start)
                cpu[label].append(usage.ru_utime + usage.ru_stime)
    return {
        label: (statistics.median(wall[label]), statistics.median(cpu[label])) for label in commands
    }


def imported(args: list[str]) -> list[str]:
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['lbgen', *{args!r}]\n"
        "try:\n    runpy.run_module('lbgen', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
        env=child_environment(),
    )  # fmt: skip
    return out.stderr.strip().splitlines()[-1].split() if out.stderr.strip() else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    parser.add_argument(
        "--stages", action="store_true", help="only: where validate's instructions go"
    )
    options = parser.parse_args()
    if options.stages:
        stages()
        return
    runs = options.runs
    lbgen = [sys.executable, "-m", "lbgen"]
    commands = {
        "bare dependency import": BARE,
        "lbgen --version": [*lbgen, "--version"],
        "lbgen validate example": [*lbgen, "validate", str(EXAMPLE)],
        "lbgen render example -t haproxy": [*lbgen, "render", str(EXAMPLE), "-t", "haproxy"],
        "floor of validate (no lbgen code)": FLOOR_VALIDATE,
        "floor of render (no lbgen code)": FLOOR_RENDER,
    }
    figures = measure(commands, runs)
    bare_wall, bare_cpu = figures["bare dependency import"]
    print(
        f"medians of {runs} alternating runs each, after one warm-up run; ratios to the bare import"
    )
    for label, (wall, cpu) in figures.items():
        print(
            f"{label:34} {wall * 1000:7.1f} ms: {wall / bare_wall:.2f}x; "
            f"CPU {cpu * 1000:6.1f} ms: {cpu / bare_cpu:.2f}x"
        )
    if options.instructions:
        counts = {label: instructions(argv) for label, argv in commands.items()}
        bare = counts["bare dependency import"]
        if bare is None:
            print("instructions: valgrind is not installed")
        else:
            for label, count in counts.items():
                if count is not None:
                    print(f"{label:34} {count / 1e6:7.0f} M instructions: {count / bare:.2f}x")

    sys.path.insert(0, str(ROOT))
    import lbgen as lib

    data = yaml_text(50, servers=20).encode()
    start = time.perf_counter()
    spec = lib.load_spec(data)
    loaded = time.perf_counter()
    for target in ("haproxy", "nginx"):
        lib.render(spec, target)
    done = time.perf_counter()
    load_ms, render_ms = 1000 * (loaded - start), 1000 * (done - loaded)
    print(
        f"large spec (50 pools x 20 servers, {len(data) // 1024} KiB): load {load_ms:.1f} ms, "
        f"render haproxy + nginx {render_ms:.1f} ms"
    )
    for args in (["validate", str(EXAMPLE)], ["render", str(EXAMPLE), "-t", "haproxy"]):
        print(f"heavy modules imported by `lbgen {args[0]}`: {', '.join(imported(args)) or 'none'}")


if __name__ == "__main__":
    main()
