"""keepalived: everything lbgen knows about it (the tier's virtual IPs, one node at a time)."""

from __future__ import annotations

from typing import Any

from lbgen.engine import ENTRIES, Engine
from lbgen.keepalived import command
from lbgen.keepalived.table import TABLE
from lbgen.keepalived.view import build_keepalived_view


def read_effective(tree: Any) -> Any:
    """Not available: lbgen does not read keepalived configs back (no diff, no import)."""
    raise NotImplementedError(
        "lbgen cannot read keepalived configs back yet: diff and import are for haproxy and nginx"
    )


ENGINE = Engine(
    name="keepalived",
    program=command.PROGRAM,
    syntax="keepalived",
    layouts=ENTRIES["keepalived"].layouts,
    table=TABLE,
    build_view=build_keepalived_view,
    read_effective=read_effective,
)

__all__ = ["ENGINE"]
