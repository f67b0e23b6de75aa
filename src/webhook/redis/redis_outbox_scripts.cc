#include "webhook/redis/redis_outbox_scripts.h"

#include <string>

namespace stipple::webhook::redis_scripts {
namespace {

// Key names and the moves every script shares. Due deliveries are indexed per host
// (`wh:due:<host>`, by next attempt) with `wh:hosts` holding each host's earliest, so a claim
// skips a busy host in one step however many of its deliveries wait. `due_head` makes a task's
// oldest pending delivery due (unless it is claimed), `finish` takes a delivery out of its task's
// pending set for good.
constexpr char kPrelude[] = R"lua(
local p = ARGV[1]
local function dkey(id) return p .. 'wh:d:' .. id end
local function akey(id) return p .. 'wh:a:' .. id end
local function tkey(task) return p .. 'wh:t:' .. task end
local function pkey(task) return p .. 'wh:p:' .. task end
local function mkey(task) return p .. 'wh:m:' .. task end
local function hkey(host) return p .. 'wh:due:' .. host end
local hosts, claimed = p .. 'wh:hosts', p .. 'wh:claimed'

local function host_sync(host)
  local head = redis.call('ZRANGE', hkey(host), 0, 0, 'WITHSCORES')
  if head[2] then
    redis.call('ZADD', hosts, head[2], host)
  else
    redis.call('ZREM', hosts, host)
  end
end

local function due_add(id, at, host)
  host = host or redis.call('HGET', dkey(id), 'host')
  redis.call('ZADD', hkey(host), at, id)
  redis.call('ZADD', hosts, 'LT', at, host)  -- the host's earliest: only ever moves earlier here
end

local function due_rem(id)
  local host = redis.call('HGET', dkey(id), 'host')
  if host and redis.call('ZREM', hkey(host), id) == 1 then host_sync(host) end
end

-- The earliest next attempt among due deliveries and claims that will lapse; -1: none.
local function next_due()
  local best = -1
  for _, k in ipairs({hosts, claimed}) do
    local r = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if r[2] then
      local at = tonumber(r[2])
      if best < 0 or at < best then best = at end
    end
  end
  return best
end

local function due_head(task)
  local head = redis.call('ZRANGE', pkey(task), 0, 0)[1]
  if head and not redis.call('ZSCORE', claimed, head) then
    due_add(head, redis.call('HGET', dkey(head), 'next'))
  end
end

local function finish(id, task, state, attempts, retention)
  redis.call('HSET', dkey(id), 'state', state, 'attempts', attempts, 'next', '', 'owner', '',
             'lease', '')
  redis.call('ZREM', pkey(task), id)
  due_rem(id)
  redis.call('ZREM', claimed, id)
  if retention > 0 then
    redis.call('PEXPIRE', dkey(id), retention)
    redis.call('PEXPIRE', akey(id), retention)
  end
end
)lua";

constexpr char kMaterialize[] = R"lua(
local retention = tonumber(ARGV[2])
local stored = 0
local i = 3
while i <= #ARGV do
  local sid, has = ARGV[i], ARGV[i + 1]
  i = i + 2
  local fresh = redis.call('XDEL', p .. 'wh:intents', sid) == 1
  if has == '1' then
    local id, task, event, url, host, created, payload =
      ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
    i = i + 7
    local m = redis.call('HMGET', mkey(task), 'gone', 'ended')
    local progress = event == 'task.progress'
    if fresh and not m[1] and not (progress and m[2]) then
      if event ~= 'task.started' and not progress then
        redis.call('HSET', mkey(task), 'ended', '1')
      end
      local seq = redis.call('INCR', p .. 'wh:seq')
      redis.call('HSET', dkey(id), 'task', task, 'event', event, 'url', url, 'host', host,
                 'created', created, 'payload', payload, 'state', '0', 'attempts', '0',
                 'next', created, 'seq', seq, 'owner', '', 'lease', '')
      redis.call('ZADD', tkey(task), seq, id)
      redis.call('ZADD', pkey(task), seq, id)
      if redis.call('ZCARD', pkey(task)) == 1 then due_add(id, created, host) end
      if retention > 0 then
        redis.call('PEXPIRE', tkey(task), retention)
        redis.call('PEXPIRE', mkey(task), retention)
      end
      stored = stored + 1
    end
  end
end
return stored
)lua";

constexpr char kClaim[] = R"lua(
local now, limit, until_, owner = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if ARGV[6] == '1' and redis.call('XLEN', p .. 'wh:intents') > 0 then return -1 end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', claimed, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', claimed, id)
  redis.call('HSET', dkey(id), 'owner', '', 'lease', '')
  local task = redis.call('HGET', dkey(id), 'task')
  if task then due_head(task) end
