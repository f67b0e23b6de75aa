#include "store/redis/redis_scripts.h"

#include <string>

namespace stipple::redis::scripts {
namespace {

// Shared by every script: key names, the wake-up list, the queue position and `sync`, which puts
// a task in exactly the indexes its fields call for.
constexpr char kPrelude[] = R"lua(
local p = ARGV[1]
local function tkey(id) return p .. 'task:' .. id end
local function qkey(model, prio) return p .. 'q:' .. model .. ':' .. prio end

local function wake(model)
  local k = p .. 'wake:' .. model
  redis.call('RPUSH', k, '1')
  redis.call('LTRIM', k, -8, -1)
  redis.call('PEXPIRE', k, 60000)
end

local function position(id, model, prio)
  local n = 0
  for q = 0, tonumber(prio) - 1 do n = n + redis.call('ZCARD', qkey(model, q)) end
  local r = redis.call('ZRANK', qkey(model, prio), id)
  if not r then return -1 end
  return n + r
end

-- A task whose request has a webhook leaves a webhook intent when it starts running or ends: the
-- task's hash as it is now and the time of the change, appended in the very script that changes
-- it, so the intent is exactly as durable as the change. The webhook outbox
-- (src/webhook/redis) turns intents into deliveries; its event filter decides which are wanted.
local function webhook_intent(id, st, at)
  if st ~= '1' and tonumber(st) < 2 then return end
  local req = redis.call('HGET', tkey(id), 'request')
  if not req or not string.find(req, '"webhook":{', 1, true) then return end
  redis.call('XADD', p .. 'wh:intents', '*', 'kind', 'state', 'at', at or '0',
             unpack(redis.call('HGETALL', tkey(id))))
  local k = p .. 'wh:wake'
  redis.call('RPUSH', k, '1')
  redis.call('LTRIM', k, -8, -1)
  redis.call('PEXPIRE', k, 60000)
end

local function sync(id, old, t, retention)
  local model, prio, tenant, st = t.model, t.priority, t.tenant, t.state
  if st == '0' then
    redis.call('ZADD', qkey(model, prio), 0, id)
  else
    redis.call('ZREM', qkey(model, prio), id)
  end
  local d = p .. 'delayed:' .. model
  if st == '0' and t.not_before ~= '' then
    redis.call('ZADD', d, t.not_before, id)
  else
    redis.call('ZREM', d, id)
  end
  if st == '1' then
    redis.call('ZADD', p .. 'leases', t.lease_expires_at, id)
    redis.call('SADD', p .. 'running:' .. model, id)
  else
    redis.call('ZREM', p .. 'leases', id)
    redis.call('SREM', p .. 'running:' .. model, id)
  end
  if st == '0' and t.started_at == '' and t.expires_at ~= '' then
    redis.call('ZADD', p .. 'ttl', t.expires_at, id)
  else
    redis.call('ZREM', p .. 'ttl', id)
  end
  if t.outputs_expire_at ~= '' and t.outputs_expired == '0' then
    redis.call('ZADD', p .. 'retention', t.outputs_expire_at, id)
  else
    redis.call('ZREM', p .. 'retention', id)
  end
  if old ~= st then
    if old ~= '' then
      redis.call('ZREM', p .. 'ls:' .. old, id)
      redis.call('ZREM', p .. 'lts:' .. tenant .. ':' .. old, id)
    end
    redis.call('ZADD', p .. 'ls:' .. st, 0, id)
    redis.call('ZADD', p .. 'lts:' .. tenant .. ':' .. st, 0, id)
    if tonumber(st) >= 2 and retention > 0 then
      redis.call('ZADD', p .. 'purge', tonumber(t.completed_at) + retention, id)
    end
    if st == '0' then wake(model) end
    webhook_intent(id, st, t.at or t.completed_at)
  end
end
)lua";

constexpr char kEnqueue[] = R"lua(
local id, tenant, ik, fp = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = tonumber(ARGV[6])
local max_queued, tenant_max = tonumber(ARGV[10]), tonumber(ARGV[11])
local idk
if ik ~= '' then
  idk = p .. 'idem:' .. #tenant .. ':' .. tenant .. ':' .. ik
  local e = redis.call('HMGET', idk, 'task', 'fp', 'exp')
  if e[1] and tonumber(e[3]) > now then
    if e[2] ~= fp then
      return redis.error_reply('ALREADY_EXISTS Idempotency-Key \'' .. ik ..
                               '\' was already used with a different request')
    end
    local h = redis.call('HGETALL', tkey(e[1]))
    if #h > 0 then return {0, h} end
  end
end
if redis.call('EXISTS', tkey(id)) == 1 then
  return redis.error_reply('ALREADY_EXISTS task ' .. id .. ' already exists')
end
-- Admission: the queued sets are the counters (ZCARD is O(1)).
if max_queued > 0 then
  local n = redis.call('ZCARD', p .. 'ls:0')
  if n >= max_queued then return {2, 0, n, 0} end
end
if tenant_max > 0 then
  local tq = p .. 'lts:' .. tenant .. ':0'
  local n = redis.call('ZCARD', tq)
  if n >= tenant_max then
    local oldest = redis.call('ZRANGE', tq, 0, 0)[1]
    local pos = 0
    if oldest then
      local f = redis.call('HMGET', tkey(oldest), 'model', 'priority')
      pos = position(oldest, f[1], f[2])
    end
    return {2, 1, n, pos}
  end
end
local t = {}
for i = 12, #ARGV, 2 do t[ARGV[i]] = ARGV[i + 1] end
redis.call('HSET', tkey(id), 'v', '1', unpack(ARGV, 12))
if idk then
  redis.call('DEL', idk)
  redis.call('HSET', idk, 'task', id, 'fp', fp, 'exp', ARGV[7])
  redis.call('PEXPIRE', idk, ARGV[8])
  redis.call('ZADD', p .. 'idem-expiry', ARGV[7], idk)
end
redis.call('SADD', p .. 'models', t.model)
redis.call('ZADD', p .. 'all', 0, id)
redis.call('ZADD', p .. 'lt:' .. tenant, 0, id)
sync(id, '', t, tonumber(ARGV[9]))
return {1, position(id, t.model, t.priority)}
)lua";

