"""JWT bearer authentication and the mgmt.read / mgmt.write scopes
(ngx_http_mcp_auth_module), through real nginx, with tokens minted (and
forged) at test time."""

import http.client
import json
import os
import re
import socket
import time
import uuid

import datetime

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID

import harness
import tokens
from harness import NATIVE, SEED
from tokens import bearer, forge, mint

READ_DENIED = "You do not have permission to access this connection."
WRITE_DENIED = "You do not have permission to update this connection."
NOT_PROVIDED = "Authentication credentials were not provided."

AUTH_CONF = r"""
load_module ${MCP_MODULE};
worker_processes  1;
error_log  ${MCP_PREFIX}/logs/error.log  info;
pid        ${MCP_PREFIX}/nginx.pid;
events { worker_connections 256; }

http {
    log_format  auth  '$request_method $request_uri $status sub=$mcp_jwt_sub '
                      'scope="$mcp_jwt_scope" iss=$mcp_jwt_iss '
                      'auth=$mcp_auth_status cache=$mcp_jwt_cache '
                      'tenant=$mcp_jwt_claim_tenant aud=$mcp_jwt_claim_aud';
    access_log  ${MCP_PREFIX}/logs/access.log  auth;

    client_body_temp_path  ${MCP_PREFIX}/tmp/body;
    proxy_temp_path        ${MCP_PREFIX}/tmp/proxy;
    fastcgi_temp_path      ${MCP_PREFIX}/tmp/fastcgi;
    uwsgi_temp_path        ${MCP_PREFIX}/tmp/uwsgi;
    scgi_temp_path         ${MCP_PREFIX}/tmp/scgi;

    # what the protected locations pass to: echoes what it got
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log  off;
        location / {
            return 200
                "$request_method $uri sub=$http_x_sub tenant=$http_x_tenant\n";
        }
    }

    server {
        listen  127.0.0.1:${MCP_DEMO_PORT};

        # room for a token beyond the 8k default of mcp_auth_jwt_max_size
        large_client_header_buffers  4 32k;

        mcp_auth_jwt_key_file  ${KEYS}/jwks.json;
        mcp_auth_jwt_issuer    https://auth.demo.example/;
        mcp_auth_jwt_audience  mcp-gateway;

        proxy_set_header  X-Sub     $mcp_jwt_sub;
        proxy_set_header  X-Tenant  $mcp_jwt_claim_tenant;

        location / {
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};

            location /health {
                mcp_auth_jwt  off;
                proxy_pass    http://127.0.0.1:${BACKEND_PORT};
            }
        }

        location /pem/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_key_file  ${KEYS}/es256.pub type=pem;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /hmac/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${KEYS}/hs256.secret type=hmac;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        # HS256 is allowed here (an HMAC key), next to RSA keys: only the
        # pinning of each key to its own algorithms stops algorithm
        # confusion
        location /mixed/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${KEYS}/hs256.secret type=hmac;
            mcp_auth_jwt_key_file  ${KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_key_file  ${KEYS}/jwks.json;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /hmac-short/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${EXTRA}/short.secret type=hmac;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /rotation/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${KEYS}/jwks.json;
            mcp_auth_jwt_key_file  ${EXTRA}/jwks-next.json;
            mcp_auth_jwt_key_file  ${EXTRA}/other.pub type=pem;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        # ES384, ES512, and the PEM forms other than PUBLIC KEY
        location /ec/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_key_file  ${EXTRA}/p384.crt type=pem;
            mcp_auth_jwt_key_file  ${EXTRA}/jwks-ec.json;
            mcp_auth_jwt_key_file  ${EXTRA}/next-pkcs1.pub type=pem;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /rs256-only/ {
            mcp_auth_jwt             "mcp";
            mcp_auth_jwt_key_file    ${KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_algorithms  RS256;
            proxy_pass               http://127.0.0.1:${BACKEND_PORT};
        }

        location /leeway/ {
            mcp_auth_jwt         "mcp";
            mcp_auth_jwt_leeway  60s;
            proxy_pass           http://127.0.0.1:${BACKEND_PORT};
        }

        location /require/ {
            mcp_auth_jwt          "mcp";
            mcp_auth_jwt_require  tenant jti;
            proxy_pass            http://127.0.0.1:${BACKEND_PORT};
        }

        location /audiences/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_issuer    https://other.example/
                                   https://auth.demo.example/;
            mcp_auth_jwt_audience  other-api mcp-gateway;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /cookie/ {
            mcp_auth_jwt  "mcp" token=$cookie_mcp_token;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /options-none/ {
            mcp_auth_jwt          "mcp";
            mcp_auth_jwt_options  none;
            proxy_pass            http://127.0.0.1:${BACKEND_PORT};
        }

        location /options-write/ {
            mcp_auth_jwt          "mcp";
            mcp_auth_jwt_options  write;
            proxy_pass            http://127.0.0.1:${BACKEND_PORT};
        }

        location /grants/ {
            mcp_auth_jwt                    "mcp";
            mcp_auth_jwt_write_grants_read  on;
            proxy_pass                      http://127.0.0.1:${BACKEND_PORT};
        }

        location /scp-only/ {
            mcp_auth_jwt               "mcp";
            mcp_auth_jwt_scope_claims  scp;
            proxy_pass                 http://127.0.0.1:${BACKEND_PORT};
        }

        location /custom/ {
            mcp_auth_jwt              "mcp";
            mcp_auth_jwt_read_scope   registry:read;
            mcp_auth_jwt_write_scope  registry:write;
            proxy_pass                http://127.0.0.1:${BACKEND_PORT};
        }

        location /small/ {
            mcp_auth_jwt           "mcp";
            mcp_auth_jwt_max_size  1024;
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }

        location /any/ {
            satisfy       any;
            allow         127.0.0.1;
            deny          all;
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /any-denied/ {
            satisfy       any;
            deny          all;
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }
    }
}
"""


