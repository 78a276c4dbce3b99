"""Issue 12: what an outside attack run found, one test (or more) per
defect, each seen to fail on the code before its fix.

1. the cache key: t/test_cache.py (test_no_two_callers_share_a_key_by_its_
   separators, test_a_custom_key_is_unambiguous_too), t/unit/test_key.c
2. degenerate RSA keys: here, and t/unit/test_jwk_check.c
"""

import base64
import hashlib
import json
import os
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import harness
import tokens
from test_auth import assert_invalid, call, conf_error, key_conf, write, \
    UNVERIFIED

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
