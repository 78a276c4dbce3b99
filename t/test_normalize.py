"""One canonical schema across the three vendors, both ways: canonical
answers, translated updates, the vendors' own rules on native bodies, bad
input, bad upstreams, and no secret ever returned or logged."""

import json
import os
import re

import jsonschema
import pytest
import requests

import conftest
import harness
from harness import NATIVE, SEED, Mock

CANONICAL = "application/vnd.mcp.canonical+json"

STATUSES = {"active", "pending", "error", "disabled", "available", "unknown"}

# the secrets the tests send; none may come back, or reach a log
SECRETS = {
    "kambrium_api_key": "kmb-secret-api-key-7731",
    "kambrium_client_secret": "kmb-oauth2-secret-9120",
    "barndoor_client_secret": "bdr-client-secret-4410",
    "gatana_api_key": "gtn-api-key-secret-5582",
    "gatana_header": "gtn-header-secret-6604",
}

# the secrets the Gatana mock holds from its seed
SEEDED_SECRETS = ("gh-secret-key-1", "gh-header-secret")


def legacy_conf():
    """The demo, plus a Kambrium registry answering with the other envelope
    ({"message", "connection"}) and a native route whose default view is
    canonical."""
    conf = harness.demo_conf()
    conf = conf.replace("    server {\n", """\
    upstream kambrium_legacy_api {
        server 127.0.0.1:${KAMBRIUM_LEGACY_PORT};
    }

    mcp_registry  kambrium-legacy  vendor=kambrium
                  pass=/_mcp/kambrium-legacy;

    server {
""", 1)
    conf = conf.replace("        location /_mcp/kambrium/ {", """\
        location /kambrium-legacy/ { mcp_pass kambrium-legacy; }

        location /kambrium-canonical/ {
            mcp_pass  kambrium;
            mcp_view  canonical;
        }

        location /_mcp/kambrium-legacy/ {
            internal;
            proxy_pass        http://kambrium_legacy_api/;
            proxy_set_header  Authorization "Bearer demo-kambrium-credential";
        }

        location /_mcp/kambrium/ {""", 1)
    return conf


@pytest.fixture(scope="module")
def legacy_mock(workdir):
    m = Mock("kambrium", workdir, envelope="connection")
    yield m
    m.stop()


@pytest.fixture(scope="module")
def gw(module_nginx, mocks, legacy_mock):
    """A gateway at debug level: every test here also proves that nothing
    secret reaches the error log."""
    ngx = module_nginx(legacy_conf(), name="normalize",
                       KAMBRIUM_LEGACY_PORT=legacy_mock.port,
                       MCP_LOG_LEVEL="debug", **conftest.gateway_subst(mocks))
    yield ngx
    ngx.stop()
    log = ngx.error_log()
    for secret in list(SECRETS.values()) + list(SEEDED_SECRETS):
        assert secret not in log


@pytest.fixture(autouse=True)
def fresh_legacy(legacy_mock):
    legacy_mock.reset()


def schema(name):
    with open(os.path.join(harness.TOP, "docs", "schemas", name)) as f:
        return json.load(f)


SERVER_SCHEMA = schema("server.schema.json")
UPDATE_SCHEMA = schema("update.schema.json")


def check_server(body, registry, vendor):
    """what every canonical server object has: the documented schema"""
    jsonschema.validate(body, SERVER_SCHEMA,
                        format_checker=jsonschema.FormatChecker())
    assert body["id"] == "%s:%s" % (registry, body["vendor_id"])
    assert body["registry"] == registry
    assert body["vendor"] == vendor
    assert body["status"] in STATUSES
    assert set(body["extensions"]) == {vendor}
    for key in ("created_at", "updated_at"):
        if key in body:
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z",
                                body[key])


def no_secret(text):
    for secret in list(SECRETS.values()) + list(SEEDED_SECRETS):
        assert secret not in text


# canonical answers

