"""Redis Cluster (issue #14): the cache speaks Cluster itself.  Against a
real cluster on loopback (redis-cli --cluster create): every seeded server
of every registry is cached and invalidated whatever master its slot is
on; a slot migrated under load (CLUSTER SETSLOT, MIGRATE: MOVED, ASK,
TRYAGAIN) fails no request and serves nothing stale; a master killed and
replaced by its replica (CLUSTER FAILOVER TAKEOVER) fails no request and
serves nothing stale after an acknowledged PUT.

The slot map comes from CLUSTER SLOTS; commands go to the primary of
their key's slot (ngx_http_mcp_redis_cluster.c).
"""

import os
import re
import threading
import time

import pytest
import redis
import requests
from redis.crc import key_slot

import redis_nodes
import test_cache as tc
from test_cache import status, token

# every seeded server of every registry (t/mocks/registry.py)
SERVERS = [("kambrium", "123"), ("kambrium", "srv_123abc"),
           ("barndoor", "123e4567-e89b-12d3-a456-426614174000"),
           ("barndoor", "9b2f6c1e-4d3a-4f8b-a1c2-3e4d5f6a7b8c"),
           ("gatana", "github-tools")]


# a PUT each registry accepts, and how its answer shows it
UPDATE = {
    "kambrium": lambda sid: (tc.NATIVE["kambrium"] + sid,
                             {"agent_enabled": False},
                             lambda j: j["data"]["agent_enabled"] is False),
    "barndoor": lambda sid: (canonical("barndoor", sid), {"name": "renamed"},
                             lambda j: j["name"] == "renamed"),
    "gatana": lambda sid: (canonical("gatana", sid),
                           {"name": "renamed", "slug": sid,
                            "remote": {"type": "sse",
                                       "url": "https://mcp.example/sse"},
                            "auth": {"method": "none"}},
                           lambda j: j["name"] == "renamed"),
}


def canonical(vendor, sid):
    return "/mcp-servers/%s/%s" % (vendor, sid)


def slot_of(vendor, sid):
    return key_slot(("{%s:%s}" % (vendor, sid)).encode())


@pytest.fixture
def cluster(workdir):
    made = []

    def make(replicas=0, tls=None):
        c = redis_nodes.Cluster(workdir, masters=3, replicas=replicas,
                                tls=tls)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


def cluster_gw(nginx, mocks, seeds, http="", **subst):
    return nginx(tc.conf(seeds, http=http), **dict(tc.ports(mocks), **subst))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("cluster-pki"))
    os.chmod(d, 0o755)
    ca = redis_nodes.CA(d)
    cert, key = ca.issue("redis", dns=["cluster.redis.test"],
                         ips=["127.0.0.1"], client="both")
    return dict(ca=ca.path, cert=cert, key=key)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_every_seeded_server_is_cached_and_invalidated(nginx, mocks,
                                                       demo_keys, cluster,
                                                       pki, tls):
    c = cluster(tls=pki if tls else None)
    # one seed: the rest of the cluster is found through CLUSTER SLOTS
    ngx = cluster_gw(nginx, mocks, "cluster=127.0.0.1:%d%s"
                     % (c.nodes[0].port, " tls" if tls else ""),
                     http="mcp_cache_redis_ssl_trusted_certificate %s;\n"
                          "mcp_cache_redis_ssl_name cluster.redis.test;"
                          % pki["ca"] if tls else "")
    alice = token(demo_keys)

    owners = {c.owner(slot_of(v, s)).port for v, s in SERVERS}
    assert len(owners) >= 2, "the servers' slots span several masters"

    for vendor, sid in SERVERS:
        for path in (tc.NATIVE[vendor] + sid, canonical(vendor, sid)):
            r = ngx.get(path, headers=alice)
            assert (r.status_code, status(r)) == (200, "MISS"), path
            r = ngx.get(path, headers=alice)
            assert (r.status_code, status(r)) == (200, "HIT"), path

    for vendor, sid in SERVERS:
        path, body, changed = UPDATE[vendor](sid)
        r = ngx.put(path, headers=alice, json=body)
        assert r.status_code == 200, r.text
        r = ngx.get(path, headers=alice)
        assert status(r) == "MISS" and changed(r.json()), r.text
        assert status(ngx.get(path, headers=alice)) == "HIT"
        other = canonical(vendor, sid) if path != canonical(vendor, sid) \
            else tc.NATIVE[vendor] + sid
        assert status(ngx.get(other, headers=alice)) == "MISS"

    # each server's keys are on the master of its slot, none elsewhere
    for vendor, sid in SERVERS:
        owner = c.owner(slot_of(vendor, sid)).client()
        assert owner.exists("mcp:{%s:%s}:entries" % (vendor, sid))
        owner.close()

    log = ngx.error_log()
    assert tc.WARN.findall(log) == [], log
    assert "[error]" not in log and "[crit]" not in log


