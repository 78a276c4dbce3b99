"""JWT bearer authentication (ngx_http_mcp_auth_module), keys from a URL
(mcp_auth_jwt_key_request): a real JWKS endpoint on loopback over HTTPS
(t/jwks_server.py) behind proxy_pass in an internal location.  The first
request waits for the keys, no other does; a new key is used without a
reload and without a failed request under load; a withdrawn key stops
verifying within the refresh period; a provider down or answering junk
leaves the last good keys working; an unknown kid storm costs at most one
fetch per min_refresh; the keys are parsed once per worker and shared in
a zone."""

import json
import os
import re
import subprocess
import threading
import time
import uuid

import pytest
import requests

import harness
import jwks_server
import tokens
from auth_server import UNVERIFIED, assert_invalid, call
from tokens import mint

ISSUER = "https://idp.example/realms/platform"


def server(directives="", key_location=None, request_args="refresh=2s "
           "min_refresh=1s", issuers=ISSUER):
    if key_location is None:
        key_location = """
        location = /_jwks/idp {
            internal;
            proxy_pass                     https://127.0.0.1:${JWKS_PORT}/certs;
            proxy_ssl_server_name          on;
            proxy_ssl_name                 idp.test;
            proxy_ssl_verify               on;
            proxy_ssl_trusted_certificate  ${JWKS_CERT};
            proxy_pass_request_headers     off;
            proxy_pass_request_body        off;
            proxy_connect_timeout          2s;
            proxy_read_timeout             2s;
            subrequest_output_buffer_size  64k;
        }
"""
    return """
        mcp_auth_jwt_key_request  /_jwks/idp %s;
        mcp_auth_jwt_issuer       %s;
        mcp_auth_jwt_audience     mcp-gateway;
        %s

        location / {
            mcp_auth_jwt  "mcp";
            proxy_pass    http://127.0.0.1:${BACKEND_PORT};
        }
%s
""" % (request_args, issuers, directives, key_location)


BACKEND = r"""
    server {
        listen  127.0.0.1:${BACKEND_PORT};
        access_log  off;
        location / { return 200 "ok\n"; }
    }
"""


@pytest.fixture
def idp(workdir):
    s = jwks_server.JwksServer(os.path.join(workdir, "idp-" +
                                            uuid.uuid4().hex[:8]))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def keys(workdir):
    k = tokens.Keys(os.path.join(workdir, "keys-url"))
    for name in ("k1", "k2", "k3"):
        k.new_rsa(name)
    k.new_rsa("weak", bits=1024)
    return k


def start(nginx, idp, workers=2, **kw):
    conf = harness.conf(server=server(**kw), servers=BACKEND,
                        workers=workers)
    return nginx(conf, BACKEND_PORT=harness.free_port(), JWKS_PORT=idp.port,
                 JWKS_CERT=idp.cert)


def tok(keys, name, kid=None, **kw):
    return mint(keys, kid=kid or name, key=keys.private(name), iss=ISSUER,
                **kw)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def wrk(ngx, token, seconds=3, conns=8):
    """wrk's summary: requests, and non-2xx/3xx answers and socket errors"""
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(conns), "-d", "%ds" % seconds,
         "-H", "Authorization: Bearer " + token, ngx.url + "/x"],
        capture_output=True, text=True, timeout=seconds + 30).stdout
    done = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return done, int(bad.group(1)) if bad else 0, errors and errors.group(1), \
        out


def test_the_first_request_waits_for_the_keys_then_none_does(nginx, idp,
                                                               keys):
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp, request_args="refresh=1h")
    assert idp.requests() == 0

    # concurrent first requests: one fetch per worker at most, all served
    results = []

    def one():
        results.append(call(ngx, "/x", tok(keys, "k1")).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 8
    assert 1 <= idp.requests() <= 2

    # nothing of the client's reaches the provider
    assert not any("Authorization" in h or "authorization" in h
                   for h in idp.headers_seen)

    # and afterwards, while the keys are fresh, no request fetches
    n = idp.requests()
    for _ in range(20):
        assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
    assert idp.requests() == n


def test_rotation_under_load_without_reload(nginx, idp, keys):
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp)
    assert call(ngx, "/x", tok(keys, "k1")).status_code == 200

    # the provider publishes its next key ahead of signing with it
    idp.publish([keys.jwk("k1", "k1"), keys.jwk("k2", "k2")])
    done, bad, errors, out = wrk(ngx, tok(keys, "k1"), seconds=4)
    assert done > 100 and bad == 0 and errors is None, out
    before = idp.requests()
    assert before >= 2                       # refreshed meanwhile

    # tokens signed with the new key: no failed request
    done, bad, errors, out = wrk(ngx, tok(keys, "k2"), seconds=3)
    assert done > 100 and bad == 0 and errors is None, out

    # the old key withdrawn: its tokens refused within the refresh period
    idp.publish([keys.jwk("k2", "k2")])
    old = tok(keys, "k1")
    wait_until(lambda: call(ngx, "/x", old).status_code == 401, 2 + 3,
               "the withdrawn key still verifies")
    assert_invalid(call(ngx, "/x", old), UNVERIFIED)
    assert call(ngx, "/x", tok(keys, "k2")).status_code == 200
    assert harness.alerts(ngx.error_log()) == []


