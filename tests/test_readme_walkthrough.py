"""README's "Taking over an existing config" walkthrough is what lbgen prints: every command of
it is rerun on the same corpus config (``scripts/readme-walkthrough``), and each line it prints,
the imported spec and the edit must stand in README.md as they are."""

from __future__ import annotations

import difflib
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from types import ModuleType

from .support import ROOT

REGENERATE = "scripts/readme-walkthrough --write"


def _script() -> ModuleType:
    loader = SourceFileLoader("readme_walkthrough", str(ROOT / "scripts" / "readme-walkthrough"))
    spec = spec_from_loader(loader.name, loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_walkthrough_is_what_lbgen_prints() -> None:
    script = _script()
    documented = script.readme_block((ROOT / "README.md").read_text())
    assert documented, f"README.md lost its walkthrough markers: {script.BEGIN!r}"
    printed = script.walkthrough(sys.executable)
    # The steps do what the walkthrough says they do.
    text = "\n".join(printed)
    for claim in ("**1. What is wrong today** (exit 1)", "**3. Proof that the spec says what "
                  "runs** (exit 0)", "**5. The diff is now exactly the fix** (exit 1)",
                  "checked by the real haproxy** (exit 0)", "$ lbgen diff kind.yaml -t haproxy "
                  "--against haproxy.cfg\nequivalent", "haproxy.cfg.new created"):  # fmt: skip
        assert claim in text, claim
    missing = [line for line in printed if line not in documented]
    drift = "\n".join(difflib.unified_diff(documented, printed, "README.md", "lbgen now", n=1,
                                           lineterm=""))  # fmt: skip
    assert not missing and printed == documented, (
        f"README's walkthrough no longer matches what lbgen prints; regenerate it with "
        f"`{REGENERATE}` and review the change:\n{drift}"
    )
