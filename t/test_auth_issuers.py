"""JWT bearer authentication (ngx_http_mcp_auth_module): key sets bound to
their issuers.  With two providers accepted on one server, a token is
verified only with the keys of the issuer it names: a token signed by one
provider's key that claims the other's "iss" is refused."""

import os
import re

import pytest

import auth_server
import tokens
from auth_server import UNVERIFIED, assert_invalid, call, location, own
from tokens import mint

KEYCLOAK = "https://keycloak.example.com/realms/platform"
AUTH0 = "https://example.eu.auth0.com/"


@pytest.fixture(scope="module")
def keys(workdir):
    k = tokens.Keys(os.path.join(workdir, "keys-issuers"))
    k.new_rsa("kc")
    k.new_rsa("a0")
    k.new_rsa("any")
    k.write_jwks("keycloak.json", [k.jwk("kc", "kc-1", "RS256")])
    k.write_jwks("auth0.json", [k.jwk("a0", "a0-1", "RS256")])
    k.write_jwks("unbound.json", [k.jwk("any", "any-1", "RS256")])
    return k


BOUND = location("/bound/", """
            mcp_auth_jwt_key_file  ${K}/keycloak.json issuer=%s;
            mcp_auth_jwt_key_file  ${K}/auth0.json issuer=%s;
            mcp_auth_jwt_key_file  ${K}/unbound.json;
            mcp_auth_jwt_issuer    %s %s;
""" % (KEYCLOAK, AUTH0, KEYCLOAK, AUTH0))

# the same file, bound to another issuer here, unbound there
REBOUND = location("/rebound/", """
            mcp_auth_jwt_key_file  ${K}/keycloak.json issuer=%s;
            mcp_auth_jwt_issuer    %s %s;
""" % (AUTH0, KEYCLOAK, AUTH0))
UNBOUND = location("/unbound/", """
            mcp_auth_jwt_key_file  ${K}/keycloak.json;
            mcp_auth_jwt_key_file  ${K}/auth0.json;
            mcp_auth_jwt_issuer    %s %s;
""" % (KEYCLOAK, AUTH0))


@pytest.fixture(scope="module")
def gw(module_nginx, keys):
    return auth_server.start(module_nginx, BOUND, REBOUND, UNBOUND,
                             K=keys.dir)


def token(keys, name, kid, iss, **kw):
    return mint(keys, kid=kid, key=keys.private(name), iss=iss, **kw)


def test_each_issuer_with_its_own_keys(gw, keys):
    assert call(gw, "/bound/x", token(keys, "kc", "kc-1",
                                      KEYCLOAK)).status_code == 200
    assert call(gw, "/bound/x", token(keys, "a0", "a0-1",
                                      AUTH0)).status_code == 200


def test_a_key_never_signs_for_another_issuer(gw, keys):
    # Keycloak's key, Auth0's iss: what an admin of the one realm could
    # mint to pass for the other's users
    assert_invalid(call(gw, "/bound/x", token(keys, "kc", "kc-1", AUTH0)),
                   UNVERIFIED)
    assert_invalid(call(gw, "/bound/x", token(keys, "a0", "a0-1", KEYCLOAK)),
                   UNVERIFIED)
    # without an iss, or with one that is not a string, no bound key serves
    assert_invalid(call(gw, "/bound/x", token(keys, "kc", "kc-1", None)),
                   UNVERIFIED)
    assert_invalid(call(gw, "/bound/x", token(keys, "kc", "kc-1",
                                              [KEYCLOAK])), UNVERIFIED)
    # and without a kid, the bound keys of another issuer are not tried
    assert_invalid(call(gw, "/bound/x", token(keys, "kc", "", AUTH0)),
                   UNVERIFIED)
    assert call(gw, "/bound/x", token(keys, "kc", "",
                                      KEYCLOAK)).status_code == 200


def test_keys_without_an_issuer_serve_every_accepted_one(gw, keys):
    for iss in (KEYCLOAK, AUTH0):
        assert call(gw, "/bound/x", token(keys, "any", "any-1",
                                          iss)).status_code == 200
        # today's behaviour where no issuer= is given
        assert call(gw, "/unbound/x", token(keys, "kc", "kc-1",
                                            iss)).status_code == 200
    # the accepted issuers still decide
    r = call(gw, "/bound/x", token(keys, "any", "any-1",
                                   "https://evil.example/"))
    assert_invalid(r, "The access token is from an issuer that is not "
                   "accepted.")


def test_the_binding_is_the_directives_not_the_files(gw, keys):
    assert call(gw, "/rebound/x", token(keys, "kc", "kc-1",
                                        AUTH0)).status_code == 200
    assert_invalid(call(gw, "/rebound/x", token(keys, "kc", "kc-1",
                                                KEYCLOAK)), UNVERIFIED)


def test_a_cached_token_keeps_its_binding(gw, keys):
    # verified once in /unbound/ (where any issuer goes), the token's key
    # is not a key of /bound/ for that issuer
    t = token(keys, "kc", "kc-1", AUTH0)
    assert call(gw, "/unbound/x", t).status_code == 200
    assert call(gw, "/unbound/x", t).status_code == 200
    assert_invalid(call(gw, "/bound/x", t), UNVERIFIED)


def test_nginx_t_on_issuer_parameters(nginx, keys):
    rc, out = own(nginx, keys.path("keycloak.json") + " issuer=",
                  start=False).test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*invalid parameter "issuer="', out), out
    rc, out = own(nginx, keys.path("keycloak.json") + " issuer=%s issuer=%s "
                  "type=jwks" % (KEYCLOAK, AUTH0), start=False).test_config()
    assert rc == 0, out
