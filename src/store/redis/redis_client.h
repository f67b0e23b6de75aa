// RedisClient: a small pool of synchronous hiredis connections to one Redis server, shared by the
// Redis task store and the Redis result store. It turns every failure into a Status:
//  - the server cannot be reached, a connection breaks, a reply takes longer than the command
//    timeout, or the server is still loading its data → kUnavailable (the connection is dropped
//    and the next call opens a new one, so the client recovers by itself when Redis is back);
//  - an error reply → the code named by its first word when it is one of ours (scripts answer
//    "NOT_FOUND ...", "ALREADY_EXISTS ...", ...), kInternal otherwise.
// A call never blocks longer than connect_timeout + command_timeout (or, for a blocking command,
// its own timeout + command_timeout).
//
// Thread-safe: any method may be called from any thread. Connections are not shared between
// concurrent calls; the pool keeps up to `max_idle` of them open between calls.
#pragma once

#include <hiredis/hiredis.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace stipple::redis {

// Where a Redis server is: redis://[[user:]password@]HOST[:PORT][/DB]. HOST may be a name, an
// IPv4 address or a bracketed IPv6 address; PORT defaults to 6379 and DB to 0.
struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string user;  // empty: the default user
  std::string password;
  int db = 0;
  // "redis://HOST:PORT/DB", without the credentials (for logs).
  std::string Redacted() const;
};
Result<RedisUrl> ParseRedisUrl(std::string_view url);

struct RedisClientOptions {
  RedisUrl url;
  Millis connect_timeout{1000};
  Millis command_timeout{5000};
  int max_idle = 64;  // connections kept open between calls (beyond it they are closed)
};

// One reply, owning its hiredis object.
class Reply {
 public:
  explicit Reply(redisReply* r) : r_(r, &freeReplyObject) {}
  const redisReply& operator*() const { return *r_; }
  const redisReply* operator->() const { return r_.get(); }
  const redisReply* get() const { return r_.get(); }

 private:
  std::unique_ptr<redisReply, void (*)(void*)> r_;
};

// A Lua script known by its text; Eval runs it by SHA1 and sends the text only when the server
// does not know it yet (a fresh or restarted server).
class Script {
 public:
  explicit Script(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;
};

class RedisClient {
 public:
  explicit RedisClient(RedisClientOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects once and PINGs: kUnavailable when the server cannot be reached.
  Status Check();

  // One command; the reply is never an error reply (those become a Status).
  Result<Reply> Command(const std::vector<std::string>& args);
  // A blocking command (BLPOP ...) whose server-side timeout is `blocking_timeout`.
  Result<Reply> BlockingCommand(const std::vector<std::string>& args, Millis blocking_timeout);
  // Several commands sent together (one round trip); one result each, in order.
  std::vector<Result<Reply>> Pipeline(const std::vector<std::vector<std::string>>& commands);
  // EVALSHA of `script` with no KEYS and `args` as ARGV (falling back to EVAL on NOSCRIPT).
  Result<Reply> Eval(const Script& script, const std::vector<std::string>& args);
  // Eval of `script` once per argument list, pipelined (one round trip; a second one for the
  // calls answered NOSCRIPT, sent as EVAL); one result each, in order.
  std::vector<Result<Reply>> EvalPipeline(const Script& script,
                                          const std::vector<std::vector<std::string>>& calls);

  const RedisUrl& url() const { return options_.url; }

  // How many connections this client has opened so far. It moves on whenever Redis restarted or
  // failed over (every connection is opened again), so a caller that keeps what Redis told it
  // can tell that it may predate a restart, which under appendfsync everysec may have rolled
  // the data back: read it before a call, keep it with what the call returned.
  uint64_t connections_opened() const { return connections_opened_.load(); }

 private:
  struct Connection;
  Result<std::unique_ptr<Connection>> Acquire();
  void Return(std::unique_ptr<Connection> conn);
  Result<std::unique_ptr<Connection>> Connect();
  Result<Reply> Run(Connection& conn, const std::vector<std::string>& args);

  const RedisClientOptions options_;
  Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mu_);
  std::atomic<uint64_t> connections_opened_{0};
};

// A reply's string (bulk or status) or integer as text; empty for nil.
std::string ReplyString(const redisReply& r);
// A reply's integer (or a string holding one); 0 otherwise.
int64_t ReplyInt(const redisReply& r);

}  // namespace stipple::redis
