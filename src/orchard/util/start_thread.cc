#include "orchard/util/start_thread.h"

#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

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
    return CannotStart(
        what, "Resource temporarily unavailable (" + std::string(kFaultThreadsEnv) + " test hook)");
  }
  try {
    return std::thread(std::move(body));
  } catch (const std::system_error& error) {
    return CannotStart(what, error.what());
  }
}

Status CheckThreadsAvailable(int count, std::string_view what) {
  std::mutex mutex;
  std::condition_variable all_started;
  bool release = false;
  std::vector<std::thread> probes;
  Status status;
  for (int thread_idx = 0; thread_idx < count; ++thread_idx) {
    // Each probe stays alive until the last one started, so that `count` threads exist at
    // once, as they will in the library's pool.
    auto thread = StartThread(what, [&] {
      std::unique_lock lock(mutex);
      all_started.wait(lock, [&] { return release; });
    });
    if (!thread.ok()) {
      status = thread.status();
      break;
    }
    probes.push_back(std::move(thread).ValueOrDie());
  }
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  all_started.notify_all();
  for (auto& probe : probes) probe.join();
  return status;
}

}  // namespace orchard::util
