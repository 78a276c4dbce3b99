"""A registry location must be internal: it sends the gateway's own vendor
credential, so a client reaching it directly would act as the gateway.
nginx -t refuses a pass= prefix served by a location without "internal"
(naming the fix), and a registry subrequest that meets such a location at
run time (a server-level rewrite sent it elsewhere) is refused."""

import re

import pytest

import harness

REGISTRY = "mcp_registry kambrium vendor=kambrium pass=/_mcp/kambrium;"


def conf(locations, http="", servers=""):
    return harness.conf(http=REGISTRY + "\n" + http, servers=servers,
                        server=locations)


ROUTE = "location /kambrium/ { mcp_pass kambrium; }\n"


@pytest.mark.parametrize("locations,where", [
    # the open door: the vendor location without "internal"
    (ROUTE + "location /_mcp/kambrium/ { proxy_pass http://127.0.0.1:9/; }",
     'location "/_mcp/kambrium/"'),
    # a catch-all serving the prefix
    (ROUTE + "location / { proxy_pass http://127.0.0.1:9; }",
     'location "/"'),
    # a regular expression location wins over a prefix one
    (ROUTE + "location /_mcp/kambrium/ { internal; proxy_pass "
     "http://127.0.0.1:9/; }\n"
     r"location ~ ^/_mcp/(\w+)/api/ { proxy_pass http://127.0.0.1:9; }",
     r'location "\^/_mcp/\(\\w\+\)/api/"'),
    # nested: the inner location is chosen ("internal" is inherited, so
    # the outer one must not have it either)
    (ROUTE + "location /_mcp/ { return 404; location /_mcp/kambrium/ { "
     "proxy_pass http://127.0.0.1:9/; } }", 'location "/_mcp/kambrium/"'),
    # a canonical route reaches every registry
    ("location /mcp-servers/ { mcp_canonical; }\n"
     "location /_mcp/ { proxy_pass http://127.0.0.1:9/; }",
     'location "/_mcp/"'),
])
def test_nginx_t_refuses_a_registry_location_that_is_not_internal(
        workdir, locations, where):
    rc, out = harness.Nginx(workdir, conf(locations)).test_config()

    assert rc != 0, out
    assert re.search(r'\[emerg\].*registry "kambrium": "pass=/_mcp/kambrium" '
                     r'is served by ' + where + r' of server "[^"]*", which '
                     r'is not internal: add "internal;" to it', out), out


@pytest.mark.parametrize("locations", [
    ROUTE + "location /_mcp/kambrium/ { internal; proxy_pass "
    "http://127.0.0.1:9/; }\nlocation / { return 404; }",
    # "^~" stops the regular expressions
    ROUTE + "location ^~ /_mcp/kambrium/ { internal; proxy_pass "
    "http://127.0.0.1:9/; }\nlocation ~ /api/ { return 404; }",
    # no location at all serves it: the subrequest finds nothing to reach
    ROUTE,
    # nested in an internal location: "internal" is inherited
    ROUTE + "location /_mcp/ { internal; location /_mcp/kambrium/ { "
    "proxy_pass http://127.0.0.1:9/; } }",
])
def test_nginx_t_accepts_internal_registry_locations(workdir, locations):
    rc, out = harness.Nginx(workdir, conf(locations)).test_config()
    assert rc == 0, out


def test_only_servers_with_registry_routes_count(workdir):
    # another server's own /_mcp/ is no registry location: no route of the
    # gateway sends a subrequest there
    other = """
    server {
        listen 127.0.0.1:${OTHER_PORT};
        location /_mcp/ { return 200; }
    }
"""
    rc, out = harness.Nginx(workdir, conf(
        ROUTE + "location /_mcp/kambrium/ { internal; proxy_pass "
        "http://127.0.0.1:9/; }", servers=other),
        OTHER_PORT=harness.free_port()).test_config()
    assert rc == 0, out


def test_a_subrequest_sent_to_a_public_location_is_refused(nginx, mocks):
    # nginx -t cannot see a server-level rewrite: it moves the registry's
    # subrequest to a public location, where the vendor's credential would
    # go out for anyone
    ngx = nginx(conf("""
        rewrite ^/_mcp/kambrium/(.*)$ /public/$1 last;
        location /kambrium/ { mcp_pass kambrium; }
        location /_mcp/kambrium/ {
            internal;
            proxy_pass http://127.0.0.1:${KAMBRIUM_PORT}/;
        }
        location /public/ {
            proxy_set_header Authorization "Bearer demo-kambrium-credential";
            proxy_pass http://127.0.0.1:${KAMBRIUM_PORT}/;
        }
"""), KAMBRIUM_PORT=mocks["kambrium"].port)

    before = mocks["kambrium"].count("GET", "/api/v1/mcp-servers/123")
    r = ngx.get("/kambrium/api/v1/mcp-servers/123")

    assert r.status_code == 502, r.text
    assert mocks["kambrium"].count("GET", "/api/v1/mcp-servers/123") == before
    assert re.search(r'\[error\].*the registry subrequest "/public/api/v1/'
                     r'mcp-servers/123" is served by location "/public/", '
                     r'which is not internal: refused', ngx.error_log())
