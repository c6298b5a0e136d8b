"""LB111 (NGINX Plus-only features) beyond its fixture: each feature the rule names is refused by
the real nginx OSS, and the same upstream without it is accepted."""

from __future__ import annotations

import pytest

from lbgen.lint import lint_text
from lbgen.runners import LocalRunner, check_config

UPSTREAM = """\
stream {{
    upstream cp {{
        {method}
        server 127.0.0.1:17001;
        server 127.0.0.1:17002;
    }}
    server {{
        listen 127.0.0.1:16443;
        proxy_timeout 1h;
        proxy_pass cp;
    }}
}}
"""

PLUS_ONLY = ["least_time connect;", "least_time first_byte inflight;",
             "random two least_time=connect;"]  # fmt: skip
OSS = ["least_conn;", "random two least_conn;", "random two;", "hash $remote_addr consistent;"]


@pytest.mark.parametrize("method", PLUS_ONLY + OSS)
def test_lb111_fires_exactly_where_nginx_oss_refuses(method: str) -> None:
    text = UPSTREAM.format(method=method)
    found = [d for d in lint_text(text, "x.conf", "nginx") if d.code == "LB111"]
    assert bool(found) is (method in PLUS_ONLY), found
    assert not [d for d in lint_text(text, "x.conf", "nginx-plus") if d.code == "LB111"]
    if not LocalRunner().available("nginx"):
        pytest.fail("nginx is not installed (scripts/test installs it)")
    result = check_config(text, "nginx", runner="local")
    assert result.ok is (method not in PLUS_ONLY), result.output
