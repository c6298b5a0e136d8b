"""Fast paths of the spec loader: plain data quickly, or a refusal that sends the text to the
positional loader (:func:`lbgen.spec.load.parse_positional`).

The positional loader (ruamel's pure-Python round-trip parser) keeps every key's and value's
line and column, and it is the one that words every error; it is also about a hundred times
slower than a C parser. So a spec is first tried here:

* **JSON** (text that starts with ``{``): the standard library's ``json``. No positions: the
  caller recovers them only when a diagnostic needs one (:class:`~lbgen.spec.source.SpecSource`'s
  ``recover``).
* **YAML**: libyaml's composer (PyYAML's C extension, when it is installed), which keeps every
  node's start mark; plain scalars are resolved by ruamel's YAML 1.2 resolver, exactly as the
  positional loader resolves them, so the data and the positions are the same.

Either path *declines* (returns None) at the first thing it is not certain to treat exactly as
the positional loader does: any syntax error, a duplicate key, an alias, a merge key, an
explicit tag, a directive, a float, a timestamp, an integer that is not plain decimal or too
long, a lone surrogate, deep nesting, too many values, a BOM, a tab, NEL/LS/PS line breaks.
The positional loader then runs and gives the same data, or the same diagnostic at the same
position, as before these paths existed. Declining is never wrong, only slower.
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

# The positional loader's bounds: a fast path declines before reaching them, so that the
# positional loader words the error.
from lbgen.spec.source import MAX_INT_DIGITS, MAX_VALUES, SURROGATE

if TYPE_CHECKING:
    from lbgen.spec.source import SpecSource

#: Deeper than this, the positional loader decides (it enforces MAX_DEPTH with its wording).
_FAST_DEPTH = 32

#: Smaller YAML goes straight to the positional loader: it parses a hand-sized spec in
#: milliseconds, less than importing PyYAML would add to the start-up of ``lbgen validate``.
FAST_YAML_MIN = 16 * 1024

_PLAIN_INT = re.compile(r"-?(?:0|[1-9][0-9]*)", re.ASCII)
#: Text holding anything but YAML's printable characters (which the positional loader refuses
#: where ``json`` would not), a BOM, a tab or a YAML 1.1 line break (NEL, LS, PS: the parsers may
#: treat them differently), or a directive line goes to the positional loader.
_AWKWARD = "[^\n\r -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|^%"


@functools.cache
def _awkward_char() -> re.Pattern[str]:
    # Compiled on first use (milliseconds: the astral ranges): a hand-sized YAML spec, the
    # common case of `lbgen validate`, never reaches it.
    return re.compile(_AWKWARD.removesuffix("|^%"))


def _awkward(text: str) -> bool:
    """True when ``text`` holds what :data:`_AWKWARD` describes.

    One character class and a substring test: the regex's ``|^%`` alternative, tried at every
    character, made the scan three times slower.
    """
    return text.startswith("%") or "\n%" in text or _awkward_char().search(text) is not None


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"


class _Decline(Exception):
    """The fast path is not sure; the positional loader decides."""


# --- JSON ---------------------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Decline  # a duplicate key: the positional loader reports both lines
    return out


def _int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS or not _PLAIN_INT.fullmatch(text):
        raise _Decline
    return int(text)


def _refuse(text: str) -> Any:
    raise _Decline  # floats, NaN, Infinity: YAML resolves these its own way


def _check_tree(document: Any, surrogates: bool) -> None:
    """Decline on nesting (a value deeper than ``_FAST_DEPTH``), size (more than ``MAX_VALUES``
    values, the document included) or lone surrogates (what ``json`` lets through).

    Without recursion: containers wait on a stack, scalars are counted a container at a time.
    """
    budget = MAX_VALUES - 1
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > _FAST_DEPTH:
            raise _Decline
        if isinstance(value, dict):
            if surrogates and any(SURROGATE.search(key) for key in value):
                raise _Decline
            items: Any = value.values()
        elif isinstance(value, list):
            items = value
        else:
            if surrogates and isinstance(value, str) and SURROGATE.search(value):
                raise _Decline
            continue
        budget -= len(items)
        if budget < 0:
            raise _Decline
        for item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            elif depth + 1 > _FAST_DEPTH or (
                surrogates and isinstance(item, str) and SURROGATE.search(item)
            ):
                raise _Decline


def parse_json(text: str) -> dict[str, Any] | None:
    """A JSON object's plain data, or None (not JSON, or not certainly the same as YAML)."""
    if not text.lstrip(" \n\r").startswith("{") or _awkward(text):
        return None
    try:
        document = json.loads(
            text, object_pairs_hook=_pairs, parse_int=_int, parse_float=_refuse,
            parse_constant=_refuse,
        )  # fmt: skip
        if not isinstance(document, dict):
            return None
        _check_tree(document, "\\u" in text or "\\U" in text)
    except (_Decline, ValueError, RecursionError):
        return None
    return document


