"""The Redis cache: hits never reach the registry, callers never
share entries, a PUT leaves nothing stale on any node, a GET racing a PUT
never stores the old answer, concurrent misses are coalesced, and Redis
failing (down, restarted, slow, refusing) never fails a request.

Every test runs real nginx with two workers, a redis-server of its own and
the mock registries, whose /_mock/requests counts show what reached them.
"""

import concurrent.futures
import http.server
import os
import re
import shutil
import socket
import tempfile
import threading
import time

import pytest
import redis
import requests
from redis.crc import key_slot

import harness
import tokens
from harness import NATIVE, SEED, UPSTREAM

LOG_FORMAT = ("$request_method $uri $status cache=$mcp_cache_status "
              'sub=$mcp_jwt_sub registry_args="$mcp_registry_args"')

# the three registries, the cache in front of them
HTTP = r"""
    mcp_registry  kambrium  vendor=kambrium  pass=/_mcp/kambrium;
    mcp_registry  barndoor  vendor=barndoor  pass=/_mcp/barndoor;
    mcp_registry  gatana    vendor=gatana    pass=/_mcp/gatana;

    mcp_cache_redis  @REDIS@;
"""

# the demo's routes, the caller authenticated, the cache on; each vendor's
# mock reached with the gateway's credential for it
SERVER = r"""
        mcp_auth_jwt           "mcp-gateway";
        mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/jwks.json;
        mcp_auth_jwt_issuer    https://auth.demo.example/;
        mcp_auth_jwt_audience  mcp-gateway;

        mcp_cache  on;
        @SERVER@

        location /kambrium/    { mcp_pass kambrium; @KAMBRIUM@ }
        location /barndoor/    { mcp_pass barndoor; @BARNDOOR@ }
        location /gatana/      { mcp_pass gatana; @GATANA@ }
        location /mcp-servers/ { mcp_canonical; @CANONICAL@ }

        proxy_http_version        1.1;
        proxy_connect_timeout     2s;
        proxy_read_timeout        10s;
        proxy_max_temp_file_size  0;

        location /_mcp/kambrium/ {
            internal;
            proxy_pass        http://127.0.0.1:${KAMBRIUM_PORT}/;
            proxy_set_header  Authorization "Bearer demo-kambrium-credential";
            proxy_set_header  Connection "";
            proxy_set_header  Accept-Encoding "";
        }

        location /_mcp/barndoor/ {
            internal;
            proxy_pass        http://127.0.0.1:${BARNDOOR_PORT}/;
            proxy_set_header  Authorization "Bearer demo-barndoor-credential";
            proxy_set_header  Connection "";
            proxy_set_header  Accept-Encoding "";
        }

        location /_mcp/gatana/ {
            internal;
            proxy_pass        http://127.0.0.1:${GATANA_PORT}/;
            proxy_set_header  Authorization "Bearer demo-gatana-credential";
            proxy_set_header  Connection "";
            proxy_set_header  Accept-Encoding "";
        }
"""

CANONICAL = {"Accept": "application/vnd.mcp.canonical+json"}

# under valgrind (make test-valgrind) everything nginx does is many times
# slower: the timings below stretch by this much
SLOW = harness.SLOW


# (but a registry slower than the gateway's proxy_read_timeout is a 504)
RACE = min(SLOW, 5)


def ms(n):
    """an nginx time, stretched like the test's own"""
    return "%dms" % (n * SLOW)

WARN = re.compile(r"\[warn\] (\d+)#\d+: mcp cache: redis \S+ unavailable")
BACK = re.compile(r"\[notice\] (\d+)#\d+: mcp cache: redis \S+ is available "
                  r"again")


def conf(redis_addr, http="", server="", main="", loc=None):
    """the cache gateway (HTTP and SERVER in harness.conf()) with more
    directives at each level: "main", "http", "server"; "loc" maps
    kambrium, barndoor, gatana and canonical to a location's own"""
    text = SERVER.replace("@SERVER@", server)
    for name in ("kambrium", "barndoor", "gatana", "canonical"):
        text = text.replace("@%s@" % name.upper(), (loc or {}).get(name, ""))
    return harness.conf(main=main, workers=2, log_format=LOG_FORMAT,
                        http=HTTP.replace("@REDIS@", redis_addr) + http,
                        server=text)


def ports(mocks):
    return dict(KAMBRIUM_PORT=mocks["kambrium"].port,
                BARNDOOR_PORT=mocks["barndoor"].port,
                GATANA_PORT=mocks["gatana"].port)


@pytest.fixture
def cache_gw(redis_server, mocks, nginx):
    """A factory of cache gateways in front of the mocks and redis_server
    (which stops after them)"""

    def make(http="", server="", main="", loc=None, redis_addr=None,
             start=True, **subst):
        addr = redis_addr or "127.0.0.1:%d" % redis_server.port
        return nginx(conf(addr, http, server, main, loc), start=start,
                     **dict(ports(mocks), **subst))

    return make


@pytest.fixture
def rdb(redis_server):
    client = redis.Redis(port=redis_server.port)
    yield client
    client.close()


def token(demo_keys, sub="alice"):
    return tokens.bearer(tokens.mint(demo_keys, sub=sub))


def native(vendor, sid=None):
    return NATIVE[vendor] + (sid or SEED[vendor])


def status(r):
    return r.headers.get("X-Cache-Status")


def fetches(mocks, vendor, sid=None, method="GET"):
    return mocks[vendor].count(method, UPSTREAM[vendor] + (sid or SEED[vendor]))


