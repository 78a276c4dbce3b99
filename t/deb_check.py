#!/usr/bin/python3
"""make test-deb: the Debian package end to end, on this machine's nginx.

    t/deb_check.py build/deb/libnginx-mod-http-mcp_<version>_<arch>.deb

Installs the package with apt-get, checks what it put where, runs nginx -t
on docs/examples/demo.conf loading the module the Debian way (through
/etc/nginx/modules-enabled, as Debian's nginx.conf does), serves GETs
through a mock registry with a token, then removes and purges the package
and checks that nothing of it is left: its files (dpkg -L), its
modules-enabled link, dpkg's records, and the packages installed.

It needs root (apt-get) and refuses to start when the package, or files of
it (e.g. from make install), are there already. Whatever happens, it leaves
the machine as it found it: the package purged, any package apt-get pulled
in for it purged again, the links it made removed.

Not a pytest file on purpose: make test does not install packages.
"""

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import tokens  # noqa: E402
from harness import Mock, Nginx, Redis  # noqa: E402

PKG = "libnginx-mod-http-mcp"
NGINX = "/usr/sbin/nginx"
SO = "/usr/lib/nginx/modules/ngx_http_mcp_module.so"
AVAILABLE = "/usr/share/nginx/modules-available/mod-http-mcp.conf"
ENABLED = "/etc/nginx/modules-enabled/50-mod-http-mcp.conf"

# where the package, its maintainer scripts and dpkg write: compared before
# the install and after the purge
WATCHED = ["/etc/nginx", "/usr/lib/nginx", "/usr/share/nginx/modules-available",
           "/usr/share/doc/" + PKG]

APT = ["apt-get", "-y", "-q", "--no-install-recommends",
       "-o", "DPkg::Lock::Timeout=300"]
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


class Failed(Exception):
    pass


def say(msg):
    print("deb_check: " + msg, flush=True)


def check(cond, what):
    if not cond:
        raise Failed(what)
    say("ok   " + what)


def run(cmd, check_rc=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check_rc and p.returncode != 0:
        raise Failed("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode,
                                             p.stdout, p.stderr))
    return p


def apt(*args):
    return run(APT + list(args), env=APT_ENV)


def state(pkg):
    """dpkg's state of pkg: installed, config-files, not-installed, ..."""
    p = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", pkg],
            check_rc=False)
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def installed_packages():
    out = run(["dpkg-query", "-W", "-f",
               "${binary:Package} ${Version} ${db:Status-Abbrev}\n"]).stdout
    return set(out.splitlines())


def dpkg_list(pkg):
    """dpkg -L: (exit status, the paths or the message's first line)"""
    p = run(["dpkg", "-L", pkg], check_rc=False)
    if p.returncode != 0:
        return p.returncode, (p.stdout + p.stderr).strip().split("\n")[0]
    return p.returncode, p.stdout.strip()


def snapshot():
    """every path under WATCHED: its type, a link's target, a file's
    SHA-256, a directory's mode"""
    seen = {}
    for root in WATCHED:
        if not os.path.lexists(root):
            continue
        for d, dirs, files in os.walk(root):
            seen[d] = "dir %o" % os.stat(d).st_mode
            for name in dirs + files:
                p = os.path.join(d, name)
                if os.path.islink(p):
                    seen[p] = "link " + os.readlink(p)
                elif os.path.isfile(p):
                    with open(p, "rb") as f:
                        seen[p] = "file " + hashlib.sha256(f.read()).hexdigest()
    for p in glob.glob("/var/lib/dpkg/info/%s.*" % PKG):
        seen[p] = "dpkg record"
    return seen


def diff(before, after):
    lines = []
    for p in sorted(set(before) | set(after)):
        if before.get(p) != after.get(p):
            lines.append("  %s: %s -> %s" % (p, before.get(p, "absent"),
                                            after.get(p, "absent")))
    return lines


def deb_paths(deb, dirs=False):
    """the files and links in the .deb (and its directories), as absolute
    paths"""
    out = run(["dpkg-deb", "-c", deb]).stdout
    paths = []
    for line in out.splitlines():
        if line.startswith("d") and not dirs:
            continue
        name = line.split(None, 5)[5].split(" -> ")[0].rstrip("/")
        name = name[1:] if name.startswith("./") else name
        paths.append(name or "/")
    return paths


