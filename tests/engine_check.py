"""Let the real engines judge rendered text in tests, also for specs that name DNS servers.

nginx refuses to start when an upstream name does not resolve and ``haproxy -dW`` warns about it,
so for a spec naming ``cp4.example.internal`` the engine runs in a private mount namespace whose
``/etc/hosts`` maps those names (to loopback: nothing is ever sent to them). That needs root and
``unshare``; without them only specs whose names resolve here can be checked.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lbgen.runners import CheckResult, LocalRunner

_RESOLVABLE = {"localhost"}


def dns_names(text: str) -> set[str]:
    """Host names in ``server NAME host:port`` (haproxy) or ``server host:port`` (nginx) lines."""
    names = set()
    for match in re.finditer(r"^\s*server\s+(?:\S+\s+)?([A-Za-z][A-Za-z0-9.-]*):\d+", text, re.M):
        names.add(match.group(1))
    return names - _RESOLVABLE


def _hosts_prefix(names: Iterable[str], folder: Path) -> list[str]:
    hosts = folder / "hosts"
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
    lines += [f"127.0.0.1 {name}" for name in sorted(names)]
    hosts.write_text("\n".join(lines) + "\n")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(hosts)]


def can_fake_dns() -> bool:
    """True when names can be mapped for the engine (root and unshare present)."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def engine_check(text: str | bytes, engine: str, *, strict: bool = True) -> CheckResult:
    """``haproxy -c -dW`` / ``nginx -t`` on ``text`` (its exact bytes) with the local binaries."""
    names = dns_names(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
    with tempfile.TemporaryDirectory(prefix="lbgen-hosts-") as folder:
        prefix = _hosts_prefix(names, Path(folder)) if names and can_fake_dns() else []
        return LocalRunner(command_prefix=prefix).check(text, engine, strict=strict)


def can_isolate() -> bool:
    """True when engines can run in a private network and mount namespace (root, unshare, ip)."""
    return can_fake_dns() and shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") is not None


def isolated_check(text: str, engine: str, *, strict: bool = True) -> CheckResult:
    """Like :func:`engine_check`, in a fresh network namespace with only loopback up.

    ``nginx -t`` binds its listen sockets: in a namespace of its own a port in use on this machine
    cannot fail the check, and nothing it binds is seen outside. DNS names map to 127.0.0.1.
    """
    names = dns_names(text)
    with tempfile.TemporaryDirectory(prefix="lbgen-netns-") as folder:
        hosts = Path(folder) / "hosts"
        lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"]
        lines += [f"127.0.0.1 {name}" for name in sorted(names)]
        hosts.write_text("\n".join(lines) + "\n")
        ip = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin") or "ip"
        script = f'{ip} link set lo up && mount --bind "$0" /etc/hosts && exec "$@"'
        prefix = ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script]
        return LocalRunner(command_prefix=[*prefix, str(hosts)]).check(text, engine, strict=strict)
