"""Everything lbgen knows about nginx, with NGINX Plus as a variant.

- :mod:`lbgen.nginx.syntax`: reads (via crossplane) and writes nginx config text;
- :mod:`lbgen.nginx.table`: the two-way directive table (OSS and Plus);
- :mod:`lbgen.nginx.view`: what the ``templates/nginx/`` templates get from a resolved spec;
- :mod:`lbgen.nginx.effective`: what an existing config makes nginx do (the effective model);
- :mod:`lbgen.nginx.importer`: an existing config into a spec draft;
- :mod:`lbgen.nginx.lint`: the nginx-only lint rules;
- :mod:`lbgen.nginx.command`: the command lines that check and run a config (the runners read it).

:data:`ENGINE` (nginx OSS) and :data:`PLUS_ENGINE` (NGINX Plus) are built on first use, so that
reading or writing nginx syntax (:mod:`lbgen.confparse`) does not import the operations the
engine values point to.
"""

from __future__ import annotations

import functools
from typing import Any

from lbgen.engine import ENTRIES, Engine, lazy

LAYOUTS = ENTRIES["nginx"].layouts
"""What ``render --layout`` writes for nginx; ``stream`` (a bare ``stream {}`` block) by default."""


def _build_view(plus: bool) -> Any:
    from lbgen.nginx.view import build_nginx_view

    def build_view(resolved: Any, layout: str, **options: Any) -> Any:
        return build_nginx_view(resolved, plus=plus, layout=layout, **options)

    return build_view


@functools.cache
def _engines() -> dict[str, Engine]:
    from lbgen.nginx import table

    common: dict[str, Any] = {
        "program": "nginx",
        "syntax": "nginx",
        "layouts": LAYOUTS,
        "read_effective": lazy("lbgen.nginx.effective:read_effective"),
        "import_into": lazy("lbgen.nginx.importer:import_into"),
        "pair_configs": lazy("lbgen.nginx.effective:pair_configs"),
        # One reader for both: a diff names what it reads the same way for either.
        "diff_names": table.diff_names(table.PLUS_TABLE),
    }
    return {
        "ENGINE": Engine(
            name="nginx", table=table.TABLE, build_view=_build_view(False),
            lint_rules_at="lbgen.nginx.lint:RULES", **common,
        ),
        "PLUS_ENGINE": Engine(
            name="nginx-plus", table=table.PLUS_TABLE, build_view=_build_view(True),
            lint_rules_at="lbgen.nginx.lint:PLUS_RULES", **common,
        ),
    }  # fmt: skip


def __getattr__(name: str) -> Engine:
    """``ENGINE`` and ``PLUS_ENGINE``, built on first access."""
    if name in ("ENGINE", "PLUS_ENGINE"):
        return _engines()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


ENGINE: Engine
PLUS_ENGINE: Engine

__all__ = ["ENGINE", "LAYOUTS", "PLUS_ENGINE"]