def test_canonical_kambrium_data_envelope(gw, mocks, auth):
    r = gw.get("/mcp-servers/kambrium/123", headers=auth)

    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    s = r.json()
    check_server(s, "kambrium", "kambrium")
    assert s["id"] == "kambrium:123"
    assert s["name"] == "Pipedrive"
    assert s["enabled"] is True
    assert s["status"] == "active"
    assert s["auth"]["oauth_client_id"] == "client_abc123"
    assert s["auth"]["credentials_set"] is True
    assert s["extensions"]["kambrium"]["envelope"] == "data"
    assert s["extensions"]["kambrium"]["api_key_verification_status"] == \
        "verified"


def test_canonical_kambrium_connection_envelope(gw, legacy_mock, auth):
    r = gw.get("/mcp-servers/kambrium-legacy/123", headers=auth)

    assert r.status_code == 200
    s = r.json()
    check_server(s, "kambrium-legacy", "kambrium")
    assert s["name"] == "My Pipedrive Connection"
    assert s["provider"] == "pipedrive"
    assert s["status"] == "active"
    assert s["auth"]["method"] == "api_key"
    assert s["extensions"]["kambrium"]["envelope"] == "connection"
    assert s["extensions"]["kambrium"]["connection_id"] == "conn_123abc"

    # the same registry's native route keeps the vendor's envelope
    r = gw.get("/kambrium-legacy/api/v1/mcp-servers/123", headers=auth)
    assert r.json()["message"] == "Connection retrieved successfully"
    assert r.json()["connection"]["name"] == "My Pipedrive Connection"


def test_canonical_barndoor(gw, mocks, auth):
    r = gw.get("/mcp-servers/barndoor/" + SEED["barndoor"], headers=auth)

    s = r.json()
    check_server(s, "barndoor", "barndoor")
    assert s["vendor_id"] == SEED["barndoor"]
    assert s["name"] == "Salesforce Production"
    assert s["slug"] == "salesforce"
    assert s["provider"] == "salesforce"
    assert s["status"] == "active"
    assert s["remote"] == {"url": "https://api.salesforce.com/mcp"}
    assert s["extensions"]["barndoor"]["connection_status"] == "connected"


def test_canonical_gatana(gw, mocks, auth):
    r = gw.get("/mcp-servers/gatana/github-tools", headers=auth)

    s = r.json()
    check_server(s, "gatana", "gatana")
    assert s["slug"] == s["vendor_id"] == "github-tools"
    assert s["status"] == "active" and s["enabled"] is True
    assert s["remote"]["type"] == "streamable-http"
    assert s["remote"]["url"].startswith("https://")
    assert s["auth"]["method"] == "api_key"
    assert s["auth"]["credentials_set"] is True
    ext = s["extensions"]["gatana"]
    assert ext["transportHeaderNames"] == ["X-Api-Key"]
    assert isinstance(ext["files"], list)
    assert "currentUserCredentials" in ext
    no_secret(r.text)


def test_accept_and_mcp_view_choose_the_view(gw, mocks, auth):
    path = NATIVE["kambrium"] + "123"

    r = gw.get(path, headers=dict(auth, Accept=CANONICAL))
    assert r.json()["id"] == "kambrium:123"

    r = gw.get(path, headers=dict(auth, Accept="application/json"))
    assert r.json()["success"] is True

    # a location whose default view is canonical, and a client that
    # asks for the vendor's shape there
    r = gw.get("/kambrium-canonical/api/v1/mcp-servers/123", headers=auth)
    assert r.json()["id"] == "kambrium:123"
    r = gw.get("/kambrium-canonical/api/v1/mcp-servers/123",
               headers=dict(auth, Accept="application/vnd.mcp.native+json"))
    assert r.json()["data"]["id"] == 123


def test_vendor_errors_become_canonical_errors(gw, mocks, auth):
    r = gw.get("/mcp-servers/kambrium/999", headers=auth)

    assert r.status_code == 404
    assert r.json() == {"detail": "MCP server 999 not found or not "
                                  "accessible",
                        "registry": "kambrium", "status": 404}

    mocks["gatana"].fault("status500")
    r = gw.get("/mcp-servers/gatana/github-tools", headers=auth)
    assert r.status_code == 500
    assert r.json()["registry"] == "gatana"
    assert r.json()["status"] == 500


