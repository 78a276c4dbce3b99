"""JWT bearer authentication (ngx_http_mcp_auth_module): RSASSA-PSS
(PS256/384/512) and EdDSA (Ed25519), verified by OpenSSL with keys parsed
once and pinned like the others; keys a JWK Set holds that the module
cannot use, skipped with a warning naming them instead of failing the whole
set; tokens without a "kid" (PingOne), tried against every key, boundedly."""

import json
import os
import re

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519, padding

import auth_server
import tokens
from auth_server import UNVERIFIED, assert_invalid, call, location, own
from tokens import b64u, mint


def okp_jwk(key, kid, crv="Ed25519"):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": crv, "x": b64u(raw), "kid": kid}


@pytest.fixture(scope="module")
def keys(workdir):
    k = tokens.Keys(os.path.join(workdir, "keys-algorithms"))
    k.new_rsa("pss")
    k.new_rsa("pss-pinned")
    k.ed = ed25519.Ed25519PrivateKey.generate()
    k.ed448 = ed448.Ed448PrivateKey.generate()
    with open(k.path("ed.pub"), "wb") as f:
        f.write(k.ed.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo))
    k.new_rsa("weak", bits=1024)
    for i in range(10):
        k.new_rsa("many-%d" % i)
    k.write_jwks("algs.json", [
        k.jwk("pss", "pss"),                       # no "alg": RS* and PS*
        k.jwk("pss-pinned", "pss-pinned", "PS256"),
        okp_jwk(k.ed, "ed"),
    ])
    k.write_jwks("unusable.json", [
        k.jwk("weak", "weak-1024"),                # too small
        {"kty": "RSA", "kid": "cert-only", "use": "sig",
         "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        okp_jwk(k.ed448, "ed448", "Ed448"),        # not Ed25519
        {"kty": "EC", "kid": "bad-point", "crv": "P-256",
         "x": b64u(b"\x01" * 32), "y": b64u(b"\x02" * 32)},
        k.jwk("pss", "good"),
    ])
    # a PingOne-like set: one key, with a kid; tokens come without one
    k.write_jwks("ping.json", [k.jwk("pss", "ping-key", "RS256")])
    k.write_jwks("many.json", [k.jwk("many-%d" % i, "m%d" % i)
                               for i in range(10)])
    k.write_jwks("two.json", [k.jwk("many-0", "m0"), k.jwk("many-1", "m1")])
    return k


ALGS = location("/algs/", "mcp_auth_jwt_key_file  ${K}/algs.json;")
EDPEM = location("/ed-pem/", "mcp_auth_jwt_key_file  ${K}/ed.pub type=pem;")
ONLY = location("/only-ps-ed/", """
            mcp_auth_jwt_key_file    ${K}/algs.json;
            mcp_auth_jwt_algorithms  PS384 EdDSA;
""")
UNUSABLE = location("/unusable/",
                    "mcp_auth_jwt_key_file  ${K}/unusable.json;")
PING = location("/ping/", "mcp_auth_jwt_key_file  ${K}/ping.json;")
MANY = location("/many/", "mcp_auth_jwt_key_file  ${K}/many.json;")
TWO = location("/two/", "mcp_auth_jwt_key_file  ${K}/two.json;")


@pytest.fixture(scope="module")
def gw(module_nginx, keys):
    return auth_server.start(module_nginx, ALGS, EDPEM, ONLY, UNUSABLE, PING,
                             MANY, TWO, K=keys.dir)


def ed_token(keys, kid="ed", **kw):
    return jwt.encode(tokens.claims(**kw), keys.ed, algorithm="EdDSA",
                      headers={"kid": kid} if kid else None)


@pytest.mark.parametrize("alg", ["PS256", "PS384", "PS512"])
def test_rsassa_pss(gw, keys, alg):
    key = keys.private("pss")
    t = mint(keys, alg=alg, kid="pss", key=key)
    assert call(gw, "/algs/x", t).status_code == 200
    # an "at+jwt" is OpenSSL's alone, as before: the same answer
    t = mint(keys, alg=alg, kid="pss", key=key, headers={"typ": "at+jwt"})
    assert call(gw, "/algs/x", t).status_code == 200

    h, p, s = t.split(".")
    forged = h + "." + tokens.b64u_json(tokens.claims(sub="mallory")) + \
        "." + s
    assert_invalid(call(gw, "/algs/x", forged), UNVERIFIED)


def test_pss_is_pinned_to_its_salt_length_and_hash(gw, keys):
    # RFC 7518, 3.5: the salt is as long as the hash; a PSS signature
    # with another salt, or PKCS #1 v1.5 under "PS256", is refused
    key = serialization.load_pem_private_key(keys.private("pss"), None)
    signing = (tokens.b64u_json({"alg": "PS256", "kid": "pss"}) + "." +
               tokens.b64u_json(tokens.claims()))
    for pad in (padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                            salt_length=padding.PSS.MAX_LENGTH),
                padding.PKCS1v15()):
        sig = key.sign(signing.encode(), pad, hashes.SHA256())
        assert_invalid(call(gw, "/algs/x", signing + "." + b64u(sig)),
                       UNVERIFIED)


