// The one way orchard starts a thread. std::thread throws std::system_error when the
// process or the machine is out of threads (EAGAIN: RLIMIT_NPROC, a cgroup pids limit,
// kernel.threads-max); uncaught, that is std::terminate, and a pipeline stage that never
// started leaves the others waiting for it. StartThread turns it into a Status instead, so
// every caller can stop the threads it did start and return the error.
#pragma once

#include <functional>
#include <string_view>
#include <thread>

#include "orchard/util/status.h"

namespace orchard::util {

/// Starts a thread running `body`. Fails (IOError naming `what` and telling the user to
/// lower -j/--threads) when the thread cannot be created; never throws. The test hook
/// ORCHARD_FAULT_THREADS (util/fault.h) makes it fail as the system would. Thread-safe.
Result<std::thread> StartThread(std::string_view what, std::function<void()> body);

}  // namespace orchard::util
