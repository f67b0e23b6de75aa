#include "common/status.h"

#include <gtest/gtest.h>

namespace stipple {
namespace {

TEST(Status, DefaultIsOkAndCarriesNothing) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(Status, ErrorKeepsCodeMessageAndFieldErrors) {
  Status s = InvalidArgumentError("bad request", {{"steps", "must be between 1 and 150"}});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(s.field_errors().size(), 1u);
  EXPECT_EQ(s.field_errors()[0].field, "steps");
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: bad request (steps: must be between 1 and 150)");
}

TEST(Status, WithContextPrefixesTheMessageAndKeepsOkOk) {
  EXPECT_EQ(NotFoundError("no task").WithContext("get").message(), "get: no task");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x));
  return Status::Ok();
}

TEST(Result, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

TEST(Result, ConstructingFromOkStatusIsAnInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  Result<int> r = NotFoundError("gone");
  EXPECT_DEATH((void)r.value(), "gone");
}

}  // namespace
}  // namespace stipple