@pytest.fixture(scope="module")
def extra(workdir):
    """keys that the demo's are not: for rotation, and to forge with"""
    keys = tokens.Keys(os.path.join(workdir, "keys-extra"))
    keys.new_rsa("next")
    keys.new_rsa("other")
    keys.write_jwks("jwks-next.json", [keys.jwk("next", "next-1", "RS256")])
    keys.new_ec("p521", ec.SECP521R1)
    keys.write_jwks("jwks-ec.json", [keys.jwk("p521", "ec-521")])
    p384 = keys.new_ec("p384", ec.SECP384R1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p384")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(p384.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now)
            .sign(p384, hashes.SHA384()))
    with open(keys.path("p384.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keys.path("next-pkcs1.pub"), "wb") as f:
        f.write(serialization.load_pem_public_key(keys.public("next"))
                .public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.PKCS1))
    old = os.umask(0o077)
    try:
        with open(keys.path("short.secret"), "w") as f:
            f.write("s" * 40 + "\n")
    finally:
        os.umask(old)
    return keys


@pytest.fixture(scope="module")
def gw(workdir, demo_keys, extra):
    ngx = harness.Nginx(workdir, AUTH_CONF, name="auth",
                        BACKEND_PORT=harness.free_port(), KEYS=demo_keys.dir,
                        EXTRA=extra.dir)
    ngx.start()
    yield ngx
    ngx.stop()
    assert harness.alerts(ngx.error_log()) == []


def call(ngx, path, token=None, method="GET", headers=None, **kw):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return ngx.request(method, path, headers=h, **kw)


def logged(ngx, marker, timeout=2.0):
    """the access log line of the request whose URI holds marker"""
    deadline = time.monotonic() + timeout
    while True:
        with open(ngx.path("logs/access.log")) as f:
            lines = [l for l in f if marker in l]
        if lines or time.monotonic() > deadline:
            assert len(lines) == 1, lines
            return lines[0]
        time.sleep(0.02)


def unique():
    return uuid.uuid4().hex


def www_authenticate(r):
    return r.headers.get("WWW-Authenticate")


def invalid(description):
    return ('Bearer realm="mcp", error="invalid_token", '
            'error_description="%s"' % description)


MALFORMED = "The access token is malformed."
UNVERIFIED = "The access token signature could not be verified."


def assert_invalid(r, description):
    assert r.status_code == 401, r.text
    assert www_authenticate(r) == invalid(description)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": description}


# -- the responses of RFC 6750 ---------------------------------------------

def test_a_valid_token_passes_and_its_subject_goes_upstream(gw, demo_keys):
    r = call(gw, "/r", mint(demo_keys, tenant="acme"))

    assert r.status_code == 200
    assert r.text == "GET /r sub=alice tenant=acme\n"


def test_no_token_is_401_without_an_error_attribute(gw):
    r = call(gw, "/r")

    assert r.status_code == 401
    assert www_authenticate(r) == 'Bearer realm="mcp"'
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": NOT_PROVIDED}


@pytest.mark.parametrize("value", ["Basic YWxpY2U6c2VjcmV0", "Bearertoken",
                                   "Token abc", "Negotiate"])
def test_another_scheme_is_no_token(gw, value):
    r = gw.get("/r", headers={"Authorization": value})

    assert r.status_code == 401
    assert www_authenticate(r) == 'Bearer realm="mcp"'


def test_an_expired_token_is_401_invalid_token(gw, demo_keys):
    n = unique()
    r = call(gw, "/r?" + n, mint(demo_keys, exp=int(time.time()) - 5))

    assert_invalid(r, "The access token expired.")
    assert "auth=expired" in logged(gw, n)


def test_a_missing_scope_is_403_insufficient_scope(gw, demo_keys):
    r = call(gw, "/r", mint(demo_keys, scope="mgmt.write"))

    assert r.status_code == 403
    assert www_authenticate(r) == ('Bearer realm="mcp", '
                                   'error="insufficient_scope", '
                                   'scope="mgmt.read"')
    assert r.json() == {"detail": READ_DENIED}

    r = call(gw, "/r", mint(demo_keys, scope="mgmt.read"), method="PUT",
             data=b"{}")

    assert r.status_code == 403
    assert www_authenticate(r) == ('Bearer realm="mcp", '
                                   'error="insufficient_scope", '
                                   'scope="mgmt.write"')
    assert r.json() == {"detail": WRITE_DENIED}


def test_bodies_and_logs_hold_no_token_or_claim(gw, demo_keys):
    token = mint(demo_keys, sub="subject-" + unique(), scope="none")
    r = call(gw, "/r", token)

    assert r.status_code == 403
    body = r.text + json.dumps(dict(r.headers))
    sub = jwt.decode(token, options={"verify_signature": False})["sub"]
    for secret in (token, token.split(".")[2], sub):
        assert secret not in body
        assert secret not in gw.error_log()


def test_head_gets_the_401_headers_without_a_body(gw):
    r = gw.request("HEAD", "/r")

    assert r.status_code == 401
    assert www_authenticate(r) == 'Bearer realm="mcp"'
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_the_connection_is_kept_alive_after_a_401(gw, demo_keys):
    c = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=5)

    # a PUT body that is never read must not become the next request
    c.request("PUT", "/r", body=b"x" * 20000,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 401
    assert json.loads(r.read()) == {"detail": NOT_PROVIDED}
    assert r.getheader("Connection") != "close"

    c.request("GET", "/r", headers=bearer(mint(demo_keys)))
    r = c.getresponse()
    assert r.status == 200
    assert r.read() == b"GET /r sub=alice tenant=\n"

    c.request("GET", "/r", headers={"Authorization": "Bearer x.y.z"})
    r = c.getresponse()
    assert r.status == 401
    r.read()

    c.request("GET", "/r", headers=bearer(mint(demo_keys)))
    assert c.getresponse().status == 200
    c.close()


def test_satisfy_any_lets_another_module_grant_access(gw):
    assert call(gw, "/any/x").status_code == 200

    r = call(gw, "/any-denied/x")

    assert r.status_code == 401
    assert www_authenticate(r) == 'Bearer realm="mcp"'


# -- the token source ------------------------------------------------------

@pytest.mark.parametrize("template", [
    "Bearer %s", "bearer %s", "BEARER %s", "BeArEr %s", "Bearer    %s",
    "Bearer\t%s", "Bearer %s   ",
])
def test_the_scheme_in_any_case_and_sane_whitespace(gw, demo_keys,
                                                   template):
    r = gw.get("/r", headers={"Authorization": template % mint(demo_keys)})

    assert r.status_code == 200


@pytest.mark.parametrize("template", [
    "Bearer %s %s", "Bearer %s,%s", "Bearer %s, Bearer %s",
])
def test_exactly_one_token(gw, demo_keys, template):
    t = mint(demo_keys)
    r = gw.get("/r", headers={"Authorization": template % (t, t)})

    assert_invalid(r, MALFORMED)


def test_bearer_without_a_token_is_malformed(gw):
    assert_invalid(gw.get("/r", headers={"Authorization": "Bearer"}),
                   MALFORMED)
    assert_invalid(gw.get("/r", headers={"Authorization": "Bearer  "}),
                   MALFORMED)


def raw(ngx, head):
    """sends raw request bytes, returns (status, whole answer)"""
    with socket.create_connection(("127.0.0.1", ngx.port), timeout=5) as s:
        s.sendall(head)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_two_authorization_headers_never_reach_the_module(gw, demo_keys):
    t = mint(demo_keys).encode()
    status, data = raw(gw, b"GET /r HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer " + t + b"\r\n"
                           b"Authorization: Bearer " + t + b"\r\n"
                           b"Connection: close\r\n\r\n")

    # nginx itself refuses a duplicate Authorization header
    assert status == 400
    assert b"sub=alice" not in data


@pytest.mark.parametrize("junk", [b"\x01", b"\x7f", b"\xff", b"\x1b[31m",
                                  b"\xc3\xa9", b"=", b"+/", b"*"])
@pytest.mark.parametrize("where", [20, -20])
def test_control_and_non_ascii_characters_are_malformed(gw, demo_keys, junk,
                                                        where):
    # in the header, and in the signature: a decoder that skipped what it
    # does not know would find the right signature there
    t = mint(demo_keys).encode()
    t = t[:where] + junk + t[where:]
    status, data = raw(gw, b"GET /r HTTP/1.1\r\nHost: x\r\n"
                           b"Authorization: Bearer " + t + b"\r\n"
                           b"Connection: close\r\n\r\n")

    assert status == 401
    assert b'error="invalid_token"' in data
    assert MALFORMED.encode() in data


def test_a_cookie_as_the_token_source(gw, demo_keys):
    good, bad = mint(demo_keys, sub="cookie-user"), "x.y.z"

    r = gw.get("/cookie/a", cookies={"mcp_token": good})
    assert r.status_code == 200
    assert "sub=cookie-user" in r.text

    assert_invalid(gw.get("/cookie/a", cookies={"mcp_token": bad}), MALFORMED)
    assert gw.get("/cookie/a", cookies={"other": good}).status_code == 401

    # the Authorization header comes first
    r = gw.get("/cookie/a", cookies={"mcp_token": bad},
               headers=bearer(mint(demo_keys, sub="header-user")))
    assert "sub=header-user" in r.text

    # elsewhere the cookie is nothing
    assert gw.get("/r", cookies={"mcp_token": good}).status_code == 401


def test_too_large_a_token(gw, demo_keys):
    t = mint(demo_keys)
    assert call(gw, "/small/a", t).status_code == 200

    assert len(t) < 1024
    big = mint(demo_keys, pad="p" * 400)
    assert len(big) > 1024
    assert_invalid(call(gw, "/small/a", big), "The access token is too large.")

    # the 8k default (this server's header buffers allow more)
    assert call(gw, "/r", mint(demo_keys, pad="p" * 5500)).status_code == 200
    huge = mint(demo_keys, pad="p" * 6500)
    assert len(huge) > 8192
    assert_invalid(call(gw, "/r", huge), "The access token is too large.")
    r = gw.get("/cookie/a", cookies={"mcp_token": huge})
    assert_invalid(r, "The access token is too large.")


# -- malformed tokens ------------------------------------------------------

def sign_raw(keys, header, payload):
    """RS256 over raw header and payload bytes, with the demo key"""
    key = serialization.load_pem_private_key(keys.private("rs256"), None)
    signing = tokens.b64u(header) + "." + tokens.b64u(payload)
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + tokens.b64u(sig)


def noncanonical(segment):
    """the same bytes, but the unused bits of the last character set"""
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789-_")
    unused = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) | unused]


