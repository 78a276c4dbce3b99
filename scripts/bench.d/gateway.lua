--[[
Rows 2L, 4L and 4P of scripts/bench: the gateway a platform team writes on
OpenResty's parts as Debian ships them (libnginx-mod-http-lua 0.10.23 on
LuaJIT, lua-resty-core, luaossl, lua-cjson, lua-resty-lrucache) instead of
ngx_http_mcp_module, for one Kambrium registry, the way a Kong plugin does
it:

  - access(): the bearer token, RS256 verified with luaossl (the key parsed
    once per worker), a per-worker LRU of verified tokens keyed by the
    token's SHA-256 (resty.lrucache, 1024 entries, as the module's
    mcp_auth_jwt_cache), and on every request the module's claim checks:
    exp (required), nbf, iat, iss, aud, sub a string, the scope the method
    needs in "scope" or "scp"; 401/403 with WWW-Authenticate and the
    module's details;
  - content(): one ngx.location.capture to the registry's internal
    location, lua-cjson, the Kambrium answer reshaped into the canonical
    server (the module's mapping: status, auth, timestamps, extensions,
    secrets scrubbed), cjson.encode;
  - cached() (row 4L): content() behind a lua_shared_dict, per caller and
    URI, for the TTL of the module's rows (300 s).

Row 4P is access() in front of nginx's own proxy_cache, keyed per caller
(what access() returns, in $bench_caller), whose origin is content().

Debian's lua-cjson is upstream's 2.1.0, not OpenResty's fork: it has no
cjson.empty_array nor array_mt, so an empty Lua table always encodes as
{}.  The minimal equivalent here: the fields the mapping knows are arrays
hold a sentinel when empty, replaced by [] after encoding (encode()).

The policy (scripts/bench writes it; njs's row 2 reads the same file):
  { "kid", "pem" (the public key), "issuer", "audience", "scope" (the read
    scope), "write_scope", "leeway", "registry", "pass" }
]]

local pkey = require "openssl.pkey"
local digest = require "openssl.digest"
local cjson = require "cjson.safe"
local lrucache = require "resty.lrucache"
local b64 = require "ngx.base64"

local ngx = ngx
local ngx_var = ngx.var
local ngx_header = ngx.header
local capture = ngx.location.capture
local re_find = ngx.re.find
local decode_base64url = b64.decode_base64url
local json_decode = cjson.decode
local json_encode = cjson.encode
local type = type
local tostring = tostring
local tonumber = tonumber
local pairs = pairs
local next = next
local ipairs = ipairs
local str_byte = string.byte
local str_find = string.find
local str_match = string.match
local str_format = string.format
local str_lower = string.lower
local str_gsub = string.gsub
local str_sub = string.sub
local floor = math.floor

local _M = {}

local policy, key, tokens, realm_header
local cache_ttl = 300

local KAMBRIUM_PATH = "/api/v1/mcp-servers/"

-- the module's secret names (ngx_http_mcp_map.c), compared as it compares
-- them: lower case letters and digits only; any name that ends with one
-- of the first list, or is one of the second ("string": only when the
-- value is a string); a boolean is never a secret
local SECRET_SUFFIXES = {
    "secret", "secrets", "password", "passwd", "passphrase", "token",
    "apikey", "apikeys", "privatekey",
}

local SECRET_NAMES = {
    credential = "any", authorization = "string", cookie = "string",
}

-- a member whose name ends so holds credentials: none of its members
-- stays (Kambrium documents none that describe them)
local CREDENTIALS = "credentials"

local SCOPE_CLAIMS = { "scope", "scp" }

local DATA_KNOWN = {
    id = true, mcp_server_name = true, agent_enabled = true,
    access_type = true, oauth2_client_id = true, oauth2_scopes = true,
    disabled_tools = true, created_at = true, updated_at = true,
}

local CONNECTION_KNOWN = {
    name = true, description = true, server_type = true, auth_method = true,
    access_type = true, oauth2_client_id = true, oauth2_scopes = true,
    disabled_tools = true, created_at = true, updated_at = true,
}

-- an empty array, until encode() writes it as []: cjson writes a string
-- with a NUL as "\u0000...", which no other value encodes to here
local EMPTY_ARRAY = "\0[]"
local EMPTY_ARRAY_JSON = '"\\u0000[]"'


