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
    assert "rendered/prod.haproxy.cfg: up to date (1 warning: lbgen validate -t haproxy)" in (
        hook.output
    )
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


# --- the README's snippet, as a user runs it: autoupdate --freeze, then a commit's hooks --------


@dataclass(frozen=True)
class SnippetRun:
    """The README's .pre-commit-config.yaml in a user repository, run as the README says."""

    user_repo: Path
    hook_commit: str
    config: str
    autoupdate: subprocess.CompletedProcess[str]
    run: tuple[int, dict[str, Hook], str]
    update: tuple[int, dict[str, Hook], str]


def readme_snippet() -> str:
    """The ``.pre-commit-config.yaml`` the README shows, verbatim."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    after = readme.split("`.pre-commit-config.yaml` of the repository that uses lbgen", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", after, re.DOTALL)
    assert block, "the README shows a .pre-commit-config.yaml"
    return block[1]


def pre_commit(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """``pre-commit ARGS`` in ``cwd`` with its own cache folder."""
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PRE_COMMIT", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args, "--color", "never"],
        cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout (working tree included, as try-repo takes it) as a hook repository with one
    commit and no tags, like the published one; its path and commit."""
    root = tmp_path_factory.mktemp("lbgen-hook-repo")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    git("init", "-q", cwd=root)
    git("add", "-A", cwd=root)
    git("-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "lbgen", cwd=root)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()  # fmt: skip
    return root, head


@pytest.fixture(scope="module")
def snippet_run(
    hook_repo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> SnippetRun:
    """A repository with a broken spec feeding two outputs, a valid spec whose rendered output
    was edited by hand, and a hand-written config; the README's config with ``repo:`` pointing at
    the hook repository; ``pre-commit autoupdate --freeze``; the hooks of a commit; the update
    hook the out-of-date message names."""
    hook_root, hook_commit = hook_repo
    root = tmp_path_factory.mktemp("snippet-user-repo")
    home = tmp_path_factory.mktemp("snippet-pre-commit-home")
    git("init", "-q", cwd=root)
    for folder in ("lb", "rendered", "legacy"):
        (root / folder).mkdir()
    example = EXAMPLE.read_text(encoding="utf-8")
    (root / "lb" / "prod.lbgen.yaml").write_text(example.replace("weight: 50}", "weight: 300}"))
    (root / "lb" / "edge.lbgen.yaml").write_text(example)
    (root / ".lbgen-outputs.yaml").write_text(
        "outputs:\n"
        "  - {spec: lb/prod.lbgen.yaml, target: haproxy, output: rendered/prod.haproxy.cfg}\n"
        "  - {spec: lb/prod.lbgen.yaml, target: nginx, output: rendered/prod.nginx.conf}\n"
        "  - {spec: lb/edge.lbgen.yaml, target: haproxy, output: rendered/edge.haproxy.cfg}\n"
    )
    (root / "rendered" / "edge.haproxy.cfg").write_text(
        rendered("haproxy").replace("weight 50", "weight 60")
    )
    (root / "legacy" / "haproxy.cfg").write_text(HAND_WRITTEN)
    snippet = readme_snippet()
    assert "https://git.example.com/infra/lbgen" in snippet
    (root / ".pre-commit-config.yaml").write_text(
        snippet.replace("https://git.example.com/infra/lbgen", str(hook_root))
    )
    autoupdate = pre_commit("autoupdate", "--freeze", cwd=root, home=home)
    config = (root / ".pre-commit-config.yaml").read_text()
    git("add", "-A", cwd=root)
    run = pre_commit("run", "--all-files", "--verbose", cwd=root, home=home)
    update = pre_commit("run", "--hook-stage", "manual", "lbgen-render-update", "--all-files",
                        "--verbose", cwd=root, home=home)  # fmt: skip
    return SnippetRun(
        root, hook_commit, config, autoupdate,
        (run.returncode, parse(run.stdout), run.stdout),
        (update.returncode, parse(update.stdout), update.stdout),
    )  # fmt: skip


def test_readme_snippet_autoupdate_freeze_pins_the_commit(snippet_run: SnippetRun) -> None:
    """No tags exist: ``autoupdate --freeze`` turns the snippet's ``rev:`` into a commit SHA."""
    assert snippet_run.autoupdate.returncode == 0, snippet_run.autoupdate.stdout
    revs = re.findall(r"^\s+rev:\s*(\S+)", snippet_run.config, re.MULTILINE)
    assert revs == [snippet_run.hook_commit], snippet_run.config


def test_readme_snippet_runs_its_hooks(snippet_run: SnippetRun) -> None:
    code, hooks, output = snippet_run.run
    assert code == 1, output
    # lbgen-render-update is on demand (stages: [manual]): not part of a commit.
    assert set(hooks) == {"lbgen-validate", "lbgen-render-check", "lbgen-lint"}, output
    assert hooks["lbgen-validate"].status == "Failed"
    assert hooks["lbgen-render-check"].status == "Failed"
    assert hooks["lbgen-lint"].status == "Failed"
    assert "legacy/haproxy.cfg:12:5" in hooks["lbgen-lint"].output


def test_a_spec_error_is_printed_once_per_commit(snippet_run: SnippetRun) -> None:
    """The broken spec feeds two outputs and is validated too: its error appears once, with its
    position (lbgen-validate); the render check names the spec instead of repeating it."""
    _, hooks, output = snippet_run.run
    assert output.count("must be 0..256 (got 300)") == 1, output
    assert "lb/prod.lbgen.yaml:40:56: error [weight]" in hooks["lbgen-validate"].output
    check = hooks["lbgen-render-check"].output
    assert check.count("error [invalid-spec] lb/prod.lbgen.yaml is not a valid spec") == 1, check
    assert "rendered/prod.haproxy.cfg: invalid" in check
    assert "rendered/prod.nginx.conf: invalid" in check


def test_out_of_date_hint_names_the_hook_that_fixes_it(snippet_run: SnippetRun) -> None:
    """The render check's message names lbgen-render-update, and running that hook as the README
    says rewrites the output."""
    _, hooks, _ = snippet_run.run
    check = hooks["lbgen-render-check"].output
    line = next(x for x in check.splitlines() if "error [out-of-date]" in x)
    assert line.startswith("rendered/edge.haproxy.cfg: error [out-of-date]"), line
    assert "the lbgen-render-update pre-commit hook" in line, line
    code, update_hooks, output = snippet_run.update
    assert set(update_hooks) == {"lbgen-render-update"}, output
    assert "rendered/edge.haproxy.cfg: written" in update_hooks["lbgen-render-update"].output
    assert code == 1, output  # it modified files (and the broken spec is still broken)
    written = (snippet_run.user_repo / "rendered" / "edge.haproxy.cfg").read_text()
    assert written == rendered("haproxy")


# --- the manifest behind render-all (no pre-commit needed) -------------------------------------


def test_manifest_maps_changed_files_to_outputs(tmp_path: Path) -> None:
    from lbgen.manifest import load_manifest

    (tmp_path / "tpl").mkdir()
    for spec in ("a.lbgen.yaml", "b.lbgen.yaml"):  # the manifest names files that are there
        (tmp_path / spec).write_text("")
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


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # A git hook overwritten by a config would run it at the next commit.
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: .git/hooks/pre-commit}\n",
         "2:51: error [git-folder] outputs[0].output: '.git/hooks/pre-commit' is inside .git"),
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: ../a.cfg}\n",
         "2:51: error [outside-repository] outputs[0].output: '../a.cfg' leads outside"),
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: a.lbgen.yaml}\n",
         "2:51: error [output-is-input] outputs[0].output: 'a.lbgen.yaml' is the spec of "
         "outputs[0]"),
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: .lbgen-outputs.yaml}\n",
         "2:51: error [output-is-input] outputs[0].output: '.lbgen-outputs.yaml' is this manifest"),
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: tpl/haproxy/haproxy.cfg.j2}\n"
         "  - {spec: a.lbgen.yaml, target: nginx, output: a.conf, templates: tpl}\n",
         "2:51: error [output-is-input] outputs[0].output: 'tpl/haproxy/haproxy.cfg.j2' is in the "
         "templates of outputs[1]"),
        # Each run wrote it twice and --check always found it out of date.
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: out.cfg}\n"
         "  - {spec: a.lbgen.yaml, target: nginx, output: ./out.cfg}\n",
         "3:49: error [duplicate-output] outputs[1].output: './out.cfg' is also the output of "
         "outputs[0]"),
        ("  - {spec: renamed.lbgen.yaml, target: haproxy, output: a.cfg}\n",
         "2:12: error [missing-spec] outputs[0].spec: 'renamed.lbgen.yaml': no such file"),
        # Jinja would have used the packaged templates without a word.
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: a.cfg, templates: nope}\n",
         "2:69: error [not-a-folder] outputs[0].templates: 'nope': not a folder"),
        # Paths the file system refuses: each was an internal error (exit 70).
        ("  - {spec: a.lbgen.yaml, target: haproxy, output: loop}\n",
         "2:51: error [io] outputs[0].output: 'loop': Too many levels of symbolic links"),
        ('  - {spec: "a\\0.yaml", target: haproxy, output: a.cfg}\n',
         "2:12: error [io] outputs[0].spec: 'a\\x00.yaml': a NUL character cannot be in a file "
         "name"),
        (f"  - {{spec: a.lbgen.yaml, target: haproxy, output: a.cfg, templates: {'t' * 300}}}\n",
         f"2:69: error [io] outputs[0].templates: '{'t' * 300}': File name too long"),
    ],
)  # fmt: skip
def test_an_output_render_all_must_not_write_is_refused_with_its_location(
    entries: str, expected: str, tmp_path: Path
) -> None:
    """Every entry is checked against the others before anything is rendered or written."""
    (tmp_path / "a.lbgen.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / "tpl").mkdir()
    (tmp_path / "loop").symlink_to("loop")
    hooks = tmp_path / ".git" / "hooks"
    hooks.mkdir(parents=True)
    (hooks / "pre-commit").write_text("#!/bin/sh\necho real hook\n")
    manifest = tmp_path / ".lbgen-outputs.yaml"
    manifest.write_text("outputs:\n" + entries)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "lbgen", "render-all"], cwd=tmp_path, capture_output=True,
        text=True, timeout=60, check=False, env=dict(os.environ, PYTHONPATH=path),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f".lbgen-outputs.yaml:{expected}" in result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_a_symlink_loop_among_the_changed_files_selects_nothing(tmp_path: Path) -> None:
    """pre-commit passes every changed file (the hook's files: ''), a symlink loop included."""
    (tmp_path / "a.lbgen.yaml").write_text(EXAMPLE.read_text())
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n  - {spec: a.lbgen.yaml, target: haproxy, output: a.cfg}\n"
    )
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-m", "lbgen", "render-all", "--check", "loop"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
        env=dict(os.environ, PYTHONPATH=path),
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert not (tmp_path / "a.cfg").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("output:\n  - {spec: a.yaml, target: haproxy, output: o.cfg}\n",
         ["1:1: error [unknown-field] output: unknown field 'output'; did you mean 'outputs'?"]),
        ("outputs:\n  - {spec: a.yaml, target: haproxy, ouput: o.cfg}\n",
         ["2:37: error [unknown-field] outputs[0].ouput: unknown field 'ouput'; did you mean "
          "'output'?"]),
    ],
)  # fmt: skip
def test_a_misspelt_manifest_key_gets_the_manifests_hint(
    text: str, expected: list[str], tmp_path: Path
) -> None:
    """One line per typo, offering the manifest's own fields (the spec's were offered, and the
    missing field was reported beside the typo)."""
    from lbgen.diagnostics import SpecError, format_text
    from lbgen.manifest import load_manifest

    (tmp_path / "a.yaml").write_text("")
    (tmp_path / ".lbgen-outputs.yaml").write_text(text)
    with pytest.raises(SpecError) as raised:
        load_manifest(tmp_path / ".lbgen-outputs.yaml")
    text = format_text(raised.value.diagnostics)
    assert [line.split(".lbgen-outputs.yaml:", 1)[1] for line in text.splitlines()] == expected


