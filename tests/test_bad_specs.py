"""The bad-spec corpus: every file under tests/bad/ is rejected with exactly the diagnostics its
``# expect: LINE:COL CODE`` header names, exit code 2, and nothing is written.

A spec that only one engine refuses says so in a ``# target: NAME`` line after the expectations:
it is rendered for that target (haproxy otherwise) and validated with ``-t NAME``.

Files that cannot carry a YAML comment header (empty, comment-only, not UTF-8) are in ``RAW``
below; the test writes their bytes itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lbgen.cli import app

BAD = Path(__file__).parent / "bad"
ROOT = Path(__file__).parent.parent
_EXPECT = re.compile(r"^# expect: (\d+):(\d+) ([a-z0-9-]+)\s*$")
_TARGET = re.compile(r"^# target: ([a-z-]+)\s*$", re.M)
_ERROR_LINE = re.compile(r"^(.*):(\d+):(\d+): error \[([a-z0-9-]+)\] ", re.M)
OLD_TEXT = "# the config that was there before\n"
OLD_MTIME_NS = 1_000_000_000 * 10**9


@dataclass(frozen=True)
class BadSpec:
    """A spec that must be rejected, and the errors it must be rejected with."""

    name: str
    data: bytes
    expected: tuple[tuple[int, int, str], ...]
    target: str | None = None


#: Specs that cannot say what they expect in a comment of their own.
RAW: dict[str, tuple[bytes, tuple[tuple[int, int, str], ...]]] = {
    "empty-file": (b"", ((1, 1, "empty"),)),
    "whitespace-only": (b"\n   \n\t\n", ((1, 1, "empty"),)),
    "comment-only": (b"# never written\n\n   # still nothing\n", ((1, 1, "empty"),)),
    "not-utf8-latin1": (b"version: 1\nname: caf\xe9\n", ((2, 10, "encoding"),)),
    "not-utf8-utf16": ("version: 1\n".encode("utf-16"), ((1, 1, "encoding"),)),
}

#: Message fragments that a diagnostic must carry (where the wording is the point).
SAYS: dict[str, list[str]] = {
    "duplicate-key-nested": ["duplicate key 'm1' (first at line 10)"],
    "duplicate-key-top": ["duplicate key 'frontends' (first at line 4)"],
    "name-newline": ['pools.cp.servers["m1 10.0.0.1:6443\\n    server evil 203.0.113.66"]'],
    "mode-http": ["not supported in spec version 1"],
    "percent-sum": ["(got 90%)"],
    "yaml-syntax": ["that starts at line 6"],
    "type-list-for-map": ["must be a mapping (got a list)"],
    "server-list": ['must be "host:port" or a mapping with an address (got a list)'],
    "pool-missing": ["no pool named 'control-plane' (pools: cp)"],
    "bind-wildcard-clash": [":6443 is already bound by frontends.api.bind[0] (127.0.0.1:6443)"],
    "top-level-scalar": ["not a string"],
    "unknown-key-nested": ["unknown field 'intervall'; did you mean 'interval'?"],
    "unknown-key-server": ["unknown field 'adress'; did you mean 'address'?"],
    "unknown-key-top": ["unknown field 'frontend'; did you mean 'frontends'?"],
    "unknown-key-pool": ["unknown field 'pol'; did you mean 'pool'?"],
    "unknown-key-no-guess": [
        "(fields here: version, name, global, defaults, frontends, pools, vip)"
    ],
    "balance-typo": ["(got 'roundrobbin'); did you mean 'roundrobin'?"],
    "balance-unknown": ["must be one of roundrobin, static-rr, leastconn, first, source, random"],
    "pool-typo": ["no pool named 'cpp' (pools: cp); did you mean 'cp'?"],
    "bind-bare-port": ["'6443': a bare port needs a colon: write ':6443'"],
    "schema-key-not-string": ["must be a string: the schema's URL or path"],
    "address-zone-id": ["zone id (%interface) is not supported"],
    "address-fullwidth-digit": ["non-ASCII digit '\uff16' (U+FF16)"],
    "integer-fullwidth-digit": ["(got a string; it holds the non-ASCII digit '\uff13' (U+FF13)"],
    "name-trailing-newline": ['pools.cp.servers["m1\\n"]', "ends with a line break"],
    "health-path-nel": ["NEL (U+0085)"],
}

#: One mistake, one line: nothing else (no second error, no warning) is printed for these.
ONE_LINE = {
    "unknown-key-nested", "unknown-key-server", "unknown-key-top", "unknown-key-pool",
    "balance-typo", "pool-typo", "bind-bare-port",
}  # fmt: skip


def parse_expectations(text: str) -> tuple[tuple[int, int, str], ...]:
    """The ``# expect:`` lines at the top of a file, in order."""
    found = []
    for line in text.splitlines():
        match = _EXPECT.match(line)
        if not match:
            break
        found.append((int(match.group(1)), int(match.group(2)), match.group(3)))
    return tuple(found)


def corpus() -> list[BadSpec]:
    """Every bad spec: the files under tests/bad/ and the raw byte strings above."""
    specs = []
    for path in sorted(BAD.glob("*.yaml")):
        data = path.read_bytes()
        text = data.decode("utf-8")
        target = _TARGET.search(text)
        specs.append(BadSpec(path.stem, data, parse_expectations(text), target and target.group(1)))
    specs += [BadSpec(name, data, expected) for name, (data, expected) in RAW.items()]
    return specs


CORPUS = corpus()
IDS = [spec.name for spec in CORPUS]