def preconditions(deb):
    if run(["dpkg-deb", "-f", deb, "Package"]).stdout.strip() != PKG:
        raise Failed("%s is not a %s package" % (deb, PKG))
    if state(PKG) != "not-installed":
        raise Failed("%s is %s here: this check installs and purges it, so "
                     "it starts without it (apt-get purge %s)"
                     % (PKG, state(PKG), PKG))
    there = [p for p in deb_paths(deb) + [ENABLED, ENABLED + ".removed"]
             if os.path.lexists(p)]
    if there:
        raise Failed("files of the package are there already (make install? "
                     "then make uninstall):\n  " + "\n  ".join(there))


def serve(workdir):
    """nginx -t and GETs on docs/examples/demo.conf, the module loaded
    through modules-enabled"""
    keys = tokens.Keys(os.path.join(workdir, "keys"))
    harness.DEMO_KEYS = keys.dir
    harness.NGINX = NGINX

    conf = harness.demo_conf()
    check(conf.count("load_module ${MCP_MODULE};") == 1,
          "demo.conf has one load_module line")
    conf = conf.replace("load_module ${MCP_MODULE};",
                        "include /etc/nginx/modules-enabled/*.conf;")

    started = []
    try:
        redis = Redis(workdir)
        started.append(redis)
        mocks = {}
        for vendor in ("kambrium", "barndoor", "gatana"):
            mocks[vendor] = Mock(
                vendor, workdir,
                expect_token=harness.SERVICE_CREDENTIAL[vendor])
            started.append(mocks[vendor])

        subst = dict(KAMBRIUM_PORT=mocks["kambrium"].port,
                     BARNDOOR_PORT=mocks["barndoor"].port,
                     GATANA_PORT=mocks["gatana"].port,
                     REDIS_PORT=redis.port)
        ngx = Nginx(workdir, conf, name="deb", **subst)
        # the modules-enabled files say load_module modules/...so, relative
        # to the prefix: Debian's prefix, /usr/share/nginx, has this link
        os.symlink("/usr/lib/nginx/modules", ngx.path("modules"))

        rc, said = ngx.test_config()
        check(rc == 0, "nginx -t: demo.conf, the module from modules-enabled"
              + ("" if rc == 0 else "\n" + said))

        # the README's warning: a load_module on top of modules-enabled
        twice = Nginx(workdir, "load_module %s;\n" % SO + conf, name="twice",
                      **subst)
        os.symlink("/usr/lib/nginx/modules", twice.path("modules"))
        rc, said = twice.test_config()
        check(rc != 0 and "already loaded" in said,
              "nginx -t: load_module on top of modules-enabled is refused "
              "(already loaded)")

        ngx.start()
        started.append(ngx)

        path = harness.NATIVE["kambrium"] + harness.SEED["kambrium"]
        upstream = harness.UPSTREAM["kambrium"] + harness.SEED["kambrium"]
        auth = tokens.bearer(tokens.mint(keys))

        r = ngx.get(path)
        check(r.status_code == 401 and "Bearer" in r.headers.get(
            "WWW-Authenticate", ""), "GET without a token: 401")
        check(mocks["kambrium"].count("GET", upstream) == 0,
              "the registry saw nothing of it")

        direct = requests.get(
            mocks["kambrium"].url + upstream, timeout=5,
            headers=tokens.bearer(harness.SERVICE_CREDENTIAL["kambrium"]))
        r = ngx.get(path, headers=auth)
        check(r.status_code == 200 and r.json() == direct.json(),
              "GET %s with a token: 200, the registry's answer" % path)
        check(r.headers.get("X-Cache-Status") == "MISS", "X-Cache-Status MISS")
        r = ngx.get(path, headers=auth)
        check(r.status_code == 200 and r.headers.get("X-Cache-Status") == "HIT",
              "again: 200 from Redis (HIT)")
        check(mocks["kambrium"].count("GET", upstream) == 2,
              "the registry saw two GETs: ours and the gateway's miss")

        ngx.stop()
        check(harness.alerts(ngx.error_log()) == [],
              "no alert in nginx's error log")
    finally:
        for proc in reversed(started):
            try:
                proc.stop()
            except Exception as e:  # keep stopping the others
                say("stopping %r: %s" % (proc, e))


