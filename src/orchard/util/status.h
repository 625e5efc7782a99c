// Error handling: orchard uses Arrow's Status / Result<T> everywhere inside the library.
// Third-party errors (ONNX Runtime, OpenCV, OpenSSL) are turned into a Status where the
// call is made, with the input's name in the message. Front ends translate a Status once.
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

namespace orchard {

using arrow::Result;
using arrow::Status;

}  // namespace orchard

#define ORCHARD_RETURN_NOT_OK(expr) ARROW_RETURN_NOT_OK(expr)
#define ORCHARD_ASSIGN_OR_RAISE(lhs, rexpr) ARROW_ASSIGN_OR_RAISE(lhs, rexpr)
