// The one Lua script the Redis store runs: settlements of finished requests first, then
// the checks of one new request, atomically (Redis runs a script with nothing interleaved).
// Same semantics as memory-store.ts; the conformance suite holds both to it.
//
// KEYS: the S settlement keys, then the A check keys.
// ARGV: now (ms, or -1 for Redis' own clock), lease, S, A, then 4 values per settlement
//   f <interval> <amount> -      refund (amount > 0) or charge (< 0) a GCRA bucket
//   x <lease>    -        -      release a concurrency lease
//   a <amount>   <floor>  -      add to a quota sum
// then 4 values per check
//   r <limit> <period> <cost>    GCRA rate
//   c <limit> <ttl>    -         concurrency lease
//   q <limit> <floor>  -         quota
// Returns { allowed, retryAfterMs, ok1, remaining1, reset1, ok2, … }.
export const LIMITS_SCRIPT = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local lease = ARGV[2]
local s = tonumber(ARGV[3])
local a = tonumber(ARGV[4])

local function num(v)
  return tonumber(v) or 0
end

local function set_tat(key, tat)
  if tat > now then
    redis.call('SET', key, string.format('%.17g', tat), 'PX', math.ceil(tat - now))
  else
    redis.call('DEL', key)
  end
end

for i = 1, s do
  local key = KEYS[i]
  local j = 4 + (i - 1) * 4
  local kind = ARGV[j + 1]
  if kind == 'f' then
    local tat = math.max(num(redis.call('GET', key)), now)
    set_tat(key, tat - tonumber(ARGV[j + 2]) * tonumber(ARGV[j + 3]))
  elseif kind == 'x' then
    redis.call('ZREM', key, ARGV[j + 2])
  elseif kind == 'a' then
    local sum = math.max(num(redis.call('GET', key)), tonumber(ARGV[j + 3]))
    redis.call('SET', key, string.format('%.17g', sum + tonumber(ARGV[j + 2])))
  end
end

-- Check everything first; take only if everything passes. Results describe the state
-- after this call: a rate that passed but was not taken reports its untaken state.
local allowed = 1
local retry = 0
local oks, tats, nexts, rem, rst = {}, {}, {}, {}, {}
for i = 1, a do
  local key = KEYS[s + i]
  local j = 4 + s * 4 + (i - 1) * 4
  local kind = ARGV[j + 1]
  local p1 = tonumber(ARGV[j + 2])
  local p2 = tonumber(ARGV[j + 3])
  local ok = 1
  rem[i] = 0
  rst[i] = 0
  if kind == 'r' then
    local cost = tonumber(ARGV[j + 4])
    tats[i] = math.max(num(redis.call('GET', key)), now)
    nexts[i] = tats[i] + cost * (p2 / p1)
    if nexts[i] - now > p2 then
      ok = 0
      if cost > p1 then retry = math.max(retry, p2) else retry = math.max(retry, math.ceil(nexts[i] - now - p2)) end
    end
  elseif kind == 'c' then
    local held = redis.call('ZCARD', key)
    if held >= p1 then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
      held = redis.call('ZCARD', key)
    end
    if held >= p1 then
      ok = 0
      retry = math.max(retry, 1000)
    else
      rem[i] = p1 - held - 1
    end
  elseif kind == 'q' then
    local sum = math.max(num(redis.call('GET', key)), p2)
    if sum >= p1 then ok = 0 end
    rem[i] = p1 - sum
  end
  oks[i] = ok
  if ok == 0 then allowed = 0 end
end

local out = { allowed, 0 }
if allowed == 0 then out[2] = retry end
for i = 1, a do
  local key = KEYS[s + i]
  local j = 4 + s * 4 + (i - 1) * 4
  local kind = ARGV[j + 1]
  if kind == 'r' then
    local p1 = tonumber(ARGV[j + 2])
    local p2 = tonumber(ARGV[j + 3])
    local at = tats[i]
    if allowed == 1 then
      at = nexts[i]
      set_tat(key, at)
    end
    rem[i] = math.max(0, math.floor((p2 - (at - now)) / (p2 / p1) + 1e-6))
    rst[i] = math.ceil(at - now)
  elseif kind == 'c' then
    if allowed == 1 then
      local ttl = tonumber(ARGV[j + 3])
      redis.call('ZADD', key, now + ttl, lease)
      if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
    elseif oks[i] == 1 then
      rem[i] = rem[i] + 1
    end
  end
  out[#out + 1] = oks[i]
  out[#out + 1] = rem[i]
  out[#out + 1] = rst[i]
end
return out
`
