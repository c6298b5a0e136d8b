"""The Ansible collection, proven with a real ``ansible-playbook`` (``connection: local``).

The collection is built and installed once per session with ``ansible-galaxy`` into a temporary
folder; every ``ANSIBLE_*`` path (config, home, collections, temp folders) points there, and
scanning ``sys.path`` for collections is off, so the plays use the *installed* collection and not
the source tree beside the tests. lbgen itself is imported by the controller, as in real use.
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

import lbgen
from lbgen.diagnostics import SpecError

REPO = Path(__file__).resolve().parents[1]
COLLECTION = REPO / "ansible_collections" / "lbgen" / "lbgen"
EXAMPLE = REPO / "examples" / "kubernetes-api.yaml"
RECAP = re.compile(
    r"localhost\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
    r"failed=(?P<failed>\d+)"
)


@dataclass(frozen=True)
class Ansible:
    """A private Ansible installation of the collection: its environment and folders."""

    env: dict[str, str]
    collections: Path

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """``python -m ansible ARGS`` (the same interpreter as the tests, so lbgen imports)."""
        return subprocess.run(
            [sys.executable, "-m", "ansible", *args],
            cwd=cwd, env=self.env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=300, check=False,
        )  # fmt: skip


@dataclass(frozen=True)
class Play:
    """One ``ansible-playbook`` run: its exit code, output and recap counts."""

    returncode: int
    output: str
    changed: int
    failed: int


@pytest.fixture(scope="session")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Ansible:
    """Build the collection once and install it into a private collections folder."""
    root = tmp_path_factory.mktemp("ansible")
    (root / "ansible.cfg").write_text("[defaults]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(root / "ansible.cfg"),
        ANSIBLE_HOME=str(root / "home"),
        ANSIBLE_LOCAL_TEMP=str(root / "tmp" / "local"),
        ANSIBLE_REMOTE_TEMP=str(root / "tmp" / "remote"),
        ANSIBLE_COLLECTIONS_PATH=str(root / "collections"),
        # The repo's own ansible_collections/ may be on sys.path (an editable install): only the
        # installed copy may be used.
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        LC_ALL="C.UTF-8",
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    built = Ansible(env, root / "collections")
    result = built.run(
        "galaxy", "collection", "build", str(COLLECTION), "--output-path", str(root), cwd=root
    )
    assert result.returncode == 0, result.stdout
    (tarball,) = root.glob("lbgen-lbgen-*.tar.gz")
    result = built.run(
        "galaxy", "collection", "install", "--offline", "-p", str(root / "collections"),
        str(tarball), cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert (
        root / "collections" / "ansible_collections" / "lbgen" / "lbgen" / "MANIFEST.json"
    ).is_file()
    return built


def playbook(ansible: Ansible, folder: Path, tasks: str, *args: str, vars_: str = "") -> Play:
    """Write a localhost play with ``tasks`` into ``folder`` and run it."""
    play = textwrap.dedent(
        """\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
        {vars_}
          tasks:
        {tasks}
        """
    ).format(
        vars_=textwrap.indent(textwrap.dedent(vars_), "    ") or "    {}",
        tasks=textwrap.indent(textwrap.dedent(tasks), "    "),
    )
    if not vars_:
        play = play.replace("  vars:\n    {}\n", "")
    (folder / "play.yml").write_text(play, encoding="utf-8")
    result = ansible.run(
        "playbook", "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
        "play.yml", *args, cwd=folder,
    )  # fmt: skip
    match = RECAP.search(result.stdout)
    assert match, f"no PLAY RECAP in:\n{result.stdout}"
    return Play(result.returncode, result.stdout, int(match["changed"]), int(match["failed"]))


def render_task(dest: Path, *, target: str = "haproxy", **options: str) -> str:
    """A task rendering ``spec.yaml`` (next to the play) into ``dest``, with more ``options``."""
    lines = [
        "- name: render the load balancer config",
        "  lbgen.lbgen.lbgen_render:",
        "    spec: spec.yaml",
        f"    target: {target}",
        f"    dest: {dest}",
        *(f"    {key}: {value}" for key, value in options.items()),
    ]
    return "\n".join(lines) + "\n"


def expected(spec: Path, target: str, layout: str | None = None) -> str:
    """What lbgen itself renders: the installed file must be exactly this."""
    return lbgen.render(lbgen.load_spec(spec), target, layout=layout).text


def digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A play folder holding a copy of the example spec as spec.yaml."""
    (tmp_path / "spec.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def set_weight(spec: Path, old: int, new: int) -> None:
    """Edit the weight of k8s-master2 in the example spec."""
    text = spec.read_text(encoding="utf-8")
    assert f"weight: {old}}}" in text
    spec.write_text(text.replace(f"weight: {old}}}", f"weight: {new}}}"), encoding="utf-8")


def test_the_installed_collection_is_the_one_used(ansible: Ansible, tmp_path: Path) -> None:
    result = ansible.run("doc", "lbgen.lbgen.lbgen_render", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert str(ansible.collections) in result.stdout
    assert "validate" in result.stdout and "spec_content" in result.stdout
    assert "lbgen check --engine keepalived %s" in result.stdout  # the keepalived example
    assert "inventory_hostname" in result.stdout  # node's default


def test_first_run_changes_second_run_does_not(ansible: Ansible, work: Path) -> None:
    dest = work / "etc" / "haproxy.cfg"
    dest.parent.mkdir()
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    task = render_task(dest, validate="haproxy -c -f %s", owner=user, group=group, mode='"0640"')
    first = playbook(ansible, work, task)
    assert (first.returncode, first.changed, first.failed) == (0, 1, 0), first.output
    assert dest.read_text(encoding="utf-8") == expected(work / "spec.yaml", "haproxy")
    assert dest.stat().st_mode & 0o777 == 0o640
    mtime = dest.stat().st_mtime_ns

    second = playbook(ansible, work, task)
    assert (second.returncode, second.changed, second.failed) == (0, 0, 0), second.output
    assert dest.stat().st_mtime_ns == mtime


def test_check_mode_changes_nothing_on_disk(ansible: Ansible, work: Path) -> None:
    dest = work / "haproxy.cfg"
    task = render_task(dest)
    would_create = playbook(ansible, work, task, "--check")
    assert (would_create.changed, would_create.failed) == (1, 0), would_create.output
    assert not dest.exists()

    assert playbook(ansible, work, task).changed == 1
    before, mtime = digest(dest), dest.stat().st_mtime_ns
    set_weight(work / "spec.yaml", 50, 25)
    would_change = playbook(ansible, work, task, "--check")
    assert (would_change.changed, would_change.failed) == (1, 0), would_change.output
    assert (digest(dest), dest.stat().st_mtime_ns) == (before, mtime)


def test_diff_mode_shows_the_weight_change_and_backup_keeps_the_old_file(
    ansible: Ansible, work: Path
) -> None:
    dest = work / "haproxy.cfg"
    task = render_task(dest, backup="true")
    assert playbook(ansible, work, task).changed == 1
    old = dest.read_text(encoding="utf-8")
    set_weight(work / "spec.yaml", 50, 25)

    run = playbook(ansible, work, task, "--diff")
    assert (run.changed, run.failed) == (1, 0), run.output
    removed = [line for line in run.output.splitlines() if line.startswith("-    server")]
    added = [line for line in run.output.splitlines() if line.startswith("+    server")]
    assert removed == [
        "-    server k8s-master2 192.168.2.2:6443 check check-ssl verify none weight 50"
    ]
    assert added == [
        "+    server k8s-master2 192.168.2.2:6443 check check-ssl verify none weight 25"
    ]
    assert "+++ after: lbgen render spec.yaml -t haproxy" in run.output
    assert dest.read_text(encoding="utf-8") == expected(work / "spec.yaml", "haproxy")
    backups = [
        p for p in work.iterdir() if p.name.startswith("haproxy.cfg.") and p.name.endswith("~")
    ]
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == old


def test_a_bad_spec_fails_the_task_with_its_location(ansible: Ansible, work: Path) -> None:
    spec = work / "spec.yaml"
    set_weight(spec, 50, 300)
    with pytest.raises(SpecError) as raised:
        lbgen.load_spec(spec)
    (error,) = raised.value.diagnostics
    dest = work / "haproxy.cfg"

    run = playbook(ansible, work, render_task(dest))
    assert (run.returncode, run.failed) == (2, 1), run.output
    where = f"{spec}:{error.line}:{error.col}: error [weight] "
    assert where + "pools.control-plane.servers.k8s-master2.weight: must be 0..256 (got 300)" in (
        run.output
    )
    assert not dest.exists()


def test_a_config_that_validate_rejects_leaves_dest_untouched(ansible: Ansible, work: Path) -> None:
    dest = work / "haproxy.cfg"
    task = render_task(dest, validate="haproxy -c -f %s")
    assert playbook(ansible, work, task).changed == 1
    before, mtime = digest(dest), dest.stat().st_mtime_ns
    # A valid spec whose config HAProxy refuses: the check's client certificate does not exist.
    spec = work / "spec.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(
        text.replace(
            "    rise: 2\n", "    rise: 2\n    client_cert: /nonexistent/lbgen-client.pem\n"
        ),
        encoding="utf-8",
    )
    assert "crt /nonexistent/lbgen-client.pem" in expected(spec, "haproxy")

    run = playbook(ansible, work, task)
    assert (run.returncode, run.failed) == (2, 1), run.output
    assert "failed to validate" in run.output
    assert "unable to stat SSL certificate from file '/nonexistent/lbgen-client.pem'" in run.output
    assert (digest(dest), dest.stat().st_mtime_ns) == (before, mtime)


INLINE_SPEC = """\
version: 1
name: inline
frontends:
  api: {bind: ["127.0.0.1:16443"], pool: cp}
pools:
  cp:
    balance: leastconn
    servers:
      m1: 127.0.0.1:6443
      m2: {address: "127.0.0.2:6443", weight: 50}
"""


def test_inline_spec_from_variables(ansible: Ansible, tmp_path: Path) -> None:
    (tmp_path / "inline.yaml").write_text(INLINE_SPEC, encoding="utf-8")
    vars_ = "lb_spec:\n" + textwrap.indent(INLINE_SPEC, "  ")
    vars_ += "lb_spec_text: |\n" + textwrap.indent(INLINE_SPEC, "  ")
    tasks = f"""\
    - name: nginx stream block from a dict in variables
      lbgen.lbgen.lbgen_render:
        spec_content: "{{{{ lb_spec }}}}"
        target: nginx
        layout: stream
        dest: {tmp_path / "stream.conf"}
    - name: haproxy.cfg from a YAML string in variables
      lbgen.lbgen.lbgen_render:
        spec_content: "{{{{ lb_spec_text }}}}"
        target: haproxy
        dest: {tmp_path / "haproxy.cfg"}
        validate: haproxy -c -f %s
    """
    first = playbook(ansible, tmp_path, tasks, vars_=vars_)
    assert (first.changed, first.failed) == (2, 0), first.output
    spec = lbgen.load_spec(tmp_path / "inline.yaml")
    assert (tmp_path / "stream.conf").read_text(encoding="utf-8") == lbgen.render(
        spec, "nginx", layout="stream"
    ).text
    assert (tmp_path / "haproxy.cfg").read_text(encoding="utf-8") == lbgen.render(
        spec, "haproxy"
    ).text

    second = playbook(ansible, tmp_path, tasks, vars_=vars_)
    assert (second.changed, second.failed) == (0, 0), second.output


def test_the_command_module_recipe_is_idempotent(ansible: Ansible, tmp_path: Path) -> None:
    """README, "Ansible without the collection": ``render -o`` alone through the command module,
    with the ``changed_when`` the README gives, reports a change once, then none."""
    (tmp_path / "inline.yaml").write_text(INLINE_SPEC, encoding="utf-8")
    dest = tmp_path / "haproxy.cfg"
    tasks = f"""\
    - ansible.builtin.command: {sys.executable} -m lbgen render {tmp_path / "inline.yaml"} -t haproxy -o {dest}
      register: out
      changed_when: "not out.stderr.endswith(' unchanged')"
    """  # noqa: E501
    first = playbook(ansible, tmp_path, tasks)
    assert (first.changed, first.failed) == (1, 0), first.output
    second = playbook(ansible, tmp_path, tasks)
    assert (second.changed, second.failed) == (0, 0), second.output


def test_a_key_ansible_reads_as_a_boolean_is_refused(ansible: Ansible, tmp_path: Path) -> None:
    """A server named ``on`` in variables is the boolean True to Ansible's YAML 1.1: once
    rendered as ``server True ...`` without a word; now the task fails and names the key."""
    spec = INLINE_SPEC.replace("      m1: 127.0.0.1:6443\n", "      on: 127.0.0.1:6443\n")
    vars_ = "lb_spec:\n" + textwrap.indent(spec, "  ")
    dest = tmp_path / "haproxy.cfg"
    tasks = f"""\
    - lbgen.lbgen.lbgen_render:
        spec_content: "{{{{ lb_spec }}}}"
        target: haproxy
        dest: {dest}
    """
    run = playbook(ansible, tmp_path, tasks, vars_=vars_)
    assert run.failed == 1, run.output
    assert "spec_content.pools.cp.servers: key True is a bool, not a name" in run.output
    assert not dest.exists()


def test_translation_warnings_are_ansible_warnings_and_strict_fails(
    ansible: Ansible, work: Path
) -> None:
    dest = work / "stream.conf"
    run = playbook(ansible, work, render_task(dest, target="nginx"))
    assert (run.changed, run.failed) == (1, 0), run.output
    warnings = [line for line in run.output.splitlines() if line.startswith("[WARNING]: ")]
    assert any(
        f"{work / 'spec.yaml'}:19:11: warning [nginx-unsupported] defaults.health.rise" in line
        for line in warnings
    ), run.output

    dest.unlink()
    strict = playbook(ansible, work, render_task(dest, target="nginx", strict="true"))
    assert strict.failed == 1, strict.output
    assert "error [nginx-unsupported] defaults.health.rise" in strict.output
    assert not dest.exists()


# --- vault, force, nginx validation, the install hint -------------------------------------------


def vault_encrypt(ansible: Ansible, folder: Path, name: str) -> Path:
    """Encrypt ``folder/name`` in place with ``ansible-vault``; the password file's path."""
    password = folder / "vault-password"
    password.write_text("lbgen-test-vault-password\n", encoding="utf-8")
    password.chmod(0o600)
    result = ansible.run(
        "vault", "encrypt", "--vault-password-file", str(password), name, cwd=folder
    )
    assert result.returncode == 0, result.stdout
    assert (folder / name).read_text(encoding="utf-8").startswith("$ANSIBLE_VAULT;")
    return password


def test_a_vault_encrypted_spec_is_decrypted_like_copy_does(ansible: Ansible, work: Path) -> None:
    dest = work / "haproxy.cfg"
    plain = expected(work / "spec.yaml", "haproxy")
    password = vault_encrypt(ansible, work, "spec.yaml")
    task = render_task(dest, validate="haproxy -c -f %s")
    run = playbook(ansible, work, task, "--vault-password-file", str(password))
    assert (run.returncode, run.changed, run.failed) == (0, 1, 0), run.output
    assert dest.read_text(encoding="utf-8") == plain
    again = playbook(ansible, work, task, "--vault-password-file", str(password))
    assert (again.changed, again.failed) == (0, 0), again.output


def test_an_error_in_a_vault_encrypted_spec_names_the_spec(ansible: Ansible, work: Path) -> None:
    """Positions refer to the decrypted text and name the spec, not a temporary copy."""
    spec = work / "spec.yaml"
    set_weight(spec, 50, 300)
    with pytest.raises(SpecError) as raised:
        lbgen.load_spec(spec)
    (error,) = raised.value.diagnostics
    password = vault_encrypt(ansible, work, "spec.yaml")
    dest = work / "haproxy.cfg"
    run = playbook(ansible, work, render_task(dest), "--vault-password-file", str(password))
    assert (run.returncode, run.failed) == (2, 1), run.output
    assert f"{spec}:{error.line}:{error.col}: error [weight] " in run.output, run.output
    assert not dest.exists()


def test_force_false_leaves_an_existing_dest_alone(ansible: Ansible, work: Path) -> None:
    dest = work / "haproxy.cfg"
    dest.write_text("# the host's own config\n", encoding="utf-8")
    kept = playbook(ansible, work, render_task(dest, force="false"))
    assert (kept.changed, kept.failed) == (0, 0), kept.output
    assert dest.read_text(encoding="utf-8") == "# the host's own config\n"

    dest.unlink()
    created = playbook(ansible, work, render_task(dest, force="false"))
    assert (created.changed, created.failed) == (1, 0), created.output
    assert dest.read_text(encoding="utf-8") == expected(work / "spec.yaml", "haproxy")

    replaced = work / "other.cfg"
    replaced.write_text("# old\n", encoding="utf-8")
    forced = playbook(ansible, work, render_task(replaced))  # force defaults to true, as in copy
    assert (forced.changed, forced.failed) == (1, 0), forced.output
    assert replaced.read_text(encoding="utf-8") == expected(work / "spec.yaml", "haproxy")


@pytest.mark.parametrize("trailing_slash", [False, True])
def test_a_dest_that_is_a_directory_is_refused_as_copy_refuses_content(
    ansible: Ansible, work: Path, trailing_slash: bool
) -> None:
    """The rendering has no file name: writing it into the folder under a made-up one (what
    copy does with a src file) left the real config stale and reported success."""
    folder = work / "conf.d"
    if not trailing_slash:
        folder.mkdir()
    dest = f"{folder}/" if trailing_slash else str(folder)
    run = playbook(
        ansible, work, render_task(Path(dest)).replace(f"dest: {Path(dest)}", f"dest: {dest}")
    )
    assert (run.changed, run.failed) == (0, 1), run.output
    assert "can not use content with a dir as dest" in run.output
    assert not folder.exists() or list(folder.iterdir()) == []


def test_dest_is_expanded_on_the_managed_host_not_on_the_controller(
    ansible: Ansible, work: Path
) -> None:
    """copy expands ~ and $VAR in dest where the file is written (the task's environment, the
    become user's home); the controller's expansion wrote elsewhere."""
    host_side, controller_side = work / "host", work / "controller"
    host_side.mkdir()
    controller_side.mkdir()
    # The same variable on the controller, naming another folder: where the old expansion wrote.
    ansible = replace(ansible, env={**ansible.env, "LBGEN_TEST_HOST_DIR": str(controller_side)})
    task = textwrap.dedent(
        f"""\
        - lbgen.lbgen.lbgen_render:
            spec: spec.yaml
            target: haproxy
            dest: "$LBGEN_TEST_HOST_DIR/haproxy.cfg"
          environment:
            LBGEN_TEST_HOST_DIR: {host_side}
        """
    )
    run = playbook(ansible, work, task)
    assert (run.changed, run.failed) == (1, 0), run.output
    assert (host_side / "haproxy.cfg").read_text(encoding="utf-8") == expected(
        work / "spec.yaml", "haproxy"
    )
    assert list(controller_side.iterdir()) == []


def test_follow_writes_through_a_symlinked_dest(ansible: Ansible, work: Path) -> None:
    real = work / "real"
    real.mkdir()
    (real / "haproxy.cfg").write_text("# old\n", encoding="utf-8")
    link = work / "haproxy.cfg"
    link.symlink_to(real / "haproxy.cfg")
    run = playbook(ansible, work, render_task(link, follow="true"))
    assert (run.changed, run.failed) == (1, 0), run.output
    assert link.is_symlink()
    assert (real / "haproxy.cfg").read_text(encoding="utf-8") == expected(
        work / "spec.yaml", "haproxy"
    )


def test_mode_preserve_takes_the_spec_files_mode(ansible: Ansible, work: Path) -> None:
    """As template takes its template's: copy alone would take its temporary file's mode, which
    the controller's umask decides."""
    (work / "spec.yaml").chmod(0o604)
    dest = work / "haproxy.cfg"
    run = playbook(ansible, work, render_task(dest, mode="preserve"))
    assert (run.changed, run.failed) == (1, 0), run.output
    assert dest.stat().st_mode & 0o777 == 0o604

    inline = textwrap.dedent(
        f"""\
        - lbgen.lbgen.lbgen_render:
            spec_content: "{{{{ lookup('file', 'spec.yaml') }}}}"
            target: haproxy
            dest: {work / "inline.cfg"}
            mode: preserve
        """
    )
    refused = playbook(ansible, work, inline)
    assert refused.failed == 1, refused.output
    assert "mode: preserve takes the spec file's mode; spec_content has none" in refused.output
    assert not (work / "inline.cfg").exists()


def test_a_date_in_spec_content_is_named_with_its_path(ansible: Ansible, tmp_path: Path) -> None:
    task = textwrap.dedent(
        f"""\
        - lbgen.lbgen.lbgen_render:
            spec_content:
              version: 1
              name: 2024-01-01
              frontends: {{api: {{bind: ["127.0.0.1:6443"], pool: cp}}}}
              pools: {{cp: {{servers: {{m1: "127.0.0.1:7001"}}}}}}
            target: haproxy
            dest: {tmp_path / "haproxy.cfg"}
        """
    )
    run = playbook(ansible, tmp_path, task)
    assert run.failed == 1, run.output
    assert "lbgen: spec_content.name: 2024-01-01 is a" in run.output
    assert "quote it" in run.output and "Traceback" not in run.output
    assert not (tmp_path / "haproxy.cfg").exists()


def module_examples() -> list[dict[str, object]]:
    """The EXAMPLES of the module's documentation, parsed."""
    from ruamel.yaml import YAML

    source = (COLLECTION / "plugins" / "modules" / "lbgen_render.py").read_text(encoding="utf-8")
    text = source.split('EXAMPLES = r"""', 1)[1].split('"""', 1)[0]
    tasks: list[dict[str, object]] = YAML(typ="safe").load(text)
    return tasks


def documented_nginx_validate(layout: str) -> tuple[str, str | None]:
    """The documented ``validate`` (and ``load_module``) of the nginx example for ``layout``."""
    for task in module_examples():
        args = task["lbgen.lbgen.lbgen_render"]
        assert isinstance(args, dict)
        if args["target"] == "nginx" and args.get("layout") == layout:
            return str(args["validate"]), args.get("load_module")
    raise AssertionError(f"no nginx {layout} example with validate")


@pytest.mark.parametrize("layout", ["full", "stream"])
def test_documented_nginx_validate_accepts_a_good_config_and_rejects_a_bad_one(
    ansible: Ansible, tmp_path: Path, layout: str
) -> None:
    """The module's nginx validate recipes, run by copy on this machine's nginx (Debian's, with
    the dynamic stream module): a good spec is installed, one whose server nginx cannot resolve
    is refused and leaves dest as it was."""
    validate, load_module = documented_nginx_validate(layout)
    assert "%s" in validate
    (tmp_path / "spec.yaml").write_text(INLINE_SPEC, encoding="utf-8")
    dest = tmp_path / f"nginx-{layout}.conf"
    options = {"layout": layout, "validate": json.dumps(validate)}  # JSON is YAML
    if load_module:
        options["load_module"] = str(load_module)
    task = render_task(dest, target="nginx", **options)
    good = playbook(ansible, tmp_path, task)
    assert (good.changed, good.failed) == (1, 0), good.output
    spec = lbgen.load_spec(tmp_path / "spec.yaml")
    extra = {"load_module": load_module} if load_module else {}
    rendering = lbgen.render(spec, "nginx", layout=layout, **extra)
    assert dest.read_text(encoding="utf-8") == rendering.text
    before = digest(dest)

    bad = INLINE_SPEC.replace("127.0.0.2:6443", "lbgen-no-such-host.invalid:6443")
    (tmp_path / "spec.yaml").write_text(bad, encoding="utf-8")
    refused = playbook(ansible, tmp_path, task)
    assert (refused.returncode, refused.failed) == (2, 1), refused.output
    assert "failed to validate" in refused.output
    assert 'host not found in upstream \\"lbgen-no-such-host.invalid:6443\\"' in refused.output
    assert digest(dest) == before


def test_without_lbgen_the_task_says_how_to_install_it(ansible: Ansible, work: Path) -> None:
    """lbgen is not on a package index: the hint installs it from a checkout or a git URL."""
    hidden = work / "no-lbgen"
    (hidden / "lbgen").mkdir(parents=True)
    (hidden / "lbgen" / "__init__.py").write_text(
        "raise ImportError(\"No module named 'lbgen'\")\n", encoding="utf-8"
    )
    env = dict(ansible.env, PYTHONPATH=str(hidden))
    run = playbook(Ansible(env, ansible.collections), work, render_task(work / "haproxy.cfg"))
    assert run.failed == 1, run.output
    assert "lbgen is not installed for the Python that runs Ansible" in run.output
    assert f"{sys.executable} -m pip install /path/to/lbgen" in run.output
    assert "pip install git+" in run.output
    assert "pip install lbgen'" not in run.output


# --- keepalived per host: a tier of nodes from the vip section ------------------------------------

HA_TIER = REPO / "examples" / "ha-tier.yaml"
HOST_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+"
    r"failed=(?P<failed>\d+)",
    re.M,
)


