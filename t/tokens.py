"""Keys and JWTs for the tests, all made at test time: the demo's keys
(scripts/mint-token's init_keys, so the demo and the suite agree), more keys
for rotation, and tokens honest or forged."""

import base64
import importlib.machinery
import importlib.util
import json
import os
import time
import uuid

import jwt
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _mint_token_script():
    """scripts/mint-token (no .py) as a module"""
    path = os.path.join(TOP, "scripts", "mint-token")
    loader = importlib.machinery.SourceFileLoader("mint_token", path)
    spec = importlib.util.spec_from_file_location("mint_token", path,
                                                  loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


MINT = _mint_token_script()

ISSUER = MINT.ISSUER                # https://auth.demo.example/
AUDIENCE = MINT.AUDIENCE            # mcp-gateway


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


class Keys:
    """The demo keys in a directory (kids demo-rs256 and demo-es256 in
    jwks.json, rs256.pub, es256.pub, hs256.secret), and helpers to make
    more there."""

    def __init__(self, directory):
        self.dir = directory
        MINT.init_keys(directory)

    def path(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def private(self, name):
        """the private key of rs256 or es256 (PEM bytes)"""
        return self.read(name + ".key")

    def public(self, name):
        return self.read(name + ".pub")

    def secret(self):
        return self.read("hs256.secret").strip()

    def new_rsa(self, name, bits=2048):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return self._save(name, key)

    def new_ec(self, name, curve=ec.SECP256R1):
        return self._save(name, ec.generate_private_key(curve()))

    def _save(self, name, key):
        with open(self.path(name + ".key"), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        with open(self.path(name + ".pub"), "wb") as f:
            f.write(key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo))
        return key

    def jwk(self, name, kid, alg=None):
        """the public JWK of a key made here"""
        key = serialization.load_pem_public_key(self.public(name))
        if isinstance(key, rsa.RSAPublicKey):
            n = key.public_numbers()
            jwk = {"kty": "RSA", "n": MINT.b64u_uint(n.n),
                   "e": MINT.b64u_uint(n.e)}
        else:
            n = key.public_numbers()
            size = (key.curve.key_size + 7) // 8
            crv = {256: "P-256", 384: "P-384", 521: "P-521"}[
                key.curve.key_size]
            jwk = {"kty": "EC", "crv": crv,
                   "x": b64u(n.x.to_bytes(size, "big")),
                   "y": b64u(n.y.to_bytes(size, "big"))}
        jwk["kid"] = kid
        if alg:
            jwk["alg"] = alg
        return jwk

    def write_jwks(self, name, jwks):
        with open(self.path(name), "w") as f:
            json.dump({"keys": jwks}, f)
        return self.path(name)


def claims(scope="mgmt.read mgmt.write", ttl=300, **kw):
    """the claims of a valid token, changed by keyword (None removes)"""
    now = int(time.time())
    c = {"iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "iat": now,
         "nbf": now, "exp": now + ttl, "jti": uuid.uuid4().hex,
         "scope": scope}
    for k, v in kw.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def mint(keys, alg="RS256", kid=None, key=None, headers=None, **kw):
    """a token signed with the demo key of that algorithm (or key=)"""
    if key is None:
        key = (keys.secret() if alg.startswith("HS")
               else keys.private("rs256" if alg.startswith("RS")
                                 else "es256"))
    if kid is None and not alg.startswith("HS"):
        kid = "demo-rs256" if alg.startswith("RS") else "demo-es256"
    h = dict(headers or {})
    if kid:
        h["kid"] = kid
    return jwt.encode(claims(**kw), key, algorithm=alg, headers=h)


def forge(header, payload, signature=b"x" * 32):
    """a token from parts as given: dicts are JSON, bytes are raw"""
    parts = []
    for p in (header, payload):
        parts.append(b64u_json(p) if isinstance(p, dict) else b64u(p))
    return ".".join(parts + [b64u(signature)])


def sign_raw(keys, header, payload):
    """RS256 over raw header and payload bytes, with the demo key"""
    key = serialization.load_pem_private_key(keys.private("rs256"), None)
    signing = b64u(header) + "." + b64u(payload)
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64u(sig)


def hs256(secret, header, payload):
    """HS256 over header and payload with any secret: the algorithm
    confusion attack, when the secret is a public key's PEM"""
    signing = b64u_json(header) + "." + b64u_json(payload)
    h = hmac.HMAC(secret, hashes.SHA256())
    h.update(signing.encode())
    return signing + "." + b64u(h.finalize())


def bearer(token):
    return {"Authorization": "Bearer " + token}
