#include "orchard/util/start_thread.h"

#include <string>
#include <system_error>

#include "orchard/util/fault.h"

namespace orchard::util {
namespace {

Status CannotStart(std::string_view what, const std::string& reason) {
  return Status::IOError("cannot start a thread (", what, "): ", reason,
                         ". The process or the machine is out of threads: lower -j/--threads, "
                         "or raise the limit (ulimit -u, the container's pids limit)");
}

}  // namespace

Result<std::thread> StartThread(std::string_view what, std::function<void()> body) {
  if (ThreadStartRefused()) {
    return CannotStart(what, "Resource temporarily unavailable (" + std::string(kFaultThreadsEnv) +
                                 " test hook)");
  }
  try {
    return std::thread(std::move(body));
  } catch (const std::system_error& error) {
    return CannotStart(what, error.what());
  }
}

}  // namespace orchard::util
