"""The cache never serves an answer older than an acknowledged PUT (issue
#11): through Sentinel failover, kill -9 of the primary, Redis restarted
empty, a node cut off from Redis (and reloaded meanwhile), a Redis stall,
a PUT whose outcome the gateway does not know, a reload while Redis is
paused, and two spellings of one Barndoor id.

Each scenario runs two gateway nodes of two workers (docs/examples/demo.conf
with the cache on), real redis-server and redis-sentinel processes, bounded
GET load on both nodes and a PUT of a new name every 500 ms, and counts
(t/fault.py): stale reads (a GET sent after the 2xx of a PUT of version n
that answered an older version), failed GETs, PUT outcomes, and the
registry's GETs during an outage.  In strict mode (the default) no read is
stale, no GET fails, and a PUT is either a 2xx or a 503 with a JSON
"detail" (the primary was not reachable: nothing was forwarded).  In
relaxed mode a PUT is always forwarded, and other nodes may serve the old
answer for at most the bound (mcp_cache_ttl).

MCP_FAULT_LEGACY=1 runs the same scenarios in the configuration language of
today's module (the primary's address instead of sentinel=, no
mcp_cache_consistency); MCP_SOAK=1 (make test-soak) makes every load last
six times longer and repeats the scenarios that depend on chance.
"""

import math
import time

import pytest

import fault
import harness
import metrics
import tokens
from fault import SOAK, Load, Tally

# how long the cache's Redis commands may take: shorter than the default,
# so that a stall or a partition is noticed quickly
REDIS_TIMEOUTS = ["mcp_cache_redis_timeout 300ms",
                  "mcp_cache_redis_connect_timeout 300ms"]


@pytest.fixture
def auth(demo_keys):
    """a caller's headers: read and write, valid for the longest soak"""
    return tokens.bearer(tokens.mint(demo_keys,
                                     exp=int(time.time()) + 3600))


@pytest.fixture
def under_load(nginx, mocks, auth, workdir):
    """Starts gateway nodes, {name: what follows mcp_cache_redis}, two
    workers each, in front of the session's mock registries (stopped, and
    their logs checked for alerts, by the nginx fixture); then the GET
    load on every node ("load": Load's options) and PUTs through the nodes
    "via" in turn (none if empty), for "warm" s: by default a quarter of a
    second after a PUT, so that a fault starts once the cache holds its
    answer again, not between its invalidation and the next store.
    Returns (nodes, load); the load stops when the test ends, if the test
    has not stopped it."""
    ports = dict(KAMBRIUM_PORT=mocks["kambrium"].port,
                 BARNDOOR_PORT=mocks["barndoor"].port,
                 GATANA_PORT=mocks["gatana"].port)
    started = []
    fault.RECORDS_DIR = workdir

    def start(redis_by_node, via=("a", "b"), warm=2.25, put_paths=None,
              http=(), load=None, **conf):
        nodes = {}
        for node, directive in redis_by_node.items():
            text = fault.gateway_conf(directive, list(REDIS_TIMEOUTS)
                                      + list(http), **conf)
            nodes[node] = nginx(text, name="node-" + node, **ports)
        driver = Load(nodes, auth, **(load or {}))
        started.append(driver)
        driver.start()
        if via:
            driver.start_puts(via, paths=put_paths)
        run_for(warm)
        return nodes, driver

    yield start
    for driver in started:
        driver.stop()


@pytest.fixture
def sentinels(workdir):
    """a factory of SentinelGroups (primary, replica, three sentinels),
    each stopped when the test ends"""
    started = []

    def make(**kw):
        group = fault.SentinelGroup(workdir, **kw)
        started.append(group)
        return group

    yield make
    for group in started:
        group.stop()


@pytest.fixture
def proxies():
    started = []

    def make(port):
        proxy = fault.TcpProxy(port)
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


def direct(server):
    return "127.0.0.1:%d" % server.port


