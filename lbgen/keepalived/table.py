"""keepalived's directive table: each ``vip`` field and the keepalived directive that carries it.

Fields are spelt as dotted paths from the spec's top (``vip.advert_interval``,
``vip.track.weight``). The view renders the values with codecs through these rows; the README's
mapping table lists the same rows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lbgen.directives import Directive, table


class SecondsCodec:
    """A duration (µs) as keepalived's seconds: ``200000`` <-> ``0.2``, ``1000000`` <-> ``1``."""

    def render(self, value: Any) -> str:
        """Seconds, with only the decimals the value needs."""
        text = format(Decimal(int(value)) / Decimal(1_000_000), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text

    def parse(self, text: str) -> Any:
        """Microseconds of ``text`` (seconds, fractional allowed)."""
        seconds = Decimal(text)
        if not seconds.is_finite() or seconds < 0:
            raise ValueError(text)
        return int(seconds * 1_000_000)


class IntCodec:
    """An integer as its decimal digits."""

    def render(self, value: Any) -> str:
        """The digits (with a minus sign when negative)."""
        return str(int(value))

    def parse(self, text: str) -> Any:
        """The integer; ValueError for anything else."""
        return int(text, 10)


class WordCodec:
    """A word written as it is (an interface name, a password, a node name)."""

    def render(self, value: Any) -> str:
        """The text itself."""
        return str(value)

    def parse(self, text: str) -> Any:
        """The text itself."""
        return text


SECONDS = SecondsCodec()
INT = IntCodec()
WORD = WordCodec()

INSTANCE = ("vrrp_instance",)
SCRIPT = ("vrrp_script",)
GLOBAL = ("global_defs",)

TABLE = table(
    "keepalived",
    [
        Directive("virtual_ipaddress", INSTANCE, field="vip.addresses"),
        Directive("interface", INSTANCE, field="vip.interface", codec=WORD),
        Directive("virtual_router_id", INSTANCE, field="vip.virtual_router_id", codec=INT),
        Directive(
            "advert_int", INSTANCE, field="vip.advert_interval", codec=SECONDS, default=1_000_000
        ),
        Directive("vrrp_version", GLOBAL, field="vip.version", codec=INT, default=2),
        Directive("unicast_peer", INSTANCE, field="vip.unicast"),
        Directive("unicast_src_ip", INSTANCE, field="vip.nodes.address"),
        Directive("priority", INSTANCE, field="vip.nodes.priority", codec=INT, default=100),
        Directive("router_id", GLOBAL, field="vip.nodes.name", codec=WORD),
        Directive("auth_pass", ("authentication",), field="vip.auth_pass", codec=WORD),
        Directive("nopreempt", INSTANCE, field="vip.preempt"),
        Directive("preempt_delay", INSTANCE, field="vip.preempt_delay", codec=SECONDS, default=0),
        Directive("weight", SCRIPT, field="vip.track.weight", codec=INT, default=0),
        Directive("interval", SCRIPT, field="vip.track.interval", codec=SECONDS, default=1_000_000),
        Directive("fall", SCRIPT, field="vip.track.fall", codec=INT, default=1),
        Directive("rise", SCRIPT, field="vip.track.rise", codec=INT, default=1),
        Directive("timeout", SCRIPT, field="vip.track.timeout", codec=SECONDS),
        Directive("script", SCRIPT, field="global.health"),
        Directive("enable_script_security", GLOBAL),
        Directive("script_user", GLOBAL),
        Directive("state", INSTANCE),
        Directive("track_script", INSTANCE),
    ],
)
"""One row per mapping; ``default`` is keepalived's own value when the directive is absent."""


def codec_of(field_name: str) -> Any:
    """The codec of the row carrying ``field_name`` (every caller asks for one that has one)."""
    row = TABLE.for_field(field_name)[0]
    assert row.codec is not None, field_name
    return row.codec


__all__ = ["TABLE", "codec_of"]
