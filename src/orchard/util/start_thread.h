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

/// Fails (as StartThread) unless `count` more threads can be started now: starts them, each
/// waiting until all are up, then ends and joins them. For libraries whose own thread
/// creation cannot fail cleanly: ONNX Runtime, when its intra-op pool cannot start every
/// thread, waits forever while tearing the pool down. Racy by nature (another process may
/// take the threads after the probe), but it turns the common case, a limit below what
/// -j asks for, into a message.
Status CheckThreadsAvailable(int count, std::string_view what);

}  // namespace orchard::util
