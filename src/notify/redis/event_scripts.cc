#include "notify/redis/event_scripts.h"

namespace stipple::redis::event_scripts {

const Script& Publish() {
  static const Script script(R"lua(
local p, id, tenant, kind = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local f = tonumber(ARGV[5])
local ev, meta, pl = p .. 'ev:' .. id, p .. 'evm:' .. id, p .. 'evp:' .. id
local m = redis.call('HMGET', meta, 'seq', 'term', 'fencing', 'attempt', 'back')
if m[2] == '1' then return 0 end
local seq = tonumber(m[1]) or 0
local first = seq == 0
local mf = tonumber(m[3]) or 0
local back = m[5] == '1'
local function emit(event)
  seq = seq + 1
  redis.call('XADD', ev, seq .. '-0', 'e', event)
  redis.call('PUBLISH', p .. 'events', tenant .. '\n' .. seq .. '\n' .. event)
end
if kind == 'queued' then
  if not first then return 0 end
  emit(ARGV[8])
elseif kind == 'started' then
  if mf ~= 0 and f <= mf then return 0 end
  if mf ~= 0 and not back then
    emit('{"type":"retrying","task_id":"' .. id .. '","time":' .. ARGV[7] .. ',"attempt":' ..
         (m[4] or '0') .. ',"fencing":"' .. m[3] .. '"}')
  end
  emit(ARGV[8])
  redis.call('HSET', meta, 'fencing', ARGV[5], 'attempt', ARGV[6], 'back', '0')
elseif kind == 'retrying' then
  if mf > f or (mf == f and back) then return 0 end
  emit(ARGV[8])
  redis.call('HSET', meta, 'fencing', ARGV[5], 'attempt', ARGV[6], 'back', '1')
elseif kind == 'progress' then
  if f ~= mf or back then return 0 end
  emit(ARGV[8])
  local held = redis.call('RPUSH', pl, seq)
  if held == 1 then redis.call('PEXPIRE', pl, ARGV[10]) end
  if held > tonumber(ARGV[9]) then
    redis.call('XDEL', ev, redis.call('LPOP', pl) .. '-0')
  end
else
  emit(ARGV[8])
  redis.call('HSET', meta, 'term', '1')
end
redis.call('HSET', meta, 'seq', seq, 'tenant', tenant)
if kind ~= 'queued' and kind ~= 'started' and kind ~= 'retrying' and kind ~= 'progress' then
  redis.call('PEXPIRE', ev, ARGV[11])
  redis.call('PEXPIRE', meta, ARGV[11])
  redis.call('PEXPIRE', pl, ARGV[11])
elseif first then
  redis.call('PEXPIRE', ev, ARGV[10])
  redis.call('PEXPIRE', meta, ARGV[10])
end
return seq
)lua");
  return script;
}

const Script& Seed() {
  static const Script script(R"lua(
local p, id, tenant = ARGV[1], ARGV[2], ARGV[3]
local ev, meta = p .. 'ev:' .. id, p .. 'evm:' .. id
if redis.call('EXISTS', meta) == 1 or redis.call('EXISTS', ev) == 1 then return 0 end
local seq, fencing, attempt, back, term = 0, '0', '0', '0', '0'
for i = 6, #ARGV, 5 do
  local kind = ARGV[i + 1]
  seq = tonumber(ARGV[i])
  redis.call('XADD', ev, seq .. '-0', 'e', ARGV[i + 4])
  if kind == 'started' or kind == 'retrying' then
    fencing, attempt = ARGV[i + 2], ARGV[i + 3]
    back = kind == 'retrying' and '1' or '0'
  elseif kind ~= 'queued' and kind ~= 'progress' then
    term = '1'
  end
end
redis.call('HSET', meta, 'seq', seq, 'tenant', tenant, 'term', term, 'fencing', fencing,
           'attempt', attempt, 'back', back)
local ttl = term == '1' and ARGV[5] or ARGV[4]
redis.call('PEXPIRE', ev, ttl)
redis.call('PEXPIRE', meta, ttl)
return 1
)lua");
  return script;
}

}  // namespace stipple::redis::event_scripts
