"""The real-world corpus (tests/corpus/real): provenance, size, and acceptance by the real engines.

Every file is a kube-apiserver load-balancer config from a public project, rendered by hand where
it is a template (see tests/corpus/real/SOURCES.md). A file the real engine refuses is not a config
anyone runs, so each one is checked with ``haproxy -c`` / ``nginx -t`` here.

The engines run in a private network and mount namespace (``unshare``): loopback up, every IPv4
listen address of the file added to lo (nginx binds its sockets during ``-t``), a private
/etc/hosts mapping the file's server host names to 127.0.0.1, and a private /etc/passwd and
/etc/group with an ``nginx`` user (configs written for the upstream nginx image say ``user nginx``).
Only the test's temporary copy is changed, and only where the machine differs from the one the
config was written for: log files in directories that do not exist here go to a temporary
directory, and nginx gets ``load_module`` for the stream module when the file does not load it
(Debian builds it as a module; the upstream packages build it in).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "real"
SOURCES = CORPUS / "SOURCES.md"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in {".cfg", ".conf"})
SOURCE_LINE = re.compile(r"^# source: [A-Za-z0-9][\w.-]*/[\w.-]+:\S+")
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
IP = shutil.which("ip", path="/usr/sbin:/sbin:/usr/bin:/bin")


def engine_of(path: Path) -> str:
    """haproxy for .cfg files, nginx for .conf files."""
    return "haproxy" if path.suffix == ".cfg" else "nginx"


def project_of(path: Path) -> str:
    """The owner/repo the file's first line names (the project it comes from)."""
    match = re.match(r"# source: ([^:\s]+):", path.read_text().splitlines()[0])
    assert match, path.name
    return match.group(1)


def sources_rows() -> dict[str, list[str]]:
    """SOURCES.md's table rows by file name (cells stripped of backticks)."""
    rows = {}
    for line in SOURCES.read_text().splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and cells[0].endswith((".cfg", ".conf")):
            rows[cells[0]] = cells
    return rows


def test_every_file_names_its_source() -> None:
    assert FILES, "no corpus files"
    bad = [p.name for p in FILES if not SOURCE_LINE.match(p.read_text().splitlines()[0])]
    assert bad == []


def test_sources_table_lists_exactly_the_files() -> None:
    rows = sources_rows()
    assert sorted(rows) == [p.name for p in FILES]
    for path in FILES:
        row = rows[path.name]
        assert row[1] == engine_of(path), path.name
        # The table's source path is the one the file's first line names.
        assert row[3] in path.read_text().splitlines()[0], path.name


def test_corpus_size() -> None:
    projects = {project_of(p) for p in FILES}
    engines = [engine_of(p) for p in FILES]
    print(
        f"\ncorpus: {len(FILES)} files ({engines.count('haproxy')} haproxy, "
        f"{engines.count('nginx')} nginx) from {len(projects)} projects"
    )
    assert len(FILES) >= 30
    assert len(projects) >= 15
    assert engines.count("haproxy") >= 10 and engines.count("nginx") >= 10


def can_isolate() -> bool:
    """Root, unshare and ip: what the namespace set-up below needs."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None and IP is not None


def prepare(path: Path, folder: Path) -> tuple[Path, set[str], set[str]]:
    """The temporary copy to check, its IPv4 listen addresses and its server host names."""
    text = path.read_text()
    engine = engine_of(path)

    def relocate(match: re.Match[str]) -> str:
        # A log file in a directory this machine lacks goes to the temporary directory.
        file = Path(match.group(2))
        return match.group(1) + (str(folder / file.name) if not file.parent.is_dir() else str(file))

    addresses: set[str] = set()
    names: set[str] = set()
    if engine == "nginx":
        text = re.sub(
            r"^(\s*(?:error_log|access_log)\s+)(/\S+?)(?=[;\s])", relocate, text, flags=re.M
        )
        if "load_module" not in text and "modules-enabled" not in text:
            text = f"load_module {STREAM_MODULE};\n" + text
        addresses = set(re.findall(r"^\s*listen\s+(\d+\.\d+\.\d+\.\d+):\d+", text, re.M))
        names = set(re.findall(r"^\s*server\s+([A-Za-z][\w.-]*):\d+", text, re.M))
    else:
        addresses = set(re.findall(r"^\s*bind\s+(\d+\.\d+\.\d+\.\d+):\d+", text, re.M))
        names = set(re.findall(r"^\s*server\s+\S+\s+([A-Za-z][\w.-]*):\d+", text, re.M))
    copy = folder / path.name
    copy.write_text(text)
    return copy, addresses - {"0.0.0.0"}, names - {"localhost"}


def isolated(
    command: list[str], addresses: set[str], names: set[str], folder: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a fresh network and mount namespace (see the module docstring)."""
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
    steps += [f"{IP} addr add {a}/32 dev lo" for a in sorted(addresses)]
    steps += [f"mount --bind {f} /etc/{f.name}" for f in (hosts, passwd, group)]
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
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not can_isolate(), reason="needs root, unshare and ip")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_real_engine_accepts(path: Path) -> None:
    engine = engine_of(path)
    binary = shutil.which(engine, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if binary is None:
        pytest.fail(f"{engine} is not installed: the corpus must be checked by the real engine")
    with tempfile.TemporaryDirectory(prefix="lbgen-corpus-") as name:
        folder = Path(name)
        copy, addresses, names = prepare(path, folder)
        if engine == "haproxy":
            command = [binary, "-c", "-f", str(copy)]
        else:
            command = [binary, "-t", "-q", "-c", str(copy)]
        result = isolated(command, addresses, names, folder)
    assert result.returncode == 0, f"{engine} refused {path.name}:\n{result.stdout}{result.stderr}"