# canonical updates

def put(gw, path, auth, body):
    return gw.put(path, headers=dict(auth, **{"Content-Type":
                                              "application/json"}),
                  data=json.dumps(body))


def canonical_put(gw, registry, auth, update):
    """a valid canonical update (by the documented schema), sent"""
    jsonschema.validate(update, UPDATE_SCHEMA)
    return put(gw, "/mcp-servers/%s/%s" % (registry, SEED[registry]), auth,
               update)


def test_canonical_put_kambrium(gw, mocks, auth):
    r = canonical_put(gw, "kambrium", auth,
                      {"enabled": False, "access_type": "write",
                       "auth": {"api_key": SECRETS["kambrium_api_key"]}})

    assert r.status_code == 200, r.text
    s = r.json()
    check_server(s, "kambrium", "kambrium")
    assert s["enabled"] is False
    assert s["status"] == "disabled"
    assert s["extensions"]["kambrium"]["api_key_verification_status"] == \
        "pending"

    # the vendor got its own body, with only the fields given
    assert json.loads(mocks["kambrium"].last()["body"]) == {
        "agent_enabled": False, "access_type": "write",
        "api_key": SECRETS["kambrium_api_key"]}
    no_secret(r.text)


def test_canonical_put_kambrium_connection_envelope(gw, legacy_mock, auth):
    update = {"name": "Pipedrive EU", "description": "EU tenant",
              "extensions": {"kambrium": {"config": {"region": "eu"}}}}
    jsonschema.validate(update, UPDATE_SCHEMA)

    r = put(gw, "/mcp-servers/kambrium-legacy/123", auth, update)

    assert r.status_code == 200, r.text
    s = r.json()
    check_server(s, "kambrium-legacy", "kambrium")
    assert s["name"] == "Pipedrive EU"
    assert s["description"] == "EU tenant"
    assert s["extensions"]["kambrium"]["config"] == {"region": "eu"}
    assert json.loads(legacy_mock.last()["body"]) == {
        "name": "Pipedrive EU", "description": "EU tenant",
        "config": {"region": "eu"}}


def test_canonical_put_barndoor(gw, mocks, auth):
    r = canonical_put(gw, "barndoor", auth,
                      {"name": "Salesforce EU", "auth": {
                          "oauth_client_id": "cid-1",
                          "oauth_client_secret":
                              SECRETS["barndoor_client_secret"]}})

    assert r.status_code == 200, r.text
    check_server(r.json(), "barndoor", "barndoor")
    assert r.json()["name"] == "Salesforce EU"
    assert json.loads(mocks["barndoor"].last()["body"]) == {
        "name": "Salesforce EU", "client_id": "cid-1",
        "client_secret": SECRETS["barndoor_client_secret"]}
    no_secret(r.text)


def test_canonical_put_gatana(gw, mocks, auth):
    r = canonical_put(gw, "gatana", auth, {
        "name": "GitHub Tools", "slug": "github-tools",
        "remote": {"type": "sse", "url": "https://mcp.example/sse"},
        "auth": {"method": "api_key", "api_key": SECRETS["gatana_api_key"]},
        "extensions": {"gatana": {
            "credentialsScope": "server",
            "transportHeaders": [["X-Key", SECRETS["gatana_header"]]]}}})

    assert r.status_code == 200, r.text
    s = r.json()
    check_server(s, "gatana", "gatana")
    assert s["remote"] == {"type": "sse", "url": "https://mcp.example/sse"}
    assert s["extensions"]["gatana"]["transportHeaderNames"] == ["X-Key"]

    sent = json.loads(mocks["gatana"].last()["body"])
    assert sent["authorization"] == {"method": "apikey",
                                     "credentialsScope": "server",
                                     "apikeys": [SECRETS["gatana_api_key"]]}
    assert sent["transportConfig"] == {
        "type": "sse", "url": "https://mcp.example/sse",
        "headers": [["X-Key", SECRETS["gatana_header"]]]}
    no_secret(r.text)

    # and the native answer of the same server has no secret either
    r = gw.get(NATIVE["gatana"] + "github-tools", headers=auth)
    no_secret(r.text)


