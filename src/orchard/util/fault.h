// Fault injection for crash-safety tests: a debugger-free way to kill the process at a
// named step, as `kill -9`, an OOM kill or a lost node would.
#pragma once

#include <string_view>

namespace orchard::util {

/// The environment variable naming the step to die at (test hook, not a user setting).
inline constexpr const char* kFaultAtEnv = "ORCHARD_FAULT_AT";

/// Test hook: when the environment variable ORCHARD_FAULT_AT equals `step`, the process is
/// killed at once with SIGKILL (no destructors, no flushing, no atexit handlers). Otherwise
/// it does nothing; the variable is read once, so an unset variable costs one branch.
/// Step names are "<job>:<step>", e.g. "fit-pca:after-model" or "publish:success-withdrawn";
/// tests/integration/test_crash_points.py lists them. Thread-safe.
void MaybeDieAt(std::string_view step);

/// The environment variable that limits thread starts (test hook, not a user setting): with
/// ORCHARD_FAULT_THREADS=N, the first N threads started through util::StartThread start and
/// every later start fails as if the system had run out of threads. Unset: no limit.
inline constexpr const char* kFaultThreadsEnv = "ORCHARD_FAULT_THREADS";

/// Test hook behind util::StartThread: true when this thread start must fail (the
/// ORCHARD_FAULT_THREADS budget is spent). Counts every call. Thread-safe.
bool ThreadStartRefused();

/// Unit tests: as if ORCHARD_FAULT_THREADS=budget were set now (a negative budget: no
/// limit), with the count of started threads reset.
void SetThreadStartBudgetForTesting(long long budget);

}  // namespace orchard::util
