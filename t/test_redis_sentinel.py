"""Redis Sentinel (issue #11, the client's part): "mcp_cache_redis
sentinel=... master=name" asks the sentinels where the primary is, checks
it is one (ROLE), follows +switch-master, and asks again after every
reconnect (ngx_http_mcp_redis_sentinel.c).  Real redis-sentinel processes
on loopback; the multi-node fault suite (t/test_coherence.py) is another
branch's.
"""

import re
import time

import pytest
import redis

import harness
import redis_nodes
import test_cache as tc
from test_cache import native, status, token, wait_for

MASTER = "mymaster"

SWITCHED = re.compile(r"\[notice\] (\d+)#\d+: mcp cache: redis master "
                      r"\"mymaster\" is at 127\.0\.0\.1:(\d+) now "
                      r"\(\+switch-master\)")


class Set:
    """a primary, its replica, and sentinels watching them"""

    def __init__(self, workdir, sentinels=2, auth=(), sentinel_conf=""):
        self.primary = harness.Redis(workdir, args=list(auth))
        self.replica = harness.Redis(
            workdir, args=["--replicaof", "127.0.0.1",
                           str(self.primary.port)] + list(auth)
            + (["--masterauth", auth[1]] if auth else []))
        self.sentinels = []
        for _ in range(sentinels):
            self.sentinels.append(redis_nodes.Sentinel(
                workdir, MASTER, self.primary.port,
                extra=("sentinel auth-pass %s %s\n" % (MASTER, auth[1])
                       if auth else "") + sentinel_conf))

    def seeds(self):
        return " ".join("sentinel=127.0.0.1:%d" % s.port
                        for s in self.sentinels)

    def wait_replica_known(self):
        """the sentinel knows the replica, in sync: it can fail over"""
        def known():
            c = self.sentinels[0].client()
            try:
                for r in c.execute_command("SENTINEL", "REPLICAS", MASTER):
                    info = dict(zip(r[::2], r[1::2]))
                    if (int(info[b"port"]) == self.replica.port
                            and b"s_down" not in info[b"flags"]
                            and info.get(b"master-link-status") == b"ok"):
                        return True
            finally:
                c.close()
            return False
        assert wait_for(known, timeout=20), "the sentinel knows no replica"

    def stop(self):
        for s in self.sentinels:
            s.stop()
        self.replica.stop()
        self.primary.stop()


