"""Tokens and JWK Sets shaped as identity providers issue them (Keycloak,
Auth0, Okta, Entra ID v1 and v2, Cognito, Google/Firebase, PingOne), their
keys fetched from their JWKS URLs (t/jwks_server.py over HTTPS), all on one
server with each key set bound to its issuer, configured as docs/auth.md
says.  Each provider's token passes where it should, and what pins it (the
app client, the tenant, the account) refuses the others."""

import os
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

import harness
import jwks_server
import tokens
from auth_server import (READ_DENIED, UNVERIFIED, assert_invalid, call,
                         www_authenticate)
from tokens import b64u

KEYCLOAK = "https://keycloak.example.com/realms/platform"
AUTH0 = "https://example.eu.auth0.com/"
OKTA = "https://example.okta.com/oauth2/aus1a2b3c4d5"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA_V2 = "https://login.microsoftonline.com/%s/v2.0" % TENANT
ENTRA_V1 = "https://sts.windows.net/%s/" % TENANT
ENTRA_APP = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
COGNITO = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
COGNITO_CLIENT = "7h1sc1ient1d00000000000000"
FIREBASE = "https://securetoken.google.com/my-project"
GOOGLE = "https://accounts.google.com"
GOOGLE_SA = "deployer@my-project.iam.gserviceaccount.com"
PING = "https://auth.pingone.eu/0a7af83d-4ed9-4ab4-8a1c-3c6e5d1e2f3a/as"

PROVIDERS = ("keycloak", "auth0", "okta", "entra", "cognito", "google",
             "ping")


def key_location(name):
    return """
        location = /_jwks/%s {
            internal;
            proxy_pass                     https://127.0.0.1:${JWKS_PORT}/%s;
            proxy_ssl_server_name          on;
            proxy_ssl_name                 idp.test;
            proxy_ssl_verify               on;
            proxy_ssl_trusted_certificate  ${JWKS_CERT};
            proxy_pass_request_headers     off;
            subrequest_output_buffer_size  64k;
        }
""" % (name, name)


MAPS = """
    map "$mcp_jwt_claim_client_id:$mcp_jwt_claim_token_use" $cognito_ok {
        default                              0;
        "%s:access"  1;
    }
    map $mcp_jwt_claim_tid $entra_tenant_ok {
        default  0;
        %s  1;
    }
    map "$mcp_jwt_claim_azp$mcp_jwt_claim_appid" $entra_app_ok {
        default  0;
        %s  1;
    }
    map $mcp_jwt_claim_email $google_sa_ok {
        default  0;
        %s  1;
    }
""" % (COGNITO_CLIENT, TENANT, ENTRA_APP, GOOGLE_SA)

SERVER = """
        large_client_header_buffers  4 32k;
        mcp_auth_jwt_max_size        24k;

        mcp_auth_jwt_key_request  /_jwks/keycloak  issuer=%(keycloak)s;
        mcp_auth_jwt_key_request  /_jwks/auth0     issuer=%(auth0)s;
        mcp_auth_jwt_issuer       %(keycloak)s %(auth0)s;
        mcp_auth_jwt_audience     mcp-gateway https://mcp-gateway.example.com;
        mcp_auth_jwt_scope_claims scope permissions;

        location /shared/ {
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /okta/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/okta;
            mcp_auth_jwt_issuer        %(okta)s;
            mcp_auth_jwt_audience      api://mcp-gateway;
            mcp_auth_jwt_scope_claims  scp;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /entra/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/entra;
            mcp_auth_jwt_issuer        %(entra2)s %(entra1)s;
            mcp_auth_jwt_audience      api://mcp-gateway;
            mcp_auth_jwt_scope_claims  scp roles;
            mcp_auth_jwt_require       $entra_tenant_ok $entra_app_ok error=403;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /cognito/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/cognito;
            mcp_auth_jwt_issuer        %(cognito)s;
            mcp_auth_jwt_audience      none-of-cognito-s-access-tokens;
            mcp_auth_jwt_read_scope    mcp-gateway/mgmt.read;
            mcp_auth_jwt_write_scope   mcp-gateway/mgmt.write;
            mcp_auth_jwt_require       $cognito_ok;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};

            # Cognito as docs/auth.md has it: no audience
            location /cognito/docs/ {
                mcp_auth_jwt_audience  off-for-nothing;
                proxy_pass    http://127.0.0.1:${BACKEND_PORT};
            }
        }

        location /google/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/google;
            mcp_auth_jwt_issuer        %(google)s %(firebase)s;
            mcp_auth_jwt_audience      https://mcp-gateway.example.com my-project;
            mcp_auth_jwt_require       $google_sa_ok error=403;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /firebase/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/google;
            mcp_auth_jwt_issuer        %(firebase)s;
            mcp_auth_jwt_audience      my-project;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /ping/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/ping;
            mcp_auth_jwt_issuer        %(ping)s;
            mcp_auth_jwt_audience      mcp-gateway;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }
""" % dict(keycloak=KEYCLOAK, auth0=AUTH0, okta=OKTA, entra2=ENTRA_V2,
           entra1=ENTRA_V1, cognito=COGNITO, google=GOOGLE,
           firebase=FIREBASE, ping=PING) + "".join(key_location(p)
                                                   for p in PROVIDERS)