def malformed_tokens(keys):
    """each stopped by one check only: correctly signed where it can be"""
    t = mint(keys)
    h, p, s = t.split(".")
    claims = json.dumps(tokens.claims()).encode()
    return {
        "one segment": h,
        "two segments": h + "." + p,
        "four segments": t + "." + s,
        "five segments": t + ".." + s,
        "empty signature": h + "." + p + ".",
        "empty header": "." + p + "." + s,
        "dots only": "..",
        "padding": h + "." + p + "." + s + "==",
        "base64 not base64url": h + "." + p.replace("-", "+").replace(
            "_", "/") + "+/." + s,
        "one character too many": h + "." + p + "." + s + "A",
        "bits beyond the data": h + "." + p + "." + noncanonical(s),
        "header is an array": tokens.b64u(b'["RS256"]') + "." + p + "." + s,
        "header is a string": tokens.b64u(b'"RS256"') + "." + p + "." + s,
        "header is not JSON": tokens.b64u(b"{alg: RS256}") + "." + p + "." + s,
        "header is truncated": tokens.b64u(b'{"alg":"RS256"') + "." + p +
        "." + s,
        "duplicate alg": sign_raw(keys, b'{"alg":"HS256","kid":"demo-rs256",'
                                  b'"alg":"RS256"}', claims),
        "duplicate claim": sign_raw(keys, b'{"alg":"RS256","kid":'
                                    b'"demo-rs256"}',
                                    claims[:-1] + b', "sub": "admin"}'),
        "crit": mint(keys, headers={"crit": ["exp"]}),
        "cty": mint(keys, headers={"cty": "JWT"}),
        "typ of a DPoP proof": mint(keys, headers={"typ": "dpop+jwt"}),
        "kid not a string": sign_raw(keys, b'{"alg":"RS256","kid":7}',
                                     claims),
        "whitespace inside": h + "." + p[:10] + " " + p[10:] + "." + s,
    }


