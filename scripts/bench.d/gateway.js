/*
 * Row 2 of scripts/bench: the gateway a platform team writes with stock
 * nginx and its JavaScript module (Debian's libnginx-mod-http-js, njs
 * 0.7.9) instead of ngx_http_mcp_module, for one Kambrium registry:
 *
 *   - RS256 bearer token verified with WebCrypto (RSASSA-PKCS1-v1_5,
 *     SHA-256), the algorithm pinned, "kid" checked;
 *   - exp (required), nbf, iat, iss, aud, and the "mgmt.read" scope (in
 *     "scope" or "scp"), as the module checks them;
 *   - a subrequest to the registry (proxy_pass in an internal location);
 *   - the Kambrium answer reshaped into the canonical server object, field
 *     for field and in the module's order, secrets scrubbed.
 *
 * It is written to be fast, not handicapped: the key and the policy come
 * from js_preload_object (no file read per request), one subrequest, no
 * logging.  What njs 0.7.9 cannot do is keep anything between requests
 * (every request runs in a fresh clone of the VM, shared dictionaries
 * arrived in njs 0.8.0), so the key is imported, and the token verified,
 * on every request; it has no "jwk" import either, hence the key in SPKI.
 *
 * The preloaded object "policy" (written by scripts/bench):
 *   { "kid": "...", "spki": "<base64 DER>", "issuer": "...",
 *     "audience": "...", "scope": "mgmt.read", "leeway": 0,
 *     "registry": "kambrium", "pass": "/_njs/kambrium" }
 */


var KAMBRIUM_PATH = '/api/v1/mcp-servers/';

/*
 * The module's secret names (ngx_http_mcp_map.c), compared as it compares
 * them: lower case letters and digits only; a "suffix" one is any name
 * that ends with it, the others the whole name, "strings" only when the
 * value is a string; a boolean is never a secret.  A member whose name
 * ends with "credentials" keeps none of its members (Kambrium documents
 * none that describe them).
 */

var SECRET_SUFFIX = /(secrets?|password|passwd|passphrase|token|apikeys?|privatekey)$/;

var DATA_KNOWN = {
    'id': 1, 'mcp_server_name': 1, 'agent_enabled': 1, 'access_type': 1,
    'oauth2_client_id': 1, 'oauth2_scopes': 1, 'disabled_tools': 1,
    'created_at': 1, 'updated_at': 1
};

var CONNECTION_KNOWN = {
    'name': 1, 'description': 1, 'server_type': 1, 'auth_method': 1,
    'access_type': 1, 'oauth2_client_id': 1, 'oauth2_scopes': 1,
    'disabled_tools': 1, 'created_at': 1, 'updated_at': 1
};


function send(r, status, obj, challenge) {
    r.headersOut['Content-Type'] = 'application/json';
    if (challenge) {
        r.headersOut['WWW-Authenticate'] = challenge;
    }
    r.return(status, JSON.stringify(obj));
}


function unauthorized(r, error, description) {
    send(r, 401, { detail: description },
         'Bearer error="' + error + '", error_description="'
         + description + '"');
}


function b64url(s) {
    if (!/^[A-Za-z0-9_-]+$/.test(s)) {
        throw new Error('not base64url');
    }
    return Buffer.from(s, 'base64url');
}


function hasScope(claims, scope) {
    var v = claims.scope, i;

    if (typeof v === 'string') {
        v = v.split(' ');
    } else {
        v = claims.scp;
        if (typeof v === 'string') {
            v = v.split(' ');
        }
    }

    if (!Array.isArray(v)) {
        return false;
    }

    for (i = 0; i < v.length; i++) {
        if (v[i] === scope) {
            return true;
        }
    }

    return false;
}


function audienceOk(aud, want) {
    var i;

    if (typeof aud === 'string') {
        return aud === want;
    }

    if (Array.isArray(aud)) {
        for (i = 0; i < aud.length; i++) {
            if (aud[i] === want) {
                return true;
            }
        }
    }

    return false;
}


/* returns null when the token is good, else [status, error, description] */