# --- YAML ---------------------------------------------------------------------------------

_PLAIN, _QUOTED, _COLLECTION = "?plain", "?quoted", "?collection"


def _loader_class() -> Any:
    """PyYAML's libyaml loader with a resolver that only says whether a scalar was plain."""
    try:
        import yaml
    except ImportError:
        return None
    if not getattr(yaml, "__with_libyaml__", False):
        return None

    class _Loader(yaml.CSafeLoader):  # type: ignore[misc]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is not yaml.ScalarNode:
                return _COLLECTION
            return _PLAIN if implicit[0] else _QUOTED

    return _Loader


_LOADER: list[Any] = []


def _resolver() -> Any:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    resolver = VersionedResolver(version=(1, 2))
    first = frozenset(resolver.versioned_resolver)  # first characters some resolver claims

    def resolve(value: str) -> str:
        if value and value[0] not in first:
            return _STR
        return str(resolver.resolve(ScalarNode, value, (True, False)))

    return resolve


class _Compose:
    """libyaml's nodes -> plain data, recording positions as the positional loader does."""

    def __init__(self, source: SpecSource, surrogates: bool) -> None:
        import yaml

        self.mapping, self.sequence = yaml.MappingNode, yaml.SequenceNode
        self.keys, self.values = source.keys, source.values
        self.budget = MAX_VALUES
        self.seen: set[int] = set()
        self.surrogates = surrogates
        self.resolve = _resolver()
        self.plain_cache: dict[str, Any] = {}

    def scalar(self, node: Any) -> Any:
        value = node.value
        if node.tag == _QUOTED:
            pass
        elif node.tag != _PLAIN:
            raise _Decline  # an explicit tag
        else:
            cached = self.plain_cache.get(value, self)
            if cached is not self:
                return cached
            tag = self.resolve(value)
            if tag == _STR:
                result: Any = value
            elif tag == _INT:
                result = _int(value)
            elif tag == _NULL:
                result = None
            elif tag == _BOOL:
                result = value.lower() == "true"
            else:
                raise _Decline  # floats, timestamps, merge keys, ...
            self.plain_cache[value] = result
            return result
        if self.surrogates and SURROGATE.search(value):
            raise _Decline
        return value

    def node(self, node: Any, path: tuple[str | int, ...]) -> Any:
        self.budget -= 1
        if self.budget < 0 or len(path) >= _FAST_DEPTH:
            raise _Decline
        kind = type(node)
        if kind is self.mapping or kind is self.sequence:
            if node.tag != _COLLECTION or id(node) in self.seen:
                raise _Decline  # a tag, or an alias to an anchored collection
            self.seen.add(id(node))
        else:
            return self.scalar(node)
        keys, values = self.keys, self.values
        if kind is self.mapping:
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is self.mapping or type(key_node) is self.sequence:
                    raise _Decline
                key = self.scalar(key_node)
                if type(key) is not str or key in out:
                    raise _Decline  # a non-string key, or a duplicate
                child = (*path, key)
                mark, vmark = key_node.start_mark, value_node.start_mark
                keys[child] = (mark.line + 1, mark.column + 1)
                values[child] = (vmark.line + 1, vmark.column + 1)
                out[key] = self.node(value_node, child)
            return out
        items = []
        for index, item in enumerate(node.value):
            child = (*path, index)
            mark = item.start_mark
            values[child] = (mark.line + 1, mark.column + 1)
            items.append(self.node(item, child))
        return items


def compose_yaml(text: str, source: SpecSource) -> dict[str, Any] | None:
    """A YAML mapping's plain data with every position filled into ``source``, or None.

    None when libyaml is not available, or the text has anything the positional loader might
    treat differently; ``source`` is then left as it was.
    """
    if len(text) < FAST_YAML_MIN:
        return None
    if not _LOADER:
        _LOADER.append(_loader_class())
    loader_class = _LOADER[0]
    if loader_class is None or _awkward(text):
        return None
    import yaml

    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None or type(root) is not yaml.MappingNode:
            return None
        document = _Compose(source, "\\u" in text or "\\U" in text).node(root, ())
    except (_Decline, yaml.YAMLError, ValueError, RecursionError):
        source.keys.clear()
        source.values.clear()
        return None
    finally:
        loader.dispose()
    mark = root.start_mark
    source.values[()] = (mark.line + 1, mark.column + 1)
    return document  # type: ignore[no-any-return]
