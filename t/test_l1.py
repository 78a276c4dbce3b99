"""The node's L1 cache (issue #16, "mcp_cache_l1 on"): a hit served from
the node's shared memory costs Redis nothing, a PUT on another node is
seen at once (its answer waits the lease: every node heard the
invalidation, or stopped serving its L1), the L1 is bypassed while its
invalidation channel is down, callers never share an entry, and a zone too
small for every entry evicts without breaking answers.

Each test runs real nginx (two workers), a redis-server of its own and the
mock registries; X-Cache-Layer says where a hit came from
($mcp_cache_layer).
"""

import re
import time

import pytest

import fault
from test_cache import (SLOW, conf, fetches, native, ports, rdb, status,
                        token, wait_for)

assert rdb      # a fixture of test_cache's, used here too

LEASE_MS = 100


def l1_http(zone="l1:4m", lease=None, extra=""):
    text = "\nmcp_cache_zone %s;\nmcp_cache_l1 on;" % zone
    if lease:
        text += "\nmcp_cache_l1_lease %s;" % lease
    return text + extra


SERVER = ("add_header X-Cache-Layer $mcp_cache_layer always;\n"
          "        location = /metrics { mcp_auth_jwt off; mcp_metrics; }")


@pytest.fixture
def l1_gw(redis_server, mocks, nginx):
    """A factory of gateways with the L1 on, in front of the mocks and
    redis_server (or "redis_addr")"""

    def make(zone="l1:4m", lease=None, http="", redis_addr=None,
             start=True):
        addr = redis_addr or "127.0.0.1:%d" % redis_server.port
        return nginx(conf(addr, l1_http(zone, lease, http), SERVER),
                     start=start, **ports(mocks))

    return make


def layer(r):
    return r.headers.get("X-Cache-Layer", "")


def warm(ngx, path, headers, timeout=5.0):
    """GETs until one is an L1 hit (the first is a miss, the next a Redis
    hit kept in the L1, unless the store's own invalidation came after
    it): that answer"""
    found = []

    def l1():
        r = ngx.get(path, headers=headers)
        assert r.status_code == 200
        if layer(r) == "l1":
            found.append(r)
        return bool(found)

    assert wait_for(l1, timeout=timeout * SLOW, step=0.02), \
        "no L1 hit on %s" % ngx.prefix
    return found[0]


def redis_calls(rdb):
    """the commands Redis ran, but the L1 channel's PINGs and this test's
    own INFO"""
    return {k: v["calls"] for k, v in rdb.info("commandstats").items()
            if k not in ("cmdstat_ping", "cmdstat_info")}


def metric(ngx, name):
    m = re.search(r"^%s (\d+)$" % name, ngx.get("/metrics").text, re.M)
    return int(m.group(1)) if m else None


def name_of(r):
    body = r.json()
    return (body["data"]["agent_enabled"] if "data" in body
            else body["agentEnabled"] if "agentEnabled" in body
            else body["enabled"])


def test_a_hit_is_served_without_redis(l1_gw, mocks, demo_keys, rdb):
    ngx = l1_gw()
    alice = token(demo_keys)
    path = native("kambrium")

    first = ngx.get(path, headers=alice)
    assert (status(first), layer(first)) == ("MISS", "")
    hit = warm(ngx, path, alice)
    assert hit.content == first.content
    before = metric(ngx, "mcp_gateway_cache_l1_hits_total")
    assert before >= 1

    calls = redis_calls(rdb)
    for _ in range(10):
        r = ngx.get(path, headers=alice)
        assert (r.status_code, status(r), layer(r)) == (200, "HIT", "l1")
        assert r.content == first.content
        assert r.headers["Content-Type"] == "application/json"
    r = ngx.request("HEAD", path, headers=alice)
    assert (status(r), layer(r), r.content) == ("HIT", "l1", b"")
    assert int(r.headers["Content-Length"]) == len(first.content)

    # Redis ran nothing for them; the registry was asked once
    assert redis_calls(rdb) == calls
    assert fetches(mocks, "kambrium") == 1
    assert metric(ngx, "mcp_gateway_cache_l1_hits_total") == before + 11


def test_a_put_on_another_node_is_seen_at_once(l1_gw, mocks, demo_keys):
    """node a serves from its L1; a PUT through node b is answered after
    the lease, and node a's next GET has the new record"""
    a, b = l1_gw(), l1_gw()
    alice = token(demo_keys)
    path = native("kambrium")

    for enabled in (False, True, False):
        warm(a, path, alice)
        start = time.monotonic()
        r = b.put(path, headers=alice, json={"agent_enabled": enabled})
        took = time.monotonic() - start
        assert r.status_code == 200
        # the PUT waited for the lease
        assert took >= LEASE_MS / 1000.0 * 0.9, took
        r = a.get(path, headers=alice)
        assert r.status_code == 200 and layer(r) != "l1", r.headers
        assert name_of(r) is enabled