function _M.init(path)
    local f = assert(io.open(path))
    policy = assert(json_decode(f:read("*a")))
    f:close()
    key = assert(pkey.new(policy.pem, "PEM", "public"))
    tokens = assert(lrucache.new(1024))
    realm_header = 'Bearer realm="bench"'
end


-- refusals -----------------------------------------------------------------

local function refuse(status, challenge, detail)
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx_header["WWW-Authenticate"] = challenge
    ngx.print(json_encode({ detail = detail }))
    return ngx.exit(ngx.HTTP_OK)
end


local function invalid(description)
    return refuse(401, realm_header .. ', error="invalid_token", '
                       .. 'error_description="' .. description .. '"',
                  description)
end


local function send(status, obj)
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx.print(json_encode(obj))
    return ngx.exit(ngx.HTTP_OK)
end


-- the token ----------------------------------------------------------------

-- the claims of a token whose signature verifies, or nil and why
local function verify(token)
    local h, p, s = str_match(token, "^([%w_-]+)%.([%w_-]+)%.([%w_-]+)$")
    if not h then
        return nil, "The access token is malformed."
    end

    local header = json_decode(decode_base64url(h) or "")
    local claims = json_decode(decode_base64url(p) or "")
    local sig = decode_base64url(s)
    if type(header) ~= "table" or type(claims) ~= "table" or not sig
       or header.crit ~= nil or header.cty ~= nil
       or (header.typ ~= nil and header.typ ~= "JWT"
           and header.typ ~= "at+jwt")
    then
        return nil, "The access token is malformed."
    end

    -- the algorithm is the key's, never the token's choice
    if header.alg ~= "RS256"
       or (header.kid ~= nil and header.kid ~= policy.kid)
    then
        return nil, "The access token signature could not be verified."
    end

    local d = digest.new("sha256")
    d:update(h)
    d:update(".")
    d:update(p)
    if not key:verify(sig, d) then
        return nil, "The access token signature could not be verified."
    end

    return claims
end


-- whether v is want, or an array that holds it
local function holds(v, want)
    if v == want then
        return true
    end
    if type(v) == "table" then
        for _, x in ipairs(v) do
            if x == want then
                return true
            end
        end
    end
    return false
end


-- whether the space-separated words of s hold word
local function has_word(s, word)
    local i, j = 1
    while true do
        i, j = str_find(s, word, i, true)
        if not i then
            return false
        end
        -- whole words: "mgmt.readonly" does not grant "mgmt.read"
        local before, after = str_byte(s, i - 1), str_byte(s, j + 1)
        if (i == 1 or before == 32) and (after == nil or after == 32) then
            return true
        end
        i = j + 1
    end
end


local function has_scope(claims, scope)
    for _, name in ipairs(SCOPE_CLAIMS) do
        local v = claims[name]
        if type(v) == "string" and has_word(v, scope)
           or type(v) == "table" and holds(v, scope)
        then
            return true
        end
    end
    return false
end


-- the access phase: every request, its token checked, a refusal answered
-- here; returns the caller (issuer and subject)
function _M.access()
    local auth = ngx_var.http_authorization
    local token
    if auth then
        local from, to = re_find(auth, [[^bearer[ \t]+([^ \t]+)[ \t]*$]],
                                 "joi", nil, 1)
        token = from and str_sub(auth, from, to)
    end
    if not token then
        return refuse(401, realm_header,
                      "Authentication credentials were not provided.")
    end
    if #token > 8192 then
        return invalid("The access token is too large.")
    end

    local d = digest.new("sha256")
    local id = d:final(token)
    local claims = tokens:get(id)
    if not claims then
        local why
        claims, why = verify(token)
        if not claims then
            return invalid(why)
        end
        local ttl = 600
        if type(claims.exp) == "number" then
            ttl = claims.exp - ngx.time()
            if ttl > 600 then
                ttl = 600
            end
        end
        if ttl > 0 then
            tokens:set(id, claims, ttl)
        end
    end

    -- the claims, on every request, as the module checks them
    local now = ngx.time()
    local leeway = policy.leeway
    local exp, nbf, iat = claims.exp, claims.nbf, claims.iat
    if type(exp) ~= "number" then
        return invalid("The access token lacks a required claim.")
    end
    if exp + leeway <= now then
        return invalid("The access token expired.")
    end
    if (nbf ~= nil and (type(nbf) ~= "number" or nbf - leeway > now))
       or (iat ~= nil and (type(iat) ~= "number" or iat - leeway > now))
    then
        return invalid("The access token is not valid yet.")
    end
    if claims.iss ~= policy.issuer then
        return invalid("The access token is from an issuer that is not "
                       .. "accepted.")
    end
    if not holds(claims.aud, policy.audience) then
        return invalid("The access token is for another audience.")
    end
    if claims.sub ~= nil and type(claims.sub) ~= "string" then
        return invalid("The access token lacks a required claim.")
    end

    local method = ngx.req.get_method()
    local read = method == "GET" or method == "HEAD" or method == "OPTIONS"
    local scope = read and policy.scope or policy.write_scope
    if not has_scope(claims, scope) then
        return refuse(403, realm_header .. ', error="insufficient_scope", '
                           .. 'scope="' .. scope .. '"',
                      read and "You do not have permission to access this "
                               .. "connection."
                           or "You do not have permission to update this "
                              .. "connection.")
    end

    -- who the caller is, for the caches of rows 4L and 4P
    return claims.iss .. "\n" .. (claims.sub or "")
