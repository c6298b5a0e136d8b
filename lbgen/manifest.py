"""Which committed file is rendered from which spec: the manifest behind ``lbgen render-all``.

A repository that commits rendered configs (for review, for a GitOps tool, for Ansible's
``copy``) lists them once, in ``.lbgen-outputs.yaml`` at its top::

    outputs:
      - spec: lb/prod.lbgen.yaml
        target: haproxy
        output: rendered/haproxy.cfg
      - spec: lb/prod.lbgen.yaml
        target: nginx
        layout: stream
        output: rendered/nginx-stream.conf

Paths are relative to the manifest's folder, which is the repository: an ``output`` that leads
outside it (through ``..`` or a symlink) is refused, and ``load_module`` must be an absolute path
to a ``.so`` with no whitespace or ``;``. The manifest is what maps a changed file to the
outputs it affects: pre-commit passes the changed file names and :meth:`Manifest.select` keeps the
entries whose spec, output or templates folder is among them (every entry when the manifest itself
changed). ``lbgen render-all --check`` then compares each output with a fresh rendering, and
without ``--check`` rewrites the outdated ones atomically.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from lbgen.diagnostics import Diagnostic, Level, SpecError, has_errors
from lbgen.frozen import record

MANIFEST_NAME = ".lbgen-outputs.yaml"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    spec: str
    target: Literal["haproxy", "nginx", "nginx-plus", "keepalived"]
    output: str
    layout: Literal["full", "stream", "upstreams", "nft"] | None = None
    node: str | None = None
    strict: bool = False
    load_module: str | None = None
    templates: str | None = None

    @field_validator("load_module")
    @classmethod
    def _load_module(cls, value: str | None) -> str | None:
        from lbgen.nginx.view import load_module_problem

        problem = load_module_problem(value) if value is not None else None
        if problem is not None:
            raise PydanticCustomError("load-module", problem)
        return value


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    outputs: Annotated[list[_Entry], Field(min_length=1)]


@record
class Output:
    """One rendered file: from ``spec`` for ``target`` into ``output`` (paths resolved)."""

    spec: Path
    target: str
    output: Path
    layout: str | None = None
    strict: bool = False
    load_module: str | None = None
    templates: Path | None = None
    #: keepalived: the node of the spec's vip tier whose config this is.
    node: str | None = None

    def touches(self, paths: set[Path]) -> bool:
        """True when one of ``paths`` (absolute) is this entry's spec, output or a template."""
        if self.spec in paths or self.output in paths:
            return True
        return self.templates is not None and any(p.is_relative_to(self.templates) for p in paths)


@record
class Manifest:
    """The outputs a repository commits, in manifest order."""

    path: Path
    outputs: tuple[Output, ...]

    def select(self, files: Iterable[str | Path]) -> list[Output]:
        """The entries that ``files`` (as pre-commit passes them) affect; all when the manifest
        itself is among them."""
        changed = set()
        for name in files:
            try:
                changed.add(_resolved(Path(name)))
            except OSError:
                continue  # a symlink loop, say: no entry's path, which all resolved
        if self.path in changed:
            return list(self.outputs)
        return [o for o in self.outputs if o.touches(changed)]


def load_manifest(path: str | Path = MANIFEST_NAME) -> Manifest:
    """Read a manifest; raise :class:`SpecError` (positions included) when it is not valid."""
    from lbgen.spec.load import parse_yaml, read_source, validation_diagnostics

    data, name = read_source(Path(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError([Diagnostic(Level.ERROR, "encoding", "not UTF-8", name, 1, 1)]) from None
    document, source = parse_yaml(text, name)
    try:
        model = _Manifest.model_validate(document if document is not None else {})
    except ValidationError as exc:
        raise SpecError(validation_diagnostics(exc, source, _Manifest)) from None
    base = Path(path).resolve().parent
    unresolved = [
        source.diagnostic(Level.ERROR, "io", ("outputs", index, key), f"{written!r}: {problem}")
        for index, entry in enumerate(model.outputs)
        for key, written in (("spec", entry.spec), ("output", entry.output),
                             ("templates", entry.templates))
        if written is not None and (problem := _unresolvable(base / written)) is not None
    ]  # fmt: skip
    if unresolved:
        raise SpecError(unresolved)
    manifest = Manifest(
        path=Path(path).resolve(),
        outputs=tuple(
            Output(
                spec=_resolved(base / entry.spec),
                target=entry.target,
                output=_resolved(base / entry.output),
                layout=entry.layout,
                strict=entry.strict,
                load_module=entry.load_module,
                templates=_resolved(base / entry.templates) if entry.templates else None,
                node=entry.node,
            )
            for entry in model.outputs
        ),
    )
    problems = [
        source.diagnostic(Level.ERROR, code, ("outputs", index, key), message)
        for index, (entry, output) in enumerate(zip(model.outputs, manifest.outputs, strict=True))
        for key, code, message in _entry_problems(entry, output, manifest, index, base)
    ]
    if problems:
        raise SpecError(problems)
    return manifest


def _resolved(path: Path) -> Path:
    """``path.resolve()``, what the file system refuses raised as :class:`OSError`: Python 3.11
    raises RuntimeError for a symlink loop and ValueError for a NUL character."""
    try:
        return path.resolve()
    except RuntimeError:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path)) from None
    except ValueError:
        raise OSError(errno.EINVAL, "a NUL character cannot be in a file name") from None


