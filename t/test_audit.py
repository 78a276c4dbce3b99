"""The write audit and the request id (issue #15), through the demo
configuration: one JSON line per PUT forwarded to a registry, written by
nginx's access_log (log_format escape=json, if=$mcp_audit), naming the
canonical fields the PUT set and never a secret's value; the request id
from the client (when sane) or nginx's, sent to the registry, sent back,
and at the end of every error line about the request."""

import glob
import json
import re
import time

import pytest

import conftest
import harness
import tokens
from harness import NATIVE, SEED, upstream_path

SECRET = "sk-live-7f3a9c2e-do-not-log"


@pytest.fixture
def gw(nginx, mocks):
    return nginx(harness.demo_conf(), **conftest.gateway_subst(mocks))


def logged(ngx, log, count, timeout=5.0):
    """a log's lines, once there are "count" (nginx writes a line in the
    log phase, after the client has its answer)"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(ngx.path(log)) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= count or time.monotonic() > deadline:
            assert len(lines) == count, lines
            return lines
        time.sleep(0.05)


def audit_lines(ngx, count):
    return [json.loads(line) for line in logged(ngx, "logs/audit.log", count)]


def test_a_put_is_audited_with_field_names_only(gw, mocks, demo_keys):
    caller = tokens.bearer(tokens.mint(demo_keys, sub="ops-bot",
                                       client_id="deploy-pipeline"))
    caller["X-Request-ID"] = "change-4711"

    # the canonical route: the update names canonical fields itself
    r = gw.put("/mcp-servers/kambrium/123", headers=caller,
               json={"name": "Pipedrive EU", "auth": {"api_key": SECRET}})
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-ID"] == "change-4711"

    # a native route: the vendor's fields under their canonical names
    g = NATIVE["gatana"] + SEED["gatana"]
    r = gw.put(g, headers=tokens.bearer(tokens.mint(demo_keys)),
               json={"name": "GitHub Tools", "slug": "github-tools",
                     "authorization": {"method": "apikey",
                                       "apikeys": [SECRET]},
                     "transportConfig": {"type": "httpstreaming",
                                         "url": "https://mcp.example/mcp",
                                         "headers": [["X-Key", SECRET]]},
                     "logoUrl": "https://example.com/logo.png"})
    assert r.status_code == 200, r.text

    first, second = audit_lines(gw, 2)

    assert first["request_id"] == "change-4711"
    assert first["sub"] == "ops-bot"
    assert first["iss"] == tokens.ISSUER
    assert first["client_id"] == "deploy-pipeline"
    assert first["registry"] == "kambrium"
    assert first["server_id"] == "123"
    assert first["route"] == "canonical"
    assert first["changed_fields"] == "auth.api_key,name"
    assert first["registry_status"] == "200"
    assert first["status"] == "200"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$",
                    first["time"])

    assert second["route"] == "native"
    assert second["registry"] == "gatana"
    assert second["changed_fields"] == (
        "auth.api_key,auth.method,extensions.gatana.logoUrl,"
        "extensions.gatana.transportHeaders,name,remote.type,remote.url,"
        "slug")
    assert re.fullmatch(r"[0-9a-f]{32}", second["request_id"])

    # the secret went to the registries, and into no log of the gateway
    assert SECRET in mocks["gatana"].last()["body"]
    for path in glob.glob(gw.path("logs/*")):
        with open(path, errors="replace") as f:
            assert SECRET not in f.read(), path


def test_only_forwarded_puts_are_audited(gw, mocks, auth, demo_keys):
    k = NATIVE["kambrium"] + "123"

    assert gw.get(k, headers=auth).ok
    # refused before any registry: no token, a body the vendor refuses,
    # a field the vendor cannot take
    assert gw.put(k, json={"api_key": SECRET}).status_code == 401
    assert gw.put(k, headers=auth,
                  json={"access_type": "admin"}).status_code == 400
    assert gw.put("/mcp-servers/kambrium/123", headers=auth,
                  json={"slug": "x"}).status_code == 400
    # forwarded, and refused by the registry: audited with its status
    assert gw.put(NATIVE["kambrium"] + "999", headers=auth,
                  json={"agent_enabled": True}).status_code == 404

    [line] = audit_lines(gw, 1)
    assert line["server_id"] == "999"
    assert line["registry_status"] == "404"
    assert line["changed_fields"] == "enabled"


def test_request_id_goes_to_the_registry_and_back(gw, mocks, auth):
    k = NATIVE["kambrium"] + "123"

    r = gw.get(k, headers=dict(auth, **{"X-Request-ID": "abc-123:4"}))
    assert r.headers["X-Request-ID"] == "abc-123:4"
    assert mocks["kambrium"].last()["headers"]["x-request-id"] == "abc-123:4"

    # an id that could not go into a header or a log as it is: nginx's own
    for bad in ("has space", "x" * 129, "quote\"d", "caf\u00e9"):
        r = gw.get(k, headers=dict(auth, **{"X-Request-ID":
                                            bad.encode("utf-8")}),
                   params={"n": len(bad)})      # a miss: asks the registry
        rid = r.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), bad
        assert mocks["kambrium"].last()["headers"]["x-request-id"] == rid

    # refusals of the access phase carry it too
    r = gw.get(k, headers={"X-Request-ID": "no-token-1"})
    assert r.status_code == 401
    assert r.headers["X-Request-ID"] == "no-token-1"


def test_request_id_ends_every_error_line(nginx, mocks, auth):
    subst = conftest.gateway_subst(mocks)
    subst["BARNDOOR_PORT"] = harness.free_port()       # nothing listens
    gw = nginx(harness.demo_conf(), **subst)

    def get(path, rid, **kw):
        kw.setdefault("headers", dict(auth))
        kw["headers"]["X-Request-ID"] = rid
        return gw.get(path, **kw)

    assert get(NATIVE["kambrium"] + "abc", "bad-id-1").status_code == 404
    assert get(NATIVE["kambrium"] + "123", "no-token-2",
               headers={}).status_code == 401
    assert get(NATIVE["barndoor"] + SEED["barndoor"],
               "down-3").status_code == 502
    r = gw.put(NATIVE["kambrium"] + "123", data=b"{not json",
               headers=dict(auth, **{"Content-Type": "application/json",
                                     "X-Request-ID": "json-4"}))
    assert r.status_code == 400

    log = gw.error_log()

    def lines(rid):
        return [l for l in log.splitlines()
                if l.endswith(', request_id: "%s"' % rid)
                or (', request_id: "%s",' % rid) in l]

    assert any("is not a kambrium server id" in l and "[info]" in l
               for l in lines("bad-id-1"))
    assert any("mcp auth: no bearer token" in l for l in lines("no-token-2"))
    assert any("request body is not valid JSON" in l
               for l in lines("json-4"))
    # the registry that fails: nginx's own line and the module's
    down = [l for l in lines("down-3") if "[error]" in l]
    assert any("connect() failed" in l for l in down), log
    assert any('mcp: registry "barndoor" could not be reached' in l
               for l in down), log

    # and in the access log, for every request
    access = logged(gw, "logs/access.log", 4)
    for rid in ("bad-id-1", "no-token-2", "down-3", "json-4"):
        assert any(l.endswith(" request_id=" + rid) for l in access)


def test_a_get_has_a_request_id_and_no_audit_line(gw, auth):
    r = gw.get(NATIVE["kambrium"] + "123", headers=auth)
    assert r.ok

    [line] = logged(gw, "logs/access.log", 1)
    assert line.endswith(" request_id=" + r.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])
    audit_lines(gw, 0)


def test_generated_request_ids_never_repeat(gw, auth):
    """ids made by the gateway: each worker draws them from its own pool
    of random bytes, filled again when used up (256 ids a fill): more
    requests than a pool, over both workers, and no id twice"""
    session = harness.requests.Session()
    ids = set()
    for i in range(700):
        # a new connection now and then: both workers answer
        if i % 50 == 0:
            session.close()
            session = harness.requests.Session()
        r = session.get(gw.url + NATIVE["kambrium"] + "123", headers=auth)
        assert r.ok
        rid = r.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid)
        assert rid not in ids
        ids.add(rid)
    assert len(ids) == 700