end


-- the canonical server -----------------------------------------------------

local DAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

local function mdays(y, m)
    if m == 2 and y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) then
        return 29
    end
    return DAYS[m]
end


-- days since 1970-01-01 of a civil date (H. Hinnant's algorithm)
local function days_from_civil(y, m, d)
    if m <= 2 then
        y = y - 1
    end
    local era = floor(y / 400)
    local yoe = y - era * 400
    local mp = (m + 9) % 12
    local doy = floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end


local function civil_from_days(z)
    z = z + 719468
    local era = floor(z / 146097)
    local doe = z - era * 146097
    local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524)
                       - floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
    local mp = floor((5 * doy + 2) / 153)
    local d = doy - floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end


-- "2023-11-07T07:31:56.5+02:00" -> "2023-11-07T05:31:56.5Z", or nil for
-- what is not a real RFC 3339 date-time, as the module has it: a day its
-- month has, years 0001 to 9999 on both sides of the offset, offsets
-- within 23:59, a leap second only at 23:59:60 UTC on a month's last
-- day, a fraction of at most 30 digits kept whole
local function normalize_time(s)
    local y, mo, d, h, mi, sec, rest = str_match(s,
        "^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$")
    if not y then
        return nil
    end
    y, mo, d, h, mi, sec = tonumber(y), tonumber(mo), tonumber(d),
                           tonumber(h), tonumber(mi), tonumber(sec)
    if y < 1 or mo < 1 or mo > 12 or d < 1 or d > mdays(y, mo) or h > 23
       or mi > 59 or sec > 60
    then
        return nil
    end

    local frac, zone = str_match(rest, "^(%.%d+)(.*)$")
    if frac then
        if #frac > 31 then
            return nil
        end
    else
        frac, zone = "", rest
    end

    local off
    if zone == "Z" or zone == "z" then
        off = 0
    else
        local sign, oh, om = str_match(zone, "^([+-])(%d%d):(%d%d)$")
        if not sign or tonumber(oh) > 23 or tonumber(om) > 59 then
            return nil
        end
        off = (oh * 60 + om) * (sign == "-" and -1 or 1)
    end

    if off ~= 0 then
        -- to UTC by whole minutes: the seconds never move
        local minutes = (days_from_civil(y, mo, d) * 24 + h) * 60 + mi - off
        local days = floor(minutes / 1440)
        minutes = minutes - days * 1440
        y, mo, d = civil_from_days(days)
        h, mi = floor(minutes / 60), minutes % 60
        if y < 1 or y > 9999 then
            return nil
        end
    end

    if sec == 60 and not (h == 23 and mi == 59 and d == mdays(y, mo)) then
        return nil
    end

    if zone == "Z" and str_byte(s, 11) == 84 then      -- "T"
        return s                            -- already the canonical form
    end

    return str_format("%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, mo, d, h, mi,
                      sec, frac)
end


local function normalized(k)
    return str_lower((str_gsub(k, "[^%w]", "")))
end


local function ends_with(name, tail)
    return #tail <= #name and str_sub(name, -#tail) == tail
