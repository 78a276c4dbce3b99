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
from metrics import scrape, settled, total, value, wait_for

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

    s = settled(gw, 11)
    text, _ = scrape(gw)

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


def test_registry_failures_by_kind(nginx, mocks, auth):
    conf = harness.demo_conf().replace("proxy_read_timeout        10s",
                                       "proxy_read_timeout        1s")
    gw = gateway(nginx, mocks, conf, BARNDOOR_PORT=harness.free_port())
    g = NATIVE["gatana"] + SEED["gatana"]

    for mode, status in [("status500", 500), ("nonjson", 502),
                         ("truncate", 502), ("reset", 502)]:
        mocks["gatana"].fault(mode)
        assert gw.get(g, headers=auth).status_code == status, mode

    mocks["gatana"].fault("latency", delay_ms=3000)
    assert gw.get(g, headers=auth).status_code == 504
    mocks["gatana"].fault("none")
    assert gw.get(g, headers=auth).status_code == 200

    # nothing listens where the barndoor registry should be
    assert gw.get(NATIVE["barndoor"] + SEED["barndoor"],
                  headers=auth).status_code == 502

    s = settled(gw, 7)
    fail = "mcp_gateway_registry_failures_total"
    assert value(s, fail, registry="gatana", kind="http_5xx") == 1
    assert value(s, fail, registry="gatana", kind="bad_answer") == 2
    assert value(s, fail, registry="gatana", kind="connect") == 1
    assert value(s, fail, registry="gatana", kind="timeout") == 1
    assert value(s, fail, registry="barndoor", kind="connect") == 1
    assert total(s, fail) == 6

    hist = "mcp_gateway_registry_request_duration_seconds"
    assert value(s, hist + "_count", registry="gatana") == 6
    # the timeout took the second of proxy_read_timeout, the rest less
    assert value(s, hist + "_bucket", registry="gatana", le="0.5") == 5
    assert value(s, hist + "_bucket", registry="gatana", le="2.5") == 6
    assert 1.0 <= value(s, hist + "_sum", registry="gatana") < 2.5

    assert requests_of(s, "gatana", "native", "GET", "5xx") == 5
    assert requests_of(s, "gatana", "native", "GET", "2xx") == 1


def test_openmetrics_when_asked(nginx, mocks, auth):
    gw = gateway(nginx, mocks)
    assert gw.get(NATIVE["kambrium"] + "123", headers=auth).ok

    settled(gw, 1)                              # the GET counted
    text, om = scrape(gw, openmetrics=True)     # the strict parser
    _, prom = scrape(gw)

    assert text.endswith("\n# EOF\n")
    assert "# TYPE mcp_gateway_requests counter\n" in text
    assert "# TYPE mcp_gateway_build info\n" in text
    assert "_total counter" not in text
    # the same series and values in both formats; OpenMetrics adds none
    # but what its parser derives (_created) ...
    om = {k: v for k, v in om.items() if not k[0].endswith("_created")}
    assert om == prom


def test_text_format_families(nginx, mocks):
    gw = gateway(nginx, mocks)
    r = gw.get("/metrics")
    families = re.findall(r"^# TYPE (\S+) (\S+)$", r.text, re.M)
    helps = re.findall(r"^# HELP (\S+) \S", r.text, re.M)
    assert [f for f, _ in families] == helps
    for name, kind in families:
        assert name.startswith("mcp_gateway_")
        assert name.endswith("_total") == (kind == "counter"), name
    # bounded labels only
    labels = set(re.findall(r"[{,]([a-z_]+)=\"", r.text))
    assert labels == {"registry", "route", "method", "code", "outcome",
                      "result", "file", "type", "kind", "worker", "le",
                      "version", "nginx_version"}

    assert gw.request("POST", "/metrics").status_code == 405
    head = gw.request("HEAD", "/metrics")
    assert head.status_code == 200 and head.content == b""


def test_counters_survive_reload(nginx, mocks, auth):
    gw = gateway(nginx, mocks)
    k = NATIVE["kambrium"] + "123"
    for _ in range(3):
        assert gw.get(k, headers=auth).ok
    old = set(gw.workers())

    gw.reload()
    wait_reloaded(gw, old)
    assert gw.get(k, headers=auth).ok

    s = settled(gw, 4)
    assert requests_of(s, "kambrium", "native", "GET", "2xx") == 4
    assert value(s, "mcp_gateway_cache_results_total", registry="kambrium",
                 result="hit") == 3
    assert value(s, "mcp_gateway_auth_outcomes_total", outcome="ok") == 4
    # the new workers' gauges, not the old ones'
    s = wait_for(gw, lambda s: total(s, "mcp_gateway_redis_up") == 2)
    assert value(s, "mcp_gateway_redis_up", worker="0") == 1

    # a registry added: the others keep their counters, it starts at 0
    conf = harness.demo_conf().replace(
        "mcp_registry  gatana    vendor=gatana    pass=/_mcp/gatana;",
        "mcp_registry  gatana    vendor=gatana    pass=/_mcp/gatana;\n"
        "    mcp_registry  staging   vendor=kambrium  pass=/_mcp/kambrium;")
    with open(gw.conf_path, "w") as f:
        f.write(gw.render(conf, dict(conftest.gateway_subst(mocks),
                                     MCP_PREFIX=gw.prefix,
                                     MCP_DEMO_PORT=gw.port,
                                     MCP_MODULE=harness.MODULE or "",
                                     MCP_LOG_LEVEL="info",
                                     MCP_DEMO_KEYS=harness.DEMO_KEYS)))
    old = set(gw.workers())
    gw.reload()
    wait_reloaded(gw, old)
    assert gw.get("/mcp-servers/staging/123", headers=auth).ok

    s = settled(gw, 5)
    assert requests_of(s, "kambrium", "native", "GET", "2xx") == 4
    assert requests_of(s, "staging", "canonical", "GET", "2xx") == 1
    assert value(s, "mcp_gateway_auth_outcomes_total", outcome="ok") == 5


