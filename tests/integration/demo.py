"""Prepare the compose demo (``compose.yaml``): render ``examples/local-demo.yaml`` twice.

Writes into a folder (default ``.lbgen-demo/``, or ``LBGEN_DEMO_DIR``):

- ``haproxy.cfg``: the spec rendered for haproxy, as is;
- ``nginx-stream.conf`` + ``nginx.conf``: the spec rendered for nginx (``--layout stream``) and a
  main file that includes it. Both engines share the host's network, so nginx gets every bind
  port of the spec plus one (the haproxy demo on 6443, nginx on 6444);
- ``apiservers.json``, ``apiserver.pem``, ``ca.pem``: the fake API servers' addresses (from the
  spec's servers), their key and certificate (127.0.0.1, ::1, localhost) and the CA to trust;
- ``demo.json``: which ports each load balancer listens on.

``scripts/demo up`` / ``scripts/demo down`` (which run ``python -m tests.integration.demo up``
/ ``down`` in a venv with the ``[demo]`` extra) do the whole thing on a machine without any image
registry: find or start a Docker engine, build ``lbgen-engine:trixie`` from Debian when it is
missing (as the integration tests do), prepare, ``compose up``; and back. ``python -m
tests.integration.demo`` alone only prepares (then ``docker compose up -d`` with the image
variables of compose.yaml).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO / "examples" / "local-demo.yaml"
DEFAULT_DIR = Path(os.environ.get("LBGEN_DEMO_DIR", REPO / ".lbgen-demo"))
NGINX_PORT_SHIFT = 1
#: compose's project name for the demo (containers are named lbgen-demo_haproxy_1 and so on).
PROJECT = os.environ.get("LBGEN_DEMO_PROJECT", "lbgen-demo")
COMPOSE_FILE = REPO / "compose.yaml"
#: In the demo folder: the PID of the dockerd that ``up`` started, for ``down`` to stop.
DOCKERD_PID_FILE = "dockerd.pid"
#: Images compose.yaml runs, and the one we build from Debian when they are not set.
IMAGE_VARIABLES = ("LBGEN_HAPROXY_IMAGE", "LBGEN_NGINX_IMAGE", "LBGEN_DEMO_PYTHON_IMAGE")
DEMO_SUITE = "trixie"
READY_TIMEOUT_SECONDS = 90.0

#: The main nginx file: the stream module is loaded by a line the container writes at start
#: (only when its nginx needs it: Debian's does, the official image's does not).
NGINX_MAIN = """# Written by tests/integration/demo.py for compose.yaml.
include /tmp/lbgen-modules.conf;
error_log stderr;
events {}
include /lbgen/demo/nginx-stream.conf;
"""


def _shift(bind: str, by: int) -> str:
    """``127.0.0.1:6443`` → ``127.0.0.1:6444``."""
    host, _, port = bind.rpartition(":")
    return f"{host}:{int(port) + by}"


def shifted(spec: dict[str, Any], by: int) -> dict[str, Any]:
    """The spec with every listening port moved by ``by`` (frontends, stats, health)."""
    result = copy.deepcopy(spec)
    for frontend in result.get("frontends", {}).values():
        frontend["bind"] = [_shift(bind, by) for bind in frontend["bind"]]
    for key in ("stats", "health"):
        block = (result.get("global") or {}).get(key)
        if isinstance(block, dict) and "bind" in block:
            block["bind"] = _shift(block["bind"], by)
    return result


def _plain(data: Any) -> Any:
    """ruamel's commented maps and sequences as plain dicts and lists."""
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return data


def _render(spec: dict[str, Any], target: str, layout: str) -> str:
    import lbgen
    from lbgen.diagnostics import Level

    rendered = lbgen.render(lbgen.load_spec(json.dumps(spec).encode()), target, layout=layout)
    errors = [d for d in rendered.diagnostics if d.level is Level.ERROR]
    if errors:
        raise SystemExit(f"the demo spec does not render for {target}: {errors}")
    return rendered.text


def _ports(spec: dict[str, Any]) -> list[int]:
    return [int(b.rpartition(":")[2]) for fe in spec["frontends"].values() for b in fe["bind"]]


