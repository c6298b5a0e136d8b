"""The last HAProxy round-trip differences of the real-world corpus (issue 10): the stats page's
and liveness endpoint's client timeouts, ``stats uri`` without ``stats enable``,
``option ssl-hello-chk``, ``http-check expect string`` and ``init-addr``. Each is imported from a
real config and the imported spec, rendered again, is equivalent to it under ``lbgen diff``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import lbgen
from lbgen.compare import diff_config
from lbgen.importer import ImportResult, import_config, import_file

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "corpus" / "real"
HAPROXY = shutil.which("haproxy")


def _data(result: ImportResult) -> Any:
    return YAML(typ="safe").load(result.yaml_text)


def _changes(result: ImportResult, path: Path) -> list[str]:
    spec = lbgen.load_spec(result.yaml_text.encode(), filename="imported.yaml")
    return [str(c) for c in diff_config(spec, "haproxy", path.read_text(), str(path)).changes]


def _haproxy_accepts(text: str, tmp_path: Path) -> None:
    if HAPROXY is None:
        pytest.skip("haproxy is not installed")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    check = subprocess.run([HAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# --- 1. the stats page's and liveness endpoint's client timeouts ------------------------------


@pytest.mark.parametrize(
    ("name", "block", "timeout"),
    [
        ("cluster-api-capd-haproxy.cfg", "stats", "50s"),  # from its defaults
        ("ocp4-helpernode-haproxy.cfg", "stats", "4h"),
        ("kubekey-haproxy.cfg", "health", "30s"),
        ("kubespray-haproxy.cfg", "health", "5m"),
        ("openshift-mco-onprem-haproxy.cfg", "health", "1d"),
        ("openshift-mco-onprem-haproxy.cfg", "stats", "1d"),
    ],
)
def test_own_listeners_keep_their_client_timeout(name: str, block: str, timeout: str) -> None:
    path = REAL / name
    result = import_file(path)
    assert _data(result)["global"][block]["timeout"] == timeout
    assert _changes(result, path) == []


def test_own_listener_timeouts_render_and_default_to_lbgen_values(tmp_path: Path) -> None:
    base = (
        "version: 1\nglobal:\n  stats: {{bind: '127.0.0.1:8404'{s}}}\n"
        "  health: {{bind: '127.0.0.1:8081'{h}}}\n"
        "frontends:\n  api: {{bind: ['127.0.0.1:6443'], pool: cp}}\n"
        "pools:\n  cp: {{servers: {{m1: '127.0.0.1:7001'}}}}\n"
    )
    plain = lbgen.render(lbgen.load_spec(base.format(s="", h="").encode()), "haproxy").text
    assert "    timeout client 30s\n    stats enable\n" in plain
    assert "    timeout client 5s\n    monitor-uri /healthz\n" in plain
    spec = base.format(s=", timeout: 1h", h=", timeout: 50s")
    text = lbgen.render(lbgen.load_spec(spec.encode()), "haproxy").text
    assert "    timeout client 1h\n    stats enable\n" in text
    assert "    timeout client 50s\n    monitor-uri /healthz\n" in text
    _haproxy_accepts(text, tmp_path)
    back = _data(import_config(text, "lb.cfg", "haproxy"))["global"]
    assert (back["stats"]["timeout"], back["health"]["timeout"]) == ("1h", "50s")
    warned = lbgen.render(lbgen.load_spec(spec.encode()), "nginx").diagnostics
    assert any(d.path == "global.health.timeout" for d in warned)
