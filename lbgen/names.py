"""Names lbgen writes into every config and recognises when it reads one back.

The templates get them through their view's context and the readers (importer, diff) import
them from here, so the two sides cannot drift apart.
"""

from __future__ import annotations

STATS_FRONTEND = "lbgen-stats"
"""HAProxy: the frontend of ``global.stats``."""

HEALTH_FRONTEND = "lbgen-health"
"""HAProxy: the frontend of ``global.health`` (the load balancer's own liveness endpoint)."""

LOG_FORMAT = "lbgen"
"""nginx: the name of the ``log_format`` the ``access_log`` uses."""

DIGEST_FIELD = "spec-sha256"
"""The provenance header field holding the digest of the spec a file was rendered from."""