@pytest.mark.parametrize("name", [
    "one segment", "two segments", "four segments", "five segments",
    "empty signature", "empty header", "dots only", "padding",
    "base64 not base64url", "one character too many",
    "bits beyond the data", "header is an array", "header is a string",
    "header is not JSON", "header is truncated", "duplicate alg",
    "duplicate claim", "crit", "cty", "typ of a DPoP proof",
    "kid not a string", "whitespace inside",
])
def test_malformed_tokens_are_401_never_500(gw, demo_keys, name):
    t = malformed_tokens(demo_keys)[name]
    r = gw.get("/r", headers={"Authorization": "Bearer " + t})

    assert r.status_code == 401, (name, t)
    assert r.json()["detail"] in (MALFORMED, UNVERIFIED)
    assert 'error="invalid_token"' in www_authenticate(r)


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"alice"', b"{not json",
                                     b'{"exp": 1, "exp": 2}', b""])
def test_a_signed_payload_that_is_not_an_object_is_malformed(gw, demo_keys,
                                                             payload):
    t = sign_raw(demo_keys, b'{"alg":"RS256","kid":"demo-rs256"}', payload)

    assert_invalid(call(gw, "/r", t), MALFORMED)


# -- algorithms and keys ---------------------------------------------------

def test_alg_none_is_never_accepted(gw, demo_keys):
    c = tokens.claims()
    for t in (jwt.encode(c, None, algorithm="none"),
              forge({"alg": "none", "typ": "JWT"}, c),
              forge({"alg": "None", "kid": "demo-rs256"}, c),
              forge({"alg": "NONE"}, c)):
        r = call(gw, "/r", t)
        assert r.status_code == 401
        assert 'error="invalid_token"' in www_authenticate(r)
        r = call(gw, "/hmac/x", t)
        assert r.status_code == 401


def test_algorithm_confusion_with_the_public_key_as_hmac_secret(gw,
                                                                demo_keys):
    # the attack on verifiers that pick the primitive from "alg": HS256
    # keyed with the bytes of the RSA public key everyone may have
    pem = demo_keys.public("rs256")
    c = tokens.claims()
    for t in (tokens.hs256(pem, {"alg": "HS256", "kid": "demo-rs256"}, c),
              tokens.hs256(pem, {"alg": "HS256"}, c),
              tokens.hs256(pem.strip(), {"alg": "HS256"}, c),
              tokens.hs256(pem, {"alg": "HS256", "typ": "JWT"}, c),
              # the "typ" libjwt refuses, that OpenSSL verifies
              tokens.hs256(pem, {"alg": "HS256", "typ": "at+jwt",
                                 "kid": "demo-rs256"}, c)):
        for path in ("/r", "/pem/x", "/rotation/x", "/hmac/x", "/mixed/x"):
            r = call(gw, path, t)
            assert r.status_code == 401, path
            assert r.json() == {"detail": UNVERIFIED}

    # /mixed/ has every kind of key, each for its own tokens
    assert call(gw, "/mixed/x", mint(demo_keys)).status_code == 200
    assert call(gw, "/mixed/x", mint(demo_keys, kid="")).status_code == 200
    assert call(gw, "/mixed/x", mint(demo_keys,
                                     alg="ES256")).status_code == 200
    assert call(gw, "/mixed/x", mint(demo_keys,
                                     alg="HS256")).status_code == 200


def test_a_kid_that_matches_no_key_never_falls_back(gw, demo_keys):
    # signed by the demo key the JWKS has under demo-rs256: with any other
    # kid it must not verify
    for kid in ("nope", "demo-es256", "demo-rs256 ", "DEMO-RS256"):
        r = call(gw, "/r", mint(demo_keys, kid=kid))
        assert r.status_code == 401, kid
        assert r.json() == {"detail": UNVERIFIED}

    assert call(gw, "/r", mint(demo_keys, kid="demo-rs256")).status_code == 200


def test_a_token_without_kid_meets_no_jwks_key(gw, demo_keys):
    t = mint(demo_keys, kid="")

    assert "kid" not in jwt.get_unverified_header(t)
    assert_invalid(call(gw, "/r", t), UNVERIFIED)
    # a PEM key has no kid: it serves tokens with or without one
    assert call(gw, "/pem/x", t).status_code == 200
    assert call(gw, "/pem/x", mint(demo_keys)).status_code == 200


