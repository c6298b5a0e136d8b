"""Where a field's value comes from: the built-in defaults and the layers of the spec.

Below both the loader's cross-checks and the resolver, so that a check may ask which value a
pool ends up with without importing the resolver.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from lbgen.frozen import record
from lbgen.spec.models import Defaults, Model
from lbgen.spec.source import Path_


def _constructed(model: type[Model], data: dict[str, Any]) -> Any:
    """``model.model_validate(data)`` for data already valid, without building a validator.

    The one validator lbgen builds is Spec's, on the first load; validating the built-in
    defaults at import built another one, for ``Defaults``: a tenth of `lbgen validate`'s
    instructions. tests/test_resolve.py checks that validating gives the same value.
    """
    values: dict[str, Any] = {}
    for name, value in data.items():
        annotation = model.model_fields[name].annotation  # a KeyError for a misspelt field
        if isinstance(annotation, type) and issubclass(annotation, Model):
            value = _constructed(annotation, value)
        values[name] = list(value) if isinstance(value, list) else value  # as validation copies
    return model.model_construct(**values)


#: What lbgen uses where a spec says nothing, chosen for kube-apiserver: an https /readyz check,
#: fast fall detection, watch-safe timeouts, retries with redispatch.
BUILTIN_DEFAULTS_DATA: dict[str, Any] = (
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
BUILTIN_DEFAULTS: Defaults = _constructed(Defaults, BUILTIN_DEFAULTS_DATA)


@record
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


__all__ = ["BUILTIN_DEFAULTS", "BUILTIN_DEFAULTS_DATA", "Layer", "pick"]