@pytest.mark.parametrize("mode", ["status", "junk", "down", "empty-set",
                                  "weak-only"])
def test_a_failing_provider_leaves_the_last_good_keys(nginx, idp, keys,
                                                      mode):
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp)
    t = tok(keys, "k1")
    assert call(ngx, "/x", t).status_code == 200

    if mode == "empty-set":
        idp.publish([])
    elif mode == "weak-only":
        idp.publish([keys.jwk("weak", "weak")])
    else:
        idp.fail(mode)
    n = idp.requests()

    # several refresh periods: every answer is refused, the keys stay
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert call(ngx, "/x", t).status_code == 200
        time.sleep(0.1)
    assert idp.requests() >= n + 2

    # logged once for the outage, by the node
    lines = [l for l in ngx.error_log().splitlines()
             if "could not be fetched" in l]
    assert len(lines) == 1, lines
    assert "the last good keys are kept" in lines[0]

    # and when it answers again, said once, and its keys are used
    idp.publish([keys.jwk("k1", "k1"), keys.jwk("k2", "k2")])
    wait_until(lambda: call(ngx, "/x", tok(keys, "k2")).status_code == 200,
               5, "the provider's keys after the outage")
    assert len(re.findall(r"\[notice\].*are fetched again",
                          ngx.error_log())) == 1


def test_an_unknown_kid_storm_costs_one_fetch_per_period(nginx, idp, keys):
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp, request_args="refresh=1h min_refresh=5s")
    assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
    n = idp.requests()

    # within one period (the zone counts whole seconds: 4 s of 5 s)
    storm = [tok(keys, "k1", kid="nope-%d" % i) for i in range(60)]
    start_time = time.monotonic()
    sent = 0
    for t in storm:
        if time.monotonic() - start_time > 3:
            break
        assert call(ngx, "/x", t).status_code == 401
        sent += 1
    time.sleep(0.3)
    assert sent >= 10
    assert time.monotonic() - start_time < 4
    assert idp.requests() == n + 1, idp.paths

    # a rotation the provider did not announce: the token of the new
    # kid is refused once, its fetch makes the next one pass
    time.sleep(5)
    idp.publish([keys.jwk("k1", "k1"), keys.jwk("k3", "k3")])
    t = tok(keys, "k3")
    assert call(ngx, "/x", t).status_code == 401
    wait_until(lambda: call(ngx, "/x", t).status_code == 200, 3,
               "the new kid's keys")


def test_cache_control_max_age_sets_the_refresh(nginx, idp, keys):
    idp.publish([keys.jwk("k1", "k1")], cache_control="public, max-age=1")
    ngx = start(nginx, idp, request_args="refresh=1h min_refresh=1s")
    assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
    n = idp.requests()
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
        time.sleep(0.1)
    assert idp.requests() >= n + 2


def test_no_keys_yet_is_a_503_until_the_provider_answers(nginx, idp, keys):
    idp.fail("status", status=500)
    ngx = start(nginx, idp, workers=1)
    r = call(ngx, "/x", tok(keys, "k1"))
    assert r.status_code == 503
    assert r.json() == {"detail": "The keys to verify access tokens are "
                                  "not available."}
    # no token: the usual 401, no fetch needed to say so
    assert call(ngx, "/x").status_code == 401

    idp.publish([keys.jwk("k1", "k1")])
    wait_until(lambda: call(ngx, "/x", tok(keys, "k1")).status_code == 200,
               4, "keys after the provider came up")
    assert "there are no keys yet" in ngx.error_log()


def test_issuer_bound_key_requests(nginx, idp, keys):
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp, request_args="refresh=1h issuer=" + ISSUER,
                issuers=ISSUER + " https://other/")
    assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
    t = mint(keys, kid="k1", key=keys.private("k1"), iss="https://other/")
    assert_invalid(call(ngx, "/x", t), UNVERIFIED)


