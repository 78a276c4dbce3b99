"""Pieces of the fault suite (t/test_coherence.py): Redis behind Sentinel,
a TCP proxy that cuts one node off, a stalled Redis, gateway nodes made from
the demo configuration, a load driver and the checker that counts stale
reads.

A read is stale when it was sent after the 2xx of a PUT of version n (the
client saw the PUT's answer before it sent the GET) and returns a version
older than n.  Versions are the Barndoor server's `name`, "v000001",
"v000002", ... (the seed's "Salesforce Production" is version 0), set by a
PUT every ~500 ms.  Every time is time.monotonic() in this process, so
"sent after the 2xx" is an order seen by one clock: the gateway received
the GET after it sent the PUT's answer.

Everything here runs real processes on 127.0.0.1 and ephemeral ports; the
fixtures of t/test_coherence.py stop them whatever the outcome.
"""

import bisect
import collections
import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import threading
import time

import redis

import harness
from harness import free_port, wait_port

# MCP_FAULT_LEGACY=1: today's configuration language only.  A gateway that
# should follow a Sentinel primary is pointed at the primary's address, and
# mcp_cache_consistency is left out, so the scenarios run (and count) on a
# module that has neither.
LEGACY = os.environ.get("MCP_FAULT_LEGACY", "") == "1"

# MCP_SOAK=1 (make test-soak): every scenario's load lasts SOAK times longer,
# and the scenarios that depend on chance run more rounds
SOAK = 6 if os.environ.get("MCP_SOAK", "") == "1" else 1

# MCP_L1=1: every gateway node also keeps the node-local L1 cache in front
# of Redis ("mcp_cache_l1 on"), so that the scenarios prove the contract
# with it (make test runs the suite both ways)
L1 = os.environ.get("MCP_L1", "") == "1"
L1_HTTP = ["mcp_cache_zone  coherence_l1:4m", "mcp_cache_l1  on"]

# the one-line summaries of this session's scenarios, printed at its end by
# t/conftest.py (and by each test itself)
SUMMARIES = []

# where summarize() writes each scenario's records, one JSON object a line
# (records-<scenario>.jsonl), to look into after a run; None: nowhere
RECORDS_DIR = None

SERVER = harness.SEED["barndoor"]              # the server every PUT changes
NATIVE_PATH = harness.NATIVE["barndoor"] + SERVER
CANONICAL_PATH = "/mcp-servers/barndoor/" + SERVER
UPSTREAM_PATH = harness.UPSTREAM["barndoor"] + SERVER
CANONICAL = "application/vnd.mcp.canonical+json"


def wait_for(predicate, timeout, step=0.05, what="condition"):
    """polls "predicate" until it is true; raises after "timeout" s"""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("%s not reached in %.1f s" % (what, timeout))
        time.sleep(step)


def version(name):
    """the version a server's name stands for: v000042 -> 42, the seed 0"""
    if isinstance(name, str) and name.startswith("v") and name[1:].isdigit():
        return int(name[1:])
    if name == "Salesforce Production":
        return 0
    return None


def name(n):
    return "v%06d" % n


# -- Redis ----------------------------------------------------------------------

def rclient(port, **kw):
    kw.setdefault("socket_timeout", 2)
    kw.setdefault("socket_connect_timeout", 2)
    return redis.Redis(host="127.0.0.1", port=port, **kw)


def ask(port, *command):
    """one command to the Redis (or Sentinel) on "port", on a connection of
    its own; None when it does not answer"""
    client = rclient(port)
    try:
        return client.execute_command(*command)
    except redis.RedisError:
        return None
    finally:
        client.close()


def gateway_clients(port):
    """the connections of gateway workers to the Redis on "port": every
    client but replicas, sentinels, the one asking and the L1 cache's
    invalidation channels (subscribed: flag P), which are a node's, not a
    worker's"""
    clients = ask(port, "CLIENT", "LIST") or b""
    if isinstance(clients, bytes):
        clients = clients.decode()
    out = []
    for line in clients.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("name", "").startswith("sentinel-") \
                or set(fields.get("flags", "")) & set("SMP") \
                or fields.get("cmd", "").startswith("client"):
            continue
        out.append(fields)
    return out


