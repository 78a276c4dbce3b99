-- The invalidation after a PUT (ngx_http_mcp_cache_store.c): a new
-- generation, so that no fetch begun before it stores its answer, and
-- every entry of the server gone.

local gen_key, entries_key = KEYS[1], KEYS[2]

if redis.call('EXISTS', gen_key) == 1 then
  redis.call('INCR', gen_key)
  redis.call('PEXPIRE', gen_key, 86400000)
else
  local t = redis.call('TIME')
  redis.call('SET', gen_key, t[1] .. string.format('%06d', t[2]),
             'PX', 86400000)
end

redis.call('UNLINK', entries_key)

return 1
