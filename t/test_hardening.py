"""Issue 12: what an outside attack run found, one test (or more) per
defect, each seen to fail on the code before its fix.

1. the cache key: t/test_cache.py (test_no_two_callers_share_a_key_by_its_
   separators, test_a_custom_key_is_unambiguous_too), t/unit/test_key.c
2. degenerate RSA keys: here, and t/unit/test_jwk_check.c
3. secrets in any case style, and credentials objects: here
4. malformed registry answers (bad chunking, a status outside 100-599,
   item 7's 999): here
5. strict JSON: here, and t/unit/test_json.c
6. impossible timestamps: here, and t/unit/test_map.c
7. what of the client's request reaches the registry, and a worker's
   memory after large answers: here
"""

import base64
import concurrent.futures
import hashlib
import json
import os
import re
import time

import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import harness
import tokens
import conftest
from conftest import gateway_subst
from harness import NATIVE, SEED, UPSTREAM
from auth_server import MALFORMED, UNVERIFIED, assert_invalid, call
from auth_server import own as key_conf
from test_auth_keys import conf_error, write
from tokens import sign_raw

VECTORS = os.path.join(harness.TOP, "t", "vectors")


def b64u_int(n):
    return tokens.b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def int_b64u(s):
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),
                          "big")


# -- 2. degenerate RSA keys --------------------------------------------------

# DigestInfo of SHA-256 (RFC 8017, 9.2)
SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def forged_e1(n, kid, **claims):
    """an RS256 token for a key whose exponent is 1: the "signature" is the
    padded digest itself (s^1 = s), made without any private key"""
    k = (n.bit_length() + 7) // 8
    header = tokens.b64u_json({"alg": "RS256", "typ": "JWT", "kid": kid})
    payload = tokens.b64u_json(tokens.claims(**claims))
    digest = hashlib.sha256((header + "." + payload).encode()).digest()
    t = SHA256_INFO + digest
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return header + "." + payload + "." + tokens.b64u(em)


def roca():
    with open(os.path.join(VECTORS, "wycheproof-roca-rsa.json")) as f:
        jwk = json.load(f)["private"]
    n, e = int_b64u(jwk["n"]), int_b64u(jwk["e"])
    p, q, d = int_b64u(jwk["p"]), int_b64u(jwk["q"]), int_b64u(jwk["d"])
    key = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
        rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)).private_key()
    public = {k: jwk[k] for k in ("kty", "kid", "n", "e", "alg", "use")}
    return key, public


@pytest.fixture
def modulus(demo_keys):
    key = serialization.load_pem_public_key(demo_keys.public("rs256"))
    return key.public_numbers().n


def test_a_key_with_exponent_1_is_skipped_and_forges_nothing(
        nginx, workdir, demo_keys, modulus):
    """e = 1: the padded digest is its own signature; such a key is skipped
    with a warning naming it, and the file's other keys still serve"""
    jwks = write(workdir, "e1.json", json.dumps({"keys": [
        json.loads(demo_keys.read("jwks.json"))["keys"][0],
        {"kty": "RSA", "kid": "e-is-1", "n": b64u_int(modulus), "e": "AQ"},
    ]}))
    ngx = key_conf(nginx, jwks)

    assert_invalid(call(ngx, "/", forged_e1(modulus, "e-is-1")), UNVERIFIED)
    assert call(ngx, "/", tokens.mint(demo_keys)).status_code == 200
    rc, out = ngx.test_config()
    assert rc == 0
    assert re.search(r'\[warn\].*key "e-is-1" \(#1\) in ".*e1.json" '
                     r'skipped: RSA public exponent 1 is below 65537', out)


@pytest.mark.parametrize("e,why", [
    (3, "below 65537"), (65536, "even"), (2 ** 256 + 1, "2\\^256 or more"),
])
def test_other_exponents_are_refused(nginx, workdir, demo_keys, modulus, e,
                                     why):
    jwks = write(workdir, "e.json", json.dumps({"keys": [
        {"kty": "RSA", "kid": "odd-e", "n": b64u_int(modulus),
         "e": b64u_int(e)}]}))
    rc, out = conf_error(nginx, jwks)
    assert rc != 0
    assert re.search(r'\[warn\].*key "odd-e" \(#0\) .* skipped: RSA public '
                     r'exponent .*' + why, out), out
    assert re.search(r"\[emerg\].*no usable RSA or EC signing key", out), out