def both(server):
    """nodes a and b on one redis-server"""
    return {"a": direct(server), "b": direct(server)}


def seconds(n):
    """a phase of a scenario's load: longer in a soak"""
    return n * SOAK


def run_for(duration):
    """the load runs on meanwhile (the driver's threads)"""
    time.sleep(duration)


def connected(port, workers):
    """at least "workers" gateway workers hold a connection to Redis"""
    return lambda: len(fault.gateway_clients(port)) >= workers


def examples(pairs, n=3):
    return "; ".join("%s %s sent %.2f s after the 2xx: v%s (%s, worker %s)"
                     % (r.node, r.path, age, r.version, r.cache, r.worker)
                     for r, age in pairs[:n])


def check_strict(scenario, tally, extra="", unknown=()):
    """stale reads 0, failed GETs 0, every PUT a 2xx or a 503 with a JSON
    detail (but those in "unknown", whose outcome the gateway cannot
    know)"""
    line = fault.summarize(scenario, tally, fault.mode_label("strict"),
                           extra)
    assert len(tally.failed) == 0, "%s\nfailed GETs, e.g. %s" % (
        line, tally.failed[:3])
    bad = [r for r in tally.bad_puts if r not in unknown]
    assert bad == [], "%s\nPUTs neither 2xx nor 503 {detail}: %s" % (
        line, bad[:3])
    assert len(tally.stale) == 0, "%s\nstale reads, e.g. %s" % (
        line, examples(tally.stale))
    return line


def following(tally, since):
    """once the fault is over, the gateway works with Redis again: PUTs
    are acknowledged, GETs are hits"""
    assert tally.acked_since(since) >= 3, "no PUT acknowledged after the fault"
    assert tally.hits_since(since) > 0, "no hit after the fault"


def acknowledged(tally):
    return sum(n for s, n in tally.puts.items()
               if isinstance(s, int) and 200 <= s < 300)


# -- the harness itself -------------------------------------------------------

def test_the_checker_counts_stale_reads_and_their_age():
    R = fault.Record
    records = [
        R("PUT", "a", "/p", 1.0, 2.0, 200, 1, None, None, None, b"{}"),
        R("PUT", "a", "/p", 3.0, 4.0, 503, 2, None, None, None,
          b'{"detail": "no redis"}'),
        R("PUT", "b", "/p", 5.0, 6.0, 200, 3, None, None, None, b"{}"),
        R("PUT", "b", "/p", 7.0, 8.0, 502, 4, None, None, None, b"{}"),
        # before the first 2xx: anything goes
        R("GET", "a", "/g", 1.5, 1.6, 200, 0, "HIT", 1, None, None),
        # after it: version 0 is stale, 1 and 2 are not
        R("GET", "b", "/g", 2.5, 2.6, 200, 0, "HIT", 1, None, None),
        R("GET", "b", "/g", 2.5, 2.6, 200, 1, "HIT", 1, None, None),
        # sent before the 2xx of v3 came back: v1 is not stale yet
        R("GET", "a", "/g", 5.9, 6.1, 200, 1, "HIT", 1, None, None),
        # 3.5 s after v3's 2xx (and 7.5 s after v1's): v1 and v0 stale
        R("GET", "a", "/g", 9.5, 9.6, 200, 1, "HIT", 1, None, None),
        R("GET", "b", "/g", 9.5, 9.6, 200, 0, "HIT", 1, None, None),
        # v3 is the newest acknowledged at 9.2 s
        R("GET", "a", "/g", 9.2, 9.3, 200, 3, "HIT", 1, None, None),
        # failed
        R("GET", "a", "/g", 9.7, 9.8, 502, None, "ERROR", 1, None, b"x"),
        R("GET", "a", "/g", 9.7, 9.8, None, None, None, None, "reset", None),
    ]
    t = Tally(records, bound=4.0)
    assert [(r.sent, r.version, age) for r, age in t.stale] == \
        [(2.5, 0, 0.5), (9.5, 1, 3.5), (9.5, 0, 7.5)]
    assert [(r.version, age) for r, age in t.beyond] == [(0, 7.5)]
    assert len(t.failed) == 2
    assert [r.version for r in t.bad_puts] == [4]
    assert t.puts == {200: 2, 503: 1, 502: 1}
    # an acknowledgement from elsewhere (a PUT applied after its 504)
    t = Tally(records, acks=[(9.0, 4)])
    assert len(t.stale) == 4


