#!/usr/bin/python3
"""Stateful mock of ONE vendor's MCP-server management API (test fixture).

Usage:
  registry.py --vendor kambrium|barndoor|gatana --port N [--host 127.0.0.1]
              [--envelope data|connection] [--expect-token TOKEN]

Prints "READY <vendor> <port>" once bound (--port 0 picks a free port).

Vendor endpoints (shapes follow /work/shared/seeds/*.txt):
  kambrium  GET|PUT /api/v1/mcp-servers/{id}        id: ^[0-9]+$ or ^srv_[A-Za-z0-9]+$
  barndoor  GET|PUT /api/servers/{uuid}
  gatana    GET|PUT /api/v1/mcp-servers/{serverSlug}

Control endpoints (never authenticated, never counted):
  GET  /_mock/requests   {"counts": {"METHOD path": n}, "total": n, "last": {...}|null}
  POST /_mock/reset      restore seed state, clear counts and faults -> 200 {}
  GET  /_mock/fault      current fault config (or null)
  POST /_mock/fault      {"mode": none|latency|late|status500|nonjson|reset|truncate|shape|leak
                                  |nul|badchunk|hugechunk|status999|inject,
                          "delay_ms": int, "count": int, "methods": ["GET", ...],
                          "merge": {...}}
                         latency: waits delay_ms, then handles the request;
                         late: handles it at once (reads or writes the record)
                         and answers delay_ms later, as a registry answering
                         from a snapshot taken before a concurrent write
                         nul: the answer with a NUL byte before its first ","
                         badchunk, hugechunk: the answer chunked, its second chunk
                           size "zz" or over 2^63, then the connection closed
                         status999: the answer with the status 999
                         inject: the answer with "merge" merged into it (objects
                           member by member, anything else replaced)
  POST /_mock/files      gatana only: {"count": N} -> N generated `files` entries
"""

import argparse
import copy
import json
import re
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

JSON = "application/json"
HTML_BODY = (b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
             b"<body><h1>Service temporarily unavailable</h1>"
             b"<p>The upstream is under maintenance.</p></body></html>")
FAULT_MODES = ("none", "latency", "late", "status500", "nonjson", "reset",
               "truncate", "shape", "leak", "nul", "badchunk", "hugechunk",
               "status999", "inject")
