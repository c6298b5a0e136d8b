"""The load-balancer configs the benchmarks compare: lbgen's built-in defaults and copied ones.

lbgen's configs are rendered through the library (``lbgen.load_spec`` + ``lbgen.render``) from a
spec that names only the servers, so every health, timeout and retry setting is a built-in
default. The copied configs reproduce the health-check, timeout, retry and balancing settings of
the well-known hand-written ones, pointed at the benchmark's fake API servers; process settings
that do not change failover (``daemon``, ``chroot``, ``user``, syslog targets, stats sockets,
extra frontends) are left out. Each names its source.

Servers are always called ``a``, ``b``, ``c``; ``drained`` names servers to render disabled
(HAProxy ``disabled``, nginx ``down``), the way an operator drains one before maintenance.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import lbgen
from lbgen.diagnostics import Level

#: name -> port of each fake API server; the load balancer listens on ``listen``.
Ports = Mapping[str, int]
TextFunction = Callable[[int, Ports, frozenset[str]], str]


@dataclass(frozen=True)
class LbConfig:
    """One config for one engine, plus what the benchmark needs to know to bound its waits."""

    name: str
    engine: str
    source: str
    text: TextFunction
    #: The active check reads the HTTP status of /readyz (or /healthz): it can see "unready".
    sees_readyz: bool
    #: Worst case, in seconds, for an active check to mark a refusing/unready server down.
    detect_bound: float
    #: Same for a silent (blackholed) server: every failed check waits for its timeout.
    blackhole_bound: float
    #: nginx OSS (passive checks only): how long to watch a dead server, a little over
    #: fail_timeout, so that the probe nginx sends when fail_timeout ends is seen.
    passive_window: float = 0.0

    @property
    def id(self) -> str:
        """``lbgen-defaults/haproxy``."""
        return f"{self.name}/{self.engine}"


# --- lbgen --------------------------------------------------------------------------------------


def lbgen_spec(listen: int, ports: Ports, drained: frozenset[str] = frozenset()) -> bytes:
    """A spec that names only the frontend and the servers: everything else is built in."""
    servers: dict[str, object] = {}
    for name, port in ports.items():
        address = f"127.0.0.1:{port}"
        servers[name] = {"address": address, "disabled": True} if name in drained else address
    spec = {
        "version": 1,
        "name": "bench",
        "frontends": {"api": {"bind": [f"127.0.0.1:{listen}"], "pool": "cp"}},
        "pools": {"cp": {"servers": servers}},
    }
    return json.dumps(spec).encode()


def _lbgen(engine: str) -> TextFunction:
    def text(listen: int, ports: Ports, drained: frozenset[str]) -> str:
        spec = lbgen_spec(listen, ports, drained)
        rendered = lbgen.render(lbgen.load_spec(spec), engine)
        errors = [d for d in rendered.diagnostics if d.level is Level.ERROR]
        if errors:
            raise RuntimeError(f"lbgen could not render the benchmark spec: {errors}")
        return rendered.text

    return text


# --- copied configs: HAProxy -------------------------------------------------------------------


def _servers(ports: Ports, drained: frozenset[str], tail: str) -> str:
    lines = []
    for name, port in ports.items():
        off = " disabled" if name in drained else ""
        lines.append(f"    server {name} 127.0.0.1:{port}{tail}{off}")
    return "\n".join(lines)


def classic_haproxy(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """The classic seed-style haproxy.cfg copied from blog posts and kubeadm HA walk-throughs.

    Source: the widely copied ``default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s
    maxconn 250 maxqueue 256 weight 100`` backend with ``option tcp-check`` and a bare ``check``
    (a TCP connect check), HAProxy's sample 5s/50s/50s timeouts; lbgen's
    examples/classic-haproxy.yaml describes the same config.
    """
    return f"""global
    maxconn 2000

defaults
    mode tcp
    timeout connect 5s
    timeout client 50s
    timeout server 50s

frontend kubernetes-api
    bind 127.0.0.1:{listen}
    mode tcp
    default_backend kubernetes-api

