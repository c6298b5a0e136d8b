"""How lbgen's load + validate + render grows with the spec; prints figures, asserts nothing.

    .venv/bin/python benchmarks/render_scale.py [--runs N] [--sizes 100,1000,2000]

For JSON and YAML specs of N pools x 10 servers (one frontend per pool) it times, in this one
process and alternating run by run:

* lbgen: ``lbgen.load_spec`` (parse, validate, cross-checks) then ``lbgen.render(..., "haproxy")``;
* the floor: a bare parse (``json.loads``; for YAML libyaml's ``CSafeLoader`` when PyYAML has it,
  else ruamel's safe loader) and an f-string loop that emits the same haproxy.cfg shape.

It prints the median of each, the ratio lbgen / floor, the growth from 1,000 to 2,000 pools, and
the peak of Python allocations (tracemalloc, one extra run each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVERS = 10


def spec_data(pools: int) -> dict[str, Any]:
    """A spec of ``pools`` pools x 10 servers, each pool behind its own frontend."""
    return {
        "version": 1,
        "name": "scale",
        "frontends": {
            f"fe{p}": {"bind": [f"127.0.0.1:{10000 + p}"], "pool": f"pool{p}"} for p in range(pools)
        },
        "pools": {
            f"pool{p}": {
                "servers": {
                    f"s{s}": f"10.{p // 250}.{p % 250}.{s + 1}:6443" for s in range(SERVERS)
                }
            }
            for p in range(pools)
        },
    }


def yaml_text(pools: int) -> str:
    """The same spec as hand-written YAML (block style, flow style for the short frontends)."""
    lines = ["version: 1", "name: scale", "frontends:"]
    for p in range(pools):
        lines.append(f"  fe{p}: {{bind: ['127.0.0.1:{10000 + p}'], pool: pool{p}}}")
    lines.append("pools:")
    for p in range(pools):
        lines += [f"  pool{p}:", "    servers:"]
        lines += [f"      s{s}: 10.{p // 250}.{p % 250}.{s + 1}:6443" for s in range(SERVERS)]
    return "\n".join(lines) + "\n"


def _yaml_floor_loader() -> tuple[str, Callable[[str], Any]]:
    try:
        import yaml

        if yaml.__with_libyaml__:
            return "libyaml", lambda text: yaml.load(text, Loader=yaml.CSafeLoader)
    except ImportError:
        pass
    from ruamel.yaml import YAML

    return "ruamel safe", YAML(typ="safe").load


BACKEND = (
    "    balance roundrobin\n    option httpchk\n    http-check send meth GET uri /readyz\n"
    "    http-check expect status 200\n    retries 3\n    option redispatch\n"
    "    timeout connect 5s\n    timeout server 1h\n    timeout tunnel 1h\n"
    "    timeout server-fin 10s\n    timeout check 3s\n"
    "    default-server inter 2s fastinter 1s downinter 2s rise 2 fall 3 weight 100\n"
)


def floor_render(data: dict[str, Any]) -> str:
    """The haproxy.cfg lbgen renders for these specs, by f-strings, with no checks at all."""
    out = [
        "global\n    log stdout format raw local0\n\n",
        "defaults\n    mode tcp\n    log global\n    option tcplog\n    option dontlognull\n\n",
    ]
    for name, fe in data["frontends"].items():
        binds = "".join(f"    bind {b}\n" for b in fe["bind"])
        out.append(
            f"frontend {name}\n{binds}    timeout client 1h\n    timeout client-fin 10s\n"
            f"    default_backend {fe['pool']}\n\n"
        )
    for name, pool in data["pools"].items():
        servers = "".join(
            f"    server {s} {a} check check-ssl verify none\n" for s, a in pool["servers"].items()
        )
        out.append(f"backend {name}\n{BACKEND}{servers}\n")
    return "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,2000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sys.path.insert(0, str(ROOT))
    import lbgen

    yaml_name, yaml_load = _yaml_floor_loader()
    floors = {"json": json.loads, "yaml": yaml_load}

    def run_lbgen(text: str) -> str:
        return lbgen.render(lbgen.load_spec(text), "haproxy").text

    def run_floor(kind: str) -> Callable[[str], str]:
        return lambda text: floor_render(floors[kind](text))

    # Warm up: imports, the template's compilation, pydantic's first validation.
    run_lbgen(yaml_text(2))
    run_lbgen(json.dumps(spec_data(2)))
    print(
        f"{SERVERS} servers per pool; floor = bare parse (json, {yaml_name}) + f-strings; "
        f"median of {args.runs} alternating runs; peak = tracemalloc peak of one run"
    )
    header = f"{'spec':>14} {'KiB':>6} {'lbgen ms':>9} {'floor ms':>9} {'ratio':>6} "
    print(header + f"{'lbgen peak MiB':>15} {'floor peak MiB':>15}")
    totals: dict[tuple[str, int], float] = {}
    for kind in ("json", "yaml"):
        for pools in sizes:
            text = json.dumps(spec_data(pools), indent=2) if kind == "json" else yaml_text(pools)
            floor = run_floor(kind)
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.runs):
                for fn, times in ((run_lbgen, ours), (floor, theirs)):
                    start = time.perf_counter()
                    fn(text)
                    times.append(time.perf_counter() - start)
            peaks = []
            for fn in (run_lbgen, floor):
                tracemalloc.start()
                fn(text)
                peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
                tracemalloc.stop()
            a, b = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
            totals[(kind, pools)] = a
            label = f"{kind} {pools}x{SERVERS}"
            print(f"{label:>14} {len(text) // 1024:6} {a:9.1f} {b:9.1f} {a / b:6.1f} "
                  f"{peaks[0]:15.1f} {peaks[1]:15.1f}")  # fmt: skip
    for kind in ("json", "yaml"):
        if (kind, 1000) in totals and (kind, 2000) in totals:
            growth = totals[(kind, 2000)] / totals[(kind, 1000)]
            print(f"{kind}: 2000 / 1000 pools = {growth:.2f}x the time")


if __name__ == "__main__":
    main()
