// The one Lua script the Redis store runs: settlements of finished requests first, then the
// admissions of the new requests of this moment, each atomic and all-or-nothing on its own
// (Redis runs a script with nothing interleaved). Same semantics as memory-store.ts; the
// conformance suite holds both to it.
//
// KEYS: the settlement keys, then each request's check keys, in order.
// ARGV[1]: now (ms, or -1 for Redis' own clock).
// ARGV[2]: JSON (one argument, decoded in C by cjson: cheap for the client and for Redis)
//   { "s": [settlement…], "r": [[lease, [check…]]…] } where
//   settlement: ["f", interval, amount]   refund (amount > 0) or charge (< 0) a GCRA bucket
//                                         (interval: only for a bucket holding nothing)
//               ["x", lease]              release a concurrency lease
//               ["a", amount, floor]      add to a quota sum
//   check:      ["r", limit, period, cost]   GCRA rate
//               ["c", limit, ttl]            concurrency lease
//               ["q", limit, floor]          quota (the sum is raised to the floor, kept)
// Returns, per request: allowed, retryAfterMs, then ok, remaining, reset per check (a quota's
// remaining as a decimal string: a Lua number would reach the client truncated to an integer).
// A GCRA key holds "tat interval": the spacing (ms per unit) the TAT was computed with, so a
// reloaded limit keeps the units used (memory-store.ts's rateAfter). A key written before
// that holds the TAT alone and is read at the spacing of whoever reads it, as it was then.
export const LIMITS_SCRIPT = `
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local d = cjson.decode(ARGV[2])

local function num(v)
  return tonumber(v) or 0
end

local function set_tat(key, tat, interval)
  if tat > now then
    redis.call('SET', key, string.format('%.17g %.17g', tat, interval), 'PX', math.ceil(tat - now))
  else
    redis.call('DEL', key)
  end
end

-- A GCRA key's TAT (at least now) and its spacing (nil: holding nothing, or written without one).
local function get_tat(key)
  local v = redis.call('GET', key)
  if not v then return now, nil end
  local sp = string.find(v, ' ', 1, true)
  if not sp then return math.max(num(v), now), nil end
  local tat = tonumber(string.sub(v, 1, sp - 1)) or 0
  if tat <= now then return now, nil end
  return tat, tonumber(string.sub(v, sp + 1))
end

local k = 0
for _, w in ipairs(d.s) do
  k = k + 1
  local key = KEYS[k]
  if w[1] == 'f' then
    local tat, iv = get_tat(key)
    iv = iv or w[2]
    set_tat(key, tat - iv * w[3], iv)
  elseif w[1] == 'x' then
    redis.call('ZREM', key, w[2])
  elseif w[1] == 'a' then
    local sum = math.max(num(redis.call('GET', key)), w[3])
    redis.call('SET', key, string.format('%.17g', sum + w[2]))
  end
end

local out = {}
for _, req in ipairs(d.r) do
  local lease = req[1]
  local checks = req[2]
  local a = #checks
  -- Check everything first; take only if everything passes. Results describe the state
  -- after this call: a rate that passed but was not taken reports its untaken state.
  local allowed = 1
  local retry = 0
  local oks, tats, nexts, rem, rst, moved = {}, {}, {}, {}, {}, {}
  for i = 1, a do
    local key = KEYS[k + i]
    local w = checks[i]
    local p1, p2 = w[2], w[3]
    local ok = 1
    rem[i] = 0
    rst[i] = 0
    if w[1] == 'r' then
      local cost = w[4]
      local tat, iv = get_tat(key)
      local interval = p2 / p1
      -- Taken under another limit: the units used stay, at this limit's spacing (kept even if refused).
      if iv and iv ~= interval then
        tat = now + (tat - now) / iv * interval
        moved[i] = true
      end
      tats[i] = tat
      nexts[i] = tat + cost * interval
      -- The slack (a millionth of a unit) absorbs float error, as the memory store's.
      if nexts[i] - now > p2 + (p2 / p1) * 1e-6 then
        ok = 0
        if cost > p1 then retry = math.max(retry, p2) else retry = math.max(retry, math.ceil(nexts[i] - now - p2)) end
      end
    elseif w[1] == 'c' then
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
    elseif w[1] == 'q' then
      local stored = num(redis.call('GET', key))
      local sum = math.max(stored, p2)
      -- The floor (what the asking replica knows was spent) is kept, refused or not: spend
      -- it recorded while Redis was away would otherwise never reach the other replicas.
      if sum > stored then redis.call('SET', key, string.format('%.17g', sum)) end
      if sum >= p1 then ok = 0 end
      -- As text: Redis turns a Lua number into an integer reply, and spend is in cents.
      rem[i] = string.format('%.17g', p1 - sum)
    end
    oks[i] = ok
    if ok == 0 then allowed = 0 end
  end

  out[#out + 1] = allowed
  out[#out + 1] = allowed == 0 and retry or 0
  for i = 1, a do
    local key = KEYS[k + i]
    local w = checks[i]
    if w[1] == 'r' then
      local p1, p2 = w[2], w[3]
      local at = tats[i]
      if allowed == 1 then
        at = nexts[i]
        set_tat(key, at, p2 / p1)
      elseif moved[i] then
        set_tat(key, at, p2 / p1)
      end
      rem[i] = math.max(0, math.floor((p2 - (at - now)) / (p2 / p1) + 1e-6))
      rst[i] = math.ceil(at - now)
    elseif w[1] == 'c' then
      if allowed == 1 then
        local ttl = w[3]
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
  k = k + a
end
return out
`