def role(port):
    """("master"|"slave", master port or None, link up?) of a redis-server,
    or None when it does not answer"""
    info = ask(port, "INFO", "replication")
    if info is None:
        return None
    if isinstance(info, bytes):
        info = info.decode()
    if isinstance(info, str):
        info = dict(l.split(":", 1) for l in info.splitlines()
                    if ":" in l)
    info = {k: (v.decode() if isinstance(v, bytes) else v)
            for k, v in info.items()}
    if info.get("role") == "master":
        return ("master", None, True)
    return ("slave", int(info.get("master_port", 0)),
            info.get("master_link_status") == "up")


@contextlib.contextmanager
def stalled(server):
    """a redis-server that answers nothing (SIGSTOP) until the block ends
    (SIGCONT, also when the block raises): it still accepts connections
    (the kernel does), as a Redis stuck in a long command or a fork"""
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def paused(server, ms):
    """CLIENT PAUSE ms ALL on a redis-server: it reads commands and runs
    none until the pause ends (it cannot be ended early); a command whose
    client gave up and closed its connection meanwhile is never run.  The
    block's end waits for the pause's."""
    assert ask(server.port, "CLIENT", "PAUSE", ms, "ALL") in (b"OK", True)
    end = time.monotonic() + ms / 1000.0
    try:
        yield end
    finally:
        time.sleep(max(0.0, end - time.monotonic()))
        wait_for(lambda: ask(server.port, "PING"), 10, what="pause over")


class SentinelGroup:
    """A Redis primary, its replica, and three redis-sentinel processes
    (quorum 2) watching them as "master", with short periods so that a
    failover is over in a few seconds.

    "persist": each writes an append-only file (fsync always) in its own
    dir, so that after kill -9 it comes back with its pre-crash data, as a
    crashed primary does, and is made a replica by the sentinels."""

    NAME = "mymaster"

    def __init__(self, workdir, persist=False, sentinels=3, quorum=2,
                 down_after_ms=1000, failover_timeout_ms=4000):
        self.workdir = workdir
        self.started = []
        try:
            # a replica's full sync starts at once (not 5 s later)
            args = ["--repl-diskless-sync-delay", "0"] + (
                ["--appendonly", "yes", "--appendfsync", "always"]
                if persist else [])
            self.primary = harness.Redis(workdir, args=args)
            self.started.append(self.primary)
            self.replica = harness.Redis(workdir, args=args + [
                "--replicaof", "127.0.0.1", str(self.primary.port)])
            self.started.append(self.replica)
            self.data = {self.primary.port: self.primary,
                         self.replica.port: self.replica}
            wait_for(lambda: role(self.replica.port)
                     == ("slave", self.primary.port, True), 10,
                     what="replica in sync")
            self.sentinels = []
            for _ in range(sentinels):
                s = Sentinel(workdir, self.NAME, self.primary.port, quorum,
                             down_after_ms, failover_timeout_ms)
                self.started.append(s)
                self.sentinels.append(s)
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def ports(self):
        return [s.port for s in self.sentinels]

    def directive(self, wait_replicas=1):
        """what mcp_cache_redis says to follow this group's primary; in
        LEGACY mode, the primary's address as it is now"""
        if LEGACY:
            return "127.0.0.1:%d" % self.primary.port
        return " ".join(["sentinel=127.0.0.1:%d" % p for p in self.ports()]
                        + ["master=%s" % self.NAME]
                        + (["wait_replicas=%d" % wait_replicas]
                           if wait_replicas else []))

    def wait_ready(self, timeout=20):
        """every sentinel knows the others and the replica"""
        def ready():
            for s in self.sentinels:
                m = s.master()
                if not m or int(m.get("num-other-sentinels", 0)) \
                        != len(self.sentinels) - 1 \
                        or int(m.get("num-slaves", 0)) < 1:
                    return False
            return True
        wait_for(ready, timeout, step=0.1, what="sentinels ready")

    def master_port(self, sentinel=None):
        s = sentinel or self.sentinels[0]
        addr = ask(s.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.NAME)
        return int(addr[1]) if addr else None

    def wait_master(self, port, timeout=30):
        """every sentinel says the primary is "port", and it says so too"""
        wait_for(lambda: all(self.master_port(s) == port
                             for s in self.sentinels)
                 and (role(port) or ("",))[0] == "master", timeout,
                 step=0.1, what="primary on port %d" % port)

    def wait_replica_of(self, replica, primary, timeout=30):
        wait_for(lambda: role(replica) == ("slave", primary, True), timeout,
                 step=0.1, what="%d replica of %d" % (replica, primary))

    def failover(self):
        """SENTINEL FAILOVER, asked of one sentinel; returns once the old
        replica is the primary and the old primary its replica, in sync"""
        old, new = self.primary.port, self.replica.port
        answer = ask(self.sentinels[0].port, "SENTINEL", "FAILOVER",
                     self.NAME)
        assert answer in (b"OK", "OK", True), answer
        self.wait_master(new)
        self.wait_replica_of(old, new)
        self.primary, self.replica = self.data[new], self.data[old]

    def kill_primary(self):
        """kill -9 of the primary; returns its redis.Redis object, to be
        started again with restart()"""
        dead = self.primary
        harness.stop(dead.proc, signal.SIGKILL)
        return dead

    def wait_promoted(self):
        """the sentinels made the replica the primary"""
        self.wait_master(self.replica.port)
        self.primary, self.replica = self.replica, self.primary

    def restart(self, server):
        """a killed redis-server back on its port with its own data"""
        server.start()

    def stop(self):
        for p in reversed(self.started):
            try:
                os.kill(p.proc.pid, signal.SIGCONT)
            except (OSError, AttributeError):
                pass
            p.stop()
        self.started = []


