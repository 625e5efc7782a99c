// The one way to run independent pieces of work on a few threads.
#pragma once

#include <cstddef>
#include <functional>

#include "orchard/util/status.h"

namespace orchard {

/// Runs fn(idx) for idx in [0, count) on up to `threads` threads (at least one; never more
/// than `count`), each taking the next index. Stops handing out work after the first
/// failure and returns it (the first by time); OK when every call succeeded. A thread the
/// system refuses to create is such a failure (util::StartThread), never a crash or a hang.
Status ParallelFor(size_t count, int threads, const std::function<Status(size_t)>& fn);

}  // namespace orchard
