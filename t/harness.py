"""Real processes for the integration suite and the benchmark
(scripts/bench): nginx with the freshly built module, redis-server, and the
mock registries.

Every process is started in its own directory, on ephemeral loopback ports,
in a session of its own (optionally pinned to a CPU), and is stopped by
whoever started it, whether the test passed or not; what is still running
when Python exits is stopped then.
"""

import atexit
import os
import re
import select
import signal
import socket
import string
import subprocess
import sys
import time

import requests

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("MCP_BUILD", os.path.join(TOP, "build"))
PYTHON = "/usr/bin/python3"

# NGINX_STATIC=1 builds build/nginx with the module linked in; otherwise
# Debian's nginx loads build/ngx_http_mcp_module.so
if os.path.exists(os.path.join(BUILD, "nginx")) and os.environ.get(
        "NGINX_STATIC") == "1":
    NGINX = os.path.join(BUILD, "nginx")
    MODULE = None
else:
    NGINX = os.environ.get("MCP_NGINX", "/usr/sbin/nginx")
    MODULE = os.environ.get(
        "MCP_MODULE", os.path.join(BUILD, "ngx_http_mcp_module.so"))

# MCP_SANITIZE=address (make test-asan): the module built with
# AddressSanitizer, loaded into the same nginx with libasan preloaded;
# reports go to logs/asan.* in each nginx prefix, and fail the test
SANITIZE = os.environ.get("MCP_SANITIZE", "")

# MCP_VALGRIND=1 (make test-valgrind): nginx under valgrind's memcheck;
# its reports go to logs/valgrind.<pid>, and fail the test
VALGRIND = os.environ.get("MCP_VALGRIND", "") == "1"
NGINX_ENV = dict(os.environ)

# under either, everything nginx does is many times slower: a test's
# timings stretch by this much, and so do the Redis timeouts of every
# configuration that leaves them at their defaults (a worker's first
# handshake, valgrind translating its code, takes longer than a second)
SLOW = 10 if VALGRIND else 3 if SANITIZE else 1

if SANITIZE == "address" and MODULE:
    MODULE = os.path.join(BUILD, "ngx_http_mcp_module-address.so")
    NGINX_ENV["LD_PRELOAD"] = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True,
        text=True).stdout.strip()

SEED = {
    "kambrium": "123",
    "barndoor": "123e4567-e89b-12d3-a456-426614174000",
    "gatana": "github-tools",
}

VENDORS = tuple(SEED)

# the vendors' own paths, as the registries see them
UPSTREAM = {
    "kambrium": "/api/v1/mcp-servers/",
    "barndoor": "/api/servers/",
    "gatana": "/api/v1/mcp-servers/",
}


def upstream_path(vendor, sid):
    """the path of a server at its registry"""
    return UPSTREAM[vendor] + sid

# what the gateway sends each vendor as its own credential (the demo's
# proxy_set_header Authorization); the mocks accept nothing else
SERVICE_CREDENTIAL = {
    "kambrium": "demo-kambrium-credential",
    "barndoor": "demo-barndoor-credential",
    "gatana": "demo-gatana-credential",
}

# the directory of the demo's keys (${MCP_DEMO_KEYS}), made once per
# session by t/conftest.py
DEMO_KEYS = None

# the gateway's drop-in routes for them (docs/examples/demo.conf)
NATIVE = {
    "kambrium": "/kambrium/api/v1/mcp-servers/",
    "barndoor": "/barndoor/api/servers/",
    "gatana": "/gatana/api/v1/mcp-servers/",
}


_handed_out = set()