MAX_GENERATED_FILES = 200000          # ~60 MiB of JSON; plenty for size tests


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_object(raw):
    """Request body -> dict, or None if it is not a JSON object."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def bad_types(body, spec):
    """True if a present, non-null field of `body` has the wrong type.
    (bool is checked strictly: it is not accepted where int/str is wanted.)"""
    for key, typ in spec.items():
        val = body.get(key)
        if val is not None and not isinstance(val, typ):
            return True
    return False


# --------------------------------------------------------------------------
# Seed data.  Each function returns a fresh, independent structure.
# --------------------------------------------------------------------------

def merge(payload, extra):
    """extra merged into payload: objects member by member"""
    if not (isinstance(payload, dict) and isinstance(extra, dict)):
        return copy.deepcopy(extra)
    out = dict(payload)
    for k, v in extra.items():
        out[k] = merge(payload.get(k), v) if isinstance(v, dict) else copy.deepcopy(v)
    return out


def seed_kambrium():
    # One record per id holding the union of both documented envelopes.
    # Keys starting with "_" are write-only secrets/settings, never rendered.
    return {
        "123": {
            "id": 123, "mcp_server_name": "Pipedrive",
            "api_key_verification_status": "verified",
            "oauth2_client_id": "client_abc123",
            "oauth2_scopes": ["mcp.read", "mcp.write"],
            "agent_enabled": True, "disabled_tools": [],
            "connection_id": "conn_123abc", "mcp_server_id": "mcp_456def",
            "server_type": "pipedrive", "name": "My Pipedrive Connection",
            "description": "Connection to Pipedrive CRM", "status": "active",
            "auth_method": "api_key", "config": {},
            "created_at": "2025-06-27T10:30:00Z", "updated_at": "2025-06-27T10:30:00Z",
            "_api_key": "pk_seed_pipedrive", "_oauth2_client_secret": None,
            "_access_type": "write",
        },
        "srv_123abc": {
            "id": "srv_123abc", "mcp_server_name": "GitHub",
            "api_key_verification_status": "verified",
            "oauth2_client_id": "client_gh456", "oauth2_scopes": ["mcp.read"],
            "agent_enabled": False, "disabled_tools": ["delete_repository"],
            "connection_id": "conn_456ghi", "mcp_server_id": "mcp_789jkl",
            "server_type": "github", "name": "My GitHub Connection",
            "description": "Connection to GitHub", "status": "active",
            "auth_method": "oauth2", "config": {"org": "example-org"},
            "created_at": "2025-07-01T08:00:00Z", "updated_at": "2025-07-01T08:00:00Z",
            "_api_key": None, "_oauth2_client_secret": "seed_gh_secret",
            "_access_type": "read",
        },
    }


def seed_barndoor():
    return {
        "123e4567-e89b-12d3-a456-426614174000": {
            "id": "123e4567-e89b-12d3-a456-426614174000",
            "name": "Salesforce Production", "slug": "salesforce",
            "connection_status": "connected", "provider": "salesforce",
            "url": "https://api.salesforce.com/mcp",
            "_client_id": "sf_client_seed", "_client_secret": "sf_secret_seed", "_meta": {},
        },
        "9b2f6c1e-4d3a-4f8b-a1c2-3e4d5f6a7b8c": {
            "id": "9b2f6c1e-4d3a-4f8b-a1c2-3e4d5f6a7b8c",
            "name": "Internal Tools", "slug": "internal-tools",
            "connection_status": "pending", "provider": None, "url": None,
            "_client_id": None, "_client_secret": None, "_meta": {},
        },
    }


GATANA_SEED_ID = 42
GATANA_TENANT = "tenant_7f3a9c"


def gatana_credentials(subject, email):
    return {"type": "oauth", "hasAccessToken": True,
            "accessTokenExpiry": "2025-07-27T10:30:00Z", "hasRefreshToken": True,
            "subject": subject, "email": email,
            "createdAt": "2025-06-27T10:31:00Z", "lastUsedAt": "2025-06-28T09:15:00Z"}


def gatana_files(count, server_id=GATANA_SEED_ID):
    kinds = ("README.md", "CONTRIBUTING.md", "report.pdf", "notes.txt")
    return [{"tenantId": GATANA_TENANT, "serverId": str(server_id),
             "id": "file_%06d" % i, "filename": "%04d-%s" % (i, kinds[i % len(kinds)]),
             "sourceType": "gcs", "sourceId": "gs://gatana-files/%s/file_%06d" % (GATANA_TENANT, i),
             "size": 1024 + 37 * i, "credentialId": "cred_%04d" % (i % 7),
             "createdAt": "2025-06-27T10:40:00Z", "updatedAt": "2025-06-27T10:40:00Z"}
            for i in range(1, count + 1)]


def seed_gatana():
    server = {
        "id": GATANA_SEED_ID, "slug": "github-tools", "tenantId": GATANA_TENANT,
        "name": "GitHub Tools", "description": "GitHub repository, issue and PR tools",
        "logoUrl": "https://github.githubassets.com/favicons/favicon.png",
        "authorization": {"method": "apikey", "credentialsScope": "server",
                          "apikeys": ["gh-secret-key-1"]},
        "transportConfig": {"type": "httpstreaming", "url": "https://mcp.github.example/mcp",
                            "headers": [["X-Api-Key", "gh-header-secret"]]},
        "oauthClientConfiguration": None, "oauthMetadata": None, "isEnabled": True,
        "lastToolRefreshAt": "2025-06-27T10:35:00Z",
        "createdAt": "2025-06-27T10:30:00Z", "updatedAt": "2025-06-27T10:30:00Z",
        "serverCredentials": gatana_credentials("svc_github_tools", "github-bot@example.com"),
    }
    return {"github-tools": {
        "server": server, "files": gatana_files(2),
        "currentUserCredentials": gatana_credentials("user_123", "dev@example.com")}}


SEEDS = {"kambrium": seed_kambrium, "barndoor": seed_barndoor, "gatana": seed_gatana}


# --------------------------------------------------------------------------
# Shared state: records, request counters, fault config.  One lock for all.
# --------------------------------------------------------------------------

class State:
    def __init__(self, vendor):
        self.vendor = vendor
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.records = SEEDS[self.vendor]()
            self.counts = {}
            self.total = 0
            self.last = None
            self.fault = None       # dict(mode, delay_ms, count, methods) or None

    def record(self, method, path, query, headers, body):
        """Count a vendor request; return the fault (a copy) that applies to it, if any."""
        with self.lock:
            key = "%s %s" % (method, path)
            self.counts[key] = self.counts.get(key, 0) + 1
            self.total += 1
            hdrs = {}
            for name, value in headers.items():
                name = name.lower()
                hdrs[name] = hdrs[name] + ", " + value if name in hdrs else value
            self.last = {"method": method, "path": path, "query": query, "headers": hdrs,
                         "body": body.decode("utf-8", "replace") if body else None}
            fault = self.fault
            if fault is None or (fault["methods"] is not None and method not in fault["methods"]):
                return None
            applied = dict(fault)
            if fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.fault = None
            return applied

    def snapshot(self):
        with self.lock:
            return {"counts": dict(self.counts), "total": self.total,
                    "last": copy.deepcopy(self.last)}


# --------------------------------------------------------------------------
# Vendor APIs.  Each method returns (status, payload) with state.lock held.
# --------------------------------------------------------------------------

class VendorAPI:
    path_re = None

    def __init__(self, state, args):
        self.state = state
        self.args = args

    def handle(self, method, path, headers, raw):
        """Route a counted request -> (status, payload, extra_headers)."""
        m = self.path_re.match(path)
        if not m:
            return self.unknown_path(method, path) + ({},)
        if method not in ("GET", "PUT"):
            return self.not_allowed(method) + ({"Allow": "GET, PUT"},)
        auth = headers.get("Authorization", "")
        scheme, _, token = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self.unauthorized() + ({},)      # missing / not a bearer credential
        if self.args.expect_token is not None and auth != "Bearer " + self.args.expect_token:
            return self.forbidden(method) + ({},)
        key = unquote(m.group(1))
        with self.state.lock:
            if method == "GET":
                return self.get(key) + ({},)
            return self.put(key, raw) + ({},)


    # the "leak" fault: a vendor that sends its write-only secrets back
    LEAKED = {}

    def leak(self, payload):
        for path, value in self.LEAKED.items():
            node = payload
            for part in path[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node[path[-1]] = value
        return payload


class Kambrium(VendorAPI):
    LEAKED = {(env, f): "LEAKED-kambrium-" + f
              for env in ("data", "connection")
              for f in ("api_key", "oauth2_client_secret")}
    path_re = re.compile(r"^/api/v1/mcp-servers/([^/]+)$")
    id_re = re.compile(r"^(?:[0-9]+|srv_[A-Za-z0-9]+)$")
    ACCESS_SCOPES = {"read": ["mcp.read"], "write": ["mcp.read", "mcp.write"],
                     "individual": None}     # individual: scopes left as they are
    PUT_TYPES = {"agent_enabled": bool, "api_key": str, "oauth2_client_secret": str,
                 "name": str, "description": str, "config": dict,
                 "connection_id": str, "disabled_tools": list}
    DATA_FIELDS = ("id", "mcp_server_name", "api_key_verification_status", "oauth2_client_id",
                   "oauth2_scopes", "agent_enabled", "disabled_tools", "created_at")
    CONN_FIELDS = ("connection_id", "mcp_server_id", "server_type", "name", "description",
                   "status", "auth_method", "oauth2_client_id", "oauth2_scopes", "config",
                   "created_at", "updated_at")

    def unknown_path(self, method, path):
        return 404, {"detail": "Not Found"}

    def not_allowed(self, method):
        return 405, {"detail": "Method Not Allowed"}

    def unauthorized(self):
        return 401, {"detail": "Authentication credentials were not provided."}

    def forbidden(self, method):
        verb = "update" if method == "PUT" else "access"
        return 403, {"detail": "You do not have permission to %s this connection." % verb}

    def server_error(self, method):
        if method == "PUT":
            return 500, {"detail": "Failed to update MCP server: database error"}
        return 500, {"detail": "Failed to get MCP server details: database error"}

    def _lookup(self, key):
        rec = self.state.records.get(key) if self.id_re.match(key) else None
        if rec is None:
            return None, (404, {"detail": "MCP server %s not found or not accessible" % key})
        return rec, None

    def _render(self, rec, message):
        if self.args.envelope == "connection":
            return 200, {"message": message,
                         "connection": {f: copy.deepcopy(rec[f]) for f in self.CONN_FIELDS}}
        return 200, {"success": True,
                     "data": {f: copy.deepcopy(rec[f]) for f in self.DATA_FIELDS}}

    def get(self, key):
        rec, err = self._lookup(key)
        return err or self._render(rec, "Connection retrieved successfully")

    def put(self, key, raw):
        rec, err = self._lookup(key)
        if err:
            return err
        body = parse_object(raw)
        if body is None:
            return 400, {"detail": "Invalid request body"}
        access = body.get("access_type")
        if access is not None and (not isinstance(access, str) or access not in self.ACCESS_SCOPES):
            return 400, {"detail": "Invalid access type specified"}
        if bad_types(body, self.PUT_TYPES):
            return 400, {"detail": "Invalid request body"}
        # Validated: apply.  null means "leave unchanged" for every field.
        given = {k: v for k, v in body.items() if v is not None}
        for field in ("agent_enabled", "name", "description", "config",
                      "connection_id", "disabled_tools"):
            if field in given:
                rec[field] = given[field]
        if "access_type" in given:
            rec["_access_type"] = access
            if self.ACCESS_SCOPES[access] is not None:
                rec["oauth2_scopes"] = list(self.ACCESS_SCOPES[access])
        if "api_key" in given:
            rec["_api_key"] = given["api_key"]
            rec["api_key_verification_status"] = "pending"   # re-verified asynchronously
        if "oauth2_client_secret" in given:
            rec["_oauth2_client_secret"] = given["oauth2_client_secret"]
        rec["updated_at"] = now_iso()
        return self._render(rec, "Connection updated successfully")


class Barndoor(VendorAPI):
    LEAKED = {("client_secret",): "LEAKED-barndoor-client_secret"}
    path_re = re.compile(r"^/api/servers/([^/]+)$")
    uuid_re = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
    PUT_TYPES = {"name": str, "slug": str, "client_id": str, "client_secret": str, "meta": dict}
    FIELDS = ("id", "name", "slug", "connection_status", "provider", "url")

    def unknown_path(self, method, path):
        return 404, {"detail": "Not Found"}

    def not_allowed(self, method):
        return 405, {"detail": "Method Not Allowed"}

    def unauthorized(self):
        return 401, {"detail": "Not authenticated"}

    def forbidden(self, method):
        return 403, {"detail": "Forbidden"}

    def server_error(self, method):
        return 500, {"error": "Internal Server Error"}

    def _lookup(self, key):
        if not self.uuid_re.match(key):
            return None
        return self.state.records.get(key.lower())

    def _render(self, rec):
        return 200, {f: rec[f] for f in self.FIELDS}

    def get(self, key):
        rec = self._lookup(key)
        return self._render(rec) if rec else (404, {"detail": "Server not found"})

    def put(self, key, raw):
        rec = self._lookup(key)
        if rec is None:
            return 404, {"detail": "Server not found"}
        body = parse_object(raw)
        if body is None or bad_types(body, self.PUT_TYPES):
            return 422, {"detail": "Invalid request body"}
        for field in ("name", "slug"):
            if body.get(field) is not None:
                rec[field] = body[field]
        for field in ("client_id", "client_secret", "meta"):
            if body.get(field) is not None:
                rec["_" + field] = body[field]
        # Credentials were the missing piece of a pending connection.
        if rec["connection_status"] == "pending" and rec["_client_id"] and rec["_client_secret"]:
            rec["connection_status"] = "connected"
        return self._render(rec)


class Gatana(VendorAPI):
    path_re = re.compile(r"^/api/v1/mcp-servers/([^/]+)$")
    slug_re = re.compile(r"^[-a-z0-9]+$")
    uri_re = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")

    def unknown_path(self, method, path):
        return 404, {"error": "Not Found", "message": "Route %s:%s not found" % (method, path)}

    def not_allowed(self, method):
        return 405, {"error": "Method Not Allowed", "message": "Method %s not allowed" % method}

    def unauthorized(self):
        return 401, {"error": "Unauthorized", "message": "Missing bearer token"}

    def forbidden(self, method):
        return 403, {"error": "Forbidden", "message": "Forbidden"}

    def server_error(self, method):
        return 500, {"error": "Internal Server Error"}

    @staticmethod
    def _bad(message):
        return 400, {"error": "Bad Request", "message": message}

    @staticmethod
    def _render(entry):
        return 200, copy.deepcopy(entry)

    def get(self, key):
        entry = self.state.records.get(key)
        if entry is None:
            return 404, {"error": "Not Found", "message": "MCP server not found"}
        return self._render(entry)

    def _validate(self, body):
        """Fastify/Ajv-style message for the first problem, or None."""
        if body is None:
            return "body must be object"
        required = ["name", "slug"]
        if not self.args.gatana_partial:
            required += ["authorization", "transportConfig"]
        for field in required:
            if field not in body:
                return "body must have required property '%s'" % field
        for field in ("name", "slug", "description", "logoUrl", "url"):
            if field in body and not isinstance(body[field], str):
                return "body/%s must be string" % field
        slug = body.get("slug")
        if slug is not None:
            if len(slug) > 20:
                return "body/slug must NOT have more than 20 characters"
            if not self.slug_re.match(slug):
                return 'body/slug must match pattern "^[-a-z0-9]+$"'
        for field in ("logoUrl", "url"):
            if field in body and not self.uri_re.match(body[field]):
                return 'body/%s must match format "uri"' % field
        for field in ("authorization", "transportConfig"):
            if field in body and not isinstance(body[field], dict):
                return "body/%s must be object" % field
        for field in ("oauthMetadata", "oauthClientConfiguration"):
            if field in body and body[field] is not None and not isinstance(body[field], dict):
                return "body/%s must be object,null" % field
        keys = body.get("authorization", {}).get("apikeys")
        if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            return "body/authorization/apikeys must be array of string"
        hdrs = body.get("transportConfig", {}).get("headers")
        if hdrs is not None and not (isinstance(hdrs, list) and all(
                isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h)
                for h in hdrs)):
            return "body/transportConfig/headers must be array of [string, string]"
        return None

    def put(self, key, raw):
        entry = self.state.records.get(key)
        if entry is None:
            return 404, {"error": "Not Found", "message": "MCP server not found"}
        body = parse_object(raw)
        problem = self._validate(body)
        if problem:
            return self._bad(problem)
        new_slug = body["slug"]
        if new_slug != key and new_slug in self.state.records:
            return 409, {"error": "Conflict", "message": "MCP server slug already exists"}
        srv = entry["server"]
        for field in ("name", "slug", "description", "logoUrl", "authorization",
                      "transportConfig", "oauthMetadata", "oauthClientConfiguration"):
            if field in body:
                srv[field] = copy.deepcopy(body[field])
        if "url" in body:                      # top-level url is the transport URL
            srv["transportConfig"]["url"] = body["url"]
        srv["updatedAt"] = now_iso()
        if new_slug != key:                    # rename: old slug now 404s
            del self.state.records[key]
            self.state.records[new_slug] = entry
        return self._render(entry)

    def set_files(self, count):
        """Replace the seeded server's files (found by id, it may have been renamed)."""
        with self.state.lock:
            for entry in self.state.records.values():
                if entry["server"]["id"] == GATANA_SEED_ID:
                    entry["files"] = gatana_files(count)
                    return len(json.dumps(entry, separators=(",", ":")).encode())
        return None


