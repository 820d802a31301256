#include "base/status.h"

#include <errno.h>
#include <gtest/gtest.h>

namespace tether {
namespace {

TEST(ErrnoStatus, NamesTheCallTheErrorAndItsNumber) {
  absl::Status status = ErrnoStatus(ENOENT, "open(/nowhere)");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "open(/nowhere): No such file or directory (errno 2)");
}

TEST(Annotate, PrefixesTheMessageAndKeepsTheCode) {
  absl::Status status = Annotate(absl::PermissionDeniedError("no"), "landlock");
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "landlock: no");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return absl::InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(Macros, ReturnTheFirstErrorAndPassValuesOn) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tether