def _unresolvable(path: Path) -> str | None:
    """Why ``path`` cannot be resolved and looked at (a symlink loop, a NUL character, a name
    too long), or None."""
    try:
        _resolved(path).exists()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _entry_problems(
    entry: _Entry, output: Output, manifest: Manifest, index: int, base: Path
) -> list[tuple[str, str, str]]:
    """What is wrong with one entry in the light of the others, as (key, code, message): an
    output render-all must not write (outside the repository, inside ``.git``, the manifest, a
    spec or template it reads, another entry's output) and inputs that are not there."""
    problems: list[tuple[str, str, str]] = []
    written = repr(entry.output)
    target = output.output
    if not target.is_relative_to(base):
        problems.append(("output", "outside-repository", (
            f"{written} leads outside the manifest's folder {base} (through .. or a symlink): "
            "render-all writes only inside the repository"
        )))  # fmt: skip
    elif ".git" in target.relative_to(base).parts:
        # Hooks live there: a rendered config written over one would run at the next commit.
        problems.append(
            ("output", "git-folder", f"{written} is inside .git: render-all does not write there")
        )
    if target == manifest.path:
        problems.append(("output", "output-is-input", f"{written} is this manifest"))
    for other_index, other in enumerate(manifest.outputs):
        other_name = f"outputs[{other_index}]"
        if target == other.spec:
            problems.append(("output", "output-is-input", f"{written} is the spec of {other_name}"))
        if other.templates is not None and target.is_relative_to(other.templates):
            problems.append(
                ("output", "output-is-input", f"{written} is in the templates of {other_name}")
            )
        if other_index < index and target == other.output:
            # Each run would write it twice, and --check would always find one of them stale.
            problems.append(
                ("output", "duplicate-output", f"{written} is also the output of {other_name}")
            )
    if not output.spec.is_file():
        problems.append(("spec", "missing-spec", (
            f"{entry.spec!r}: no such file (renamed or deleted? the manifest still names it)"
        )))  # fmt: skip
    if output.templates is not None and not output.templates.is_dir():
        problems.append(("templates", "not-a-folder", f"{entry.templates!r}: not a folder"))
    # keepalived renders one config per node of the vip tier: the entry names its node.
    if entry.target == "keepalived" and entry.node is None:
        problems.append(("target", "missing-node", (
            "target keepalived renders one node's config: name it with node (one entry per node)"
        )))  # fmt: skip
    elif entry.target != "keepalived" and entry.node is not None:
        problems.append(
            ("node", "node-unused", f"node is for target keepalived, not {entry.target}")
        )
    return problems


class Status(StrEnum):
    """What ``render-all`` found or did for one output."""

    UP_TO_DATE = "up to date"
    OUT_OF_DATE = "out of date"
    UNCHANGED = "unchanged"
    WRITTEN = "written"
    CREATED = "created"
    INVALID = "invalid"


@record
class Result:
    """One output's status and the diagnostics of its rendering."""

    output: Output
    status: Status
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: False when the spec itself does not load (``diagnostics`` are then its load errors).
    spec_loaded: bool = True


