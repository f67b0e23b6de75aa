// The client's retry, resume and backoff behaviour against a scripted HTTP server: a test double
// that answers each new connection with the next canned answer, so a test can make a server
// refuse, drop a connection or cut a stream exactly where it wants.
#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <mutex>
#include <thread>

#include "client/client.h"
#include "core/json.h"
#include "core/task_event.h"
#include "core/task_json.h"

namespace stipple::client {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr const char* kTaskId = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V";

// Serves one connection per scripted answer: reads a request, writes the answer's bytes as they
// are (an empty answer: closes without answering), closes. Records every request's raw text.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> answers)
      : answers_(std::move(answers)), acceptor_(ioc_, tcp::endpoint(tcp::v4(), 0)) {
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port()), ec);
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::vector<std::string> requests() const {
    MutexLock lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (const std::string& answer : answers_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        MutexLock lock(mu_);
        if (stopping_ || ec) return;
      }
      std::string request = ReadRequest(socket);
      {
        MutexLock lock(mu_);
        requests_.push_back(request);
      }
      if (!answer.empty()) net::write(socket, net::buffer(answer), ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
      socket.close(ec);
    }
  }

  static std::string ReadRequest(tcp::socket& socket) {
    std::string data;
    char buffer[4096];
    boost::system::error_code ec;
    while (data.find("\r\n\r\n") == std::string::npos) {
      size_t n = socket.read_some(net::buffer(buffer), ec);
      if (ec) return data;
      data.append(buffer, n);
    }
    size_t length = 0;
    if (size_t at = data.find("Content-Length: "); at != std::string::npos) {
      length = std::stoul(data.substr(at + 16));
    }
    while (data.size() < data.find("\r\n\r\n") + 4 + length) {
      size_t n = socket.read_some(net::buffer(buffer), ec);
      if (ec) break;
      data.append(buffer, n);
    }
    return data;
  }

  std::vector<std::string> answers_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  mutable Mutex mu_;
  std::vector<std::string> requests_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
};

std::string Answer(int status, const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string TaskBody(TaskState state) {
  Task task;
  task.id = kTaskId;
  task.state = state;
  return WriteJson(TaskToJson(task));
}

std::string Problem(int status) {
  return R"({"type":"unavailable","title":"busy","status":)" + std::to_string(status) + "}";
}

std::string Frame(int64_t seq, TaskEventType type) {
  TaskEvent event;
  event.task_id = kTaskId;
  event.seq = seq;
  event.type = type;
  if (IsTerminalEvent(type)) {
    Task task;
    task.id = kTaskId;
    task.state = TaskState::kSucceeded;
    event.task = task;
  }
  return "event: " + std::string(TaskEventTypeName(type)) + "\nid: " + std::to_string(seq) +
         "\ndata: " + WriteJson(TaskEventToJson(event)) + "\n\n";
}

// A close-delimited event stream: it ends where the server closes the connection.
std::string Stream(const std::string& frames) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + frames;
}

std::unique_ptr<Client> Make(const ScriptedServer& server, int max_attempts = 4) {
  ClientOptions options;
  options.server_url = server.url();
  options.max_attempts = max_attempts;
  options.initial_backoff = Millis(10);
  options.max_retry_after = Millis(5000);
  return std::move(Client::Create(options)).value();
}

std::string HeaderOf(const std::string& request, const std::string& name) {
  size_t at = request.find("\r\n" + name + ": ");
  if (at == std::string::npos) return "";
  at += name.size() + 4;
  return request.substr(at, request.find("\r\n", at) - at);
}

TEST(ClientRetry, A503IsRetriedAfterItsRetryAfterWithTheSameIdempotencyKey) {
  ScriptedServer server(
      {Answer(503, Problem(503), "Retry-After: 1\r\n"), Answer(202, TaskBody(TaskState::kQueued))});
  Result<SubmitResult> submitted = Make(server)->Submit(R"({"prompt":"a red circle"})");
  ASSERT_TRUE(submitted.ok()) << submitted.status().ToString();
  EXPECT_EQ(submitted->task.task.id, kTaskId);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_FALSE(HeaderOf(requests[0], "Idempotency-Key").empty());
  EXPECT_EQ(HeaderOf(requests[0], "Idempotency-Key"), HeaderOf(requests[1], "Idempotency-Key"));
  EXPECT_EQ(HeaderOf(requests[1], "Idempotency-Key"), submitted->idempotency_key);
}

