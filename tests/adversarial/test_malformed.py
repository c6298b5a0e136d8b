"""Malformed, hostile and oversized input through the real CLI: exit 2 and one line, never a crash.

Every case runs ``python -m lbgen`` in its own process (spec and config inputs, files, FIFOs,
devices, stdin) and must end with exit 2 and exactly one line on stderr: no traceback, no exit 70
(the last-resort handler), no hang, bounded time and memory. The test prints each case's time and
peak memory, the worst of each, and ``attempts / rejected / crashes``.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import SpecError
from lbgen.inputs import DEFAULT_MAX_INPUT_BYTES
from lbgen.spec.source import MAX_DEPTH, MAX_VALUES
from tests.adversarial.measure import Measured, run_measured

SPEC = """\
version: 1
frontends:
  api:
    bind: [":6443"]
    pool: cp
pools:
  cp:
    servers:
      m1: 10.0.0.1:6443
      m2: 10.0.0.2:6443
"""

HAPROXY_CFG = """\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend api
    bind :6443
    default_backend cp
backend cp
    server m1 10.0.0.1:6443 check
"""

COMMENT = b"# " + b"x" * 76 + b"\n"


def _comments(size: int) -> bytes:
    return COMMENT * (size // len(COMMENT))


def _alias_bomb() -> str:
    # Ten of each level, nine levels: 10^9 leaves once expanded, a few hundred bytes on disk.
    lines = ["version: 1", 'a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _block_nesting(depth: int) -> str:
    return (
        "version: 1\n"
        + "".join("  " * level + "a:\n" for level in range(depth))
        + "  " * depth
        + "b: 1\n"
    )


@dataclass
class Case:
    """One hostile input: how to prepare it, and the lbgen arguments that read it."""

    name: str
    args: Callable[[Path], list[str]]
    write: Callable[[Path], None] = lambda _: None
    stdin: Path | None = None
    env: dict[str, str] = field(default_factory=dict)


def spec_file(name: str, content: bytes | str | Callable[[], bytes]) -> Case:
    """A case that writes ``content`` (made on demand when large) to a spec and validates it."""

    def write(tmp: Path) -> None:
        data = content() if callable(content) else content
        (tmp / f"{name}.yaml").write_bytes(data.encode() if isinstance(data, str) else data)

    return Case(name, args=lambda tmp: ["validate", str(tmp / f"{name}.yaml")], write=write)


def _template_case(name: str, template: str) -> Case:
    def write(tmp: Path) -> None:
        (tmp / "spec.yaml").write_text(SPEC)
        folder = tmp / f"tpl-{name}" / "haproxy"
        folder.mkdir(parents=True)
        (folder / "haproxy.cfg.j2").write_text(template)

    return Case(
        name,
        args=lambda tmp: ["render", str(tmp / "spec.yaml"), "-t", "haproxy",
                          "--templates", str(tmp / f"tpl-{name}")],
        write=write,
    )  # fmt: skip


def _fifo(tmp: Path) -> None:
    if not (tmp / "fifo").exists():
        os.mkfifo(tmp / "fifo")


def _spec(tmp: Path) -> None:
    (tmp / "spec.yaml").write_text(SPEC)


def _spec_and_fifo(tmp: Path) -> None:
    _spec(tmp)
    _fifo(tmp)


def _big_config(tmp: Path) -> None:
    (tmp / "big.cfg").write_bytes(HAPROXY_CFG.encode() + _comments(50 * 1024 * 1024))


SURROGATE_VALUE = SPEC.replace("m2: 10.0.0.2:6443", 'm2: "10.0.0.2:6443\\ud800"')
SURROGATE_KEY = SPEC.replace("m2: 10.0.0.2:6443", '"m\\udc00": 10.0.0.2:6443')
MERGE_SCALAR = SPEC.replace("m2: 10.0.0.2:6443", "m2: {<<: 5, address: 10.0.0.2:6443}")
MERGE_BAD = SPEC.replace(
    "m1: 10.0.0.1:6443", "m1: &s {address: 10.0.0.1:6443, weight: 999}"
).replace("m2: 10.0.0.2:6443", "m2: {<<: *s, address: 10.0.0.2:6443, weight: 1}")
DIGITS = "1" * 5000

CORPUS: list[Case] = [
    spec_file("binary", random.Random(8).randbytes(4096)),
    spec_file("nul-byte", SPEC.encode().replace(b"m2:", b"m2\x00:")),
    spec_file("utf16-bom", SPEC.encode("utf-16")),
    spec_file("utf16-be", SPEC.encode("utf-16-be")),
    spec_file("utf32", SPEC.encode("utf-32")),
    spec_file("utf8-bom-then-latin1", b"\xef\xbb\xbf" + SPEC.encode() + b"# caf\xe9\n"),
    spec_file("latin1-comment", SPEC.encode() + b"# d\xe9j\xe0 vu\n"),
    spec_file("duplicate-key", SPEC.replace("version: 1\n", "version: 1\nversion: 1\n")),
    spec_file("multi-document", SPEC + "---\n" + SPEC),
    spec_file("empty", b""),
    spec_file("only-comments", "# nothing here\n# at all\n"),
    spec_file("top-level-list", "- version: 1\n"),
    spec_file("tab-indent", SPEC.replace("  api:", "\tapi:")),
    spec_file("unclosed-flow", SPEC + "x: [1, 2\n"),
    spec_file("undefined-alias", SPEC.replace("m2: 10.0.0.2:6443", "m2: *nowhere")),
    spec_file("recursive-alias", SPEC.replace("pools:\n  cp:", "pools: &p\n  cp:").replace(
        "m2: 10.0.0.2:6443", "m2: *p")),
    spec_file("alias-bomb-1e9", _alias_bomb()),
    spec_file("flow-nesting-10000", "version: 1\nx: " + "[" * 10_000 + "]" * 10_000 + "\n"),
    spec_file("flow-map-nesting-10000", "x: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n"),
    spec_file("block-nesting-300", _block_nesting(300)),
    spec_file("int-5000-digits", SPEC.replace("version: 1", f"version: {DIGITS}")),
    spec_file("negative-int-5000-digits", SPEC.replace(
        "m1: 10.0.0.1:6443", f"m1: {{address: 10.0.0.1:6443, weight: -{DIGITS}}}")),
    spec_file("hex-int-5000-digits", SPEC.replace("version: 1", f"version: 0x{DIGITS}")),
    spec_file("float-5000-digits", SPEC.replace("version: 1", f"version: {DIGITS}.5")),
    spec_file("tag-omap", SPEC.replace("  cp:\n    servers:", "  cp:\n    servers: !!omap")),
    spec_file("tag-set", SPEC + "x: !!set {a, b}\n"),
    spec_file("tag-local-on-map", SPEC.replace("pools:\n", "pools: !mine\n")),
    spec_file("tag-python-object", SPEC + "x: !!python/object/apply:os.system [true]\n"),
    spec_file("tag-binary", SPEC.replace("m2: 10.0.0.2:6443", "m2: !!binary aGVsbG8=")),
    spec_file("lone-surrogate-value", SURROGATE_VALUE),
    spec_file("lone-surrogate-key", SURROGATE_KEY),
    spec_file("merge-key-scalar", MERGE_SCALAR),
    spec_file("merge-key-bad-merged-value", MERGE_BAD),
    spec_file("long-key-100k", SPEC.replace("version: 1", "version: 1\n" + "k" * 100_000 + ": 1")),
    spec_file("huge-50MiB-comments", lambda: SPEC.encode() + _comments(50 * 1024 * 1024)),
    spec_file(
        "limit-sized-comments-then-error",
        lambda: SPEC.encode() + _comments(DEFAULT_MAX_INPUT_BYTES - 4096) + b"bogus: 1\n",
    ),
    Case("over-custom-limit", args=lambda tmp: ["validate", str(tmp / "spec.yaml")], write=_spec,
         env={"LBGEN_MAX_INPUT_BYTES": "64"}),
    Case("over-cli-limit",
         args=lambda tmp: ["--max-input-size", "1K", "validate", str(tmp / "big.cfg")],
         write=_big_config),
    Case("fifo-spec", args=lambda tmp: ["validate", str(tmp / "fifo")], write=_fifo),
    Case("dev-zero-spec", args=lambda _: ["validate", "/dev/zero"]),
    Case("dev-zero-stdin-spec", args=lambda _: ["validate", "-"], stdin=Path("/dev/zero")),
    Case("dev-zero-stdin-render", args=lambda _: ["render", "-", "-t", "haproxy"],
         stdin=Path("/dev/zero")),
    Case("folder-spec", args=lambda tmp: ["validate", str(tmp)]),
    Case("missing-spec", args=lambda tmp: ["validate", str(tmp / "missing.yaml")]),
    _template_case("template-python-error", '{{ "%d" % "x" }}\n'),
    _template_case("template-sandbox-escape", "{{ ''.__class__.__mro__[1].__subclasses__() }}\n"),
    _template_case("template-sandbox-globals", "{{ cycler.__init__.__globals__ }}\n"),
    _template_case("template-syntax", "{% for x in %}\n"),
    Case("load-module-injection", args=lambda tmp: [
        "render", str(tmp / "spec.yaml"), "-t", "nginx", "--layout", "full",
        "--load-module", "/x.so; http { server { listen 8080; } }"], write=_spec),
    Case("load-module-relative", args=lambda tmp: [
        "render", str(tmp / "spec.yaml"), "-t", "nginx", "--layout", "full",
        "--load-module", "modules/ngx_stream_module.so"], write=_spec),
    Case("lint-dev-zero", args=lambda _: ["lint", "/dev/zero"]),
    Case("lint-fifo", args=lambda tmp: ["lint", str(tmp / "fifo")], write=_fifo),
    Case("lint-50MiB", args=lambda tmp: ["lint", str(tmp / "big.cfg")], write=_big_config),
    Case("diff-against-dev-zero", args=lambda tmp: [
        "diff", str(tmp / "spec.yaml"), "-t", "haproxy", "--against", "/dev/zero"], write=_spec),
    Case("diff-against-stdin-dev-zero", args=lambda tmp: [
        "diff", str(tmp / "spec.yaml"), "-t", "haproxy", "--against", "-"], write=_spec,
        stdin=Path("/dev/zero")),
    Case("diff-against-fifo", args=lambda tmp: [
        "diff", str(tmp / "spec.yaml"), "-t", "haproxy", "--against", str(tmp / "fifo")],
        write=_spec_and_fifo),
    Case("import-fifo", args=lambda tmp: ["import", str(tmp / "fifo")], write=_fifo),
    Case("import-stdin-dev-zero", args=lambda _: ["import", "-"], stdin=Path("/dev/zero")),
    Case("import-50MiB", args=lambda tmp: ["import", str(tmp / "big.cfg")], write=_big_config),
    Case("check-dev-zero", args=lambda _: ["check", "/dev/zero", "--engine", "haproxy"]),
    Case("check-fifo", args=lambda tmp: ["check", str(tmp / "fifo"), "--engine", "haproxy"],
         write=_fifo),
]  # fmt: skip


def _is_crash(run: Measured) -> bool:
    return (
        run.timed_out
        or run.returncode == 70
        or run.returncode < 0
        or "Traceback" in run.stderr
        or "internal error" in run.stderr
    )


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Measured]:
    """Every corpus case, run once through the CLI, in corpus order."""
    tmp = tmp_path_factory.mktemp("malformed")
    runs = {}
    for case in CORPUS:
        case.write(tmp)
        runs[case.name] = run_measured(*case.args(tmp), stdin=case.stdin, env=case.env)
    return runs


def test_malformed_corpus_exits_2_with_one_line(corpus_runs: dict[str, Measured]) -> None:
    """Every hostile input: exit 2, one stderr line, no crash; time and memory printed."""
    print(f"\n{'case':<34} {'exit':>4} {'seconds':>8} {'peak MiB':>9}  first line")
    for name, run in corpus_runs.items():
        first = run.lines[0][-90:] if run.lines else ""
        print(f"{name:<34} {run.returncode:>4} {run.seconds:>8.2f} "
              f"{run.max_rss_kib / 1024:>9.1f}  {first}")  # fmt: skip
    slowest = max(corpus_runs, key=lambda name: corpus_runs[name].seconds)
    biggest = max(corpus_runs, key=lambda name: corpus_runs[name].max_rss_kib)
    print(f"worst time: {corpus_runs[slowest].seconds:.2f} s ({slowest}); worst peak memory: "
          f"{corpus_runs[biggest].max_rss_kib / 1024:.1f} MiB ({biggest})")  # fmt: skip
    crashes = [name for name, run in corpus_runs.items() if _is_crash(run)]
    rejected = [
        name for name, run in corpus_runs.items()
        if not _is_crash(run) and run.returncode == 2 and len(run.lines) == 1
    ]  # fmt: skip
    print(f"malformed corpus: {len(corpus_runs)} attempts / {len(rejected)} rejected / "
          f"{len(crashes)} crashes")  # fmt: skip
    assert crashes == []
    wrong = {
        name: (run.returncode, run.lines[:3])
        for name, run in corpus_runs.items()
        if name not in rejected
    }  # fmt: skip
    assert wrong == {}
    # A rejected input renders, imports or diffs nothing on stdout.
    assert [name for name, run in corpus_runs.items() if run.stdout.strip()] == []
    # Bounded: no input is read past the limit (the 50 MiB and /dev/zero cases stay small).
    assert corpus_runs[biggest].max_rss_kib < 256 * 1024


def test_corpus_messages_name_the_cause(corpus_runs: dict[str, Measured]) -> None:
    """The bounds say what they are and where: line:col for the YAML ones."""
    expected = {
        "alias-bomb-1e9": f"more than {MAX_VALUES} values once aliases are expanded",
        "flow-nesting-10000": f"nested deeper than {MAX_DEPTH} levels",
        "block-nesting-300": f"nested deeper than {MAX_DEPTH} levels",
        "int-5000-digits": ":1:10: error [yaml-syntax] an integer of 5000 characters is too large",
        "tag-omap": "tag !!omap is not allowed",
        "tag-local-on-map": ":6:8: error [yaml-syntax] tag !mine is not allowed",
        "lone-surrogate-value": ":10:11: error [encoding] pools.cp.servers.m2: a lone surrogate",
        "huge-50MiB-comments": "larger than the input limit of 2 MiB",
        "fifo-spec": "a FIFO, not a regular file",
        "dev-zero-spec": "a character device, not a regular file",
        "dev-zero-stdin-spec": "<stdin>: error [too-large] cannot read: larger than the input",
        "merge-key-bad-merged-value": ":9:47: error [weight] pools.cp.servers.m1.weight",
        "template-sandbox-escape": "access to attribute '__class__' of 'str' object is unsafe",
        "load-module-injection": "load_module '/x.so; http { server { listen 8080; } }'",
        "lint-50MiB": "larger than the input limit",
    }
    found = {name: corpus_runs[name].stderr for name in expected}
    assert {name: text in found[name] for name, text in expected.items()} == dict.fromkeys(
        expected, True
    ), found


def test_merge_keys_are_supported_with_positions(tmp_path: Path) -> None:
    """``<<: *anchor`` merges like YAML says (own keys win) and errors point at the anchor."""
    text = SPEC.replace(
        "m1: 10.0.0.1:6443", "m1: &base {address: 10.0.0.1:6443, weight: 7, backup: true}"
    ).replace("m2: 10.0.0.2:6443", "m2:\n        <<: *base\n        address: 10.0.0.2:6443")
    spec = lbgen.load_spec(text)
    servers = spec.pools["cp"].servers
    m2 = servers["m2"]
    assert not isinstance(m2, str)
    assert (m2.address, m2.weight, m2.backup) == ("10.0.0.2:6443", 7, True)
    rendered = lbgen.render(spec, "haproxy")
    assert "server m2 10.0.0.2:6443" in rendered.text and rendered.text.count("weight 7") == 2
    with pytest.raises(SpecError) as caught:
        lbgen.load_spec(MERGE_BAD, filename="merge.yaml")
    # m2's weight is its own (1); m1's 999 is reported once, where it is written.
    assert [(d.path, d.line, d.col) for d in caught.value.diagnostics] == [
        ("pools.cp.servers.m1.weight", 9, 47)
    ]
    merged_bad = MERGE_BAD.replace(", weight: 1}", "}")
    with pytest.raises(SpecError) as caught:
        lbgen.load_spec(merged_bad, filename="merge.yaml")
    # m2 takes 999 from the anchor: the error points at the anchor's value, line 9.
    assert sorted((d.path, d.line, d.col) for d in caught.value.diagnostics) == [
        ("pools.cp.servers.m1.weight", 9, 47),
        ("pools.cp.servers.m2.weight", 9, 47),
    ]


@pytest.mark.parametrize("style", ["flow", "block"])
def test_a_mapping_of_only_a_merge_key_is_supported(style: str) -> None:
    """A mapping whose one key is ``<<`` (ruamel keeps no key positions for it) loads as the
    mapping it merges, and its errors point at the anchor: it was an internal error (exit 70)."""
    merged = "{<<: *base}" if style == "flow" else "\n        <<: *base"
    text = SPEC.replace(
        "m1: 10.0.0.1:6443", "m1: &base {address: 10.0.0.1:6443, weight: 7}"
    ).replace("m2: 10.0.0.2:6443", f"m2: {merged}")
    m2 = lbgen.load_spec(text).pools["cp"].servers["m2"]
    assert not isinstance(m2, str)
    assert (m2.address, m2.weight) == ("10.0.0.1:6443", 7)
    with pytest.raises(SpecError) as caught:
        lbgen.load_spec(text.replace("weight: 7", "weight: 999"), filename="merge.yaml")
    positions = {(d.line, d.col) for d in caught.value.diagnostics}
    assert sorted(d.path for d in caught.value.diagnostics) == [
        "pools.cp.servers.m1.weight",
        "pools.cp.servers.m2.weight",
    ]
    assert len(positions) == 1  # both at the anchor's value


def test_bom_prefixed_spec_is_accepted(tmp_path: Path) -> None:
    """A UTF-8 BOM (Windows editors write one) is not an error."""
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + SPEC.encode())
    run = run_measured("validate", str(tmp_path / "bom.yaml"))
    assert run.returncode == 0, run.stderr


def test_stdin_still_works_under_the_limit(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    run = run_measured("render", "-", "-t", "haproxy", stdin=tmp_path / "spec.yaml")
    assert run.returncode == 0, run.stderr
    assert "server m1 10.0.0.1:6443" in run.stdout


def test_the_limit_is_configurable(tmp_path: Path) -> None:
    """The option wins over the environment variable, which wins over the default."""
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(SPEC.encode() + _comments(1500))  # about 1.6 KiB
    small = run_measured("validate", str(spec), env={"LBGEN_MAX_INPUT_BYTES": "1K"})
    assert small.returncode == 2 and "input limit of 1 KiB" in small.stderr, small.stderr
    raised = run_measured(
        "--max-input-size", "2K", "validate", str(spec), env={"LBGEN_MAX_INPUT_BYTES": "1K"}
    )
    assert raised.returncode == 0, raised.stderr
    stdin = run_measured("--max-input-size", "1K", "validate", "-", stdin=spec)
    assert stdin.returncode == 2 and "input limit of 1 KiB" in stdin.stderr, stdin.stderr
    bad = run_measured("validate", str(spec), env={"LBGEN_MAX_INPUT_BYTES": "lots"})
    assert bad.returncode == 2 and len(bad.lines) == 1 and "LBGEN_MAX_INPUT_BYTES" in bad.stderr


def test_last_resort_handler_is_one_line_and_exit_70(tmp_path: Path) -> None:
    """An unexpected exception (a bug) is one line asking for a report, exit 70; the corpus
    above proves no bad input reaches this handler."""
    script = tmp_path / "boom.py"
    script.write_text(
        "import lbgen.cli\n"
        "def boom():\n    raise RuntimeError('boom\\nsecond line')\n"
        "lbgen.cli.app = boom\nlbgen.cli.main()\n"
    )
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    assert run.returncode == 70
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "internal error (RuntimeError: boom second line)" in run.stderr
    assert "please report it" in run.stderr


def test_library_load_spec_takes_text_paths_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(SPEC)
    from_text = lbgen.load_spec(SPEC)
    from_name = lbgen.load_spec(str(tmp_path / "spec.yaml"))
    from_path = lbgen.load_spec(tmp_path / "spec.yaml")
    from_bytes = lbgen.load_spec(SPEC.encode())
    from_json = lbgen.load_spec(
        '{"version": 1, "frontends": {"api": {"bind": [":6443"], "pool": "cp"}},'
        ' "pools": {"cp": {"servers": {"m1": "10.0.0.1:6443", "m2": "10.0.0.2:6443"}}}}'
    )
    # (model_dump: comparing loaded specs directly recurses through their private source.)
    dumps = [s.model_dump() for s in (from_text, from_name, from_path, from_bytes, from_json)]
    assert all(dump == dumps[0] for dump in dumps)
    with pytest.raises(SpecError) as caught:
        lbgen.load_spec(SPEC + "bogus: 1\n", filename="inline.yaml")
    assert caught.value.diagnostics[0].file == "inline.yaml"
    with pytest.raises(TypeError, match="not int"):
        lbgen.load_spec(42)


def test_library_render_rejects_what_is_not_a_spec() -> None:
    with pytest.raises(TypeError, match=r"render\(\) needs a Spec .* not dict"):
        lbgen.render({"version": 1}, "haproxy")  # type: ignore[arg-type]