def shown(path: Path) -> str:
    """A path as the user wrote it: relative to the current folder when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def sync(outputs: Sequence[Output], *, check: bool) -> list[Result]:
    """Render every output; with ``check`` compare only, else write the ones that differ.

    A spec that does not load or render cleanly gives an ``INVALID`` result and writes nothing.
    With ``check``, an outdated output carries an ``out-of-date`` error diagnostic on the output
    file, so that CI annotations point at it.
    """
    from lbgen.output import WriteStatus, compare, plan_write, write_atomic
    from lbgen.rendering import TargetError, TemplateFailure, render
    from lbgen.spec.load import attach, load

    results = []
    for entry in outputs:
        try:
            spec = attach(load(entry.spec, filename=shown(entry.spec)))
        except SpecError as exc:
            results.append(Result(entry, Status.INVALID, exc.diagnostics, spec_loaded=False))
            continue
        try:
            rendered = render(
                spec, entry.target, layout=entry.layout, templates=entry.templates,
                strict=entry.strict, load_module=entry.load_module, node=entry.node,
            )  # fmt: skip
        except (TargetError, TemplateFailure) as exc:
            failed = Diagnostic(Level.ERROR, "render", str(exc), file=shown(entry.output))
            results.append(Result(entry, Status.INVALID, [failed]))
            continue
        except SpecError as exc:  # a value the rendering defence refused
            results.append(Result(entry, Status.INVALID, exc.diagnostics))
            continue
        diagnostics = list(rendered.diagnostics)
        if has_errors(diagnostics):
            results.append(Result(entry, Status.INVALID, diagnostics))
            continue
        try:
            # Exact bytes, like render --check; a file of another size is not read.
            pending = compare(entry.output, rendered.text.encode("utf-8"))
            if check and pending is not WriteStatus.UNCHANGED:
                # What render-all would refuse (exit 2) is no "out of date" (exit 1).
                plan_write(entry.output, rendered.text, make_folders=True)
        except OSError as exc:
            results.append(Result(entry, Status.INVALID, [*diagnostics, _io_error(entry, exc)]))
            continue
        if check:
            if pending is WriteStatus.UNCHANGED:
                results.append(Result(entry, Status.UP_TO_DATE, diagnostics))
            else:
                stale = Diagnostic(
                    Level.ERROR, "out-of-date",
                    f"{shown(entry.output)} is out of date: rendering {shown(entry.spec)} for "
                    f"{entry.target}{f' (node {entry.node})' if entry.node else ''} changes it "
                    "(the lbgen-render-update pre-commit hook or "
                    f"lbgen render-all rewrites it)",
                    file=shown(entry.output),
                )  # fmt: skip
                results.append(Result(entry, Status.OUT_OF_DATE, [*diagnostics, stale]))
            continue
        try:
            outcome = write_atomic(entry.output, rendered.text, make_folders=True)
        except OSError as exc:
            results.append(Result(entry, Status.INVALID, [*diagnostics, _io_error(entry, exc)]))
            continue
        status = {
            WriteStatus.UNCHANGED: Status.UNCHANGED,
            WriteStatus.WRITTEN: Status.WRITTEN,
            WriteStatus.CREATED: Status.CREATED,
        }[outcome.status]
        results.append(Result(entry, status, diagnostics))
    return results


def _io_error(entry: Output, exc: OSError) -> Diagnostic:
    return Diagnostic(
        Level.ERROR, "io", f"cannot use {shown(entry.output)}: {exc.strerror or exc}",
        file=shown(entry.output),
    )  # fmt: skip


def errors_to_show(results: Sequence[Result]) -> list[Diagnostic]:
    """The errors ``render-all`` prints, each once.

    One spec often feeds several outputs (haproxy and nginx): its rendering errors are shown
    once, not once per output. A spec that does not load is named in one line per spec instead of
    repeating its errors: ``lbgen validate`` (the lbgen-validate hook, which runs in the same
    commit) shows them with their positions, so a commit prints each spec error once.
    """
    errors: list[Diagnostic] = []
    seen: set[Diagnostic] = set()
    for result in results:
        if not result.spec_loaded:
            count = sum(d.level is Level.ERROR for d in result.diagnostics)
            spec = shown(result.output.spec)
            diagnostic = Diagnostic(
                Level.ERROR, "invalid-spec",
                f"{spec} is not a valid spec ({count} error{'s' if count != 1 else ''}; "
                f"lbgen validate {spec} or the lbgen-validate hook shows them): "
                f"nothing rendered from it",
                file=spec,
            )  # fmt: skip
            candidates = [diagnostic]
        else:
            candidates = [d for d in result.diagnostics if d.level is Level.ERROR]
        for candidate in candidates:
            if candidate not in seen:
                seen.add(candidate)
                errors.append(candidate)
    return errors
