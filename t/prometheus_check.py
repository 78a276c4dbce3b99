"""make test-prometheus: the gateway's metrics as Debian's Prometheus
(the prometheus package: prometheus and promtool) sees them.

  - promtool check metrics passes on "mcp_metrics"'s answer;
  - promtool checks and unit-tests the alert rules of docs/prometheus/;
  - a real Prometheus on loopback scrapes the gateway every second, and
    the cache hit ratio asked through its HTTP API (PromQL) is the one the
    traffic made; every expression of the Grafana dashboard and of the
    alerts runs there.

Not collected by make test (not a test_*.py file): run as
"pytest prometheus_check.py" from t/, with the same fixtures."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

import conftest
import harness
from harness import NATIVE
from metrics import settled

TOP = harness.TOP
DOCS = os.path.join(TOP, "docs")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def test_promtool_is_there():
    """the package is installed (scripts/setup --prometheus)"""
    assert PROMETHEUS and PROMTOOL


@pytest.fixture
def gw(nginx, mocks):
    return nginx(harness.demo_conf(), **conftest.gateway_subst(mocks))


def promtool(*args, stdin=None):
    return subprocess.run([PROMTOOL] + list(args), input=stdin,
                          capture_output=True, text=True, cwd=DOCS + "/prometheus")


def test_promtool_check_metrics(gw, auth):
    assert gw.get(NATIVE["kambrium"] + "123", headers=auth).ok
    settled(gw, 1)

    text = gw.get("/metrics").text
    p = promtool("check", "metrics", stdin=text)

    # no error, and no lint problem (promtool prints them)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout + p.stderr == ""


def test_promtool_checks_the_alert_rules():
    p = promtool("check", "rules", "alerts.yml")
    assert p.returncode == 0 and "SUCCESS: 3 rules found" in p.stdout, \
        p.stdout + p.stderr

    p = promtool("test", "rules", "alerts_test.yml")
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


class Prometheus:
    """prometheus on loopback, scraping "target" every second"""

    def __init__(self, workdir, target):
        self.dir = os.path.join(workdir, "prometheus-%d" % harness.free_port())
        os.makedirs(self.dir)
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        conf = os.path.join(self.dir, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: mcp-gateway\n"
                    "    metrics_path: /metrics\n"
                    "    static_configs:\n"
                    "      - targets: ['%s']\n" % target)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = harness.spawn(
            [PROMETHEUS, "--config.file=" + conf,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stderr=self.log)
        harness.wait_port(self.port, self.proc, timeout=30)

    def query(self, expr):
        r = requests.get(self.url + "/api/v1/query", params={"query": expr},
                         timeout=10)
        body = r.json()
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def wait(self, expr, check, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if check(result) or time.monotonic() > deadline:
                return result
            time.sleep(0.2)

    def stop(self):
        harness.stop(self.proc)
        self.log.close()


@pytest.fixture
def prometheus(workdir, gw):
    p = Prometheus(workdir, "127.0.0.1:%d" % gw.port)
    yield p
    p.stop()


HIT_RATIO = ('sum(mcp_gateway_cache_results_total{result="hit"})'
             ' / sum(mcp_gateway_cache_results_total)')


def test_prometheus_scrapes_the_hit_ratio(gw, prometheus, auth):
    k = NATIVE["kambrium"] + "123"
    statuses = [gw.get(k, headers=auth).headers["X-Cache-Status"]
                for _ in range(4)]
    assert statuses == ["MISS", "HIT", "HIT", "HIT"]
    settled(gw, 4)

    up = prometheus.wait('up{job="mcp-gateway"}',
                         lambda r: r and r[0]["value"][1] == "1")
    assert up and up[0]["value"][1] == "1", up

    # the first scrapes may predate the traffic: the ratio once it is in
    result = prometheus.wait(HIT_RATIO,
                             lambda r: r and r[0]["value"][1] == "0.75")
    assert result and float(result[0]["value"][1]) == 0.75, result

    [info] = prometheus.query("mcp_gateway_build_info")
    assert info["metric"]["version"] == "0.1.0"


def expressions():
    """every PromQL expression of the dashboard and of the alerts"""
    with open(os.path.join(DOCS, "grafana", "mcp-gateway.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    with open(os.path.join(DOCS, "prometheus", "alerts.yml")) as f:
        exprs += re.findall(r"expr: \|\n((?:          .*\n)+)", f.read())
    # Grafana's own variables, as Grafana would fill them in
    return [e.replace("$__rate_interval", "1m").replace("$instance", ".*")
            for e in exprs]


def test_dashboard_and_alert_expressions_run(gw, prometheus, auth):
    assert gw.get(NATIVE["kambrium"] + "123", headers=auth).ok
    prometheus.wait("mcp_gateway_build_info", lambda r: r)

    exprs = expressions()
    assert len(exprs) >= 15
    for expr in exprs:
        prometheus.query(expr)          # status "success"