def wait_reloaded(ngx, old, timeout=10.0):
    """the master's new workers serve, the old ones are gone"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = set(ngx.worker_pids())
        if pids and not pids & old:
            return
        time.sleep(0.05)
    raise AssertionError("nginx did not reload")


def test_no_increment_lost_under_load(nginx, mocks, auth):
    gw = gateway(nginx, mocks)
    k = NATIVE["kambrium"] + "123"
    assert gw.get(k, headers=auth).ok           # the miss; then hits

    conns = 16
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(conns), "-d", "3s",
         "-H", "Authorization: " + auth["Authorization"], gw.url + k],
        capture_output=True, text=True, timeout=60).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))
    assert "Non-2xx" not in out and done > 100, out

    # wrk stops with up to one request per connection under way: nginx
    # finishes and logs them
    def logged():
        with open(gw.path("logs/access.log")) as f:
            return sum(1 for line in f if '"GET /kambrium/' in line)

    deadline = time.monotonic() + 10
    n = logged()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if logged() == n:
            break
        n = logged()

    s = settled(gw, n)
    counted = requests_of(s, "kambrium", "native", "GET", "2xx")
    assert counted == n
    assert done + 1 <= counted <= done + 1 + conns
    assert value(s, "mcp_gateway_cache_results_total", registry="kambrium",
                 result="hit") == counted - 1
    assert value(s, "mcp_gateway_auth_outcomes_total", outcome="ok") \
        == counted


def test_redis_up_per_worker(nginx, mocks, redis_server, auth):
    # relaxed: a PUT goes while Redis is down, its invalidation waits
    conf = harness.demo_conf().replace(
        "mcp_cache_redis  127.0.0.1:${REDIS_PORT};",
        "mcp_cache_redis  127.0.0.1:${REDIS_PORT};\n"
        "    mcp_cache_consistency  relaxed;")
    assert "mcp_cache_consistency" in conf
    gw = gateway(nginx, mocks, conf, REDIS_PORT=redis_server.port)
    up = "mcp_gateway_redis_up"

    s = wait_for(gw, lambda s: total(s, up) == 2)
    assert value(s, up, worker="0") == 1 and value(s, up, worker="1") == 1

    redis_server.stop()
    s = wait_for(gw, lambda s: total(s, up) == 0)
    assert value(s, up, worker="0") == 0 and value(s, up, worker="1") == 0

    # requests go on, without the cache; a PUT's invalidation is kept
    k = NATIVE["kambrium"] + "123"
    assert gw.get(k, headers=auth).headers["X-Cache-Status"] == "ERROR"
    assert gw.put(k, headers=auth, json={"agent_enabled": False}).ok
    s = settled(gw, 2)
    assert value(s, "mcp_gateway_cache_results_total", registry="kambrium",
                 result="error") == 1
    assert value(s, "mcp_gateway_cache_invalidations_total",
                 registry="kambrium", result="failed") == 1
    assert value(s, "mcp_gateway_cache_invalidations_pending") == 1

    redis_server.start()
    s = wait_for(gw, lambda s: total(s, up) == 2
                 and value(s, "mcp_gateway_cache_invalidations_pending") == 0)
    assert total(s, up) == 2
    assert value(s, "mcp_gateway_cache_invalidations_pending") == 0
    assert value(s, "mcp_gateway_cache_invalidations_replayed_total") == 1


def test_no_metrics_no_zone(nginx, mocks, auth):
    conf = re.sub(r"\n        # Prometheus metrics.*?\n        }\n", "\n",
                  harness.demo_conf(), flags=re.S)
    assert "mcp_metrics" not in conf
    gw = gateway(nginx, mocks, conf)

    assert gw.get(NATIVE["kambrium"] + "123", headers=auth).ok
    assert gw.get("/metrics").status_code == 401     # no such location


def test_mcp_metrics_is_a_content_handler_of_its_own(nginx):
    ngx = nginx(harness.conf(server="location /m { mcp_metrics; "
                                    "return 200; }"), start=False)
    rc, out = ngx.test_config()
    assert rc == 0, out
    ngx = nginx(harness.conf(server="location /m { proxy_pass "
                                    "http://127.0.0.1:1; mcp_metrics; }"),
                start=False)
    rc, out = ngx.test_config()
    assert rc != 0 and "mcp_metrics" in out and "content handler" in out


def test_docs_name_what_the_gateway_exposes(nginx, mocks):
    """docs/metrics.md, the alert rules and the Grafana dashboard use the
    names the gateway has, and the reference lists every one of them"""
    gw = gateway(nginx, mocks)
    text = gw.get("/metrics").text
    families = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    samples = set(re.findall(r"^(mcp_gateway_\w+)[{ ]", text, re.M))

    docs = {}
    for path in ("docs/metrics.md", "docs/prometheus/alerts.yml",
                 "docs/prometheus/alerts_test.yml",
                 "docs/grafana/mcp-gateway.json"):
        with open(harness.os.path.join(harness.TOP, path)) as f:
            docs[path] = f.read()

    for path, body in docs.items():
        used = set(re.findall(r"\bmcp_gateway_\w+", body))
        assert used and used <= families | samples, \
            (path, used - families - samples)

    reference = set(re.findall(r"^\| `(mcp_gateway_\w+)` \|",
                               docs["docs/metrics.md"], re.M))
    assert reference == families