end


-- what a member's name makes it: "secret", "string" (a secret when its
-- value is a string), "credentials", or false; remembered per worker for
-- the names a registry uses (at most 4096 of them)
local kinds, nkinds = {}, 0

local function kind_of(k)
    local kind = kinds[k]
    if kind == nil then
        local name = normalized(k)
        local whole = SECRET_NAMES[name]
        kind = whole == "any" and "secret" or whole
               or ends_with(name, CREDENTIALS) and "credentials"
        if not kind then
            for i = 1, #SECRET_SUFFIXES do
                if ends_with(name, SECRET_SUFFIXES[i]) then
                    kind = "secret"
                    break
                end
            end
        end
        if nkinds < 4096 then
            kinds[k] = kind
            nkinds = nkinds + 1
        end
    end
    return kind
end


local function is_secret(kind, v)
    return kind and type(v) ~= "boolean"
           and (kind == "secret" or kind == "string" and type(v) == "string")
end


-- removes every member that holds a secret, at any depth, and every
-- member of a credentials object ("creds"): what the mapping copies from
-- the vendor, since its own names are none
local function scrub(v, creds)
    if v[1] ~= nil then
        for i = 1, #v do
            local x = v[i]
            if type(x) == "table" and not (creds and x[1] ~= nil) then
                scrub(x, creds)
            elseif creds then
                v[i] = cjson.null
            end
        end
        return v
    end
    for k, x in pairs(v) do
        local kind = kind_of(k)
        if creds or is_secret(kind, x) then
            v[k] = nil
        elseif type(x) == "table" then
            scrub(x, kind == "credentials")
        end
    end
    return v
end


local function copy(dst, dkey, src, skey)
    local v = src[skey]
    if type(v) == "table" then
        v = scrub(v)
    end
    if v ~= nil then
        dst[dkey] = v
    end
end


local function copy_array(dst, dkey, src, skey)
    local v = src[skey]
    if type(v) == "table" then
        v = next(v) == nil and EMPTY_ARRAY or scrub(v)
    end
    if v ~= nil then
        dst[dkey] = v
    end
end


local function copy_time(dst, dkey, src, skey, ext)
    local v = src[skey]
    if v == nil then
        return
    end
    if v == cjson.null then
        dst[dkey] = v
        return
    end
    local n = type(v) == "string" and normalize_time(v) or nil
    if n then
        dst[dkey] = n
    else
        ext[skey] = type(v) == "table" and scrub(v) or v
    end
end


local function rest(ext, src, known)
    for k, v in pairs(src) do
        if not known[k] then
            local kind = kind_of(k)
            if not is_secret(kind, v) then
                ext[k] = type(v) == "table"
                         and scrub(v, kind == "credentials") or v
            end
        end
    end
end


-- what both envelopes carry alike, and the rest under extensions
local function copy_common(server, auth, ext, rec, known)
    copy(auth, "oauth_client_id", rec, "oauth2_client_id")
    copy_array(auth, "oauth_scopes", rec, "oauth2_scopes")
    copy(server, "access_type", rec, "access_type")
    copy_array(server, "disabled_tools", rec, "disabled_tools")
    copy_time(server, "created_at", rec, "created_at", ext)
    copy_time(server, "updated_at", rec, "updated_at", ext)
    rest(ext, rec, known)
end


local function kambrium_status(rec)
    local s = rec.status
    if type(s) == "string" then
        if s == "active" then return "active" end
        if s == "inactive" or s == "disabled" then return "disabled" end
        if s == "pending" then return "pending" end
        if s == "error" or s == "failed" then return "error" end
        return "unknown"
    end

    local e = rec.agent_enabled
    if e == false then
        return "disabled"
    end

    s = rec.api_key_verification_status
    if type(s) == "string" then
        if s == "verified" then return "active" end
        if s == "pending" then return "pending" end
        if s == "failed" then return "error" end
        return "unknown"
    end

    return e == true and "active" or "unknown"
end


local function is_object(v)
    return type(v) == "table" and (next(v) == nil or v[1] == nil)
end