class Sentinel:
    def __init__(self, workdir, name, master_port, quorum, down_after_ms,
                 failover_timeout_ms):
        self.port = free_port()
        self.dir = os.path.join(workdir, "sentinel-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndaemonize no\n"
                    "dir %s\nlogfile %s\n"
                    "sentinel monitor %s 127.0.0.1 %d %d\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s %d\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (self.port, self.dir,
                       os.path.join(self.dir, "sentinel.log"),
                       name, master_port, quorum, name, down_after_ms, name,
                       failover_timeout_ms, name))
        self.name = name
        self.proc = subprocess.Popen(["redis-sentinel", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)
        # hello messages, INFO and the demoted primary's conversion every
        # half second instead of every 2 to 10 s; no TILT on a busy machine
        ask(self.port, "SENTINEL", "DEBUG", "info-period", 500,
            "publish-period", 500, "ping-period", 250, "ask-period", 250,
            "tilt-trigger", 10000, "tilt-period", 1000,
            "election-timeout", 2000)

    def master(self):
        m = ask(self.port, "SENTINEL", "MASTER", self.name)
        if isinstance(m, list):
            m = dict(zip(m[::2], m[1::2]))
        if not m:
            return None
        return {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v)
                for k, v in m.items()}

    def stop(self):
        harness.stop(self.proc)


# -- a node cut off from Redis ------------------------------------------------