def test_es256_via_jwks_and_via_pem(gw, demo_keys):
    assert call(gw, "/r", mint(demo_keys, alg="ES256")).status_code == 200
    assert call(gw, "/pem/x", mint(demo_keys, alg="ES256",
                                   kid="")).status_code == 200

    # a P-256 key verifies ES256 only: a valid ECDSA signature over
    # SHA-384 with it is refused
    key = demo_keys.private("es256")
    for path, kid in (("/r", "demo-es256"), ("/pem/x", "")):
        for alg in ("ES384", "ES512"):
            t = mint(demo_keys, alg=alg, kid=kid, key=key)
            assert_invalid(call(gw, path, t), UNVERIFIED)

    t = mint(demo_keys, alg="ES256")
    h, p, s = t.split(".")

    # a DER signature where JWS wants R || S
    ekey = serialization.load_pem_private_key(key, None)
    der = ekey.sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    assert_invalid(call(gw, "/r", h + "." + p + "." + tokens.b64u(der)),
                   UNVERIFIED)


def test_es384_es512_and_pem_certificates_and_pkcs1_keys(gw, extra):
    p384, p521 = extra.private("p384"), extra.private("p521")
    cases = [
        mint(extra, alg="ES384", kid="", key=p384),          # certificate
        mint(extra, alg="ES512", kid="ec-521", key=p521),    # JWKS, P-521
        mint(extra, kid="", key=extra.private("next")),      # RSA PUBLIC KEY
    ]
    for t in cases:
        assert call(gw, "/ec/x", t).status_code == 200, t
        h, p, s = t.split(".")
        forged = h + "." + tokens.b64u_json(tokens.claims(sub="mallory")) + \
            "." + s
        assert_invalid(call(gw, "/ec/x", forged), UNVERIFIED)

    # each curve its own algorithm
    assert_invalid(call(gw, "/ec/x", mint(extra, alg="ES512", kid="",
                                          key=p384)), UNVERIFIED)
    assert_invalid(call(gw, "/ec/x", mint(extra, alg="ES384", kid="ec-521",
                                          key=p521)), UNVERIFIED)


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt",
                                 "application/jwt", "jwt"])
def test_access_token_types(gw, demo_keys, typ):
    # "JWT" in any case goes to libjwt, the others (RFC 9068) to OpenSSL:
    # the same keys, the same pinning either way
    for alg, path in (("RS256", "/r"), ("ES256", "/r"), ("ES256", "/pem/x"),
                      ("HS256", "/hmac/x")):
        t = mint(demo_keys, alg=alg, headers={"typ": typ},
                 kid="" if path == "/pem/x" else None)
        assert call(gw, path, t).status_code == 200, (alg, path)
        h, p, s = t.split(".")
        forged = h + "." + tokens.b64u_json(tokens.claims(sub="mallory")) + \
            "." + s
        assert_invalid(call(gw, path, forged), UNVERIFIED)


def test_hs256_via_an_hmac_secret_file(gw, demo_keys):
    assert call(gw, "/hmac/x", mint(demo_keys, alg="HS256")).status_code == 200
    # a 64-byte secret allows HS512
    assert call(gw, "/hmac/x", mint(demo_keys, alg="HS512")).status_code == 200

    wrong = mint(demo_keys, alg="HS256", key=b"w" * 64)
    assert_invalid(call(gw, "/hmac/x", wrong), UNVERIFIED)

    # RS256 tokens are not for an HMAC location, nor HS256 for a JWKS one
    assert call(gw, "/hmac/x", mint(demo_keys)).status_code == 401
    assert call(gw, "/r", mint(demo_keys, alg="HS256")).status_code == 401


def test_an_hmac_secret_too_short_for_hs384_is_pinned_to_hs256(gw, extra):
    secret = b"s" * 40

    assert call(gw, "/hmac-short/x",
                mint(extra, alg="HS256", key=secret)).status_code == 200
    for alg in ("HS384", "HS512"):
        t = mint(extra, alg=alg, key=secret)
        assert_invalid(call(gw, "/hmac-short/x", t), UNVERIFIED)


def test_the_algorithm_allow_list(gw, demo_keys):
    # the same PEM key: RS512 is fine for it, but not allowed here
    rs512 = mint(demo_keys, alg="RS512")

    assert call(gw, "/pem/x", rs512).status_code == 200
    assert call(gw, "/rs256-only/x", mint(demo_keys)).status_code == 200
    assert_invalid(call(gw, "/rs256-only/x", rs512), UNVERIFIED)
    assert_invalid(call(gw, "/rs256-only/x", mint(demo_keys, alg="ES256")),
                   UNVERIFIED)


def test_the_jwks_alg_of_the_demo_key_pins_it_to_rs256(gw, demo_keys):
    for alg in ("RS384", "RS512"):
        assert_invalid(call(gw, "/r", mint(demo_keys, alg=alg)), UNVERIFIED)


def test_a_jwk_alg_narrows_its_key(gw, extra):
    # jwks-next.json says "alg": "RS256" for next-1
    key = extra.private("next")
    assert call(gw, "/rotation/x", mint(extra, kid="next-1",
                                        key=key)).status_code == 200
    t = mint(extra, alg="RS384", kid="next-1", key=key)
    assert_invalid(call(gw, "/rotation/x", t), UNVERIFIED)


def test_several_keys_at_once_for_rotation(gw, demo_keys, extra):
    cases = [
        mint(demo_keys),                                      # old JWKS
        mint(demo_keys, alg="ES256"),
        mint(extra, kid="next-1", key=extra.private("next")),  # new JWKS
        mint(extra, kid="", key=extra.private("other")),       # PEM, no kid
        mint(extra, kid="any", key=extra.private("other")),
    ]
    for t in cases:
        assert call(gw, "/rotation/x", t).status_code == 200

    # a key nobody configured (the extra dir's own demo-like key)
    rogue = mint(extra, kid="demo-rs256")
    assert_invalid(call(gw, "/rotation/x", rogue), UNVERIFIED)


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
    (dict(aud=None), "The access token is for another audience."),
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


