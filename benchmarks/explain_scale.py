"""How ``lbgen explain`` grows with the spec, beside ``lbgen render``; prints figures, asserts
nothing.

    .venv/bin/python benchmarks/explain_scale.py [--sizes 10,40,80,250,1000] [--runs N]
                                                 [--target haproxy]

For the specs of benchmarks/render_scale.py (N pools x 10 servers, one frontend per pool, as
YAML) it times, in this one process and alternating run by run, ``lbgen.explain`` (and its text)
and the baseline ``lbgen.render`` of the same loaded spec. It prints the median of each (wall
clock, and the process's CPU time for explain, which another busy process does not inflate), the
number of fields explained, explain's time per pool, and the ratio explain / render: a ratio that
stays flat as the spec grows means explain grows linearly, as render does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[Any], int], arg: Any) -> tuple[float, float, int]:
    """Wall and CPU seconds of one call ``fn(arg)``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(arg)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,40,80,250,1000", help="pool counts")
    parser.add_argument("--runs", type=int, default=1, help="alternating runs per size")
    parser.add_argument("--target", default="haproxy")
    args = parser.parse_args()
    target = args.target
    sys.path.insert(0, str(ROOT))  # the checkout's lbgen, not an installed one
    from render_scale import yaml_text

    import lbgen
    from lbgen.explain import explain, format_explanation
    from lbgen.spec.models import Spec

    def run_explain(spec: Spec) -> int:
        explanation = explain(spec, target)
        format_explanation(explanation)
        return sum(1 for _ in explanation.fields())

    def run_render(spec: Spec) -> int:
        return len(lbgen.render(spec, target).text)

    warm = lbgen.load_spec(yaml_text(2))  # imports done, templates compiled
    run_explain(warm)
    run_render(warm)
    print(f"target {target}, 10 servers per pool, median of {args.runs} alternating run(s)")
    print(f"{'pools':>6} {'fields':>7} {'explain s':>10} {'cpu s':>7} {'ms/pool':>8} "
          f"{'render ms':>10} {'ratio':>7}")  # fmt: skip
    for pools in (int(size) for size in args.sizes.split(",")):
        spec = lbgen.load_spec(yaml_text(pools))
        walls: list[float] = []
        cpus: list[float] = []
        renders: list[float] = []
        count = 0
        for _ in range(args.runs):
            wall, cpu, count = timed(run_explain, spec)
            walls.append(wall)
            cpus.append(cpu)
            renders.append(timed(run_render, spec)[0])
        ours, cpu, base = (statistics.median(times) for times in (walls, cpus, renders))
        print(f"{pools:6} {count:7} {ours:10.2f} {cpu:7.2f} {ours * 1000 / pools:8.1f} "
              f"{base * 1000:10.1f} {ours / base:7.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
