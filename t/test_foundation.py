"""The first end-to-end slice: GET and PUT for all three vendors through
nginx with the module loaded, routing, bad input and failing registries."""

import concurrent.futures
import json
import re

import pytest
import requests

import harness
from harness import NATIVE, SEED, UPSTREAM

VENDORS = ("kambrium", "barndoor", "gatana")

PUT_BODY = {
    "kambrium": {"agent_enabled": False, "access_type": "read"},
    "barndoor": {"name": "Salesforce Staging"},
    "gatana": {"name": "GitHub Tools v2", "slug": "github-tools",
               "description": "updated through the gateway",
               "authorization": {"method": "none",
                                 "credentialsScope": "server"},
               "transportConfig": {"type": "httpstreaming",
                                   "url": "https://mcp.github.example/mcp"}},
}


def upstream_path(vendor, sid):
    return UPSTREAM[vendor] + sid


def direct(mocks, vendor, sid):
    """what the registry itself answers, bypassing the gateway"""
    return requests.get(mocks[vendor].url + upstream_path(vendor, sid),
                        headers={"Authorization": "Bearer "
                                 + harness.SERVICE_CREDENTIAL[vendor]},
                        timeout=5)


def without_secrets(vendor, body):
    """the vendor's answer as the gateway passes it on: no secrets"""
    if vendor == "gatana":
        body["server"]["authorization"].pop("apikeys", None)
        body["server"]["transportConfig"].pop("headers", None)
    return body


def changed(vendor, body):
    return {
        "kambrium": lambda b: b["data"]["agent_enabled"] is False,
        "barndoor": lambda b: b["name"] == "Salesforce Staging",
        "gatana": lambda b: b["server"]["name"] == "GitHub Tools v2",
    }[vendor](body)


@pytest.mark.parametrize("vendor", VENDORS)
def test_native_get_returns_the_registry_answer(gateway, mocks, auth, vendor):
    r = gateway.get(NATIVE[vendor] + SEED[vendor], headers=auth)

    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == without_secrets(
        vendor, direct(mocks, vendor, SEED[vendor]).json())
    path = upstream_path(vendor, SEED[vendor])
    assert mocks[vendor].count("GET", path) == 2   # ours, and direct()


@pytest.mark.parametrize("vendor", VENDORS)
def test_native_put_reaches_the_registry(gateway, mocks, auth, vendor):
    r = gateway.put(NATIVE[vendor] + SEED[vendor], headers=auth,
                    json=PUT_BODY[vendor])

    assert r.status_code == 200, r.text
    assert changed(vendor, r.json())

    last = mocks[vendor].last()
    assert last["method"] == "PUT"
    assert last["path"] == upstream_path(vendor, SEED[vendor])
    assert last["headers"]["content-type"] == "application/json"
    assert json.loads(last["body"]) == PUT_BODY[vendor]

    # the registry is stateful: the next GET through the gateway shows it
    r = gateway.get(NATIVE[vendor] + SEED[vendor], headers=auth)
    assert changed(vendor, r.json())


def test_kambrium_string_ids_are_routed(gateway, mocks, auth):
    r = gateway.get(NATIVE["kambrium"] + "srv_123abc", headers=auth)

    assert r.status_code == 200
    assert mocks["kambrium"].count("GET",
                                   "/api/v1/mcp-servers/srv_123abc") == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_canonical_route_reaches_the_named_registry(gateway, mocks, auth,
                                                    vendor):
    r = gateway.get("/mcp-servers/%s/%s" % (vendor, SEED[vendor]),
                    headers=auth)

    assert r.status_code == 200
    assert mocks[vendor].count(
        "GET", upstream_path(vendor, SEED[vendor])) == 1
    for other in VENDORS:
        if other != vendor:
            assert mocks[other].requests()["total"] == 0


def test_canonical_route_with_unknown_registry(gateway, mocks, auth):
    r = gateway.get("/mcp-servers/nosuch/123", headers=auth)

    assert r.status_code == 404
    assert r.json() == {"detail": "Unknown registry."}
    assert all(m.requests()["total"] == 0 for m in mocks.values())


