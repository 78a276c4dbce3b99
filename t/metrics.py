"""Reading the gateway's metrics as Prometheus would: the exposition
parsed with prometheus_client's parsers (OpenMetrics' is strict), into
{(sample name, ((label, value), ...)): value}."""

import time

from prometheus_client.openmetrics import parser as om_parser
from prometheus_client import parser as text_parser

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4; charset=utf-8"


def scrape(ngx, openmetrics=False):
    """(raw text, samples) of the gateway's /metrics"""
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"} \
        if openmetrics else {}
    r = ngx.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == (OPENMETRICS if openmetrics
                                         else TEXT)
    parse = (om_parser.text_string_to_metric_families if openmetrics
             else text_parser.text_string_to_metric_families)
    samples = {}
    for family in parse(r.text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, key
            samples[key] = s.value
    return r.text, samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples, name, **labels):
    """the sum over the series of "name" that have these labels"""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def settled(ngx, requests, timeout=10.0):
    """the samples once the gateway counted that many requests to its
    registry routes: a request is counted in its log phase, just after
    the client has its answer, perhaps after the next request started"""
    samples = wait_for(ngx, lambda s: total(
        s, "mcp_gateway_requests_total") >= requests, timeout)
    assert total(samples, "mcp_gateway_requests_total") == requests
    return samples


def wait_for(ngx, check, timeout=10.0):
    """polls the metrics until check(samples) holds; returns them"""
    deadline = time.monotonic() + timeout
    while True:
        _, samples = scrape(ngx)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