def test_a_jwk_alg_pins_a_pss_key(gw, keys):
    key = keys.private("pss-pinned")
    assert call(gw, "/algs/x", mint(keys, alg="PS256", kid="pss-pinned",
                                    key=key)).status_code == 200
    for alg in ("RS256", "PS384"):
        assert_invalid(call(gw, "/algs/x", mint(keys, alg=alg,
                                                kid="pss-pinned", key=key)),
                       UNVERIFIED)


def test_eddsa_via_jwks_and_pem(gw, keys):
    assert call(gw, "/algs/x", ed_token(keys)).status_code == 200
    assert call(gw, "/ed-pem/x", ed_token(keys, kid=None)).status_code == 200
    h, p, s = ed_token(keys).split(".")
    forged = h + "." + tokens.b64u_json(tokens.claims(sub="mallory")) + \
        "." + s
    assert_invalid(call(gw, "/algs/x", forged), UNVERIFIED)

    # an Ed25519 key verifies EdDSA only, an RSA key never EdDSA
    rs = mint(keys, kid="ed", key=keys.private("pss"))
    assert_invalid(call(gw, "/algs/x", rs), UNVERIFIED)
    fake = tokens.forge({"alg": "EdDSA", "kid": "pss"}, tokens.claims(),
                        signature=b"\0" * 64)
    assert_invalid(call(gw, "/algs/x", fake), UNVERIFIED)


def test_the_allow_list_takes_the_new_names(gw, keys):
    assert call(gw, "/only-ps-ed/x", ed_token(keys)).status_code == 200
    assert call(gw, "/only-ps-ed/x",
                mint(keys, alg="PS384", kid="pss",
                     key=keys.private("pss"))).status_code == 200
    for alg in ("PS256", "RS256"):
        t = mint(keys, alg=alg, kid="pss", key=keys.private("pss"))
        assert_invalid(call(gw, "/only-ps-ed/x", t), UNVERIFIED)


def test_unusable_keys_are_skipped_not_fatal(gw, keys):
    # the set's one usable key works; nginx started with the others skipped
    t = mint(keys, kid="good", key=keys.private("pss"))
    assert call(gw, "/unusable/x", t).status_code == 200
    t = mint(keys, kid="weak-1024", key=keys.private("weak"))
    assert_invalid(call(gw, "/unusable/x", t), UNVERIFIED)

    # said while the configuration was read: before "error_log" is open,
    # to stderr, and to nginx's default error log, which is the prefix's
    # logs/error.log for an nginx built with a prefix (make
    # test-nginx-1.26): once in each place it goes to
    with open(gw.path("logs/stderr.log"), errors="replace") as f:
        logs = [gw.error_log(), f.read()]
    for kid, why in (("weak-1024", r"RSA key of 1024 bits"),
                     ("cert-only", r'no usable "n"'),
                     ("ed448", r'"crv" .*Ed25519'),
                     ("bad-point", r"not a valid P-256 public key")):
        said = [[l for l in log.splitlines()
                 if re.search(r'\[warn\].*key "%s" \(#\d\) in ".*unusable'
                              r'.json" skipped: ' % kid, l)]
                for log in logs]
        assert max(len(lines) for lines in said) == 1, (kid, logs)
        for lines in said:
            assert all(re.search(why, l) for l in lines), lines


def test_a_set_without_any_usable_key_is_still_an_error(nginx, keys):
    path = keys.write_jwks("none-usable.json", [keys.jwk("weak", "w")])
    rc, out = own(nginx, path, start=False).test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*no usable .*signing key in the JWK Set',
                     out), out
    assert re.search(r'\[warn\].*key "w" \(#0\) .* skipped: RSA key of 1024',
                     out), out


def test_a_token_without_kid_tries_every_key(gw, keys):
    # PingOne: the set's one key has a kid, its tokens have none
    t = mint(keys, kid="", key=keys.private("pss"))
    assert "kid" not in jwt.get_unverified_header(t)
    assert call(gw, "/ping/x", t).status_code == 200
    # the second of two keys
    assert call(gw, "/two/x", mint(keys, kid="",
                                   key=keys.private("many-1"))).status_code \
        == 200
    # a kid names its key: no falling back to the others
    assert_invalid(call(gw, "/two/x", mint(keys, kid="m0",
                                           key=keys.private("many-1"))),
                   UNVERIFIED)
    forged = tokens.forge({"alg": "RS256"}, tokens.claims())
    assert_invalid(call(gw, "/two/x", forged), UNVERIFIED)


def test_a_token_without_kid_meets_at_most_eight_keys(gw, keys):
    # ten keys could verify it: refused without trying any (no token may
    # cost ten RSA verifications)
    t = mint(keys, kid="", key=keys.private("many-0"))
    assert_invalid(call(gw, "/many/x", t), UNVERIFIED)
    assert call(gw, "/many/x", mint(keys, kid="m0",
                                    key=keys.private("many-0"))).status_code \
        == 200
