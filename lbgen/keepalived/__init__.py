"""keepalived: everything lbgen knows about it (the tier's virtual IPs, one node at a time)."""

from __future__ import annotations

from lbgen.engine import ENTRIES, Engine, lazy
from lbgen.keepalived import command
from lbgen.keepalived.table import TABLE
from lbgen.keepalived.view import build_keepalived_view

ENGINE = Engine(
    name="keepalived",
    program=command.PROGRAM,
    syntax="keepalived",
    layouts=ENTRIES["keepalived"].layouts,
    table=TABLE,
    build_view=build_keepalived_view,
    read_effective=lazy("lbgen.keepalived.effective:read_effective"),
    parse=lazy("lbgen.keepalived.syntax:parse_keepalived"),
    diff_changes=lazy("lbgen.keepalived.effective:changes"),
)

__all__ = ["ENGINE"]