@dataclass(frozen=True)
class TierPlay:
    """One ``ansible-playbook`` run over the tier's hosts: exit code, output, per-host recap."""

    returncode: int
    output: str
    changed: dict[str, int]
    failed: dict[str, int]


def documented_keepalived_task() -> dict[str, object]:
    """The arguments of the module documentation's keepalived example."""
    for task in module_examples():
        args = task["lbgen.lbgen.lbgen_render"]
        assert isinstance(args, dict)
        if args["target"] == "keepalived":
            return args
    raise AssertionError("no keepalived example")


@pytest.fixture
def tier(tmp_path: Path) -> Path:
    """A play folder with the 3-node example spec as spec.yaml, an inventory of three hosts run
    locally (lb1 and lb2 named as the spec's vip nodes; ``edge3`` maps to lb3 with a host
    variable), and an ``lbgen`` command on PATH for ``validate`` (lbgen on the managed host)."""
    (tmp_path / "spec.yaml").write_text(HA_TIER.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "inventory.ini").write_text(
        textwrap.dedent(
            f"""\
            [loadbalancers]
            lb1
            lb2
            edge3 lb_node=lb3

            [loadbalancers:vars]
            ansible_connection=local
            ansible_python_interpreter={sys.executable}
            """
        ),
        encoding="utf-8",
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "lbgen").write_text(f'#!/bin/sh\nexec {sys.executable} -m lbgen "$@"\n')
    (bin_dir / "lbgen").chmod(0o755)
    return tmp_path


