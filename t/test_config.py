"""nginx -t accepts the example configuration and rejects mistakes in the
module's directives with a message that names them."""

import re

import pytest

import conftest
import harness


def minimal(http="", location="mcp_canonical;"):
    return harness.conf(http=http, server="location /x/ { %s }" % location)


def test_the_example_configuration_is_accepted(workdir, mocks):
    ngx = harness.Nginx(workdir, harness.demo_conf(), name="t",
                        **conftest.gateway_subst(mocks))

    rc, out = ngx.test_config()

    assert rc == 0, out
    assert "test is successful" in out


def test_a_registry_may_be_named_before_it_is_declared(workdir):
    conf = minimal(location="mcp_pass later;").replace(
        "    server {", "    mcp_registry later vendor=gatana "
                       "pass=/_mcp/later;\n    server {")

    rc, out = harness.Nginx(workdir, conf).test_config()

    assert rc == 0, out


@pytest.mark.parametrize("http,location,message", [
    ("mcp_registry k vendor=kambriun pass=/_mcp/k;", "mcp_canonical;",
     r'invalid vendor "vendor=kambriun" in mcp registry "k"'),
    ("mcp_registry k vendor=kambrium pass=_mcp/k;", "mcp_canonical;",
     r'invalid "pass=_mcp/k" in mcp registry "k"'),
    ("mcp_registry k vendor=kambrium pass=/_mcp/k/;", "mcp_canonical;",
     r'invalid "pass=/_mcp/k/" in mcp registry "k"'),
    ("mcp_registry k vendor=kambrium;", "mcp_canonical;",
     r'mcp registry "k" needs both "vendor=" and "pass="'),
    ("mcp_registry k vendor=kambrium pass=/_mcp/k weight=2;",
     "mcp_canonical;", r'invalid parameter "weight=2" in mcp registry "k"'),
    ("mcp_registry K vendor=kambrium pass=/_mcp/k;", "mcp_canonical;",
     r'invalid mcp registry name "K"'),
    ("mcp_registry k vendor=kambrium pass=/_mcp/k;\n"
     "    mcp_registry k vendor=gatana pass=/_mcp/k2;", "mcp_canonical;",
     r'duplicate mcp registry "k"'),
    ("", "mcp_pass nosuch;",
     r'mcp_pass names unknown registry "nosuch"'),
    ("mcp_registry k vendor=kambrium pass=/_mcp/k;",
     "mcp_pass k; mcp_canonical;",
     r'"mcp_canonical" directive is duplicate or combined with "mcp_pass"'),
    ("", "mcp_canonical; mcp_view canonicl;",
     r'invalid value "canonicl"'),
    ("mcp_max_body_size 10q;", "mcp_canonical;",
     r'"mcp_max_body_size" directive invalid value'),
    ("mcp_upstream_max_body_size lots;", "mcp_canonical;",
     r'"mcp_upstream_max_body_size" directive invalid value'),
    ("mcp_auth_jwt_max_size 1m;", "mcp_canonical;",
     r'"mcp_auth_jwt_max_size" directive must be between 64 and 64k'),
])
def test_mistakes_are_rejected_naming_them(workdir, http, location, message):
    ngx = harness.Nginx(workdir, minimal(http, location))

    rc, out = ngx.test_config()

    assert rc != 0
    assert re.search(r"\[emerg\].*" + message, out), out
    assert "nginx.conf:" in out        # and where


def test_the_module_stays_out_of_the_way_when_unused(workdir, nginx):
    """loaded but not configured: no handler, no filter, plain nginx"""
    conf = minimal(location="return 200 'plain';")
    ngx = nginx(conf)

    r = ngx.get("/x/y")

    assert r.status_code == 200
    assert r.text == "plain"
