"""JWT bearer authentication (ngx_http_mcp_auth_module), keys and
algorithms: JWKS, PEM and HMAC key files, each key pinned to its own
algorithms, rotation and reload, and what nginx -t says of key files and
directives."""

import datetime
import json
import os
import re
import time

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import auth_server
import harness
import tokens
from auth_server import (UNVERIFIED, assert_invalid, call, location, own,
                         unique, www_authenticate)
from tokens import forge, mint


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
def gw(module_nginx, extra):
    """the server of auth_server.py with the locations of this file, each
    defined next to the tests that use it"""
    return auth_server.start(module_nginx, HMAC, PEM, ROTATION, MIXED, EC,
                             HMAC_SHORT, RS256_ONLY, EXTRA=extra.dir)


# -- algorithms and keys ---------------------------------------------------

HMAC = location("/hmac/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/hs256.secret type=hmac;
""")


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


PEM = location("/pem/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/es256.pub type=pem;
""")

ROTATION = location("/rotation/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/jwks.json;
            mcp_auth_jwt_key_file  ${EXTRA}/jwks-next.json;
            mcp_auth_jwt_key_file  ${EXTRA}/other.pub type=pem;
""")

# HS256 is allowed here (an HMAC key), next to RSA keys: only the pinning of
# each key to its own algorithms stops algorithm confusion
MIXED = location("/mixed/", """
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/hs256.secret type=hmac;
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/jwks.json;
""")


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


def test_a_token_without_kid_meets_every_jwks_key(gw, demo_keys):
    t = mint(demo_keys, kid="")

    # PingOne's tokens have none: the set's keys are tried (a bounded
    # number of them: test_auth_algorithms.py)
    assert "kid" not in jwt.get_unverified_header(t)
    assert call(gw, "/r", t).status_code == 200
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


# ES384, ES512, and the PEM forms other than PUBLIC KEY
EC = location("/ec/", """
            mcp_auth_jwt_key_file  ${EXTRA}/p384.crt type=pem;
            mcp_auth_jwt_key_file  ${EXTRA}/jwks-ec.json;
            mcp_auth_jwt_key_file  ${EXTRA}/next-pkcs1.pub type=pem;
""")


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


HMAC_SHORT = location("/hmac-short/", """
            mcp_auth_jwt_key_file  ${EXTRA}/short.secret type=hmac;
""")


def test_an_hmac_secret_too_short_for_hs384_is_pinned_to_hs256(gw, extra):
    secret = b"s" * 40

    assert call(gw, "/hmac-short/x",
                mint(extra, alg="HS256", key=secret)).status_code == 200
    for alg in ("HS384", "HS512"):
        t = mint(extra, alg=alg, key=secret)
        assert_invalid(call(gw, "/hmac-short/x", t), UNVERIFIED)


RS256_ONLY = location("/rs256-only/", """
            mcp_auth_jwt_key_file    ${MCP_DEMO_KEYS}/rs256.pub type=pem;
            mcp_auth_jwt_algorithms  RS256;
""")


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


# -- reload ----------------------------------------------------------------

def test_reload_reads_changed_key_files(nginx, workdir, extra):
    d = os.path.join(workdir, "reload-" + unique())
    os.makedirs(d)
    jwks = os.path.join(d, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [extra.jwk("next", "k1")]}, f)
    ngx = own(nginx, jwks, workers=2)

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


# -- configuration ---------------------------------------------------------

def conf_error(nginx, keyfile, location="", http=""):
    """nginx -t of own() with more directives in its location, or http"""
    return own(nginx, keyfile, http=http, directives=location,
               start=False).test_config()


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
        ]})), "", "",
         r'no usable RSA or EC signing key in the JWK Set ".*curve.json"'),
        (write(workdir, "small.json", json.dumps({"keys": [
            extra.jwk("small", "s")]})), "", "",
         r'no usable RSA or EC signing key in the JWK Set ".*small.json"'),
        (write(workdir, "mismatch.json", json.dumps({"keys": [
            extra.jwk("next", "m", "ES256")]})), "", "",
         r'no usable RSA or EC signing key in the JWK Set ".*mismatch'),
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
    for keyfile, directives, http_conf, message in bad_configs(workdir,
                                                             demo_keys,
                                                             extra):
        rc, out = conf_error(nginx, keyfile, directives, http_conf)
        assert rc != 0, (keyfile, directives, http_conf)
        assert re.search(r"\[emerg\].*" + message, out), out


def test_nginx_t_refuses_auth_without_keys_or_a_bad_realm(nginx, workdir):
    ngx = own(nginx, None, start=False)
    rc, out = ngx.test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*"mcp_auth_jwt" is on in location "/" but '
                     r'no "mcp_auth_jwt_key_file" or "mcp_auth_jwt_key_request" gives it '
                     r'keys', out), out

    ngx = own(nginx, "/nonexistent", jwt='\'a"b\' token=$cookie_t',
              start=False)
    rc, out = ngx.test_config()
    assert rc != 0
    assert 'invalid realm "a"b"' in out


def test_skipped_jwks_keys_and_world_readable_secrets_are_reported(
        nginx, workdir, demo_keys, extra):
    jwks = write(workdir, "mixed.json", json.dumps({"keys": [
        dict(extra.jwk("next", "enc-1"), use="enc", alg="RSA-OAEP"),
        {"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "ed"},
        dict(extra.jwk("other", "ps"), alg="PS257"),
        dict(extra.jwk("next", "priv"), d="secret-d"),
    ]}))
    rc, out = conf_error(nginx, jwks)
    assert rc == 0, out
    assert re.search(r'\[notice\].*key #0 in ".*" skipped: its "use" is not '
                     r'"sig"', out)
    assert re.search(r'\[warn\].*key "ed" \(#1\) .* skipped: .*"x" must be '
                     r'the base64url of 32 bytes', out)
    assert re.search(r'\[warn\].*key #2 .* algorithm "PS257" is not '
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