-- the canonical server object, or nil for an unexpected shape
local function canonical(registry, id, body)
    if not is_object(body) then
        return nil
    end

    local server = { registry = registry, vendor = "kambrium",
                     vendor_id = id }
    local ext, auth = {}, {}
    local rec = body.data

    if is_object(rec) then
        ext.envelope = "data"

        if type(rec.id) == "number" then
            server.vendor_id = rec.id == floor(rec.id)
                               and str_format("%d", rec.id)
                               or tostring(rec.id)
        elseif type(rec.id) == "string" then
            server.vendor_id = rec.id
        end

        copy(server, "name", rec, "mcp_server_name")
        copy(server, "enabled", rec, "agent_enabled")
        server.status = kambrium_status(rec)

        if rec.api_key_verification_status ~= nil then
            auth.credentials_set =
                type(rec.api_key_verification_status) == "string"
        end
        copy_common(server, auth, ext, rec, DATA_KNOWN)

    else
        rec = body.connection
        if not is_object(rec) then
            return nil
        end
        ext.envelope = "connection"

        copy(server, "name", rec, "name")
        copy(server, "description", rec, "description")
        copy(server, "provider", rec, "server_type")
        local s = kambrium_status(rec)
        server.status = s
        if s == "active" or s == "disabled" then
            server.enabled = s == "active"
        end

        s = rec.auth_method
        local m = (s == "api_key" or s == "none") and s
                  or (s == "oauth2" or s == "oauth") and "oauth2" or nil
        if m then
            auth.method = m
        elseif s ~= nil then
            ext.auth_method = s
        end

        copy_common(server, auth, ext, rec, CONNECTION_KNOWN)
    end

    server.auth = auth
    server.extensions = { kambrium = ext }
    server.id = registry .. ":" .. server.vendor_id

    return server
end


local function encode(server)
    local text = json_encode(server)
    local i, j = str_find(text, EMPTY_ARRAY_JSON, 1, true)
    while i do
        text = str_sub(text, 1, i - 1) .. "[]" .. str_sub(text, j + 1)
        i, j = str_find(text, EMPTY_ARRAY_JSON, i + 2, true)
    end
    return text
end


-- the answer: (status, JSON text)
local function answer()
    local uri = ngx_var.uri
    local i = str_find(uri, KAMBRIUM_PATH, 1, true)
    local id = i and str_sub(uri, i + #KAMBRIUM_PATH) or ""

    if not (str_match(id, "^[1-9]%d*$") and #id <= 18)
       and not str_match(id, "^srv_%w+$")
    then
        return 404, json_encode({ detail = "MCP server " .. id
                                  .. " not found or not accessible" })
    end

    local res = capture(policy.pass .. KAMBRIUM_PATH .. id)
    local body = json_decode(res.body)
    if body == nil then
        return 502, json_encode({ detail = "The kambrium registry answer "
                                           .. "is not JSON." })
    end

    if res.status < 200 or res.status > 299 then
        local detail = type(body) == "table"
                       and (type(body.detail) == "string" and body.detail
                            or type(body.message) == "string"
                               and body.message)
                       or "The registry refused the request."
        return res.status, json_encode({ detail = detail,
                                         registry = policy.registry,
                                         status = res.status })
    end

    local server = canonical(policy.registry, id, body)
    if server == nil then
        return 502, json_encode({ detail = "The kambrium registry answer "
                                           .. "has an unexpected shape." })
    end

    return 200, encode(server)
end


-- the content phase of rows 2L and 4P's origin
function _M.content()
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        ngx_header["Allow"] = "GET, HEAD"
        return send(405, { detail = 'Method "' .. method
                                    .. '" not allowed.' })
    end
    local status, text = answer()
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx.print(text)
end


-- the content phase of row 4L: the answer from the node's shared memory,
-- per caller ("caller", what access() returned)
function _M.cached(caller)
    local dict = ngx.shared.bench
    local k = caller .. "\n" .. ngx_var.uri
    local text = dict:get(k)
    if text then
        ngx_header["Content-Type"] = "application/json"
        ngx_header["X-Cache-Status"] = "HIT"
        ngx.print(text)
        return
    end
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        return _M.content()
    end
    local status
    status, text = answer()
    if status == 200 then
        dict:set(k, text, cache_ttl)
    end
    ngx.status = status
    ngx_header["Content-Type"] = "application/json"
    ngx_header["X-Cache-Status"] = "MISS"
    ngx.print(text)
end


return _M
