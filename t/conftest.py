"""Fixtures of the integration suite.  See t/harness.py for the processes,
and harness.conf() for the base of a test's own nginx.conf."""

import contextlib
import os
import sys

import pytest
import redis

import harness
import tokens
from harness import Mock, Nginx, Redis

# the Redis of the demo configuration's cache (${REDIS_PORT}): one for the
# session, emptied before every test
GATEWAY_REDIS = None


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mcp"))


@pytest.fixture(scope="session", autouse=True)
def demo_keys(workdir):
    """The demo's keys (${MCP_DEMO_KEYS}), made for this session."""
    keys = tokens.Keys(os.path.join(workdir, "keys"))
    harness.DEMO_KEYS = keys.dir
    return keys


@pytest.fixture(scope="session")
def mocks(workdir):
    """The three mock registries, started once for the session.  Each
    accepts only the gateway's credential for it: what reaches them proves
    the caller's token never does."""
    started = {}
    try:
        for vendor in ("kambrium", "barndoor", "gatana"):
            started[vendor] = Mock(
                vendor, workdir,
                expect_token=harness.SERVICE_CREDENTIAL[vendor])
        yield started
    finally:
        for m in started.values():
            m.stop()


@pytest.fixture(autouse=True)
def fresh_mocks(request):
    """Every test starts from the seeded state, with no faults."""
    if "mocks" in request.fixturenames:
        for m in request.getfixturevalue("mocks").values():
            m.reset()
    yield


@pytest.fixture(scope="session", autouse=True)
def gateway_redis(workdir):
    """The redis-server of the demo configuration's cache."""
    global GATEWAY_REDIS
    GATEWAY_REDIS = Redis(workdir)
    yield GATEWAY_REDIS
    GATEWAY_REDIS.stop()
    GATEWAY_REDIS = None


@pytest.fixture(autouse=True)
def fresh_cache(gateway_redis):
    """Every test starts with an empty cache: what a test asks the demo
    configuration is answered by the registries first."""
    client = redis.Redis(port=gateway_redis.port)
    client.flushall()
    client.close()
    yield


def gateway_subst(mocks):
    return dict(KAMBRIUM_PORT=mocks["kambrium"].port,
                BARNDOOR_PORT=mocks["barndoor"].port,
                GATANA_PORT=mocks["gatana"].port,
                REDIS_PORT=GATEWAY_REDIS.port)


@contextlib.contextmanager
def nginx_factory(workdir):
    """A factory for nginx instances (harness.Nginx's arguments); at the
    end, each is stopped, and its error log must hold no alert."""
    started = []

    def make(conf, start=True, **kw):
        ngx = Nginx(workdir, conf, **kw)
        started.append(ngx)
        return ngx.start() if start else ngx

    yield make

    for ngx in started:
        ngx.stop()
    for ngx in started:
        assert harness.alerts(ngx.error_log()) == []


@pytest.fixture(scope="session")
def gateway(workdir, mocks):
    """The demo configuration (docs/examples/demo.conf): master process and
    two workers, in front of the three mocks."""
    with nginx_factory(workdir) as make:
        yield make(harness.demo_conf(), name="gateway",
                   **gateway_subst(mocks))


@pytest.fixture
def nginx(workdir):
    """nginx instances of a test's own configuration, stopped when the test
    ends."""
    with nginx_factory(workdir) as make:
        yield make


@pytest.fixture(scope="module")
def module_nginx(workdir):
    """nginx instances of a test file's own configuration, started once for
    the file's tests."""
    with nginx_factory(workdir) as make:
        yield make


@pytest.fixture
def redis_server(workdir):
    r = Redis(workdir)
    yield r
    r.stop()


@pytest.fixture
def auth(demo_keys):
    """Request headers a client of the gateway sends: a fresh RS256 token
    of the demo's issuer with mgmt.read and mgmt.write."""
    return tokens.bearer(tokens.mint(demo_keys))


def pytest_terminal_summary(terminalreporter):
    """the one-line summaries of the fault scenarios (t/fault.py) that ran,
    passed or failed, so that their numbers can be quoted"""
    fault = sys.modules.get("fault")
    if fault is not None and fault.SUMMARIES:
        terminalreporter.section("coherence under faults")
        for line in fault.SUMMARIES:
            terminalreporter.write_line(line)
