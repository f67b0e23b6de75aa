#include "results/redis/redis_result_store.h"

#include "common/digest.h"

namespace stipple {
namespace {

using redis::Reply;
using redis::Script;

// ARGV: output key, set key, member, sha256, data, ttl_ms (0: none).
const Script& PutScript() {
  static const Script s(R"lua(
redis.call('HSET', ARGV[1], 'sha256', ARGV[4], 'data', ARGV[5])
redis.call('SADD', ARGV[2], ARGV[3])
if tonumber(ARGV[6]) > 0 then
  redis.call('PEXPIRE', ARGV[1], ARGV[6])
  redis.call('PEXPIRE', ARGV[2], ARGV[6])
else
  redis.call('PERSIST', ARGV[1])
  redis.call('PERSIST', ARGV[2])
end
return 1
)lua");
  return s;
}

// ARGV: output key prefix ("<prefix>out:<task>:"), set key, lease ("" for every lease).
const Script& DeleteScript() {
  static const Script s(R"lua(
local want = ARGV[3]
for _, m in ipairs(redis.call('SMEMBERS', ARGV[2])) do
  local lease = string.match(m, '^(%d+):')
  if want == '' or lease == want then
    redis.call('DEL', ARGV[1] .. m)
    redis.call('SREM', ARGV[2], m)
  end
end
return 1
)lua");
  return s;
}

Status CheckKey(const std::string& task_id) {
  if (!IsValidOutputKey(task_id)) {
    return InvalidArgumentError("'" + task_id + "' cannot name a task's outputs");
  }
  return Status::Ok();
}

}  // namespace

RedisResultStore::RedisResultStore(RedisResultStoreOptions options, redis::RedisUrl url)
    : options_(std::move(options)),
      client_(redis::RedisClientOptions{.url = std::move(url),
                                        .connect_timeout = options_.connect_timeout,
                                        .command_timeout = options_.command_timeout}) {}

Result<std::unique_ptr<RedisResultStore>> RedisResultStore::Open(
    const RedisResultStoreOptions& options) {
  ASSIGN_OR_RETURN(redis::RedisUrl url, redis::ParseRedisUrl(options.url));
  auto store = std::unique_ptr<RedisResultStore>(new RedisResultStore(options, std::move(url)));
  RETURN_IF_ERROR(store->client_.Check());
  return store;
}

std::string RedisResultStore::OutputKey(const std::string& task_id, uint64_t fencing,
                                        int index) const {
  return options_.key_prefix + "out:" + task_id + ":" + std::to_string(fencing) + ":" +
         std::to_string(index);
}

Result<StoredOutput> RedisResultStore::Put(const std::string& task_id, uint64_t fencing, int index,
                                           std::string_view bytes) {
  RETURN_IF_ERROR(CheckKey(task_id));
  if (index < 0) return InvalidArgumentError("output index must not be negative");
  StoredOutput record;
  record.size_bytes = static_cast<int64_t>(bytes.size());
  record.sha256_hex = Sha256Hex(bytes);
  record.etag = EtagForSha256(record.sha256_hex);
  RETURN_IF_ERROR(client_.Eval(
      PutScript(), {OutputKey(task_id, fencing, index), options_.key_prefix + "outs:" + task_id,
                    std::to_string(fencing) + ":" + std::to_string(index), record.sha256_hex,
                    std::string(bytes), std::to_string(options_.ttl.count())}));
  return record;
}

Result<OutputBytes> RedisResultStore::Get(const std::string& task_id, uint64_t fencing, int index) {
  RETURN_IF_ERROR(CheckKey(task_id));
  if (index < 0) return InvalidArgumentError("output index must not be negative");
  ASSIGN_OR_RETURN(
      Reply r, client_.Command({"HMGET", OutputKey(task_id, fencing, index), "sha256", "data"}));
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
    return DataLossError("unexpected reply reading an output");
  }
  if (r->element[0]->type == REDIS_REPLY_NIL && r->element[1]->type == REDIS_REPLY_NIL) {
    return NotFoundError("no output " + std::to_string(index) + " of task " + task_id +
                         " under lease " + std::to_string(fencing));
  }
  OutputBytes out;
  out.bytes = redis::ReplyString(*r->element[1]);
  std::string recorded = redis::ReplyString(*r->element[0]);
  out.record.size_bytes = static_cast<int64_t>(out.bytes.size());
  out.record.sha256_hex = Sha256Hex(out.bytes);
  if (r->element[1]->type != REDIS_REPLY_STRING || out.record.sha256_hex != recorded) {
    return DataLossError("output " + std::to_string(index) + " of task " + task_id +
                         " does not match its checksum");
  }
  out.record.etag = EtagForSha256(out.record.sha256_hex);
  return out;
}

Status RedisResultStore::DeleteLease(const std::string& task_id, uint64_t fencing) {
  RETURN_IF_ERROR(CheckKey(task_id));
  return client_
      .Eval(DeleteScript(), {options_.key_prefix + "out:" + task_id + ":",
                             options_.key_prefix + "outs:" + task_id, std::to_string(fencing)})
      .status();
}

Status RedisResultStore::Delete(const std::string& task_id) {
  RETURN_IF_ERROR(CheckKey(task_id));
  return client_
      .Eval(DeleteScript(), {options_.key_prefix + "out:" + task_id + ":",
                             options_.key_prefix + "outs:" + task_id, ""})
      .status();
}

}  // namespace stipple
