#include "orchard/util/fault.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <limits>

namespace orchard::util {

void MaybeDieAt(std::string_view step) {
  // Read once (thread-safe static initialisation); nullptr when unset.
  static const char* const fault_at = std::getenv(kFaultAtEnv);
  if (fault_at == nullptr || step != fault_at) return;
  std::raise(SIGKILL);
  _exit(137);  // not reached: SIGKILL cannot be caught
}

namespace {

constexpr long long kNoThreadLimit = std::numeric_limits<long long>::max();

long long ThreadBudgetFromEnv() {
  const char* value = std::getenv(kFaultThreadsEnv);
  if (value == nullptr || *value == '\0') return kNoThreadLimit;
  char* end = nullptr;
  const long long parsed = std::strtoll(value, &end, 10);
  return *end == '\0' && parsed >= 0 ? parsed : kNoThreadLimit;
}

// Read once from the environment (thread-safe static initialisation).
std::atomic<long long>& ThreadBudget() {
  static std::atomic<long long> budget{ThreadBudgetFromEnv()};
  return budget;
}
std::atomic<long long> g_threads_started{0};

}  // namespace

bool ThreadStartRefused() {
  const long long budget = ThreadBudget().load();
  if (budget == kNoThreadLimit) return false;  // the normal case: one load, one branch
  return g_threads_started.fetch_add(1) >= budget;
}

void SetThreadStartBudgetForTesting(long long budget) {
  g_threads_started = 0;
  ThreadBudget() = budget < 0 ? kNoThreadLimit : budget;
}

}  // namespace orchard::util