backend kubernetes-api
    mode tcp
    option tcp-check
    balance roundrobin
    default-server inter 10s downinter 5s rise 2 fall 2 slowstart 60s maxconn 250 maxqueue 256 weight 100
{_servers(ports, drained, " check")}
"""  # noqa: E501


def kubespray_haproxy(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """kubespray's node-local API load balancer.

    Source: kubernetes-sigs/kubespray roles/kubernetes/node/templates/loadbalancer/haproxy.cfg.j2
    (defaults: retries 5, redispatch, timeout connect 30s, client/server 15m, check 30s;
    backend: balance leastconn, ``default-server inter 15s downinter 15s rise 2 fall 2 slowstart
    60s maxconn 1000 maxqueue 256 weight 100``, ``option httpchk GET /healthz``, check-ssl).
    """
    return f"""global
    maxconn 4000

defaults
    mode http
    option dontlognull
    option http-server-close
    option redispatch
    retries 5
    timeout http-request 5m
    timeout queue 5m
    timeout connect 30s
    timeout client 15m
    timeout server 15m
    timeout http-keep-alive 30s
    timeout check 30s
    maxconn 4000

frontend kube_api_frontend
    bind 127.0.0.1:{listen}
    mode tcp
    default_backend kube_api_backend

backend kube_api_backend
    mode tcp
    balance leastconn
    default-server inter 15s downinter 15s rise 2 fall 2 slowstart 60s maxconn 1000 maxqueue 256 weight 100
    option httpchk GET /healthz
    http-check expect status 200
{_servers(ports, drained, " check check-ssl verify none")}
"""  # noqa: E501


def kubeadm_haproxy(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """The haproxy.cfg of kubeadm's HA guide.

    Source: kubernetes/kubeadm docs/ha-considerations.md, "haproxy configuration" (retries 1,
    redispatch, timeout connect 5s, client/server 20s, check 10s; backend ``option httpchk GET
    /healthz`` followed by ``option ssl-hello-chk`` - the later check option wins in HAProxy, so
    the check is an SSL hello; bare ``check``: inter 2s, rise 2, fall 3).
    """
    return f"""defaults
    mode http
    option dontlognull
    option http-server-close
    option redispatch
    retries 1
    timeout http-request 10s
    timeout queue 20s
    timeout connect 5s
    timeout client 20s
    timeout server 20s
    timeout http-keep-alive 10s
    timeout check 10s

frontend apiserver
    bind 127.0.0.1:{listen}
    mode tcp
    default_backend apiserverbackend

backend apiserverbackend
    option httpchk GET /healthz
    http-check expect status 200
    mode tcp
    option ssl-hello-chk
    balance roundrobin
{_servers(ports, drained, " check")}
"""


def openshift_haproxy(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """OpenShift's on-prem (bare metal, vSphere, ...) API load balancer on every master.

    Source: openshift/machine-config-operator
    templates/master/00-master/on-prem/files/haproxy-haproxy.yaml (defaults: retries 3, timeout
    connect 10s, client/server/tunnel 86400s; backend ``option httpchk GET /readyz HTTP/1.0``,
    roundrobin, ``weight 1 verify none check check-ssl inter 5s fall 3 rise 1``).
    """
    return f"""defaults
    maxconn 20000
    mode tcp
    option dontlognull
    retries 3
    timeout http-request 30s
    timeout queue 1m
    timeout connect 10s
    timeout client 86400s
    timeout server 86400s
    timeout tunnel 86400s

frontend main
    bind 127.0.0.1:{listen}
    default_backend masters

backend masters
    option httpchk GET /readyz HTTP/1.0
    balance roundrobin
{_servers(ports, drained, " weight 1 verify none check check-ssl inter 5s fall 3 rise 1")}
"""


# --- copied configs: nginx ---------------------------------------------------------------------


def _nginx_servers(ports: Ports, drained: frozenset[str], tail: str) -> str:
    lines = []
    for name, port in ports.items():
        off = " down" if name in drained else ""
        lines.append(f"        server 127.0.0.1:{port}{tail}{off};  # {name}")
    return "\n".join(lines)


def classic_nginx(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """The classic nginx stream block for kube-apiserver.

    Source: the widely copied ``server ... weight=5 max_fails=3 fail_timeout=30s`` upstream with
    ``proxy_connect_timeout 1s; proxy_timeout 3s``; lbgen's examples/classic-nginx.yaml describes
    the same config.
    """
    return f"""events {{}}
