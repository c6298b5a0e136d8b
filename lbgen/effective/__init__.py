"""The effective model of a config (:mod:`.model`), the generic differ (:mod:`.differ`), and the
entry points that build the model of a parsed config with its engine's reader."""

from __future__ import annotations

from lbgen.confparse.tree import ConfigTree
from lbgen.effective.model import Config
from lbgen.engine import get_engine


def effective(tree: ConfigTree) -> Config:
    """The effective model of a parsed config, built by its engine's reader."""
    config: Config = get_engine(tree.engine).read_effective(tree)
    return config


def effective_text(text: str, filename: str, engine: str | None = None) -> Config:
    """Parse config text (engine detected when None) and build its effective model."""
    from lbgen.confparse import parse_config

    return effective(parse_config(text, filename, engine))


def effective_file(path: str, engine: str | None = None) -> Config:
    """Read, parse and model a config file."""
    from lbgen.confparse import parse_config_file

    return effective(parse_config_file(path, engine))


__all__ = ["effective", "effective_file", "effective_text"]
