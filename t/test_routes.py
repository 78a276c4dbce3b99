"""Routing, through the demo configuration: the drop-in routes (each
vendor's own paths, under its name) and the canonical route reach the named
registry, with the ids of the vendor's form only; HEAD, the query string,
unknown paths and methods; the variables the routes fill; two workers
under concurrent clients."""

import concurrent.futures

import pytest
import requests

import harness
from harness import NATIVE, SEED, VENDORS, upstream_path


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


@pytest.mark.parametrize("vendor", VENDORS)
def test_native_get_returns_the_registry_answer(gateway, mocks, auth, vendor):
    r = gateway.get(NATIVE[vendor] + SEED[vendor], headers=auth)

    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == without_secrets(
        vendor, direct(mocks, vendor, SEED[vendor]).json())
    path = upstream_path(vendor, SEED[vendor])
    assert mocks[vendor].count("GET", path) == 2   # ours, and direct()


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