BACKEND = r"""
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log  off;
        large_client_header_buffers  4 32k;     # the token goes on
        location / { return 200 "ok\n"; }
    }
"""


class Provider:
    """a provider's keys, and its JWK Set in its own shape"""

    def __init__(self, keys, name):
        self.keys = keys
        self.name = name

    def rsa(self, kid, alg="RS256", **extra):
        self.keys.new_rsa(self.name + "-" + kid)
        jwk = self.keys.jwk(self.name + "-" + kid, kid)
        if alg:
            jwk["alg"] = alg
        jwk.update(extra)
        return jwk

    def token(self, kid, claims, alg="RS256", headers=None):
        h = dict(headers or {})
        if kid:
            h["kid"] = kid
        return jwt.encode(claims, self.keys.private(self.name + "-" + kid),
                          algorithm=alg, headers=h)


def now():
    return int(time.time())


def base(iss, **kw):
    t = now()
    c = {"iss": iss, "iat": t, "exp": t + 300, "jti": uuid.uuid4().hex}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


FAKE_X5C = "MIIC" + "A" * 40


@pytest.fixture(scope="module")
def idp(workdir):
    s = jwks_server.JwksServer(os.path.join(workdir, "idp-providers"))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def p(workdir, idp):
    keys = tokens.Keys(os.path.join(workdir, "keys-providers"))
    prov = {n: Provider(keys, n) for n in PROVIDERS}

    # Keycloak: a signing key (RS256) and a PS256 one, an encryption key
    # (RSA-OAEP), each with its certificate chain and thumbprints
    kc = [prov["keycloak"].rsa("kc-rs", "RS256", use="sig",
                               x5c=[FAKE_X5C], x5t="abc",
                               **{"x5t#S256": "def"}),
          prov["keycloak"].rsa("kc-ps", "PS256", use="sig"),
          prov["keycloak"].rsa("kc-enc", "RSA-OAEP", use="enc",
                               x5c=[FAKE_X5C])]
    idp.publish_at("/keycloak", {"keys": kc})
    # Auth0: two keys (the current and the next), with x5c
    idp.publish_at("/auth0", {"keys": [
        prov["auth0"].rsa("a0-cur", "RS256", use="sig", x5c=[FAKE_X5C]),
        prov["auth0"].rsa("a0-next", "RS256", use="sig", x5c=[FAKE_X5C])]})
    idp.publish_at("/okta", {"keys": [prov["okta"].rsa("okta-1", "RS256",
                                                       use="sig")]})
    # Entra: no "alg", an "issuer" member, certificates; and a key of
    # another kind the module cannot use (a certificate alone)
    idp.publish_at("/entra", {"keys": [
        prov["entra"].rsa("entra-1", None, use="sig", x5c=[FAKE_X5C],
                          x5t="entra-1", issuer=ENTRA_V2),
        {"kty": "RSA", "use": "sig", "kid": "cert-only", "x5t": "x",
         "x5c": [FAKE_X5C]}]})
    idp.publish_at("/cognito", {"keys": [
        prov["cognito"].rsa("cog-1", "RS256", use="sig"),
        prov["cognito"].rsa("cog-2", "RS256", use="sig")]})
    # Google: RS256 keys, and an EdDSA one a provider may add
    ed = ed25519.Ed25519PrivateKey.generate()
    prov["google"].ed = ed
    raw = ed.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)
    idp.publish_at("/google", {"keys": [
        prov["google"].rsa("g-1", "RS256", use="sig"),
        {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw), "kid": "g-ed",
         "alg": "EdDSA", "use": "sig"}]})
    idp.publish_at("/ping", {"keys": [prov["ping"].rsa("ping-1", "RS256",
                                                       use="sig")]})
    return prov


