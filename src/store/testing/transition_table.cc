#include "store/testing/transition_table.h"

#include <sstream>

#include "store/transitions.h"

namespace stipple {
namespace {

constexpr TaskState kQ = TaskState::kQueued;
constexpr TaskState kR = TaskState::kRunning;
constexpr TaskState kS = TaskState::kSucceeded;
constexpr TaskState kF = TaskState::kFailed;
constexpr TaskState kC = TaskState::kCanceled;
constexpr TaskState kE = TaskState::kExpired;
constexpr StatusCode kOk = StatusCode::kOk;
constexpr StatusCode kLost = StatusCode::kAborted;  // "lease lost"
constexpr TableFencing kCur = TableFencing::kCurrent;
constexpr TableFencing kOld = TableFencing::kStale;
constexpr bool kTaken = true;  // kLease: handed out; kCancel: already terminal

constexpr char kModel[] = "shapes-32";
constexpr Millis kLeaseFor{30'000};
constexpr Millis kRetryAfter{10'000};
constexpr int kTtlSeconds = 5;

std::vector<TransitionCase> MakeCases() {
  using enum TableFrom;
  using enum TableCall;
  std::vector<TransitionCase> cases = {
      // Queued: leasable; a worker's report is a lost lease; cancel ends it at once.
      {kQueued, kLease, kCur, kOk, kR, 1, kTaken},
      {kQueued, kHeartbeat, kCur, kLost, kQ, 0},
      {kQueued, kComplete, kCur, kLost, kQ, 0},
      {kQueued, kFailPermanent, kCur, kLost, kQ, 0},
      {kQueued, kRelease, kCur, kLost, kQ, 0},
      {kQueued, kMarkCanceled, kCur, kLost, kQ, 0},
      {kQueued, kCancel, kCur, kOk, kC, 0},
      {kQueued, kReap, kCur, kOk, kQ, 0},
      // Waiting out a retry backoff: not leasable until it ends.
      {kQueuedInBackoff, kLease, kCur, kOk, kQ, 1},
      {kQueuedInBackoff, kComplete, kCur, kLost, kQ, 1},
      {kQueuedInBackoff, kCancel, kCur, kOk, kC, 1},
      {kQueuedInBackoff, kReap, kCur, kOk, kQ, 1},
      {kQueuedBackoffOver, kLease, kCur, kOk, kR, 2, kTaken},
      // ttl bounds the wait for a first start only.
      {kQueuedTtlPassed, kLease, kCur, kOk, kQ, 0},
      {kQueuedTtlPassed, kReap, kCur, kOk, kE, 0, false, "expired"},
      {kQueuedTtlPassed, kCancel, kCur, kOk, kC, 0},
      {kQueuedStartedTtlPassed, kLease, kCur, kOk, kR, 1, kTaken},
      {kQueuedStartedTtlPassed, kReap, kCur, kOk, kQ, 0},
      // Running: every report needs the current fencing number.
      {kRunning, kLease, kCur, kOk, kR, 1},
      {kRunning, kHeartbeat, kCur, kOk, kR, 1},
      {kRunning, kHeartbeat, kOld, kLost, kR, 1},
      {kRunning, kComplete, kCur, kOk, kS, 1},
      {kRunning, kComplete, kOld, kLost, kR, 1},
      {kRunning, kFailPermanent, kCur, kOk, kF, 1, false, "engine_error"},
      {kRunning, kFailPermanent, kOld, kLost, kR, 1},
      {kRunning, kFailTransient, kCur, kOk, kQ, 1},
      {kRunning, kFailTransient, kOld, kLost, kR, 1},
      {kRunning, kRelease, kCur, kOk, kQ, 0},
      {kRunning, kRelease, kOld, kLost, kR, 1},
      {kRunning, kMarkCanceled, kCur, StatusCode::kFailedPrecondition, kR, 1},
      {kRunning, kMarkCanceled, kOld, kLost, kR, 1},
      {kRunning, kCancel, kCur, kOk, kR, 1},
      {kRunning, kReap, kCur, kOk, kR, 1},
      // On the last attempt a transient failure is final; a release gives the attempt back.
      {kRunningLastAttempt, kFailTransient, kCur, kOk, kF, 1, false, "engine_error"},
      {kRunningLastAttempt, kRelease, kCur, kOk, kQ, 0},
      {kRunningLastAttempt, kComplete, kCur, kOk, kS, 1},
      {kRunningLastAttempt, kReap, kCur, kOk, kR, 1},
      // A cancel request turns every way back to the queue into canceled.
      {kRunningCancelRequested, kHeartbeat, kCur, kOk, kR, 1},
      {kRunningCancelRequested, kMarkCanceled, kCur, kOk, kC, 1},
      {kRunningCancelRequested, kMarkCanceled, kOld, kLost, kR, 1},
      {kRunningCancelRequested, kFailTransient, kCur, kOk, kC, 1},
      {kRunningCancelRequested, kFailPermanent, kCur, kOk, kF, 1, false, "engine_error"},
      {kRunningCancelRequested, kRelease, kCur, kOk, kC, 1},
      {kRunningCancelRequested, kComplete, kCur, kOk, kS, 1},
      {kRunningCancelRequested, kCancel, kCur, kOk, kR, 1},
      // A lapsed lease still holds until Reap takes it back.
      {kRunningLapsed, kLease, kCur, kOk, kR, 1},
      {kRunningLapsed, kHeartbeat, kCur, kOk, kR, 1},
      {kRunningLapsed, kComplete, kCur, kOk, kS, 1},
      {kRunningLapsed, kReap, kCur, kOk, kQ, 1},
      {kRunningLastAttemptLapsed, kReap, kCur, kOk, kF, 1, false, "worker_lost"},
      {kRunningCancelRequestedLapsed, kReap, kCur, kOk, kC, 1},
  };
  // Terminal: nothing changes it any more.
  struct Terminal {
    TableFrom from;
    TaskState state;
    int attempts;
    const char* error;
  };
  for (const Terminal& t :
       {Terminal{kSucceeded, kS, 1, ""}, Terminal{kFailed, kF, 1, "engine_error"},
        Terminal{kCanceled, kC, 0, ""}, Terminal{kExpired, kE, 0, "expired"}}) {
    for (TableCall call :
         {kLease, kHeartbeat, kComplete, kFailTransient, kRelease, kMarkCanceled}) {
      cases.push_back(
          {t.from, call, kCur, call == kLease ? kOk : kLost, t.state, t.attempts, false, t.error});
    }
    cases.push_back({t.from, kCancel, kCur, kOk, t.state, t.attempts, kTaken, t.error});
    cases.push_back({t.from, kReap, kCur, kOk, t.state, t.attempts, false, t.error});
  }
  return cases;
}

const char* FromName(TableFrom from) {
  static constexpr const char* kNames[] = {"Queued",
                                           "QueuedInBackoff",
                                           "QueuedBackoffOver",
                                           "QueuedTtlPassed",
                                           "QueuedStartedTtlPassed",
                                           "Running",
                                           "RunningLastAttempt",
                                           "RunningCancelRequested",
                                           "RunningLapsed",
                                           "RunningLastAttemptLapsed",
                                           "RunningCancelRequestedLapsed",
                                           "Succeeded",
                                           "Failed",
                                           "Canceled",
                                           "Expired"};
  return kNames[static_cast<int>(from)];
}

const char* CallName(TableCall call) {
  static constexpr const char* kNames[] = {"Lease",         "Heartbeat",     "Complete",
                                           "FailPermanent", "FailTransient", "Release",
                                           "MarkCanceled",  "Cancel",        "Reap"};
  return kNames[static_cast<int>(call)];
}

std::string MsText(const std::optional<Timestamp>& t) {
  return t ? std::to_string(ToUnixMillis(*t)) : "-";
}

// The fields the rules touch, for failure messages.
std::string Describe(const Task& t) {
  std::ostringstream out;
  out << TaskStateName(t.state) << " attempts=" << t.attempts << "/" << t.max_attempts
      << " cancel_requested=" << t.cancel_requested << " fencing=" << t.fencing << " worker='"
      << t.worker_id << "' lease_expires_at=" << MsText(t.lease_expires_at)
      << " not_before=" << MsText(t.not_before) << " started_at=" << MsText(t.started_at)
      << " completed_at=" << MsText(t.completed_at) << " error=" << (t.error ? t.error->code : "-")
      << " outputs=" << t.outputs.size() << " progress="
      << (t.progress ? std::to_string(t.progress->step) + "/" + std::to_string(t.progress->steps)
                     : "-");
  return out.str();
}

bool Check(const Status& s, const char* what) {
  if (!s.ok()) ADD_FAILURE() << what << ": " << s.ToString();
  return s.ok();
}

}  // namespace

const std::vector<TransitionCase>& TransitionCases() {
  static const std::vector<TransitionCase> cases = MakeCases();
  return cases;
}

std::string TransitionCaseName(const TransitionCase& c) {
  return std::string(FromName(c.from)) + "_" + CallName(c.call) +
         (c.fencing == TableFencing::kStale ? "_StaleFencing" : "");
}

std::optional<Task> TransitionTable::Reach(TableFrom from) {
  using enum TableFrom;
  NewTask nt = TestNewTask("acme", TestRequest(kModel));
  if (from == kRunningLastAttempt || from == kRunningLastAttemptLapsed) nt.max_attempts = 1;
  if (from == kQueuedTtlPassed || from == kQueuedStartedTtlPassed || from == kExpired) {
    nt.request.ttl_s = kTtlSeconds;
  }
  if (!Check(store().Enqueue(nt).status(), "enqueue")) return std::nullopt;
  const Millis past_ttl = std::chrono::seconds(kTtlSeconds + 1);
  Task leased;
  auto lease = [&] {
    auto r = store().Lease(
        {.worker_id = "w-1", .models = {kModel}, .max_tasks = 1, .lease_duration = kLeaseFor});
    if (!Check(r.status(), "lease") || r->size() != 1) return false;
    leased = r->front().task;
    return true;
  };
  bool ok = true;
  switch (from) {
    case kQueued: break;
    case kQueuedInBackoff:
    case kQueuedBackoffOver:
      ok = lease() &&
           Check(store().Fail(FailureFor(leased, FailureKind::kTransient, kRetryAfter)).status(),
                 "fail");
      if (from == kQueuedBackoffOver) clock().Advance(kRetryAfter + Millis(1));
      break;
    case kQueuedTtlPassed: clock().Advance(past_ttl); break;
    case kQueuedStartedTtlPassed:
      ok = lease() && Check(store().Release(nt.id, leased.fencing).status(), "release");
      clock().Advance(past_ttl);
      break;
    case kRunning:
    case kRunningLastAttempt: ok = lease(); break;
    case kRunningCancelRequested:
      ok = lease() && Check(store().Cancel(nt.id).status(), "cancel");
      break;
    case kRunningLapsed:
    case kRunningLastAttemptLapsed:
      ok = lease();
      clock().Advance(kLeaseFor + Millis(1));
      break;
    case kRunningCancelRequestedLapsed:
      ok = lease() && Check(store().Cancel(nt.id).status(), "cancel");
      clock().Advance(kLeaseFor + Millis(1));
      break;
    case kSucceeded:
      ok =
          lease() &&
          Check(store().Complete(CompletionFor(leased, clock().Now() + Millis(3'600'000))).status(),
                "complete");
      break;
    case kFailed:
      ok = lease() &&
           Check(store().Fail(FailureFor(leased, FailureKind::kPermanent)).status(), "fail");
      break;
    case kCanceled: ok = Check(store().Cancel(nt.id).status(), "cancel"); break;
    case kExpired:
      clock().Advance(past_ttl);
      ok = Check(store().Reap().status(), "reap");
      break;
  }
  if (!ok) return std::nullopt;
  auto got = store().Get(nt.id);
  if (!Check(got.status(), "get")) return std::nullopt;
  got->queue_position.reset();  // a read-side figure, not part of the record
  return *got;
}

// One case: the call on the store, and the rules of transitions.h on a copy of the record the
// store held before it; both must give the table's outcome, and the store must hold exactly what
// the rules made.
TEST_P(TransitionTable, Case) {
  using enum TableCall;
  const TransitionCase& c = TransitionCases()[std::get<1>(GetParam())];
  std::optional<Task> before = Reach(c.from);
  ASSERT_TRUE(before.has_value()) << "could not reach " << FromName(c.from);
  SCOPED_TRACE("before: " + Describe(*before));
  const Timestamp now = clock().Now();
  const uint64_t fencing =
      c.fencing == TableFencing::kCurrent ? before->fencing : before->fencing + 1;
  const std::string& id = before->id;
  const std::optional<TaskProgress> progress = TaskProgress{5, before->request.steps};
  Completion completion = CompletionFor(*before, now + Millis(3'600'000));
  completion.fencing = fencing;
  Failure failure = FailureFor(
      *before, c.call == kFailTransient ? FailureKind::kTransient : FailureKind::kPermanent,
      kRetryAfter);
  failure.fencing = fencing;

  Status got, rule;
  bool flag = false, rule_flag = false;
  Task expected = *before;
  switch (c.call) {
    case kLease: {
      auto r = store().Lease({.worker_id = "w-2", .models = {kModel}, .max_tasks = 1});
      got = r.status();
      flag = r.ok() && !r->empty();
      rule_flag = transitions::IsLeasable(expected, now);
      if (rule_flag && flag) {
        EXPECT_GT(r->front().task.fencing, before->fencing) << "a lease needs a new fencing number";
        rule = transitions::Lease(expected, "w-2", r->front().task.fencing, now,
                                  LeaseRequest{}.lease_duration);
      }
      break;
    }
    case kHeartbeat:
      got = store().Heartbeat(id, fencing, kLeaseFor, progress).status();
      rule = transitions::HeartbeatUnderLease(expected, fencing, kLeaseFor, progress, now);
      break;
    case kComplete:
      got = store().Complete(completion).status();
      rule = transitions::CompleteUnderLease(expected, completion, now);
      break;
    case kFailPermanent:
    case kFailTransient:
      got = store().Fail(failure).status();
      rule = transitions::FailUnderLease(expected, failure, now);
      break;
    case kRelease:
      got = store().Release(id, fencing).status();
      rule = transitions::ReleaseUnderLease(expected, fencing, now);
      break;
    case kMarkCanceled:
      got = store().MarkCanceled(id, fencing).status();
      rule = transitions::MarkCanceledUnderLease(expected, fencing, now);
      break;
    case kCancel: {
      auto r = store().Cancel(id);
      got = r.status();
      flag = r.ok() && r->already_terminal;
      rule_flag = IsTerminal(expected.state);
      transitions::Cancel(expected, now);
      break;
    }
    case kReap:
      got = store().Reap().status();
      if (transitions::IsLapsed(expected, now)) {
        rule = transitions::LapseLease(expected, now);
      } else if (transitions::IsPastTtl(expected, now)) {
        rule = transitions::Expire(expected, now);
      }
      break;
  }
  if (!rule.ok()) expected = *before;  // a refusal changes nothing

  EXPECT_EQ(got.code(), c.code) << "store: " << got.ToString();
  EXPECT_EQ(rule.code(), c.code) << "transitions.cc: " << rule.ToString();
  if (c.call == kLease || c.call == kCancel) {
    EXPECT_EQ(flag, c.flag) << "store";
    EXPECT_EQ(rule_flag, c.flag) << "transitions.cc";
  }
  auto after = store().Get(id);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  after->queue_position.reset();
  EXPECT_TRUE(*after == expected) << "the store holds: " << Describe(*after)
                                  << "\nthe rules make: " << Describe(expected);
  EXPECT_EQ(after->state, c.state);
  EXPECT_EQ(after->attempts, c.attempts);
  EXPECT_EQ(after->error ? after->error->code : "", c.error);
  if (c.code != StatusCode::kOk) {
    EXPECT_TRUE(*after == *before) << "a refused call changed it";
  }
}

}  // namespace stipple