def test_render_refuses_a_templates_folder_that_is_not_there(tmp_path: Path) -> None:
    """The library too: Jinja would search the missing folder and use the packaged templates."""
    import lbgen
    from lbgen.rendering import TargetError

    spec = lbgen.load_spec(EXAMPLE)
    with pytest.raises(TargetError, match="not a folder"):
        lbgen.render(spec, "haproxy", templates=tmp_path / "nope")


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


def test_render_all_keeps_each_vip_nodes_keepalived_conf(tmp_path: Path) -> None:
    """A tier's committed keepalived.conf per node (and its nft rule) is checked like a proxy
    config: one entry per node, rendered as ``render -t keepalived --node``."""
    import lbgen
    from lbgen.manifest import Status, load_manifest, sync

    tier = REPO / "examples" / "ha-tier.yaml"
    (tmp_path / "tier.yaml").write_text(tier.read_text())
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n"
        "  - {spec: tier.yaml, target: keepalived, node: lb1, output: k/lb1.conf}\n"
        "  - {spec: tier.yaml, target: keepalived, node: lb2, output: k/lb2.conf}\n"
        "  - {spec: tier.yaml, target: keepalived, node: lb2, layout: nft, output: k/lb2.nft}\n"
    )
    manifest = load_manifest(tmp_path / ".lbgen-outputs.yaml")
    assert [r.status for r in sync(manifest.outputs, check=False)] == [Status.CREATED] * 3
    spec = lbgen.load_spec(tier)
    for name, node, layout in (("lb1.conf", "lb1", None), ("lb2.conf", "lb2", None),
                               ("lb2.nft", "lb2", "nft")):  # fmt: skip
        expected = lbgen.render(spec, "keepalived", node=node, layout=layout).text
        assert (tmp_path / "k" / name).read_text() == expected
    assert (tmp_path / "k" / "lb1.conf").read_text() != (tmp_path / "k" / "lb2.conf").read_text()
    stale = tmp_path / "k" / "lb2.conf"
    stale.write_text(stale.read_text().replace("priority", "priority 1 #"))
    results = sync(manifest.outputs, check=True)
    assert [r.status for r in results] == [Status.UP_TO_DATE, Status.OUT_OF_DATE, Status.UP_TO_DATE]
    (message,) = [d.message for d in results[1].diagnostics if d.code == "out-of-date"]
    assert "tier.yaml for keepalived (node lb2) changes it" in message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{spec: t.yaml, target: keepalived, output: k.conf}",
         "2:28: error [missing-node] outputs[0].target: target keepalived renders one node's "
         "config: name it with node (one entry per node)"),
        ("{spec: t.yaml, target: haproxy, node: lb1, output: h.cfg}",
         "2:43: error [node-unused] outputs[0].node: node is for target keepalived, not haproxy"),
    ],
)  # fmt: skip
def test_a_node_is_named_exactly_for_keepalived(entry: str, expected: str, tmp_path: Path) -> None:
    from lbgen.diagnostics import SpecError, format_text
    from lbgen.manifest import load_manifest

    (tmp_path / "t.yaml").write_text((REPO / "examples" / "ha-tier.yaml").read_text())
    (tmp_path / ".lbgen-outputs.yaml").write_text(f"outputs:\n  - {entry}\n")
    with pytest.raises(SpecError) as raised:
        load_manifest(tmp_path / ".lbgen-outputs.yaml")
    assert format_text(raised.value.diagnostics).split(".lbgen-outputs.yaml:", 1)[1].strip() == (
        expected
    )