def wait_for(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def cache_ready(ngx, headers, vendor="barndoor"):
    """the cache serves again (a HIT or a MISS, no ERROR, checked through a
    key nothing else uses), in every worker that said it was down"""
    def ok():
        answers = [ngx.get(native(vendor), headers=headers).headers
                   .get("X-Cache-Status") for _ in range(4)]
        log = ngx.error_log()
        return (all(a in ("HIT", "MISS") for a in answers)
                and set(WARN.findall(log)) <= set(BACK.findall(log)))
    return wait_for(ok, timeout=15 * SLOW)


def access_log(ngx, until, count=1):
    """the access log once "until" is in it "count" times: a request is
    logged after its answer is sent"""
    def read():
        with open(ngx.path("logs/access.log")) as f:
            return f.read()
    wait_for(lambda: read().count(until) >= count, timeout=5 * SLOW)
    return read()


def keyspace(client):
    """every key, with its value(s) as one bytes blob"""
    out = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            value = b"\n".join(k + b"=" + v
                               for k, v in client.hgetall(key).items())
        elif kind == b"string":
            value = client.get(key) or b""
        else:
            value = b""
        out[key.decode()] = value
    return out


# -- hits, misses, bypass ---------------------------------------------------

def test_a_hit_never_reaches_the_registry(cache_gw, mocks, demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)

    first = ngx.get(native("kambrium"), headers=alice)
    assert first.status_code == 200
    assert status(first) == "MISS"

    for _ in range(5):
        r = ngx.get(native("kambrium"), headers=alice)
        assert r.status_code == 200
        assert status(r) == "HIT"
        assert r.content == first.content
        assert r.headers["Content-Type"] == "application/json"

    assert fetches(mocks, "kambrium") == 1

    # HEAD is looked up like GET
    r = ngx.request("HEAD", native("kambrium"), headers=alice)
    assert status(r) == "HIT"
    assert r.content == b""
    assert int(r.headers["Content-Length"]) == len(first.content)
    assert fetches(mocks, "kambrium") == 1

    log = access_log(ngx, "HEAD /kambrium/api/v1/mcp-servers/123 200")
    assert log.count("GET /kambrium/api/v1/mcp-servers/123 200 cache=MISS") \
        == 1
    assert log.count("GET /kambrium/api/v1/mcp-servers/123 200 cache=HIT") \
        == 5
    assert "HEAD /kambrium/api/v1/mcp-servers/123 200 cache=HIT" in log


def test_a_head_miss_stores_the_whole_answer(cache_gw, mocks, demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)

    r = ngx.request("HEAD", native("gatana"), headers=alice)
    assert (r.status_code, status(r)) == (200, "MISS")

    r = ngx.get(native("gatana"), headers=alice)
    assert (r.status_code, status(r)) == (200, "HIT")
    assert r.json()["server"]["slug"] == "github-tools"
    assert fetches(mocks, "gatana") == 1


def test_each_view_is_an_entry_of_its_own(cache_gw, mocks, demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)
    paths = [(native("barndoor"), {}),
             (native("barndoor"), CANONICAL),
             ("/mcp-servers/barndoor/" + SEED["barndoor"], {})]

    # the canonical view is one answer whichever route asked for it: the
    # key has $mcp_view, not the route
    got = []
    for path, extra in paths:
        r = ngx.get(path, headers=dict(alice, **extra))
        assert r.status_code == 200
        got.append((status(r), r.content))
    assert [s for s, _ in got] == ["MISS", "MISS", "HIT"]
    assert got[1][1] == got[2][1] != got[0][1]

    for (path, extra), (_, content) in zip(paths, got):
        r = ngx.get(path, headers=dict(alice, **extra))
        assert (r.status_code, status(r)) == (200, "HIT")
        assert r.content == content

    assert fetches(mocks, "barndoor") == 2


def test_the_query_string_is_part_of_the_key(cache_gw, mocks, demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)

    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    r = ngx.get(native("kambrium") + "?expand=config", headers=alice)
    assert status(r) == "MISS"
    assert mocks["kambrium"].last()["query"] == "expand=config"
    r = ngx.get(native("kambrium") + "?expand=config", headers=alice)
    assert status(r) == "HIT"
    assert fetches(mocks, "kambrium") == 2

    log = access_log(ngx, 'registry_args="expand=config"', count=2)
    assert log.count('cache=MISS sub=alice registry_args=""') == 1


def test_the_canonical_route_ignores_the_query_string(cache_gw, mocks,
                                                     demo_keys):
    """the canonical route asks the registry without a query string, so a
    query string makes no variant: random ones cannot bust the cache"""
    ngx = cache_gw()
    alice = token(demo_keys)
    path = "/mcp-servers/kambrium/" + SEED["kambrium"]

    assert status(ngx.get(path + "?x=1", headers=alice)) == "MISS"
    assert mocks["kambrium"].last()["query"] == ""
    for query in ("?x=2", "?y=3&x=1", ""):
        assert status(ngx.get(path + query, headers=alice)) == "HIT"
    assert fetches(mocks, "kambrium") == 1

    log = access_log(ngx, "cache=HIT", count=3)
    assert log.count('registry_args=""') == 4


@pytest.mark.parametrize("header", [{"Cache-Control": "no-cache"},
                                    {"Cache-Control": "max-age=0, no-cache"},
                                    {"Pragma": "no-cache"}])
def test_no_cache_bypasses_and_refreshes(cache_gw, mocks, demo_keys, header):
    ngx = cache_gw()
    alice = token(demo_keys)

    before = ngx.get(native("barndoor"), headers=alice).json()
    assert before["name"] == "Salesforce Production"

    # the registry changes behind the gateway's back
    requests.put(mocks["barndoor"].url + UPSTREAM["barndoor"]
                 + SEED["barndoor"], json={"name": "Renamed"},
                 headers={"Authorization": "Bearer demo-barndoor-credential"},
                 timeout=5).raise_for_status()

    r = ngx.get(native("barndoor"), headers=alice)
    assert (status(r), r.json()["name"]) == ("HIT", "Salesforce Production")

    r = ngx.get(native("barndoor"), headers=dict(alice, **header))
    assert (status(r), r.json()["name"]) == ("BYPASS", "Renamed")

    r = ngx.get(native("barndoor"), headers=alice)
    assert (status(r), r.json()["name"]) == ("HIT", "Renamed")

    assert fetches(mocks, "barndoor") == 2
    assert "cache=BYPASS" in access_log(ngx, "cache=BYPASS")


def test_no_cache_can_be_ignored(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server="mcp_cache_bypass_no_cache off;")
    alice = token(demo_keys)

    ngx.get(native("barndoor"), headers=alice)
    r = ngx.get(native("barndoor"),
                headers=dict(alice, **{"Cache-Control": "no-cache"}))
    assert status(r) == "HIT"
    assert fetches(mocks, "barndoor") == 1


def test_status_header_name_and_off(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server="mcp_cache_status_header X-MCP-Cache;",
                   loc={"gatana": "mcp_cache_status_header off;"})
    alice = token(demo_keys)
    r = ngx.get(native("kambrium"), headers=alice)
    assert r.headers["X-MCP-Cache"] == "MISS"
    assert "X-Cache-Status" not in r.headers

    ngx.get(native("gatana"), headers=alice)
    r = ngx.get(native("gatana"), headers=alice)
    assert "X-MCP-Cache" not in r.headers
    assert "X-Cache-Status" not in r.headers
    hit = "GET /gatana/api/v1/mcp-servers/github-tools 200 cache=HIT"
    assert hit in access_log(ngx, hit)


def test_ttl_expiry(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server="mcp_cache_ttl 1s;")
    alice = token(demo_keys)

    assert status(ngx.get(native("gatana"), headers=alice)) == "MISS"
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"
    time.sleep(1.2)
    assert status(ngx.get(native("gatana"), headers=alice)) == "MISS"
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"
    assert fetches(mocks, "gatana") == 2


def test_an_expired_entry_is_a_miss_while_its_hash_lives_on(cache_gw, mocks,
                                                          demo_keys, rdb):
    """a hit is checked against the entry's own expiry, not only the
    hash's (which lives as long as the longest entry of the server)"""
    ngx = cache_gw()
    alice = token(demo_keys)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"

    key = "mcp:{kambrium:%s}:entries" % SEED["kambrium"]
    fields = rdb.hgetall(key)
    meta = [f for f in fields if not f.endswith(b":b")]
    assert len(meta) == 1
    code, _, run_id = fields[meta[0]].split()
    past = int(time.time() * 1000) - 1000
    rdb.hset(key, meta[0], b" ".join((code, str(past).encode(), run_id)))
    assert rdb.pttl(key) > 30000

    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert fetches(mocks, "kambrium") == 2


def test_an_entry_another_server_wrote_is_never_served(cache_gw, mocks,
                                                      demo_keys, rdb):
    """an entry names the server that wrote it (its run id): what a replica
    promoted by a failover, or a server restarted from its snapshot, holds
    from before is a miss, by the probe and by the script alike"""
    ngx = cache_gw()
    alice = token(demo_keys)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"

    key = "mcp:{kambrium:%s}:entries" % SEED["kambrium"]
    fields = rdb.hgetall(key)
    meta = [f for f in fields if not f.endswith(b":b")][0]
    code, expiry, run_id = fields[meta].split()
    other = b"0" * len(run_id)
    rdb.hset(key, meta, b" ".join((code, expiry, other)))

    # the worker that hit has run a script: its next look is the probe
    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert fetches(mocks, "kambrium") == 2
    assert rdb.hget(key, meta).split()[2] == run_id


def test_a_hit_costs_redis_one_plain_command(cache_gw, mocks, demo_keys, rdb):
    """what a hit costs Redis: one HMGET, no script (a shared Redis serves
    many gateways), once the worker's connection has run a script (its
    first lookup: see the next test); misses, stores and invalidations run
    the scripts"""
    ngx = cache_gw()
    alice = token(demo_keys)
    client = requests.Session()         # one connection: one worker
    url = ngx.url + native("kambrium")
    assert status(client.get(url, headers=alice)) == "MISS"

    rdb.config_resetstat()
    for _ in range(10):
        assert status(client.get(url, headers=alice)) == "HIT"
    client.close()
    stats = rdb.info("commandstats")
    assert stats["cmdstat_hmget"]["calls"] == 10
    assert "cmdstat_evalsha" not in stats
    assert "cmdstat_eval" not in stats
    assert fetches(mocks, "kambrium") == 1


def test_only_listed_statuses_are_cached(cache_gw, mocks, demo_keys):
    alice = token(demo_keys)
    ngx = cache_gw()

    # a vendor's 404, and an error of the gateway itself
    for _ in range(2):
        r = ngx.get(native("kambrium", "999"), headers=alice)
        assert (r.status_code, status(r)) == (404, "MISS")
    assert fetches(mocks, "kambrium", "999") == 2

    mocks["gatana"].fault("nonjson", count=1)
    r = ngx.get(native("gatana"), headers=alice)
    assert (r.status_code, status(r)) == (502, "MISS")
    # and its lock is gone: the next request does not wait for it
    start = time.monotonic()
    r = ngx.get(native("gatana"), headers=alice)
    assert (r.status_code, status(r)) == (200, "MISS")
    assert time.monotonic() - start < 1.0 * SLOW

    other = cache_gw(server="mcp_cache_statuses 200 404;")
    r = other.get(native("kambrium", "998"), headers=alice)
    assert (r.status_code, status(r)) == (404, "MISS")
    r = other.get(native("kambrium", "998"), headers=alice)
    assert (r.status_code, status(r)) == (404, "HIT")
    assert r.json() == {"detail": "MCP server 998 not found or not "
                                  "accessible"}
    assert fetches(mocks, "kambrium", "998") == 1


def test_large_answers_are_not_stored(cache_gw, mocks, demo_keys, rdb):
    ngx = cache_gw(server="mcp_cache_max_entry_size 64k;")
    alice = token(demo_keys)
    requests.post(mocks["gatana"].url + "/_mock/files", json={"count": 2000},
                  timeout=10)

    for _ in range(2):
        r = ngx.get(native("gatana"), headers=alice)
        assert (r.status_code, status(r)) == (200, "MISS")
        assert len(r.content) > 64 * 1024
    assert fetches(mocks, "gatana") == 2
    assert not rdb.exists("mcp:{gatana:github-tools}:entries")


def test_a_cache_off_location_is_not_looked_up(cache_gw, mocks, demo_keys,
                                               rdb):
    ngx = cache_gw(loc={"barndoor": "mcp_cache off;"})
    alice = token(demo_keys)
    for _ in range(2):
        r = ngx.get(native("barndoor"), headers=alice)
        assert r.status_code == 200
        assert status(r) is None
    assert fetches(mocks, "barndoor") == 2
    assert access_log(ngx, "cache= sub=alice", 2).count("cache= sub=alice") \
        == 2


# -- callers ----------------------------------------------------------------

def test_callers_never_share_an_entry(cache_gw, mocks, demo_keys):
    """the default key has the caller's issuer and subject"""
    ngx = cache_gw()
    alice, bob = token(demo_keys, "alice"), token(demo_keys, "bob")

    assert status(ngx.get(native("gatana"), headers=alice)) == "MISS"
    assert status(ngx.get(native("gatana"), headers=bob)) == "MISS"
    assert fetches(mocks, "gatana") == 2

    # a fresh token of the same subject is the same caller
    assert status(ngx.get(native("gatana"),
                          headers=token(demo_keys, "alice"))) == "HIT"
    assert status(ngx.get(native("gatana"), headers=bob)) == "HIT"
    assert fetches(mocks, "gatana") == 2

    log = access_log(ngx, "cache=HIT sub=bob")
    assert "cache=MISS sub=alice" in log and "cache=MISS sub=bob" in log


def test_a_custom_key(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server='mcp_cache_key "$mcp_registry:$mcp_server_id:'
                          '$mcp_view:$http_x_tenant";')
    alice = token(demo_keys)

    def get(tenant):
        return status(ngx.get(native("kambrium"),
                              headers=dict(alice, **{"X-Tenant": tenant})))

    assert [get("a"), get("b"), get("a"), get("b")] == \
        ["MISS", "MISS", "HIT", "HIT"]
    assert fetches(mocks, "kambrium") == 2


def test_no_two_callers_share_a_key_by_its_separators(cache_gw, mocks,
                                                      demo_keys):
    """issue 12, 1: the key's parts are not joined with ":", so a subject
    with ":" in it and a query string ending in ":" make two entries"""
    ngx = cache_gw()
    path = native("kambrium", "srv_123abc")

    first = ngx.get(path + "?x:", headers=token(demo_keys, "rt-alice"))
    second = ngx.get(path, headers=token(demo_keys, "rt-alice:x"))

    assert first.status_code == second.status_code == 200
    assert [status(first), status(second)] == ["MISS", "MISS"]
    assert fetches(mocks, "kambrium", "srv_123abc") == 2


def test_a_custom_key_is_unambiguous_too(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server='mcp_cache_key "$http_x_a:$http_x_b";')
    alice = token(demo_keys)

    def get(a, b):
        return status(ngx.get(native("kambrium"),
                              headers=dict(alice, **{"X-A": a, "X-B": b})))

    assert [get("p:q", "r"), get("p", "q:r"), get("p:q", "r"),
            get("p", "q:r")] == ["MISS", "MISS", "HIT", "HIT"]
    assert fetches(mocks, "kambrium") == 2


def test_without_authentication_the_credentials_split_the_key(
        nginx, mocks, redis_server):
    """no JWT subject: callers presenting different Authorization headers
    never share an entry either"""
    text = conf("127.0.0.1:%d" % redis_server.port)
    text = re.sub(r"\n\s*mcp_auth_jwt[^\n]*", "", text)
    ngx = nginx(text, **ports(mocks))

    def get(auth):
        return status(ngx.get(native("barndoor"),
                              headers={"Authorization": auth}))

    assert [get("Bearer one"), get("Bearer two"), get("Bearer one"),
            get("Bearer two")] == ["MISS", "MISS", "HIT", "HIT"]
    assert fetches(mocks, "barndoor") == 2


# -- PUT ----------------------------------------------------------------------

def test_put_invalidates_every_variant_on_every_node(cache_gw, mocks,
                                                     demo_keys, rdb):
    node1, node2 = cache_gw(), cache_gw()
    callers = [token(demo_keys, "alice"), token(demo_keys, "bob")]
    variants = [dict(c, **v) for c in callers for v in ({}, CANONICAL)]
    path = native("kambrium")

    for node in (node1, node2):
        for v in variants:
            node.get(path, headers=v)
    for node in (node1, node2):
        for v in variants:
            assert status(node.get(path, headers=v)) == "HIT"
    assert fetches(mocks, "kambrium") == 4
    assert len(rdb.hkeys("mcp:{kambrium:123}:entries")) == 8
    gen = rdb.get("mcp:{kambrium:123}:gen")

    r = node2.put(path, headers=callers[0], json={"agent_enabled": False})
    assert r.status_code == 200
    assert status(r) is None

    # gone before the PUT's answer came back; a new generation before the
    # PUT went and after it came back; the writer left its marker
    assert not rdb.exists("mcp:{kambrium:123}:entries")
    assert int(rdb.get("mcp:{kambrium:123}:gen")) == int(gen) + 2
    assert rdb.hlen("mcp:{kambrium:123}:write") == 0

    for v in variants:
        r = node1.get(path, headers=v)
        assert status(r) == "MISS"
        body = r.json()
        assert (body["data"]["agent_enabled"] if "data" in body
                else body["agentEnabled"] if "agentEnabled" in body
                else body["enabled"]) is False, body
    assert fetches(mocks, "kambrium") == 8
    for v in variants:
        assert status(node2.get(path, headers=v)) == "HIT"

    # a PUT the registry refuses leaves the cache alone
    r = node1.put(path, headers=callers[0], json={"access_type": "nope"})
    assert r.status_code == 400
    assert status(node2.get(path, headers=variants[0])) == "HIT"


def test_put_through_the_canonical_route_invalidates_native(cache_gw, mocks,
                                                            demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)

    assert ngx.get(native("barndoor"), headers=alice).json()["name"] == \
        "Salesforce Production"
    r = ngx.put("/mcp-servers/barndoor/" + SEED["barndoor"], headers=alice,
                json={"name": "Via Canonical"})
    assert r.status_code == 200, r.text
    r = ngx.get(native("barndoor"), headers=alice)
    assert (status(r), r.json()["name"]) == ("MISS", "Via Canonical")


class SlowProxy:
    """A registry that is slow to answer GETs: it reads the mock at once and
    answers "delay" seconds later, so what it answers predates anything
    that happens meanwhile (a vendor reading its database before a PUT
    commits)."""

    def __init__(self, target, delay):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                r = requests.get(target + self.path, headers={
                    "Authorization": self.headers["Authorization"]},
                    timeout=10)
                time.sleep(proxy.delay)
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def do_PUT(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                r = requests.put(target + self.path, data=body, headers={
                    "Authorization": self.headers["Authorization"],
                    "Content-Type": "application/json"}, timeout=10)
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

        self.delay = delay
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("slow", ["mock-latency", "answer-predates-put"])
def test_a_get_racing_a_put_never_stores_the_old_answer(cache_gw, mocks,
                                                        demo_keys, slow):
    alice = token(demo_keys)
    path = native("barndoor")
    proxy = None

    if slow == "mock-latency":
        ngx = cache_gw()
        mocks["barndoor"].fault("latency", delay_ms=1200 * RACE,
                                methods=["GET"], count=1)
    else:
        proxy = SlowProxy(mocks["barndoor"].url, 1.2 * RACE)
        ngx = cache_gw(BARNDOOR_PORT=proxy.port)

    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow_get = pool.submit(ngx.get, path, headers=alice)
            time.sleep(0.4 * RACE)     # the slow GET is upstream now
            if proxy:
                proxy.delay = 0
            r = ngx.put(path, headers=alice, json={"name": "After PUT"})
            assert r.status_code == 200, r.text
            old = slow_get.result()

        assert "could not invalidate" not in ngx.error_log()
        assert (old.status_code, status(old)) == (200, "MISS")
        if slow == "answer-predates-put":
            # its client got what the registry read before the PUT ...
            assert old.json()["name"] == "Salesforce Production"
        gets = fetches(mocks, "barndoor")

        # ... but the cache did not keep it: the next GET goes upstream
        r = ngx.get(path, headers=alice)
        assert (status(r), r.json()["name"]) == ("MISS", "After PUT")
        assert fetches(mocks, "barndoor") == gets + 1
        r = ngx.get(path, headers=alice)
        assert (status(r), r.json()["name"]) == ("HIT", "After PUT")
    finally:
        if proxy:
            proxy.stop()


# -- stampede -----------------------------------------------------------------

def test_fifty_concurrent_misses_fetch_once(cache_gw, mocks, demo_keys):
    ngx = cache_gw()
    alice = token(demo_keys)
    assert len(ngx.worker_pids()) == 2
    mocks["gatana"].fault("latency", delay_ms=300, methods=["GET"])

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(
            lambda _: ngx.get(native("gatana"), headers=alice), range(50)))

    assert [r.status_code for r in answers] == [200] * 50
    assert len({r.content for r in answers}) == 1
    got = [status(r) for r in answers]
    n = fetches(mocks, "gatana")
    print("50 concurrent misses: %d upstream fetches, %d MISS, %d HIT"
          % (n, got.count("MISS"), got.count("HIT")))
    assert n <= 4
    assert got.count("MISS") == n
    assert got.count("HIT") == 50 - n


def test_without_the_lock_every_miss_fetches(cache_gw, mocks, demo_keys):
    ngx = cache_gw(server="mcp_cache_lock off;")
    alice = token(demo_keys)
    mocks["gatana"].fault("latency", delay_ms=300, methods=["GET"])

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(
            lambda _: ngx.get(native("gatana"), headers=alice), range(10)))

    assert [r.status_code for r in answers] == [200] * 10
    assert fetches(mocks, "gatana") > 4