async function verify(r, policy) {
    var auth = r.headersIn['Authorization'], m, parts, header, claims, key,
        ok, now, leeway;

    m = auth ? /^Bearer +([A-Za-z0-9._-]+) *$/i.exec(auth) : null;
    if (!m) {
        return [401, 'invalid_request', 'Bearer token required.'];
    }

    parts = m[1].split('.');
    if (parts.length !== 3 || m[1].length > 8192) {
        return [401, 'invalid_token', 'Malformed token.'];
    }

    try {
        header = JSON.parse(b64url(parts[0]).toString());
        claims = JSON.parse(b64url(parts[1]).toString());
    } catch (e) {
        return [401, 'invalid_token', 'Malformed token.'];
    }

    /* the algorithm is pinned to the key: never chosen by the token */

    if (header.alg !== 'RS256'
        || (header.kid !== undefined && header.kid !== policy.kid))
    {
        return [401, 'invalid_token', 'Token not signed by a known key.'];
    }

    key = await crypto.subtle.importKey('spki',
                                        Buffer.from(policy.spki, 'base64'),
                                        { name: 'RSASSA-PKCS1-v1_5',
                                          hash: 'SHA-256' },
                                        false, ['verify']);

    ok = await crypto.subtle.verify({ name: 'RSASSA-PKCS1-v1_5' }, key,
                                    b64url(parts[2]),
                                    parts[0] + '.' + parts[1]);
    if (!ok) {
        return [401, 'invalid_token', 'Bad signature.'];
    }

    if (claims === null || typeof claims !== 'object') {
        return [401, 'invalid_token', 'Malformed token.'];
    }

    now = Math.floor(Date.now() / 1000);
    leeway = policy.leeway || 0;

    if (typeof claims.exp !== 'number' || claims.exp + leeway <= now) {
        return [401, 'invalid_token', 'Token expired.'];
    }

    if (claims.nbf !== undefined
        && (typeof claims.nbf !== 'number' || claims.nbf - leeway > now))
    {
        return [401, 'invalid_token', 'Token not valid yet.'];
    }

    if (claims.iat !== undefined
        && (typeof claims.iat !== 'number' || claims.iat - leeway > now))
    {
        return [401, 'invalid_token', 'Token issued in the future.'];
    }

    if (claims.iss !== policy.issuer) {
        return [401, 'invalid_token', 'Unknown issuer.'];
    }

    if (!audienceOk(claims.aud, policy.audience)) {
        return [401, 'invalid_token', 'Wrong audience.'];
    }

    if (!hasScope(claims, policy.scope)) {
        return [403, 'insufficient_scope',
                'The token lacks the "' + policy.scope + '" scope.'];
    }

    return null;
}


function mdays(y, m) {
    if (m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) {
        return 29;
    }

    return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}


function pad(n, w) {
    var s = String(n);

    while (s.length < w) {
        s = '0' + s;
    }

    return s;
}


/*
 * "2023-11-07T07:31:56.5+02:00" -> "2023-11-07T05:31:56.5Z", or null for
 * what is not a real RFC 3339 date-time, as the module has it: a day its
 * month has, years 0001 to 9999 on both sides of the offset, offsets
 * within 23:59, a leap second only at 23:59:60 UTC on a month's last
 * day, a fraction of at most 30 digits kept whole.  By whole minutes, the
 * seconds never move (Date would put years 0 to 99 in the 1900s).
 */

function normalizeTime(s) {
    var m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,30})?([Zz]|[+-]\d{2}:\d{2})$/.exec(s),
        y, mo, d, h, mi, sec, off, days, t, era, doe, yoe, doy, mp;

    if (!m) {
        return null;
    }

    y = +m[1]; mo = +m[2]; d = +m[3]; h = +m[4]; mi = +m[5]; sec = +m[6];

    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo) || h > 23
        || mi > 59 || sec > 60)
    {
        return null;
    }

    off = 0;
    if (m[8] !== 'Z' && m[8] !== 'z') {
        if (+m[8].substr(1, 2) > 23 || +m[8].substr(4, 2) > 59) {
            return null;
        }

        off = (+m[8].substr(1, 2) * 60 + +m[8].substr(4, 2))
              * (m[8][0] === '-' ? -1 : 1);
    }

    if (off !== 0) {
        /* days since 0000-03-01 (H. Hinnant's algorithms), and back */
        t = y - (mo <= 2 ? 1 : 0);
        era = Math.floor(t / 400);
        yoe = t - era * 400;
        doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
        days = era * 146097 + yoe * 365 + Math.floor(yoe / 4)
               - Math.floor(yoe / 100) + doy;

        t = (days * 24 + h) * 60 + mi - off;
        days = Math.floor(t / 1440);
        t -= days * 1440;
        h = Math.floor(t / 60);
        mi = t % 60;

        era = Math.floor(days / 146097);
        doe = days - era * 146097;
        yoe = Math.floor((doe - Math.floor(doe / 1460)
                          + Math.floor(doe / 36524)
                          - Math.floor(doe / 146096)) / 365);
        doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
        mp = Math.floor((5 * doy + 2) / 153);
        d = doy - Math.floor((153 * mp + 2) / 5) + 1;
        mo = mp < 10 ? mp + 3 : mp - 9;
        y = yoe + era * 400 + (mo <= 2 ? 1 : 0);

        if (y < 1 || y > 9999) {
            return null;
        }
    }

    if (sec === 60 && !(h === 23 && mi === 59 && d === mdays(y, mo))) {
        return null;
    }

    if (m[8] === 'Z' && s[10] === 'T') {
        return s;                       /* already the canonical form */
    }

    return pad(y, 4) + '-' + pad(mo, 2) + '-' + pad(d, 2) + 'T' + pad(h, 2)
           + ':' + pad(mi, 2) + ':' + pad(sec, 2) + (m[7] || '') + 'Z';
}