@pytest.fixture
def sentinel_set(workdir):
    made = []

    def make(**kw):
        s = Set(workdir, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def entries(server, vendor, password=None):
    c = harness_client(server, password)
    try:
        return c.exists("mcp:{%s:%s}:entries" % (vendor, harness.SEED[vendor]))
    finally:
        c.close()


def harness_client(server, password=None):
    return redis.Redis(port=server.port, password=password)


def test_the_primary_is_found_through_the_sentinels(nginx, mocks, demo_keys,
                                                    sentinel_set):
    s = sentinel_set()
    ngx = nginx(tc.conf("%s master=%s" % (s.seeds(), MASTER)),
                **tc.ports(mocks))
    alice = token(demo_keys)

    ngx.get(native("kambrium"), headers=alice)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert entries(s.primary, "kambrium")

    r = ngx.put(native("kambrium"), headers=alice,
                json={"agent_enabled": False})
    assert r.status_code == 200
    assert not entries(s.primary, "kambrium")
    log = ngx.error_log()
    assert tc.WARN.findall(log) == [] and "sentinel" not in log, log


def server_run_id(server):
    c = harness_client(server)
    try:
        return c.info("server")["run_id"]
    finally:
        c.close()


def test_a_sentinel_failover_is_followed(nginx, mocks, demo_keys,
                                         sentinel_set):
    s = sentinel_set()
    # at debug level: the run id each primary is trusted with
    ngx = nginx(tc.conf("%s master=%s" % (s.seeds(), MASTER)),
                MCP_LOG_LEVEL="debug", **tc.ports(mocks))
    alice = token(demo_keys)
    path = native("barndoor")
    ngx.get(path, headers=alice)
    assert status(ngx.get(path, headers=alice)) == "HIT"
    s.wait_replica_known()

    c = s.sentinels[0].client()
    assert c.execute_command("SENTINEL", "FAILOVER", MASTER)
    c.close()

    # both workers hear of it, and go to the new primary
    def switched():
        return {p for p, port in SWITCHED.findall(ngx.error_log())
                if int(port) == s.replica.port}
    assert wait_for(lambda: len(switched()) == 2, timeout=30), \
        ngx.error_log()
    assert s.sentinels[0].master(MASTER)[1] == s.replica.port

    # served, invalidated and stored on the new primary
    put = ngx.put(path, headers=alice, json={"name": "After Failover"})
    assert put.status_code == 200
    assert not entries(s.replica, "barndoor")

    def fresh():
        r = ngx.get(path, headers=alice)
        return (r.status_code == 200 and r.json()["name"] == "After Failover"
                and status(r) == "HIT")
    assert wait_for(fresh, timeout=10)
    assert entries(s.replica, "barndoor")

    # the run id the cache stamps entries with changed with the primary
    ids = redis_nodes.run_ids(ngx.error_log())
    assert len(ids) == 2
    for trusted in ids.values():
        assert trusted[0] == (s.primary.port, server_run_id(s.primary))
        assert trusted[-1] == (s.replica.port, server_run_id(s.replica))


def test_a_replica_is_refused(nginx, mocks, demo_keys, workdir):
    """a sentinel that names a replica (here: it watches one) does not
    send the cache there: ROLE is checked, the refusal said once"""
    primary = harness.Redis(workdir)
    replica = harness.Redis(workdir, args=["--replicaof", "127.0.0.1",
                                           str(primary.port)])
    sentinel = redis_nodes.Sentinel(workdir, MASTER, replica.port)
    try:
        ngx = nginx(tc.conf("sentinel=127.0.0.1:%d master=%s"
                            % (sentinel.port, MASTER)), **tc.ports(mocks))
        alice = token(demo_keys)
        for _ in range(4):
            r = ngx.get(native("gatana"), headers=alice)
            assert (r.status_code, status(r)) == (200, "ERROR")
        log = ngx.error_log()
        assert set(tc.warnings_by_worker(log).values()) == {1}, log
        assert "not a primary" in log
        c = harness_client(primary)
        assert c.dbsize() == 0
        c.close()
    finally:
        sentinel.stop()
        replica.stop()
        primary.stop()


def test_a_sentinel_down_is_passed_over(nginx, mocks, demo_keys,
                                        sentinel_set):
    s = sentinel_set(sentinels=1)
    dead = harness.free_port()
    ngx = nginx(tc.conf("sentinel=127.0.0.1:%d %s master=%s"
                        % (dead, s.seeds(), MASTER)), **tc.ports(mocks))
    alice = token(demo_keys)
    ngx.get(native("gatana"), headers=alice)
    assert status(ngx.get(native("gatana"), headers=alice)) == "HIT"
    log = ngx.error_log()
    # the dead sentinel is said (once per worker), the cache never failed
    assert tc.WARN.findall(log) == [], log
    said = re.findall(r"\[warn\] (\d+)#\d+: mcp cache: redis sentinel "
                      r"127\.0\.0\.1:%d unavailable" % dead, log)
    assert said and len(said) == len(set(said))


def test_passwords_of_redis_and_of_the_sentinels(nginx, mocks, demo_keys,
                                                 sentinel_set, tmp_path):
    secret, sentinel_secret = "redis-pw-7", "sentinel-pw-9"
    s = sentinel_set(sentinels=1, auth=("--requirepass", secret),
                     sentinel_conf="requirepass %s\n" % sentinel_secret)
    pw, spw = tmp_path / "pw", tmp_path / "spw"
    pw.write_text(secret + "\n")
    spw.write_text(sentinel_secret + "\n")
    ngx = nginx(tc.conf("%s master=%s password_file=%s "
                        "sentinel_password_file=%s"
                        % (s.seeds(), MASTER, pw, spw)), **tc.ports(mocks))
    alice = token(demo_keys)
    ngx.get(native("kambrium"), headers=alice)
    assert status(ngx.get(native("kambrium"), headers=alice)) == "HIT"
    assert entries(s.primary, "kambrium", password=secret)
    log = ngx.error_log()
    assert secret not in log and sentinel_secret not in log

    # the sentinel's password wrong: said once, the reason Redis's
    spw.write_text("wrong\n")
    bad = nginx(tc.conf("%s master=%s password_file=%s "
                        "sentinel_password_file=%s"
                        % (s.seeds(), MASTER, pw, spw)), **tc.ports(mocks))
    r = bad.get(native("kambrium"), headers=alice)
    assert (r.status_code, status(r)) == (200, "ERROR")
    time.sleep(0.5)
    log = bad.error_log()
    assert "WRONGPASS" in log or "invalid password" in log, log
    assert "wrong" not in log.replace("WRONGPASS", "")


@pytest.mark.parametrize("redis,message", [
    ("sentinel=127.0.0.1:26379", "needs \"master=\""),
    ("127.0.0.1:6379 master=m", "only with \"sentinel=\""),
    ("127.0.0.1:6379 sentinel_user=u", "only with \"sentinel=\""),
    ("sentinel=127.0.0.1:26379 master=m sentinel_user=u",
     "needs \"sentinel_password_file=\""),
    ("sentinel=127.0.0.1:26379 sentinel=127.0.0.2 master=m db=2 "
     "wait_replicas=1", None),
])
def test_configuration(nginx, mocks, redis, message):
    ngx = nginx(tc.conf(redis), start=False, **tc.ports(mocks))
    rc, out = ngx.test_config()
    if message is None:
        assert rc == 0, out
    else:
        assert rc != 0 and message in out, out