def test_the_key_location_must_be_internal(nginx, idp):
    public = """
        location = /_jwks/idp {
            proxy_pass https://127.0.0.1:${JWKS_PORT}/certs;
        }
"""
    conf = harness.conf(server=server(key_location=public), servers=BACKEND)
    rc, out = nginx(conf, start=False, BACKEND_PORT=harness.free_port(),
                    JWKS_PORT=idp.port).test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*the key request "/_jwks/idp" is served by '
                     r'location "/_jwks/idp" of server "[^"]*", which is not '
                     r'internal: add "internal;" to it', out), out

    # no location at all serves it (and no catch-all)
    conf = harness.conf(server=server(key_location="").replace(
        "location / {", "location /x {"), servers=BACKEND)
    rc, out = nginx(conf, start=False, BACKEND_PORT=harness.free_port(),
                    JWKS_PORT=idp.port).test_config()
    assert rc != 0
    assert re.search(r'\[emerg\].*no location of server "[^"]*" serves the '
                     r'key request "/_jwks/idp"', out), out


@pytest.mark.parametrize("args,message", [
    ("refresh=soon", r'invalid time in "refresh=soon"'),
    ("min_refresh=2h max_refresh=1h",
     r'"min_refresh" is longer than "max_refresh"'),
    ("type=pem", r'a key request answers a JWK Set: "type=jwks" only'),
    ("colour=blue", r'invalid parameter "colour=blue"'),
])
def test_nginx_t_names_each_mistake(nginx, idp, args, message):
    conf = harness.conf(server=server(request_args=args), servers=BACKEND)
    rc, out = nginx(conf, start=False, BACKEND_PORT=harness.free_port(),
                    JWKS_PORT=idp.port, JWKS_CERT=idp.cert).test_config()
    assert rc != 0
    assert re.search(r"\[emerg\].*" + message, out), out


def test_the_sources_in_the_metrics(nginx, idp, keys):
    idp.publish([keys.jwk("k1", "k1"), keys.jwk("weak", "weak")])
    ngx = start(nginx, idp, directives="""
        location = /metrics {
            mcp_auth_jwt  off;
            mcp_metrics;
        }
""")

    def metric(name):
        text = ngx.get("/metrics").text
        m = re.search(r'^%s\{source="/_jwks/idp"\} (\d+)$' % name, text,
                      re.M)
        return int(m.group(1))

    assert metric("mcp_gateway_auth_key_source_keys") == 0
    assert metric("mcp_gateway_auth_key_source_refresh_timestamp_seconds") \
        == 0
    before = time.time()
    assert call(ngx, "/x", tok(keys, "k1")).status_code == 200
    assert metric("mcp_gateway_auth_key_source_keys") == 1
    assert metric("mcp_gateway_auth_key_source_fetches_total") == 1
    assert metric("mcp_gateway_auth_key_source_failures_total") == 0
    assert metric("mcp_gateway_auth_key_source_refresh_timestamp_seconds") \
        >= int(before)

    # the weak key was skipped, said once by the fetching worker
    assert len(re.findall(r'\[warn\].*key "weak" \(#1\) in "/_jwks/idp" '
                          r'skipped: RSA key of 1024 bits',
                          ngx.error_log())) == 1

    # a refresh is started by a request after its time
    idp.fail("junk")
    wait_until(lambda: call(ngx, "/x", tok(keys, "k1")).ok
               and metric("mcp_gateway_auth_key_source_failures_total") >= 1,
               5, "a failure counted")
    assert metric("mcp_gateway_auth_key_source_keys") == 1



def test_a_reload_keeps_the_fetched_keys(nginx, idp, keys):
    # the zone is reused: the new workers parse its set, nobody waits
    idp.publish([keys.jwk("k1", "k1")])
    ngx = start(nginx, idp, request_args="refresh=1h")
    t = tok(keys, "k1")
    assert call(ngx, "/x", t).status_code == 200
    n = idp.requests()
    old = set(ngx.worker_pids())

    ngx.reload()
    wait_until(lambda: set(ngx.worker_pids()) and
               not (set(ngx.worker_pids()) & old), 10, "new workers")
    for _ in range(10):
        assert call(ngx, "/x", t).status_code == 200
    assert idp.requests() == n


def test_a_key_subrequest_moved_to_a_public_location_is_refused(nginx, idp,
                                                                keys):
    # nginx -t sees an internal /_jwks/idp; a server-level rewrite sends
    # the subrequest elsewhere at run time
    idp.publish([keys.jwk("k1", "k1")])
    public = """
        location = /_jwks/idp { internal; return 404; }
        location /public/ {
            proxy_pass                 https://127.0.0.1:${JWKS_PORT}/;
            proxy_pass_request_headers off;
        }
"""
    conf = harness.conf(server="rewrite ^/_jwks/(.*)$ /public/$1 last;\n" +
                        server(key_location=public), servers=BACKEND)
    ngx = nginx(conf, BACKEND_PORT=harness.free_port(), JWKS_PORT=idp.port,
                JWKS_CERT=idp.cert)
    r = call(ngx, "/x", tok(keys, "k1"))
    assert r.status_code == 503
    assert idp.requests() == 0
    assert re.search(r'\[error\].*the key subrequest "/public/idp" is served '
                     r'by location "/public/", which is not internal: '
                     r'refused', ngx.error_log())