function copy(dst, dkey, src, skey) {
    if (src[skey] !== undefined) {
        dst[dkey] = src[skey];
    }
}


function copyTime(dst, dkey, src, skey, ext) {
    var v = src[skey], n;

    if (v === undefined) {
        return;
    }

    if (v === null) {
        dst[dkey] = null;
        return;
    }

    n = typeof v === 'string' ? normalizeTime(v) : null;

    if (n !== null) {
        dst[dkey] = n;
    } else {
        ext[skey] = v;
    }
}


function rest(ext, src, known) {
    var keys = Object.keys(src), i;

    for (i = 0; i < keys.length; i++) {
        if (!known[keys[i]]) {
            ext[keys[i]] = src[keys[i]];
        }
    }
}


function kambriumStatus(rec) {
    var s = rec.status, e;

    if (typeof s === 'string') {
        if (s === 'active') { return 'active'; }
        if (s === 'inactive' || s === 'disabled') { return 'disabled'; }
        if (s === 'pending') { return 'pending'; }
        if (s === 'error' || s === 'failed') { return 'error'; }
        return 'unknown';
    }

    e = rec.agent_enabled;
    if (e === false) {
        return 'disabled';
    }

    s = rec.api_key_verification_status;
    if (typeof s === 'string') {
        if (s === 'verified') { return 'active'; }
        if (s === 'pending') { return 'pending'; }
        if (s === 'failed') { return 'error'; }
        return 'unknown';
    }

    return e === true ? 'active' : 'unknown';
}


/* the canonical server object, or null for an unexpected shape */

function canonical(registry, id, body) {
    var server, ext, rec, auth, m, s;

    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return null;
    }

    server = { id: null, registry: registry, vendor: 'kambrium',
               vendor_id: id };
    ext = {};
    auth = {};

    rec = body.data;

    if (rec !== null && typeof rec === 'object' && !Array.isArray(rec)) {
        ext.envelope = 'data';

        if (typeof rec.id === 'number') {
            server.vendor_id = String(rec.id);
        } else if (typeof rec.id === 'string') {
            server.vendor_id = rec.id;
        }

        copy(server, 'name', rec, 'mcp_server_name');
        copy(server, 'enabled', rec, 'agent_enabled');
        server.status = kambriumStatus(rec);

        copy(auth, 'oauth_client_id', rec, 'oauth2_client_id');
        copy(auth, 'oauth_scopes', rec, 'oauth2_scopes');
        if (rec.api_key_verification_status !== undefined) {
            auth.credentials_set =
                typeof rec.api_key_verification_status === 'string';
        }
        server.auth = auth;

        copy(server, 'access_type', rec, 'access_type');
        copy(server, 'disabled_tools', rec, 'disabled_tools');
        copyTime(server, 'created_at', rec, 'created_at', ext);
        copyTime(server, 'updated_at', rec, 'updated_at', ext);
        rest(ext, rec, DATA_KNOWN);

    } else if ((rec = body.connection) !== null && typeof rec === 'object'
               && !Array.isArray(rec))
    {
        ext.envelope = 'connection';

        copy(server, 'name', rec, 'name');
        copy(server, 'description', rec, 'description');
        copy(server, 'provider', rec, 'server_type');
        s = kambriumStatus(rec);
        server.status = s;
        if (s === 'active' || s === 'disabled') {
            server.enabled = s === 'active';
        }

        s = rec.auth_method;
        m = (s === 'api_key' || s === 'none') ? s
            : (s === 'oauth2' || s === 'oauth') ? 'oauth2' : null;
        if (m !== null) {
            auth.method = m;
        } else if (s !== undefined) {
            ext.auth_method = s;
        }

        copy(auth, 'oauth_client_id', rec, 'oauth2_client_id');
        copy(auth, 'oauth_scopes', rec, 'oauth2_scopes');
        server.auth = auth;

        copy(server, 'access_type', rec, 'access_type');
        copy(server, 'disabled_tools', rec, 'disabled_tools');
        copyTime(server, 'created_at', rec, 'created_at', ext);
        copyTime(server, 'updated_at', rec, 'updated_at', ext);
        rest(ext, rec, CONNECTION_KNOWN);

    } else {
        return null;
    }

    server.extensions = { kambrium: ext };
    server.id = registry + ':' + server.vendor_id;

    scrub(server, false);

    return server;
}