VENDORS = {"kambrium": Kambrium, "barndoor": Barndoor, "gatana": Gatana}


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

class BadRequest(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"          # keep-alive; we always send Content-Length

    def version_string(self):
        return "mock-registry/1.0"

    def log_message(self, fmt, *args):     # quiet: no per-request logging
        pass

    # -- request body ------------------------------------------------------
    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            raise BadRequest("invalid Content-Length")
        data = self.rfile.read(n)
        if len(data) != n:
            raise BadRequest("short body")
        return data

    def _read_chunked(self):
        chunks = []
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size == 0:
                break
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(65537) not in (b"\r\n", b"\n"):
                raise BadRequest("bad chunk")
            chunks.append(data)
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass                                # discard trailers
        return b"".join(chunks)

    # -- responses ---------------------------------------------------------
    def _send(self, status, body, ctype=JSON, extra=None):
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_rst(self):
        """Drop the connection with a TCP RST and no response at all."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket; release it so close() really closes now
        # (and before the server's shutdown(SHUT_WR), which would send a FIN first).
        self.rfile.close()
        self.connection.close()

    def _send_chunked_badly(self, status, body, size_line):
        """the body in two chunks, the second announced by size_line"""
        body = json.dumps(body, separators=(",", ":")).encode()
        half = len(body) // 2
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"%x\r\n" % half + body[:half] + b"\r\n"
                         + size_line + b"\r\n" + body[half:] + b"\r\n0\r\n\r\n")
        self.wfile.flush()

    def _send_status(self, status, body):
        """any status, even one HTTP has not (http.server refuses none)"""
        body = json.dumps(body, separators=(",", ":")).encode()
        self.close_connection = True
        self.wfile.write(b"HTTP/1.1 %d Odd\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                         % (status, len(body)) + body)
        self.wfile.flush()

    def _send_truncated(self):
        """Promise more bytes than we send, then close the connection."""
        full = b'{"truncated":true,"padding":"' + b"x" * 4096 + b'"}'
        partial = full[:len(full) // 2]
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(full)))
        self.end_headers()
        self.wfile.write(partial)

    # -- dispatch ----------------------------------------------------------
    def _handle(self):
        path, _, query = self.path.partition("?")
        try:
            raw = self._read_body()
        except BadRequest as exc:
            self.close_connection = True
            return self._send(400, {"error": str(exc)})
        if path == "/_mock" or path.startswith("/_mock/"):
            return self._control(path, raw)

        state, api = self.server.state, self.server.api
        fault = state.record(self.command, path, query, self.headers, raw)
        if fault:
            if fault["delay_ms"] and fault["mode"] != "late":
                time.sleep(fault["delay_ms"] / 1000.0)
            mode = fault["mode"]
            if mode == "reset":
                return self._send_rst()
            if mode == "truncate":
                return self._send_truncated()
            if mode == "status500":
                return self._send(*api.server_error(self.command))
            if mode == "nonjson":
                return self._send(200, HTML_BODY, "text/html; charset=utf-8")
            if mode == "shape":     # valid JSON, but not the vendor's shape
                return self._send(200, {"items": [], "next": None})
        status, payload, extra = api.handle(self.command, path, self.headers, raw)
        mode = fault["mode"] if fault else None
        if mode == "leak" and status == 200:
            payload = api.leak(payload)
        if mode == "late" and fault["delay_ms"]:
            time.sleep(fault["delay_ms"] / 1000.0)
        if mode == "inject" and status == 200:
            payload = merge(payload, fault["merge"])
        if mode == "nul":
            text = json.dumps(payload, separators=(",", ":")).encode()
            return self._send(status, text.replace(b",", b"\0,", 1), extra=extra)
        if mode == "badchunk":
            return self._send_chunked_badly(status, payload, b"zz")
        if mode == "hugechunk":
            return self._send_chunked_badly(status, payload, b"1" + b"0" * 16)
        if mode == "status999":
            return self._send_status(999, payload)
        self._send(status, payload, extra=extra)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    # -- control API -------------------------------------------------------
    def _control(self, path, raw):
        state = self.server.state
        routes = {("GET", "/_mock/requests"), ("POST", "/_mock/reset"),
                  ("GET", "/_mock/fault"), ("POST", "/_mock/fault")}
        if state.vendor == "gatana":
            routes.add(("POST", "/_mock/files"))
        if (self.command, path) not in routes:
            if any(p == path for _, p in routes):
                return self._send(405, {"error": "method not allowed"})
            return self._send(404, {"error": "unknown mock endpoint"})

        if path == "/_mock/requests":
            return self._send(200, state.snapshot())
        if path == "/_mock/reset":
            state.reset()
            return self._send(200, {})
        if path == "/_mock/fault" and self.command == "GET":
            with state.lock:
                fault = copy.deepcopy(state.fault)
            return self._send(200, {"fault": fault})

        body = parse_object(raw) if raw.strip() else {}
        if body is None:
            return self._send(400, {"error": "body must be a JSON object"})
        if path == "/_mock/files":
            count = body.get("count")
            if type(count) is not int or not 0 <= count <= MAX_GENERATED_FILES:
                return self._send(400, {"error": "count must be an int in 0..%d" % MAX_GENERATED_FILES})
            size = self.server.api.set_files(count)
            if size is None:
                return self._send(404, {"error": "seeded server no longer exists"})
            return self._send(200, {"files": count, "body_bytes": size})
        return self._set_fault(body)

    def _set_fault(self, body):
        mode = body.get("mode", "none")
        delay = body.get("delay_ms")
        count = body.get("count")
        methods = body.get("methods")
        if mode not in FAULT_MODES:
            return self._send(400, {"error": "mode must be one of %s" % ", ".join(FAULT_MODES)})
        if delay is not None and (type(delay) is not int or delay < 0):
            return self._send(400, {"error": "delay_ms must be a non-negative int"})
        if count is not None and (type(count) is not int or count < 1):
            return self._send(400, {"error": "count must be a positive int"})
        if methods is not None and not (isinstance(methods, list)
                                        and all(isinstance(m, str) for m in methods)):
            return self._send(400, {"error": "methods must be a list of strings"})
        merged = body.get("merge")
        if mode == "inject" and not isinstance(merged, dict):
            return self._send(400, {"error": "inject needs a \"merge\" object"})
        if mode in ("latency", "late") and delay is None:
            delay = 1000
        fault = None
        if mode != "none":
            fault = {"mode": mode, "delay_ms": delay or 0, "count": count,
                     "methods": [m.upper() for m in methods] if methods is not None else None,
                     "merge": merged}
        with self.server.state.lock:
            self.server.state.fault = fault
        return self._send(200, {"fault": fault})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients hanging up (and our own deliberate resets) are expected; stay quiet.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="Stateful mock of one MCP registry vendor API")
    ap.add_argument("--vendor", required=True, choices=sorted(VENDORS))
    ap.add_argument("--port", required=True, type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--envelope", choices=("data", "connection"), default="data",
                    help="kambrium response envelope (default: data)")
    ap.add_argument("--expect-token", default=None,
                    help="require 'Authorization: Bearer TOKEN' (else 403)")
    ap.add_argument("--gatana-partial", action="store_true",
                    help="gatana: only name and slug are required in PUT bodies")
    args = ap.parse_args()

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    Server.address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    httpd = None
    try:
        httpd = Server((args.host, args.port), Handler)
        httpd.state = State(args.vendor)
        httpd.api = VENDORS[args.vendor](httpd.state, args)
        print("READY %s %d" % (args.vendor, httpd.server_address[1]), flush=True)
        httpd.serve_forever()
    except SystemExit:
        pass
    except OSError as exc:              # e.g. port already in use
        print("registry.py: cannot listen on %s:%d: %s" % (args.host, args.port, exc),
              file=sys.stderr)
        sys.exit(1)
    finally:
        if httpd is not None:
            httpd.server_close()


if __name__ == "__main__":
    main()
