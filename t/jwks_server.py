"""An identity provider's JWKS endpoint on loopback, over HTTPS, for the
tests of keys from a URL (t/test_auth_key_request.py): what it publishes,
its Cache-Control, and its failures (an error status, junk, closed
connections) are the test's to set; it counts the requests it got.  It
runs in a thread of the test process."""

import datetime
import http.server
import json
import os
import ssl
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory):
    """a certificate for 127.0.0.1 and its key, as files"""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("idp.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = os.path.join(directory, "idp.crt"), os.path.join(directory,
                                                                 "idp.key")
    with open(crt, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(pem, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return crt, pem


class JwksServer:
    """JwksServer(directory): serves GET /certs (and any path) with the
    set given to publish(); mode "ok", "status" (answers `status`), "junk"
    (a body that is no JWK Set), "down" (closes the connection)."""

    def __init__(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.cert, self.key = self_signed(directory)
        self.lock = threading.Lock()
        self.body = b'{"keys": []}'
        self.bodies = {}
        self.cache_control = None
        self.mode = "ok"
        self.status = 503
        self.junk = b"<html>maintenance</html>"
        self.count = 0
        self.paths = []
        self.headers_seen = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                with server.lock:
                    server.count += 1
                    server.paths.append((time.time(), self.path))
                    server.headers_seen.append(dict(self.headers))
                    mode, body, cc = (server.mode, server.bodies.get(
                                          self.path, server.body),
                                      server.cache_control)
                    status, junk = server.status, server.junk
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "status":
                    code, body = status, b'{"error": "unavailable"}'
                elif mode == "junk":
                    code, body = 200, junk
                else:
                    code = 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if cc:
                    self.send_header("Cache-Control", cc)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def publish(self, jwks, cache_control=None):
        with self.lock:
            self.body = json.dumps({"keys": jwks}).encode()
            self.cache_control = cache_control
            self.mode = "ok"

    def publish_at(self, path, doc):
        """a whole document (a provider's own JWKS shape) at one path"""
        with self.lock:
            self.bodies[path] = json.dumps(doc).encode()

    def fail(self, mode, status=503, junk=None):
        with self.lock:
            self.mode = mode
            self.status = status
            if junk is not None:
                self.junk = junk

    def requests(self):
        with self.lock:
            return self.count

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