def tier_play(ansible: Ansible, folder: Path, *args: str) -> TierPlay:
    """Render every host's keepalived.conf into ``folder/HOST/keepalived.conf`` with the
    documented task (its ``validate``), ``node`` from ``lb_node`` where the host has one."""
    documented = documented_keepalived_task()
    assert "node" not in documented  # the example relies on the inventory_hostname default
    task = {
        **documented,
        "spec": "spec.yaml",
        "dest": f"{folder}/{{{{ inventory_hostname }}}}/keepalived.conf",
        "node": "{{ lb_node | default(omit) }}",
    }
    play = [
        {
            "hosts": "loadbalancers",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "directory per host",
                    "ansible.builtin.file": {
                        "path": f"{folder}/{{{{ inventory_hostname }}}}",
                        "state": "directory",
                    },
                },
                {"name": "keepalived.conf of this host", "lbgen.lbgen.lbgen_render": task},
            ],
        }
    ]
    (folder / "tier.yml").write_text(json.dumps(play, indent=2), encoding="utf-8")  # JSON is YAML
    return run_tier(ansible, folder, "tier.yml", *args)


def run_tier(ansible: Ansible, folder: Path, play: str, *args: str) -> TierPlay:
    """Run ``folder/play`` over the tier's inventory, ``folder/bin`` first on PATH."""
    env = dict(ansible.env, PATH=f"{folder / 'bin'}{os.pathsep}{ansible.env['PATH']}")
    result = Ansible(env, ansible.collections).run(
        "playbook", "-i", "inventory.ini", play, *args, cwd=folder
    )
    recap = {m["host"]: m for m in HOST_RECAP.finditer(result.stdout)}
    assert recap, f"no PLAY RECAP in:\n{result.stdout}"
    return TierPlay(
        result.returncode,
        result.stdout,
        {host: int(m["changed"]) for host, m in recap.items()},
        {host: int(m["failed"]) for host, m in recap.items()},
    )


