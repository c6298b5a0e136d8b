"""The ``kubeadm-static-pods`` target: one node's static pod manifests and the configs they mount.

``lbgen render SPEC -t kubeadm-static-pods --node NAME -o FOLDER`` writes four files:

- ``haproxy.cfg`` (or ``nginx.conf``, ``--proxy nginx``): the proxy config, exactly what
  ``render -t haproxy`` (nginx: ``-t nginx --layout full``) writes;
- ``keepalived.conf``: the node's config, exactly what ``render -t keepalived --node NAME`` writes;
- ``lbgen-haproxy.yaml`` (or ``lbgen-nginx.yaml``) and ``lbgen-keepalived.yaml``: the Pods, for
  ``/etc/kubernetes/manifests``.

Design, and why:

- The Pods mount the host folder :data:`HOST_FOLDER` (``/etc/lbgen``) read-only as a *folder*,
  never the single files: a file bind mount pins the inode it was mounted with, and every
  update of a config is an atomic rename (a new inode) that the container would never see.
- Each Pod carries the SHA-256 of the config it runs as an annotation: a changed config changes
  the manifest, and the kubelet recreates a static pod whose manifest changed (a comment would
  not do: the kubelet hashes the decoded Pod).
- The proxy's liveness probe asks ``global.health`` on the loopback address the node's
  keepalived checks too (a bind ``:PORT`` is asked on 127.0.0.1), never through the VIP. It asks
  the liveness ``path``, never ``ready_path``: readiness fails while the API servers are down
  (``kubeadm init``), and a failing liveness probe would restart the proxy in a loop. There is
  no readinessProbe either: nothing reads a static proxy Pod's Ready condition (no Service
  selects it; keepalived polls the readiness path itself), so it would only show the proxy
  NotReady whenever the API servers are.
- keepalived's container starts by loading ``lbgen-vip.nft`` (``render -t keepalived --layout
  nft``: SYNs to the VIP's ports that find no listening proxy are dropped, not refused, so TCP
  retries them on the new holder; a failure is logged, keepalived starts anyway), then
  ``ip addr del VIP dev IFACE`` before ``exec keepalived``: a
  keepalived killed with SIGKILL leaves the VIP on the interface while another node takes it
  over. The kubelet restarts the *container* (an initContainer would run only when the whole Pod
  is created again, not on a container restart), so the command itself removes the stale address.
- The manifests are data: a Pod built here and written by the YAML emitter (keys sorted, so the
  output is stable and every value is quoted as YAML needs), with the provenance as comments.

The images are options (:data:`DEFAULT_IMAGES`), not spec fields: which registry a site pulls
from is the site's business, not the load balancer's description.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import re
import shlex
from dataclasses import field
from pathlib import Path
from typing import Any

from lbgen.diagnostics import Diagnostic, Level, sort_key
from lbgen.frozen import record
from lbgen.resolve import Resolved, resolve_spec
from lbgen.spec.models import Spec
from lbgen.spec.source import Path_
from lbgen.spec.vip import health_target
from lbgen.version import VERSION

TARGET = "kubeadm-static-pods"
PROXIES = ("haproxy", "nginx")
HOST_FOLDER = "/etc/lbgen"
"""Where the configs live on the node; mounted read-only at the same path in the containers."""
DEFAULT_IMAGES = {
    "haproxy": "haproxy:2.8",
    "nginx": "nginx:1.26",
    "keepalived": "lbgen-keepalived:bookworm",
}
"""The official haproxy and nginx images; keepalived has no official image: build
``examples/static-pods/keepalived.Containerfile`` (Debian's keepalived, with bash and iproute2,
which the checks and the stale-address cleanup need) and push it where the nodes pull from."""
CONFIG_NAMES = {"haproxy": "haproxy.cfg", "nginx": "nginx.conf", "keepalived": "keepalived.conf"}


def other_proxy_files(proxy: str) -> list[str]:
    """The files a folder rendered with another ``--proxy`` holds and this one does not: left
    there, the kubelet would run both proxies' Pods on the same ports."""
    return [
        name
        for other in ("haproxy", "nginx")
        if other != proxy
        for name in (f"lbgen-{other}.yaml", CONFIG_NAMES[other])
    ]


NFT_NAME = "lbgen-vip.nft"
"""The nft rule (``render -t keepalived --layout nft``) keepalived's container loads at start."""
CONFIG_ANNOTATION = "lbgen.io/config-sha256"
#: A container image reference: registry/path:tag@digest characters, nothing a shell or YAML
#: would read differently.
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")


class StaticPodsError(ValueError):
    """A bad option of this target (unknown proxy, bad image name): one line, exit 2."""


