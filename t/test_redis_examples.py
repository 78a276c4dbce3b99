"""Each deployment's example (docs/examples/redis-*.conf) is a valid
configuration: nginx -t accepts it in the http block of a gateway, with
the files it names made by the test (a CA, a client certificate, password
files)."""

import os

import pytest

import harness
import redis_nodes
import test_cache as tc

EXAMPLES = sorted(f for f in os.listdir(os.path.join(harness.TOP, "docs",
                                                     "examples"))
                  if f.startswith("redis-") and f.endswith(".conf"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("redis-files"))
    ca = redis_nodes.CA(d)
    crt, key = ca.issue("gateway", client=True)
    os.rename(crt, os.path.join(d, "gateway.crt"))
    os.rename(key, os.path.join(d, "gateway.key"))
    for name in ("gateway.pw", "sentinel.pw"):
        with open(os.path.join(d, name), "w") as f:
            f.write("secret-%s\n" % name)
    return d


def test_there_is_an_example_per_deployment():
    assert EXAMPLES == ["redis-cluster.conf", "redis-sentinel.conf",
                        "redis-single.conf", "redis-tls.conf"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_is_valid(nginx, mocks, files, example):
    with open(os.path.join(harness.TOP, "docs", "examples", example)) as f:
        snippet = f.read().replace("/etc/nginx/redis/", files + "/")
    # (the examples set their own timeouts: none added for slow builds)
    text = tc.conf("X", http="# mcp_cache_redis_timeout "
                   "mcp_cache_redis_connect_timeout").replace(
        "mcp_cache_redis  X;", snippet)
    ngx = nginx(text, start=False, **tc.ports(mocks))
    rc, out = ngx.test_config()
    assert rc == 0, out
    assert "secret-" not in out