NODE_OF = {"lb1": "lb1", "lb2": "lb2", "edge3": "lb3"}


def keepalived_files(folder: Path) -> dict[str, Path]:
    """Each host's installed keepalived.conf."""
    return {host: folder / host / "keepalived.conf" for host in NODE_OF}


def test_keepalived_renders_each_hosts_own_node_and_a_second_run_changes_nothing(
    ansible: Ansible, tier: Path
) -> None:
    first = tier_play(ansible, tier)
    assert first.returncode == 0, first.output
    # changed=2 per host: the folder, then the config (validated by keepalived -t on the way).
    assert first.changed == {"lb1": 2, "lb2": 2, "edge3": 2}, first.output
    spec = lbgen.load_spec(tier / "spec.yaml")
    files = keepalived_files(tier)
    for host, node in NODE_OF.items():
        text = files[host].read_text(encoding="utf-8")
        assert text == lbgen.render(spec, "keepalived", node=node).text
        assert f"# node: {node}\n" in text and f"router_id {node}\n" in text
    assert files["lb1"].stat().st_mode & 0o777 == 0o640  # the documented mode
    priorities = {
        host: re.findall(r"^\s+priority (\d+)$", files[host].read_text(encoding="utf-8"), re.M)
        for host in NODE_OF
    }
    assert len({tuple(p) for p in priorities.values()}) == 3, priorities  # three distinct nodes
    stamps = {host: path.stat().st_mtime_ns for host, path in files.items()}

    second = tier_play(ansible, tier)
    assert second.returncode == 0, second.output
    assert second.changed == {"lb1": 0, "lb2": 0, "edge3": 0}, second.output
    assert {host: path.stat().st_mtime_ns for host, path in files.items()} == stamps