@pytest.mark.parametrize("vendor,bad,detail", [
    ("kambrium", "12ab", "MCP server 12ab not found or not accessible"),
    ("kambrium", "srv_a-b", "MCP server srv_a-b not found or not accessible"),
    ("barndoor", "123e4567-e89b-12d3-a456-42661417400",
     "Server not found"),
    ("barndoor", "github-tools", "Server not found"),
    ("gatana", "GitHub_Tools", "MCP server not found"),
    ("gatana", "a" * 21, "MCP server not found"),
])
def test_ids_of_the_wrong_form_never_reach_upstream(gateway, mocks, auth,
                                                    vendor, bad, detail):
    for path in (NATIVE[vendor] + bad, "/mcp-servers/%s/%s" % (vendor, bad)):
        r = gateway.get(path, headers=auth)
        assert r.status_code == 404
        assert r.json() == {"detail": detail}

    assert mocks[vendor].requests()["total"] == 0


def test_vendor_errors_keep_their_shape_on_native_routes(gateway, mocks,
                                                         auth):
    r = gateway.get(NATIVE["kambrium"] + "999", headers=auth)

    assert r.status_code == 404
    assert r.json() == {"detail":
                        "MCP server 999 not found or not accessible"}


def test_unknown_paths_and_methods(gateway, mocks, auth):
    r = gateway.get("/kambrium/api/v1/other/123", headers=auth)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}

    r = gateway.get(NATIVE["kambrium"], headers=auth)
    assert r.status_code == 404

    r = gateway.request("DELETE", NATIVE["kambrium"] + "123", headers=auth)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, HEAD, PUT"
    assert r.json() == {"detail": 'Method "DELETE" not allowed.'}

    assert mocks["kambrium"].requests()["total"] == 0


def test_head_answers_headers_only(gateway, mocks, auth):
    r = gateway.request("HEAD", NATIVE["barndoor"] + SEED["barndoor"],
                        headers=auth)

    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["Content-Length"]) > 0


def test_query_string_is_forwarded_on_native_routes(gateway, mocks, auth):
    gateway.get(NATIVE["kambrium"] + "123?expand=config", headers=auth)

    assert mocks["kambrium"].last()["query"] == "expand=config"


@pytest.mark.parametrize("body,ctype,status,detail", [
    (b"{not json", "application/json", 400, "JSON parse error"),
    (b"[1, 2]", "application/json", 400,
     "The request body must be a JSON object."),
    (b"", "application/json", 400, "A JSON request body is required."),
    (b'{"name": "x"}', "text/plain", 415, "Unsupported media type"),
    (b'{"name": "' + b"x" * 70000 + b'"}', "application/json", 413,
     "Request body is larger than"),
])
def test_bad_put_bodies_are_rejected_before_upstream(gateway, mocks, auth,
                                                     body, ctype, status,
                                                     detail):
    headers = dict(auth, **{"Content-Type": ctype})
    r = gateway.put(NATIVE["barndoor"] + SEED["barndoor"], headers=headers,
                    data=body)

    assert r.status_code == status
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["detail"].startswith(detail)
    assert mocks["barndoor"].requests()["total"] == 0


def test_vendor_5xx_passes_through_on_native_routes(gateway, mocks, auth):
    mocks["kambrium"].fault("status500")

    r = gateway.get(NATIVE["kambrium"] + "123", headers=auth)

    assert r.status_code == 500
    assert r.json() == {"detail":
                        "Failed to get MCP server details: database error"}


@pytest.mark.parametrize("mode,detail", [
    ("nonjson", "The gatana registry answer is not JSON."),
    ("truncate", "The gatana registry answer was truncated."),
    ("reset", "The gatana registry could not be reached."),
])
def test_broken_registry_answers_become_502(gateway, mocks, auth, mode,
                                            detail):
    mocks["gatana"].fault(mode)

    r = gateway.get(NATIVE["gatana"] + SEED["gatana"], headers=auth)

    assert r.status_code == 502
    assert r.json() == {"detail": detail}

    mocks["gatana"].fault("none")
    r = gateway.get(NATIVE["gatana"] + SEED["gatana"], headers=auth)
    assert r.status_code == 200