class Load:
    """GETs of several servers (and PUTs of one) from threads, until
    stopped: every answer, when its request started, what name it had"""

    def __init__(self, ngx, headers, vendor, sid, readers=4):
        self.ngx = ngx
        self.headers = headers
        self.vendor, self.sid = vendor, sid
        self.others = [s for s in SERVERS if s != (vendor, sid)]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.reads = []         # (started, index of the name seen)
        self.acks = []          # (acknowledged, index of the name put)
        self.answers = []       # (status code, cache status, path)
        self.threads = [threading.Thread(target=self.read, args=(i,))
                        for i in range(readers)]
        self.threads.append(threading.Thread(target=self.write))

    def __enter__(self):
        # every server cached first
        for vendor, sid in SERVERS:
            self.ngx.get(canonical(vendor, sid), headers=self.headers)
        r = self.ngx.get(canonical(self.vendor, self.sid),
                         headers=self.headers)
        assert status(r) == "HIT"
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def get(self, path):
        try:
            r = self.ngx.get(path, headers=self.headers, timeout=10)
        except requests.RequestException as e:
            with self.lock:
                self.answers.append((repr(e), None, path))
            return None
        with self.lock:
            self.answers.append((r.status_code, status(r), path))
        return r

    def read(self, i):
        mine = canonical(self.vendor, self.sid)
        n = 0
        while not self.stop.is_set():
            n += 1
            if n % 2:
                vendor, sid = self.others[(i + n) % len(self.others)]
                self.get(canonical(vendor, sid))
                continue
            started = time.monotonic()
            r = self.get(mine)
            if r is not None and r.status_code == 200:
                name = r.json()["name"]
                index = int(name[1:]) if name.startswith("#") else -1
                with self.lock:
                    self.reads.append((started, index))

    def write(self):
        i = 0
        while not self.stop.is_set():
            r = self.ngx.put(canonical(self.vendor, self.sid),
                             headers=self.headers, json={"name": "#%d" % i},
                             timeout=10)
            with self.lock:
                self.answers.append((r.status_code, None, "PUT"))
                if r.status_code == 200:
                    self.acks.append((time.monotonic(), i))
            i += 1
            time.sleep(0.05)

    def check(self):
        # no read fails; a write may be refused (503, nothing forwarded:
        # mcp_cache_consistency strict) while its slot has no primary
        codes = [a[0] for a in self.answers if a[2] != "PUT"]
        assert codes and set(codes) == {200}, \
            [a for a in self.answers if a[0] != 200][:5]
        puts = [a[0] for a in self.answers if a[2] == "PUT"]
        assert set(puts) <= {200, 503}, puts
        # a read that started after a PUT was acknowledged sees that PUT
        # or a later one
        stale = []
        for started, index in self.reads:
            acked = [i for t, i in self.acks if t < started]
            if acked and index < max(acked):
                stale.append((started, index, max(acked)))
        assert not stale, stale[:5]
        assert len(self.acks) >= 3 and len(self.reads) >= 10
        caches = [a[1] for a in self.answers if a[1]]
        return {s: caches.count(s) for s in set(caches)}


def migrate(c, slot, src, dst, pause=0.3):
    """the slot from src to dst as redis-cli --cluster reshard does it,
    with pauses where the client sees ASK (and TRYAGAIN)"""
    src_c, dst_c = src.client(), dst.client()
    src_id, dst_id = src.node_id(), dst.node_id()
    dst_c.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src_c.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    time.sleep(pause)
    while True:
        keys = src_c.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
        if not keys:
            break
        for key in keys:
            # one at a time: between two, some keys are on each side
            src_c.execute_command("MIGRATE", "127.0.0.1", dst.port, "", 0,
                                  5000, "REPLACE", "KEYS", key)
            time.sleep(0.05)
    for n in [dst, src] + [m for m in c.masters() if m not in (src, dst)]:
        cl = n.client()
        cl.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        cl.close()
    src_c.close()
    dst_c.close()