@pytest.mark.parametrize("change,why", [
    (lambda n: n * 2, "modulus is even"),
    (lambda n: n * 3, "divisible by 3"),
    (lambda n: n * 65521, "divisible by 65521"),
])
def test_degenerate_moduli_are_refused(nginx, workdir, modulus, change, why):
    jwks = write(workdir, "n.json", json.dumps({"keys": [
        {"kty": "RSA", "kid": "bad-n", "n": b64u_int(change(modulus)),
         "e": "AQAB"}]}))
    rc, out = conf_error(nginx, jwks)
    assert rc != 0
    assert re.search(r'\[warn\].*key "bad-n" \(#0\) .* skipped: .*' + why,
                     out), out


def test_a_roca_key_is_skipped(nginx, workdir, demo_keys):
    """Wycheproof's ROCA key (json_web_key_test 7, json_web_crypto_test
    46): a genuine signature of it is refused, the key is named"""
    key, public = roca()
    jwks = write(workdir, "roca.json", json.dumps({"keys": [
        json.loads(demo_keys.read("jwks.json"))["keys"][0], public]}))
    ngx = key_conf(nginx, jwks)

    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    signed = tokens.mint(demo_keys, kid=public["kid"], key=pem)
    assert_invalid(call(ngx, "/", signed), UNVERIFIED)
    assert call(ngx, "/", tokens.mint(demo_keys)).status_code == 200
    rc, out = ngx.test_config()
    assert rc == 0
    assert re.search(r'\[warn\].*key "kid-rsa-roca-sign" \(#1\) in ".*" '
                     r'skipped: .*ROCA', out)