end
local busy = {}
for i = 7, #ARGV do busy[ARGV[i]] = true end
-- The `limit` earliest due deliveries of hosts not busy: hosts in the order of their earliest,
-- each contributing up to `limit`, until the next host's earliest is later than all we have.
local cands = {}
if limit < 1 then return {{}, next_due()} end
local due_hosts = redis.call('ZRANGEBYSCORE', hosts, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
for i = 1, #due_hosts, 2 do
  local host, head = due_hosts[i], tonumber(due_hosts[i + 1])
  if #cands >= limit and head > cands[limit][2] then break end
  if not busy[host] then
    local r = redis.call('ZRANGEBYSCORE', hkey(host), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
    for j = 1, #r, 2 do cands[#cands + 1] = {r[j], tonumber(r[j + 1])} end
    table.sort(cands, function(a, b)
      if a[2] ~= b[2] then return a[2] < b[2] end
      return a[1] < b[1]
    end)
    for j = #cands, limit + 1, -1 do cands[j] = nil end
  end
end
local picked = {}
for _, c in ipairs(cands) do picked[#picked + 1] = c[1] end
local out = {}
for _, id in ipairs(picked) do
  due_rem(id)
  redis.call('ZADD', claimed, until_, id)
  redis.call('HSET', dkey(id), 'owner', owner, 'lease', until_)
  local f = redis.call('HMGET', dkey(id), 'task', 'event', 'url', 'host', 'payload', 'created',
                       'attempts')
  out[#out + 1] = {id, f[1], f[2], f[3], f[4], f[5], f[6], f[7]}
end
return {out, next_due()}
)lua";

constexpr char kRecord[] = R"lua(
local owner, retention = ARGV[2], tonumber(ARGV[3])
local applied = {}
for i = 4, #ARGV, 6 do
  local id, state, attempts, next_, gone, attempt =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local f = redis.call('HMGET', dkey(id), 'owner', 'task', 'event', 'seq')
  if f[2] and f[1] == owner then
    local task = f[2]
    redis.call('HSET', akey(id), attempts, attempt)
    if state == '0' and f[3] == 'task.progress' and
       redis.call('ZCOUNT', tkey(task), '(' .. f[4], '+inf') > 0 then
      state = '3'  -- a newer event of its task supersedes it
    end
    if state == '0' then
      redis.call('HSET', dkey(id), 'attempts', attempts, 'next', next_, 'owner', '', 'lease', '')
      redis.call('ZREM', claimed, id)
      due_add(id, next_)
    else
      finish(id, task, state, attempts, retention)
    end
    if gone == '1' then
      redis.call('HSET', mkey(task), 'gone', '1')
      if retention > 0 then redis.call('PEXPIRE', mkey(task), retention) end
      for _, other in ipairs(redis.call('ZRANGE', pkey(task), 0, -1)) do
        if not redis.call('ZSCORE', claimed, other) then
          finish(other, task, '2', redis.call('HGET', dkey(other), 'attempts'), retention)
        end
      end
    end
    due_head(task)
    applied[#applied + 1] = id
  end
end
return applied
)lua";

constexpr char kRenew[] = R"lua(
local owner, until_ = ARGV[2], ARGV[3]
local lost = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', dkey(id), 'owner') == owner then
    redis.call('HSET', dkey(id), 'lease', until_)
    redis.call('ZADD', claimed, until_, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
)lua";

constexpr char kRelease[] = R"lua(
local owner = ARGV[2]
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', dkey(id), 'owner') == owner then
    redis.call('HSET', dkey(id), 'owner', '', 'lease', '')
    redis.call('ZREM', claimed, id)
    due_head(redis.call('HGET', dkey(id), 'task'))
  end
end
return 0
)lua";

constexpr char kNextDue[] = R"lua(
return next_due()
)lua";

constexpr char kForTask[] = R"lua(
local out = {}
for _, id in ipairs(redis.call('ZRANGE', tkey(ARGV[2]), 0, -1)) do
  local d = redis.call('HGETALL', dkey(id))
  if #d > 0 then out[#out + 1] = {id, d, redis.call('HGETALL', akey(id))} end
end
return out
)lua";

redis::Script Make(const char* body) { return redis::Script(std::string(kPrelude) + body); }

}  // namespace

const redis::Script& Materialize() {
  static const redis::Script s = Make(kMaterialize);
  return s;
}
const redis::Script& Claim() {
  static const redis::Script s = Make(kClaim);
  return s;
}
const redis::Script& Record() {
  static const redis::Script s = Make(kRecord);
  return s;
}
const redis::Script& Renew() {
  static const redis::Script s = Make(kRenew);
  return s;
}
const redis::Script& Release() {
  static const redis::Script s = Make(kRelease);
  return s;
}
const redis::Script& NextDue() {
  static const redis::Script s = Make(kNextDue);
  return s;
}
const redis::Script& ForTask() {
  static const redis::Script s = Make(kForTask);
  return s;
}

}  // namespace stipple::webhook::redis_scripts