def test_a_lock_holder_that_takes_too_long(cache_gw, mocks, demo_keys):
    """waiters give up after mcp_cache_lock_timeout and fetch themselves"""
    ngx = cache_gw(server="mcp_cache_lock_timeout %s;" % ms(300))
    alice = token(demo_keys)
    mocks["gatana"].fault("latency", delay_ms=1000 * RACE, methods=["GET"],
                          count=1)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(ngx.get, native("gatana"), headers=alice)
        time.sleep(0.2 * SLOW)
        start = time.monotonic()
        second = pool.submit(ngx.get, native("gatana"), headers=alice)
        assert second.result().status_code == 200
        waited = time.monotonic() - start
        assert first.result().status_code == 200

    assert waited < 0.9 * SLOW
    assert fetches(mocks, "gatana") == 2


# -- Redis failing ------------------------------------------------------------

def warnings_by_worker(log):
    counts = {}
    for pid in WARN.findall(log):
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def test_redis_restarted_under_load(cache_gw, mocks, demo_keys,
                                    redis_server):
    ngx = cache_gw()
    alice = token(demo_keys)
    assert cache_ready(ngx, alice)
    stop = threading.Event()
    results = []
    lock = threading.Lock()

    def load(i):
        vendor = ("kambrium", "gatana")[i % 2]
        while not stop.is_set():
            try:
                r = ngx.get(native(vendor), headers=alice, timeout=10)
                code, cache = r.status_code, status(r)
            except requests.RequestException as e:
                code, cache = repr(e), None
            with lock:
                results.append((code, cache))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        with lock:
            before = len(results)
        redis_server.stop()
        time.sleep(1.0)
        with lock:
            during = len(results) - before
        redis_server.start()
        assert cache_ready(ngx, alice)
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join()

    codes = [c for c, _ in results]
    caches = [s for _, s in results]
    print("%d requests, %d while Redis was down; %s" % (
        len(results), during, {s: caches.count(s) for s in set(caches)}))
    assert codes == [200] * len(results)
    assert "ERROR" in caches and "HIT" in caches

    log = ngx.error_log()
    warned = warnings_by_worker(log)
    assert warned and set(warned.values()) == {1}, warned
    assert len(warned) <= 2
    back = set(BACK.findall(log))
    assert back == set(warned), log

    # caching works as before
    mocks["kambrium"].reset()
    r1 = ngx.get(native("kambrium", "srv_123abc"), headers=alice)
    r2 = ngx.get(native("kambrium", "srv_123abc"), headers=alice)
    assert (status(r1), status(r2)) == ("MISS", "HIT")


