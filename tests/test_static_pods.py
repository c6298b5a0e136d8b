"""The kubeadm-static-pods target: the folder's files, determinism, the Pods as the Kubernetes API
decodes them (kubectl, offline) and as a JSON-Schema subset of the Pod API describes them, the
probe and the mounts, the configs passing the real engines, the stale-VIP cleanup of keepalived's
command, ``--check`` naming the changed file, and the ``--node`` errors.

``kubectl create --dry-run=client`` needs the API server's discovery even for a dry run, so the
offline oracle is ``kubectl set image --local``: it decodes the file into the typed Pod (a field
the API does not have is dropped, a wrong type refused) and prints it again; every field lbgen
writes must come back unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from lbgen.nginx.command import stream_module_for
from lbgen.rendering import TargetError
from lbgen.runners.local import LocalRunner
from lbgen.spec.load import load_spec
from lbgen.staticpods import DEFAULT_IMAGES, HOST_FOLDER, RenderedFolder, render_static_pods
from tests.support import node_namespace, run_briefly, run_lbgen

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ha-tier.yaml"
FILES = {
    "haproxy": [
        "haproxy.cfg",
        "keepalived.conf",
        "lbgen-haproxy.yaml",
        "lbgen-keepalived.yaml",
        "lbgen-vip.nft",
    ],
    "nginx": [
        "keepalived.conf",
        "lbgen-keepalived.yaml",
        "lbgen-nginx.yaml",
        "lbgen-vip.nft",
        "nginx.conf",
    ],
}
DUAL = (
    EXAMPLE.read_text()
    .replace("addresses: [192.0.2.100/24]", 'addresses: [192.0.2.100/24, "2001:db8::100"]')
    .replace("address: 192.0.2.11}", 'address: [192.0.2.11, "2001:db8::11"]}')
    .replace("address: 192.0.2.12}", 'address: [192.0.2.12, "2001:db8::12"]}')
    .replace("address: 192.0.2.13}", 'address: [192.0.2.13, "2001:db8::13"]}')
)


def folder(proxy: str = "haproxy", node: str = "lb1", **options: Any) -> RenderedFolder:
    rendered = render_static_pods(load_spec(EXAMPLE), node, proxy=proxy, **options)
    assert rendered.ok, rendered.diagnostics
    return rendered


def pod(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(text)
    return loaded


# --- a JSON-Schema subset of the Pod API (k8s.io/api/core/v1), for the fields lbgen writes -------

_HOST_PATH = "|DirectoryOrCreate|Directory|FileOrCreate|File|Socket|CharDevice|BlockDevice"
HOST_PATH_TYPES = _HOST_PATH.split("|")
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "image": {"type": "string", "minLength": 1},
        "command": {"type": "array", "items": {"type": "string"}},
        "livenessProbe": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "httpGet": {
                    "type": "object",
                    "required": ["port"],
                    "additionalProperties": False,
                    "properties": {
                        "host": {"type": "string"},
                        "path": {"type": "string", "pattern": "^/"},
                        "port": _PORT,
                        "scheme": {"enum": ["HTTP", "HTTPS"]},
                    },
                },
                **{
                    key: {"type": "integer", "minimum": 0}
                    for key in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds")
                },
                "failureThreshold": {"type": "integer", "minimum": 1},
            },
        },
        "securityContext": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "capabilities": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"add": {"type": "array", "items": {"type": "string"}}},
                }
            },
        },
        "volumeMounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "mountPath"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "mountPath": {"type": "string", "pattern": "^/"},
                    "readOnly": {"type": "boolean"},
                },
            },
        },
    },
}
POD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "Pod"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": _STRINGS,
                "annotations": _STRINGS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["containers"],
            "additionalProperties": False,
            "properties": {
                "hostNetwork": {"type": "boolean"},
                "priorityClassName": {"type": "string"},
                "containers": {"type": "array", "minItems": 1, "items": _CONTAINER},
                "volumes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "hostPath"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string"},
                            "hostPath": {
                                "type": "object",
                                "required": ["path"],
                                "additionalProperties": False,
                                "properties": {
                                    "path": {"type": "string", "pattern": "^/"},
                                    "type": {"enum": HOST_PATH_TYPES},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


# --- the folder ---------------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", ["haproxy", "nginx"])
def test_cli_writes_the_folder_deterministically(tmp_path: Path, proxy: str) -> None:
    out = tmp_path / "out"
    args = ["render", str(EXAMPLE), "-t", "kubeadm-static-pods", "--node", "lb2"]
    result = run_lbgen(*args, "--proxy", proxy, "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == FILES[proxy]
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    again = run_lbgen(*args, "--proxy", proxy, "-o", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "again").iterdir()} == first
    # The configs are exactly what the single-file targets write.
    single = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--node", "lb2")
    assert first["keepalived.conf"] == single.stdout.encode()
    layout = ["--layout", "full"] if proxy == "nginx" else []
    config = run_lbgen("render", str(EXAMPLE), "-t", proxy, *layout)
    assert first["haproxy.cfg" if proxy == "haproxy" else "nginx.conf"] == config.stdout.encode()
    nft = run_lbgen("render", str(EXAMPLE), "-t", "keepalived", "--layout", "nft", "--node", "lb2")
    assert first["lbgen-vip.nft"] == nft.stdout.encode()
    for name in first:
        if name.endswith(".yaml"):
            text = first[name].decode()
            assert text.startswith("# Generated by lbgen"), text
            assert "# node: lb2, proxy: " + proxy in text
            assert "spec-sha256: " in text


def test_manifests_sorted_and_changing_with_their_config() -> None:
    rendered = folder()
    for name in ("lbgen-haproxy.yaml", "lbgen-keepalived.yaml"):
        body = [line for line in rendered.files[name].splitlines() if not line.startswith("#")]
        top = [line.split(":")[0] for line in body if line and not line.startswith(" ")]
        assert top == sorted(top) == ["apiVersion", "kind", "metadata", "spec"]
    other = folder(node="lb3")
    # Same proxy config on every node, so the same proxy Pod; keepalived differs per node, and
    # its config's digest in the annotation makes the kubelet recreate the Pod when it changes.
    assert (
        pod(other.files["lbgen-haproxy.yaml"])["metadata"]
        == pod(rendered.files["lbgen-haproxy.yaml"])["metadata"]
    )
    ours = pod(rendered.files["lbgen-keepalived.yaml"])["metadata"]["annotations"]
    theirs = pod(other.files["lbgen-keepalived.yaml"])["metadata"]["annotations"]
    assert ours != theirs


@pytest.mark.parametrize("proxy", ["haproxy", "nginx"])
def test_kubectl_decodes_each_manifest_unchanged(tmp_path: Path, proxy: str) -> None:
    rendered = folder(proxy, images={"keepalived": "registry.example/ka:1"})
    sentinel = "lbgen.test/sentinel:1"
    for name, text in rendered.files.items():
        if not name.endswith(".yaml"):
            continue
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run(
            ["kubectl", "set", "image", "--local", "-f", str(path), f"*={sentinel}", "-o", "json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        decoded = json.loads(result.stdout)
        written = pod(text)
        jsonschema.validate(written, POD_SCHEMA)
        # Back to the written image, without the fields kubectl adds as zero values.
        for container in decoded["spec"]["containers"]:
            assert container.pop("image") == sentinel
            if container.get("resources") == {}:
                del container["resources"]
        for container in written["spec"]["containers"]:
            del container["image"]
        decoded.pop("status", None)
        decoded["metadata"].pop("creationTimestamp", None)
        assert decoded == written, name


def test_the_schema_refuses_what_the_pod_api_has_not() -> None:
    written = pod(folder().files["lbgen-keepalived.yaml"])
    written["spec"]["containers"][0]["capabilities"] = ["NET_ADMIN"]  # not under securityContext
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(written, POD_SCHEMA)


def test_probe_mounts_capabilities_and_images() -> None:
    rendered = folder(images={"haproxy": "registry.example/haproxy:3.0"})
    proxy = pod(rendered.files["lbgen-haproxy.yaml"])
    keepalived = pod(rendered.files["lbgen-keepalived.yaml"])
    for manifest in (proxy, keepalived):
        spec = manifest["spec"]
        assert spec["hostNetwork"] is True
        assert spec["priorityClassName"] == "system-node-critical"
        assert spec["volumes"] == [
            {"name": "lbgen", "hostPath": {"path": HOST_FOLDER, "type": "Directory"}}
        ]
        (container,) = spec["containers"]
        assert container["volumeMounts"] == [
            {"name": "lbgen", "mountPath": HOST_FOLDER, "readOnly": True}
        ]
    (haproxy,) = proxy["spec"]["containers"]
    # global.health of the example: bind ":8081", path /healthz; asked on the loopback.
    assert haproxy["livenessProbe"]["httpGet"] == {
        "host": "127.0.0.1", "path": "/healthz", "port": 8081, "scheme": "HTTP"
    }  # fmt: skip
    assert haproxy["image"] == "registry.example/haproxy:3.0"
    assert haproxy["command"] == ["haproxy", "-W", "-db", "-f", f"{HOST_FOLDER}/haproxy.cfg"]
    (container,) = keepalived["spec"]["containers"]
    assert container["image"] == DEFAULT_IMAGES["keepalived"]
    assert sorted(container["securityContext"]["capabilities"]["add"]) == [
        "NET_ADMIN", "NET_BROADCAST", "NET_RAW"
    ]  # fmt: skip
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["command"][2].startswith(f"nft -f {HOST_FOLDER}/lbgen-vip.nft || echo ")
    assert "; ip addr del 192.0.2.100/24 dev eth0 2>/dev/null; " in container["command"][2]
    assert container["command"][2].endswith(f"-f {HOST_FOLDER}/keepalived.conf")


def test_probe_follows_the_health_endpoint() -> None:
    text = EXAMPLE.read_text().replace(
        'bind: ":8081"\n    path: /healthz', 'bind: "127.0.0.2:9099"\n    path: /live'
    )
    rendered = render_static_pods(load_spec(text.encode()), "lb1")
    (container,) = pod(rendered.files["lbgen-haproxy.yaml"])["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {
        "host": "127.0.0.2", "path": "/live", "port": 9099, "scheme": "HTTP"
    }  # fmt: skip
    assert "bind 127.0.0.2:9099" in rendered.files["haproxy.cfg"]


# --- the configs pass the real engines ------------------------------------------------------------


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """A network namespace with lo up and eth0 (a veth end) holding a node address."""
    if os.geteuid() != 0:
        pytest.fail("the keepalived checks need root (network namespaces)")
    with node_namespace("pods", nonlocal_bind=True) as name:
        yield name


@pytest.mark.parametrize("proxy", ["haproxy", "nginx"])
def test_engines_accept_the_folder_configs(netns: str, proxy: str) -> None:
    # Debian's nginx loads stream as a module; the official image has it built in.
    module = stream_module_for("nginx") if proxy == "nginx" else None
    rendered = folder(proxy, load_module=module)
    name = "haproxy.cfg" if proxy == "haproxy" else "nginx.conf"
    runner = LocalRunner(command_prefix=["ip", "netns", "exec", netns])
    result = runner.check(rendered.files[name], proxy, filename=name)
    assert result.ok, result.output
    result = runner.check(rendered.files["keepalived.conf"], "keepalived", filename="k.conf")
    assert result.ok, result.output


def test_keepalived_command_removes_a_stale_vip_before_keepalived_starts(
    netns: str, tmp_path: Path
) -> None:
    """A keepalived killed with SIGKILL left the VIPs on eth0: the container's command, run again
    by the kubelet, removes them before keepalived runs (a stub here, which prints eth0's
    addresses as it finds them); the node's own address stays."""
    spec = load_spec(DUAL.encode())
    (container,) = pod(render_static_pods(spec, "lb1").files["lbgen-keepalived.yaml"])["spec"][
        "containers"
    ]
    stub = tmp_path / "keepalived"
    stub.write_text("#!/bin/sh\nip -o addr show dev eth0\n")
    stub.chmod(0o755)
    # The rule file lives in /etc/lbgen on a node; tests/test_vip_nft.py loads it for real.
    nft = tmp_path / "nft"
    nft.write_text('#!/bin/sh\necho nft "$@"\n')
    nft.chmod(0o755)
    ns = ["ip", "-n", netns]
    subprocess.run([*ns, "addr", "add", "192.0.2.100/24", "dev", "eth0"], check=True)
    subprocess.run([*ns, "addr", "add", "2001:db8::100/128", "dev", "eth0", "nodad"], check=True)
    before = subprocess.run([*ns, "-o", "addr", "show", "dev", "eth0"], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert "192.0.2.100/24" in before and "2001:db8::100/128" in before
    environment = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["ip", "netns", "exec", netns, *container["command"]],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "192.0.2.11/24" in result.stdout and "2001:db8::11/64" in result.stdout
    assert "192.0.2.100" not in result.stdout and "2001:db8::100" not in result.stdout
    # Nothing stale: the same command starts as cleanly (ip's complaint silenced).
    again = subprocess.run(
        ["ip", "netns", "exec", netns, *container["command"]],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and again.stderr == "", again.stderr


# --- --check, errors ------------------------------------------------------------------------------


def test_check_names_the_changed_file(tmp_path: Path) -> None:
    args = ["render", str(EXAMPLE), "-t", "kubeadm-static-pods", "--node", "lb1", "-o"]
    missing = run_lbgen(*args, str(tmp_path / "none"), "--check")
    assert missing.returncode == 1, missing.stderr
    assert run_lbgen(*args, str(tmp_path)).returncode == 0
    same = run_lbgen(*args, str(tmp_path), "--check")
    assert same.returncode == 0, same.stderr
    changed = tmp_path / "keepalived.conf"
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    changed.write_text(changed.read_text().replace("priority 110", "priority 111"))
    result = run_lbgen(*args, str(tmp_path), "--check")
    assert result.returncode == 1
    assert result.stderr.strip() == f"lbgen: {changed} is out of date (render would change it)"
    # Writing again replaces only that file.
    again = run_lbgen(*args, str(tmp_path))
    assert again.returncode == 0 and again.stderr.strip() == f"{changed} written", again.stderr
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert {n for n in after if after[n] != before[n]} == {"keepalived.conf"}
    changed.unlink()
    gone = run_lbgen(*args, str(tmp_path), "--check")
    assert gone.returncode == 1
    assert gone.stderr.strip() == f"lbgen: {changed} is out of date (render would create it)"


def test_switching_the_proxy_removes_the_other_proxys_files(tmp_path: Path) -> None:
    """haproxy's Pod and config left beside nginx's would have the kubelet run both proxies on
    the same ports: --check names them, a render removes them; a file of that name that lbgen
    did not write is the operator's and stays."""
    args = [
        "render",
        str(EXAMPLE),
        "-t",
        "kubeadm-static-pods",
        "--node",
        "lb1",
        "-o",
        str(tmp_path),
    ]
    assert run_lbgen(*args).returncode == 0
    assert {"lbgen-haproxy.yaml", "haproxy.cfg"} <= {p.name for p in tmp_path.iterdir()}
    check = run_lbgen(*args, "--proxy", "nginx", "--check")
    assert check.returncode == 1
    assert f"lbgen: {tmp_path / 'haproxy.cfg'} is the other proxy's (render would remove it)" in (
        check.stderr
    )
    done = run_lbgen(*args, "--proxy", "nginx")
    assert done.returncode == 0, done.stderr
    names = {p.name for p in tmp_path.iterdir()}
    assert "lbgen-haproxy.yaml" not in names and "haproxy.cfg" not in names
    assert {"lbgen-nginx.yaml", "nginx.conf"} <= names
    assert run_lbgen(*args, "--proxy", "nginx", "--check").returncode == 0
    # Back to haproxy, with a hand-written nginx.conf in the folder: that one is kept.
    (tmp_path / "nginx.conf").write_text("# the operator's own\n")
    assert run_lbgen(*args).returncode == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert "lbgen-nginx.yaml" not in names and "nginx.conf" in names


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "name it with --node (lb1, lb2, lb3)"),
        (["--node", "lb9"], "no node 'lb9' in vip.nodes (lb1, lb2, lb3)"),
        (["--node", "lb1", "--keepalived-image", "bad image"], "is not an image reference"),
        (["--node", "lb1", "--layout", "stream"], "has no --layout"),
    ],
)
def test_errors_write_nothing(tmp_path: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "out"
    result = run_lbgen("render", str(EXAMPLE), "-t", "kubeadm-static-pods", *extra, "-o", str(out))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_folder_target_needs_a_folder_and_a_vip(tmp_path: Path) -> None:
    base = ["render", str(EXAMPLE), "-t", "kubeadm-static-pods", "--node", "lb1"]
    assert "give -o FOLDER" in run_lbgen(*base).stderr
    file = tmp_path / "file"
    file.write_text("x")
    result = run_lbgen(*base, "-o", str(file))
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert file.read_text() == "x"
    novip = EXAMPLE.read_text().split("\nvip:")[0]
    with pytest.raises(TargetError, match="needs a vip section"):
        render_static_pods(load_spec(novip.encode()), "lb1")
    other = run_lbgen("render", str(EXAMPLE), "-t", "haproxy", "--proxy", "nginx")
    assert other.returncode == 2 and "--proxy is for -t kubeadm-static-pods" in other.stderr


# --- the haproxy image's own user and ports below 1024 -------------------------------------------

#: What the official haproxy image (2.4 and later) runs haproxy as: ``USER haproxy``, uid 99.
IMAGE_UID = 99


def test_a_haproxy_listener_below_1024_is_warned_nginx_is_not() -> None:
    text = EXAMPLE.read_text().replace("192.0.2.100:6443", "192.0.2.100:443")
    spec = load_spec(text.encode())
    warned = render_static_pods(spec, "lb1").diagnostics
    assert [(d.code, d.path, d.line) for d in warned] == [
        ("static-pods-privileged-port", "frontends.kubernetes-api.bind[0]", 18)
    ]
    # nginx's image starts its master as root; the example's own ports are all 1024 or more.
    for folder in (render_static_pods(spec, "lb1", proxy="nginx"),
                   render_static_pods(load_spec(EXAMPLE), "lb1")):  # fmt: skip
        assert "static-pods-privileged-port" not in {d.code for d in folder.diagnostics}


@pytest.mark.parametrize(("port", "binds"), [(443, False), (8443, True)])
def test_haproxy_as_the_images_user_binds_only_where_the_warning_says(
    port: int, binds: bool
) -> None:
    """The warning's oracle: the real haproxy, run as the image's uid in a namespace of its own
    (nonlocal bind, as on a tier node), cannot bind 443 and starts on 8443."""
    if os.geteuid() != 0:
        pytest.fail("needs root (a network namespace, another uid)")
    text = EXAMPLE.read_text().replace("192.0.2.100:6443", f"192.0.2.100:{port}")
    folder = render_static_pods(load_spec(text.encode()), "lb1")
    # The image's user reads the config: a folder it may enter (pytest's own are root's only).
    with (
        tempfile.TemporaryDirectory() as readable,
        node_namespace("lowport", nonlocal_bind=True) as namespace,
    ):
        Path(readable).chmod(0o755)
        config = Path(readable) / "haproxy.cfg"
        config.write_text(folder.files["haproxy.cfg"])
        config.chmod(0o644)
        exited, output = run_briefly(
            ["ip", "netns", "exec", namespace, "setpriv", f"--reuid={IMAGE_UID}",
             f"--regid={IMAGE_UID}", "--clear-groups", "haproxy", "-db", "-f", str(config)]
        )  # fmt: skip
    assert exited is not binds, output
    if not binds:
        assert f"cannot bind socket (Permission denied) for [192.0.2.100:{port}]" in output
