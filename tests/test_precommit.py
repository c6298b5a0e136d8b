"""lbgen's pre-commit hooks, proven with a real ``pre-commit try-repo`` on a temporary git repo.

``try-repo`` does what a user's ``pre-commit run`` does with this repository as a hook repo: it
clones it (with uncommitted changes, as a shadow commit), builds a virtualenv and installs lbgen
into it from the clone with pip, then runs every hook of ``.pre-commit-hooks.yaml``. Each run
builds that environment anew, so the scenarios share two runs (module-scoped fixtures): one on a
repository with a good and a drifted rendered config, a broken spec and a hand-written config with
a footgun, and one after the drift was repaired by the update hook and the broken spec removed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lbgen

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "kubernetes-api.yaml"
RESULT = re.compile(
    r"^(?P<name>\S.*?)\.{2,}(?:\(no files to check\))?(?P<status>Passed|Failed|Skipped)$"
)

MANIFEST = """\
outputs:
  - {spec: lb/prod.lbgen.yaml, target: haproxy, output: rendered/prod.haproxy.cfg}
  - {spec: lb/prod.lbgen.yaml, target: nginx, layout: stream,
     output: rendered/prod.nginx-stream.conf}
"""

# Written by hand, with the footgun the kubeadm example once shipped: ssl-hello-chk passes on a TLS
# alert, so it says nothing about readiness.
HAND_WRITTEN = """\
global
    log stdout format raw local0
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
frontend k8s
    bind :6443
    default_backend cp
backend cp
    option ssl-hello-chk
    server m1 10.0.0.1:6443 check
"""


@dataclass(frozen=True)
class Hook:
    """One hook's result in a ``pre-commit --verbose`` run."""

    status: str
    output: str


def parse(output: str) -> dict[str, Hook]:
    """``pre-commit run --verbose`` output -> hook id -> status and what the hook printed."""
    hooks: dict[str, Hook] = {}
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if RESULT.match(line)]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        body = lines[start + 1 : end]
        ids = [line.removeprefix("- hook id: ") for line in body if line.startswith("- hook id: ")]
        match = RESULT.match(lines[start])
        assert match and ids, lines[start]
        hooks[ids[0]] = Hook(match["status"], "\n".join(body))
    return hooks


def git(*args: str, cwd: Path) -> None:
    """Run git quietly in ``cwd``."""
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def try_repo(user_repo: Path, home: Path) -> tuple[int, dict[str, Hook], str]:
    """``pre-commit try-repo <this repo> --all-files`` inside ``user_repo``."""
    git("add", "-A", cwd=user_repo)
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PRE_COMMIT", None)
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "--all-files", "--verbose",
         "--color", "never"],
        cwd=user_repo, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=600, check=False,
    )  # fmt: skip
    return result.returncode, parse(result.stdout), result.stdout


def rendered(target: str, layout: str | None = None) -> str:
    """What lbgen renders from the example spec."""
    return lbgen.render(lbgen.load_spec(EXAMPLE), target, layout=layout).text