function normalized(k) {
    return k.replace(/[^A-Za-z0-9]/g, '').toLowerCase();
}


function endsWith(name, tail) {
    return tail.length <= name.length
           && name.substr(name.length - tail.length) === tail;
}


function isSecret(name, v) {
    if (typeof v === 'boolean') {
        return false;
    }

    if (name === 'authorization' || name === 'cookie') {
        return typeof v === 'string';
    }

    return name === 'credential' || SECRET_SUFFIX.test(name);
}


/*
 * removes every member that holds a secret, at any depth, and every member
 * of a credentials object ("creds")
 */

function scrub(v, creds) {
    var keys, i, name;

    if (Array.isArray(v)) {
        for (i = 0; i < v.length; i++) {
            if (creds && (v[i] === null || typeof v[i] !== 'object'
                          || Array.isArray(v[i])))
            {
                v[i] = null;
            } else {
                scrub(v[i], creds);
            }
        }
        return;
    }

    if (v === null || typeof v !== 'object') {
        return;
    }

    keys = Object.keys(v);
    for (i = 0; i < keys.length; i++) {
        name = normalized(keys[i]);

        if (creds || isSecret(name, v[keys[i]])) {
            delete v[keys[i]];
        } else {
            scrub(v[keys[i]], endsWith(name, 'credentials'));
        }
    }
}


/* "policy" is the preloaded object, a global of every request's VM */

async function serve(r) {
    var bad, id, reply, body, server, i;

    if (r.method !== 'GET' && r.method !== 'HEAD') {
        r.headersOut['Allow'] = 'GET, HEAD';
        send(r, 405, { detail: 'Method "' + r.method + '" not allowed.' });
        return;
    }

    bad = await verify(r, policy);
    if (bad) {
        if (bad[0] === 401) {
            unauthorized(r, bad[1], bad[2]);
        } else {
            send(r, bad[0], { detail: bad[2] },
                 'Bearer error="' + bad[1] + '", scope="' + policy.scope
                 + '"');
        }
        return;
    }

    /* the vendor's path at the end of the URI; Kambrium ids: 123, srv_x */

    i = r.uri.lastIndexOf(KAMBRIUM_PATH);
    id = i < 0 ? '' : r.uri.substr(i + KAMBRIUM_PATH.length);

    if (!/^([1-9][0-9]{0,17}|srv_[A-Za-z0-9]+)$/.test(id)) {
        send(r, 404, { detail: 'MCP server ' + id
                               + ' not found or not accessible' });
        return;
    }

    reply = await r.subrequest(policy.pass + KAMBRIUM_PATH + id);

    try {
        body = JSON.parse(reply.responseText);
    } catch (e) {
        send(r, 502, { detail: 'The kambrium registry answer is not JSON.' });
        return;
    }

    if (reply.status < 200 || reply.status > 299) {
        send(r, reply.status, {
            detail: (body && typeof body.detail === 'string') ? body.detail
                    : (body && typeof body.message === 'string')
                      ? body.message
                      : 'The registry refused the request.',
            registry: policy.registry,
            status: reply.status
        });
        return;
    }

    server = canonical(policy.registry, id, body);
    if (server === null) {
        send(r, 502, { detail: 'The kambrium registry answer has an '
                               + 'unexpected shape.' });
        return;
    }

    send(r, 200, server);
}


export default { serve };