def test_several_issuers_and_audiences(gw, demo_keys):
    for aud in ("other-api", "mcp-gateway", ["x", "other-api"]):
        assert call(gw, "/audiences/x",
                    mint(demo_keys, aud=aud)).status_code == 200
    assert call(gw, "/audiences/x",
                mint(demo_keys, aud="x")).status_code == 401


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


def test_the_write_scope_does_not_grant_reads_unless_configured(gw,
                                                                demo_keys):
    t = mint(demo_keys, scope="mgmt.write")

    for method in ("GET", "HEAD"):
        assert call(gw, "/r", t, method=method).status_code == 403
        assert call(gw, "/grants/x", t, method=method).status_code == 200


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


# -- the token cache -------------------------------------------------------

def test_a_verified_token_is_served_from_the_cache(gw, demo_keys):
    t = mint(demo_keys, alg="ES256")
    marks = [unique() for _ in range(3)]
    for n in marks:
        assert call(gw, "/r?" + n, t).status_code == 200

    assert [re.search(r"cache=(\w+)", logged(gw, n)).group(1)
            for n in marks] == ["miss", "hit", "hit"]


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


# -- the demo: the service-credential pattern ------------------------------

@pytest.mark.parametrize("vendor", ["kambrium", "barndoor", "gatana"])
def test_vendors_see_the_gateway_credential_and_the_caller(gateway, mocks,
                                                           demo_keys,
                                                           vendor):
    t = mint(demo_keys, sub="carol")
    r = gateway.get(NATIVE[vendor] + SEED[vendor], headers=bearer(t))

    assert r.status_code == 200
    last = mocks[vendor].last()
    assert last["headers"]["authorization"] == \
        "Bearer " + harness.SERVICE_CREDENTIAL[vendor]
    assert last["headers"]["x-mcp-caller"] == "carol"
    assert t not in json.dumps(last)


def test_the_demo_refuses_before_reaching_a_vendor(gateway, mocks,
                                                   demo_keys):
    path = "/mcp-servers/kambrium/123"

    assert gateway.get(path).status_code == 401
    assert gateway.get(path, headers=bearer(
        mint(demo_keys, scope="mgmt.write"))).status_code == 403
    r = gateway.put(path, headers=bearer(mint(demo_keys, scope="mgmt.read")),
                    json={"name": "x"})
    assert r.status_code == 403
    assert r.json() == {"detail": WRITE_DENIED}
    assert mocks["kambrium"].requests()["total"] == 0

    # the vendor itself refuses a caller's token
    r = requests.get(mocks["kambrium"].url + "/api/v1/mcp-servers/123",
                     headers=bearer(mint(demo_keys)), timeout=5)
    assert r.status_code == 403


def test_mint_token_makes_tokens_the_demo_accepts(gateway, demo_keys):
    import subprocess
    t = subprocess.run([harness.PYTHON,
                        os.path.join(harness.TOP, "scripts", "mint-token"),
                        "--keys-dir", demo_keys.dir, "--scope", "mgmt.read",
                        "--sub", "dave", "--ttl", "60"],
                       capture_output=True, text=True, check=True).stdout
    r = gateway.get("/mcp-servers/gatana/github-tools",
                    headers=bearer(t.strip()))
    assert r.status_code == 200


# -- own nginx: reload, debug log, cache off -------------------------------

KEY_CONF = r"""
load_module ${MCP_MODULE};
worker_processes  ${WORKERS};
error_log  ${MCP_PREFIX}/logs/error.log  ${LEVEL};
pid        ${MCP_PREFIX}/nginx.pid;
events { worker_connections 64; }
http {
    access_log  ${MCP_PREFIX}/logs/access.log;
    client_body_temp_path  ${MCP_PREFIX}/tmp/body;
    proxy_temp_path        ${MCP_PREFIX}/tmp/proxy;
    fastcgi_temp_path      ${MCP_PREFIX}/tmp/fastcgi;
    uwsgi_temp_path        ${MCP_PREFIX}/tmp/uwsgi;
    scgi_temp_path         ${MCP_PREFIX}/tmp/scgi;
    ${HTTP}
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log off;
        location / { return 200 "ok\n"; }
    }
    server {
        listen  127.0.0.1:${MCP_DEMO_PORT};
        location / {
            mcp_auth_jwt           "mcp" token=$cookie_t;
            mcp_auth_jwt_key_file  ${KEYFILE};
            proxy_set_header       Authorization "";
            proxy_set_header       Cookie "";
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }
    }
}
"""


def key_conf(nginx, keyfile, level="info", workers=1, http="", start=True):
    return nginx(KEY_CONF, start=start, KEYFILE=keyfile, LEVEL=level,
                 WORKERS=workers, HTTP=http,
                 BACKEND_PORT=harness.free_port())


def test_reload_reads_changed_key_files(nginx, workdir, extra):
    d = os.path.join(workdir, "reload-" + unique())
    os.makedirs(d)
    jwks = os.path.join(d, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [extra.jwk("next", "k1")]}, f)
    ngx = key_conf(nginx, jwks, workers=2)

    old = mint(extra, kid="k1", key=extra.private("next"))
    new = mint(extra, kid="k2", key=extra.private("other"))
    assert call(ngx, "/", old).status_code == 200
    assert call(ngx, "/", new).status_code == 401

    with open(jwks + ".tmp", "w") as f:
        json.dump({"keys": [extra.jwk("other", "k2")]}, f)
    os.rename(jwks + ".tmp", jwks)
    ngx.reload()

    deadline = time.monotonic() + 10
    while call(ngx, "/", new).status_code != 200:
        assert time.monotonic() < deadline, ngx.error_log()
        time.sleep(0.05)
    assert call(ngx, "/", old).status_code == 401


