"""Real processes for the integration suite: nginx with the freshly built
module, redis-server, and the mock registries.

Every process is started in its own directory under the test's tmp dir, on
ephemeral loopback ports, and is stopped by the fixture that started it,
whether the test passed or not.
"""

import os
import re
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

# the vendors' own paths, as the registries see them
UPSTREAM = {
    "kambrium": "/api/v1/mcp-servers/",
    "barndoor": "/api/servers/",
    "gatana": "/api/v1/mcp-servers/",
}

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def stop(proc, sig=signal.SIGTERM, timeout=10.0):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
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

    "args" are more redis-server options, e.g. ["--requirepass", "pw"]."""

    def __init__(self, workdir, port=None, args=()):
        self.port = port or free_port()
        self.dir = os.path.join(workdir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.args = list(args)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--logfile",
             os.path.join(self.dir, "redis.log")] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def stop(self):
        stop(self.proc)


class Nginx:
    """nginx with the module, in a prefix dir of its own.

    "conf" is a whole nginx.conf; ${MCP_MODULE}, ${MCP_PREFIX},
    ${MCP_LOG_LEVEL}, ${MCP_DEMO_KEYS} and any keyword given are
    substituted, like the demo.
    """

    def __init__(self, workdir, conf, name="nginx", **subst):
        self.prefix = os.path.join(workdir, "%s-%d" % (name, free_port()))
        for d in ("logs", "tmp", "conf"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.port = subst.get("MCP_DEMO_PORT") or free_port()
        subst.setdefault("MCP_DEMO_PORT", self.port)
        subst.setdefault("MCP_PREFIX", self.prefix)
        subst.setdefault("MCP_LOG_LEVEL", "info")
        subst.setdefault("MCP_MODULE", MODULE or "")
        if DEMO_KEYS:
            subst.setdefault("MCP_DEMO_KEYS", DEMO_KEYS)
        self.conf = self.render(conf, subst)
        self.conf_path = os.path.join(self.prefix, "conf", "nginx.conf")
        with open(self.conf_path, "w") as f:
            f.write(self.conf)
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None

    @staticmethod
    def render(conf, subst):
        if MODULE is None:
            conf = re.sub(r"^load_module .*$", "", conf, flags=re.M)
        return string.Template(conf).safe_substitute(
            {k: str(v) for k, v in subst.items()})

    def cmd(self, *args):
        cmd = [NGINX, "-p", self.prefix, "-c", self.conf_path] + list(args)
        if VALGRIND and "-t" not in args:
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
        self.proc = subprocess.Popen(self.cmd("-g", "daemon off;"),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.path("logs/stderr.log"),
                                                 "w"),
                                     env=self.env())
        try:
            wait_port(self.port, self.proc, timeout=60 if VALGRIND else 10)
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


def alerts(log):
    """error log lines that must never appear: crashes and leaks"""
    return [l for l in log.splitlines()
            if re.search(r"\[(alert|emerg|crit)\]|exited on signal|core dumped"
                         r"|AddressSanitizer|LeakSanitizer"
                         r"|==\d+== (Invalid|Conditional|Use of uninit"
                         r"|Syscall param|Mismatched|.*definitely lost)", l)]


if __name__ == "__main__":
    sys.exit("harness.py is a library for the tests in t/")