def test_a_pem_file_of_a_degenerate_key_is_refused(nginx, workdir):
    key = rsa.generate_private_key(public_exponent=3, key_size=2048)
    pem = write(workdir, "e3.pub", key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    rc, out = conf_error(nginx, pem + " type=pem")
    assert rc != 0
    assert re.search(r"\[warn\].*key #0 in \".*e3.pub\" skipped: RSA public "
                     r"exponent 3 is below 65537", out), out
    assert re.search(r"\[emerg\].*no usable", out), out


# -- 4. malformed registry answers -------------------------------------------

CANONICAL = {"Accept": "application/vnd.mcp.canonical+json"}

# a valid PUT body for each vendor
PUT = {
    "kambrium": {"name": "renamed"},
    "barndoor": {"name": "renamed"},
    "gatana": {"name": "GitHub", "slug": "github-tools",
               "authorization": {"method": "none"},
               "transportConfig": {"type": "httpstreaming",
                                   "url": "https://mcp.github.example/mcp"}},
}


def ask(gw, vendor, method, view, headers):
    h = dict(headers, **(CANONICAL if view == "canonical" else {}))
    path = NATIVE[vendor] + SEED[vendor]
    if method == "PUT":
        return gw.put(path, headers=h, json=PUT[vendor])
    return gw.get(path, headers=h)


@pytest.mark.parametrize("view", ["native", "canonical"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("fault", ["badchunk", "hugechunk", "status999"])
def test_a_malformed_registry_answer_is_a_502(gateway, mocks, auth, fault,
                                              method, view):
    """a bad chunk size, one over 2^63, a status of 999: a 502 with a
    JSON detail, never an empty reply nor the odd status relayed"""
    mocks["kambrium"].fault(fault, count=1)
    r = ask(gateway, "kambrium", method, view, auth)

    assert r.status_code == 502, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert set(r.json()) == {"detail"}
    assert r.json()["detail"].startswith("The kambrium registry ")

    # and the registry is asked again as usual
    assert ask(gateway, "kambrium", method, view, auth).status_code == 200


def test_a_malformed_answer_is_logged_once_per_outage(nginx, mocks, auth):
    ngx = nginx(harness.demo_conf(), **gateway_subst(mocks))
    mocks["barndoor"].fault("badchunk")
    for _ in range(6):
        assert ask(ngx, "barndoor", "GET", "native", auth).status_code == 502
    mocks["barndoor"].fault("status999")
    for _ in range(6):
        assert ask(ngx, "barndoor", "GET", "native", auth).status_code == 502
    mocks["barndoor"].fault("none")
    for _ in range(4):
        assert ask(ngx, "barndoor", "GET", "native", auth).status_code == 200

    log = ngx.error_log()
    failing = re.findall(r'\[error\].*mcp: registry "barndoor" ', log)
    # once per worker (two) when it starts failing, not per request
    assert 1 <= len(failing) <= 2, failing
    assert not re.search(r"\[alert\]|\[crit\]", log)


# -- 5. strict JSON ------------------------------------------------------------

def test_a_nul_byte_between_tokens_of_a_body_is_a_400(gateway, mocks, auth):
    body = b'{"agent_enabled":true\x00,"name":"n"}'
    r = gateway.put(NATIVE["kambrium"] + "123", data=body,
                    headers=dict(auth, **{"Content-Type": "application/json"}))

    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "JSON parse error - a NUL byte, which JSON "
                                  "never has, at offset 21"}
    assert mocks["kambrium"].count("PUT", UPSTREAM["kambrium"] + "123") == 0


@pytest.mark.parametrize("view", ["native", "canonical"])
def test_a_registry_answer_with_a_nul_byte_is_a_502(gateway, mocks, auth,
                                                    view):
    mocks["gatana"].fault("nul", count=1)
    r = ask(gateway, "gatana", "GET", view, auth)
    assert r.status_code == 502, r.text
    assert r.json() == {"detail": "The gatana registry answer is not JSON."}


@pytest.mark.parametrize("part", ["header", "payload"])
def test_a_signed_token_with_a_nul_byte_is_malformed(gateway, demo_keys,
                                                     part):
    # jansson skips a NUL after a literal or a number, not after a string
    header = b'{"alg":"RS256","x":1,"kid":"demo-rs256"}'
    payload = b'{"x":true,' + json.dumps(tokens.claims()).encode()[1:]
    if part == "header":
        header = header.replace(b"1,", b"1\x00,", 1)
    else:
        payload = payload.replace(b"true,", b"true\x00,", 1)
    t = sign_raw(demo_keys, header, payload)
    r = gateway.get(NATIVE["kambrium"] + "123", headers=tokens.bearer(t))
    assert r.status_code == 401
    assert r.json() == {"detail": MALFORMED}


# -- 6. timestamps -------------------------------------------------------------

@pytest.mark.parametrize("sent", [
    "2023-02-30T10:00:00Z", "0000-01-01T00:00:00+02:00",
    "2025-06-27T10:00:00+29:00", "2023-02-29T00:00:00Z",
])
def test_an_impossible_timestamp_is_kept_as_sent(gateway, mocks, auth, sent):
    mocks["gatana"].fault("inject", merge={"server": {"createdAt": sent}})
    r = gateway.get("/mcp-servers/gatana/github-tools", headers=auth)

    assert r.status_code == 200, r.text
    server = r.json()
    assert "created_at" not in server
    assert server["extensions"]["gatana"]["createdAt"] == sent
    assert server["updated_at"] == "2025-06-27T10:30:00Z"


# -- 3. secrets by what they are -----------------------------------------------

# the same secrets, named in each style a vendor may use
STYLES = {
    "camel": ["clientSecret", "accessToken", "refreshToken", "apiKey",
              "password", "idToken", "privateKey"],
    "snake": ["client_secret", "access_token", "refresh_token", "api_key",
              "password", "id_token", "private_key"],
    "kebab": ["client-secret", "access-token", "refresh-token", "api-key",
              "password", "id-token", "private-key"],
    "pascal": ["ClientSecret", "AccessToken", "RefreshToken", "ApiKey",
               "Password", "IdToken", "PrivateKey"],
}


def secrets_for(vendor, style):
    """(what to merge into the vendor's answer, the secret values)"""
    values = []

    def secret(name):
        values.append("S3CRET-%s-%s-%d" % (vendor, style, len(values)))
        return values[-1]

    names = STYLES[style]
    flat = {n: secret(n) for n in names}
    nested = {"oauth": {n: secret(n) for n in names[:3]},
              "list": [{names[0]: secret(names[0])}]}
    if vendor == "kambrium":
        merge = {"data": dict(flat, config=nested)}
    elif vendor == "barndoor":
        merge = dict(flat, meta=nested)
    else:
        # the attack run's own: oauthClientConfiguration.clientSecret,
        # serverCredentials.accessToken / refreshToken, authorization.token;
        # and an undocumented member of a credentials object
        merge = {
            "server": dict(flat, **{
                "oauthClientConfiguration": {"client_id": "cid",
                                             names[0]: secret(names[0])},
                "serverCredentials": {names[1]: secret(names[1]),
                                      names[2]: secret(names[2]),
                                      "sessionKey": secret("sessionKey")},
                "authorization": {"method": "apikey",
                                  "credentialsScope": "server",
                                  "token": secret("token")},
                "extra": nested}),
            "currentUserCredentials": {"opaque": secret("opaque"),
                                       names[3]: secret(names[3])},
        }
    return merge, values


@pytest.fixture
def debug_gateway(nginx, mocks):
    return nginx(harness.demo_conf(), MCP_LOG_LEVEL="debug",
                 **gateway_subst(mocks))


def everything_redis_holds():
    client = redis.Redis(port=conftest.GATEWAY_REDIS.port)
    try:
        blob = b""
        for key in client.scan_iter(count=1000):
            blob += key + b"\n"
            if client.type(key) == b"hash":
                for k, v in client.hgetall(key).items():
                    blob += k + b"=" + v + b"\n"
            elif client.type(key) == b"string":
                blob += (client.get(key) or b"") + b"\n"
        return blob
    finally:
        client.close()


@pytest.mark.parametrize("vendor", ["kambrium", "barndoor", "gatana"])
def test_secrets_are_recognized_in_any_case_style(debug_gateway, mocks, auth,
                                                  vendor):
    """camelCase, snake_case, kebab-case, PascalCase: never in an answer,
    native or canonical, nor in Redis, nor in the debug log"""
    native = NATIVE[vendor] + SEED[vendor]
    canonical = "/mcp-servers/%s/%s" % (vendor, SEED[vendor])
    sent = []

    for style in STYLES:
        merge, values = secrets_for(vendor, style)
        sent += values
        mocks[vendor].fault("inject", merge=merge)

        for path, view in ((native, "native"), (canonical, "canonical"),
                           (native, "canonical")):
            h = dict(auth, **(CANONICAL if path == native
                              and view == "canonical" else {}))
            for _ in range(2):              # a miss, then a hit
                r = debug_gateway.get(path, headers=h,
                                      params={"style": style})
                assert r.status_code == 200, r.text
                for v in values:
                    assert v not in r.text, (style, path, view, v)

    mocks[vendor].fault("none")
    stored = everything_redis_holds()
    assert stored, "the answers were cached"
    log = debug_gateway.error_log()
    assert "mcp cache" in log, "the debug log is on"
    for v in sent:
        assert v.encode() not in stored, v
        assert v not in log, v


def test_credentials_metadata_is_kept(gateway, mocks, auth):
    """what a credentials object documents about itself stays: whether a
    token is set, when it expires, whose it is"""
    r = gateway.get(NATIVE["gatana"] + "github-tools", headers=auth)
    creds = r.json()["server"]["serverCredentials"]
    assert creds["hasAccessToken"] is True
    assert set(creds) == {"type", "hasAccessToken", "accessTokenExpiry",
                          "hasRefreshToken", "subject", "email", "createdAt",
                          "lastUsedAt"}
    r = gateway.get("/mcp-servers/gatana/github-tools", headers=auth)
    assert r.json()["auth"]["credentials_set"] is True


# -- 7. the client's headers and the registry ----------------------------------

# what a client sends that the registry is never given: its cookies (they
# may hold the token), a Content-Encoding of a body the gateway re-sends as
# it is, its own X-* (X-Forwarded-For, X-Tenant, X-User, ...: what a
# registry may trust), and what would make the answer partial or empty
DROPPED = {"Cookie": "t=SECRET-cookie", "X-Tenant": "other-tenant",
           "X-Forwarded-For": "203.0.113.9", "X-User": "admin",
           "x-api-key": "SECRET-x-api-key", "If-None-Match": '"abc"',
           "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT",
           "Range": "bytes=0-10"}
KEPT = {"User-Agent": "client/1.0", "traceparent":
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "Accept-Language": "de"}


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_the_registry_gets_none_of_the_clients_cookies_or_x_headers(
        gateway, mocks, auth, method):
    h = dict(auth, **DROPPED, **KEPT)
    path = NATIVE["barndoor"] + SEED["barndoor"]
    if method == "PUT":
        h["Content-Encoding"] = "identity"
        r = gateway.put(path, headers=h, json={"name": "renamed"})
    else:
        h["Cache-Control"] = "no-cache"
        r = gateway.get(path, headers=h)
    assert r.status_code == 200, r.text

    seen = mocks["barndoor"].last()["headers"]
    for name in list(DROPPED) + ["Content-Encoding"]:
        assert name.lower() not in seen, (name, seen)
    for name, value in KEPT.items():
        assert seen.get(name.lower()) == value, (name, seen)
    # what the registry's location sets still goes
    assert seen["authorization"] == "Bearer demo-barndoor-credential"
    assert seen["x-mcp-caller"] == "alice"

    # and the client's own request is left as it was: the variables of
    # the main request still see its headers
    assert r.status_code == 200


def test_a_registry_location_without_a_credential_never_gets_the_callers(
        nginx, mocks, demo_keys):
    """a location that forgets proxy_set_header Authorization sends none:
    the caller's token is the gateway's, never a vendor's"""
    conf = harness.conf(http="""
        mcp_registry  barndoor  vendor=barndoor  pass=/_mcp/barndoor;
    """, server="""
        mcp_auth_jwt           "mcp-gateway";
        mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/jwks.json;
        mcp_auth_jwt_issuer    https://auth.demo.example/;
        mcp_auth_jwt_audience  mcp-gateway;

        location /barndoor/ { mcp_pass barndoor; }

        location /_mcp/barndoor/ {
            internal;
            proxy_pass        http://127.0.0.1:${BARNDOOR_PORT}/;
            proxy_set_header  Accept-Encoding "";
        }
    """)
    ngx = nginx(conf, BARNDOOR_PORT=mocks["barndoor"].port)
    token = tokens.mint(demo_keys)
    h = {"Authorization": "Bearer " + token,
         "Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA=="}
    path = "/barndoor/api/servers/" + SEED["barndoor"]
    for method in ("GET", "PUT"):
        mocks["barndoor"].reset()
        if method == "PUT":
            ngx.put(path, headers=h, json={"name": "renamed"})
        else:
            ngx.get(path, headers=h)
        seen = mocks["barndoor"].last()["headers"]
        assert "authorization" not in seen, seen
        assert "proxy-authorization" not in seen, seen
        assert token not in repr(seen)


# -- 7. a worker's memory after large answers ----------------------------------

MB = 1024 * 1024


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for %d" % (field, pid))


def gatana_answer_of(mocks, size):
    """the seeded Gatana server's answer made about "size" bytes long"""
    url = mocks["gatana"].url + "/_mock/files"
    per_file = harness.requests.post(url, json={"count": 1000},
                                     timeout=30).json()["body_bytes"] / 1000
    count = int(size / per_file)
    return harness.requests.post(url, json={"count": count},
                                 timeout=60).json()["body_bytes"]


def test_a_worker_gives_back_the_memory_of_large_answers(nginx, mocks, auth):
    """eight concurrent 15.5 MB Gatana answers, both views: the worker's
    memory settles within 64 MB of what it was before them"""
    # the one worker parses and writes each answer in one go: under
    # valgrind, for longer than nginx's send_timeout lets the other
    # clients wait
    conf = (harness.demo_conf()
            .replace("worker_processes  2;", "worker_processes  1;")
            .replace("proxy_read_timeout        10s;",
                     "proxy_read_timeout        120s;\n"
                     "        send_timeout              %ds;"
                     % (60 * harness.SLOW)))
    ngx = nginx(conf, **gateway_subst(mocks))
    [pid] = ngx.worker_pids()
    path = NATIVE["gatana"] + SEED["gatana"]

    # fresh: the worker has served a small answer of each kind
    for h in ({}, CANONICAL):
        assert ngx.get(path, headers=dict(auth, **h)).status_code == 200
    fresh = status_kb(pid, "VmRSS")

    size = gatana_answer_of(mocks, 15.5 * MB)
    assert 15 * MB < size < 16 * MB

    def one(i):
        h = dict(auth, **(CANONICAL if i % 2 else {}))
        h["Cache-Control"] = "no-cache"
        return ngx.get(path, headers=h, timeout=180)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert len(answers[0].content) > 15 * MB

    peak = status_kb(pid, "VmHWM")
    settled = status_kb(pid, "VmRSS")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.5)
        settled = min(settled, status_kb(pid, "VmRSS"))

    print("worker RSS: fresh %d kB, peak %d kB, settled %d kB"
          % (fresh, peak, settled))
    # AddressSanitizer and valgrind bring allocators of their own, which
    # keep freed memory on purpose (to catch a use after free)
    if not (harness.SANITIZE or harness.VALGRIND):
        assert settled - fresh <= 64 * 1024, (fresh, peak, settled)
