// Status and Result<T>: how every stipple function reports failure.
//
// A Status is a canonical code, a human message and, for validation failures, a list of
// per-field errors. An OK Status holds no allocation, so returning it is as cheap as returning
// a pointer. Result<T> is a T or a non-OK Status. Library exceptions (SQLite, JSON, libtorch) are
// caught at the adapter that calls the library and turned into a Status; the mapping to HTTP is
// done in exactly one place, in src/http.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stipple {

// Canonical codes (the same set as gRPC/Abseil, so their meaning is well known).
enum class StatusCode {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,   // the caller's input is wrong; field_errors name the fields
  kDeadlineExceeded = 4,  // a wait or an attempt ran out of time
  kNotFound = 5,          // no such task / output / key (also: another tenant's task)
  kAlreadyExists = 6,     // e.g. an idempotency key reused with a different body
  kPermissionDenied = 7,
  kResourceExhausted = 8,   // queue full, quota, rate limit
  kFailedPrecondition = 9,  // the object is in the wrong state (e.g. task already terminal)
  kAborted = 10,            // a lease was lost: the fencing number no longer matches
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,     // a bug or a broken invariant
  kUnavailable = 14,  // store down, draining: retry later
  kDataLoss = 15,     // corrupt or truncated data
  kUnauthenticated = 16,
};

std::string_view StatusCodeName(StatusCode code);

// One offending field of a request: `field` is a dotted path ("webhook.url", "metadata").
struct FieldError {
  std::string field;
  std::string message;
  bool operator==(const FieldError&) const = default;
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message, std::vector<FieldError> field_errors = {});

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const;
  const std::vector<FieldError>& field_errors() const;

  // "INVALID_ARGUMENT: message (field: msg; ...)" — for logs and test failures.
  std::string ToString() const;

  // A copy with "context: " put before the message; OK stays OK.
  Status WithContext(std::string_view context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
    std::vector<FieldError> field_errors;
  };
  std::shared_ptr<const State> state_;  // null when OK; shared so copies are cheap
};

Status InvalidArgumentError(std::string message, std::vector<FieldError> field_errors = {});
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status FailedPreconditionError(std::string message);
Status AbortedError(std::string message);
Status ResourceExhaustedError(std::string message);
Status UnavailableError(std::string message);
Status InternalError(std::string message);
Status DataLossError(std::string message);
Status DeadlineExceededError(std::string message);
Status UnimplementedError(std::string message);

// Result<T>: either a value or a non-OK Status. Accessing value() of an error is a bug and
// aborts with the status printed.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) status_ = InternalError("Result constructed from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void CheckOk() const;
  std::optional<T> value_;
  Status status_;  // OK when value_ is set
};

[[noreturn]] void DieOnBadResultAccess(const Status& status);

template <typename T>
void Result<T>::CheckOk() const {
  if (!value_.has_value()) DieOnBadResultAccess(status_);
}

namespace internal {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
const Status& AsStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace stipple

#define STIPPLE_CONCAT_INNER(a, b) a##b
#define STIPPLE_CONCAT(a, b) STIPPLE_CONCAT_INNER(a, b)

// Returns the Status of `expr` (a Status or a Result) from the calling function if it is an error.
#define RETURN_IF_ERROR(expr)                                           \
  do {                                                                  \
    const auto& stipple_status_or_result_ = (expr);                     \
    if (!::stipple::internal::AsStatus(stipple_status_or_result_).ok()) \
      return ::stipple::internal::AsStatus(stipple_status_or_result_);  \
  } while (false)

// ASSIGN_OR_RETURN(auto x, F()): declares/assigns x from a Result, or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(STIPPLE_CONCAT(stipple_result_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()
