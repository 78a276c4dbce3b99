"""What the auth tests (t/test_auth_*.py) share: the server they protect,
built on harness.conf(), into which each test file puts the locations its
tests need (location() makes one, next to those tests); a server of one
location, for tests that start nginx of their own (own()); and the answers
of RFC 6750 they expect."""

import time
import uuid

import harness

READ_DENIED = "You do not have permission to access this connection."
WRITE_DENIED = "You do not have permission to update this connection."
NOT_PROVIDED = "Authentication credentials were not provided."
MALFORMED = "The access token is malformed."
UNVERIFIED = "The access token signature could not be verified."

LOG_FORMAT = ("$request_method $request_uri $status sub=$mcp_jwt_sub "
              'scope="$mcp_jwt_scope" iss=$mcp_jwt_iss '
              "auth=$mcp_auth_status cache=$mcp_jwt_cache "
              "tenant=$mcp_jwt_claim_tenant aud=$mcp_jwt_claim_aud")

# what the protected locations pass to: echoes what it got
ECHO = r"""
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log  off;
        location / {
            return 200
                "$request_method $uri sub=$http_x_sub tenant=$http_x_tenant\n";
        }
    }
"""

# the demo's keys, issuer and audience for every location, and the token's
# subject and tenant for the backend; "/" is protected, "/health" in it not
SERVER = r"""
        # room for a token beyond the 8k default of mcp_auth_jwt_max_size
        large_client_header_buffers  4 32k;

        mcp_auth_jwt_key_file  ${MCP_DEMO_KEYS}/jwks.json;
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
"""


def location(path, directives="", jwt='"mcp"'):
    """a protected location passing to the echo server, with more
    directives of its own"""
    return """
        location %s {
            mcp_auth_jwt  %s;
            %s
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }
""" % (path, jwt, directives.strip())


def start(module_nginx, *locations, **subst):
    """the protected server with these locations, for a test file"""
    conf = harness.conf(server=SERVER + "".join(locations), servers=ECHO,
                        log_format=LOG_FORMAT)
    return module_nginx(conf, name="auth", BACKEND_PORT=harness.free_port(),
                        **subst)


def own(nginx, keyfile, level="info", workers=1, http="", directives="",
        jwt='"mcp" token=$cookie_t', start=True):
    """nginx of a test's own: one location ("directives" more of its), its
    keys from "keyfile" (none without), the token in the Authorization
    header or the cookie "t", passing to a server that answers "ok"."""
    keys = "mcp_auth_jwt_key_file  %s;" % keyfile if keyfile else ""
    conf = harness.conf(workers=workers, http=http, servers="""
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log off;
        location / { return 200 "ok\\n"; }
    }
""", server="""
        location / {
            mcp_auth_jwt           %s;
            %s
            proxy_set_header       Authorization "";
            proxy_set_header       Cookie "";
            %s
            proxy_pass             http://127.0.0.1:${BACKEND_PORT};
        }
""" % (jwt, keys, directives))
    return nginx(conf, start=start, MCP_LOG_LEVEL=level,
                 BACKEND_PORT=harness.free_port())


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


def assert_invalid(r, description):
    assert r.status_code == 401, r.text
    assert www_authenticate(r) == invalid(description)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": description}