def prepare(spec_path: Path = DEFAULT_SPEC, out: Path = DEFAULT_DIR) -> dict[str, Any]:
    """Write everything compose.yaml mounts into ``out``; return the demo's ports."""
    import trustme
    from ruamel.yaml import YAML

    spec = _plain(YAML(typ="safe").load(spec_path.read_text(encoding="utf-8")))
    out.mkdir(parents=True, exist_ok=True)
    nginx_spec = shifted(spec, NGINX_PORT_SHIFT)
    (out / "haproxy.cfg").write_text(_render(spec, "haproxy", "full"), encoding="utf-8")
    (out / "nginx-stream.conf").write_text(_render(nginx_spec, "nginx", "stream"), encoding="utf-8")
    (out / "nginx.conf").write_text(NGINX_MAIN, encoding="utf-8")

    servers: dict[str, str] = {}
    for pool in spec["pools"].values():
        for name, server in pool["servers"].items():
            servers[name] = server if isinstance(server, str) else server["address"]
    apiservers = [{"name": name, "address": address} for name, address in servers.items()]
    (out / "apiservers.json").write_text(json.dumps(apiservers, indent=2), encoding="utf-8")

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(out / "ca.pem"))
    leaf = ca.issue_cert("127.0.0.1", "::1", "localhost")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(out / "apiserver.pem"))
    (out / "apiserver.pem").chmod(0o644)  # read by the container's user, whoever that is

    info = {"haproxy": _ports(spec), "nginx": _ports(nginx_spec), "apiservers": apiservers}
    (out / "demo.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


class DemoError(Exception):
    """The demo cannot be started or stopped here (the message says why and what to do)."""


def compose_command() -> list[str] | None:
    """``docker compose`` (v2 plugin) or ``docker-compose`` (v1), whichever works here."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def demo_images() -> dict[str, str]:
    """compose.yaml's image variables: as set in the environment, else our Debian image."""
    from .images import our_image

    default = our_image(DEMO_SUITE)
    return {name: os.environ.get(name, "").strip() or default for name in IMAGE_VARIABLES}


def compose_env(out: Path, images: dict[str, str]) -> dict[str, str]:
    """The environment compose runs with: the images and the prepared folder."""
    return dict(os.environ, **images, LBGEN_DEMO_DIR=str(out.resolve()))


def _compose(
    compose: list[str], project: str, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """One compose command on compose.yaml, output captured."""
    return subprocess.run(
        [*compose, "-f", str(COMPOSE_FILE), "-p", project, *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip


def _answers(port: int, ca_file: Path) -> bool:
    """True when an API server answers ``GET /version`` through the load balancer on ``port``."""
    context = ssl.create_default_context(cafile=str(ca_file))
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        connection.request("GET", "/version")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_ready(info: dict[str, Any], ca_file: Path, limit: float = READY_TIMEOUT_SECONDS) -> None:
    """Wait until both load balancers pass ``/version`` through (the stack starts in the
    background)."""
    deadline = time.monotonic() + limit
    pending = [info["haproxy"][0], info["nginx"][0]]
    while pending and time.monotonic() < deadline:
        pending = [port for port in pending if not _answers(port, ca_file)]
        if pending:
            time.sleep(0.5)
    if pending:
        raise DemoError(f"the demo started, but 127.0.0.1:{pending} never answered /version "
                        f"(docker logs of the {PROJECT} containers say why)")  # fmt: skip


def up(
    out: Path = DEFAULT_DIR, project: str = PROJECT, spec_path: Path = DEFAULT_SPEC
) -> dict[str, Any]:
    """Start the demo: a Docker engine (started here, detached, when none answers), the images
    (built from Debian when missing), the prepared folder, ``compose up``; wait until both load
    balancers answer. Returns the demo's ports."""
    from .dockerd import DockerUnavailable, get_docker_engine
    from .images import ImageUnavailable, ensure_images

    compose = compose_command()
    if compose is None:
        raise DemoError("neither 'docker compose' nor 'docker-compose' is installed")
    try:
        engine = get_docker_engine(detach=True)
    except DockerUnavailable as exc:
        raise DemoError(f"{exc} (run it as root: sudo scripts/demo up)") from None
    out.mkdir(parents=True, exist_ok=True)
    if engine.started_pid is not None:
        (out / DOCKERD_PID_FILE).write_text(f"{engine.started_pid}\n", encoding="utf-8")
        print(f"started dockerd (pid {engine.started_pid}); scripts/demo down stops it")
    images = demo_images()
    env = compose_env(out, images)
    try:
        for image, seconds in ensure_images(engine.client, list(images.values())).items():
            print(f"image {image}: ready" + (f" (built in {seconds:.0f}s)" if seconds else ""))
        # A second 'up': the running servers hold the old certificates, so start afresh.
        _compose(compose, project, env, "down", "-t", "5", "--remove-orphans")
        info = prepare(spec_path, out)
        started = _compose(compose, project, env, "up", "-d")
        if started.returncode != 0:
            raise DemoError(f"{' '.join(compose)} up failed:\n{started.stdout}{started.stderr}")
        wait_ready(info, out / "ca.pem")
    except (DemoError, ImageUnavailable) as exc:
        _compose(compose, project, env, "down", "-t", "5", "--remove-orphans")
        stop_dockerd(out)
        raise DemoError(str(exc)) from None
    finally:
        with contextlib.suppress(Exception):
            engine.client.close()
    return info


def stop_dockerd(out: Path) -> int | None:
    """Stop the dockerd ``up`` started (its PID is in ``out``), never another; its PID or None."""
    from .dockerd import _stop_pid

    pid_file = out / DOCKERD_PID_FILE
    if not pid_file.exists():
        return None
    text = pid_file.read_text(encoding="utf-8").strip()
    pid_file.unlink()
    if not text.isdigit():
        return None
    try:  # the PID may have been reused since: stop it only if it is still a dockerd
        command = Path(f"/proc/{text}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not command or Path(command[0].decode(errors="replace")).name != "dockerd":
        return None
    _stop_pid(int(text))
    return int(text)


def down(out: Path = DEFAULT_DIR, project: str = PROJECT) -> list[str]:
    """Stop the demo (``compose down``) and the dockerd ``up`` started; what was done."""
    from .dockerd import DockerUnavailable, _client_or_none

    done: list[str] = []
    compose = compose_command()
    try:
        client = _client_or_none()
    except DockerUnavailable:
        client = None
    if compose is not None and client is not None:
        client.close()
        stopped = _compose(compose, project, compose_env(out, demo_images()),
                           "down", "-t", "5", "--remove-orphans")  # fmt: skip
        if stopped.returncode != 0:
            raise DemoError(f"{' '.join(compose)} down failed:\n{stopped.stdout}{stopped.stderr}")
        done.append("demo containers removed")
    pid = stop_dockerd(out)
    if pid is not None:
        done.append(f"dockerd (pid {pid}) stopped")
    return done


def _kubectl_hint(out: Path, port: int) -> str:
    return (f"  kubectl --server https://127.0.0.1:{port} --certificate-authority "
            f"{out}/ca.pem --token demo get --raw /version")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tests.integration.demo [prepare|up|down] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.integration.demo", description="The lbgen compose demo."
    )
    parser.add_argument("command", nargs="?", choices=["prepare", "up", "down"], default="prepare",
                        help="prepare (default): only write the folder compose.yaml mounts; "
                        "up: start everything; down: stop it")  # fmt: skip
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    out: Path = args.out
    try:
        if args.command == "down":
            done = down(out)
            print("; ".join(done) if done else "nothing to stop")
            return 0
        if args.command == "up":
            info = up(out, spec_path=args.spec)
            print(f"demo up: haproxy on 127.0.0.1:{info['haproxy'][0]}, "
                  f"nginx on 127.0.0.1:{info['nginx'][0]}; for example")  # fmt: skip
            print(_kubectl_hint(out, info["haproxy"][0]))
            print("stop it with: scripts/demo down")
            return 0
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 4
    info = prepare(args.spec, out)
    print(f"demo prepared in {out}: haproxy on {info['haproxy']}, nginx on {info['nginx']}")
    print("next: docker compose up -d, then for example")
    print(_kubectl_hint(out, info["haproxy"][0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