def restore(before_pkgs, pulled_in, made_links):
    """whatever happened: the package purged, what apt-get pulled in for it
    purged, the links removed"""
    if state(PKG) != "not-installed":
        say("cleanup: purging %s" % PKG)
        run(APT + ["purge", PKG], check_rc=False, env=APT_ENV)
    now = {line.split()[0] for line in installed_packages()}
    before = {line.split()[0] for line in before_pkgs}
    extra = sorted(p for p in pulled_in if p in now and p not in before)
    if extra:
        say("cleanup: purging what the install pulled in: " + " ".join(extra))
        run(APT + ["purge"] + extra, check_rc=False, env=APT_ENV)
    for link in made_links:
        if os.path.islink(link):
            say("cleanup: removing " + link)
            os.unlink(link)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    deb = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        os.execvp("sudo", ["sudo", sys.executable] + sys.argv)

    # make's or a CI runner's SIGTERM: the cleanup runs, as for Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    t0 = time.monotonic()
    preconditions(deb)

    before = snapshot()
    before_pkgs = installed_packages()
    # the directories the package shares with others (/usr, ...) stay
    existed = {p for p in deb_paths(deb, dirs=True) if os.path.lexists(p)}
    listed_before = dpkg_list(PKG)
    sim = run(APT + ["-s", "install", deb], env=APT_ENV).stdout
    pulled_in = [line.split()[1] for line in sim.splitlines()
                 if line.startswith("Inst ") and line.split()[1] != PKG]
    say("dpkg -L before: %s" % listed_before[1])
    if pulled_in:
        say("apt-get will install for it: " + " ".join(pulled_in))

    workdir = tempfile.mkdtemp(prefix="mcp-deb-")
    failed = None
    try:
        apt("install", deb)
        check(state(PKG) == "installed", "apt-get install ./%s"
              % os.path.basename(deb))

        rc, listed = dpkg_list(PKG)
        files = listed.splitlines()
        check(rc == 0 and all(os.path.lexists(p) for p in files),
              "dpkg -L: %d paths, all there" % len(files))
        check(set(deb_paths(deb)) <= set(files), "dpkg -L has the .deb's files")
        check(SO in files and AVAILABLE in files,
              "the module in /usr/lib/nginx/modules, its conf in "
              "modules-available")
        with open(AVAILABLE) as f:
            check(f.read().strip() == "load_module modules/ngx_http_mcp_module.so;",
                  "mod-http-mcp.conf loads modules/ngx_http_mcp_module.so")
        check(os.path.islink(ENABLED) and os.readlink(ENABLED) == AVAILABLE,
              "postinst enabled it: %s -> %s" % (ENABLED, AVAILABLE))
        depends = run(["dpkg-query", "-W", "-f", "${Depends}", PKG]).stdout
        check("nginx-abi-" in depends, "Depends: " + depends)

        serve(workdir)

        apt("remove", PKG)
        check(state(PKG) == "config-files", "apt-get remove: config-files")
        check(not os.path.lexists(SO) and not os.path.lexists(AVAILABLE)
              and not os.path.lexists(ENABLED),
              "the module, its conf and the enabled link are gone")
        check(os.path.islink(ENABLED + ".removed"),
              "the link is set aside as %s.removed (a reinstall enables the "
              "module again, the purge removes it)" % os.path.basename(ENABLED))

        apt("purge", PKG)
        check(state(PKG) == "not-installed", "apt-get purge: not-installed")
        check(dpkg_list(PKG) == listed_before,
              "dpkg -L after the purge says what it said before: %s"
              % listed_before[1])
        left = [p for p in files if p != "/." and os.path.lexists(p)
                and p not in existed]
        check(left == [], "no path of the package's dpkg -L is left"
              + "".join("\n  " + p for p in left))
        gone = sorted(p for p in existed if not os.path.lexists(p))
        check(gone == [], "the directories it shared with others are there"
              + "".join("\n  " + p for p in gone))
        changed = diff(before, snapshot())
        check(changed == [], "%s and dpkg's records as before the install"
              % ", ".join(WATCHED) + ("" if not changed else
                                      ":\n" + "\n".join(changed)))
        now = installed_packages()
        check(now == before_pkgs,
              "the installed packages as before the install"
              + "".join("\n  - " + p for p in sorted(before_pkgs - now))
              + "".join("\n  + " + p for p in sorted(now - before_pkgs))
              + ("" if now == before_pkgs else
                 "\n  (an apt-get of someone else's meanwhile shows here too)"))
    except Failed as e:
        failed = e
    finally:
        restore(before_pkgs, pulled_in, [ENABLED, ENABLED + ".removed"])
        shutil.rmtree(workdir, ignore_errors=True)

    took = time.monotonic() - t0
    if failed:
        say("FAIL %s" % failed)
        changed = diff(before, snapshot())
        if changed:
            say("after the cleanup, still changed:\n" + "\n".join(changed))
        say("took %.0f s" % took)
        return 1
    say("PASS (%.0f s)" % took)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as e:
        sys.exit("deb_check: %s" % e)