constexpr char kGet[] = R"lua(
local id = ARGV[2]
local h = redis.call('HGETALL', tkey(id))
if #h == 0 then return redis.error_reply('NOT_FOUND no task ' .. id) end
local f = redis.call('HMGET', tkey(id), 'state', 'model', 'priority')
local pos = -1
if f[1] == '0' then pos = position(id, f[2], f[3]) end
return {h, pos}
)lua";

constexpr char kLease[] = R"lua(
local now = tonumber(ARGV[2])
local max = tonumber(ARGV[5])
local models = {}
for i = 6, #ARGV do models[#models + 1] = ARGV[i] end
local leased = {}

local function leasable(id)
  local f = redis.call('HMGET', tkey(id), 'state', 'not_before', 'expires_at', 'started_at')
  if f[1] ~= '0' then return false end
  if f[2] ~= '' and tonumber(f[2]) > now then return false end
  if f[4] == '' and f[3] ~= '' and tonumber(f[3]) <= now then return false end
  return true
end

local function next_fencing(previous)
  local k = p .. 'fencing'
  local n = redis.call('INCR', k)
  -- Never below the server's clock in microseconds: a counter rolled back by a crash that lost
  -- its last writes still cannot hand out a number it handed out before the crash.
  local tm = redis.call('TIME')
  local floor = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
  if n < floor then n = floor end
  if n <= previous then n = previous + 1 end
  local s = string.format('%d', n)
  redis.call('SET', k, s)
  return s
end