class TcpProxy:
    """127.0.0.1:<port> forwarding to 127.0.0.1:<target>, in a thread.

    cut("blackhole"): connections, open and new, are accepted and fed
    nothing: what is sent is dropped, as on a partitioned link (a command
    times out).  cut("refuse"): open connections are reset and new ones
    refused.  heal(): new connections are forwarded again; the ones that
    lived through the cut are reset (what they carried is lost, so their
    stream cannot go on)."""

    def __init__(self, target_port):
        self.target = target_port
        self.sel = selectors.DefaultSelector()
        self.peer = {}            # socket -> its peer (None: blackholed)
        self.upstreams = set()    # the sockets connected to the target
        self.mode = None          # None, "blackhole", "refuse"
        self.accepted = 0
        self.lock = threading.Lock()
        self.jobs = []
        self.wake_r, self.wake_w = socket.socketpair()
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.listener = None
        self.port = None
        self._listen()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _listen(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port or 0))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, "listen")

    def _call(self, job):
        """runs job() in the proxy's thread, and waits for it"""
        done = threading.Event()
        with self.lock:
            self.jobs.append((job, done))
        self.wake_w.send(b"x")
        if not done.wait(5):
            raise RuntimeError("the proxy does not answer")

    @staticmethod
    def _reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()

    def _drop(self, sock, reset=False):
        if sock not in self.peer:
            return
        other = self.peer.pop(sock)
        self.upstreams.discard(sock)
        self.sel.unregister(sock)
        (self._reset if reset else socket.socket.close)(sock)
        if other is not None:
            self._drop(other, reset)

    def _blackhole(self, sock):
        self.peer[sock] = None
        self.sel.register(sock, selectors.EVENT_READ, "data")

    def _accept(self):
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        self.accepted += 1
        if self.mode == "blackhole":
            self._blackhole(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target),
                                                timeout=1)
        except OSError:
            self._reset(client)
            return
        for s in (client, upstream):
            s.setblocking(True)
            s.settimeout(5)
        self.peer[client], self.peer[upstream] = upstream, client
        self.upstreams.add(upstream)
        self.sel.register(client, selectors.EVENT_READ, "data")
        self.sel.register(upstream, selectors.EVENT_READ, "data")

    def _pump(self, sock):
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(sock)
            return
        other = self.peer.get(sock)
        if other is None:
            return                          # blackholed: dropped
        try:
            other.sendall(data)
        except OSError:
            self._drop(sock)

    def _loop(self):
        while self.running:
            for key, _ in self.sel.select(0.5):
                if key.data == "wake":
                    self.wake_r.recv(64)
                    with self.lock:
                        jobs, self.jobs = self.jobs, []
                    for job, done in jobs:
                        try:
                            job()
                        finally:
                            done.set()
                elif key.data == "listen":
                    self._accept()
                elif key.fileobj in self.peer:
                    self._pump(key.fileobj)

    def cut(self, mode="blackhole"):
        assert mode in ("blackhole", "refuse")

        def job():
            self.mode = mode
            for up in list(self.upstreams):
                client = self.peer.get(up)
                if mode == "refuse":
                    self._drop(up, reset=True)
                    continue
                # the gateway's side stays open and hears nothing more;
                # Redis's side is let go
                self.peer.pop(up)
                self.upstreams.discard(up)
                self.sel.unregister(up)
                up.close()
                if client is not None:
                    self.peer[client] = None
            if mode == "refuse" and self.listener is not None:
                self.sel.unregister(self.listener)
                self.listener.close()
                self.listener = None
        self._call(job)

    def heal(self):
        def job():
            for s in [s for s, p in self.peer.items() if p is None]:
                self._drop(s, reset=True)
            self.mode = None
            if self.listener is None:
                self._listen()
        self._call(job)

    def stop(self):
        if not self.running:
            return

        def job():
            for s in list(self.peer):
                self._drop(s, reset=True)
            if self.listener is not None:
                self.sel.unregister(self.listener)
                self.listener.close()
                self.listener = None
            self.running = False
        self._call(job)
        self.thread.join(5)
        self.wake_r.close()
        self.wake_w.close()


# -- gateway nodes --------------------------------------------------------------

def _replace(text, old, new):
    assert text.count(old) == 1, "docs/examples/demo.conf: %r" % old
    return text.replace(old, new)