def test_no_fault_no_stale_read(under_load, redis_server):
    """the control: with nothing failing, the load and the checker find
    nothing (so what the other scenarios count is the fault's doing)"""
    nodes, load = under_load(both(redis_server), warm=seconds(4))
    tally = Tally(load.stop())
    check_strict("no fault", tally)
    assert acknowledged(tally) >= 6
    assert tally.cache["HIT"] > tally.cache["MISS"] > 0
    if fault.L1:
        # and the L1 served some of the hits, on each node
        l1 = {}
        for name, node in nodes.items():
            _, samples = metrics.scrape(node)
            l1[name] = metrics.value(samples,
                                     "mcp_gateway_cache_l1_hits_total")
        print("L1 hits by node: %s of %d hits" % (l1, tally.cache["HIT"]))
        assert all(l1.values()), l1


# -- Sentinel -----------------------------------------------------------------

def test_sentinel_failover(under_load, sentinels, mocks):
    """SENTINEL FAILOVER under load: the old primary is demoted and keeps
    answering reads; the gateway follows the new primary, and an
    invalidation counts only once a replica has it (wait_replicas=1)"""
    group = sentinels()
    _, load = under_load({"a": group.directive(), "b": group.directive()})
    outage = fault.Outage(mocks["barndoor"])
    for _ in range(SOAK):           # in a soak, back and forth
        with outage:
            group.failover()
        over = time.monotonic()
        run_for(6)
    load.stop_puts()
    run_for(1)
    tally = Tally(load.stop())
    check_strict("Sentinel failover", tally,
                 "%s, then %d PUTs acknowledged"
                 % (outage, tally.acked_since(over)))
    following(tally, over)


def test_primary_killed_comes_back_as_a_replica(under_load, sentinels,
                                                mocks):
    """kill -9 of the primary under load; the sentinels promote the
    replica; the old primary comes back on its port with its pre-crash
    data (its append-only file) and is made a replica.  While the replica
    has no replica of its own, wait_replicas=1 cannot be met: PUTs are
    503 until the old primary has synced"""
    group = sentinels(persist=True)
    _, load = under_load({"a": group.directive(), "b": group.directive()})
    outage = fault.Outage(mocks["barndoor"])
    promoted = []
    for _ in range(SOAK):           # in a soak, each in turn
        with outage:
            start = time.monotonic()
            dead = group.kill_primary()
            group.wait_promoted()
            promoted.append("%.1f" % (time.monotonic() - start))
            group.restart(dead)
            group.wait_replica_of(dead.port, group.primary.port)
        over = time.monotonic()
        run_for(5)
    load.stop_puts()
    run_for(1)
    tally = Tally(load.stop())
    check_strict("primary killed, back as a replica", tally,
                 "replica promoted after %s s, %s (until the old primary "
                 "is its replica), then %d PUTs acknowledged"
                 % ("/".join(promoted), outage, tally.acked_since(over)))
    following(tally, over)


# -- one Redis ----------------------------------------------------------------

