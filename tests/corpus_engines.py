"""Run the real engines on corpus configs in private namespaces: check them, or start them and
read their listening sockets (shared by tests/test_corpus*.py and scripts/corpus-report).

Each run gets a fresh network and mount namespace (``unshare --net --mount``): loopback up, every
non-wildcard listen address of the configs added to lo (nginx binds its sockets even during
``-t``), a private /etc/hosts mapping the configs' server host names to 127.0.0.1, a private
/etc/passwd and /etc/group with an ``nginx`` user (configs written for the upstream nginx image say
``user nginx``), and private empty directories over the places a running engine writes to or reads
from this machine: /run (pid files, ``stats socket``), /var/lib/haproxy (``chroot``, sockets),
/var/log/nginx, and /etc/nginx/sites-enabled and conf.d (this machine's default site is not part
of the file under test; /etc/nginx/modules-enabled stays, it loads the stream module).

The copy that runs is changed only where this machine differs from the one the config was written
for: log files in directories that do not exist here go to a temporary directory, and nginx gets
``load_module`` for the stream module when the file does not load it (Debian builds it as a module;
the upstream packages build it in).

A started engine is stopped by its PID (SIGTERM, then SIGKILL to the process group it was started
in). Its listening TCP sockets are read with ``ss -ltnH`` in its namespace and kept as ss prints
them: ``*:P`` is a dual-stack wildcard (an IPv6 socket with IPV6_V6ONLY off), ``[::]:P`` an
IPv6-only one, ``0.0.0.0:P`` the IPv4 wildcard. haproxy ``bind :::P`` and ``bind :::P v4v6`` both
listen on ``*:P`` (Linux's default net.ipv6.bindv6only=0), ``bind :::P v6only`` on ``[::]:P``;
nginx ``listen [::]:P`` on ``[::]:P`` (nginx sets ipv6only=on by default).

This module runs as a script inside the namespace (``python corpus_engines.py listen ...``), so it
imports nothing outside the standard library at module level.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "real"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in {".cfg", ".conf"})
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
IP = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")
SS = shutil.which("ss", path="/usr/sbin:/sbin:/usr/bin:/bin")
# Directories a running engine writes to, replaced by private empty ones in the namespace.
PRIVATE_DIRS = (
    "/run",
    "/var/lib/haproxy",
    "/var/log/nginx",
    "/etc/nginx/sites-enabled",
    "/etc/nginx/conf.d",
)
# Generous: the machine is shared; nothing here measures time.
START_TIMEOUT = 60.0


def engine_of(path: Path) -> str:
    """haproxy for .cfg files, nginx for .conf files."""
    return "haproxy" if path.suffix == ".cfg" else "nginx"


def binary(engine: str) -> str | None:
    """The engine's binary on PATH or in /usr/sbin, /sbin; None when not installed."""
    return shutil.which(engine, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def can_isolate() -> bool:
    """Root, unshare, ip and ss: what the namespace set-up below needs."""
    return (
        os.geteuid() == 0
        and shutil.which("unshare") is not None
        and IP is not None
        and SS is not None
    )


def _listen_hosts(engine: str, text: str) -> list[str]:
    """The host part of every haproxy ``bind`` / nginx ``listen`` address (empty for a port)."""
    hosts: list[str] = []
    if engine == "haproxy":
        for match in re.finditer(r"^\s*bind\s+(\S+)", text, re.M):
            for item in match.group(1).rstrip(";").split(","):
                item = re.sub(r"^(?:ipv4|ipv6|tcp|tcp4|tcp6)@", "", item)
                hosts.append(item.rsplit(":", 1)[0] if ":" in item else "")
    else:
        for match in re.finditer(r"^\s*listen\s+([^\s;]+)", text, re.M):
            item = match.group(1)
            if item.startswith("unix:") or item.isdigit():
                continue
            hosts.append(item.rsplit(":", 1)[0] if ":" in item else item)
    return [h.strip("[]") for h in hosts]


def listen_addresses(engine: str, text: str) -> set[str]:
    """The IP addresses a config listens on that lo must carry (not wildcards nor loopback)."""
    found = set()
    for host in _listen_hosts(engine, text):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            continue  # a port alone, '*', or a host name (resolved through the private hosts)
        if not (address.is_unspecified or address.is_loopback):
            found.add(str(address))
    return found


def server_names(engine: str, text: str) -> set[str]:
    """Host names in ``server`` lines, for the private /etc/hosts."""
    if engine == "nginx":
        names = set(re.findall(r"^\s*server\s+([A-Za-z][\w.-]*):\d+", text, re.M))
    else:
        names = set(re.findall(r"^\s*server\s+\S+\s+([A-Za-z][\w.-]*):\d+", text, re.M))
    return names - {"localhost"}


def adapt(engine: str, text: str, folder: Path) -> str:
    """The text to run here: see the module docstring for what changes and why."""

    def relocate(match: re.Match[str]) -> str:
        # A log file in a directory this machine lacks goes to the temporary directory.
        file = Path(match.group(2))
        return match.group(1) + (str(folder / file.name) if not file.parent.is_dir() else str(file))

    if engine == "nginx":
        text = re.sub(
            r"^(\s*(?:error_log|access_log)\s+)(/\S+?)(?=[;\s])", relocate, text, flags=re.M
        )
        if "load_module" not in text and "modules-enabled" not in text:
            text = f"load_module {STREAM_MODULE};\n" + text
    return text


def prepare(path: Path, folder: Path) -> tuple[Path, set[str], set[str]]:
    """The temporary copy to run, its listen addresses for lo and its server host names."""
    engine = engine_of(path)
    text = adapt(engine, path.read_text(), folder)
    copy = folder / path.name
    copy.write_text(text)
    return copy, listen_addresses(engine, text), server_names(engine, text)


def isolated(
    command: list[str],
    addresses: set[str],
    names: set[str],
    folder: Path,
    timeout: float = 120,
    make_dirs: Iterable[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a fresh network and mount namespace (see the module docstring)."""
    assert IP is not None
    hosts = folder / "hosts"
    hosts.write_text(
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
        + "".join(f"127.0.0.1 {name}\n" for name in sorted(names))
    )
    passwd, group = folder / "passwd", folder / "group"
    passwd.write_text(
        Path("/etc/passwd").read_text() + "nginx:x:64999:64999::/nonexistent:/usr/sbin/nologin\n"
    )
    group.write_text(Path("/etc/group").read_text() + "nginx:x:64999:\n")
    steps = [f"{IP} link set lo up"]
    for address in sorted(addresses):
        if ":" in address:  # nodad: usable at once, not "tentative" for a second
            steps.append(f"{IP} -6 addr add {address}/128 dev lo nodad")
        else:
            steps.append(f"{IP} addr add {address}/32 dev lo")
    steps += [f"mount --bind {f} /etc/{f.name}" for f in (hosts, passwd, group)]
    steps += [f"mount -t tmpfs tmpfs {d}" for d in PRIVATE_DIRS if Path(d).is_dir()]
    steps += [f"mkdir -p {d}" for d in sorted(make_dirs)]
    script = " && ".join(steps) + ' && exec "$@"'
    return subprocess.run(
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def check_command(engine: str, config: Path) -> list[str]:
    """The engine's own config check (``haproxy -c`` / ``nginx -t``)."""
    exe = binary(engine) or engine
    if engine == "haproxy":
        return [exe, "-c", "-f", str(config)]
    return [exe, "-t", "-q", "-c", str(config)]


# --- listening sockets -------------------------------------------------------------------------


@dataclass
class Listening:
    """What one engine run listened on, or why it did not run."""

    sockets: set[str] = field(default_factory=set)
    error: str = ""


def socket_dirs(engine: str, text: str) -> set[str]:
    """Directories the engine creates files in that an installed package would have made
    (haproxy ``stats socket`` and ``pidfile``): made inside the namespace's private dirs."""
    if engine != "haproxy":
        return set()
    paths = re.findall(r"^\s*(?:stats\s+socket|pidfile)\s+(/\S+)", text, re.M)
    return {str(Path(p).parent) for p in paths}


def listening(
    engine: str, text: str, folder: Path, extra_addresses: frozenset[str] = frozenset()
) -> Listening:
    """Start ``engine`` on ``text`` in its own namespace; the TCP sockets it listened on."""
    text = adapt(engine, text, folder)
    config = folder / f"{engine}.conf"
    config.write_text(text)
    addresses = listen_addresses(engine, text) | extra_addresses
    names = server_names(engine, text)
    command = [sys.executable, str(Path(__file__).resolve()), "listen", engine, str(config)]
    try:
        done = isolated(
            command, addresses, names, folder, timeout=START_TIMEOUT * 2,
            make_dirs=socket_dirs(engine, text),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return Listening(error=f"{engine} did not answer in {START_TIMEOUT * 2:.0f}s")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        return Listening(error=f"exit {done.returncode}: {done.stdout}{done.stderr}".strip())
    return Listening(set(answer["sockets"]), answer["error"])


def _children(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (Linux /proc): lbgen.runners.local.child_pids, repeated
    because this script imports only the standard library."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields and int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _ss_listening() -> set[str]:
    """``Local Address:Port`` of every listening TCP socket in this namespace."""
    assert SS is not None
    out = subprocess.run([SS, "-ltnH"], capture_output=True, text=True, timeout=30, check=True)
    return {line.split()[3] for line in out.stdout.splitlines() if line.strip()}


def _run_and_read(engine: str, config: str) -> dict[str, object]:
    """Inside the namespace: start the engine, wait until it has bound, read ss, stop it."""
    exe = binary(engine)
    if exe is None:
        return {"sockets": [], "error": f"{engine} is not installed"}
    log_path = Path(config).with_suffix(".log")
    if engine == "haproxy":
        # Master-worker: the master binds, forks the worker and logs "Loading success." once the
        # worker is ready: the sockets are all there then.
        command = [exe, "-W", "-db", "-f", config]
    else:
        text = Path(config).read_text()
        command = [exe, "-c", config]
        if not re.search(r"^\s*daemon\s", text, re.M):
            command += ["-g", "daemon off;"]
    answer = _start_and_read(engine, command, log_path)
    if engine == "haproxy" and "Cannot raise FD limit" in str(answer["error"]):
        # haproxy sizes its file-descriptor limit from maxconn (maxconn 100000 wants 200032) and
        # refuses to start when it cannot raise it; a service manager grants that on the
        # machines the configs come from, a container may not let even root do it here. maxconn
        # does not change what is listened on, so run again with one that fits (-n overrides it).
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        answer = _start_and_read(
            engine, [*command, "-n", str(max(hard // 2 - 1000, 100))], log_path
        )
    return answer


def _start_and_read(engine: str, command: list[str], log_path: Path) -> dict[str, object]:
    """Start ``command``, wait until the engine has bound its sockets, read them, stop it."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if engine == "haproxy":
                ready = b"Loading success." in log_path.read_bytes()
            else:
                # The nginx master opens every listening socket before it forks a worker.
                ready = bool(_children(proc.pid))
            if ready:
                return {"sockets": sorted(_ss_listening()), "error": ""}
            if proc.poll() is not None:
                output = log_path.read_text(errors="replace")
                return {"sockets": [], "error": f"exited {proc.returncode}: {output.strip()}"}
            if time.monotonic() > deadline:
                return {"sockets": [], "error": "not ready in time"}
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # the session this run created
                proc.wait(timeout=15)


@dataclass
class Comparison:
    """Listeners of an original config and of lbgen's rendering of it."""

    original: Listening
    rendered: Listening

    @property
    def lost(self) -> set[str]:
        """Sockets the original listens on and the rendering does not."""
        return self.original.sockets - self.rendered.sockets

    @property
    def added(self) -> set[str]:
        """Sockets the rendering listens on and the original does not."""
        return self.rendered.sockets - self.original.sockets


def compare(engine: str, original: str, rendered: str | None) -> Comparison:
    """Start both configs, each in its own namespace, with the same addresses on lo (only the
    original when ``rendered`` is None: the comparison's rendering then listens on nothing)."""
    addresses = listen_addresses(engine, original)
    if rendered is not None:
        addresses |= listen_addresses(engine, rendered)
    with tempfile.TemporaryDirectory(prefix="lbgen-listeners-") as name:
        folder = Path(name)
        (folder / "original").mkdir()
        (folder / "rendered").mkdir()
        first = listening(engine, original, folder / "original", frozenset(addresses))
        if rendered is None:
            return Comparison(first, Listening(error="no rendering"))
        return Comparison(
            first, listening(engine, rendered, folder / "rendered", frozenset(addresses))
        )


# --- the corpus through the CLI ----------------------------------------------------------------


@dataclass
class RoundTrip:
    """One corpus file, imported and rendered back by the CLI, and both configs' listeners.

    ``rendered`` is None when the import failed (no spec to render: the round-trip test's
    business, not a lost listener); a failed render or a rendering the engine will not start
    listens on nothing, so every listener of the original is lost.
    """

    name: str
    engine: str
    original: Listening
    rendered: Listening | None
    step: str = ""  # why there is no rendering: "import exit N" / "render exit N: ..."

    @property
    def lost(self) -> set[str]:
        """Sockets the original listens on and the rendering does not."""
        return set() if self.rendered is None else self.original.sockets - self.rendered.sockets

    @property
    def added(self) -> set[str]:
        """Sockets the rendering listens on and the original does not."""
        return set() if self.rendered is None else self.rendered.sockets - self.original.sockets


def lbgen(python: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m lbgen ARGS`` from the repository root (only the CLI: modules may move)."""
    return subprocess.run(
        [python, "-m", "lbgen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def render_back(python: str, path: Path, folder: Path) -> tuple[str, str]:
    """Import ``path`` (engine detected) and render the spec for its engine.

    Returns (rendered text, "") or ("", "import exit N" / "render exit N: first line").
    """
    engine = engine_of(path)
    spec = folder / (path.stem + ".yaml")
    done = lbgen(python, "import", str(path), "-o", str(spec))
    if done.returncode != 0 or not spec.exists():
        return "", f"import exit {done.returncode}"
    args = ["render", str(spec), "-t", engine]
    if engine == "nginx":
        args += ["--layout", "full", "--load-module", STREAM_MODULE]
    done = lbgen(python, *args)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [""])[-1]
        return "", f"render exit {done.returncode}: {reason}"
    return done.stdout, ""


def round_trip(python: str, path: Path) -> RoundTrip:
    """Import, render back, start both (each in its own namespace), read their listeners."""
    engine = engine_of(path)
    original = path.read_text()
    with tempfile.TemporaryDirectory(prefix="lbgen-roundtrip-") as name:
        rendered, step = render_back(python, path, Path(name))
    if step.startswith("import"):
        comparison = compare(engine, original, None)
        return RoundTrip(path.name, engine, comparison.original, None, step)
    if step:
        comparison = compare(engine, original, None)
        return RoundTrip(path.name, engine, comparison.original, Listening(error=step), step)
    comparison = compare(engine, original, rendered)
    return RoundTrip(path.name, engine, comparison.original, comparison.rendered)


def table(rows: list[RoundTrip]) -> list[str]:
    """The per-file lines and the totals, as the test and scripts/corpus-report print them."""
    width = max([len(r.name) for r in rows] + [4])
    lines = [f"{'file':<{width}}  engine   orig  rend  lost / added"]
    for r in rows:
        orig = f"{len(r.original.sockets):>4}" if not r.original.error else " err"
        if r.rendered is None:
            rend = "   -"
        else:
            rend = f"{len(r.rendered.sockets):>4}" if not r.rendered.error else " err"
        line = f"{r.name:<{width}}  {r.engine:<7}  {orig}  {rend}  "
        if r.rendered is None:
            line += f"not measured ({r.step})"
        else:
            line += (
                f"lost {' '.join(sorted(r.lost)) or '-'} / added {' '.join(sorted(r.added)) or '-'}"
            )
        for which, run in (("original", r.original), ("rendered", r.rendered)):
            if run is not None and run.error:
                line += f"  [{which} did not start: {run.error.splitlines()[0][:160]}]"
        lines.append(line)
    measured = [r for r in rows if r.rendered is not None]
    lines.append(
        f"listeners: {len(measured)}/{len(rows)} files imported; over those: original "
        f"{sum(len(r.original.sockets) for r in measured)}, rendered "
        f"{sum(len(r.rendered.sockets) for r in measured if r.rendered is not None)}, "
        f"lost {sum(len(r.lost) for r in measured)} in {sum(1 for r in measured if r.lost)} "
        f"files, added {sum(len(r.added) for r in measured)} in "
        f"{sum(1 for r in measured if r.added)} files"
    )
    return lines


def main(argv: list[str]) -> int:
    """``listen ENGINE CONFIG``: run inside the namespace; prints {"sockets", "error"} as JSON."""
    if len(argv) != 3 or argv[0] != "listen":
        print("usage: corpus_engines.py listen ENGINE CONFIG", file=sys.stderr)
        return 2
    print(json.dumps(_run_and_read(argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
