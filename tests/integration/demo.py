"""Prepare the compose demo (``compose.yaml``): render ``examples/local-demo.yaml`` twice.

Writes into a folder (default ``.lbgen-demo/``, or ``LBGEN_DEMO_DIR``):

- ``haproxy.cfg``: the spec rendered for haproxy, as is;
- ``nginx-stream.conf`` + ``nginx.conf``: the spec rendered for nginx (``--layout stream``) and a
  main file that includes it. Both engines share the host's network, so nginx gets every bind
  port of the spec plus one (the haproxy demo on 6443, nginx on 6444);
- ``apiservers.json``, ``apiserver.pem``, ``ca.pem``: the fake API servers' addresses (from the
  spec's servers), their key and certificate (127.0.0.1, ::1, localhost) and the CA to trust;
- ``demo.json``: which ports each load balancer listens on.

Run ``python -m tests.integration.demo`` from the repo top, then ``docker compose up -d``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO / "examples" / "local-demo.yaml"
DEFAULT_DIR = Path(os.environ.get("LBGEN_DEMO_DIR", REPO / ".lbgen-demo"))
NGINX_PORT_SHIFT = 1

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


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m tests.integration.demo [--spec FILE] [--out DIR]``."""
    parser = argparse.ArgumentParser(description="Prepare the lbgen compose demo.")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    info = prepare(args.spec, args.out)
    print(f"demo prepared in {args.out}: haproxy on {info['haproxy']}, nginx on {info['nginx']}")
    print("next: docker compose up -d, then for example")
    port = info["haproxy"][0]
    print(f"  kubectl --server https://127.0.0.1:{port} --certificate-authority "
          f"{args.out}/ca.pem --token demo get --raw /version")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