def test_redis_restarted_empty(under_load, redis_server, mocks):
    """Redis stops and comes back empty; the workers reconnect apart
    (backoff and jitter): a PUT through one that has not reconnected yet
    must not be acknowledged while the others serve and store (the
    registry answers 100 ms after it reads: a fetch may straddle a PUT)"""
    mocks["barndoor"].fault("late", delay_ms=100, methods=["GET"])
    _, load = under_load(both(redis_server))
    outage = fault.Outage(mocks["barndoor"])
    for _ in range(3 * SOAK):      # whether workers come back apart is chance
        with outage:
            redis_server.stop()
            # about when the workers' fifth attempts fall (0.1 + 0.2 +
            # 0.4 + 0.8 + 1.6 s, each +-25%): some are back at once, the
            # others 3.2 s later
            run_for(3)
            redis_server.start()
            # every worker of both nodes has its connection again
            fault.wait_for(connected(redis_server.port, 4), 20,
                           what="4 workers connected")
        over = time.monotonic()
        run_for(1.5)
    load.stop_puts()
    run_for(1)
    tally = Tally(load.stop())
    check_strict("Redis restarted empty", tally,
                 "%s (until all workers were back)" % outage)
    following(tally, over)


@pytest.mark.parametrize("cut,reload", [("blackhole", False),
                                        ("refuse", True)],
                         ids=["cut-off", "cut-off-and-reloaded"])
def test_one_node_cut_off(under_load, redis_server, proxies, mocks, cut,
                          reload):
    """node a loses Redis (a partition: its commands go unanswered; or
    refused), and takes the PUTs meanwhile; node b still reaches Redis and
    serves.  Reloaded while cut off, a node keeps what it still has to
    invalidate (shared memory)."""
    proxy = proxies(redis_server.port)
    nodes, load = under_load({"a": "127.0.0.1:%d" % proxy.port,
                              "b": direct(redis_server)})
    with fault.Outage(mocks["barndoor"]) as outage:
        proxy.cut(cut)
        start = time.monotonic()
        load.start_puts(via=["a"])
        run_for(2.5)
        load.stop_puts()
        if reload:
            fault.reload_and_wait(nodes["a"])
        run_for(1)
        proxy.heal()
    healed = time.monotonic()
    run_for(seconds(6))
    tally = Tally(load.stop())
    check_strict("node cut off (%s)%s" % (cut, ", reloaded" if reload
                                          else ""), tally, str(outage))
    assert acknowledged(tally) >= 3
    # the other node was read while the fault lasted (not starved of CPU)
    assert tally.gets_between("b", start, healed) >= 100


def test_a_stall_longer_than_the_timeout(under_load, redis_server, mocks):
    """Redis answers nothing for 2.5 s (SIGSTOP) while node a has 24
    concurrent clients and the registry takes 250 ms per GET: the pending
    commands time out together, but the registry is not stampeded: at most
    one GET of the server in flight per worker (2 per node) over the
    stall"""
    mocks["barndoor"].fault("latency", delay_ms=250, methods=["GET"])
    nodes, load = under_load(both(redis_server), load=dict(
        pace=0.1, threads_per_node={"a": 24, "b": 3}))
    outage = fault.Outage(mocks["barndoor"])
    with fault.stalled(redis_server), outage:
        run_for(2.5)
    fault.wait_for(connected(redis_server.port, 4), 20,
                   what="4 workers connected")
    run_for(seconds(3))
    load.stop_puts()
    tally = Tally(load.stop())
    bound = len(nodes) * 2 * (math.ceil(outage.seconds / 0.25) + 1)
    check_strict("stall beyond the timeout", tally,
                 "%s (bound %d)" % (outage, bound))
    assert outage.gets <= bound