@pytest.mark.parametrize("registry,body,detail", [
    ("kambrium", {"slug": "x"},
     'field "slug" cannot be set on a kambrium registry'),
    ("kambrium", {"remote": {"url": "https://x.example/mcp"}},
     'field "remote" cannot be set on a kambrium registry'),
    ("barndoor", {"enabled": True},
     'field "enabled" cannot be set on a barndoor registry'),
    ("barndoor", {"extensions": {"gatana": {}}},
     'field "extensions.gatana" cannot be set on a barndoor registry'),
    ("gatana", {"name": "n", "slug": "s", "access_type": "read"},
     'field "access_type" cannot be set on a gatana registry'),
    ("gatana", {"name": "n"},
     'a gatana registry needs "name" and "slug" in every update'),
    ("kambrium", {"nmae": "x"}, 'unknown field "nmae"'),
    ("kambrium", {"enabled": "yes"}, 'field "enabled" must be a boolean'),
    ("kambrium", {"access_type": "admin"}, "Invalid access type specified"),
])
def test_inexpressible_updates_are_refused(gw, mocks, auth, registry, body,
                                           detail):
    r = put(gw, "/mcp-servers/%s/%s" % (registry, SEED[registry]), auth,
            body)

    assert r.status_code == 400
    assert r.json() == {"detail": detail}
    assert mocks[registry].requests()["total"] == 0


# native bodies: the vendors' documented rules

@pytest.mark.parametrize("vendor,body,detail", [
    ("kambrium", {"access_type": "admin"}, "Invalid access type specified"),
    ("kambrium", {"agent_enabled": "no"},
     'field "agent_enabled" must be a boolean'),
    ("gatana", {"slug": "github-tools"}, 'field "name" is required'),
    ("gatana", {"name": "x"}, 'field "slug" is required'),
    ("gatana", {"name": "x", "slug": "GitHub"},
     'field "slug" must match ^[-a-z0-9]+$ and have at most 20 characters'),
    ("gatana", {"name": "x", "slug": "a" * 21},
     'field "slug" must match ^[-a-z0-9]+$ and have at most 20 characters'),
    ("gatana", {"name": "x", "slug": "x", "logoUrl": "logo.png"},
     'field "logoUrl" must be a URI'),
    ("gatana", {"name": "x", "slug": "x", "url": "mcp.example.com"},
     'field "url" must be a URI'),
    ("barndoor", {"meta": "x"}, 'field "meta" must be an object'),
])
def test_native_rules_before_forwarding(gw, mocks, auth, vendor, body,
                                        detail):
    r = put(gw, NATIVE[vendor] + SEED[vendor], auth, body)

    assert r.status_code == 400
    assert r.json() == {"detail": detail}
    assert mocks[vendor].requests()["total"] == 0


def test_native_put_secrets_are_forwarded_not_returned(gw, mocks, auth):
    r = put(gw, NATIVE["kambrium"] + "123", auth,
            {"api_key": SECRETS["kambrium_api_key"],
             "oauth2_client_secret": SECRETS["kambrium_client_secret"]})

    assert r.status_code == 200
    no_secret(r.text)
    assert json.loads(mocks["kambrium"].last()["body"])["api_key"] == \
        SECRETS["kambrium_api_key"]


# bad input

def raw_put(gw, path, auth, body, ctype="application/json"):
    return gw.put(path, headers=dict(auth, **{"Content-Type": ctype}),
                  data=body)