def set_router_id(spec: Path, old: int, new: int) -> None:
    """Edit vip.virtual_router_id of the tier spec."""
    text = spec.read_text(encoding="utf-8")
    assert f"virtual_router_id: {old}\n" in text
    spec.write_text(text.replace(f"virtual_router_id: {old}\n", f"virtual_router_id: {new}\n"))


def test_keepalived_check_mode_writes_nothing_and_diff_shows_the_change(
    ansible: Ansible, tier: Path
) -> None:
    files = keepalived_files(tier)
    would_create = tier_play(ansible, tier, "--check")
    assert would_create.returncode == 0, would_create.output
    assert would_create.changed == {"lb1": 2, "lb2": 2, "edge3": 2}, would_create.output
    assert not any(path.exists() for path in files.values())

    assert tier_play(ansible, tier).returncode == 0
    before = {host: (digest(p), p.stat().st_mtime_ns) for host, p in files.items()}
    set_router_id(tier / "spec.yaml", 51, 52)
    would_change = tier_play(ansible, tier, "--check", "--diff")
    assert would_change.returncode == 0, would_change.output
    assert would_change.changed == {"lb1": 1, "lb2": 1, "edge3": 1}, would_change.output
    lines = would_change.output.splitlines()
    assert lines.count("-    virtual_router_id 51") == 3, would_change.output
    assert lines.count("+    virtual_router_id 52") == 3, would_change.output
    for node in NODE_OF.values():
        assert f"+++ after: lbgen render spec.yaml -t keepalived --node {node}" in lines
    assert {host: (digest(p), p.stat().st_mtime_ns) for host, p in files.items()} == before


