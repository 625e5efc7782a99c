#include "orchard/util/fault.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>

namespace orchard::util {

void MaybeDieAt(std::string_view step) {
  // Read once (thread-safe static initialisation); nullptr when unset.
  static const char* const fault_at = std::getenv(kFaultAtEnv);
  if (fault_at == nullptr || step != fault_at) return;
  std::raise(SIGKILL);
  _exit(137);  // not reached: SIGKILL cannot be caught
}

}  // namespace orchard::util