def test_the_debug_log_holds_no_token_and_no_claim(nginx, demo_keys):
    ngx = key_conf(nginx, demo_keys.path("jwks.json"), level="debug")
    sub, tenant = "sub-" + unique(), "tenant-" + unique()
    sent = [mint(demo_keys, sub=sub, tenant=tenant),
            mint(demo_keys, sub=sub, tenant=tenant, scope="x"),
            mint(demo_keys, sub=sub, exp=int(time.time()) - 10),
            mint(demo_keys, sub=sub, kid="nope")]
    for t in sent:
        call(ngx, "/", t)
    cookie = mint(demo_keys, sub=sub, tenant=tenant)
    assert ngx.get("/", cookies={"t": cookie}).status_code == 200
    assert call(ngx, "/", sent[0]).status_code == 200       # cache hit

    log = ngx.error_log()
    assert "mcp jwt cache hit" in log
    assert "mcp jwt cache store" in log
    assert "mcp auth: invalid bearer token: token expired" in log

    # nginx itself logs request headers at debug level ("http header:"),
    # and the values complex values take ("http script var:"): nothing
    # else may hold them
    secrets = [sub, tenant]
    for t in sent + [cookie]:
        secrets += [t, t.split(".")[1], t.split(".")[2]]
    core = re.compile(r'(http|parse) header: "(Authorization|Cookie): '
                      r'|http script var: "')
    for line in log.splitlines():
        if core.search(line):
            continue
        for s in secrets:
            assert s not in line, line


def test_the_cache_may_be_turned_off(nginx, demo_keys):
    ngx = key_conf(nginx, demo_keys.path("jwks.json"), level="debug",
                   http="mcp_auth_jwt_cache off;")
    t = mint(demo_keys)
    for _ in range(3):
        assert call(ngx, "/", t).status_code == 200

    log = ngx.error_log()
    assert "mcp jwt cache" not in log
    assert log.count("mcp jwt signature verified") == 3


def test_a_small_cache_evicts_the_least_recently_used(nginx, demo_keys):
    ngx = key_conf(nginx, demo_keys.path("jwks.json"), level="debug",
                   http="mcp_auth_jwt_cache 2 ttl=1h;")
    a, b, c = (mint(demo_keys, sub=s) for s in "abc")
    for t in (a, b, a, c):          # c evicts b, the least recently used
        assert call(ngx, "/", t).status_code == 200
    assert ngx.error_log().count("mcp jwt cache hit") == 1

    for t in (a, c, b):
        assert call(ngx, "/", t).status_code == 200
    assert ngx.error_log().count("mcp jwt cache hit") == 3


# -- configuration ---------------------------------------------------------

def conf_error(nginx, keyfile, location="", http=""):
    conf = KEY_CONF.replace("            proxy_pass",
                            "            %s\n            proxy_pass"
                            % location)
    ngx = nginx(conf, start=False, KEYFILE=keyfile, LEVEL="info", WORKERS=1,
                HTTP=http, BACKEND_PORT=harness.free_port())
    rc, out = ngx.test_config()
    return rc, out


def write(workdir, name, data, mode=0o600):
    path = os.path.join(workdir, "conf-" + unique() + "-" + name)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


def test_the_demo_keys_pass_nginx_t(nginx, demo_keys):
    for keyfile in (demo_keys.path("jwks.json"),
                    demo_keys.path("rs256.pub") + " type=pem",
                    demo_keys.path("es256.pub") + " type=pem",
                    demo_keys.path("hs256.secret") + " type=hmac"):
        rc, out = conf_error(nginx, keyfile)
        assert rc == 0, out


