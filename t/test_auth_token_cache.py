"""JWT bearer authentication (ngx_http_mcp_auth_module), the verified-token
cache: a token's signature is verified once per worker, the cache serves
only locations that have the key that verified it, claims are still checked
per location, entries never outlive the token; it may be made smaller, or
turned off."""

import re
import time

import pytest

import auth_server
from auth_server import (UNVERIFIED, assert_invalid, call, location, logged,
                         own, unique)
from tokens import mint


@pytest.fixture(scope="module")
def gw(module_nginx):
    """the server of auth_server.py with the locations of this file, each
    defined next to the tests that use it"""
    return auth_server.start(module_nginx, LEEWAY, HMAC, PEM, AUDIENCES)


def test_a_verified_token_is_served_from_the_cache(gw, demo_keys):
    t = mint(demo_keys, alg="ES256")
    marks = [unique() for _ in range(3)]
    for n in marks:
        assert call(gw, "/r?" + n, t).status_code == 200

    assert [re.search(r"cache=(\w+)", logged(gw, n)).group(1)
            for n in marks] == ["miss", "hit", "hit"]


def test_a_hit_shows_the_same_claims_as_the_verification(gw, demo_keys):
    # $mcp_jwt_sub and $mcp_jwt_iss come rendered with a hit: the same
    # bytes as the miss showed (escaped, empty, absent), each token its own
    subs = ["alice", "eve\r\n100%\x7f", "bob", None, ""]
    tokens = [mint(demo_keys, sub=s) for s in subs]

    def shown(t):
        n = unique()
        assert call(gw, "/r?" + n, t).status_code == 200
        line = logged(gw, n)
        return (re.search(r"cache=(\w+)", line).group(1),
                line[line.index(" sub="):line.index(" auth=")])

    first = [shown(t) for t in tokens]
    assert [c for c, _ in first] == ["miss"] * len(tokens)
    assert first[0][1] == (' sub=alice scope="mgmt.read mgmt.write" '
                           'iss=https://auth.demo.example/')
    assert first[1][1].startswith(" sub=eve%0D%0A100%25%7F ")
    assert first[2][1].startswith(" sub=bob ")
    assert first[3][1].startswith(" sub=- ")
    assert first[4][1].startswith(" sub= ")

    for _ in range(2):
        assert [shown(t) for t in tokens] == [("hit", v) for _, v in first]

    # the echo sees the same as a header (proxy_set_header X-Sub)
    t = tokens[1]
    assert call(gw, "/r", t).text == call(gw, "/r", t).text


# the same key as "/" (the server's JWKS), more leeway
LEEWAY = location("/leeway/", "mcp_auth_jwt_leeway  60s;")

# an HMAC secret only
HMAC = location("/hmac/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/hs256.secret type=hmac;
""")

# the same RSA key as the server's JWKS, from its PEM file
PEM = location("/pem/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/es256.pub type=pem;
""")


def test_the_cache_serves_only_locations_that_accept_the_key(gw, demo_keys):
    t = mint(demo_keys)
    assert call(gw, "/r", t).status_code == 200

    # the server's JWKS key verified it: /leeway/ has that key too
    n = unique()
    assert call(gw, "/leeway/x?" + n, t).status_code == 200
    assert "cache=hit" in logged(gw, n)

    # /hmac/ has an HMAC secret only
    assert_invalid(call(gw, "/hmac/x", t), UNVERIFIED)

    # /pem/ has the same RSA key, from its PEM file: verified again, and
    # the entry then holds that key
    for cache in ("miss", "hit"):
        n = unique()
        assert call(gw, "/pem/x?" + n, t).status_code == 200
        assert "cache=" + cache in logged(gw, n)


AUDIENCES = location("/audiences/", """
            mcp_auth_jwt_issuer    https://other.example/
                                   https://auth.demo.example/;
            mcp_auth_jwt_audience  other-api mcp-gateway;
""")


def test_the_cache_still_checks_claims_per_location(gw, demo_keys):
    t = mint(demo_keys, aud="other-api")
    assert call(gw, "/audiences/x", t).status_code == 200

    n = unique()
    r = call(gw, "/r?" + n, t)
    assert_invalid(r, "The access token is for another audience.")
    assert "cache=hit" in logged(gw, n)


def test_a_genuine_token_a_location_refuses_is_verified_once(gw, demo_keys):
    """the cache keeps what the signature proved: a genuine token for
    another audience, repeated, costs a lookup, not a verification"""
    t = mint(demo_keys, aud="other-api")
    for cache in ("miss", "hit", "hit"):
        n = unique()
        assert_invalid(call(gw, "/r?" + n, t),
                       "The access token is for another audience.")
        assert "cache=" + cache in logged(gw, n)


def test_cache_entries_never_outlive_the_token(gw, demo_keys):
    exp = int(time.time()) + 2
    strict = mint(demo_keys, exp=exp)          # for /r: no leeway
    lenient = mint(demo_keys, exp=exp)         # for /leeway/: 60s

    for _ in range(2):
        assert call(gw, "/r", strict).status_code == 200
        assert call(gw, "/leeway/x", lenient).status_code == 200
    n = unique()
    call(gw, "/leeway/x?" + n, lenient)
    assert "cache=hit" in logged(gw, n)

    time.sleep(max(0.0, exp - time.time()) + 0.2)

    # a cached token that expired is refused
    n = unique()
    assert_invalid(call(gw, "/r?" + n, strict), "The access token expired.")

    # within the leeway it is accepted, but verified again: the cache
    # entry ended at exp
    n = unique()
    assert call(gw, "/leeway/x?" + n, lenient).status_code == 200
    assert "cache=miss" in logged(gw, n)


# -- size, or off ----------------------------------------------------------

def test_the_cache_may_be_turned_off(nginx, demo_keys):
    ngx = own(nginx, demo_keys.path("jwks.json"), level="debug",
                   http="mcp_auth_jwt_cache off;",
                   directives='add_header  X-Who '
                              '"$mcp_jwt_sub|$mcp_jwt_iss|$mcp_jwt_sub";')
    t = mint(demo_keys, sub="a%b")
    for _ in range(3):
        r = call(ngx, "/", t)
        assert r.status_code == 200
        assert r.headers["X-Who"] == ("a%25b|https://auth.demo.example/|"
                                      "a%25b")

    log = ngx.error_log()
    assert "mcp jwt cache" not in log
    assert log.count("mcp jwt signature verified") == 3


def test_a_small_cache_evicts_the_least_recently_used(nginx, demo_keys):
    ngx = own(nginx, demo_keys.path("jwks.json"), level="debug",
                   http="mcp_auth_jwt_cache 2 ttl=1h;")
    a, b, c = (mint(demo_keys, sub=s) for s in "abc")
    for t in (a, b, a, c):          # c evicts b, the least recently used
        assert call(ngx, "/", t).status_code == 200
    assert ngx.error_log().count("mcp jwt cache hit") == 1

    for t in (a, c, b):
        assert call(ngx, "/", t).status_code == 200
    assert ngx.error_log().count("mcp jwt cache hit") == 3