def test_a_put_that_times_out_but_is_applied(under_load, redis_server, mocks):
    """the registry applies a PUT after the gateway gave up on it (504):
    a write whose outcome is unknown invalidates as surely as one that
    succeeded, so no GET sent once the registry has the new name gets the
    old one"""
    _, load = under_load(both(redis_server), via=(), warm=0,
                         read_timeout="2s")
    first = load.put("a")
    assert first.status == 200
    run_for(1.5)
    mocks["barndoor"].fault("latency", delay_ms=2500, methods=["PUT"],
                            count=1)
    slow = load.put("b")
    assert slow.status in (502, 503, 504), slow

    # the registry has it a moment after the gateway's 504
    fault.wait_for(lambda: fault.registry_version(mocks["barndoor"])
                   == slow.version, 10, what="the slow PUT applied")
    seen = time.monotonic()
    run_for(seconds(4))
    tally = Tally(load.stop(), acks=[(seen, slow.version)])
    check_strict("PUT timed out, applied upstream", tally,
                 "PUT answered %s after %.1f s" % (slow.status,
                                                    slow.done - slow.sent),
                 unknown=[slow])


def test_a_reload_while_redis_is_paused(under_load, redis_server, mocks):
    """PUTs through node a while Redis does not answer, then a reload of
    node a: what it still had to invalidate is not lost"""
    nodes, load = under_load(both(redis_server), via=("a",))
    outage = fault.Outage(mocks["barndoor"])
    with fault.paused(redis_server, 4000) as end, outage:
        run_for(1.5)
        load.stop_puts()
        fault.reload_and_wait(nodes["a"])
        assert time.monotonic() < end, "reloaded after the pause"
    run_for(seconds(5))
    tally = Tally(load.stop())
    check_strict("reload while Redis is paused", tally, str(outage))
    assert acknowledged(tally) >= 3


def test_two_spellings_of_one_barndoor_id(under_load, redis_server):
    """a Barndoor UUID in upper case names the same server: a PUT through
    one spelling leaves no answer of the other in the cache"""
    upper = harness.NATIVE["barndoor"] + fault.SERVER.upper()
    lower = fault.NATIVE_PATH
    _, load = under_load(both(redis_server), put_paths=[lower, upper],
                         load=dict(paths=(upper, lower, fault.CANONICAL_PATH)),
                         warm=seconds(4))
    tally = Tally(load.stop())
    check_strict("Barndoor id in two spellings", tally)
    assert acknowledged(tally) >= 6


# -- relaxed ------------------------------------------------------------------

def test_relaxed_mode_is_stale_no_longer_than_the_ttl(under_load, redis_server,
                                                      proxies, mocks):
    """mcp_cache_consistency relaxed: node a, cut off from Redis and
    reloaded meanwhile, forwards and acknowledges every PUT; node b may
    serve the old answer, but never longer than mcp_cache_ttl after the
    PUT's 2xx; the registry answers 300 ms after it reads the record, so a
    fetch often straddles a PUT, and its answer predates the PUT's 2xx:
    such an answer, stored, must not outlive the bound either"""
    ttl = 3
    proxy = proxies(redis_server.port)
    mocks["barndoor"].fault("late", delay_ms=300, methods=["GET"])
    nodes, load = under_load({"a": "127.0.0.1:%d" % proxy.port,
                              "b": direct(redis_server)},
                             http=fault.consistency("relaxed"),
                             ttl="%ds" % ttl)
    with fault.Outage(mocks["barndoor"]) as outage:
        proxy.cut("blackhole")
        load.start_puts(via=["a"])
        run_for(seconds(3))
        fault.reload_and_wait(nodes["a"])
        run_for(seconds(6))
        load.stop_puts()
        proxy.heal()
    run_for(2)
    tally = Tally(load.stop(), bound=ttl)
    line = fault.summarize("relaxed, node cut off and reloaded", tally,
                           fault.mode_label("relaxed"), str(outage))
    assert len(tally.failed) == 0, line
    puts = [s for s in tally.puts if not (isinstance(s, int)
                                          and 200 <= s < 300)]
    assert puts == [], "%s\nevery PUT is acknowledged in relaxed mode" % line
    assert len(tally.beyond) == 0, "%s\nstale beyond the bound, e.g. %s" % (
        line, examples(tally.beyond))