@pytest.fixture(scope="module")
def gw(module_nginx, idp, p):
    conf = harness.conf(server=SERVER, servers=BACKEND, http=MAPS, workers=2)
    return module_nginx(conf, name="providers",
                        BACKEND_PORT=harness.free_port(), JWKS_PORT=idp.port,
                        JWKS_CERT=idp.cert)


def ok(r):
    assert r.status_code == 200, (r.status_code, r.text,
                                  www_authenticate(r))


def test_keycloak(gw, p):
    claims = base(KEYCLOAK, sub="f1a2", typ="Bearer", azp="mcp-cli",
                  aud=["mcp-gateway", "account"], scope="openid mgmt.read "
                  "mgmt.write profile", realm_access={"roles": ["user"]},
                  preferred_username="alice", sid=uuid.uuid4().hex,
                  groups=["/org/platform/team-%04d" % i for i in range(450)])
    t = p["keycloak"].token("kc-rs", claims, headers={"typ": "JWT"})
    assert len(t) > 12000
    ok(call(gw, "/shared/x", t))
    # the realm signs PS256 too
    ok(call(gw, "/shared/x", p["keycloak"].token("kc-ps", base(
        KEYCLOAK, sub="bob", aud="mcp-gateway", scope="mgmt.read"),
        alg="PS256")))
    # the encryption key never verifies
    assert_invalid(call(gw, "/shared/x", p["keycloak"].token(
        "kc-enc", claims)), UNVERIFIED)


def test_auth0(gw, p):
    claims = base(AUTH0, sub="auth0|64b7", azp="Xy12",
                  aud=["https://mcp-gateway.example.com",
                       "https://example.eu.auth0.com/userinfo"],
                  scope="openid profile", gty="client-credentials",
                  permissions=["mgmt.read", "mgmt.write"])
    for kid in ("a0-cur", "a0-next"):
        ok(call(gw, "/shared/x", p["auth0"].token(kid, claims)))


def test_two_providers_on_one_server_keep_to_their_keys(gw, p):
    # Keycloak's key, Auth0's issuer (and the other way round)
    assert_invalid(call(gw, "/shared/x", p["keycloak"].token(
        "kc-rs", base(AUTH0, sub="x", aud="mcp-gateway",
                      scope="mgmt.read"))), UNVERIFIED)
    assert_invalid(call(gw, "/shared/x", p["auth0"].token(
        "a0-cur", base(KEYCLOAK, sub="x", aud="mcp-gateway",
                       scope="mgmt.read"))), UNVERIFIED)


def test_okta(gw, p):
    claims = base(OKTA, ver=1, sub="00u1", aud="api://mcp-gateway",
                  cid="0oa1", uid="00u1", scp=["mgmt.read", "mgmt.write"])
    ok(call(gw, "/okta/x", p["okta"].token("okta-1", claims)))
    # Okta's org authorization server issues for itself: not accepted
    other = dict(claims, iss="https://example.okta.com")
    assert call(gw, "/okta/x", p["okta"].token("okta-1", other)) \
        .status_code == 401


def test_entra_v2_and_v1(gw, p):
    v2 = base(ENTRA_V2, ver="2.0", sub="AAAA", aud="api://mcp-gateway",
              tid=TENANT, azp=ENTRA_APP, azpacr="1", oid="b1c2",
              scp="mgmt.read mgmt.write", nbf=now() - 5)
    v1 = base(ENTRA_V1, ver="1.0", sub="BBBB", aud="api://mcp-gateway",
              tid=TENANT, appid=ENTRA_APP, appidacr="1", oid="b1c2",
              roles=["mgmt.read"], nbf=now() - 5)
    ok(call(gw, "/entra/x", p["entra"].token("entra-1", v2)))
    ok(call(gw, "/entra/x", p["entra"].token("entra-1", v1)))

    # another tenant, another application: the 403 of the conditions
    for claims in (dict(v2, tid="11111111-2222-3333-4444-555555555555"),
                   dict(v2, azp="00000000-0000-0000-0000-000000000000"),
                   dict(v1, appid="00000000-0000-0000-0000-000000000000")):
        r = call(gw, "/entra/x", p["entra"].token("entra-1", claims))
        assert r.status_code == 403, r.text
        assert r.json() == {"detail": READ_DENIED}


