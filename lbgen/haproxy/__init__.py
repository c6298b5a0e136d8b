"""Everything lbgen knows about HAProxy, as one :class:`~lbgen.engine.Engine`: ``ENGINE``.

- :mod:`~lbgen.haproxy.syntax`: haproxy.cfg's syntax (parser and canonical writer);
- :mod:`~lbgen.haproxy.table`: the two-way directive table (spec field <-> keyword, codec,
  HAProxy's default, the name a diff shows);
- :mod:`~lbgen.haproxy.view`: the view ``templates/haproxy/haproxy.cfg.j2`` renders;
- :mod:`~lbgen.haproxy.effective`: the reader that builds the effective model of a config;
- :mod:`~lbgen.haproxy.importer`: the HAProxy half of ``lbgen import``;
- :mod:`~lbgen.haproxy.lint`: the lint rules only HAProxy configs need;
- :mod:`~lbgen.haproxy.command`: the command lines that check and run a config (the runners
  read it).

``ENGINE`` is built on first access (PEP 562): importing one module of the package (the parse
dispatch of :mod:`lbgen.confparse` imports :mod:`lbgen.haproxy.syntax`) runs this file, and
that must not load the import and lint modules, which build on the operations
(:mod:`lbgen.importer`, :mod:`lbgen.lint`) that themselves parse configs.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lbgen.engine import Engine

    ENGINE: Engine


@functools.cache
def _engine() -> Engine:
    from lbgen.engine import ENTRIES, Engine, lazy
    from lbgen.haproxy import table, view

    return Engine(
        name="haproxy",
        program="haproxy",
        syntax="haproxy",
        layouts=ENTRIES["haproxy"].layouts,
        table=table.TABLE,
        build_view=view.build_haproxy_view,
        read_effective=lazy("lbgen.haproxy.effective:read_effective"),
        import_into=lazy("lbgen.haproxy.importer:import_into"),
        pair_configs=lazy("lbgen.haproxy.effective:pair_configs"),
        lint_rules_at="lbgen.haproxy.lint:RULES",
        diff_names=table.DIFF_NAMES,
    )


def __getattr__(name: str) -> Any:
    if name == "ENGINE":
        return _engine()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