def free_port():
    """a port free now, and never handed out before in this process: a
    port bound and closed can be the next bind's again, and two servers
    given the same one could not both start"""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_port(port, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


# ---------------------------------------------------------------------------
# processes: the one implementation of starting and stopping them, for the
# tests and the benchmark alike
# ---------------------------------------------------------------------------

# what spawn() started and stop() or wait() have not ended yet
LIVE = []


def pinned(args, cpu=None):
    """args, run on CPU "cpu" when it is given (taskset execs them: the
    process is theirs, its pid the one started)"""
    if cpu is None:
        return list(args)
    return ["taskset", "-c", str(cpu)] + list(args)


def spawn(args, cpu=None, **popen):
    """starts args (on CPU "cpu") in a session of its own, so that stop()
    ends it with whatever it started (nginx workers, valgrind's children);
    "popen" are more arguments of subprocess.Popen (stdout, stderr, env...)"""
    popen.setdefault("stdin", subprocess.DEVNULL)
    popen.setdefault("stdout", subprocess.DEVNULL)
    proc = subprocess.Popen(pinned(args, cpu), start_new_session=True,
                            **popen)
    LIVE.append(proc)
    return proc


def _ends_within(proc, timeout):
    """whether proc ends within timeout seconds, without reaping it: while
    it is not reaped, its pid (the id of its session) is not reused"""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def _reap(proc):
    """kills what is left of proc's session (when it leads one: spawn()
    made it), reaps proc; returns its resource use"""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc in LIVE:
        LIVE.remove(proc)
    return usage


def stop(proc, sig=signal.SIGTERM, timeout=10.0):
    """sends proc "sig" and gives it "timeout" seconds to end (then kills
    it); whatever it started is killed with it"""
    if proc is None or proc.returncode is not None:
        if proc in LIVE:
            LIVE.remove(proc)
        return
    if not _ends_within(proc, 0):
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        if not _ends_within(proc, timeout):
            os.kill(proc.pid, signal.SIGKILL)
            _ends_within(proc, None)
    _reap(proc)


def wait(proc):
    """waits for proc to end by itself; returns its resource usage
    (resource.struct_rusage: the CPU it used)"""
    _ends_within(proc, None)
    return _reap(proc)


@atexit.register
def stop_all():
    """stops what is still running, the last started first"""
    for proc in list(reversed(LIVE)):
        stop(proc, timeout=5)


class Mock:
    """One mock registry process (t/mocks/registry.py)."""

    def __init__(self, vendor, workdir, envelope=None, expect_token=None):
        self.vendor = vendor
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        args = [PYTHON, os.path.join(TOP, "t", "mocks", "registry.py"),
                "--vendor", vendor, "--port", str(self.port)]
        if envelope:
            args += ["--envelope", envelope]
        if expect_token:
            args += ["--expect-token", expect_token]
        self.log = open(os.path.join(workdir, "mock-%s-%d.log"
                                     % (vendor, self.port)), "w")
        self.proc = spawn(args, stdout=subprocess.PIPE, stderr=self.log,
                          text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError("mock %s did not start: %r" % (vendor, line))

    def requests(self):
        return requests.get(self.url + "/_mock/requests", timeout=5).json()

    def count(self, method, path):
        return self.requests()["counts"].get("%s %s" % (method, path), 0)

    def last(self):
        return self.requests()["last"]

    def reset(self):
        requests.post(self.url + "/_mock/reset", timeout=5)

    def fault(self, mode, **kw):
        kw["mode"] = mode
        requests.post(self.url + "/_mock/fault", json=kw, timeout=5)

    def stop(self):
        stop(self.proc)
        self.log.close()


class Redis:
    """A redis-server of its own: own dir, no persistence, loopback.

    "args" are more redis-server options, e.g. ["--requirepass", "pw"];
    "cpu" pins it to a CPU."""

    def __init__(self, workdir, port=None, args=(), cpu=None):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.args = list(args)
        self.cpu = cpu
        self.proc = None
        self.start()

    def start(self):
        self.proc = spawn(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile",
             os.path.join(self.dir, "redis.log")] + self.args,
            cpu=self.cpu, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        stop(self.proc)


class Nginx:
    """nginx with the module, in a prefix dir of its own.

    "conf" is a whole nginx.conf (conf() makes one from the base every test
    shares); ${MCP_MODULE}, ${MCP_PREFIX}, ${MCP_PORT} (the port it listens
    on, also ${MCP_DEMO_PORT}, the demo's name for it), ${MCP_LOG_LEVEL},
    ${MCP_DEMO_KEYS} and any keyword given are substituted, like the demo.

    "cpu" pins it (master and workers) to a CPU, "env" adds to its
    environment, "wrap" is a command it runs under (["valgrind",
    "--tool=callgrind", ...]); under make test-valgrind, memcheck's.
    """

    def __init__(self, workdir, conf, name="nginx", cpu=None, env=None,
                 wrap=None, **subst):
        self.prefix = os.path.join(workdir, "%s-%d" % (name, free_port()))
        for d in ("logs", "tmp", "conf"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.port = subst.get("MCP_DEMO_PORT") or subst.get("MCP_PORT") \
            or free_port()
        subst.setdefault("MCP_DEMO_PORT", self.port)
        subst.setdefault("MCP_PORT", self.port)
        subst.setdefault("MCP_PREFIX", self.prefix)
        subst.setdefault("MCP_LOG_LEVEL", "info")
        subst.setdefault("MCP_MODULE", MODULE or "")
        if DEMO_KEYS:
            subst.setdefault("MCP_DEMO_KEYS", DEMO_KEYS)
        self.conf = self.stretch(self.render(conf, subst))
        self.conf_path = os.path.join(self.prefix, "conf", "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(self.conf)
        self.url = "http://127.0.0.1:%d" % self.port
        self.cpu = cpu
        self.extra_env = dict(env or {})
        self.wrap = list(wrap or [])
        self.proc = None

    @staticmethod
    def render(conf, subst):
        if MODULE is None:
            conf = re.sub(r"^load_module .*$", "", conf, flags=re.M)
        return string.Template(conf).safe_substitute(
            {k: str(v) for k, v in subst.items()})

    @staticmethod
    def stretch(conf):
        if SLOW == 1 or not re.search(r"^\s*mcp_cache_redis\s", conf, re.M):
            return conf
        for name, ms in (("mcp_cache_redis_timeout", 500),
                         ("mcp_cache_redis_connect_timeout", 1000)):
            if name not in conf:
                conf = re.sub(r"^(\s*http\s*\{)",
                              r"\1\n    %s %dms;" % (name, ms * SLOW),
                              conf, count=1, flags=re.M)
        return conf

    def cmd(self, *args):
        cmd = [NGINX, "-p", self.prefix, "-c", self.conf_path] + list(args)
        if "-t" in args:
            return cmd
        if self.wrap:
            return self.wrap + cmd
        if VALGRIND:
            cmd = ["valgrind", "--quiet", "--vgdb=no", "--trace-children=yes",
                   "--leak-check=full", "--show-leak-kinds=definite",
                   "--errors-for-leak-kinds=definite",
                   "--suppressions=" + os.path.join(TOP, "t", "valgrind.supp"),
                   "--error-limit=no", "--num-callers=30",
                   "--log-file=" + self.path("logs/valgrind.%p")] + cmd
        return cmd

    def env(self):
        env = dict(NGINX_ENV)
        if SANITIZE:
            env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=0:"
                                   "log_path=" + self.path("logs/asan"))
        env.update(self.extra_env)
        return env

    def test_config(self):
        """nginx -t: (returncode, output).  Its own log goes to a file of
        its own: the [emerg] a test provokes is not an alert of the server"""
        log = self.path("logs/nginx-t.log")
        p = subprocess.run(self.cmd("-t", "-e", log), capture_output=True,
                           text=True, env=self.env())
        # nginx copies only warn and above to stderr, unless its log is it
        try:
            with open(log, errors="replace") as f:
                said = f.read()
        except FileNotFoundError:
            said = ""
        return p.returncode, p.stdout + p.stderr + said

    def start(self):
        with open(self.path("logs/stderr.log"), "w") as stderr:
            self.proc = spawn(self.cmd("-g", "daemon off;"), cpu=self.cpu,
                              stderr=stderr, env=self.env())
        slow = VALGRIND or self.wrap
        try:
            wait_port(self.port, self.proc, timeout=60 if slow else 15)
        except RuntimeError:
            with open(self.path("logs/stderr.log"), errors="replace") as f:
                said = f.read()
            raise RuntimeError("nginx did not start:\n" + self.error_log()
                               + said)
        return self

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        # SIGQUIT: graceful, the workers finish what they are doing
        stop(self.proc, signal.SIGQUIT)

    def path(self, rel):
        return os.path.join(self.prefix, rel)

    def error_log(self):
        """the error log, and any sanitizer report"""
        text = ""
        logs = sorted(os.listdir(self.path("logs")))
        for name in ["error.log"] + [n for n in logs
                                     if n.startswith(("asan", "valgrind"))]:
            try:
                with open(self.path("logs/" + name), errors="replace") as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        return text

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def workers(self, timeout=5.0):
        """the processes that serve requests: the workers, once the master
        has started them (it listens before), or nginx itself when it runs
        without a master"""
        if re.search(r"^\s*master_process\s+off;", self.conf, re.M):
            return [self.proc.pid]
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if pids or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not pids:
            raise RuntimeError("nginx in %s has no worker" % self.prefix)
        return pids

    def get(self, path, **kw):
        kw.setdefault("timeout", 15)
        return requests.get(self.url + path, **kw)

    def put(self, path, **kw):
        kw.setdefault("timeout", 15)
        return requests.put(self.url + path, **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 15)
        return requests.request(method, self.url + path, **kw)


def demo_conf():
    with open(os.path.join(TOP, "docs", "examples", "demo.conf")) as f:
        return f.read()


def conf(server="", http="", main="", servers="", workers=1,
         log_format=None):
    """A test's own nginx.conf: the base every test shares (the module, the
    prefix's paths, an access log, one server on ${MCP_PORT}) with a test
    group's own directives where they go: "main", "http" and "server" in
    those contexts (the server's locations are in "server"), "servers"
    whole server blocks beside it.  The access log has nginx's combined
    format, or "log_format".  Nginx substitutes the ${...}."""
    if log_format is None:
        log = "access_log  ${MCP_PREFIX}/logs/access.log;"
    else:
        log = ("log_format  test  '%s';\n"
               "    access_log  ${MCP_PREFIX}/logs/access.log  test;"
               % log_format)
    return """\
load_module ${MCP_MODULE};

worker_processes  %d;
error_log  ${MCP_PREFIX}/logs/error.log  ${MCP_LOG_LEVEL};
pid        ${MCP_PREFIX}/nginx.pid;
%s

events {
    worker_connections  1024;
}

http {
    %s

    client_body_temp_path  ${MCP_PREFIX}/tmp/body;
    proxy_temp_path        ${MCP_PREFIX}/tmp/proxy;
    fastcgi_temp_path      ${MCP_PREFIX}/tmp/fastcgi;
    uwsgi_temp_path        ${MCP_PREFIX}/tmp/uwsgi;
    scgi_temp_path         ${MCP_PREFIX}/tmp/scgi;

%s
%s
    server {
        listen  127.0.0.1:${MCP_PORT};
%s
    }
}
""" % (workers, main, log, http, servers, server)


def alerts(log):
    """error log lines that must never appear: crashes and leaks"""
    return [l for l in log.splitlines()
            if re.search(r"\[(alert|emerg|crit)\]|exited on signal|core dumped"
                         r"|AddressSanitizer|LeakSanitizer"
                         r"|==\d+== (Invalid|Conditional|Use of uninit"
                         r"|Syscall param|Mismatched|.*definitely lost)", l)]


if __name__ == "__main__":
    sys.exit("harness.py is a library for the tests in t/")