def test_cognito_access_tokens(gw, p):
    claims = base(COGNITO, sub="aaaa-bbbb", token_use="access",
                  client_id=COGNITO_CLIENT, version=2, username="svc",
                  scope="mcp-gateway/mgmt.read mcp-gateway/mgmt.write",
                  auth_time=now(), origin_jti=uuid.uuid4().hex)
    t = p["cognito"].token("cog-1", claims)

    # no "aud" where an audience is required: a missing claim
    assert_invalid(call(gw, "/cognito/x", t),
                   "The access token lacks a required claim.")


def test_cognito_as_documented(workdir, nginx, idp, p):
    # docs/auth.md: no mcp_auth_jwt_audience, the app client pinned
    conf = harness.conf(servers=BACKEND, http=MAPS, server="""
        location / {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_key_request   /_jwks/cognito;
            mcp_auth_jwt_issuer        %s;
            mcp_auth_jwt_read_scope    mcp-gateway/mgmt.read;
            mcp_auth_jwt_write_scope   mcp-gateway/mgmt.write;
            mcp_auth_jwt_require       $cognito_ok;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }
""" % COGNITO + key_location("cognito"))
    ngx = nginx(conf, BACKEND_PORT=harness.free_port(), JWKS_PORT=idp.port,
                JWKS_CERT=idp.cert)
    claims = base(COGNITO, sub="aaaa-bbbb", token_use="access",
                  client_id=COGNITO_CLIENT, version=2,
                  scope="mcp-gateway/mgmt.read mcp-gateway/mgmt.write")
    ok(call(ngx, "/x", p["cognito"].token("cog-2", claims)))
    ok(call(ngx, "/x", p["cognito"].token("cog-1", claims), method="PUT"))

    # another app client of the pool, or an ID token: refused
    for c in (dict(claims, client_id="another-app-client"),
              dict(claims, token_use="id", aud=COGNITO_CLIENT)):
        assert_invalid(call(ngx, "/x", p["cognito"].token("cog-1", c)),
                       "The access token lacks a required claim.")


def test_google_service_account_and_firebase(gw, p):
    sa = base(GOOGLE, sub="1077", azp="1077", email=GOOGLE_SA,
              email_verified=True, aud="https://mcp-gateway.example.com",
              scope="mgmt.read")
    ok(call(gw, "/google/x", p["google"].token("g-1", sa)))
    r = call(gw, "/google/x", p["google"].token(
        "g-1", dict(sa, email="other@my-project.iam.gserviceaccount.com")))
    assert r.status_code == 403

    fb = base(FIREBASE, sub="uid-1", aud="my-project", user_id="uid-1",
              auth_time=now(), firebase={"sign_in_provider": "password"},
              scope="mgmt.read mgmt.write")
    ok(call(gw, "/firebase/x", p["google"].token("g-1", fb)))
    # another Firebase project
    r = call(gw, "/firebase/x", p["google"].token(
        "g-1", dict(fb, aud="other-project",
                    iss="https://securetoken.google.com/other-project")))
    assert r.status_code == 401

    # an EdDSA key of the same set
    ed = jwt.encode(sa, p["google"].ed, algorithm="EdDSA",
                    headers={"kid": "g-ed"})
    ok(call(gw, "/google/x", ed))


def test_pingone_tokens_without_kid(gw, p):
    claims = base(PING, sub="ping-user", aud="mcp-gateway", client_id="c1",
                  env="0a7af83d", org="o1", scope="mgmt.read")
    t = jwt.encode(claims, p["ping"].keys.private("ping-ping-1"),
                   algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(t)
    ok(call(gw, "/ping/x", t))