@pytest.mark.parametrize("name,body", [
    ("invalid JSON", b'{"name": '),
    ("deep nesting", b'{"a": ' + b"[" * 10000 + b"]" * 10000 + b"}"),
    ("beyond 64 bits", b'{"name": "x", "n": 123456789012345678901234567890}'),
    ("duplicate keys", b'{"name": "a", "name": "b"}'),
    ("invalid UTF-8", b'{"name": "\xff\xfe"}'),
    ("NUL escape", b'{"name": "a\\u0000b"}'),
    ("trailing garbage", b'{"name": "a"} x'),
])
def test_bad_json_is_a_400(gw, mocks, auth, name, body):
    for path in (NATIVE["barndoor"] + SEED["barndoor"],
                 "/mcp-servers/barndoor/" + SEED["barndoor"]):
        r = raw_put(gw, path, auth, body)

        assert r.status_code == 400, name
        assert r.headers["Content-Type"] == "application/json"
        assert r.json()["detail"].startswith("JSON parse error - ")
        assert "near" not in r.json()["detail"]

    assert mocks["barndoor"].requests()["total"] == 0


def test_parse_errors_never_quote_the_body(gw, mocks, auth):
    body = b'{"api_key": "' + SECRETS["kambrium_api_key"].encode() + b'\xff"}'
    r = raw_put(gw, NATIVE["kambrium"] + "123", auth, body)

    assert r.status_code == 400
    no_secret(r.text)


def test_size_and_type_limits(gw, mocks, auth):
    big = json.dumps({"name": "x" * 70000}).encode()
    r = raw_put(gw, "/mcp-servers/barndoor/" + SEED["barndoor"], auth, big)
    assert r.status_code == 413
    assert r.json()["detail"].startswith("Request body is larger than")

    r = raw_put(gw, "/mcp-servers/barndoor/" + SEED["barndoor"], auth,
                b'{"name": "x"}', ctype="application/x-www-form-urlencoded")
    assert r.status_code == 415

    # a chunked body over the limit is refused too
    def chunks():
        for _ in range(20):
            yield b" " * 8192
        yield b'{"name": "x"}'

    r = gw.put(NATIVE["barndoor"] + SEED["barndoor"],
               headers=dict(auth, **{"Content-Type": "application/json"}),
               data=chunks())
    assert r.status_code == 413
    assert mocks["barndoor"].requests()["total"] == 0


# bad upstreams

def test_unexpected_shape_is_a_502(gw, mocks, auth):
    mocks["gatana"].fault("shape")

    r = gw.get("/mcp-servers/gatana/github-tools", headers=auth)
    assert r.status_code == 502
    assert r.json() == {"detail": "The gatana registry answer has an "
                                  "unexpected shape."}

    # the native route checks the shape too: never an empty 200
    r = gw.get(NATIVE["gatana"] + "github-tools", headers=auth)
    assert r.status_code == 502

    assert "registry \"gatana\" answer has an unexpected shape" in \
        gw.error_log()


@pytest.mark.parametrize("vendor", ["kambrium", "barndoor", "gatana"])
def test_secrets_a_registry_sends_back_never_reach_the_client(gw, mocks, auth,
                                                             vendor):
    """a registry that sends its write-only secrets back (the mock's "leak"
    fault; Gatana's answers hold some anyway): neither view passes them on"""
    mocks[vendor].fault("leak")
    sid = SEED[vendor]

    for path in (NATIVE[vendor] + sid, "/mcp-servers/%s/%s" % (vendor, sid)):
        r = gw.get(path, headers=auth)
        assert r.status_code == 200
        for secret in ("LEAKED-", "gh-secret-key-1", "gh-header-secret"):
            assert secret not in r.text, (path, secret)


def test_multi_mib_answers_are_normalized(gw, mocks, auth):
    requests.post(mocks["gatana"].url + "/_mock/files",
                  json={"count": 20000}, timeout=10)

    r = gw.get("/mcp-servers/gatana/github-tools", headers=auth)

    assert r.status_code == 200
    assert len(r.content) > 4 * 1024 * 1024
    assert len(r.json()["extensions"]["gatana"]["files"]) == 20000
    no_secret(r.text)
