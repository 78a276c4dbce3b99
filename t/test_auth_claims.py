"""JWT bearer authentication (ngx_http_mcp_auth_module), what a verified
token says: its claims (expiry, issuer, audience, leeway, required ones),
the mgmt.read / mgmt.write scopes, and the variables they fill."""

import json
import time

import pytest

import auth_server
import tokens
from auth_server import (WRITE_DENIED, assert_invalid, call, location, logged,
                         unique, www_authenticate)
from tokens import mint, sign_raw


@pytest.fixture(scope="module")
def gw(module_nginx):
    """the server of auth_server.py with the locations of this file, each
    defined next to the tests that use it"""
    return auth_server.start(module_nginx, AUDIENCES, LEEWAY, REQUIRE,
                             SCP_ONLY, GRANTS, OPTIONS_NONE, OPTIONS_WRITE,
                             CUSTOM)


# -- claims ----------------------------------------------------------------

@pytest.mark.parametrize("change,description", [
    (dict(exp=-5), "The access token expired."),
    (dict(nbf=60), "The access token is not valid yet."),
    (dict(iat=60), "The access token is not valid yet."),
    (dict(exp=None), "The access token lacks a required claim."),
    (dict(exp="never"), "The access token lacks a required claim."),
    (dict(iss="https://evil.example/"),
     "The access token is from an issuer that is not accepted."),
    (dict(iss="https://auth.demo.example"),
     "The access token is from an issuer that is not accepted."),
    (dict(iss=None),
     "The access token is from an issuer that is not accepted."),
    (dict(aud="other-api"), "The access token is for another audience."),
    (dict(aud=["a", "b"]), "The access token is for another audience."),
    (dict(aud=None), "The access token lacks a required claim."),
    (dict(sub=42), "The access token lacks a required claim."),
])
def test_claims_are_checked(gw, demo_keys, change, description):
    now = int(time.time())
    kw = {k: (now + v if k in ("exp", "nbf", "iat") and isinstance(v, int)
              else v) for k, v in change.items()}

    assert_invalid(call(gw, "/r", mint(demo_keys, **kw)), description)


def test_aud_may_be_an_array_holding_ours(gw, demo_keys):
    t = mint(demo_keys, aud=["other", tokens.AUDIENCE])
    assert call(gw, "/r", t).status_code == 200


AUDIENCES = location("/audiences/", """
            mcp_auth_jwt_issuer    https://other.example/
                                   https://auth.demo.example/;
            mcp_auth_jwt_audience  other-api mcp-gateway;
""")


def test_several_issuers_and_audiences(gw, demo_keys):
    for aud in ("other-api", "mcp-gateway", ["x", "other-api"]):
        assert call(gw, "/audiences/x",
                    mint(demo_keys, aud=aud)).status_code == 200
    assert call(gw, "/audiences/x",
                mint(demo_keys, aud="x")).status_code == 401


LEEWAY = location("/leeway/", "mcp_auth_jwt_leeway  60s;")


def test_the_leeway(gw, demo_keys):
    now = int(time.time())

    # 60s of leeway, 20s of margin for a slow test either way
    ok = [dict(exp=now - 40), dict(nbf=now + 40), dict(iat=now + 40)]
    late = [dict(exp=now - 80), dict(nbf=now + 80), dict(iat=now + 80)]

    for kw in ok:
        assert call(gw, "/leeway/x", mint(demo_keys, **kw)).status_code == 200
        assert call(gw, "/r", mint(demo_keys, **kw)).status_code == 401
    for kw in late:
        assert call(gw, "/leeway/x", mint(demo_keys, **kw)).status_code == 401


REQUIRE = location("/require/", "mcp_auth_jwt_require  tenant jti;")


def test_required_claims(gw, demo_keys):
    assert call(gw, "/require/x",
                mint(demo_keys, tenant="t")).status_code == 200

    null_tenant = sign_raw(demo_keys, b'{"alg":"RS256","kid":"demo-rs256"}',
                           json.dumps(dict(tokens.claims(),
                                           tenant=None)).encode())
    for t in (mint(demo_keys), mint(demo_keys, tenant="t", jti=None),
              null_tenant):
        assert_invalid(call(gw, "/require/x", t),
                       "The access token lacks a required claim.")


# -- scopes ----------------------------------------------------------------

@pytest.mark.parametrize("scope,status", [
    ("mgmt.read", 200),
    ("openid mgmt.read profile", 200),
    ("  mgmt.read  ", 200),
    ("mgmt.readonly", 403),
    ("xmgmt.read", 403),
    ("mgmt.read.all", 403),
    ("MGMT.READ", 403),
    ("mgmt.read,mgmt.write", 403),
    ("mgmt", 403),
    ("", 403),
])
def test_scopes_are_matched_as_whole_words(gw, demo_keys, scope, status):
    assert call(gw, "/r", mint(demo_keys, scope=scope)).status_code == status


