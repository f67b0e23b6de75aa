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
local function publish(event)
  redis.call('PUBLISH', p .. 'events', tenant .. '\n' .. seq .. '\n' .. event)
end
local function emit(event)  -- numbered, held in the stream, published
  seq = seq + 1
  redis.call('XADD', ev, seq .. '-0', 'e', event)
  publish(event)
end
if kind == 'queued' then
  if not first then return 0 end
  seq = 1
  redis.call('HSET', meta, 'qt', ARGV[7])  -- the whole event: no stream for a queued task
  publish(ARGV[8])
elseif kind == 'started' then
  if mf ~= 0 and f <= mf then return 0 end
  if mf ~= 0 and not back then
    emit('{"type":"retrying","task_id":"' .. id .. '","time":' .. ARGV[7] .. ',"attempt":' ..
         (m[4] or '0') .. ',"fencing":"' .. m[3] .. '"}')
  end
  emit(ARGV[8])
  redis.call('HSET', meta, 'fencing', ARGV[5], 'attempt', ARGV[6], 'back', '0')
  redis.call('PEXPIRE', ev, ARGV[10])
elseif kind == 'retrying' then
  if mf > f or (mf == f and back) then return 0 end
  emit(ARGV[8])
  redis.call('HSET', meta, 'fencing', ARGV[5], 'attempt', ARGV[6], 'back', '1')
  redis.call('PEXPIRE', ev, ARGV[10])
elseif kind == 'progress' then
  if f ~= mf or back then return 0 end
  emit(ARGV[8])
  local held = redis.call('RPUSH', pl, seq)
  if held == 1 then redis.call('PEXPIRE', pl, ARGV[10]) end
  if held > tonumber(ARGV[9]) then
    redis.call('XDEL', ev, redis.call('LPOP', pl) .. '-0')
  end
else
  -- The end: the stream goes (its first node alone costs ~4.7 KB); the state changes it held
  -- move into the hash (hist: "<seq>\n<event>" lines) with the terminal event, for the
  -- retention, so a replay of the ended task still gives them. Progress goes.
  local prog = {}
  for _, s in ipairs(redis.call('LRANGE', pl, 0, -1)) do prog[s] = true end
  local hist = {}
  for _, entry in ipairs(redis.call('XRANGE', ev, '-', '+')) do
    local s = string.match(entry[1], '^(%d+)')
    if not prog[s] then
      hist[#hist + 1] = s
      hist[#hist + 1] = entry[2][2]
    end
  end
  seq = seq + 1
  publish(ARGV[8])
  redis.call('HSET', meta, 'term', '1', 'te', ARGV[8], 'hist', table.concat(hist, '\n'))
  redis.call('DEL', ev, pl)
end
redis.call('HSET', meta, 'seq', seq, 'tenant', tenant)
if kind ~= 'queued' and kind ~= 'started' and kind ~= 'retrying' and kind ~= 'progress' then
  redis.call('PEXPIRE', meta, ARGV[11])
elseif first then
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
local hist = {}
for i = 6, #ARGV, 6 do
  local kind = ARGV[i + 1]
  seq = tonumber(ARGV[i])
  if kind == 'queued' then
    redis.call('HSET', meta, 'qt', ARGV[i + 4])
  elseif kind == 'started' or kind == 'retrying' or kind == 'progress' then
    redis.call('XADD', ev, seq .. '-0', 'e', ARGV[i + 5])
    if kind ~= 'progress' then
      hist[#hist + 1] = ARGV[i]
      hist[#hist + 1] = ARGV[i + 5]
      fencing, attempt = ARGV[i + 2], ARGV[i + 3]
      back = kind == 'retrying' and '1' or '0'
    end
  else
    term = '1'
    redis.call('HSET', meta, 'te', ARGV[i + 5])
  end
end
redis.call('HSET', meta, 'seq', seq, 'tenant', tenant, 'term', term, 'fencing', fencing,
           'attempt', attempt, 'back', back)
if term == '1' then
  redis.call('HSET', meta, 'hist', table.concat(hist, '\n'))
  redis.call('DEL', ev)
  redis.call('PEXPIRE', meta, ARGV[5])
else
  redis.call('PEXPIRE', ev, ARGV[4])
  redis.call('PEXPIRE', meta, ARGV[4])
end
return 1
)lua");
  return script;
}

}  // namespace stipple::redis::event_scripts