def test_a_node_that_cannot_hear_stops_serving_before_the_put_is_acked(
        l1_gw, redis_server, mocks, demo_keys):
    """node a reaches Redis through a link that goes dead (its commands and
    its channel's PINGs go unanswered, and do not time out before the
    lease ends): a PUT through node b is answered only once node a's lease
    has run out, so node a never serves the old record from its L1 after
    the PUT's 2xx"""
    proxy = fault.TcpProxy(redis_server.port)
    try:
        lease = 1000
        http = "\nmcp_cache_redis_timeout %dms;" % (2500 * SLOW)
        a = l1_gw(lease="%dms" % lease, http=http,
                  redis_addr="127.0.0.1:%d" % proxy.port)
        b = l1_gw(lease="%dms" % lease, http=http)
        alice = token(demo_keys)
        path = native("kambrium")
        warm(a, path, alice)

        proxy.cut("blackhole")
        r = b.put(path, headers=alice, json={"agent_enabled": False})
        assert r.status_code == 200
        # node a answers from the registry once its Redis timeout is over
        r = a.get(path, headers=alice, timeout=5 * SLOW)
        assert r.status_code == 200
        assert layer(r) != "l1" and name_of(r) is False, r.headers
    finally:
        proxy.stop()


def test_bypassed_while_the_channel_is_down(l1_gw, mocks, demo_keys, rdb):
    """the channel is killed and may not subscribe again (an ACL): the
    answers come from Redis, the outage is logged once; allowed again, the
    L1 serves again"""
    ngx = l1_gw()
    alice = token(demo_keys)
    path = native("kambrium")
    warm(ngx, path, alice)

    rdb.execute_command("ACL", "SETUSER", "default", "-subscribe")
    try:
        rdb.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        assert wait_for(lambda: layer(ngx.get(path, headers=alice))
                        == "redis", timeout=5 * SLOW)
        for _ in range(20):
            r = ngx.get(path, headers=alice)
            assert (r.status_code, status(r), layer(r)) == \
                (200, "HIT", "redis")
        time.sleep(0.5)
        r = ngx.get(path, headers=alice)
        assert layer(r) == "redis"
    finally:
        rdb.execute_command("ACL", "SETUSER", "default", "+subscribe")

    # back within the backoff (at most 5 s)
    warm(ngx, path, alice, timeout=8)
    assert fetches(mocks, "kambrium") == 1

    # one outage, said once (the kill, then the refusals), and its end
    log = ngx.error_log()
    assert len(re.findall(r"\[warn\].* redis invalidation channel \S+ "
                          r"unavailable \(.*\), the L1 cache is bypassed "
                          r"until it is back", log)) == 1, log
    assert len(re.findall(r"\[notice\].* redis invalidation channel \S+ "
                          r"is available again", log)) == 1, log


def test_callers_never_share_an_l1_entry(l1_gw, mocks, demo_keys):
    ngx = l1_gw()
    alice, bob = token(demo_keys, "alice"), token(demo_keys, "bob")
    path = native("barndoor")

    warm(ngx, path, alice)
    r = ngx.get(path, headers=bob)
    assert (status(r), layer(r)) == ("MISS", "")
    assert fetches(mocks, "barndoor") == 2
    warm(ngx, path, bob)
    # nor a caller without credentials (refused before the cache)
    assert ngx.get(path).status_code == 401
    assert fetches(mocks, "barndoor") == 2


def test_a_small_zone_evicts_and_answers_stay_right(l1_gw, mocks, demo_keys):
    """a zone of 16 pages holds a few entries: the least recently used go,
    and every answer is still the caller's own and right"""
    ngx = l1_gw(zone="tiny:64k")
    callers = [token(demo_keys, "caller%d" % i) for i in range(40)]
    path = native("gatana")
    expected = ngx.get(path, headers=callers[0]).content
    for c in callers[1:]:
        assert ngx.get(path, headers=c).content == expected
    # each in turn into the L1, pushing the oldest out
    for c in callers:
        assert warm(ngx, path, c).content == expected
    r = ngx.get(path, headers=callers[-1])
    assert (layer(r), r.content) == ("l1", expected)
    r = ngx.get(path, headers=callers[0])
    assert (layer(r), r.content) == ("redis", expected)
    assert fetches(mocks, "gatana") == len(callers)


@pytest.mark.parametrize("http,message", [
    ("mcp_cache_l1 on;", '"mcp_cache_l1 on" needs "mcp_cache_redis" and '
                         '"mcp_cache_zone"'),
    ("mcp_cache_zone z:1m; mcp_cache_l1 on; mcp_cache_l1_lease 5ms;",
     '"mcp_cache_l1_lease" must be from 10ms to 10s'),
    ("mcp_cache_zone z:1m; mcp_cache_l1 on; mcp_cache_l1_lease 11s;",
     '"mcp_cache_l1_lease" must be from 10ms to 10s'),
])
def test_configuration_errors(nginx, mocks, redis_server, http, message):
    ngx = nginx(conf("127.0.0.1:%d" % redis_server.port, http), start=False,
                **ports(mocks))
    rc, out = ngx.test_config()
    assert rc != 0 and message in out, out


def test_a_redis_cluster_has_no_l1(nginx, mocks):
    ngx = nginx(conf("cluster=127.0.0.1:1", l1_http()), start=False,
                **ports(mocks))
    rc, out = ngx.test_config()
    assert rc == 0, out
    assert '"mcp_cache_l1" is not supported with a Redis Cluster' in out
