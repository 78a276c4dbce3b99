"""Fixtures of the integration suite.  See t/harness.py for the processes."""

import os

import pytest

import harness
from harness import Mock, Nginx, Redis


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("mcp"))


@pytest.fixture(scope="session")
def mocks(workdir):
    """The three mock registries, started once for the session."""
    started = {}
    try:
        for vendor in ("kambrium", "barndoor", "gatana"):
            started[vendor] = Mock(vendor, workdir)
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


def gateway_subst(mocks):
    return dict(KAMBRIUM_PORT=mocks["kambrium"].port,
                BARNDOOR_PORT=mocks["barndoor"].port,
                GATANA_PORT=mocks["gatana"].port)


@pytest.fixture(scope="session")
def gateway(workdir, mocks):
    """The demo configuration (docs/examples/demo.conf): master process and
    two workers, in front of the three mocks."""
    ngx = Nginx(workdir, harness.demo_conf(), name="gateway",
                **gateway_subst(mocks))
    ngx.start()
    yield ngx
    ngx.stop()
    assert harness.alerts(ngx.error_log()) == []


@pytest.fixture
def nginx(workdir):
    """A factory for nginx instances of a test's own configuration; each is
    stopped when the test ends."""
    started = []

    def make(conf, start=True, **subst):
        ngx = Nginx(workdir, conf, **subst)
        started.append(ngx)
        return ngx.start() if start else ngx

    yield make

    for ngx in started:
        ngx.stop()
    for ngx in started:
        assert harness.alerts(ngx.error_log()) == []


@pytest.fixture
def redis_server(workdir):
    r = Redis(workdir)
    yield r
    r.stop()


@pytest.fixture
def auth():
    """Request headers a client of the gateway sends."""
    return {"Authorization": "Bearer test-token"}
