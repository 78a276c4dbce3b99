"""JWT bearer authentication (ngx_http_mcp_auth_module), conditions on a
claim's value: mcp_auth_jwt_require with variables (nginx's map over
$mcp_jwt_claim_*), each to be non-empty and not "0", answered with the
module's own 401 or 403, never the registry's 502; and the claim-name form
(presence) next to it."""

import re

import pytest

import auth_server
import tokens
from auth_server import (READ_DENIED, WRITE_DENIED, assert_invalid, call,
                         location, logged, unique, www_authenticate)
from tokens import mint

LACKS = "The access token lacks a required claim."

# maps over the claims, as a user writes them
MAPS = r"""
    map $mcp_jwt_claim_client_id $mcp_test_app {
        default              0;
        app-client-1         1;
    }

    map $mcp_jwt_claim_tid $mcp_test_tenant {
        default              "";
        "9188040d-6c67-4c5b-b112-36a304b66dad"  ok;
    }

    map $mcp_jwt_claim_azp $mcp_test_azp {
        default              0;
        "~^svc-[a-z]+$"      1;
    }
"""

# a Cognito user pool: the app client pinned (401 when another's)
COGNITO = location("/cognito/", """
            mcp_auth_jwt_require  $mcp_test_app;
""")

# the tenant pinned with a 403; the claim names' form beside it
TENANT = location("/tenant/", """
            mcp_auth_jwt_require  $mcp_test_tenant error=403;
            mcp_auth_jwt_require  tid;
""")

# every condition must hold; a literal "0" and a literal text
BOTH = location("/both/", """
            mcp_auth_jwt_require  $mcp_test_app $mcp_test_azp;
""")

# a nested location's own replaces the inherited ones
NESTED = """
        location /nested/ {
            mcp_auth_jwt  "mcp";
            mcp_auth_jwt_require  $mcp_test_app;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};

            location /nested/open/ {
                mcp_auth_jwt_require  sub;
                proxy_pass    http://127.0.0.1:${BACKEND_PORT};
            }
        }
"""


@pytest.fixture(scope="module")
def gw(module_nginx):
    import harness
    conf = harness.conf(server=auth_server.SERVER + COGNITO + TENANT + BOTH
                        + NESTED, servers=auth_server.ECHO, http=MAPS,
                        log_format=auth_server.LOG_FORMAT)
    return module_nginx(conf, name="auth-require",
                        BACKEND_PORT=harness.free_port())


def test_a_condition_pins_the_app_client(gw, demo_keys):
    ok = mint(demo_keys, client_id="app-client-1")
    assert call(gw, "/cognito/x", ok).status_code == 200

    for other in (dict(client_id="app-client-2"), dict(client_id=None),
                  dict(client_id="")):
        r = call(gw, "/cognito/x", mint(demo_keys, **other))
        assert_invalid(r, LACKS)


def test_a_condition_with_error_403(gw, demo_keys):
    tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
    assert call(gw, "/tenant/x", mint(demo_keys, tid=tid)).status_code == 200

    for method, detail in (("GET", READ_DENIED), ("PUT", WRITE_DENIED)):
        r = call(gw, "/tenant/x", mint(demo_keys, tid="another-tenant"),
                 method=method)
        assert r.status_code == 403, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"detail": detail}
        assert www_authenticate(r) == \
            'Bearer realm="mcp", error="insufficient_scope"'

    # the claim names' form: presence, a 401
    assert_invalid(call(gw, "/tenant/x", mint(demo_keys)), LACKS)


def test_every_condition_must_hold(gw, demo_keys):
    assert call(gw, "/both/x", mint(demo_keys, client_id="app-client-1",
                                    azp="svc-deploy")).status_code == 200
    for c in (dict(client_id="app-client-1", azp="svc-2"),
              dict(client_id="app-client-1"),
              dict(client_id="nope", azp="svc-deploy")):
        assert_invalid(call(gw, "/both/x", mint(demo_keys, **c)), LACKS)


def test_the_conditions_come_after_the_signature_and_the_claims(gw,
                                                                 demo_keys):
    # an expired token is "expired", a forged one "not verified": the
    # condition never speaks for them
    r = call(gw, "/cognito/x", mint(demo_keys, client_id="app-client-1",
                                    exp=1))
    assert_invalid(r, "The access token expired.")
    h, p, s = mint(demo_keys, client_id="app-client-1").split(".")
    forged = h + "." + tokens.b64u_json(tokens.claims(
        client_id="app-client-1", sub="mallory")) + "." + s
    assert_invalid(call(gw, "/cognito/x", forged),
                   "The access token signature could not be verified.")


def test_the_refusal_is_logged_as_invalid_and_the_scope_still_counts(
        gw, demo_keys):
    marker = unique()
    call(gw, "/cognito/" + marker, mint(demo_keys, client_id="app-client-9"))
    assert "auth=invalid" in logged(gw, marker)

    # a condition that holds does not grant a missing scope
    r = call(gw, "/cognito/x", mint(demo_keys, client_id="app-client-1",
                                    scope="mgmt.read"), method="PUT")
    assert r.status_code == 403
    assert r.json() == {"detail": WRITE_DENIED}


def test_a_nested_location_replaces_the_conditions(gw, demo_keys):
    t = mint(demo_keys, client_id="other")
    assert_invalid(call(gw, "/nested/x", t), LACKS)
    assert call(gw, "/nested/open/x", t).status_code == 200


def test_a_missing_aud_lacks_a_required_claim(gw, demo_keys):
    # a Cognito access token has no "aud": with mcp_auth_jwt_audience set
    # it lacks one, it is not "for another audience"
    assert_invalid(call(gw, "/r", mint(demo_keys, aud=None)), LACKS)
    assert_invalid(call(gw, "/r", mint(demo_keys, aud="x")),
                   "The access token is for another audience.")


@pytest.mark.parametrize("directive,message", [
    ("mcp_auth_jwt_require $mcp_test_app error=404;",
     r'invalid parameter "error=404": expected "error=401" or "error=403"'),
    ("mcp_auth_jwt_require error=403;",
     r'"mcp_auth_jwt_require" needs a claim or a variable'),
    ("mcp_auth_jwt_require $nonexistent_variable;",
     r'unknown "nonexistent_variable" variable'),
    ("mcp_auth_jwt_require \"\";", r'empty value in "mcp_auth_jwt_require"'),
])
def test_nginx_t_names_each_mistake(nginx, demo_keys, directive, message):
    ngx = auth_server.own(nginx, demo_keys.path("jwks.json"), http=MAPS,
                          directives=directive, start=False)
    rc, out = ngx.test_config()
    assert rc != 0, out
    assert re.search(r"\[emerg\].*" + message, out), out
