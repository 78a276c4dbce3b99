"""TLS to Redis (issue #14): the cache against a real TLS-only
redis-server, with a CA made by the test.  Hits, misses and invalidation
over TLS; a wrong CA, a wrong name, a missing client certificate refused
and said once per worker with the reason; a client certificate Redis
requires works when configured.

nginx's own TLS (ngx_ssl_create_connection, ngx_ssl_handshake) carries the
connection; hiredis only formats and parses (ngx_http_mcp_redis_tls.c).
"""

import concurrent.futures
import os
import time

import pytest
import requests

import harness
import redis_nodes
import test_cache as tc
from test_cache import native, status, token, fetches


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """the test's CA, Redis's certificate (redis.test and 127.0.0.1), a
    client certificate, and another CA that signed none of them"""
    d = str(tmp_path_factory.mktemp("pki"))
    os.chmod(d, 0o755)
    ca = redis_nodes.CA(os.path.join(d, "ca"))
    other = redis_nodes.CA(os.path.join(d, "other"), name="another CA")
    server = ca.issue("redis", dns=["redis.test"], ips=["127.0.0.1"])
    client = ca.issue("gateway", client=True)
    return dict(ca=ca.path, other=other.path, server=server, client=client)


@pytest.fixture
def tls_redis(workdir, pki):
    started = []

    def make(clients="no"):
        r = redis_nodes.TlsRedis(workdir, pki["server"][0], pki["server"][1],
                                 pki["ca"], clients=clients)
        started.append(r)
        return r

    yield make
    for r in started:
        r.stop()


def tls_conf(r, ca, more=""):
    return tc.conf("127.0.0.1:%d tls" % r.port,
                   http="mcp_cache_redis_ssl_trusted_certificate %s;\n"
                        "mcp_cache_redis_ssl_name redis.test;\n%s"
                        % (ca, more))


def test_hits_misses_and_invalidation_over_tls(nginx, mocks, demo_keys, pki,
                                               tls_redis):
    r = tls_redis()
    ngx = nginx(tls_conf(r, pki["ca"]), **tc.ports(mocks))
    alice = token(demo_keys)
    path = native("barndoor")

    first = ngx.get(path, headers=alice)
    assert (first.status_code, status(first)) == (200, "MISS")
    for _ in range(3):
        again = ngx.get(path, headers=alice)
        assert (again.status_code, status(again)) == (200, "HIT")
        assert again.content == first.content
    assert fetches(mocks, "barndoor") == 1

    # the entry is in the TLS Redis
    client = r.client()
    assert client.exists("mcp:{barndoor:%s}:entries" % harness.SEED["barndoor"])

    # a PUT drops it, on every worker
    put = ngx.put(path, headers=alice, json={"name": "Renamed over TLS"})
    assert put.status_code == 200
    assert not client.exists("mcp:{barndoor:%s}:entries"
                             % harness.SEED["barndoor"])
    after = ngx.get(path, headers=alice)
    assert (status(after), after.json()["name"]) == ("MISS",
                                                      "Renamed over TLS")
    assert status(ngx.get(path, headers=alice)) == "HIT"
    client.close()

    log = ngx.error_log()
    assert tc.WARN.findall(log) == [], log
    assert "[crit]" not in log and "[error]" not in log


