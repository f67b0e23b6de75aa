#include "store/redis/redis_client.h"

#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/digest.h"

namespace stipple::redis {

struct RedisClient::Connection {
  explicit Connection(redisContext* c) : ctx(c) {}
  ~Connection() {
    if (ctx) redisFree(ctx);
  }
  redisContext* ctx;
};

namespace {

timeval ToTimeval(Millis d) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

Result<int> ParsePort(std::string_view text, std::string_view url) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    return InvalidArgumentError("Redis URL '" + std::string(url) + "': bad port '" +
                                std::string(text) + "'");
  }
  return port;
}

// Our scripts answer errors as "CODE message"; anything else is Redis's own error.
Status StatusFromErrorReply(std::string_view text) {
  struct Known {
    std::string_view prefix;
    Status (*make)(std::string);
  };
  static const Known kKnown[] = {
      {"NOT_FOUND ", &NotFoundError},
      {"ALREADY_EXISTS ", &AlreadyExistsError},
      {"ABORTED ", &AbortedError},
      {"FAILED_PRECONDITION ", &FailedPreconditionError},
      {"INVALID_ARGUMENT ", [](std::string m) { return InvalidArgumentError(std::move(m)); }},
      {"DATA_LOSS ", &DataLossError},
  };
  for (const Known& k : kKnown) {
    if (text.starts_with(k.prefix)) return k.make(std::string(text.substr(k.prefix.size())));
  }
  // LOADING: a restarted server reading its AOF; MASTERDOWN/TRYAGAIN: transient too.
  if (text.starts_with("LOADING") || text.starts_with("MASTERDOWN") ||
      text.starts_with("TRYAGAIN") || text.starts_with("BUSY")) {
    return UnavailableError("Redis: " + std::string(text));
  }
  return InternalError("Redis: " + std::string(text));
}

}  // namespace

std::string RedisUrl::Redacted() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + h + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) {
    return InvalidArgumentError("Redis URL '" + std::string(url) + "' must start with redis://");
  }
  RedisUrl out;
  std::string_view rest = url.substr(kScheme.size());
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (size_t colon = auth.find(':'); colon != std::string_view::npos) {
      out.user = std::string(auth.substr(0, colon));
      out.password = std::string(auth.substr(colon + 1));
    } else {
      out.password = std::string(auth);
    }
  }
  std::string_view hostport = rest;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), out.db);
      if (ec != std::errc() || end != db.data() + db.size() || out.db < 0) {
        return InvalidArgumentError("Redis URL '" + std::string(url) + "': bad database '" +
                                    std::string(db) + "'");
      }
    }
  }
  if (hostport.starts_with("[")) {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) {
      return InvalidArgumentError("Redis URL '" + std::string(url) + "': unclosed '['");
    }
    out.host = std::string(hostport.substr(1, close - 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return InvalidArgumentError("Redis URL '" + std::string(url) + "'");
      ASSIGN_OR_RETURN(out.port, ParsePort(after.substr(1), url));
    }
  } else if (size_t colon = hostport.rfind(':'); colon != std::string_view::npos) {
    out.host = std::string(hostport.substr(0, colon));
    ASSIGN_OR_RETURN(out.port, ParsePort(hostport.substr(colon + 1), url));
  } else {
    out.host = std::string(hostport);
  }
  if (out.host.empty()) {
    return InvalidArgumentError("Redis URL '" + std::string(url) + "' names no host");
  }
  return out;
}

Script::Script(std::string source) : source_(std::move(source)), sha1_(Sha1Hex(source_)) {}

RedisClient::RedisClient(RedisClientOptions options) : options_(std::move(options)) {}
RedisClient::~RedisClient() = default;

Result<std::unique_ptr<RedisClient::Connection>> RedisClient::Connect() {
  const RedisUrl& u = options_.url;
  connections_opened_.fetch_add(1);
  auto conn = std::make_unique<Connection>(
      redisConnectWithTimeout(u.host.c_str(), u.port, ToTimeval(options_.connect_timeout)));
  if (conn->ctx == nullptr) return UnavailableError("Redis: out of memory for a connection");
  if (conn->ctx->err) {
    // The address stays out of the message: it may reach API clients in a 503.
    return UnavailableError(std::string("cannot connect to Redis: ") + conn->ctx->errstr);
  }
  redisEnableKeepAlive(conn->ctx);
  redisSetTimeout(conn->ctx, ToTimeval(options_.command_timeout));
  if (!u.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!u.user.empty()) auth.push_back(u.user);
    auth.push_back(u.password);
    RETURN_IF_ERROR(Run(*conn, auth).status().WithContext("Redis AUTH"));
  }
  if (u.db != 0) {
    RETURN_IF_ERROR(Run(*conn, {"SELECT", std::to_string(u.db)}).status().WithContext("SELECT"));
  }
  return conn;
}

