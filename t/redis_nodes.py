"""Redis deployments for the tests of the Redis client layer
(t/test_redis_*.py): a CA and certificates made in the test, a TLS-only
redis-server, a Redis Cluster, Redis Sentinels, and a DNS server whose
answers the test sets.  Everything on loopback, on ephemeral ports, in the
test's own directories; every process is stopped by whoever started it.
"""

import datetime
import ipaddress
import os
import re
import socket
import struct
import subprocess
import threading
import time

import redis
import redis.cluster
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import harness
from harness import free_port, stop, wait_port


def run_ids(log):
    """the run id each connection to a primary was trusted with, in order,
    by worker: [(port, run id), ...] (needs the debug level)"""
    ids = {}
    for pid, port, run_id in re.findall(
            r"\[debug\] (\d+)#\d+: mcp redis \S*?127\.0\.0\.1:(\d+) "
            r"ready, run id ([0-9a-f]{40})", log):
        ids.setdefault(pid, []).append((int(port), run_id))
    return ids


# -- certificates -------------------------------------------------------------

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, *pems):
    with open(path, "wb") as f:
        for pem in pems:
            f.write(pem)
    os.chmod(path, 0o644)
    return path


class CA:
    """A certificate authority of the test's own, in "directory"."""

    def __init__(self, directory, name="mcp test CA"):
        os.makedirs(directory, exist_ok=True)
        self.dir = directory
        self.key = _key()
        now = datetime.datetime.utcnow()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.path = _write(os.path.join(directory, "ca.pem"),
                           self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name, dns=(), ips=(), client=False):
        """(certificate file, key file) for "name", signed by this CA;
        client: True (a client's), False (a server's), "both" (a cluster
        node's: it is the client of the others on the cluster bus)"""
        key = _key()
        now = datetime.datetime.utcnow()
        sans = [x509.DNSName(d) for d in dns] + \
            [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH] if client is True
                else [ExtendedKeyUsageOID.SERVER_AUTH] if not client
                else [ExtendedKeyUsageOID.SERVER_AUTH,
                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        base = os.path.join(self.dir, name.replace(" ", "-"))
        crt = _write(base + ".crt",
                     cert.public_bytes(serialization.Encoding.PEM))
        pem = _write(base + ".key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return crt, pem


# -- a TLS-only redis-server ----------------------------------------------------

class TlsRedis(harness.Redis):
    """redis-server that speaks TLS only, with the test's certificates;
    "clients": "no" or "yes" (a client certificate is required)."""

    def __init__(self, workdir, cert, key, ca, clients="no", args=()):
        port = free_port()
        tls = ["--port", "0", "--tls-port", str(port),
               "--tls-cert-file", cert, "--tls-key-file", key,
               "--tls-ca-cert-file", ca, "--tls-auth-clients", clients]
        self.ca = ca
        super().__init__(workdir, port=port, args=tls + list(args))

    def client(self, cert=None, key=None):
        return redis.Redis(port=self.port, ssl=True, ssl_ca_certs=self.ca,
                           ssl_certfile=cert, ssl_keyfile=key,
                           ssl_check_hostname=False)


# -- Redis Cluster ------------------------------------------------------------

def _free_pair():
    """a client port and a cluster bus port, both free"""
    return free_port(), free_port()


class ClusterNode:
    def __init__(self, directory, port, bus, args=(), tls=None):
        self.port = port
        self.bus = bus
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.args = list(args)
        self.tls = tls
        if tls:
            # TLS only, the cluster bus too
            self.args += ["--port", "0", "--tls-port", str(port),
                          "--tls-cluster", "yes", "--tls-replication", "yes",
                          "--tls-cert-file", tls["cert"],
                          "--tls-key-file", tls["key"],
                          "--tls-ca-cert-file", tls["ca"],
                          "--tls-auth-clients", "no"]
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-port", str(self.bus),
             "--cluster-config-file", os.path.join(self.dir, "nodes.conf"),
             "--cluster-node-timeout", "1000",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile",
             os.path.join(self.dir, "redis.log")] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self, kill=False):
        if kill and self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        stop(self.proc)

    def client(self):
        if self.tls:
            return redis.Redis(port=self.port, socket_timeout=5, ssl=True,
                               ssl_ca_certs=self.tls["ca"],
                               ssl_check_hostname=False)
        return redis.Redis(port=self.port, socket_timeout=5)

    def node_id(self):
        c = self.client()
        try:
            return c.execute_command("CLUSTER", "MYID").decode()
        finally:
            c.close()

    def role(self):
        c = self.client()
        try:
            return c.execute_command("ROLE")[0].decode()
        finally:
            c.close()