@record
class RenderedFolder:
    """The files of a folder target (name -> text, in writing order) and the diagnostics."""

    files: dict[str, str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    target: str = TARGET

    @property
    def ok(self) -> bool:
        """False when any diagnostic is an error (then nothing may be written)."""
        return not any(d.level is Level.ERROR for d in self.diagnostics)


def check_image(image: str) -> str:
    """``image`` when it is a plausible image reference; StaticPodsError otherwise."""
    if not _IMAGE.fullmatch(image):
        raise StaticPodsError(
            f"{image!r} is not an image reference (letters, digits and . _ / : @ -, "
            "e.g. registry.example/haproxy:2.8)"
        )
    return image


def _dump(header: list[str], pod: dict[str, Any]) -> str:
    """The Pod as YAML: keys sorted at every level, block style, the header as comments."""
    from ruamel.yaml import YAML

    def ordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: ordered(value[key]) for key in sorted(value)}
        if isinstance(value, list):
            return [ordered(item) for item in value]
        return value

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 1 << 16  # never fold the command line
    stream = io.StringIO()
    yaml.dump(ordered(pod), stream)
    return "".join(f"# {line}\n" for line in header) + stream.getvalue()


def _metadata(name: str, config: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "kube-system",
        "labels": {
            "app.kubernetes.io/name": name,
            "app.kubernetes.io/component": "load-balancer",
            "app.kubernetes.io/managed-by": "lbgen",
        },
        "annotations": {CONFIG_ANNOTATION: hashlib.sha256(config.encode()).hexdigest()},
    }


def _pod_spec(container: dict[str, Any]) -> dict[str, Any]:
    container["volumeMounts"] = [{"name": "lbgen", "mountPath": HOST_FOLDER, "readOnly": True}]
    return {
        "hostNetwork": True,
        "priorityClassName": "system-node-critical",
        "containers": [container],
        "volumes": [{"name": "lbgen", "hostPath": {"path": HOST_FOLDER, "type": "Directory"}}],
    }


def proxy_command(proxy: str) -> list[str]:
    """The proxy in the foreground on the mounted config (any image with it on its PATH)."""
    config = f"{HOST_FOLDER}/{CONFIG_NAMES[proxy]}"
    if proxy == "haproxy":
        return ["haproxy", "-W", "-db", "-f", config]  # master-worker, foreground
    return ["nginx", "-c", config, "-g", "daemon off;"]


def keepalived_script(addresses: list[str], interface: str) -> str:
    """The ``sh -c`` program: load the nft rule, remove every VIP a killed keepalived left,
    then exec keepalived.

    The rule only turns refusals into retries: a node whose kernel or image cannot load it
    still serves the VIP, so a failure is logged and keepalived starts anyway.
    """
    config = f"{HOST_FOLDER}/{CONFIG_NAMES['keepalived']}"
    rules = shlex.quote(f"{HOST_FOLDER}/{NFT_NAME}")
    steps = [
        f"nft -f {rules} || echo 'lbgen: nft -f {HOST_FOLDER}/{NFT_NAME} failed: new "
        "connections to the VIP are refused, not held, while no proxy listens' >&2"
    ]
    for text in addresses:
        host, _, prefix = text.partition("/")
        address = ipaddress.ip_address(host)
        # keepalived adds an address without a prefix as a host address (/32, /128).
        cidr = f"{address.compressed}/{prefix or address.max_prefixlen}"
        steps.append(f"ip addr del {shlex.quote(cidr)} dev {shlex.quote(interface)} 2>/dev/null")
    run = f"exec keepalived --dont-fork --log-console --vrrp -f {shlex.quote(config)}"
    return "; ".join([*steps, run])


#: Below it, binding needs root or CAP_NET_BIND_SERVICE (the kernel's default
#: ``net.ipv4.ip_unprivileged_port_start``, which a hostNetwork Pod cannot change for itself).
PRIVILEGED_PORTS_BELOW = 1024


def _privileged_ports(resolved: Resolved) -> list[Diagnostic]:
    """The haproxy Pod's listeners on ports below 1024: the official image (2.4 and later) runs
    haproxy as its user ``haproxy`` (uid 99), which cannot bind them ("Permission denied"), and
    Kubernetes gives a non-root container no ambient capability to add one."""
    listeners: list[tuple[Path_, int]] = [
        ((*fe.path, "bind", index), bind.address.port)
        for fe in resolved.frontends
        for index, bind in enumerate(fe.binds)
    ]
    g = resolved.global_
    if g.stats_bind is not None:
        listeners.append((("global", "stats", "bind"), g.stats_bind.port))
    listeners += [(("global", "health", "bind"), bind.address.port) for bind in g.health_binds]
    return [
        resolved.diagnostic(
            Level.WARNING,
            "static-pods-privileged-port",
            path,
            f"port {port} is below {PRIVILEGED_PORTS_BELOW}: the official haproxy image (2.4 and "
            "later) runs haproxy as uid 99, which cannot bind it in the static Pod (a hostNetwork "
            "Pod cannot lower net.ipv4.ip_unprivileged_port_start); use a port of 1024 or more, "
            "or an image that runs haproxy as root",
        )
        for path, port in listeners
        if port < PRIVILEGED_PORTS_BELOW
    ]


