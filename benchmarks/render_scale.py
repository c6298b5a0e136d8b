"""How lbgen's load + validate + render grows with the spec; prints figures, asserts nothing.

    .venv/bin/python benchmarks/render_scale.py [--runs N] [--sizes 100,1000,2000] [--instructions]
    .venv/bin/python benchmarks/render_scale.py --phases 1000 [--runs N]

For JSON and YAML specs of N pools x 10 servers (one frontend per pool) it times, in this one
process and alternating run by run:

* lbgen: ``lbgen.load_spec`` (parse, validate, cross-checks) then ``lbgen.render(..., "haproxy")``;
* the floor: a bare parse (``json.loads``; for YAML libyaml's ``CSafeLoader`` when PyYAML has it,
  else ruamel's safe loader) and an f-string loop that emits the same haproxy.cfg shape;
* for JSON, the pydantic floor too: the same, with the parsed spec validated by minimal pydantic
  models of its shape, a model per server as lbgen's spec has (``pydantic_floor.py``).

It prints the median of each, the ratio lbgen / floor, the growth from 1,000 to 2,000 pools, and
the peak of Python allocations (tracemalloc, one extra run each).

``--instructions`` then counts, under valgrind's callgrind, the instructions of one run of each
(a child process that imports, warms up and builds the spec text, minus the same child doing no
run): ratios and growth that do not move with the machine's load. About a minute per size.

``--phases POOLS`` instead prints where one JSON run of that size goes, phase by phase, with the
time per server: what a ratio to the floor is made of.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic_floor

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


def yaml_text(pools: int, servers: int = SERVERS) -> str:
    """The same spec as hand-written YAML (block style, flow style for the short frontends)."""
    lines = ["version: 1", "name: scale", "frontends:"]
    for p in range(pools):
        lines.append(f"  fe{p}: {{bind: ['127.0.0.1:{10000 + p}'], pool: pool{p}}}")
    lines.append("pools:")
    for p in range(pools):
        lines += [f"  pool{p}:", "    servers:"]
        lines += [f"      s{s}: 10.{p // 250}.{p % 250}.{s + 1}:6443" for s in range(servers)]
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


def spec_text(kind: str, pools: int) -> str:
    """The spec of ``pools`` pools as JSON or YAML text."""
    return json.dumps(spec_data(pools), indent=2) if kind == "json" else yaml_text(pools)


def runners() -> tuple[str, Callable[[str], str], dict[str, Callable[[str], str]]]:
    """The floor's YAML loader name, lbgen's run and the floor's run per kind, warmed up:
    imports done, the template compiled, pydantic's validator built."""
    sys.path.insert(0, str(ROOT))
    import lbgen

    yaml_name, yaml_load = _yaml_floor_loader()
    parsers: dict[str, Callable[[str], Any]] = {"json": json.loads, "yaml": yaml_load}

    def run_lbgen(text: str) -> str:
        return lbgen.render(lbgen.load_spec(text), "haproxy").text

    def floor_of(parse: Callable[[str], Any]) -> Callable[[str], str]:
        return lambda text: floor_render(parse(text))

    floors = {kind: floor_of(parse) for kind, parse in parsers.items()}
    floors["pydantic"] = floor_of(pydantic_floor.validated)
    for kind in ("json", "yaml"):
        run_lbgen(spec_text(kind, 2))
        floors[kind](spec_text(kind, 2))
    floors["pydantic"](spec_text("json", 2))
    return yaml_name, run_lbgen, floors


def child(what: str, kind: str, pools: int) -> None:
    """One run of ``what`` (``lbgen``, ``floor``, ``pydantic`` or ``none``) after the same set-up
    for all of them, so that the difference of two counts is one run."""
    _, run_lbgen, floors = runners()
    text = spec_text(kind, pools)
    # The set-up's objects out of the collector's sight, as in a process that only ran this:
    # else whether the run happens to trigger a full collection over them (tens of millions of
    # instructions) decides the count.
    gc.collect()
    gc.freeze()
    if what == "lbgen":
        run_lbgen(text)
    elif what == "floor":
        floors[kind](text)
    elif what == "pydantic":
        floors["pydantic"](text)