TEST(ClientRetry, A429WhoseRetryAfterIsBeyondTheLimitIsNotRetried) {
  ScriptedServer server({Answer(429, Problem(429), "Retry-After: 3600\r\n"),
                         Answer(202, TaskBody(TaskState::kQueued))});
  Result<SubmitResult> submitted = Make(server)->Submit(R"({"prompt":"a red circle"})");
  EXPECT_EQ(submitted.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(ClientRetry, AConnectionDroppedBeforeTheAnswerIsRetried) {
  ScriptedServer server({"", Answer(200, TaskBody(TaskState::kRunning))});
  Result<TaskSnapshot> task = Make(server)->Get(kTaskId);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ(task->task.state, TaskState::kRunning);
  EXPECT_EQ(server.requests().size(), 2u);
}

TEST(ClientRetry, GivesUpAfterMaxAttempts) {
  ScriptedServer server({Answer(503, Problem(503)), Answer(503, Problem(503)),
                         Answer(503, Problem(503)), Answer(200, TaskBody(TaskState::kQueued))});
  Result<TaskSnapshot> task = Make(server, 3)->Get(kTaskId);
  EXPECT_EQ(task.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server.requests().size(), 3u);
}

TEST(ClientRetry, ADroppedEventStreamResumesAfterTheLastEventSeen) {
  ScriptedServer server(
      {Stream(Frame(1, TaskEventType::kQueued) + Frame(2, TaskEventType::kStarted)),
       Stream(Frame(3, TaskEventType::kProgress) + Frame(4, TaskEventType::kSucceeded))});
  std::vector<int64_t> seqs;
  Status status = Make(server)->StreamEvents(kTaskId, 0, [&](const EventSnapshot& e) {
    seqs.push_back(e.event.seq);
    return true;
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4}));
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(HeaderOf(requests[0], "Last-Event-ID"), "");
  EXPECT_EQ(HeaderOf(requests[1], "Last-Event-ID"), "2");
}

// A one-process server killed and started again numbers the task's events anew: the stream
// resumed after seq 4 gets a history of 1..3 whose last is the end. The end still comes through.
TEST(ClientRetry, AResumedStreamDeliversTheEndOfAServerThatNumberedItsEventsAnew) {
  ScriptedServer server(
      {Stream(Frame(1, TaskEventType::kQueued) + Frame(2, TaskEventType::kStarted) +
              Frame(3, TaskEventType::kProgress) + Frame(4, TaskEventType::kProgress)),
       Stream(Frame(1, TaskEventType::kQueued) + Frame(2, TaskEventType::kStarted) +
              Frame(3, TaskEventType::kSucceeded))});
  std::vector<int64_t> seqs;
  std::vector<TaskEventType> types;
  Status status = Make(server)->StreamEvents(kTaskId, 0, [&](const EventSnapshot& e) {
    seqs.push_back(e.event.seq);
    types.push_back(e.event.type);
    return true;
  });
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 3}));
  ASSERT_FALSE(types.empty());
  EXPECT_EQ(types.back(), TaskEventType::kSucceeded);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(HeaderOf(requests[1], "Last-Event-ID"), "4");
}

TEST(ClientRetry, WaitPollsAgainWhenTheServerAnswersBeforeItsWait) {
  ScriptedServer server(
      {Answer(200, TaskBody(TaskState::kRunning)), Answer(200, TaskBody(TaskState::kSucceeded))});
  Result<TaskSnapshot> task = Make(server)->Wait(kTaskId);
  ASSERT_TRUE(task.ok()) << task.status().ToString();
  EXPECT_EQ(task->task.state, TaskState::kSucceeded);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(HeaderOf(requests[0], "Prefer"), "wait=60");
}

TEST(ClientRetry, BackoffGrowsAndStaysWithinItsBounds) {
  for (int attempt = 1; attempt <= 10; ++attempt) {
    Millis delay = Backoff(attempt, Millis(100), Millis(1000));
    const int64_t full = std::min<int64_t>(1000, 100LL << (attempt - 1));
    EXPECT_GE(delay.count(), full / 2);
    EXPECT_LE(delay.count(), full);
  }
  EXPECT_EQ(ParseRetryAfter("5"), Millis(5000));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  // Found by the text_fields fuzz target: seconds * 1000 overflowed int64 (undefined; it could
  // read as a negative or a short wait).
  EXPECT_EQ(ParseRetryAfter("24850485485048500"), Millis::max());
  EXPECT_EQ(ParseRetryAfter("9223372036854775"), Millis(9223372036854775000));
}

}  // namespace
}  // namespace stipple::client