def test_an_idle_connection_closed_by_redis_is_reopened(cache_gw, mocks,
                                                        demo_keys, rdb):
    """Redis's idle timeout (or a proxy's) is no outage: nothing is logged,
    nothing fails, the next request is served from the cache"""
    ngx = cache_gw()
    alice = token(demo_keys)
    assert cache_ready(ngx, alice)
    ngx.get(native("kambrium"), headers=alice)
    rdb.config_set("timeout", 1)

    def closed():
        clients = rdb.client_list()
        return all(int(c["age"]) < 2 for c in clients if c["name"] != "me")
    rdb.client_setname("me")
    time.sleep(2.5)
    assert wait_for(closed, timeout=5)
    rdb.config_set("timeout", 0)

    for _ in range(4):
        r = ngx.get(native("kambrium"), headers=alice)
        assert (r.status_code, status(r)) == (200, "HIT")
    assert fetches(mocks, "kambrium") == 1
    assert WARN.findall(ngx.error_log()) == []


def test_redis_down_from_the_start(cache_gw, mocks, demo_keys):
    """reads are served from the registry; a write is not forwarded
    (mcp_cache_consistency strict): the gateway could not keep other nodes
    from serving the old record, so nothing changes and the client is told
    why"""
    ngx = cache_gw(redis_addr="127.0.0.1:%d" % harness.free_port())
    alice = token(demo_keys)

    for _ in range(6):
        r = ngx.get(native("kambrium"), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    r = ngx.put(native("kambrium"), headers=alice,
                json={"agent_enabled": False})
    assert r.status_code == 503
    assert r.headers["Content-Type"] == "application/json"
    assert "not forwarded" in r.json()["detail"]
    assert fetches(mocks, "kambrium") == 6
    assert fetches(mocks, "kambrium", method="PUT") == 0

    log = ngx.error_log()
    assert set(warnings_by_worker(log).values()) == {1}
    assert "cache=ERROR" in access_log(ngx, "cache=ERROR")


def test_redis_down_relaxed_forwards_and_says_for_how_long(cache_gw, mocks,
                                                           demo_keys):
    """mcp_cache_consistency relaxed: the write goes, its answer says how
    long other nodes may serve the previous record (the longest
    mcp_cache_ttl), and the log says it once"""
    ngx = cache_gw(redis_addr="127.0.0.1:%d" % harness.free_port(),
                   http="mcp_cache_consistency relaxed;")
    alice = token(demo_keys)

    for _ in range(3):
        r = ngx.put(native("kambrium"), headers=alice,
                    json={"agent_enabled": False})
        assert r.status_code == 200
        assert r.headers["X-Cache-Invalidation"] == "pending; max-stale=60"
    assert fetches(mocks, "kambrium", method="PUT") == 3

    log = ngx.error_log()
    assert log.count("mcp_cache_consistency relaxed") <= 2  # one a worker
    assert "could not invalidate kambrium:123 after a PUT" in log


def test_invalidations_missed_while_down_are_replayed(cache_gw, mocks,
                                                      demo_keys, rdb,
                                                      redis_server):
    """a node that cannot reach Redis during a PUT (relaxed: it forwards
    it) invalidates as soon as it can again: the other nodes stop serving
    the old answer"""
    node1, node2 = cache_gw(), cache_gw(
        http="mcp_cache_redis_timeout %s;\n"
             "mcp_cache_redis_connect_timeout %s;\n"
             "mcp_cache_consistency relaxed;" % (ms(300), ms(300)))
    alice = token(demo_keys)
    path = native("barndoor")

    node1.get(path, headers=alice)
    assert status(node1.get(path, headers=alice)) == "HIT"

    # node2 loses Redis (a pause longer than its timeouts), node1 too, but
    # node1 serves nothing meanwhile
    rdb.execute_command("CLIENT", "PAUSE", 1500 * SLOW, "ALL")
    r = node2.put(path, headers=alice, json={"name": "While Paused"})
    assert r.status_code == 200
    assert "could not invalidate" in node2.error_log()
    time.sleep(1.6 * SLOW)

    def replayed():
        return not rdb.exists("mcp:{barndoor:%s}:entries" % SEED["barndoor"])
    assert wait_for(replayed, timeout=10)
    r = node1.get(path, headers=alice)
    assert r.json()["name"] == "While Paused"
    assert "now that redis answers" in node2.error_log()


def test_redis_slow_beyond_the_timeout(cache_gw, mocks, demo_keys, rdb):
    ngx = cache_gw(http="mcp_cache_redis_timeout %s;\n"
                        "mcp_cache_redis_connect_timeout %s;"
                        % (ms(300), ms(300)))
    alice = token(demo_keys)
    ngx.get(native("gatana"), headers=alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"

    rdb.execute_command("CLIENT", "PAUSE", 2000 * SLOW, "ALL")
    paused = time.monotonic()
    for _ in range(4):
        start = time.monotonic()
        r = ngx.get(native("gatana"), headers=alice)
        took = time.monotonic() - start
        assert r.status_code == 200
        assert status(r) == "ERROR"
        assert took < 1.0 * SLOW, took
    assert time.monotonic() - paused < 2.0 * SLOW

    assert cache_ready(ngx, alice)
    assert status(ngx.get(native("gatana"), headers=alice)) in ("HIT",
                                                                "MISS")
    log = ngx.error_log()
    assert set(warnings_by_worker(log).values()) == {1}
    assert "timed out" in log


def test_a_node_refused_scripts_serves_nothing_its_put_changed(
        nginx, cache_gw, mocks, demo_keys, rdb, tmp_path, redis_server):
    """Redis refusing scripts to one node (an ACL) while plain commands
    work (relaxed: its writes go): that node's invalidations fail, so it
    may not serve hits by HMGET alone; once scripts are allowed again, it serves nothing of the
    server it changed until it has replayed the invalidation, on the same
    connection (one worker here, whose queue that is)"""
    rdb.execute_command("ACL", "SETUSER", "noeval", "on", ">noevalpw",
                        "~*", "&*", "+@all", "-eval", "-evalsha")
    pw = tmp_path / "pw"
    pw.write_text("noevalpw\n")
    good = cache_gw()
    text = conf("127.0.0.1:%d user=noeval password_file=%s"
                % (redis_server.port, pw),
                http="mcp_cache_consistency relaxed;")
    bad = nginx(text.replace("worker_processes  2;", "worker_processes  1;"),
                **ports(mocks))
    alice = token(demo_keys)
    path = native("barndoor")

    assert status(good.get(path, headers=alice)) == "MISS"
    assert status(good.get(path, headers=alice)) == "HIT"
    r = bad.get(path, headers=alice)
    assert (r.status_code, status(r)) == (200, "ERROR")

    r = bad.put(path, headers=alice, json={"name": "Renamed"})
    assert r.status_code == 200
    assert "could not invalidate" in bad.error_log()
    assert r.headers["X-Cache-Invalidation"] == "pending; max-stale=60"
    r = bad.get(path, headers=alice)
    assert (status(r), r.json()["name"]) == ("ERROR", "Renamed")

    # scripts allowed again: the server it changed is still not looked up
    rdb.execute_command("ACL", "SETUSER", "noeval", "+eval", "+evalsha")
    r = bad.get(path, headers=alice)
    assert (status(r), r.json()["name"]) == ("ERROR", "Renamed")

    # the first script that works ends the outage and replays it
    assert status(bad.get(native("gatana"), headers=alice)) == "MISS"

    def replayed():
        return not rdb.exists("mcp:{barndoor:%s}:entries" % SEED["barndoor"])
    assert wait_for(replayed, timeout=10)
    assert "now that redis answers" in bad.error_log()
    for node in (bad, good):
        r = node.get(path, headers=alice)
        assert r.json()["name"] == "Renamed"
        assert status(r) in ("MISS", "HIT")


@pytest.mark.parametrize("refusal", ["acl-without-eval", "out-of-memory"])
def test_redis_answering_errors(cache_gw, mocks, demo_keys, rdb, refusal,
                                tmp_path, redis_server):
    if refusal == "acl-without-eval":
        rdb.execute_command("ACL", "SETUSER", "noeval", "on", ">noevalpw",
                            "~*", "&*", "+@all", "-eval", "-evalsha")
        pw = tmp_path / "pw"
        pw.write_text("noevalpw\n")
        ngx = cache_gw(redis_addr="127.0.0.1:%d user=noeval password_file=%s"
                       % (redis_server.port, pw))
    else:
        rdb.config_set("maxmemory-policy", "noeviction")
        rdb.config_set("maxmemory", 1)
        ngx = cache_gw()
    alice = token(demo_keys)

    for _ in range(6):
        r = ngx.get(native("gatana"), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    assert fetches(mocks, "gatana") == 6

    log = ngx.error_log()
    assert set(warnings_by_worker(log).values()) == {1}
    assert ("NOPERM" if refusal == "acl-without-eval" else "OOM") in log


# -- connecting ---------------------------------------------------------------

ACL_COMMANDS = ("auth", "select", "role", "info", "evalsha", "eval", "time",
                "get", "set", "incr", "exists", "pexpire", "pttl", "del",
                "unlink", "hmget", "hgetall", "hset", "hdel")


@pytest.fixture
def password_file(tmp_path):
    def make(text):
        path = tmp_path / ("pw-%d" % len(list(tmp_path.iterdir())))
        path.write_text(text)
        return str(path)
    return make


def test_requirepass(nginx, workdir, mocks, demo_keys, password_file):
    secret = "s3cret-redis-pw"
    rds = harness.Redis(workdir, args=["--requirepass", secret])
    try:
        ngx = nginx(conf("127.0.0.1:%d password_file=%s"
                         % (rds.port, password_file(secret + "\n"))),
                    **ports(mocks))
        alice = token(demo_keys)
        ngx.get(native("kambrium"), headers=alice)
        assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
        client = redis.Redis(port=rds.port, password=secret)
        assert client.exists("mcp:{kambrium:123}:entries")
        client.close()

        # a wrong password: served from upstream, said once
        bad = nginx(conf("127.0.0.1:%d password_file=%s"
                         % (rds.port, password_file("not-the-pw"))),
                    **ports(mocks))
        for _ in range(4):
            r = bad.get(native("kambrium"), headers=alice)
            assert (r.status_code, status(r)) == (200, "ERROR")
        log = bad.error_log()
        assert set(warnings_by_worker(log).values()) == {1}
        assert "WRONGPASS" in log
        for n in (ngx, bad):
            assert secret not in n.error_log()
            assert "not-the-pw" not in n.error_log()
    finally:
        rds.stop()


def test_acl_user_and_db(cache_gw, mocks, demo_keys, rdb, password_file,
                         redis_server):
    # the least a gateway needs (docs/cache.md)
    rdb.execute_command("ACL", "SETUSER", "gateway", "on", ">gatewaypw",
                        "resetkeys", "~mcp:*", "resetchannels", "-@all",
                        *("+" + c for c in ACL_COMMANDS))
    ngx = cache_gw(redis_addr="127.0.0.1:%d db=3 user=gateway "
                   "password_file=%s"
                   % (redis_server.port, password_file("gatewaypw")))
    alice = token(demo_keys)

    ngx.get(native("barndoor"), headers=alice)
    assert status(ngx.get(native("barndoor"), headers=alice)) == "HIT"
    assert rdb.dbsize() == 0
    db3 = redis.Redis(port=redis_server.port, db=3)
    assert db3.exists("mcp:{barndoor:%s}:entries" % SEED["barndoor"])
    db3.close()
    assert "gatewaypw" not in ngx.error_log()


def test_unix_socket(nginx, workdir, mocks, demo_keys):
    # the workers (nobody) reach it: not under pytest's private tmp dir
    sockdir = tempfile.mkdtemp(prefix="mcp-redis-")
    os.chmod(sockdir, 0o755)
    sock = os.path.join(sockdir, "redis.sock")
    rds = harness.Redis(workdir, args=["--unixsocket", sock,
                                       "--unixsocketperm", "777"])
    try:
        ngx = nginx(conf("unix:" + sock), **ports(mocks))
        alice = token(demo_keys)
        ngx.get(native("gatana"), headers=alice)
        assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"
        assert fetches(mocks, "gatana") == 1
        client = redis.Redis(unix_socket_path=sock)
        assert client.exists("mcp:{gatana:github-tools}:entries")
        client.close()
        rds.stop()
        r = ngx.get(native("gatana"), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    finally:
        rds.stop()
        shutil.rmtree(sockdir, ignore_errors=True)


def test_single_process_and_reload(cache_gw, mocks, demo_keys):
    alice = token(demo_keys)
    single = cache_gw(main="master_process off;")
    single.get(native("kambrium"), headers=alice)
    assert status(single.get(native("kambrium"), headers=alice)) == "HIT"

    ngx = cache_gw()
    ngx.get(native("gatana"), headers=alice)
    old = set(ngx.worker_pids())
    ngx.reload()
    assert wait_for(lambda: not (set(ngx.worker_pids()) & old)
                    and len(ngx.worker_pids()) == 2)
    assert cache_ready(ngx, alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"


# -- configuration ------------------------------------------------------------

def test_nginx_t_opens_no_connection(cache_gw, mocks):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        ngx = cache_gw(redis_addr="127.0.0.1:%d" % listener.getsockname()[1],
                       start=False)
        rc, out = ngx.test_config()
        assert rc == 0, out
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.parametrize("http,server,message", [
    ("", "", None),
    ("mcp_cache_key_prefix \"a{b\";", "", "must not contain"),
    ("", "mcp_cache_statuses 200 99;", "invalid status \"99\""),
    ("", "mcp_cache_ttl 0;", "must be positive"),
    ("", "mcp_cache_key \"$1:$mcp_server_id\";", "invalid variable"),
    ("", "mcp_cache_key \"${mcp_view\";", "invalid variable"),
    ("", "mcp_cache_key \"$no_such_variable\";", "unknown \"no_such_variable\""),
])
def test_configuration_errors(cache_gw, http, server, message):
    ngx = cache_gw(http=http, server=server, start=False)
    rc, out = ngx.test_config()
    if message is None:
        assert rc == 0, out
    else:
        assert rc != 0 and message in out, out


def test_cache_needs_a_redis(nginx, mocks):
    text = re.sub(r"\n\s*mcp_cache_redis[^\n]*", "", conf("x"))
    ngx = nginx(text, start=False, **ports(mocks))
    rc, out = ngx.test_config()
    assert rc != 0 and "needs \"mcp_cache_redis\"" in out, out


def test_redis_parameters_are_never_echoed(cache_gw, password_file):
    ngx = cache_gw(redis_addr="127.0.0.1:6379 password=hunter2", start=False)
    rc, out = ngx.test_config()
    assert rc != 0 and "invalid parameter \"password\"" in out
    assert "hunter2" not in out

    ngx = cache_gw(redis_addr="127.0.0.1:6379 password_file=/nonexistent",
                   start=False)
    rc, out = ngx.test_config()
    assert rc != 0 and "/nonexistent" in out

    ngx = cache_gw(redis_addr="127.0.0.1:6379 user=u", start=False)
    rc, out = ngx.test_config()
    assert rc != 0 and "password_file" in out


# -- what Redis holds ---------------------------------------------------------

SECRETS = [b"gh-secret-key-1", b"gh-header-secret", b"pk_seed_pipedrive",
           b"sf_secret_seed", b"seed_gh_secret"]


def test_nothing_secret_reaches_redis(cache_gw, mocks, demo_keys, rdb):
    ngx = cache_gw()
    alice = token(demo_keys)
    paths = [native(v) for v in SEED] + [native("kambrium", "srv_123abc")] \
        + ["/mcp-servers/%s/%s" % (v, SEED[v]) for v in SEED]
    for path in paths:
        for extra in ({}, CANONICAL):
            r = ngx.get(path, headers=dict(alice, **extra))
            assert r.status_code == 200
            assert status(ngx.get(path, headers=dict(alice, **extra))) \
                == "HIT"

    space = keyspace(rdb)
    assert len([k for k in space if k.endswith(":entries")]) == 4
    blob = b"\n".join(k.encode() + b"\n" + v for k, v in space.items())
    assert b"gatana" in blob and b"github-tools" in blob
    for secret in SECRETS:
        assert secret not in blob, secret
    # nor the caller's token, nor the gateway's credentials for the vendors
    assert alice["Authorization"][7:].encode() not in blob
    for credential in harness.SERVICE_CREDENTIAL.values():
        assert credential.encode() not in blob


def test_every_key_of_a_server_shares_one_hash_slot(cache_gw, mocks,
                                                    demo_keys, rdb):
    ngx = cache_gw(http="mcp_cache_key_prefix gw1:;")
    mocks["gatana"].fault("latency", delay_ms=600 * SLOW, methods=["GET"],
                          count=1)
    alice, bob = token(demo_keys, "alice"), token(demo_keys, "bob")

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(ngx.get, native("gatana"), headers=alice)
        assert wait_for(lambda: list(rdb.scan_iter("*:lock:*")),
                        timeout=0.5 * SLOW, step=0.02)
        locks = [k.decode() for k in rdb.scan_iter("*:lock:*")]
        assert slow.result().status_code == 200
    for headers in (alice, bob):
        for vendor in SEED:
            ngx.get(native(vendor), headers=headers)
            ngx.get(native(vendor), headers=dict(headers, **CANONICAL))
    ngx.put(native("barndoor"), headers=alice, json={"name": "x"})

    keys = sorted(set(keyspace(rdb)) | set(locks))
    shape = re.compile(r"^gw1:\{(kambrium|barndoor|gatana):([^{}]+)\}:"
                       r"(gen|entries|lock:[0-9a-f]{64})$")
    assert locks, "the lock of the slow miss was seen"
    servers = {}
    for key in keys:
        m = shape.match(key)
        assert m, key
        servers.setdefault(m.group(1, 2), set()).add(key_slot(key.encode()))
    assert len(servers) == 3
    for server, slots in servers.items():
        assert len(slots) == 1, (server, slots)
    # no key outlives its purpose: entries and generations expire
    for key in rdb.scan_iter():
        assert rdb.pttl(key) > 0, key