def test_render_all_check_says_what_render_all_would_refuse(tmp_path: Path) -> None:
    """An output render-all cannot write (an immutable file: even root may not replace it) is
    exit 2 with --check too, with the same message, not "out of date" (exit 1, which the update
    hook could not fix)."""
    (tmp_path / "a.lbgen.yaml").write_text(EXAMPLE.read_text())
    out = tmp_path / "a.cfg"
    out.write_text("old\n")
    (tmp_path / ".lbgen-outputs.yaml").write_text(
        "outputs:\n  - {spec: a.lbgen.yaml, target: haproxy, output: a.cfg}\n"
    )
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])

    def render_all(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lbgen", "render-all", *args], cwd=tmp_path,
            capture_output=True, text=True, timeout=60, check=False,
            env=dict(os.environ, PYTHONPATH=path),
        )  # fmt: skip

    if os.geteuid() != 0:
        pytest.fail("needs root (chattr +i)")
    locked = subprocess.run(["chattr", "+i", str(out)], capture_output=True, text=True)
    if locked.returncode != 0:
        pytest.skip(f"this file system has no immutable attribute: {locked.stderr.strip()}")
    try:
        runs = [render_all("--check"), render_all()]
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    assert [r.returncode for r in runs] == [2, 2], [r.stderr for r in runs]
    refusals = [[line for line in r.stderr.splitlines() if "error [io]" in line] for r in runs]
    assert refusals[0] == refusals[1] != []
    assert out.read_text() == "old\n"
