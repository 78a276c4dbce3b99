"""JWT bearer authentication (ngx_http_mcp_auth_module), the token itself:
the answers of RFC 6750, where the token comes from, what makes it
malformed, and that it goes no further than the gateway: not to a log, not
to a vendor.  Through real nginx, with tokens minted (and forged) at test
time."""

import http.client
import json
import os
import re
import socket
import time

import jwt
import pytest
import requests

import auth_server
import harness
import tokens
from auth_server import (MALFORMED, NOT_PROVIDED, READ_DENIED, UNVERIFIED,
                         WRITE_DENIED, assert_invalid, call, location, logged,
                         own, unique, www_authenticate)
from harness import NATIVE, SEED
from tokens import bearer, mint, sign_raw


@pytest.fixture(scope="module")
def gw(module_nginx):
    """the server of auth_server.py with the locations of this file, each
    defined next to the tests that use it"""
    return auth_server.start(module_nginx, ANY, ANY_DENIED, COOKIE, SMALL)


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


ANY = location("/any/", """
            satisfy       any;
            allow         127.0.0.1;
            deny          all;
""")

ANY_DENIED = location("/any-denied/", """
            satisfy       any;
            deny          all;
""")


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


COOKIE = location("/cookie/", jwt='"mcp" token=$cookie_mcp_token')


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


SMALL = location("/small/", "mcp_auth_jwt_max_size  1024;")


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


# -- no token in any log ---------------------------------------------------

def test_the_debug_log_holds_no_token_and_no_claim(nginx, demo_keys):
    ngx = own(nginx, demo_keys.path("jwks.json"), level="debug")
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
