-- The lookup of a cache entry (ngx_http_mcp_cache_lookup.c): reads the
-- server's generation and the entry, and takes the entry's lock on a miss.
--
-- Returns {gen, "H", status, body} (a hit), {gen, "L"} (a miss, locked by
-- this request), {gen, "W"} (a miss another request is fetching) or
-- {gen, "M"} (a miss).

local gen_key, entries_key, lock_key = KEYS[1], KEYS[2], KEYS[3]

-- mode: "l" lookup, and lock on a miss; "n" lookup; "b" the generation
-- only (a bypass)
local field, mode, lock_ms, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local t = redis.call('TIME')
local gen = redis.call('GET', gen_key)
if not gen then
  gen = t[1] .. string.format('%06d', t[2])
  redis.call('SET', gen_key, gen, 'PX', 86400000)
end

if mode == 'b' then
  return {gen, 'M'}
end

local e = redis.call('HMGET', entries_key, field, field .. ':b')
if e[1] then
  local status, expiry = string.match(e[1], '^(%d+) (%d+)$')
  if expiry and e[2]
     and tonumber(expiry) > t[1] * 1000 + math.floor(t[2] / 1000) then
    return {gen, 'H', status, e[2]}
  end
  redis.call('HDEL', entries_key, field, field .. ':b')
end

if mode == 'l' then
  if redis.call('SET', lock_key, token, 'NX', 'PX', lock_ms) then
    return {gen, 'L'}
  end
  return {gen, 'W'}
end

return {gen, 'M'}