local function lease(id)
  local k = tkey(id)
  local f = redis.call('HMGET', k, 'attempts', 'started_at', 'model', 'priority', 'tenant',
                       'fencing')
  local started = f[2]
  if started == '' then started = ARGV[2] end
  redis.call('HSET', k, 'state', '1', 'attempts', tostring(tonumber(f[1]) + 1),
             'worker_id', ARGV[3], 'fencing', next_fencing(tonumber(f[6]) or 0),
             'lease_expires_at', ARGV[4], 'not_before', '', 'progress_step', '',
             'progress_steps', '', 'started_at', started)
  redis.call('HINCRBY', k, 'v', 1)
  sync(id, '0', {model = f[3], priority = f[4], tenant = f[5], state = '1', not_before = '',
                 lease_expires_at = ARGV[4], started_at = started, expires_at = '',
                 outputs_expire_at = '', outputs_expired = '0', at = ARGV[2]}, 0)
  leased[#leased + 1] = redis.call('HGETALL', k)
end

for prio = 0, 2 do
  local need = max - #leased
  if need <= 0 then break end
  local cands = {}
  for _, m in ipairs(models) do
    local key = qkey(m, prio)
    local got, start = 0, 0
    -- Tasks waiting out a retry backoff or an unreaped ttl are skipped; bounded per call.
    while got < need and start < 1000 do
      local ids = redis.call('ZRANGE', key, start, start + need - got + 15)
      if #ids == 0 then break end
      for _, id in ipairs(ids) do
        if leasable(id) then
          cands[#cands + 1] = id
          got = got + 1
          if got >= need then break end
        end
      end
      start = start + #ids
    end
  end
  table.sort(cands)
  for i = 1, math.min(need, #cands) do lease(cands[i]) end
end

local next_ready = -1
if #leased == 0 then
  for _, m in ipairs(models) do
    local r = redis.call('ZRANGEBYSCORE', p .. 'delayed:' .. m, '(' .. ARGV[2], '+inf',
                         'WITHSCORES', 'LIMIT', 0, 1)
    if r[2] then
      local at = tonumber(r[2])
      if next_ready < 0 or at < next_ready then next_ready = at end
    end
  end
end
return {leased, next_ready}
)lua";

constexpr char kSave[] = R"lua(
local id = ARGV[2]
local k = tkey(id)
local cur = redis.call('HMGET', k, 'v', 'state')
if not cur[1] then return redis.error_reply('NOT_FOUND no task ' .. id) end
if cur[1] ~= ARGV[3] then return 0 end
local t = {}
for i = 5, #ARGV, 2 do t[ARGV[i]] = ARGV[i + 1] end
redis.call('HSET', k, unpack(ARGV, 5))
redis.call('HINCRBY', k, 'v', 1)
sync(id, cur[2], t, tonumber(ARGV[4]))
return 1
)lua";

constexpr char kSaveBatch[] = R"lua(
local retention = tonumber(ARGV[2])
local out = {}
local i = 3
while i <= #ARGV do
  local id, ver, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local first, last = i + 3, i + 2 + n
  i = last + 1
  local k = tkey(id)
  local cur = redis.call('HMGET', k, 'v', 'state')
  if not cur[1] then
    out[#out + 1] = -1
  elseif cur[1] ~= ver then
    out[#out + 1] = 0
  else
    local t = {}
    for j = first, last, 2 do t[ARGV[j]] = ARGV[j + 1] end
    redis.call('HSET', k, unpack(ARGV, first, last))
    redis.call('HINCRBY', k, 'v', 1)
    sync(id, cur[2], t, retention)
    out[#out + 1] = 1
  end
end
return out
)lua";

constexpr char kList[] = R"lua(
local tenant, state, cursor = ARGV[2], ARGV[3], ARGV[4]
local key
if tenant ~= '' then
  if state ~= '' then key = p .. 'lts:' .. tenant .. ':' .. state else key = p .. 'lt:' .. tenant end
else
  if state ~= '' then key = p .. 'ls:' .. state else key = p .. 'all' end
end
local max = '+'
if cursor ~= '' then max = '(' .. cursor end
local ids = redis.call('ZRANGE', key, max, '-', 'BYLEX', 'REV', 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', tkey(id))
  if #h > 0 then
    local f = redis.call('HMGET', tkey(id), 'state', 'model', 'priority')
    local pos = -1
    if f[1] == '0' then pos = position(id, f[2], f[3]) end
    out[#out + 1] = {h, pos}
  end
end
return out
)lua";

constexpr char kCounts[] = R"lua(
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', p .. 'models')) do
  local row = {m}
  local oldest = -1
  local total = 0
  for prio = 0, 2 do
    local n = redis.call('ZCARD', qkey(m, prio))
    row[#row + 1] = n
    total = total + n
    local head = redis.call('ZRANGE', qkey(m, prio), 0, 0)
    if head[1] then
      local c = tonumber(redis.call('HGET', tkey(head[1]), 'created_at'))
      if c and (oldest < 0 or c < oldest) then oldest = c end
    end
  end
  local running = redis.call('SCARD', p .. 'running:' .. m)
  row[#row + 1] = running
  row[#row + 1] = oldest
  if total + running > 0 then out[#out + 1] = row end
end
return out
)lua";

constexpr char kHousekeeping[] = R"lua(
local now, limit = ARGV[2], tonumber(ARGV[3])
local dropped = 0
for _, k in ipairs(redis.call('ZRANGEBYSCORE', p .. 'idem-expiry', '-inf', now,
                              'LIMIT', 0, limit)) do
  redis.call('DEL', k)
  redis.call('ZREM', p .. 'idem-expiry', k)
  dropped = dropped + 1
end
local purged = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'purge', '-inf', now, 'LIMIT', 0, limit)) do
  local keep = redis.call('ZSCORE', p .. 'retention', id)
  if keep then
    -- its outputs are still kept: purge the record only after they expire
    redis.call('ZADD', p .. 'purge', keep, id)
  else
    local f = redis.call('HMGET', tkey(id), 'tenant', 'state')
    redis.call('DEL', tkey(id))
    redis.call('ZREM', p .. 'purge', id)
    redis.call('ZREM', p .. 'all', id)
    if f[1] then
      redis.call('ZREM', p .. 'lt:' .. f[1], id)
      redis.call('ZREM', p .. 'ls:' .. f[2], id)
      redis.call('ZREM', p .. 'lts:' .. f[1] .. ':' .. f[2], id)
    end
    purged = purged + 1
  end
end
return {dropped, purged}
)lua";

Script Make(const char* body) { return Script(std::string(kPrelude) + body); }

}  // namespace

const Script& Enqueue() {
  static const Script s = Make(kEnqueue);
  return s;
}
const Script& Get() {
  static const Script s = Make(kGet);
  return s;
}
const Script& Lease() {
  static const Script s = Make(kLease);
  return s;
}
const Script& Save() {
  static const Script s = Make(kSave);
  return s;
}
const Script& SaveBatch() {
  static const Script s = Make(kSaveBatch);
  return s;
}
const Script& List() {
  static const Script s = Make(kList);
  return s;
}
const Script& Counts() {
  static const Script s = Make(kCounts);
  return s;
}
const Script& Housekeeping() {
  static const Script s = Make(kHousekeeping);
  return s;
}

}  // namespace stipple::redis::scripts