def test_a_slot_migrated_under_load(nginx, mocks, demo_keys, cluster):
    c = cluster()
    # at debug level the gateway says each redirection it follows
    ngx = cluster_gw(nginx, mocks, "cluster=127.0.0.1:%d" % c.nodes[0].port,
                     MCP_LOG_LEVEL="debug")
    alice = token(demo_keys)
    vendor, sid = "barndoor", "123e4567-e89b-12d3-a456-426614174000"
    slot = slot_of(vendor, sid)
    src = c.owner(slot)
    dst = next(m for m in c.masters() if m is not src)
    with Load(ngx, alice, vendor, sid) as load:
        time.sleep(0.5)
        migrate(c, slot, src, dst)
        c.wait_ok()
        time.sleep(0.5)
    seen = load.check()
    print("during the migration:", seen)

    # the gateway saw the migration: redirected, asked, told to try again
    log = ngx.error_log()
    said = {k: len(re.findall(r"mcp redis cluster: %s" % k, log))
            for k in ("MOVED", "ASK", "TRYAGAIN")}
    print("redirections:", said)
    assert said["MOVED"] >= 1 and said["ASK"] + said["TRYAGAIN"] >= 1

    assert c.owner(slot) is dst
    # the gateway follows the slot: cached on its new master
    r = ngx.get(canonical(vendor, sid), headers=alice)
    assert status(r) in ("HIT", "MISS")
    assert status(ngx.get(canonical(vendor, sid), headers=alice)) == "HIT"
    d = dst.client()
    assert d.exists("mcp:{%s:%s}:entries" % (vendor, sid))
    d.close()
    s = src.client()
    with pytest.raises(redis.ResponseError, match="MOVED"):
        s.exists("mcp:{%s:%s}:entries" % (vendor, sid))
    s.close()
    # the servers that did not move never missed the cache
    others_answers = [a for a in load.answers
                      if a[2] != canonical(vendor, sid) and a[2] != "PUT"]
    assert [a for a in others_answers if a[1] == "ERROR"] == []

    assert tc.WARN.findall(log) == [], log


def test_a_master_replaced_by_its_replica(nginx, mocks, demo_keys, cluster):
    c = cluster(replicas=1)
    # at debug level: the run id each primary is trusted with
    ngx = cluster_gw(nginx, mocks, c.seeds(), MCP_LOG_LEVEL="debug")
    alice = token(demo_keys)
    vendor, sid = "barndoor", "9b2f6c1e-4d3a-4f8b-a1c2-3e4d5f6a7b8c"
    slot = slot_of(vendor, sid)
    master = c.owner(slot)
    replica = c.replica_of(master)
    run_id = {}
    for n in (master, replica):
        nc = n.client()
        run_id[n.port] = nc.info("server")["run_id"]
        nc.close()
    with Load(ngx, alice, vendor, sid) as load:
        time.sleep(0.5)
        master.stop(kill=True)
        replica.client().execute_command("CLUSTER", "FAILOVER", "TAKEOVER")
        deadline = time.monotonic() + 20
        while replica.role() != "master" and time.monotonic() < deadline:
            time.sleep(0.05)
        c.wait_ok()
        time.sleep(1.0)
    seen = load.check()
    print("during the failover:", seen)

    assert c.owner(slot) is replica
    r = ngx.get(canonical(vendor, sid), headers=alice)
    assert status(r) in ("HIT", "MISS")
    assert status(ngx.get(canonical(vendor, sid), headers=alice)) == "HIT"

    # the slot's primary was trusted with the master's run id, then with
    # the replica's: what the cache stamps its entries with changed
    for trusted in redis_nodes.run_ids(ngx.error_log()).values():
        assert (master.port, run_id[master.port]) in trusted
        assert (replica.port, run_id[replica.port]) in trusted
        assert trusted.index((master.port, run_id[master.port])) < \
            trusted.index((replica.port, run_id[replica.port]))

    # the master's failure was said once per worker, no more
    log = ngx.error_log()
    warned = tc.warnings_by_worker(log)
    assert set(warned.values()) <= {1}, log
    assert "[crit]" not in log


def test_configuration(nginx, mocks):
    for redis, message in [
            ("cluster=127.0.0.1:7000 db=1", "a cluster has database 0 only"),
            ("cluster=127.0.0.1:7000 sentinel=127.0.0.1:26379",
             "takes one of"),
            ("127.0.0.1:6379 cluster=127.0.0.1:7000", "takes one of"),
            ("cluster=127.0.0.1:7000 cluster=127.0.0.1:7001 tls", None)]:
        http = "mcp_cache_redis_ssl_verify off;" if "tls" in redis else ""
        ngx = nginx(tc.conf(redis, http=http), start=False, **tc.ports(mocks))
        rc, out = ngx.test_config()
        if message is None:
            assert rc == 0, out
        else:
            assert rc != 0 and message in out, out


def test_a_cluster_node_addressed_as_one_redis_says_so(nginx, mocks,
                                                       demo_keys, cluster):
    """the symptom of issue #14: a cluster's node given as a single Redis
    caches only the ids of its own slots; now the warning says why"""
    c = cluster()
    ngx = cluster_gw(nginx, mocks, "127.0.0.1:%d" % c.nodes[0].port)
    alice = token(demo_keys)
    mine = [(v, s) for v, s in SERVERS
            if c.owner(slot_of(v, s)) is c.nodes[0]]
    theirs = [(v, s) for v, s in SERVERS if (v, s) not in mine]
    assert theirs
    for vendor, sid in theirs:
        r = ngx.get(canonical(vendor, sid), headers=alice)
        assert (r.status_code, status(r)) == (200, "ERROR")
    log = ngx.error_log()
    lines = [l for l in log.splitlines() if "unavailable" in l]
    assert lines and all("a Redis Cluster's node (\"mcp_cache_redis "
                         "cluster=...\")" in l for l in lines), lines