class Cluster:
    """A Redis Cluster on loopback: "masters" primaries, each with
    "replicas" replicas, made by redis-cli --cluster create."""

    def __init__(self, workdir, masters=3, replicas=0, args=(), tls=None):
        """tls: {"cert", "key", "ca"}, files for a TLS-only cluster"""
        self.dir = os.path.join(workdir, "cluster-%d" % free_port())
        self.nodes = []
        try:
            for i in range(masters * (1 + replicas)):
                port, bus = _free_pair()
                self.nodes.append(ClusterNode(
                    os.path.join(self.dir, "node-%d" % i), port, bus, args,
                    tls))
            subprocess.run(
                ["redis-cli"]
                + (["--tls", "--cacert", tls["ca"]] if tls else [])
                + ["--cluster", "create"]
                + ["127.0.0.1:%d" % n.port for n in self.nodes]
                + ["--cluster-replicas", str(replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=60)
            self.wait_ok()
        except Exception:
            self.stop()
            raise

    def wait_ok(self, timeout=30):
        """every node says cluster_state:ok and agrees on the slots"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = []
                for n in self.live():
                    c = n.client()
                    info = c.execute_command("CLUSTER", "INFO").decode()
                    states.append("cluster_state:ok" in info)
                    c.close()
                if all(states) and self.slots_agree():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the cluster is not ok")

    def slots_agree(self):
        views = set()
        for n in self.live():
            c = n.client()
            slots = c.execute_command("CLUSTER", "SLOTS")
            c.close()
            views.add(tuple(sorted((s[0], s[1], s[2][1]) for s in slots)))
        return len(views) == 1

    def live(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def seeds(self):
        return " ".join("cluster=127.0.0.1:%d" % n.port for n in self.nodes)

    def masters(self):
        return [n for n in self.live() if n.role() == "master"]

    def owner(self, slot):
        """the node that serves "slot", by its own CLUSTER SLOTS"""
        c = self.live()[0].client()
        try:
            for start, end, primary, *_ in c.execute_command("CLUSTER",
                                                             "SLOTS"):
                if start <= slot <= end:
                    port = primary[1]
                    return next(n for n in self.nodes if n.port == port)
        finally:
            c.close()
        raise KeyError(slot)

    def replica_of(self, master):
        for n in self.live():
            if n is master:
                continue
            c = n.client()
            try:
                role = c.execute_command("ROLE")
                if role[0] == b"slave" and role[2] == master.port:
                    return n
            finally:
                c.close()
        raise KeyError(master.port)

    def client(self):
        return redis.cluster.RedisCluster(host="127.0.0.1",
                                          port=self.live()[0].port)

    def stop(self):
        for n in self.nodes:
            n.stop()


# -- Redis Sentinel -----------------------------------------------------------

class Sentinel:
    """redis-sentinel on loopback, monitoring "master" at 127.0.0.1:port"""

    def __init__(self, workdir, name, master_port, quorum=1, port=None,
                 extra=""):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "sentinel-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d %d\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 5000\n"
                    "sentinel parallel-syncs %s 1\n"
                    % (self.port, self.dir, name, master_port, quorum,
                       name, name, name) + extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-sentinel", self.conf, "--logfile",
             os.path.join(self.dir, "sentinel.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        stop(self.proc)

    def client(self):
        return redis.Redis(port=self.port, socket_timeout=5)

    def master(self, name):
        c = self.client()
        try:
            host, port = c.execute_command("SENTINEL",
                                           "get-master-addr-by-name", name)
            return host.decode(), int(port)
        finally:
            c.close()


# -- a DNS server the test controls -------------------------------------------

class Dns:
    """A tiny authoritative DNS server on 127.0.0.1 (UDP): A records the
    test sets (answer(name, ip)), TTL 1 s; AAAA and unknown names get an
    empty answer or NXDOMAIN.  Counts the questions it got."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.records = {}
        self.questions = 0
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def answer(self, name, ip):
        with self.lock:
            self.records[name.lower().rstrip(".")] = ip

    def serve(self):
        self.sock.settimeout(0.2)
        while self.running:
            try:
                data, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.reply(data)
            except (ValueError, IndexError, struct.error):
                continue
            self.sock.sendto(reply, peer)

    def reply(self, data):
        ident, flags, qdcount = struct.unpack("!HHH", data[:6])
        pos, labels = 12, []
        while data[pos]:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode().lower())
            pos += 1 + n
        qtype, qclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        question = data[12:pos + 5]
        name = ".".join(labels)
        with self.lock:
            self.questions += 1
            ip = self.records.get(name)
        answers = b""
        rcode = 0
        if ip is None:
            rcode = 3
        elif qtype == 1:
            answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 1, 4)
                       + socket.inet_aton(ip))
        head = struct.pack("!HHHHHH", ident, 0x8400 | rcode, qdcount,
                           1 if answers else 0, 0, 0)
        return head + question + answers

    def stop(self):
        self.running = False
        self.sock.close()
        self.thread.join(timeout=2)


class BoundRedis(harness.Redis):
    """redis-server on another loopback address (127.0.0.2, ...): two of
    them may share a port, as a name's old and new address do"""

    def __init__(self, workdir, ip, port):
        self.ip = ip
        self.port = port
        self.dir = os.path.join(workdir, "redis-%s-%d" % (ip, port))
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", self.ip,
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile",
             os.path.join(self.dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.ip, self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis on %s:%d did not start" % (self.ip,
                                                             self.port))

    def client(self):
        return redis.Redis(host=self.ip, port=self.port)
