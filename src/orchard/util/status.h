// Error handling: orchard uses Arrow's Status / Result<T> everywhere inside the library.
// Third-party errors (ONNX Runtime, OpenCV, OpenSSL) are turned into a Status where the
// call is made, with the input's name in the message. Front ends translate a Status once.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <memory>
#include <string>
#include <utility>

namespace orchard {

using arrow::Result;
using arrow::Status;

/// Marks a Status as a usage error: the command line asked for something orchard refuses
/// before doing any work (an output inside its input, ...). The CLI exits with 2 for it.
class UsageErrorDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "orchard::UsageErrorDetail";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return "usage error"; }
};

/// An Invalid status marked as a usage error.
template <typename... Args>
Status UsageError(Args&&... args) {
  return Status::Invalid(std::forward<Args>(args)...)
      .WithDetail(std::make_shared<UsageErrorDetail>());
}

inline bool IsUsageError(const Status& status) {
  return status.detail() != nullptr &&
         std::string(status.detail()->type_id()) == UsageErrorDetail::kTypeId;
}

}  // namespace orchard

#define ORCHARD_RETURN_NOT_OK(expr) ARROW_RETURN_NOT_OK(expr)
#define ORCHARD_ASSIGN_OR_RAISE(lhs, rexpr) ARROW_ASSIGN_OR_RAISE(lhs, rexpr)