def refused_once(ngx, demo_keys, mocks, reason):
    """every request served from the registry (ERROR), the reason said once
    per worker, nothing else above notice"""
    alice = token(demo_keys)
    for _ in range(6):
        r = ngx.get(native("kambrium"), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    assert fetches(mocks, "kambrium") == 6
    log = ngx.error_log()
    warned = tc.warnings_by_worker(log)
    assert warned and set(warned.values()) == {1}, log
    lines = [l for l in log.splitlines() if "unavailable" in l]
    assert all(reason in l for l in lines), lines
    assert not [l for l in log.splitlines()
                if "[error]" in l or "[crit]" in l], log
    return lines


def test_a_wrong_ca_is_refused_and_said_once(nginx, mocks, demo_keys, pki,
                                             tls_redis):
    r = tls_redis()
    ngx = nginx(tls_conf(r, pki["other"]), **tc.ports(mocks))
    lines = refused_once(ngx, demo_keys, mocks, "certificate verify error")
    assert "unable to get local issuer certificate" in lines[0] \
        or "self-signed" in lines[0], lines
    # nothing reached Redis
    assert r.client().dbsize() == 0


def test_a_wrong_name_is_refused_and_said_once(nginx, mocks, demo_keys, pki,
                                               tls_redis):
    r = tls_redis()
    text = tc.conf("127.0.0.1:%d tls" % r.port,
                   http="mcp_cache_redis_ssl_trusted_certificate %s;\n"
                        "mcp_cache_redis_ssl_name redis.example.com;"
                        % pki["ca"])
    ngx = nginx(text, **tc.ports(mocks))
    refused_once(ngx, demo_keys, mocks,
                 "certificate does not match \"redis.example.com\"")


def test_the_address_is_the_name_checked_by_default(nginx, mocks, demo_keys,
                                                    pki, tls_redis):
    """without mcp_cache_redis_ssl_name the certificate must name the
    address written in mcp_cache_redis (here the IP, in its SAN)"""
    r = tls_redis()
    text = tc.conf("127.0.0.1:%d tls" % r.port,
                   http="mcp_cache_redis_ssl_trusted_certificate %s;"
                        % pki["ca"])
    ngx = nginx(text, **tc.ports(mocks))
    alice = token(demo_keys)
    ngx.get(native("gatana"), headers=alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"


def test_a_client_certificate_redis_requires(nginx, mocks, demo_keys, pki,
                                             tls_redis):
    r = tls_redis(clients="yes")

    # without one: refused by Redis, said once, with OpenSSL's reason
    bare = nginx(tls_conf(r, pki["ca"]), **tc.ports(mocks))
    refused_once(bare, demo_keys, mocks, "certificate required")

    # with one: cached
    mocks["kambrium"].reset()
    cert, key = pki["client"]
    ngx = nginx(tls_conf(r, pki["ca"],
                         "mcp_cache_redis_ssl_certificate %s;\n"
                         "mcp_cache_redis_ssl_certificate_key %s;"
                         % (cert, key)), **tc.ports(mocks))
    alice = token(demo_keys)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "MISS"
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert fetches(mocks, "kambrium") == 1
    assert tc.WARN.findall(ngx.error_log()) == []


def test_a_tls_server_without_tls_says_so(nginx, mocks, demo_keys, pki,
                                          tls_redis):
    """the first symptom of issue #14: a TLS-only Redis addressed without
    "tls" now says what is wrong"""
    r = tls_redis()
    ngx = nginx(tc.conf("127.0.0.1:%d" % r.port), **tc.ports(mocks))
    refused_once(ngx, demo_keys, mocks, "a TLS port closes plain")


def test_tls_restarted_under_load_resumes(nginx, mocks, demo_keys, pki,
                                          tls_redis):
    """a TLS Redis that restarts is one outage: one warning, one notice,
    and the session resumption does not get in the way"""
    r = tls_redis()
    ngx = nginx(tls_conf(r, pki["ca"]), **tc.ports(mocks))
    alice = token(demo_keys)
    assert tc.cache_ready(ngx, alice)
    r.stop()
    for _ in range(4):
        assert ngx.get(native("gatana"), headers=alice).status_code == 200
    r.start()
    assert tc.cache_ready(ngx, alice)
    log = ngx.error_log()
    warned = tc.warnings_by_worker(log)
    assert set(warned.values()) == {1}
    assert set(tc.BACK.findall(log)) == set(warned)


@pytest.mark.parametrize("http,message", [
    ("", "needs \"mcp_cache_redis_ssl_trusted_certificate\""),
    ("mcp_cache_redis_ssl_verify off;", None),
    ("mcp_cache_redis_ssl_verify off;\n"
     "mcp_cache_redis_ssl_certificate /x.crt;",
     "no \"mcp_cache_redis_ssl_certificate_key\""),
    ("mcp_cache_redis_ssl_trusted_certificate /nonexistent.pem;",
     "/nonexistent.pem"),
    ("mcp_cache_redis_ssl_verify off;\n"
     "mcp_cache_redis_ssl_protocols TLSv1.2 TLSv1.3;\n"
     "mcp_cache_redis_ssl_ciphers HIGH:!aNULL;\n"
     "mcp_cache_redis_ssl_server_name off;\n"
     "mcp_cache_redis_ssl_session_reuse off;\n"
     "mcp_cache_redis_ssl_verify_depth 2;", None),
])
def test_tls_configuration(nginx, mocks, http, message):
    ngx = nginx(tc.conf("127.0.0.1:6379 tls", http=http), start=False,
                **tc.ports(mocks))
    rc, out = ngx.test_config()
    if message is None:
        assert rc == 0, out
    else:
        assert rc != 0 and message in out, out


def test_large_entries_over_tls(nginx, mocks, demo_keys, pki, tls_redis):
    """entries of megabytes go out in many TLS records and partial writes,
    and come back in many reads: byte for byte, with requests pipelined"""
    requests.post(mocks["gatana"].url + "/_mock/files",
                  json={"count": 6000}, timeout=10)
    r = tls_redis()
    ngx = nginx(tls_conf(r, pki["ca"], "mcp_cache_max_entry_size 8m;\n"
                                       "mcp_cache_redis_timeout 5s;"),
                **tc.ports(mocks))
    alice = token(demo_keys)
    path = native("gatana")
    first = ngx.get(path, headers=alice)
    assert status(first) == "MISS" and len(first.content) > 1536 * 1024
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        hits = list(pool.map(lambda _: ngx.get(path, headers=alice),
                             range(12)))
    for h in hits:
        assert (h.status_code, status(h)) == (200, "HIT")
        assert h.content == first.content
    assert fetches(mocks, "gatana") == 1


def test_an_idle_tls_connection_closed_by_redis_is_reopened(
        nginx, mocks, demo_keys, pki, tls_redis):
    """Redis's idle timeout over TLS is no outage either: nothing logged,
    the next request is a hit"""
    r = tls_redis()
    ngx = nginx(tls_conf(r, pki["ca"]), **tc.ports(mocks))
    alice = token(demo_keys)
    assert tc.cache_ready(ngx, alice)
    ngx.get(native("kambrium"), headers=alice)
    client = r.client()
    client.config_set("timeout", 1)
    client.client_setname("me")

    def closed():
        return all(int(c["age"]) < 2 for c in client.client_list()
                   if c["name"] != "me")
    time.sleep(2.5)
    assert tc.wait_for(closed, timeout=5)
    client.config_set("timeout", 0)
    for _ in range(4):
        got = ngx.get(native("kambrium"), headers=alice)
        assert (got.status_code, status(got)) == (200, "HIT")
    assert fetches(mocks, "kambrium") == 1
    assert tc.WARN.findall(ngx.error_log()) == []
    client.close()
