"""Refusals go through nginx's own error handling, as auth_basic's do: the
access phase returns 401 or 403, so auth_delay, satisfy any and error_page
apply; without an error_page the answer is the module's JSON body."""

import time

import pytest

import harness
from tokens import mint

NOT_PROVIDED = "Authentication credentials were not provided."
NO_ACCESS = "You do not have permission to access this connection."

CONF = r"""
load_module ${MCP_MODULE};
worker_processes  1;
error_log  ${MCP_PREFIX}/logs/error.log  info;
pid        ${MCP_PREFIX}/nginx.pid;
events { worker_connections 256; }

http {
    access_log  off;
    client_body_temp_path  ${MCP_PREFIX}/tmp/body;
    proxy_temp_path        ${MCP_PREFIX}/tmp/proxy;

    server {
        listen  127.0.0.1:${BACKEND_PORT};
        location / { return 200 "backend\n"; }
    }

    server {
        listen  127.0.0.1:${MCP_DEMO_PORT};

        mcp_auth_jwt_key_file  ${KEYS}/jwks.json;
        mcp_auth_jwt_issuer    https://auth.demo.example/;
        mcp_auth_jwt_audience  mcp-gateway;

        location /plain/ {
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /delayed/ {
            auth_delay    600ms;
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location /paged/ {
            mcp_auth_jwt  "mcp";
            error_page    401 = @login;
            error_page    403 /denied.json;
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }

        location @login {
            return 302 https://login.example/?next=$request_uri;
        }

        location = /denied.json {
            internal;
            default_type  application/json;
            return 403 '{"detail": "ask your administrator"}';
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
def gw(workdir, demo_keys):
    ngx = harness.Nginx(workdir, CONF, name="refusals",
                        BACKEND_PORT=harness.free_port(), KEYS=demo_keys.dir)
    ngx.start()
    yield ngx
    ngx.stop()
    assert harness.alerts(ngx.error_log()) == []


def bearer(token):
    return {"Authorization": "Bearer " + token}


def test_without_an_error_page_the_answer_is_the_json_detail(gw):
    r = gw.get("/plain/x")

    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"detail": NOT_PROVIDED}
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="mcp"'
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_head_gets_the_json_length_and_no_body(gw):
    r = gw.request("HEAD", "/plain/x")

    assert r.status_code == 401
    assert r.content == b""
    assert int(r.headers["Content-Length"]) == len(
        '{"detail":"%s"}' % NOT_PROVIDED)


def test_auth_delay_holds_a_refusal_and_not_a_granted_request(gw,
                                                              demo_keys):
    start = time.monotonic()
    r = gw.get("/delayed/x")
    refused = time.monotonic() - start

    assert r.status_code == 401
    assert r.json() == {"detail": NOT_PROVIDED}
    assert refused >= 0.55

    start = time.monotonic()
    r = gw.get("/delayed/x", headers=bearer(mint(demo_keys)))
    granted = time.monotonic() - start

    assert r.status_code == 200
    assert granted < refused


def test_error_page_for_401_takes_the_request_to_the_named_location(gw):
    r = gw.get("/paged/x", allow_redirects=False)

    assert r.status_code == 302
    assert r.headers["Location"] == "https://login.example/?next=/paged/x"
    assert "detail" not in r.text


def test_error_page_for_403_sends_the_page_it_names(gw, demo_keys):
    token = mint(demo_keys, scope="mgmt.write")

    r = gw.get("/paged/x", headers=bearer(token))

    assert r.status_code == 403
    assert r.json() == {"detail": "ask your administrator"}


def test_satisfy_any_refused_by_all_answers_the_modules_json(gw, demo_keys):
    r = gw.get("/any-denied/x")

    assert r.status_code == 401
    assert r.json() == {"detail": NOT_PROVIDED}

    r = gw.get("/any-denied/x", headers=bearer(mint(demo_keys,
                                                    scope="mgmt.write")))

    assert r.status_code == 403
    assert r.json() == {"detail": NO_ACCESS}
