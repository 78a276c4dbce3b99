"""Metrics (issue #15): what a platform team reads off "mcp_metrics" after
known traffic, exactly, whichever of the two workers served it; the
Prometheus text format and OpenMetrics; counters across reloads; no
increment lost under concurrent load; Redis seen per worker.

Each test runs the demo configuration (docs/examples/demo.conf: /metrics
on loopback, two workers) in an nginx of its own, so that its counters
start at zero."""

import re
import subprocess
import time

import pytest
import redis

import conftest
import harness
import tokens
from harness import NATIVE, SEED
from metrics import scrape, total, value, wait_for

REQ = "mcp_gateway_requests_total"


def gateway(nginx, mocks, conf=None, **subst):
    s = conftest.gateway_subst(mocks)
    s.update(subst)
    return nginx(conf or harness.demo_conf(), **s)


def requests_of(samples, registry, route, method, code):
    return value(samples, REQ, registry=registry, route=route, method=method,
                 code=code)


def test_counters_after_known_traffic(nginx, mocks, demo_keys, auth):
    gw = gateway(nginx, mocks)
    k = NATIVE["kambrium"] + "123"

    # three GETs: a miss, then two hits (from either worker)
    statuses = [gw.get(k, headers=auth).headers["X-Cache-Status"]
                for _ in range(3)]
    assert statuses == ["MISS", "HIT", "HIT"]

    # the canonical route, a miss
    assert gw.get("/mcp-servers/barndoor/" + SEED["barndoor"],
                  headers=auth).status_code == 200

    # an accepted PUT: the registry is asked, the cache invalidated
    assert gw.put(k, headers=auth, json={"agent_enabled": False}).ok

    # refusals: no token, an expired one, a read-only one for a PUT
    assert gw.get(k).status_code == 401
    expired = tokens.bearer(tokens.mint(demo_keys, ttl=-60))
    assert gw.get(k, headers=expired).status_code == 401
    reader = tokens.bearer(tokens.mint(demo_keys, scope="mgmt.read"))
    assert gw.put(k, headers=reader, json={"name": "x"}).status_code == 403

    # client mistakes: an id of the wrong form, an unknown registry, a
    # method the routes do not have
    assert gw.get(NATIVE["kambrium"] + "abc", headers=auth).status_code == 404
    assert gw.get("/mcp-servers/nope/1", headers=auth).status_code == 404
    assert gw.request("DELETE", k, headers=auth).status_code == 405

    text, s = scrape(gw)

    assert requests_of(s, "kambrium", "native", "GET", "2xx") == 3
    assert requests_of(s, "kambrium", "native", "GET", "4xx") == 3
    assert requests_of(s, "kambrium", "native", "PUT", "2xx") == 1
    assert requests_of(s, "kambrium", "native", "PUT", "4xx") == 1
    assert requests_of(s, "kambrium", "native", "OTHER", "4xx") == 1
    assert requests_of(s, "barndoor", "canonical", "GET", "2xx") == 1
    assert requests_of(s, "", "canonical", "GET", "4xx") == 1
    assert total(s, REQ) == 11

    assert value(s, "mcp_gateway_auth_outcomes_total", outcome="ok") == 8
    assert value(s, "mcp_gateway_auth_outcomes_total",
                 outcome="missing") == 1
    assert value(s, "mcp_gateway_auth_outcomes_total",
                 outcome="expired") == 1
    assert value(s, "mcp_gateway_auth_outcomes_total",
                 outcome="insufficient_scope") == 1
    assert value(s, "mcp_gateway_auth_outcomes_total",
                 outcome="invalid") == 0

    # one token verified once per worker at most, then from the cache
    # (the expired one was verified, then refused)
    hits = value(s, "mcp_gateway_auth_token_cache_lookups_total",
                 result="hit")
    misses = value(s, "mcp_gateway_auth_token_cache_lookups_total",
                   result="miss")
    assert hits + misses == 10
    assert 3 <= misses <= 4

    cache = "mcp_gateway_cache_results_total"
    assert value(s, cache, registry="kambrium", result="miss") == 1
    assert value(s, cache, registry="kambrium", result="hit") == 2
    assert value(s, cache, registry="barndoor", result="miss") == 1
    assert total(s, cache) == 4

    inv = "mcp_gateway_cache_invalidations_total"
    assert value(s, inv, registry="kambrium", result="ok") == 1
    assert total(s, inv) == 1
    assert value(s, "mcp_gateway_cache_invalidations_pending") == 0

    hist = "mcp_gateway_registry_request_duration_seconds"
    assert value(s, hist + "_count", registry="kambrium") == 2
    assert value(s, hist + "_count", registry="barndoor") == 1
    assert value(s, hist + "_count", registry="gatana") == 0
    assert value(s, hist + "_bucket", registry="kambrium", le="+Inf") == 2
    assert total(s, "mcp_gateway_registry_failures_total") == 0

    assert value(s, "mcp_gateway_build_info", version="0.1.0",
                 nginx_version=nginx_version()) == 1
    assert value(s, "mcp_gateway_auth_keys",
                 file=demo_keys.path("jwks.json"), type="jwks") == 2

    # Redis: both workers connected; every command answered
    assert value(s, "mcp_gateway_redis_up", worker="0") == 1
    assert value(s, "mcp_gateway_redis_up", worker="1") == 1
    assert value(s, "mcp_gateway_redis_commands_total", result="ok") >= 5
    assert value(s, "mcp_gateway_redis_commands_total", result="failed") == 0
    assert value(s, "mcp_gateway_redis_command_duration_seconds_count") \
        == value(s, "mcp_gateway_redis_commands_total", result="ok")

    # never a server id or a caller in a label
    assert "123" not in re.sub(r"\} \S+\n", "}\n", text)
    assert "alice" not in text


def nginx_version():
    out = subprocess.run([harness.NGINX, "-v"], capture_output=True,
                         text=True).stderr
    return re.search(r"nginx/(\S+)", out).group(1)