@pytest.fixture(scope="module")
def user_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository that uses the hooks: specs, a manifest and two rendered configs."""
    assert shutil.which("git"), "git is needed: pre-commit works on git repositories"
    assert (REPO / ".git").exists(), "the hook repository must be a git checkout"
    root = tmp_path_factory.mktemp("user-repo")
    git("init", "-q", cwd=root)
    (root / "lb").mkdir()
    (root / "rendered").mkdir()
    (root / "lb" / "prod.lbgen.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"))
    broken = EXAMPLE.read_text(encoding="utf-8").replace("weight: 50}", "weight: 300}")
    (root / "lb" / "broken.lbgen.yaml").write_text(broken)
    (root / ".lbgen-outputs.yaml").write_text(MANIFEST)
    (root / "rendered" / "prod.haproxy.cfg").write_text(rendered("haproxy"))
    # Drifted: someone edited the rendered file instead of the spec.
    drifted = rendered("nginx", "stream").replace("weight=50 ", "weight=60 ")
    (root / "rendered" / "prod.nginx-stream.conf").write_text(drifted)
    (root / "haproxy.cfg").write_text(HAND_WRITTEN)
    return root


@pytest.fixture(scope="module")
def first_run(
    user_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, dict[str, Hook], str]]:
    """All hooks on the repository as committed by a careless user."""
    yield try_repo(user_repo, tmp_path_factory.mktemp("pre-commit-home"))


@pytest.fixture(scope="module")
def second_run(
    user_repo: Path,
    first_run: tuple[int, dict[str, Hook], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, dict[str, Hook], str]:
    """All hooks again, after the update hook rewrote the drift and the broken spec was removed
    (the hand-written config keeps its footgun: the lint hook's business, not render's)."""
    (user_repo / "lb" / "broken.lbgen.yaml").unlink()
    return try_repo(user_repo, tmp_path_factory.mktemp("pre-commit-home"))


def test_every_hook_ran(first_run: tuple[int, dict[str, Hook], str]) -> None:
    code, hooks, output = first_run
    assert code == 1, output
    expected = {"lbgen-validate", "lbgen-render-check", "lbgen-render-update", "lbgen-lint"}
    assert set(hooks) == expected, output


def test_validate_hook_fails_on_the_broken_spec_with_its_location(
    first_run: tuple[int, dict[str, Hook], str],
) -> None:
    _, hooks, output = first_run
    hook = hooks["lbgen-validate"]
    assert hook.status == "Failed", output
    assert "- exit code: 2" in hook.output
    assert re.search(
        r"^lb/broken\.lbgen\.yaml:40:56: error \[weight\] "
        r"pools\.control-plane\.servers\.k8s-master2\.weight: must be 0\.\.256 \(got 300\)$",
        hook.output,
        re.MULTILINE,
    ), hook.output
    assert not re.search(r"^lb/prod\.lbgen\.yaml:\S* error", hook.output, re.MULTILINE)


def test_render_check_names_the_drifted_file_only(
    first_run: tuple[int, dict[str, Hook], str],
) -> None:
    _, hooks, output = first_run
    hook = hooks["lbgen-render-check"]
    assert hook.status == "Failed", output
    assert "- exit code: 1" in hook.output
    assert "rendered/prod.nginx-stream.conf: out of date" in hook.output
    assert "rendered/prod.haproxy.cfg: up to date" in hook.output
    assert "error [out-of-date] rendered/prod.nginx-stream.conf is out of date" in hook.output


def test_render_update_rewrites_the_drifted_file(
    user_repo: Path, first_run: tuple[int, dict[str, Hook], str]
) -> None:
    _, hooks, output = first_run
    hook = hooks["lbgen-render-update"]
    assert hook.status == "Failed", output  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in hook.output
    assert "rendered/prod.nginx-stream.conf: written" in hook.output
    assert "rendered/prod.haproxy.cfg: unchanged" in hook.output
    text = (user_repo / "rendered" / "prod.nginx-stream.conf").read_text()
    assert text == rendered("nginx", "stream")


def test_lint_hook_flags_the_hand_written_config(
    first_run: tuple[int, dict[str, Hook], str],
) -> None:
    _, hooks, output = first_run
    hook = hooks["lbgen-lint"]
    assert hook.status == "Failed", output
    # Only the hand-written haproxy.cfg matches the hook's pattern, not the rendered files.
    assert "haproxy.cfg:12:5" in hook.output and "LB102" in hook.output, hook.output
    assert "rendered/" not in hook.output


def test_after_the_fix_validate_and_render_check_pass(
    second_run: tuple[int, dict[str, Hook], str],
) -> None:
    _, hooks, output = second_run
    assert hooks["lbgen-validate"].status == "Passed", output
    assert hooks["lbgen-render-check"].status == "Passed", output
    assert "rendered/prod.nginx-stream.conf: up to date" in hooks["lbgen-render-check"].output
    assert hooks["lbgen-render-update"].status == "Passed", output


# --- the manifest behind render-all (no pre-commit needed) -------------------------------------


def test_manifest_maps_changed_files_to_outputs(tmp_path: Path) -> None:
    from lbgen.manifest import load_manifest

    (tmp_path / "tpl").mkdir()
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n"
        "  - {spec: a.lbgen.yaml, target: haproxy, output: out/a.cfg}\n"
        "  - {spec: a.lbgen.yaml, target: nginx, output: out/a.conf, templates: tpl}\n"
        "  - {spec: b.lbgen.yaml, target: haproxy, output: out/b.cfg}\n"
    )
    manifest = load_manifest(tmp_path / ".lbgen-outputs.yaml")

    def outputs(*files: str) -> list[str]:
        return [o.output.name for o in manifest.select([tmp_path / f for f in files])]

    assert outputs("a.lbgen.yaml") == ["a.cfg", "a.conf"]
    assert outputs("out/b.cfg") == ["b.cfg"]
    assert outputs("tpl/nginx/stream.conf.j2") == ["a.conf"]
    assert outputs(".lbgen-outputs.yaml") == ["a.cfg", "a.conf", "b.cfg"]
    assert outputs("README.md") == []


def test_a_bad_manifest_is_reported_with_its_location(tmp_path: Path) -> None:
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n  - {spec: a.lbgen.yaml, target: envoy, output: a.cfg, colour: red}\n"
    )
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "lbgen", "render-all", "--check"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, PYTHONPATH=path),
    )  # fmt: skip
    assert result.returncode == 2
    assert ".lbgen-outputs.yaml:2:34: error [value] outputs[0].target: must be " in result.stderr
    assert ".lbgen-outputs.yaml:2:56: error [unknown-field] outputs[0].colour" in result.stderr


def test_render_all_writes_missing_folders_and_reports_each_output(tmp_path: Path) -> None:
    from lbgen.manifest import Status, load_manifest, sync

    (tmp_path / "a.lbgen.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n  - {spec: a.lbgen.yaml, target: haproxy, output: deep/er/a.cfg}\n"
    )
    manifest = load_manifest(tmp_path / ".lbgen-outputs.yaml")
    assert [r.status for r in sync(manifest.outputs, check=True)] == [Status.OUT_OF_DATE]
    assert [r.status for r in sync(manifest.outputs, check=False)] == [Status.CREATED]
    assert (tmp_path / "deep" / "er" / "a.cfg").read_text() == rendered("haproxy")
    assert [r.status for r in sync(manifest.outputs, check=False)] == [Status.UNCHANGED]
    assert [r.status for r in sync(manifest.outputs, check=True)] == [Status.UP_TO_DATE]
