"""A second floor for ``render_scale.py``: what pydantic alone costs to validate the benchmark's
spec with a model per server, as lbgen's spec does, before any of lbgen's own code runs.

The models mirror the benchmark spec's shape only (a name pattern, an address pattern, a few
optional server fields), with every check in pydantic-core's Rust validators but one: the
shorthand ``name: "host:port"`` becomes a server model through a before-validator, the least a
model per server can cost. The same f-string emitter as the bare floor then writes haproxy.cfg
from the validated models. The difference between the two floors is the price of "pydantic
validates every server as a model", which no design that keeps that can go below.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=63)]
Address = Annotated[
    str, StringConstraints(pattern=r"^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[A-Za-z0-9.-]+):[0-9]{1,5}$")
]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Server(BaseModel):
    """A server; a bare address string is its shorthand."""

    model_config = _FROZEN
    address: Address
    weight: int | None = None
    backup: bool | None = None
    maxconn: int | None = None
    slowstart: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"address": value} if isinstance(value, str) else value


class Pool(BaseModel):
    """A pool: its servers by name."""

    model_config = _FROZEN
    servers: dict[Name, Server]
    balance: str | None = None


class Frontend(BaseModel):
    """A frontend: where it listens and its pool."""

    model_config = _FROZEN
    bind: list[str]
    pool: Name


class ShapeSpec(BaseModel):
    """The benchmark spec's shape."""

    model_config = _FROZEN
    version: int
    name: Name
    frontends: dict[Name, Frontend]
    pools: dict[Name, Pool]


def as_plain(spec: ShapeSpec) -> dict[str, Any]:
    """The validated spec as the bare floor's emitter reads it, attribute by attribute."""
    return {
        "frontends": {
            name: {"bind": fe.bind, "pool": fe.pool} for name, fe in spec.frontends.items()
        },
        "pools": {
            name: {"servers": {s: server.address for s, server in pool.servers.items()}}
            for name, pool in spec.pools.items()
        },
    }


def validated(text: str) -> dict[str, Any]:
    """``text`` (JSON) parsed, validated with a model per server, handed back for emitting."""
    return as_plain(ShapeSpec.model_validate(json.loads(text)))