def gateway_conf(redis_directive, http=(), ttl="60s", read_timeout="10s"):
    """docs/examples/demo.conf with the cache on "redis_directive" (what
    follows mcp_cache_redis), more http-level directives, its TTL and
    proxy_read_timeout, each worker's pid in X-MCP-Worker, and reuseport,
    so that new connections spread over both workers"""
    text = harness.demo_conf()
    if L1:
        http = list(http) + L1_HTTP
    text = _replace(text, "    mcp_cache_redis  127.0.0.1:${REDIS_PORT};\n",
                    "    mcp_cache_redis  %s;\n%s" % (
                        redis_directive,
                        "".join("    %s;\n" % d for d in http)))
    text = _replace(text, "mcp_cache_ttl  60s;", "mcp_cache_ttl  %s;" % ttl)
    text = _replace(text, "proxy_read_timeout        10s;",
                    "proxy_read_timeout        %s;" % read_timeout)
    text = _replace(text, "listen  127.0.0.1:${MCP_DEMO_PORT};",
                    "listen  127.0.0.1:${MCP_DEMO_PORT} reuseport;\n"
                    "        add_header  X-MCP-Worker  $pid  always;")
    return text


def consistency(mode):
    """the mcp_cache_consistency directive, none in LEGACY mode"""
    return [] if LEGACY else ["mcp_cache_consistency %s" % mode]


def reload_and_wait(ngx, timeout=20):
    """nginx -s reload, and wait until only new workers are left"""
    old = set(ngx.worker_pids())
    ngx.reload()
    wait_for(lambda: not (set(ngx.worker_pids()) & old)
             and len(ngx.worker_pids()) == len(old), timeout,
             what="reload of %s" % ngx.prefix)


# -- load -----------------------------------------------------------------------

Record = collections.namedtuple(
    "Record", "kind node path sent done status version cache worker error "
              "body")


def _send(port, method, path, headers, body=None, timeout=10.0):
    """one request on a connection of its own (so that connections spread
    over the workers): (status, headers, body), or raises OSError"""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r, r.read()
    finally:
        conn.close()


