"""Registries that fail: their errors pass through on the drop-in routes,
broken answers become 502, a slow registry is a 504 logged once per outage,
an unreachable one a 502; multi-MiB answers are served, and refused beyond
mcp_upstream_max_body_size.  (Answers of the wrong shape, and secrets a
registry sends back: t/test_normalize.py.)"""

import re

import pytest

import harness
from harness import NATIVE, SEED


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
