"""PUT on the drop-in routes: the body reaches the registry as sent, and
the registry keeps it; a body that is not a JSON object, of another media
type, or too large is refused before any registry sees it.  (The vendors'
own rules on PUT bodies, and canonical updates: t/test_normalize.py.)"""

import json

import pytest

from harness import NATIVE, SEED, VENDORS, upstream_path


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


def changed(vendor, body):
    return {
        "kambrium": lambda b: b["data"]["agent_enabled"] is False,
        "barndoor": lambda b: b["name"] == "Salesforce Staging",
        "gatana": lambda b: b["server"]["name"] == "GitHub Tools v2",
    }[vendor](body)


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