class Load:
    """Bounded load on gateway nodes: "threads" GET loops per node (each
    paced to one request every "pace" s at most), over "paths" in turn,
    and, when asked, a PUT of a new version every "every" s through the
    nodes given.  Every request is recorded (Record), with its send and
    done times; stop() returns the records."""

    def __init__(self, nodes, auth, threads=3, pace=0.015,
                 paths=(NATIVE_PATH, CANONICAL_PATH), put_path=NATIVE_PATH,
                 threads_per_node=None):
        self.nodes = nodes                  # {name: harness.Nginx}
        self.auth = auth["Authorization"]
        self.paths = list(paths)
        self.put_path = put_path
        self.pace = pace
        self.per_node = threads_per_node or {n: threads for n in nodes}
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.putting = threading.Event()
        self.threads = []
        self.put_thread = None
        self.next_version = 1
        self.put_lock = threading.Lock()

    def _record(self, rec):
        with self.lock:
            self.records.append(rec)

    def get(self, node, path):
        ngx = self.nodes[node]
        headers = {"Authorization": self.auth, "Connection": "close"}
        if path.startswith("/mcp-servers/"):
            headers["Accept"] = CANONICAL
        sent = time.monotonic()
        try:
            status, r, body = _send(ngx.port, "GET", path, headers)
        except (OSError, http.client.HTTPException) as e:
            rec = Record("GET", node, path, sent, time.monotonic(), None,
                         None, None, None, repr(e), None)
        else:
            done = time.monotonic()
            v = None
            if status == 200:
                try:
                    v = version(json.loads(body).get("name"))
                except (ValueError, AttributeError):
                    v = None
            rec = Record("GET", node, path, sent, done, status, v,
                         r.getheader("X-Cache-Status"),
                         r.getheader("X-MCP-Worker"), None,
                         body if v is None else None)
        self._record(rec)
        return rec

    def put(self, node, path=None, timeout=15.0):
        """a PUT of the next version through "node" (its answer is
        recorded like the GETs')"""
        with self.put_lock:
            n = self.next_version
            self.next_version += 1
        ngx = self.nodes[node]
        path = path or self.put_path
        body = json.dumps({"name": name(n)}).encode()
        headers = {"Authorization": self.auth, "Connection": "close",
                   "Content-Type": "application/json"}
        sent = time.monotonic()
        try:
            status, r, answer = _send(ngx.port, "PUT", path, headers, body,
                                      timeout)
        except (OSError, http.client.HTTPException) as e:
            rec = Record("PUT", node, path, sent, time.monotonic(), None, n,
                         None, None, repr(e), None)
        else:
            rec = Record("PUT", node, path, sent, time.monotonic(), status,
                         n, r.getheader("X-Cache-Status"),
                         r.getheader("X-MCP-Worker"), None, answer)
        self._record(rec)
        return rec

    def _get_loop(self, node, first):
        i = first
        while not self.stopping.is_set():
            start = time.monotonic()
            self.get(node, self.paths[i % len(self.paths)])
            i += 1
            rest = self.pace - (time.monotonic() - start)
            if rest > 0:
                self.stopping.wait(rest)

    def start(self):
        for node, count in self.per_node.items():
            for i in range(count):
                t = threading.Thread(target=self._get_loop, args=(node, i),
                                     daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def start_puts(self, via, every=0.5, paths=None):
        """a PUT every "every" s, through the nodes "via" in turn (and the
        paths "paths" in turn, the native one by default)"""
        self.stop_puts()
        self.putting.set()
        via, paths = list(via), list(paths or [self.put_path])

        def loop():
            i = 0
            while self.putting.is_set() and not self.stopping.is_set():
                start = time.monotonic()
                self.put(via[i % len(via)], paths[i % len(paths)])
                i += 1
                rest = every - (time.monotonic() - start)
                if rest > 0:
                    time.sleep(rest)

        self.put_thread = threading.Thread(target=loop, daemon=True)
        self.put_thread.start()

    def stop_puts(self):
        self.putting.clear()
        if self.put_thread is not None:
            self.put_thread.join(30)
            self.put_thread = None

    def stop(self):
        self.stop_puts()
        self.stopping.set()
        for t in self.threads:
            t.join(30)
        self.threads = []
        with self.lock:
            return list(self.records)


def registry_version(mock, path=UPSTREAM_PATH):
    """the version the mock registry holds now (asked directly)"""
    status, _, body = _send(mock.port, "GET", path, {
        "Authorization": "Bearer " + harness.SERVICE_CREDENTIAL[mock.vendor]})
    return version(json.loads(body).get("name")) if status == 200 else None


def registry_gets(mock, path=UPSTREAM_PATH):
    """how many GETs of "path" the mock registry has answered so far"""
    return mock.count("GET", path)


class Outage:
    """The registry's GETs of the server while a fault lasts (added up over
    each time the block is entered):

        outage = fault.Outage(mocks["barndoor"])
        with outage:
            ...                         # the fault
        outage.gets, outage.seconds
    """

    def __init__(self, mock, path=UPSTREAM_PATH):
        self.mock, self.path = mock, path
        self.gets, self.seconds = 0, 0.0

    def __enter__(self):
        self.before = registry_gets(self.mock, self.path)
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds += time.monotonic() - self.start
        self.gets += registry_gets(self.mock, self.path) - self.before
        return False

    def __str__(self):
        return "%d registry GETs in %.1f s of outage" % (self.gets,
                                                         self.seconds)


# -- the checker ------------------------------------------------------------------

class Tally:
    """What a scenario's records say.

    stale: GETs sent after the 2xx of a PUT of version n that returned a
    version < n; "age" is how long after that 2xx the GET was sent, and
    "beyond" counts the stale GETs older than the bound (relaxed mode).
    failed: GETs that were not a 200 with a version (connection errors
    included).  puts: PUT outcomes by status.  bad_puts: PUTs neither 2xx
    nor a 503 with a JSON "detail" (strict mode's refusal)."""

    def __init__(self, records, bound=0.0, acks=()):
        self.bound = bound
        self.records = records
        gets = [r for r in records if r.kind == "GET"]
        puts = [r for r in records if r.kind == "PUT"]
        self.gets = len(gets)
        self.puts = collections.Counter(
            r.status if r.status is not None else "error" for r in puts)
        self.bad_puts = [r for r in puts if not self._good_put(r)]
        self.failed = [r for r in gets if r.status != 200 or r.version is None]
        self.cache = collections.Counter(r.cache for r in gets)
        self.workers = {n: len({r.worker for r in gets
                                if r.node == n and r.worker})
                        for n in sorted({r.node for r in gets})}

        acked = sorted([(r.done, r.version) for r in puts
                        if r.status is not None and 200 <= r.status < 300]
                       + list(acks))
        times = [t for t, _ in acked]
        highest = []
        for _, v in acked:
            highest.append(max(v, highest[-1]) if highest else v)

        self.stale = []           # (record, age)
        for g in gets:
            if g.version is None:
                continue
            i = bisect.bisect_left(times, g.sent)     # acks done before
            if i == 0 or highest[i - 1] <= g.version:
                continue
            # the first 2xx of a newer version than the GET's answer
            j = bisect.bisect_right(highest, g.version)
            self.stale.append((g, g.sent - times[j]))
        self.beyond = [(g, a) for g, a in self.stale if a > bound]
        self.stale_by_node = collections.Counter(g.node for g, _ in
                                                 self.stale)
        # answers with a version whose PUT was not acknowledged (503 in
        # strict mode should mean "not forwarded")
        refused = {r.version for r in puts
                   if r.status is not None and not 200 <= r.status < 300}
        self.refused_but_applied = sorted({g.version for g in gets
                                           if g.version in refused})

    @staticmethod
    def _good_put(r):
        if r.status is not None and 200 <= r.status < 300:
            return True
        if r.status != 503:
            return False
        try:
            return isinstance(json.loads(r.body).get("detail"), str)
        except (ValueError, AttributeError, TypeError):
            return False

    def acked_since(self, t):
        """PUTs sent at or after "t" that got a 2xx"""
        return sum(1 for r in self.records if r.kind == "PUT" and r.sent >= t
                   and r.status is not None and 200 <= r.status < 300)

    def gets_between(self, node, start, end):
        """GETs sent to "node" in [start, end)"""
        return sum(1 for r in self.records if r.kind == "GET"
                   and r.node == node and start <= r.sent < end)

    def hits_since(self, t):
        return sum(1 for r in self.records if r.kind == "GET" and r.sent >= t
                   and r.cache == "HIT")

    def worst(self):
        return max((a for _, a in self.stale), default=0.0)

    def line(self, scenario, mode, extra=""):
        puts = ", ".join("%s: %d" % (k, v) for k, v in
                         sorted(self.puts.items(), key=lambda kv: str(kv[0])))
        failed = collections.Counter(
            r.status if r.status is not None else r.error.split("(")[0]
            for r in self.failed)
        text = ("%s [%s]: %d GETs, %d stale (worst %.1f s after the PUT's "
                "2xx%s; by node %s), %d failed GETs%s, PUTs {%s}, "
                "cache %s, workers seen %s%s"
                % (scenario, mode, self.gets, len(self.stale), self.worst(),
                   "; %d beyond the %.1f s bound" % (len(self.beyond),
                                                     self.bound)
                   if self.bound else "",
                   dict(sorted(self.stale_by_node.items())),
                   len(self.failed),
                   " %s" % dict(failed) if failed else "", puts,
                   dict(sorted(self.cache.items(), key=str)), self.workers,
                   ", " + extra if extra else ""))
        if self.refused_but_applied:
            text += (", %d refused PUTs applied upstream"
                     % len(self.refused_but_applied))
        return text


def summarize(scenario, tally, mode, extra=""):
    """prints the scenario's one line and keeps it for the session's end
    (and its records in RECORDS_DIR)"""
    line = tally.line(scenario, mode, extra)
    SUMMARIES.append(line)
    print(line)
    if RECORDS_DIR:
        slug = "".join(c if c.isalnum() else "-" for c in scenario.lower())
        path = os.path.join(RECORDS_DIR, "records-%s.jsonl" % slug)
        with open(path, "w") as f:
            for r in tally.records:
                row = r._asdict()
                row["body"] = (row["body"] or b"").decode("utf-8", "replace")
                f.write(json.dumps(row) + "\n")
        print("records: " + path)
    return line


def mode_label(mode):
    return ("legacy" if LEGACY else mode) + (", L1" if L1 else "")
