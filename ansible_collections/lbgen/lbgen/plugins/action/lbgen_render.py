# Copyright: lbgen maintainers
# Apache License 2.0 (see the lbgen repository's pyproject.toml)
"""Action plugin ``lbgen.lbgen.lbgen_render``.

Rendering happens here, on the controller, where lbgen is installed: managed hosts need nothing
but the engine. The rendered text is written to a local temporary file and handed to
``ansible.legacy.copy`` as its ``content``, so ``changed``, check mode, diff mode, ``validate``,
``backup``, ``follow`` and ``owner``/``group``/``mode`` behave as users know them from ``copy``
and ``template``, on every connection type; and, as with ``content``, a ``dest`` that is a
directory is refused (the rendering has no file name to put in it).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

#: Targets that render one config per node of the spec's ``vip`` tier (``node`` applies).
NODE_TARGETS = ("keepalived",)

#: Arguments that are lbgen's own; everything else listed in COPY_ARGS goes to copy unchanged.
LBGEN_ARGS: dict[str, dict[str, Any]] = {
    "spec": {"type": "str"},
    "spec_content": {"type": "raw"},
    "target": {
        "type": "str",
        "required": True,
        "choices": ["haproxy", "nginx", "nginx-plus", *NODE_TARGETS],
    },
    "node": {"type": "str"},
    "layout": {"type": "str", "choices": ["full", "stream", "upstreams"]},
    "strict": {"type": "bool", "default": False},
    "load_module": {"type": "str"},
    "templates": {"type": "str"},
}
COPY_ARGS: dict[str, dict[str, Any]] = {
    # "str", not "path": a "path" is expanded (~, $VAR) here on the controller, and copy expands
    # dest on the managed host, as the become user.
    "dest": {"type": "str", "required": True},
    "follow": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": True},
    "validate": {"type": "str"},
    "backup": {"type": "bool", "default": False},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "raw"},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "unsafe_writes": {"type": "bool", "default": False},
}


def _plain(value: Any, path: str = "spec_content") -> Any:
    """Variables arrive as Ansible's own str/int/dict subclasses: make them plain for JSON.

    A key that is not a string is refused rather than turned into one: Ansible reads YAML 1.1,
    where an unquoted ``on``, ``yes`` or ``no`` is a boolean, so a server named ``on`` would
    become ``True`` without a word (lbgen reads a spec file as YAML 1.2, where it stays ``on``).
    """
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise AnsibleActionFail(
                    f"lbgen: {path}: key {key!r} is a {type(key).__name__}, not a name: Ansible "
                    "reads an unquoted on/off/yes/no (and numbers) as such; quote the key"
                )
        return {str(k): _plain(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    if value is None:
        return value
    # A date, say: Ansible reads an unquoted 2024-01-01 as one, and JSON has none.
    raise AnsibleActionFail(
        f"lbgen: {path}: {value} is a {type(value).__name__.lstrip('_')}, not text or a number: "
        "Ansible reads some unquoted values (dates, for one) as such; quote it"
    )


class ActionModule(ActionBase):
    """Render an lbgen spec on the controller; install the result like ``copy``."""

    TRANSFERS_FILES = True
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate arguments, render, then run ``ansible.legacy.copy`` with the rendered file."""
        task_vars = task_vars or {}
        super().run(tmp, task_vars)
        del tmp  # unused since Ansible 2.x, kept in the signature for compatibility
        _, args = self.validate_argument_spec(
            argument_spec={**LBGEN_ARGS, **COPY_ARGS},
            mutually_exclusive=[("spec", "spec_content")],
            required_one_of=[("spec", "spec_content")],
        )
        try:
            args["node"] = self._node(args, task_vars)
            rendered, notes = self._render(args)
            return self._install(args, rendered, notes, task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    # -- rendering (controller side) ------------------------------------------------------------

    @staticmethod
    def _node(args: dict[str, Any], task_vars: dict[str, Any]) -> str | None:
        """The vip node a per-node target renders for: ``node``, else the host's
        ``inventory_hostname``. Resolved here, in the action plugin, because it runs on the
        controller with the host's variables: a playbook needs no ``node:`` line when its
        inventory names the hosts as the spec's ``vip.nodes`` do."""
        if args["target"] not in NODE_TARGETS:
            if args["node"] is not None:
                raise AnsibleActionFail(
                    f"lbgen: node is for the per-node target keepalived, not {args['target']}"
                )
            return None
        if args["node"] is not None:
            return str(args["node"])
        return str(task_vars["inventory_hostname"])

    def _render(self, args: dict[str, Any]) -> tuple[Any, list[Any]]:
        try:
            import lbgen
            from lbgen.diagnostics import Level, SpecError, format_text
        except ImportError as exc:
            raise AnsibleActionFail(
                f"lbgen is not installed for the Python that runs Ansible ({sys.executable}): "
                f"install it on the controller from a checkout of the lbgen repository, "
                f"'{sys.executable} -m pip install /path/to/lbgen' (or 'pip install "
                f"git+URL' of the repository); lbgen is not on a package index ({exc})"
            ) from None
        source: Any
        if args["spec"] is not None:
            source, filename = self._read_spec(args["spec"])
        else:
            content = args["spec_content"]
            if isinstance(content, Mapping):
                # JSON is YAML: a dict from variables keeps its key order (the output order).
                source = json.dumps(_plain(content), indent=2).encode("utf-8")
            else:
                source = to_bytes(content, errors="surrogate_or_strict")
            filename = "spec_content"
        spec: Any = None
        try:
            spec = lbgen.load_spec(source, filename=filename)
            # allow_errors: the errors are reported below, as the task's failure message.
            options: dict[str, Any] = {"strict": args["strict"], "allow_errors": True}
            if args["load_module"] is not None:
                options["load_module"] = args["load_module"]
            if args["node"] is not None:
                options["node"] = args["node"]
            if args["templates"] is not None:
                options["templates"] = self._find_needle("templates", args["templates"])
            rendered = lbgen.render(spec, args["target"], layout=args["layout"], **options)
        except SpecError as exc:
            raise AnsibleActionFail(
                "lbgen: the spec is not valid\n" + format_text(exc.diagnostics)
            ) from None
        except ValueError as exc:  # an unknown layout, or vip node, for the target (TargetError)
            hint = ""
            vip = spec.vip if spec is not None else None
            defaulted = args["node"] is not None and self._task.args.get("node") is None
            if defaulted and vip is not None and args["node"] not in {n.name for n in vip.nodes}:
                hint = (
                    f" (node defaults to inventory_hostname, {args['node']!r}; name the host's"
                    " vip node with node:)"
                )
            raise AnsibleActionFail(f"lbgen: {exc}{hint}") from None
        if not rendered.ok:
            errors = [d for d in rendered.diagnostics if d.level is Level.ERROR]
            raise AnsibleActionFail(
                f"lbgen: the spec cannot be rendered for {args['target']}\n" + format_text(errors)
            )
        return rendered, list(rendered.diagnostics)

    def _read_spec(self, spec: str) -> tuple[bytes, str]:
        """The spec file's bytes and its path, found and decrypted as ``copy`` does its ``src``:
        a vault-encrypted spec (``ansible-vault encrypt``) is read with the play's vault
        secrets. Error positions name the spec's path, never the decrypted temporary copy."""
        try:
            path = self._find_needle("files", spec)
            real = self._loader.get_real_file(path, decrypt=True)
        except AnsibleError as exc:
            raise AnsibleActionFail(f"spec {spec}: {to_text(exc)}") from None
        try:
            with open(to_bytes(real, errors="surrogate_or_strict"), "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise AnsibleActionFail(f"spec {spec}: {exc}") from None
        finally:
            self._loader.cleanup_tmp_file(real)
        return data, to_text(path)

    # -- installing (managed host side, through copy) -------------------------------------------

    def _preserved_mode(self, args: dict[str, Any]) -> str:
        """``mode: preserve`` as ``template`` reads it: the mode of the source, here the spec
        file (copy would take its own temporary file's, which the controller's umask decides)."""
        if args["spec"] is None:
            raise AnsibleActionFail(
                "lbgen: mode: preserve takes the spec file's mode; spec_content has none "
                "(give a mode)"
            )
        path = self._find_needle("files", args["spec"])
        mode = stat.S_IMODE(os.stat(to_bytes(path, errors="surrogate_or_strict")).st_mode)
        return f"0{mode:03o}"

    def _install(
        self, args: dict[str, Any], rendered: Any, diagnostics: list[Any], task_vars: dict[str, Any]
    ) -> dict[str, Any]:
        from lbgen.diagnostics import Level, format_text

        new_task = self._task.copy()
        for name in LBGEN_ARGS:
            new_task.args.pop(name, None)
        # content, not a src file: copy then refuses a dest that is a directory (or ends in /)
        # instead of writing the config into it under a made-up name.
        new_task.args.update({"content": rendered.text, "dest": args["dest"]})
        if args["mode"] == "preserve":
            new_task.args["mode"] = self._preserved_mode(args)
        # ansible.legacy: the copy action a playbook would get, local overrides included.
        copy_action = self._shared_loader_obj.action_loader.get(
            "ansible.legacy.copy",
            task=new_task,
            connection=self._connection,
            play_context=self._play_context,
            loader=self._loader,
            templar=self._templar,
            shared_loader_obj=self._shared_loader_obj,
        )
        result: dict[str, Any] = copy_action.run(task_vars=task_vars)
        # The diff's "after" is the rendering: say what rendered it.
        diffs = result.get("diff")
        for diff in diffs if isinstance(diffs, list) else [diffs] if diffs else []:
            if isinstance(diff, dict) and "after_header" in diff:
                node = f" --node {args['node']}" if args["node"] is not None else ""
                diff["after_header"] = (
                    f"lbgen render {args['spec'] or 'spec_content'} -t {args['target']}{node}"
                )
        warnings = [format_text([d]) for d in diagnostics if d.level is Level.WARNING]
        if warnings:
            result["warnings"] = [*result.get("warnings", []), *warnings]
        if "src" in result and "dest" in result:
            # copy's temporary file for the content, already deleted: nothing to show.
            del result["src"]
        result["lbgen"] = {
            "target": rendered.target,
            "layout": rendered.layout,
            "node": args["node"],
            "diagnostics": [format_text([d]) for d in diagnostics],
        }
        return result
