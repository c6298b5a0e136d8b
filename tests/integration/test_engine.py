"""The engines accept what lbgen renders, real clients get through, and a running engine reloads."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lbgen.runners import LocalRunner, Runner

from .clients import Watch, curl, kubectl, request
from .conftest import FAST_HEALTH, TIMEOUTS, Figures, LoadBalancer, make_spec, render_for
from .fake_apiserver import FakeAPIServer, free_port
from .images import EngineBuild

pytestmark = pytest.mark.integration

Servers = Callable[..., list[FakeAPIServer]]
Start = Callable[[dict[str, Any]], LoadBalancer]


def runner_for(build: EngineBuild, mode: str) -> Runner:
    """The check runner of this build: Docker with its image, or the local binaries."""
    if mode == "docker":
        from lbgen.runners.docker import DockerRunner

        return DockerRunner(image=build.image)
    return LocalRunner()


def _all_fields_spec() -> dict[str, Any]:
    """A spec touching many fields at once: every balance mode the engines share, backup,
    disabled, weights, limits, IPv6 binds and servers (all on loopback, no DNS names)."""
    server = "127.0.0.1:{}"
    return {
        "version": 1,
        "name": "it-accept",
        "global": {"maxconn": 2000, "log": "stdout"},
        "defaults": {
            "health": FAST_HEALTH,
            "timeouts": {**TIMEOUTS, "client_fin": "5s", "server_fin": "5s", "queue": "5s"},
            "retries": 2,
            "redispatch": True,
            "maxconn": 100,
        },
        "frontends": {
            "rr": {"bind": ["127.0.0.1:26443", "[::1]:26443"], "pool": "rr"},
            "lc": {"bind": ["127.0.0.1:26444"], "pool": "lc"},
            "src": {"bind": ["127.0.0.1:26445"], "pool": "src"},
            "rnd": {"bind": [":26446"], "pool": "rnd"},
        },
        "pools": {
            "rr": {
                "balance": "roundrobin",
                "slowstart": "10s",
                "servers": {
                    "a": {"address": server.format(27001), "weight": "20%"},
                    "b": {"address": "[::1]:27002", "weight": "80%", "maxconn": 50},
                },
            },
            "lc": {
                "balance": "leastconn",
                "health": {"check": "tls"},
                "servers": {
                    "a": server.format(27001),
                    "b": {"address": server.format(27002), "backup": True},
                    "c": {"address": server.format(27003), "disabled": True},
                },
            },
            "src": {
                "balance": "source",
                "health": {"check": "tcp"},
                "servers": {"a": server.format(27001), "b": server.format(27002)},
            },
            "rnd": {
                "balance": "random",
                "health": {"check": "http", "path": "/livez", "expect": [200, 204]},
                "servers": {"a": server.format(27001), "b": {"address": server.format(27002),
                                                              "weight": 3}},
            },
        },
    }  # fmt: skip


def test_rendered_configs_are_accepted(build: EngineBuild, mode: str, engine_ready: EngineBuild,
                                       figures: Figures) -> None:  # fmt: skip
    """Every layout of a many-field spec passes ``haproxy -c -dW`` / ``nginx -t``; a broken
    config is rejected (the check can fail)."""
    runner = runner_for(build, mode)
    spec = _all_fields_spec()
    layouts = ["full"] if build.engine == "haproxy" else ["full", "stream", "upstreams"]
    seen = []
    for layout in layouts:
        rendered = render_for(spec, build.engine, layout=layout)
        result = runner.check(rendered.text, build.engine, strict=True)
        note = ""
        module = result.load_module
        if module:
            # A full nginx config is checked as written: on a build whose stream module is
            # dynamic it fails and names the path; rendered with it, it passes.
            assert layout == "full" and not result.ok, result.output
            rendered = render_for(spec, build.engine, layout=layout, load_module=module)
            result = runner.check(rendered.text, build.engine, strict=True)
            note = f" with --load-module {module}"
        assert result.ok, f"{layout}: {result.output}"
        seen.append(f"{layout} ok{note}")
    default = "full" if build.engine == "haproxy" else "stream"
    broken = render_for(spec, build.engine, layout=default).text.replace("server ", "srever ", 1)
    result = runner.check(broken, build.engine, strict=True)
    assert not result.ok, "the engine accepted a misspelled directive"
    figures.add("engine check", f"{', '.join(seen)}; misspelled directive rejected: "
                                f"{result.summary()}")  # fmt: skip


def test_kubectl_and_curl_through_the_load_balancer(
    build: EngineBuild, apiservers: Servers, lb: Start, ca_file: Path, kube_home: Path,
    figures: Figures,
) -> None:  # fmt: skip
    """``kubectl get --raw /version`` and ``/readyz`` succeed through the LB, on 127.0.0.1 and
    ::1; the /version answers come from different servers (round robin); curl sees /livez."""
    servers = apiservers(3)
    port = free_port()
    balancer = lb(make_spec("it-kubectl", {s.name: s.address for s in servers},
                            binds=[f"127.0.0.1:{port}", f"[::1]:{port}"]))  # fmt: skip
    answered_by = []
    for host in ("127.0.0.1", "::1"):
        for _ in range(3):
            out = kubectl(balancer.port, "/version", ca_file, kube_home, host=host)
            assert out.returncode == 0, out.stderr
            answered_by.append(json.loads(out.stdout)["fakeServer"])
        ready = kubectl(balancer.port, "/readyz", ca_file, kube_home, host=host)
        assert ready.returncode == 0 and ready.stdout.strip() == "ok", ready.stderr
        live = curl(balancer.port, "/livez", ca_file, kube_home, host=host)
        assert live.returncode == 0 and live.stdout.splitlines() == ["ok", "200"], live.stderr
    figures.add("kubectl /version answered by", " ".join(answered_by))
    assert len(set(answered_by)) >= 2, answered_by


def test_not_ready_answers_pass_through(
    build: EngineBuild, apiservers: Servers, lb: Start, ca_file: Path, kube_home: Path
) -> None:
    """A single not-ready server's 500 ``[-]`` body reaches kubectl unchanged (nothing else to
    pick, so the LB is transparent), and kubectl fails on it."""
    (server,) = apiservers(1)
    server.set_ready(False)
    balancer = lb(make_spec("it-notready", {"a": server.address}, health={"check": "tcp"}))
    out = curl(balancer.port, "/readyz", ca_file, kube_home)
    assert out.stdout.splitlines()[-1] == "500" and "[-]etcd failed" in out.stdout, out.stdout
    fail = kubectl(balancer.port, "/readyz", ca_file, kube_home)
    assert fail.returncode != 0


def test_reload_keeps_open_watches_and_adds_a_frontend(
    build: EngineBuild, apiservers: Servers, lb: Start, client_context: ssl.SSLContext,
    figures: Figures,
) -> None:  # fmt: skip
    """``RunningEngine.reload``: a new frontend appears, the old one still serves, and a watch
    opened before the reload still receives events afterwards."""
    (server,) = apiservers(1, watch_interval=3600)
    spec = make_spec("it-reload", {"a": server.address})
    balancer = lb(spec)
    with Watch(balancer.port, client_context) as watch:
        new_port = free_port()
        spec["frontends"]["extra"] = {"bind": [f"127.0.0.1:{new_port}"], "pool": "cp"}
        started = time.monotonic()
        balancer.engine.reload(render_for(spec, build.engine).text)
        balancer.engine.wait_listening("127.0.0.1", new_port)
        took = time.monotonic() - started
        assert request("127.0.0.1", new_port, client_context).server == "a"
        assert request("127.0.0.1", balancer.port, client_context).server == "a"
        server.poke_watches()
        event = watch.next_event(timeout=5)
    figures.add("reload", f"new frontend listening {took:.2f}s after reload; "
                          f"old watch {'alive' if event else 'cut'}")  # fmt: skip
    assert event is not None and b'"ADDED"' in event