def fast_timeout_conf():
    return harness.demo_conf().replace("proxy_read_timeout        10s",
                                       "proxy_read_timeout        1s")


def test_slow_registry_is_a_504_and_logged_once(nginx, mocks, auth):
    import conftest
    ngx = nginx(fast_timeout_conf(), **conftest.gateway_subst(mocks))
    mocks["kambrium"].fault("latency", delay_ms=3000)

    for _ in range(4):
        r = ngx.get(NATIVE["kambrium"] + "123", headers=auth)
        assert r.status_code == 504
        assert r.json() == {"detail":
                            "The kambrium registry did not answer in time."}

    mocks["kambrium"].fault("none")
    assert ngx.get(NATIVE["kambrium"] + "123", headers=auth).status_code == 200

    log = ngx.error_log()
    errors = [l for l in log.splitlines() if "[error]" in l]
    pids = set(re.findall(r"\[error\] (\d+)#", log))
    mine = [l for l in errors
            if 'mcp: registry "kambrium" did not answer in time '
               '(status 504, peer 127.0.0.1:' in l]
    theirs = [l for l in errors if "upstream timed out" in l]

    # once per outage in each worker that saw it, not once per request:
    # nginx's line for the first failure, the module's naming the peer,
    # then nothing until the registry answers again
    assert 1 <= len(pids) <= 2
    assert len(mine) == len(pids) and len(theirs) == len(pids), errors
    assert len(errors) == 2 * len(pids)
    # the worker that served the next request saw the registry come back
    assert log.count('mcp: registry "kambrium" answers again') == 1


def test_registry_down_is_a_502(nginx, mocks, auth):
    import conftest
    subst = conftest.gateway_subst(mocks)
    subst["BARNDOOR_PORT"] = harness.free_port()       # nothing listens
    ngx = nginx(harness.demo_conf(), **subst)

    r = ngx.get(NATIVE["barndoor"] + SEED["barndoor"], headers=auth)

    assert r.status_code == 502
    assert r.json() == {"detail":
                        "The barndoor registry could not be reached."}


def test_multi_mib_registry_answers(gateway, mocks, auth):
    harness.requests.post(mocks["gatana"].url + "/_mock/files",
                          json={"count": 20000}, timeout=10)

    r = gateway.get(NATIVE["gatana"] + SEED["gatana"], headers=auth)

    assert r.status_code == 200
    assert len(r.content) > 4 * 1024 * 1024
    assert len(r.json()["files"]) == 20000


def test_answers_beyond_the_upstream_limit_are_refused(nginx, mocks, auth):
    import conftest
    conf = harness.demo_conf().replace(
        "mcp_max_body_size        64k;",
        "mcp_max_body_size        64k;\n"
        "        mcp_upstream_max_body_size  1m;")
    ngx = nginx(conf, **conftest.gateway_subst(mocks))
    harness.requests.post(mocks["gatana"].url + "/_mock/files",
                          json={"count": 20000}, timeout=10)

    r = ngx.get(NATIVE["gatana"] + SEED["gatana"], headers=auth)

    assert r.status_code == 502
    assert "mcp_upstream_max_body_size" in r.json()["detail"]


def test_two_workers_serve_concurrent_clients(gateway, mocks, auth):
    assert len(gateway.worker_pids()) == 2

    # past the cache (test_cache.py): every request is the registry's
    headers = dict(auth, **{"Cache-Control": "no-cache"})

    def one(i):
        vendor = VENDORS[i % 3]
        return gateway.get(NATIVE[vendor] + SEED[vendor], headers=headers)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(120)))

    assert [r.status_code for r in answers] == [200] * 120
    assert sum(m.requests()["total"] for m in mocks.values()) == 120


def test_variables_in_the_access_log(gateway, mocks, auth):
    gateway.get(NATIVE["kambrium"] + "srv_123abc", headers=auth)
    gateway.get("/mcp-servers/gatana/github-tools", headers=auth)

    with open(gateway.path("logs/access.log")) as f:
        log = f.read()

    assert "registry=kambrium id=srv_123abc route=native" in log
    assert "registry=gatana id=github-tools route=canonical" in log
