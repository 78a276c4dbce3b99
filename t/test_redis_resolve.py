"""Names that move (issue #14): with a "resolver" in the http block, the
Redis name is resolved by the workers (nginx's resolver), at every connect
and every mcp_cache_redis_resolve_interval; re-pointed (a managed
service's failover), it is followed without a reload.  The test runs a DNS
server of its own on loopback, and two Redis servers on one port of two
loopback addresses (127.0.0.2 and 127.0.0.3), as a name's old and new
address (ngx_http_mcp_redis_resolve.c).
"""

import re

import pytest

import harness
import redis_nodes
import test_cache as tc
from test_cache import native, status, token, wait_for

NAME = "redis.test"

MOVED = re.compile(r"\[notice\] (\d+)#\d+: mcp cache: redis \S+ now "
                   r"resolves to 127\.0\.0\.3, reconnecting")


@pytest.fixture
def dns():
    d = redis_nodes.Dns()
    yield d
    d.stop()


@pytest.fixture
def pair(workdir):
    """Redis on 127.0.0.2 and on 127.0.0.3, same port"""
    port = harness.free_port()
    old = redis_nodes.BoundRedis(workdir, "127.0.0.2", port)
    new = redis_nodes.BoundRedis(workdir, "127.0.0.3", port)
    yield old, new
    old.stop()
    new.stop()


def resolving_conf(dns, port, interval="300ms"):
    return tc.conf("%s:%d" % (NAME, port),
                   http="resolver 127.0.0.1:%d valid=1s ipv6=off;\n"
                        "mcp_cache_redis_resolve_interval %s;"
                        % (dns.port, interval))


def entries(r, vendor):
    c = r.client()
    try:
        return c.exists("mcp:{%s:%s}:entries" % (vendor, harness.SEED[vendor]))
    finally:
        c.close()


def test_a_name_that_moves_is_followed_without_reload(nginx, mocks, demo_keys,
                                                      dns, pair):
    old, new = pair
    dns.answer(NAME, "127.0.0.2")
    ngx = nginx(resolving_conf(dns, old.port), **tc.ports(mocks))
    alice = token(demo_keys)
    workers = set(ngx.worker_pids())

    ngx.get(native("kambrium"), headers=alice)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert entries(old, "kambrium") and not entries(new, "kambrium")

    # the name moves: both workers follow it, no request fails meanwhile
    dns.answer(NAME, "127.0.0.3")

    def moved():
        r = ngx.get(native("gatana"), headers=alice)
        assert r.status_code == 200
        return entries(new, "gatana") and status(r) == "HIT"
    assert wait_for(moved, timeout=10 * tc.SLOW)

    def both_workers():
        return len(set(MOVED.findall(ngx.error_log()))) == 2
    assert wait_for(both_workers, timeout=10 * tc.SLOW), ngx.error_log()

    # the old server may go away now: nothing notices
    old.stop()
    for _ in range(6):
        r = ngx.get(native("barndoor"), headers=alice)
        assert r.status_code == 200 and status(r) in ("MISS", "HIT")
    assert entries(new, "barndoor")

    assert set(ngx.worker_pids()) == workers, "no reload, no new worker"
    log = ngx.error_log()
    assert tc.WARN.findall(log) == [], log
    assert "now resolves to 127.0.0.3" in log


def test_the_name_is_resolved_again_at_every_connect(nginx, mocks, demo_keys,
                                                     dns, pair):
    """no periodic resolving (interval 0): a server that goes away, its
    name re-pointed, is found again by the next connect"""
    old, new = pair
    dns.answer(NAME, "127.0.0.2")
    ngx = nginx(resolving_conf(dns, old.port, interval="0"),
                **tc.ports(mocks))
    alice = token(demo_keys)
    assert tc.cache_ready(ngx, alice)

    old.stop()
    dns.answer(NAME, "127.0.0.3")
    r = ngx.get(native("gatana"), headers=alice)
    assert r.status_code == 200

    assert tc.cache_ready(ngx, alice)
    ngx.get(native("gatana"), headers=alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"
    assert entries(new, "gatana")
    assert "now resolves" not in ngx.error_log()


def test_a_name_not_known_yet(nginx, mocks, demo_keys, dns, pair):
    """with a resolver, a name is not needed when the configuration is
    loaded: until it resolves, the cache is off (said once), then on"""
    old, _ = pair
    ngx = nginx(resolving_conf(dns, old.port), **tc.ports(mocks))
    alice = token(demo_keys)

    for _ in range(4):
        r = ngx.get(native("kambrium"), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    log = ngx.error_log()
    assert set(tc.warnings_by_worker(log).values()) == {1}, log
    assert "\"redis.test\" could not be resolved (3: Host not found)" in log

    dns.answer(NAME, "127.0.0.2")
    assert tc.cache_ready(ngx, alice)
    ngx.get(native("kambrium"), headers=alice)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"


def test_without_a_resolver_the_name_is_resolved_at_load(nginx, mocks,
                                                         demo_keys,
                                                         redis_server):
    """today's behaviour, kept: no "resolver", the name is resolved once
    when the configuration is loaded (by the system's resolver)"""
    ngx = nginx(tc.conf("localhost:%d" % redis_server.port),
                **tc.ports(mocks))
    alice = token(demo_keys)
    ngx.get(native("gatana"), headers=alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"

    bad = nginx(tc.conf("%s:%d" % (NAME, redis_server.port)), start=False,
                **tc.ports(mocks))
    rc, out = bad.test_config()
    assert rc != 0 and "host not found in redis \"redis.test:" in out, out
