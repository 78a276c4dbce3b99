"""Writes and the cache (docs/cache.md, "The consistency contract"): a PUT
marks its server before it is forwarded, whatever becomes of it no node
stores or serves the old record once the PUT is answered, an invalidation
that waits for Redis lives in the node's shared zone (a reload keeps it),
only a primary is trusted, and a Redis stall is not a stampede on the
registry.

Each test runs real nginx (two workers), a redis-server of its own and the
mock registries, as test_cache.py does (whose helpers these are).
"""

import concurrent.futures
import time

import pytest
import redis
import requests

import harness
from harness import SEED
from test_cache import (RACE, SLOW, cache_gw, conf, fetches, native, ports,
                        rdb, status, token, wait_for)

# Barndoor's record is flat, and its PUT takes a new name alone
SERVER = "mcp:{barndoor:%s}" % SEED["barndoor"]
ORIGINAL = "Salesforce Production"


def name_of(r):
    return r.json()["name"]


def put_name(ngx, headers, name, sid=None):
    return ngx.put(native("barndoor", sid), headers=headers,
                   json={"name": name})


def test_a_write_marks_its_server_while_it_is_under_way(cache_gw, mocks,
                                                        demo_keys, rdb):
    """while the registry takes its time with a PUT, the server's entries
    are gone and none is stored: a GET meanwhile is answered by the
    registry (BYPASS), and once the PUT is answered every GET has the new
    record"""
    node1, node2 = cache_gw(), cache_gw()
    alice = token(demo_keys)
    path = native("barndoor")

    node1.get(path, headers=alice)
    assert status(node1.get(path, headers=alice)) == "HIT"

    mocks["barndoor"].fault("latency", delay_ms=1500 * RACE, count=1,
                            methods=["PUT"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        put = pool.submit(put_name, node2, alice, "Renamed")
        assert wait_for(lambda: rdb.hlen(SERVER + ":write") == 1)
        assert not rdb.exists(SERVER + ":entries")

        r = node1.get(path, headers=alice)
        assert (status(r), name_of(r)) == ("BYPASS", ORIGINAL)
        assert not rdb.exists(SERVER + ":entries")

        assert put.result().status_code == 200

    assert rdb.hlen(SERVER + ":write") == 0
    for node in (node1, node2, node1):
        r = node.get(path, headers=alice)
        assert name_of(r) == "Renamed"
        assert status(r) in ("MISS", "HIT")


def test_a_write_whose_outcome_is_unknown_keeps_the_server_uncached(
        cache_gw, mocks, demo_keys, rdb):
    """the gateway gives up on a PUT (504) that the registry applies later:
    the marker stays until mcp_cache_write_timeout, so no GET caches the
    old record meanwhile, and the late write is what every GET sees"""
    ngx = cache_gw(http="mcp_cache_write_timeout %ds;" % (4 * SLOW),
                   start=False)
    with open(ngx.conf_path) as f:
        text = f.read()
    with open(ngx.conf_path, "w") as f:
        f.write(text.replace("proxy_read_timeout        10s;",
                             "proxy_read_timeout %dms;" % (500 * SLOW)))
    ngx.start()
    alice = token(demo_keys)
    path = native("barndoor")

    ngx.get(path, headers=alice)
    assert status(ngx.get(path, headers=alice)) == "HIT"

    mocks["barndoor"].fault("latency", delay_ms=1500 * SLOW, count=1,
                            methods=["PUT"])
    r = put_name(ngx, alice, "Late")
    assert r.status_code == 504
    assert rdb.hlen(SERVER + ":write") == 1

    # before the registry applies it, and after: never kept
    seen = []
    deadline = time.monotonic() + 2.5 * SLOW
    while time.monotonic() < deadline:
        r = ngx.get(path, headers=alice)
        seen.append((status(r), name_of(r)))
        time.sleep(0.05)
    assert {s for s, _ in seen} == {"BYPASS"}
    assert seen[-1][1] == "Late"
    assert not rdb.exists(SERVER + ":entries")

    # the deadline passed: cached again, the late write's record
    assert wait_for(lambda: rdb.hlen(SERVER + ":write") == 0
                    or status(ngx.get(path, headers=alice)) == "MISS",
                    timeout=6 * SLOW)
    r = ngx.get(path, headers=alice)
    assert name_of(r) == "Late"
    assert status(ngx.get(path, headers=alice)) in ("MISS", "HIT")


def test_one_server_in_two_spellings_is_one_entry(cache_gw, mocks,
                                                 demo_keys):
    """Barndoor takes UUIDs in either case: both key the same entry, so a
    PUT to one spelling leaves no entry of the other behind"""
    ngx = cache_gw()
    alice = token(demo_keys)
    lower = SEED["barndoor"]
    upper = lower.upper()

    assert status(ngx.get(native("barndoor", upper), headers=alice)) == "MISS"
    assert status(ngx.get(native("barndoor", lower), headers=alice)) == "HIT"

    r = put_name(ngx, alice, "Renamed", sid=lower)
    assert r.status_code == 200

    r = ngx.get(native("barndoor", upper), headers=alice)
    assert (status(r), r.json()["name"]) == ("MISS", "Renamed")
    assert mocks["barndoor"].last()["path"].endswith(lower)


def test_only_a_primary_is_trusted(cache_gw, mocks, demo_keys, workdir):
    """pointed at a replica, the gateway uses no cache (and says why once a
    worker); writes are refused (strict): a replica cannot take them"""
    primary = harness.Redis(workdir)
    replica = harness.Redis(workdir, args=["--replicaof", "127.0.0.1",
                                           str(primary.port)])
    try:
        ngx = cache_gw(redis_addr="127.0.0.1:%d" % replica.port)
        alice = token(demo_keys)

        for _ in range(4):
            r = ngx.get(native("gatana"), headers=alice)
            assert (r.status_code, status(r)) == (200, "ERROR")
        r = put_name(ngx, alice, "Renamed")
        assert r.status_code == 503
        assert fetches(mocks, "barndoor", method="PUT") == 0
        assert "not a primary" in ngx.error_log()
    finally:
        replica.stop()
        primary.stop()


def test_an_invalidation_that_waits_survives_a_reload(cache_gw, mocks,
                                                      demo_keys, rdb):
    """Redis goes away while a PUT is at the registry: the PUT is answered
    (its marker holds the other nodes off), its invalidation waits in the
    node's zone, the node serves nothing of the server meanwhile, a reload
    keeps it, and the new workers send it when Redis is back"""
    ngx = cache_gw(http="mcp_cache_redis_timeout %dms;\n"
                        "mcp_cache_redis_connect_timeout %dms;"
                        % (300 * SLOW, 300 * SLOW))
    alice = token(demo_keys)
    path = native("barndoor")

    ngx.get(path, headers=alice)
    assert status(ngx.get(path, headers=alice)) == "HIT"

    mocks["barndoor"].fault("latency", delay_ms=800 * SLOW, count=1,
                            methods=["PUT"])
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        put = pool.submit(put_name, ngx, alice, "While Paused")
        assert wait_for(lambda: rdb.hlen(SERVER + ":write") == 1)
        rdb.execute_command("CLIENT", "PAUSE", 3000 * SLOW, "WRITE")
        assert put.result().status_code == 200

    assert "could not invalidate barndoor:%s" % SEED["barndoor"] in ngx.error_log()
    r = ngx.get(path, headers=alice)
    assert (status(r), name_of(r)) == ("ERROR", "While Paused")

    old = ngx.worker_pids()
    ngx.reload()
    assert wait_for(lambda: not set(ngx.worker_pids()) & set(old),
                    timeout=10 * SLOW)

    rdb.execute_command("CLIENT", "UNPAUSE")

    def replayed():
        r = ngx.get(path, headers=alice)
        assert name_of(r) == "While Paused"
        return "now that redis answers" in ngx.error_log()
    assert wait_for(replayed, timeout=10 * SLOW)
    assert wait_for(lambda: status(ngx.get(path, headers=alice)) == "HIT")


def test_a_stall_is_not_a_stampede(cache_gw, mocks, demo_keys, rdb):
    """Redis stalls past the command timeout: the node's concurrent misses
    for one entry share fetches from the registry, one at a time, each
    serving only requests that came before it began"""
    ngx = cache_gw(http="mcp_cache_redis_timeout %dms;\n"
                        "mcp_cache_redis_connect_timeout %dms;\n"
                        "mcp_cache_lock_timeout %dms;"
                        % (200 * SLOW, 200 * SLOW, 5000 * SLOW))
    alice = token(demo_keys)
    path = native("gatana")

    ngx.get(path, headers=alice)
    assert status(ngx.get(path, headers=alice)) == "HIT"
    before = fetches(mocks, "gatana")

    mocks["gatana"].fault("latency", delay_ms=300 * SLOW, count=1000,
                          methods=["GET"])
    rdb.execute_command("CLIENT", "PAUSE", 2000 * SLOW, "ALL")
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        answers = list(pool.map(
            lambda _: ngx.get(path, headers=alice, timeout=30), range(48)))

    assert [r.status_code for r in answers] == [200] * 48
    assert {r.json()["server"]["slug"] for r in answers} == {"github-tools"}
    fetched = fetches(mocks, "gatana") - before
    print("registry fetches for 48 concurrent GETs in a stall: %d" % fetched)
    assert fetched <= 8