def write_spec(spec: BadSpec, folder: Path) -> Path:
    """The spec's bytes in ``folder`` (created), under its own name."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.yaml"
    path.write_bytes(spec.data)
    return path


def reported_errors(output: str, spec_path: str) -> set[tuple[int, int, str]]:
    """``(line, col, code)`` of every error diagnostic printed for ``spec_path``."""
    return {
        (int(m.group(2)), int(m.group(3)), m.group(4))
        for m in _ERROR_LINE.finditer(output)
        if m.group(1) == spec_path
    }


def assert_rejected(spec: BadSpec, output: str, spec_path: str) -> None:
    """Exactly the expected errors, each as ``FILE:LINE:COL: error [CODE]``, and the messages."""
    for line, col, code in spec.expected:
        assert f"{spec_path}:{line}:{col}: error [{code}]" in output, output
    assert reported_errors(output, spec_path) == set(spec.expected), output
    for fragment in SAYS.get(spec.name, []):
        assert fragment in output, output
    if spec.name in ONE_LINE:
        lines = [line for line in output.splitlines() if line.startswith(spec_path)]
        assert len(lines) == 1 and ": error [" in lines[0], output
    assert "Traceback" not in output


def make_old_output(path: Path) -> None:
    """An existing output file with known content and an old mtime."""
    path.write_text(OLD_TEXT, encoding="utf-8")
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))


def assert_untouched(folder: Path, out: Path, existed: bool) -> None:
    """The output is as it was (absent, or same text and mtime) and no temp file is left."""
    if existed:
        assert out.read_text(encoding="utf-8") == OLD_TEXT
        assert out.stat().st_mtime_ns == OLD_MTIME_NS
    else:
        assert not out.exists()
    leftovers = sorted(p.name for p in folder.iterdir() if p.name != out.name)
    assert leftovers == [], leftovers


def test_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 35


@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_every_bad_spec_names_its_errors(spec: BadSpec) -> None:
    assert spec.expected, f"{spec.name}: no '# expect: LINE:COL CODE' header"


@pytest.mark.parametrize("existed", [False, True], ids=["new-output", "existing-output"])
@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_render_rejects_and_writes_nothing(spec: BadSpec, existed: bool, tmp_path: Path) -> None:
    spec_path = write_spec(spec, tmp_path / "specs")
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    out = out_folder / "haproxy.cfg"
    if existed:
        make_old_output(out)
    target = spec.target or "haproxy"
    result = CliRunner().invoke(app, ["render", str(spec_path), "-t", target, "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert_rejected(spec, result.output, str(spec_path))
    assert_untouched(out_folder, out, existed)


@pytest.mark.parametrize("spec", CORPUS, ids=IDS)
def test_validate_reports_the_same(spec: BadSpec, tmp_path: Path) -> None:
    spec_path = write_spec(spec, tmp_path)
    targets = ["-t", spec.target] if spec.target else []
    result = CliRunner().invoke(app, ["validate", str(spec_path), *targets])
    assert result.exit_code == 2, result.output
    assert_rejected(spec, result.output, str(spec_path))


SUBPROCESS_CASES = [
    "yaml-syntax", "name-newline", "several-errors", "not-utf8-latin1", "empty-file",
    "name-trailing-newline", "duration-trailing-newline", "address-superscript-port",
    "log-trailing-newline",
]  # fmt: skip


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_render_in_a_real_process(name: str, tmp_path: Path) -> None:
    spec = next(s for s in CORPUS if s.name == name)
    spec_path = write_spec(spec, tmp_path / "specs")
    out_folder = tmp_path / "out"
    out_folder.mkdir()
    out = out_folder / "haproxy.cfg"
    make_old_output(out)
    proc = run_lbgen(["render", str(spec_path), "-t", "haproxy", "-o", str(out)])
    assert proc.returncode == 2, proc.stderr
    assert_rejected(spec, proc.stderr, str(spec_path))
    assert proc.stdout == ""
    # One diagnostic per line: a newline in a rejected name cannot forge an extra line.
    for line in proc.stderr.splitlines():
        assert line.startswith(f"{spec_path}:"), line
    assert_untouched(out_folder, out, existed=True)


def test_stdin_spec_is_rejected_in_a_real_process(tmp_path: Path) -> None:
    spec = next(s for s in CORPUS if s.name == "weight-300")
    out = tmp_path / "haproxy.cfg"
    proc = run_lbgen(["render", "-", "-t", "haproxy", "-o", str(out)], stdin=spec.data)
    assert proc.returncode == 2, proc.stderr
    assert_rejected(spec, proc.stderr, "<stdin>")
    assert not out.exists()


def run_lbgen(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m lbgen ARGS`` from the repository root, text output."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "lbgen", *args],
        input=stdin.decode("utf-8") if stdin is not None else None,
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=60, check=False,
    )  # fmt: skip


TARGET_SPECIFIC = [spec for spec in CORPUS if spec.target]


@pytest.mark.parametrize("spec", TARGET_SPECIFIC, ids=[s.name for s in TARGET_SPECIFIC])
def test_target_specific_errors_belong_to_their_target(spec: BadSpec, tmp_path: Path) -> None:
    # The spec itself is valid: only the engine it names cannot start with it.
    spec_path = write_spec(spec, tmp_path)
    result = CliRunner().invoke(app, ["validate", str(spec_path)])
    assert result.exit_code == 0, result.output
    assert not reported_errors(result.output, str(spec_path))