def test_keepalived_validate_failure_leaves_every_hosts_config_untouched(
    ansible: Ansible, tier: Path
) -> None:
    files = keepalived_files(tier)
    assert tier_play(ansible, tier).returncode == 0
    before = {host: (digest(p), p.stat().st_mtime_ns) for host, p in files.items()}
    # A valid spec whose config keepalived refuses here: the interface does not exist.
    spec = tier / "spec.yaml"
    spec.write_text(spec.read_text().replace("interface: eth0\n", "interface: lbgen-none0\n"))
    assert (
        "interface lbgen-none0\n"
        in lbgen.render(lbgen.load_spec(spec), "keepalived", node="lb1").text
    )

    run = tier_play(ansible, tier)
    assert run.returncode == 2, run.output
    assert run.failed == {"lb1": 1, "lb2": 1, "edge3": 1}, run.output
    assert run.output.count('"msg": "failed to validate"') == 3, run.output
    assert "Non-existent interface specified in configuration" in run.output
    assert "keepalived (local) rejected the config" in run.output
    assert {host: (digest(p), p.stat().st_mtime_ns) for host, p in files.items()} == before


def test_keepalived_node_errors(ansible: Ansible, tmp_path: Path) -> None:
    """A host that is no vip node fails with the nodes and the default named; ``node`` with
    a proxy target is refused; nothing is written."""
    (tmp_path / "spec.yaml").write_text(HA_TIER.read_text(encoding="utf-8"), encoding="utf-8")
    dest = tmp_path / "keepalived.conf"
    unknown = playbook(ansible, tmp_path, render_task(dest, target="keepalived"))
    assert (unknown.returncode, unknown.failed) == (2, 1), unknown.output
    assert "no node 'localhost' in vip.nodes (lb1, lb2, lb3)" in unknown.output
    assert "node defaults to inventory_hostname, 'localhost'" in unknown.output

    misplaced = playbook(ansible, tmp_path, render_task(dest, node="lb1"))
    assert (misplaced.returncode, misplaced.failed) == (2, 1), misplaced.output
    assert "node is for the per-node target keepalived, not haproxy" in misplaced.output
    assert not dest.exists()


