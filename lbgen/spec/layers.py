"""Where a field's value comes from: the built-in defaults and the layers of the spec.

Below both the loader's cross-checks and the resolver, so that a check may ask which value a
pool ends up with without importing the resolver.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from lbgen.spec.models import Defaults
from lbgen.spec.source import Path_

#: What lbgen uses where a spec says nothing, chosen for kube-apiserver: an https /readyz check,
#: fast fall detection, watch-safe timeouts, retries with redispatch.
BUILTIN_DEFAULTS = Defaults.model_validate(
    {
        "balance": "roundrobin",
        "health": {
            "check": "https", "path": "/readyz", "expect": [200], "interval": "2s",
            "fast_interval": "1s", "down_interval": "2s", "rise": 2, "fall": 3, "timeout": "3s",
        },
        "weight": 100,
        "retries": 3,
        "redispatch": True,
        "timeouts": {
            "connect": "5s", "client": "1h", "server": "1h", "tunnel": "1h",
            "client_fin": "10s", "server_fin": "10s",
        },
    }
)  # fmt: skip


@dataclass(frozen=True)
class Layer:
    """One block of the spec that may set a field, and where it sits."""

    model: BaseModel
    path: Path_


def pick(name: str, layers: list[Layer], fallback: BaseModel) -> tuple[Any, Path_ | None]:
    """The value of ``name`` from the first layer that sets it, else the built-in default."""
    for layer in layers:
        if name in layer.model.__pydantic_fields_set__:  # the property costs a call per field
            return getattr(layer.model, name), (*layer.path, name)
    return getattr(fallback, name), None


__all__ = ["BUILTIN_DEFAULTS", "Layer", "pick"]
