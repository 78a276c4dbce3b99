-- The store of a registry's answer (ngx_http_mcp_cache_store.c): kept only
-- if the server is still the one the lookup asked (its run id: not another
-- after a failover or a restart), its generation still the one the lookup
-- saw and no write is under way, so that a PUT in between wins; the
-- entry's lock, if this request holds it, goes.  The entry names the
-- server that wrote it.
--
-- Returns 1 if stored.

local gen_key, entries_key, write_key, lock_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- ttl_ms "0": only unlock; since: when the lookup ran, in this server's
-- clock: an answer lives ttl_ms from then, not from now (it may have been
-- fetched before a write that the store comes after)
local field, gen, ttl_ms, status, body, token, run_id, since =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]

if token ~= '' and redis.call('GET', lock_key) == token then
  redis.call('DEL', lock_key)
end

if ttl_ms == '0' or redis.call('GET', gen_key) ~= gen
   or redis.call('EXISTS', write_key) == 1
   or string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') ~= run_id
then
  return 0
end

local t = redis.call('TIME')
local ttl = tonumber(ttl_ms)
local expiry = tonumber(since) + ttl

if expiry <= t[1] * 1000 + math.floor(t[2] / 1000) then
  return 0
end

redis.call('HSET', entries_key, field, status .. ' ' ..
           string.format('%d', expiry) .. ' ' .. run_id, field .. ':b', body)

if redis.call('PTTL', entries_key) < ttl then
  redis.call('PEXPIRE', entries_key, ttl)
end

return 1