@pytest.mark.parametrize("scp,status", [
    (["mgmt.read"], 200),
    (["openid", "mgmt.read"], 200),
    ("mgmt.read mgmt.write", 200),
    (["mgmt.readonly"], 403),
    (["mgmt.read mgmt.write"], 403),
    ([], 403),
    ([1, None, {"mgmt.read": True}], 403),
])
def test_scp_as_array_or_string(gw, demo_keys, scp, status):
    assert call(gw, "/r", mint(demo_keys, scope=None,
                               scp=scp)).status_code == status


SCP_ONLY = location("/scp-only/", "mcp_auth_jwt_scope_claims  scp;")


def test_the_scope_claims_are_configurable(gw, demo_keys):
    assert call(gw, "/scp-only/x", mint(demo_keys, scope=None,
                                        scp=["mgmt.read"])).status_code == 200
    assert call(gw, "/scp-only/x",
                mint(demo_keys, scope="mgmt.read")).status_code == 403


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST", "DELETE"])
def test_writes_need_the_write_scope(gw, demo_keys, method):
    r = call(gw, "/r", mint(demo_keys, scope="mgmt.read"), method=method)
    assert r.status_code == 403
    assert r.json() == {"detail": WRITE_DENIED}

    r = call(gw, "/r", mint(demo_keys, scope="mgmt.write"), method=method)
    assert r.status_code == 200
    assert r.text.startswith(method + " /r ")


GRANTS = location("/grants/", "mcp_auth_jwt_write_grants_read  on;")


def test_the_write_scope_does_not_grant_reads_unless_configured(gw,
                                                                demo_keys):
    t = mint(demo_keys, scope="mgmt.write")

    for method in ("GET", "HEAD"):
        assert call(gw, "/r", t, method=method).status_code == 403
        assert call(gw, "/grants/x", t, method=method).status_code == 200


OPTIONS_NONE = location("/options-none/", "mcp_auth_jwt_options  none;")

OPTIONS_WRITE = location("/options-write/", "mcp_auth_jwt_options  write;")


def test_options(gw, demo_keys):
    # default: as a read
    assert call(gw, "/r", method="OPTIONS").status_code == 401
    assert call(gw, "/r", mint(demo_keys, scope="mgmt.read"),
                method="OPTIONS").status_code == 200

    # none: a CORS preflight carries no token
    r = call(gw, "/options-none/x", method="OPTIONS",
             headers={"Origin": "https://app.example",
                      "Access-Control-Request-Method": "PUT"})
    assert r.status_code == 200
    assert call(gw, "/options-none/x").status_code == 401

    assert call(gw, "/options-write/x", mint(demo_keys, scope="mgmt.read"),
                method="OPTIONS").status_code == 403


CUSTOM = location("/custom/", """
            mcp_auth_jwt_read_scope   registry:read;
            mcp_auth_jwt_write_scope  registry:write;
""")


def test_custom_scope_names(gw, demo_keys):
    t = mint(demo_keys, scope="registry:read")

    assert call(gw, "/custom/x", t).status_code == 200
    assert call(gw, "/custom/x", mint(demo_keys)).status_code == 403
    r = call(gw, "/custom/x", t, method="PUT")
    assert www_authenticate(r).endswith('scope="registry:write"')


def test_a_nested_location_may_turn_it_off(gw):
    assert call(gw, "/health").status_code == 200
    assert call(gw, "/healthz").status_code == 200     # prefix /health
    assert call(gw, "/r").status_code == 401


# -- variables -------------------------------------------------------------

def test_variables_in_the_access_log(gw, demo_keys):
    n = unique()
    call(gw, "/r?" + n, mint(demo_keys, scope="mgmt.read openid",
                             scp=["extra"], tenant="acme",
                             aud=["mcp-gateway", "x"]))

    line = logged(gw, n)
    assert "GET /r?%s 200 sub=alice" % n in line
    assert 'scope="mgmt.read openid extra"' in line
    assert "iss=https://auth.demo.example/" in line
    assert "auth=ok" in line
    assert "tenant=acme" in line
    # (the access log escapes quotes)
    assert r'aud=[\x22mcp-gateway\x22,\x22x\x22]' in line

    n = unique()
    call(gw, "/r?" + n, mint(demo_keys, scope="x", sub="bob"))
    assert "403 sub=bob " in logged(gw, n)
    assert "auth=insufficient_scope" in logged(gw, n)

    n = unique()
    call(gw, "/r?" + n, "not.a.token")
    assert "401 sub=- " in logged(gw, n)
    assert "auth=invalid" in logged(gw, n)

    n = unique()
    call(gw, "/r?" + n)
    assert "auth=missing" in logged(gw, n)

    n = unique()
    call(gw, "/health?" + n)
    assert "auth=off" in logged(gw, n)


def test_claim_values_cannot_inject_headers(gw, demo_keys):
    # control characters and "%" are percent-encoded: no header can be
    # injected, and two subjects never look the same
    t = mint(demo_keys, sub="eve\r\nX-Admin: 1", tenant="100%\x7f")
    r = call(gw, "/r", t)

    assert r.status_code == 200
    assert r.text == "GET /r sub=eve%0D%0AX-Admin: 1 tenant=100%25%7F\n"

    n = unique()
    call(gw, "/r?" + n, mint(demo_keys, scope="mgmt.read a\tb"))
    assert 'scope="mgmt.read a%09b"' in logged(gw, n)
