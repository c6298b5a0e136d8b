"""lbgen's version, in one place: the package, the CLI, the provenance header and the build read it.

A module of its own, below everything, so that the renderer can name the version in each
config's header without importing the package's front door (:mod:`lbgen`), which imports it.
"""

from __future__ import annotations

VERSION = "0.1.0"