def bad_configs(workdir, keys, extra):
    extra.new_rsa("small", bits=1024)
    rsa = extra.jwk("next", "x")
    return [
        ("/nonexistent/jwks.json", "", "",
         r'open\(\) "/nonexistent/jwks.json" failed'),
        (write(workdir, "bad.json", "{\"keys\": [}"), "", "",
         r'invalid JSON in key file ".*bad.json", line 1'),
        (write(workdir, "set.json", "[]"), "", "",
         r"is not a JWK Set"),
        (write(workdir, "oct.json", json.dumps({"keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]})), "", "",
         r'no usable RSA or EC signing key in the JWK Set'),
        (write(workdir, "enc.json", json.dumps({"keys": [
            dict(rsa, use="enc")]})), "", "",
         r"no usable RSA or EC signing key"),
        (write(workdir, "curve.json", json.dumps({"keys": [
            dict(extra.jwk("next", "x"), kty="EC", crv="P-256",
                 x=tokens.b64u(b"\x01" * 32), y=tokens.b64u(b"\x02" * 32))
        ]})), "", "", r'key #0 in ".*" is not a valid P-256 public key'),
        (write(workdir, "small.json", json.dumps({"keys": [
            extra.jwk("small", "s")]})), "", "",
         r"RSA key of 1024 bits .*: at least 2048"),
        (write(workdir, "mismatch.json", json.dumps({"keys": [
            extra.jwk("next", "m", "ES256")]})), "", "",
         r'its "alg" ES256 does not fit the key'),
        (keys.path("rs256.key") + " type=pem", "", "",
         r"holds a private key"),
        (write(workdir, "junk.pem", "hello") + " type=pem", "", "",
         r"no PEM public key or certificate"),
        (write(workdir, "short.secret", "x" * 31) + " type=hmac", "", "",
         r"is 31 bytes long, at least 32"),
        (keys.path("rs256.pub") + " type=hmac", "", "",
         r'holds a PEM block or JSON, not an HMAC secret'),
        (keys.path("jwks.json") + " type=hmac", "", "",
         r'holds a PEM block or JSON, not an HMAC secret'),
        (keys.path("jwks.json") + " type=ecdsa", "", "",
         r'invalid parameter "type=ecdsa"'),
        (keys.path("jwks.json"), "mcp_auth_jwt_algorithms RS256 none;", "",
         r'the "none" algorithm is never accepted'),
        (keys.path("jwks.json"), "mcp_auth_jwt_algorithms RS257;", "",
         r'unknown algorithm "RS257"'),
        (keys.path("jwks.json"), "mcp_auth_jwt_algorithms HS256;", "",
         r'no key of location "/" verifies any of its '
         r'"mcp_auth_jwt_algorithms"'),
        (keys.path("jwks.json"), "mcp_auth_jwt_read_scope \"a b\";", "",
         r"has a scope with characters RFC 6749 does not allow"),
        (keys.path("jwks.json"), "mcp_auth_jwt_options maybe;", "",
         r'invalid value "maybe"'),
        (keys.path("jwks.json"), "mcp_auth_jwt_audience a;\n"
         "mcp_auth_jwt_audience b;", "", r'"mcp_auth_jwt_audience" directive '
         r"is duplicate"),
        (keys.path("jwks.json"), "", "mcp_auth_jwt_cache 0;",
         r'invalid number of entries "0"'),
        (keys.path("jwks.json"), "", "mcp_auth_jwt_cache 10 ttl=soon;",
         r'invalid ttl "ttl=soon"'),
        (keys.path("jwks.json"), "location /in { mcp_auth_jwt_key_file " +
         keys.path("jwks.json") + " type=pem; }", "",
         r'is read with "type=jwks" elsewhere'),
    ]


def test_nginx_t_names_each_mistake(nginx, workdir, demo_keys, extra):
    for keyfile, location, http_conf, message in bad_configs(workdir,
                                                             demo_keys,
                                                             extra):
        rc, out = conf_error(nginx, keyfile, location, http_conf)
        assert rc != 0, (keyfile, location, http_conf)
        assert re.search(r"\[emerg\].*" + message, out), out


def test_nginx_t_refuses_auth_without_keys_or_a_bad_realm(nginx, workdir):
    conf = KEY_CONF.replace("            mcp_auth_jwt_key_file  ${KEYFILE};\n",
                            "")
    ngx = nginx(conf, start=False, LEVEL="info", WORKERS=1, HTTP="",
                BACKEND_PORT=harness.free_port())
    rc, out = ngx.test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*"mcp_auth_jwt" is on in location "/" but '
                     r'no "mcp_auth_jwt_key_file" gives it keys', out), out

    conf = KEY_CONF.replace('mcp_auth_jwt           "mcp"',
                            'mcp_auth_jwt           \'a"b\'')
    ngx = nginx(conf, start=False, LEVEL="info", WORKERS=1, HTTP="",
                KEYFILE="/nonexistent", BACKEND_PORT=harness.free_port())
    rc, out = ngx.test_config()
    assert rc != 0
    assert 'invalid realm "a"b"' in out


def test_skipped_jwks_keys_and_world_readable_secrets_are_reported(
        nginx, workdir, demo_keys, extra):
    jwks = write(workdir, "mixed.json", json.dumps({"keys": [
        dict(extra.jwk("next", "enc-1"), use="enc", alg="RSA-OAEP"),
        {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "ed"},
        dict(extra.jwk("other", "ps"), alg="PS256"),
        dict(extra.jwk("next", "priv"), d="secret-d"),
    ]}))
    rc, out = conf_error(nginx, jwks)
    assert rc == 0, out
    assert re.search(r'\[notice\].*key #0 in ".*" skipped: its "use" is not '
                     r'"sig"', out)
    assert re.search(r'\[warn\].*key #1 .* key type "OKP" is not supported',
                     out)
    assert re.search(r'\[warn\].*key #2 .* algorithm "PS256" is not '
                     r'supported', out)
    assert re.search(r"\[warn\].*key #3 .* holds private key material", out)
    assert "secret-d" not in out

    secret = write(workdir, "open.secret", "z" * 40, mode=0o644)
    rc, out = conf_error(nginx, secret + " type=hmac")
    assert rc == 0, out
    assert re.search(r"\[warn\].*the HMAC secret .* is readable by every "
                     r"user", out)


def test_the_keycloak_example_of_docs_auth_md_passes_nginx_t(nginx,
                                                             demo_keys):
    with open(os.path.join(harness.TOP, "docs", "auth.md")) as f:
        conf = re.search(r"```nginx\n(.*?)```", f.read(), re.S).group(1)

    # what differs on this machine: paths, the listener, no DNS
    conf = conf.replace("load_module /usr/lib/nginx/modules/"
                        "ngx_http_mcp_module.so;",
                        "load_module ${MCP_MODULE};\n"
                        "error_log ${MCP_PREFIX}/logs/error.log info;\n"
                        "pid ${MCP_PREFIX}/nginx.pid;\n"
                        "events {}")
    conf = conf.replace("/etc/nginx/jwks/keycloak.json",
                        demo_keys.path("jwks.json"))
    conf = conf.replace("/var/log/nginx/", "${MCP_PREFIX}/logs/")
    conf = conf.replace("listen 443 ssl;",
                        "listen 127.0.0.1:${MCP_DEMO_PORT};")
    conf = conf.replace("api.kambrium.com:443", "127.0.0.1:9")
    conf = conf.replace("http {", "http {\n"
                        "    client_body_temp_path ${MCP_PREFIX}/tmp/body;\n"
                        "    proxy_temp_path ${MCP_PREFIX}/tmp/proxy;\n"
                        "    fastcgi_temp_path ${MCP_PREFIX}/tmp/fastcgi;\n"
                        "    uwsgi_temp_path ${MCP_PREFIX}/tmp/uwsgi;\n"
                        "    scgi_temp_path ${MCP_PREFIX}/tmp/scgi;", 1)

    rc, out = nginx(conf, start=False).test_config()
    assert rc == 0, out