def test_the_collection_readme_tier_playbook_installs_both_configs_and_notifies(
    ansible: Ansible, tier: Path
) -> None:
    """The collection README's whole-tier playbook, run as written except for what this machine
    cannot do: ``dest`` under the test folder, no ``become``, handlers as ``debug`` tasks."""
    from ruamel.yaml import YAML

    readme = (COLLECTION / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Example: the whole tier", 1)[1].split("```yaml\n", 1)[1]
    (play,) = YAML(typ="safe").load(block.split("```", 1)[0])
    play.pop("become")
    for task in play["tasks"]:
        args = task["lbgen.lbgen.lbgen_render"]
        args["dest"] = f"{tier}/{{{{ inventory_hostname }}}}/{Path(args['dest']).name}"
    play["handlers"] = [
        {"name": h["name"], "ansible.builtin.debug": {"msg": f"handler {h['name']}"}}
        for h in play["handlers"]
    ]
    (tier / "lb").mkdir()
    (tier / "lb" / "ha-tier.yaml").write_text(HA_TIER.read_text(encoding="utf-8"))
    (tier / "site.yml").write_text(json.dumps([play], indent=2), encoding="utf-8")
    (tier / "inventory.ini").write_text(
        (tier / "inventory.ini").read_text().replace("edge3 lb_node=lb3", "lb3")
    )
    hosts = ("lb1", "lb2", "lb3")
    for host in hosts:
        (tier / host).mkdir()

    first = run_tier(ansible, tier, "site.yml")
    assert first.returncode == 0, first.output
    assert first.changed == dict.fromkeys(hosts, 2), first.output
    spec = lbgen.load_spec(tier / "lb" / "ha-tier.yaml")
    for host in hosts:
        assert (tier / host / "haproxy.cfg").read_text() == lbgen.render(spec, "haproxy").text
        keepalived = lbgen.render(spec, "keepalived", node=host).text
        assert (tier / host / "keepalived.conf").read_text() == keepalived
    for handler in ("Reload haproxy", "Restart keepalived"):
        assert first.output.count(f'"msg": "handler {handler}"') == 3, first.output
    assert "handler Reload nginx" not in first.output

    second = run_tier(ansible, tier, "site.yml")
    assert second.returncode == 0, second.output
    assert second.changed == dict.fromkeys(hosts, 0), second.output
    assert "RUNNING HANDLER" not in second.output