// Whether the server closed an idle connection (it restarted, or timed the client out): a
// non-blocking peek sees the end of the stream without a round trip.
static bool PeerClosed(const redisContext* c) {
  char byte;
  ssize_t n = ::recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

Result<std::unique_ptr<RedisClient::Connection>> RedisClient::Acquire() {
  while (true) {
    std::unique_ptr<Connection> conn;
    {
      MutexLock lock(mu_);
      if (idle_.empty()) break;
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    if (!PeerClosed(conn->ctx)) return conn;
  }
  return Connect();
}

void RedisClient::Return(std::unique_ptr<Connection> conn) {
  if (!conn || conn->ctx->err) return;  // a broken connection is closed, not reused
  MutexLock lock(mu_);
  if (static_cast<int>(idle_.size()) < options_.max_idle) idle_.push_back(std::move(conn));
}

Result<Reply> RedisClient::Run(Connection& conn, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(conn.ctx, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (raw == nullptr) {
    return UnavailableError(std::string("Redis: ") +
                            (conn.ctx->err ? conn.ctx->errstr : "no reply"));
  }
  Reply reply(raw);
  if (reply->type == REDIS_REPLY_ERROR) {
    return StatusFromErrorReply(std::string_view(reply->str, reply->len));
  }
  return reply;
}

Status RedisClient::Check() { return Command({"PING"}).status(); }

Result<Reply> RedisClient::Command(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto conn, Acquire());
  Result<Reply> r = Run(*conn, args);
  Return(std::move(conn));
  return r;
}

Result<Reply> RedisClient::BlockingCommand(const std::vector<std::string>& args,
                                           Millis blocking_timeout) {
  ASSIGN_OR_RETURN(auto conn, Acquire());
  redisSetTimeout(conn->ctx, ToTimeval(blocking_timeout + options_.command_timeout));
  Result<Reply> r = Run(*conn, args);
  redisSetTimeout(conn->ctx, ToTimeval(options_.command_timeout));
  Return(std::move(conn));
  return r;
}

std::vector<Result<Reply>> RedisClient::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  std::vector<Result<Reply>> out;
  auto conn = Acquire();
  if (!conn.ok()) {
    for (size_t i = 0; i < commands.size(); ++i) out.emplace_back(conn.status());
    return out;
  }
  redisContext* c = (*conn)->ctx;
  for (const auto& args : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
      Status s = UnavailableError(std::string("Redis: ") + (c->err ? c->errstr : "no reply"));
      while (out.size() < commands.size()) out.emplace_back(s);
      break;
    }
    Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      out.emplace_back(StatusFromErrorReply(std::string_view(reply->str, reply->len)));
    } else {
      out.emplace_back(std::move(reply));
    }
  }
  Return(std::move(*conn));
  return out;
}

Result<Reply> RedisClient::Eval(const Script& script, const std::vector<std::string>& args) {
  std::vector<std::string> cmd;
  cmd.reserve(args.size() + 3);
  cmd.push_back("EVALSHA");
  cmd.push_back(script.sha1());
  cmd.push_back("0");
  cmd.insert(cmd.end(), args.begin(), args.end());
  Result<Reply> r = Command(cmd);
  if (!r.ok() && r.status().message().find("NOSCRIPT") != std::string::npos) {
    cmd[0] = "EVAL";
    cmd[1] = script.source();
    r = Command(cmd);
  }
  return r;
}

std::vector<Result<Reply>> RedisClient::EvalPipeline(
    const Script& script, const std::vector<std::vector<std::string>>& calls) {
  auto command = [&](const std::vector<std::string>& args, bool by_sha) {
    std::vector<std::string> cmd;
    cmd.reserve(args.size() + 3);
    cmd.push_back(by_sha ? "EVALSHA" : "EVAL");
    cmd.push_back(by_sha ? script.sha1() : script.source());
    cmd.push_back("0");
    cmd.insert(cmd.end(), args.begin(), args.end());
    return cmd;
  };
  std::vector<std::vector<std::string>> commands;
  commands.reserve(calls.size());
  for (const auto& args : calls) commands.push_back(command(args, true));
  std::vector<Result<Reply>> out =
      calls.empty() ? std::vector<Result<Reply>>{} : Pipeline(commands);
  std::vector<size_t> unknown;
  commands.clear();
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].ok() && out[i].status().message().find("NOSCRIPT") != std::string::npos) {
      unknown.push_back(i);
      commands.push_back(command(calls[i], false));
    }
  }
  if (!unknown.empty()) {
    std::vector<Result<Reply>> again = Pipeline(commands);
    for (size_t k = 0; k < unknown.size(); ++k) out[unknown[k]] = std::move(again[k]);
  }
  return out;
}

std::string ReplyString(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: return std::string(r.str, r.len);
    case REDIS_REPLY_INTEGER: return std::to_string(r.integer);
    default: return "";
  }
}

int64_t ReplyInt(const redisReply& r) {
  if (r.type == REDIS_REPLY_INTEGER) return r.integer;
  if (r.type == REDIS_REPLY_STRING) {
    int64_t v = 0;
    std::from_chars(r.str, r.str + r.len, v);
    return v;
  }
  return 0;
}

}  // namespace stipple::redis