def phases(pools: int, runs: int) -> None:
    """Print where one JSON load + render of ``pools`` pools goes, phase by phase (the best of
    ``runs`` runs of each, the collector paused as lbgen pauses it), per server too."""
    sys.path.insert(0, str(ROOT))
    import lbgen
    from lbgen.gcpause import paused_gc
    from lbgen.rendering import render_resolved
    from lbgen.resolve import resolve_spec, spec_digest
    from lbgen.spec.checks import cross_checks
    from lbgen.spec.fastload import parse_json
    from lbgen.spec.models import Spec
    from lbgen.spec.source import SpecSource
    from lbgen.view import build_view

    runners()  # warm up
    text = spec_text("json", pools)
    document = parse_json(text)
    spec = lbgen.load_spec(text)
    resolved = resolve_spec(spec)
    view = build_view(resolved, "haproxy", "full")
    environment = lbgen.rendering.make_environment()
    context = {**view.context, "header": []}
    steps: dict[str, Callable[[], object]] = {
        "floor: json.loads + f-strings": lambda: floor_render(json.loads(text)),
        "pydantic floor: + a model per server": lambda: floor_render(
            pydantic_floor.validated(text)
        ),
        "parse (json, lbgen's checks)": lambda: parse_json(text),
        "validate (pydantic)": lambda: Spec.model_validate(document),
        "cross-checks": lambda: cross_checks(spec, SpecSource("scale.json")),
        "spec digest (canonical JSON)": lambda: spec_digest(spec),
        "resolve (digest included)": lambda: resolve_spec(spec),
        "haproxy view": lambda: build_view(resolved, "haproxy", "full"),
        "template (Jinja)": lambda: environment.get_template(view.template).render(context),
        "render_resolved (view + template)": lambda: render_resolved(resolved, "haproxy"),
        "all: load_spec + render": lambda: lbgen.render(lbgen.load_spec(text), "haproxy"),
    }
    servers = pools * SERVERS
    print(f"json {pools}x{SERVERS}, best of {runs} runs per phase")
    for label, step in steps.items():
        best = float("inf")
        for _ in range(runs):
            with paused_gc():
                start = time.perf_counter()
                step()
                best = min(best, time.perf_counter() - start)
        print(f"{label:36} {best * 1000:7.1f} ms {best * 1e6 / servers:6.2f} us/server")


def count_instructions(sizes: list[int]) -> None:
    """Print instructions of one run of lbgen and of the floor per kind and size, and growth."""
    from counting import have_valgrind, instructions

    if not have_valgrind():
        print("instructions: valgrind is not installed")
        return
    script = str(Path(__file__).resolve())
    # Once, not counted: the first child may compile lbgen's templates into the cache, which
    # every later child reads.
    instructions([sys.executable, script, "--child", "none", "json", "2"])
    print("instructions of one run (callgrind; the same child doing no run subtracted)")
    print("(pydantic M: the JSON floor with a pydantic model per server: pydantic_floor.py)")
    header = f"{'spec':>14} {'lbgen M':>9} {'floor M':>9} {'ratio':>6}"
    print(f"{header} {'pydantic M':>11} {'ratio':>6}")
    totals: dict[tuple[str, int], float] = {}
    for kind in ("json", "yaml"):
        for pools in sizes:
            counts = {}
            for what in ("none", "lbgen", "floor", *(("pydantic",) if kind == "json" else ())):
                found = instructions([sys.executable, script, "--child", what, kind, str(pools)])
                if found is None:
                    print(f"{kind} {pools}: valgrind gave no count")
                    return
                counts[what] = found
            ours = (counts["lbgen"] - counts["none"]) / 1e6
            theirs = (counts["floor"] - counts["none"]) / 1e6
            totals[(kind, pools)] = ours
            label = f"{kind} {pools}x{SERVERS}"
            line = f"{label:>14} {ours:9.0f} {theirs:9.0f} {ours / theirs:6.1f}"
            if "pydantic" in counts:
                modelled = (counts["pydantic"] - counts["none"]) / 1e6
                line += f" {modelled:11.0f} {modelled / theirs:6.1f}"
            print(line)
    for kind in ("json", "yaml"):
        if (kind, 1000) in totals and (kind, 2000) in totals:
            growth = totals[(kind, 2000)] / totals[(kind, 1000)]
            print(f"{kind}: 2000 / 1000 pools = {growth:.2f}x the instructions")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    parser.add_argument("--child", nargs=3, metavar=("WHAT", "KIND", "POOLS"), help="internal")
    parser.add_argument(
        "--phases", type=int, metavar="POOLS", help="only: where a JSON run of POOLS pools goes"
    )
    args = parser.parse_args()
    if args.phases:
        phases(args.phases, args.runs)
        return
    if args.child:
        what, kind, pools = args.child
        child(what, kind, int(pools))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    yaml_name, run_lbgen, floors = runners()
    # As in the counting children: the set-up's objects (lbgen and its imports) out of the
    # collector's sight, so that a run pays for collecting its own objects only, as it would in
    # a process of its own (the floor's time wandered from 7 to 60 ms with full collections
    # over them; lbgen pauses the collector while it loads and renders).
    gc.collect()
    gc.freeze()
    print(
        f"{SERVERS} servers per pool; floor = bare parse (json, {yaml_name}) + f-strings; "
        f"median of {args.runs} alternating runs; peak = tracemalloc peak of one run"
    )
    header = f"{'spec':>14} {'KiB':>6} {'lbgen ms':>9} {'floor ms':>9} {'ratio':>6} "
    print(header + f"{'lbgen peak MiB':>15} {'floor peak MiB':>15}")
    totals: dict[tuple[str, int], float] = {}
    for kind in ("json", "yaml"):
        for pools in sizes:
            text = spec_text(kind, pools)
            floor = floors[kind]
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
    if args.instructions:
        count_instructions(sizes)


if __name__ == "__main__":
    main()