stream {{
    upstream kubernetes-api {{
{_nginx_servers(ports, drained, " weight=5 max_fails=3 fail_timeout=30s")}
    }}
    server {{
        listen 127.0.0.1:{listen};
        proxy_pass kubernetes-api;
        proxy_connect_timeout 1s;
        proxy_timeout 3s;
    }}
}}
"""


def kubespray_nginx(listen: int, ports: Ports, drained: frozenset[str]) -> str:
    """kubespray's node-local API load balancer, nginx flavour.

    Source: kubernetes-sigs/kubespray roles/kubernetes/node/templates/loadbalancer/nginx.conf.j2
    (worker_processes 2, worker_shutdown_timeout 10s, least_conn, bare servers: max_fails=1
    fail_timeout=10s, proxy_timeout 10m, proxy_connect_timeout 1s).
    """
    return f"""error_log stderr notice;
worker_processes 2;
worker_shutdown_timeout 10s;

events {{
    multi_accept on;
    use epoll;
    worker_connections 16384;
}}

stream {{
    upstream kube_apiserver {{
        least_conn;
{_nginx_servers(ports, drained, "")}
    }}
    server {{
        listen 127.0.0.1:{listen};
        proxy_pass kube_apiserver;
        proxy_timeout 10m;
        proxy_connect_timeout 1s;
    }}
}}
"""


def _bh(inter: float, check_connect: float, fastinter: float, fall: int) -> float:
    """Worst case to mark a silent server down: HAProxy gives a check's connect
    min(timeout connect, inter) (or inter without ``timeout check``), ``fall`` times over."""
    return inter + fall * check_connect + (fall - 1) * fastinter + 2


CONFIGS: tuple[LbConfig, ...] = (
    # inter 2s, fastinter 1s, downinter 2s, fall 3, timeout check 3s; nginx fail_timeout 6s
    LbConfig("lbgen-defaults", "haproxy", "lbgen built-in defaults", _lbgen("haproxy"),
             sees_readyz=True, detect_bound=6.0, blackhole_bound=_bh(2, 2, 1, 3)),
    LbConfig("lbgen-defaults", "nginx", "lbgen built-in defaults", _lbgen("nginx"),
             sees_readyz=False, detect_bound=8.0, blackhole_bound=12.0, passive_window=6 + 3),
    LbConfig("classic", "haproxy", "seed-style classic", classic_haproxy,
             sees_readyz=False, detect_bound=10 + 10 + 2, blackhole_bound=_bh(10, 10, 10, 2)),
    LbConfig("classic", "nginx", "seed-style classic", classic_nginx,
             sees_readyz=False, detect_bound=8.0, blackhole_bound=12.0, passive_window=30 + 3),
    LbConfig("kubespray", "haproxy", "kubespray haproxy.cfg.j2", kubespray_haproxy,
             sees_readyz=True, detect_bound=15 + 15 + 2, blackhole_bound=_bh(15, 15, 15, 2)),
    LbConfig("kubespray", "nginx", "kubespray nginx.conf.j2", kubespray_nginx,
             sees_readyz=False, detect_bound=8.0, blackhole_bound=12.0, passive_window=10 + 3),
    LbConfig("kubeadm-ha", "haproxy", "kubeadm ha-considerations.md", kubeadm_haproxy,
             sees_readyz=False, detect_bound=2 + 2 * 2 + 2, blackhole_bound=_bh(2, 2, 2, 3)),
    LbConfig("openshift", "haproxy", "openshift on-prem haproxy", openshift_haproxy,
             sees_readyz=True, detect_bound=5 + 2 * 5 + 2, blackhole_bound=_bh(5, 5, 5, 3)),
)  # fmt: skip

#: The classic hand-written config per engine, the baseline of the proxying benchmark.
CLASSIC = {"haproxy": classic_haproxy, "nginx": classic_nginx}
LBGEN = {"haproxy": _lbgen("haproxy"), "nginx": _lbgen("nginx")}

_HAPROXY_SERVER = re.compile(r"^(\s*server\s+\S+\s+127\.0\.0\.1:\d+\b.*\bcheck\b.*)$", re.M)


def checks_to(text: str, address: str) -> str:
    """Send HAProxy's health checks of every server to another loopback ``address``.

    HAProxy's ``addr`` changes the address only the checks connect to; the benchmark's fake
    servers listen on every loopback address, so checks and traffic still reach the same
    server, and a packet counter can tell them apart by destination address.
    """
    return _HAPROXY_SERVER.sub(lambda m: f"{m.group(1)} addr {address}", text)