def render_static_pods(
    spec: Spec | Resolved,
    node: str | None,
    *,
    proxy: str = "haproxy",
    images: dict[str, str] | None = None,
    templates: str | Path | None = None,
    strict: bool = False,
    load_module: str | None = None,
) -> RenderedFolder:
    """The folder of ``node``: the proxy's and keepalived's configs and their static Pods.

    ``proxy``: ``haproxy`` (default) or ``nginx`` (its full layout: one ``nginx.conf``);
    ``images``: overrides of :data:`DEFAULT_IMAGES` by ``haproxy``/``nginx``/``keepalived``.
    Raises :class:`~lbgen.rendering.TargetError` for a missing or unknown node or a spec
    without ``vip``, :class:`StaticPodsError` for a bad proxy or image, and what
    :func:`lbgen.rendering.render` raises.
    """
    from lbgen.rendering import TargetError, render_resolved
    from lbgen.view import provenance

    if proxy not in PROXIES:
        raise StaticPodsError(f"unknown proxy {proxy!r}; choose one of {', '.join(PROXIES)}")
    chosen = {**DEFAULT_IMAGES, **(images or {})}
    for name in (proxy, "keepalived"):
        check_image(chosen[name])
    resolved = resolve_spec(spec) if isinstance(spec, Spec) else spec
    if resolved.vip is None:
        raise TargetError(f"target {TARGET} needs a vip section in the spec (the tier's nodes)")
    if node is None:
        names = ", ".join(n.name for n in resolved.vip.nodes)
        raise TargetError(
            f"target {TARGET} renders one node's files: name it with --node ({names})"
        )
    keepalived = render_resolved(resolved, "keepalived", strict=strict, node=node)
    nft = render_resolved(resolved, "keepalived", layout="nft", strict=strict, node=node)
    proxied = render_resolved(
        resolved, proxy, layout="full", templates=templates, strict=strict, load_module=load_module
    )
    found: dict[tuple[Any, ...], Diagnostic] = {}
    privileged = _privileged_ports(resolved) if proxy == "haproxy" else []
    for d in [*keepalived.diagnostics, *nft.diagnostics, *proxied.diagnostics, *privileged]:
        found.setdefault((d.file, d.line, d.col, d.code, d.path, d.message), d)
    diagnostics = sorted(found.values(), key=sort_key)
    files = {
        CONFIG_NAMES[proxy]: proxied.text,
        CONFIG_NAMES["keepalived"]: keepalived.text,
        NFT_NAME: nft.text,
    }
    health = resolved.global_.health_bind
    host = health_target(str(health)) if health is not None else None
    if not (keepalived.ok and nft.ok and proxied.ok) or health is None or host is None:
        # The loader and the keepalived view report a missing or unusable global.health.
        return RenderedFolder(files={}, diagnostics=diagnostics)
    header = [
        *provenance(resolved, VERSION, TARGET, "full"),
        f"node: {node}, proxy: {proxy}",
        f"Goes to /etc/kubernetes/manifests; mounts {HOST_FOLDER} (read-only).",
    ]
    proxy_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(f"lbgen-{proxy}", proxied.text),
        "spec": _pod_spec(
            {
                "name": proxy,
                "image": chosen[proxy],
                "command": proxy_command(proxy),
                "livenessProbe": {
                    "httpGet": {
                        "host": host,
                        "path": resolved.global_.health_path,
                        "port": health.port,
                        "scheme": "HTTP",
                    },
                    "initialDelaySeconds": 10,
                    "periodSeconds": 5,
                    "timeoutSeconds": 2,
                    "failureThreshold": 3,
                },
            }
        ),
    }
    vip = resolved.vip
    keepalived_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        # Both files it reads at start: a changed rule recreates the Pod too.
        "metadata": _metadata("lbgen-keepalived", keepalived.text + nft.text),
        "spec": _pod_spec(
            {
                "name": "keepalived",
                "image": chosen["keepalived"],
                "command": ["/bin/sh", "-c", keepalived_script(vip.addresses, vip.interface)],
                "securityContext": {
                    "capabilities": {"add": ["NET_ADMIN", "NET_BROADCAST", "NET_RAW"]}
                },
            }
        ),
    }
    files[f"lbgen-{proxy}.yaml"] = _dump(header, proxy_pod)
    files["lbgen-keepalived.yaml"] = _dump(header, keepalived_pod)
    return RenderedFolder(files=files, diagnostics=diagnostics)


__all__ = [
    "DEFAULT_IMAGES",
    "HOST_FOLDER",
    "NFT_NAME",
    "PROXIES",
    "TARGET",
    "RenderedFolder",
    "StaticPodsError",
    "check_image",
    "keepalived_script",
    "proxy_command",
    "render_static_pods",
]
