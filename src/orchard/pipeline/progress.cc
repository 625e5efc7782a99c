#include "orchard/pipeline/progress.h"

#include <cstdio>

#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

std::string FormatDuration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  const auto total = static_cast<int64_t>(seconds + 0.5);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%lldh%02lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>(total / 60 % 60));
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return buffer;
}

}  // namespace

ProgressLine::ProgressLine(std::string stage, int64_t total, bool enabled)
    : stage_(util::ForTerminal(stage)),  // drawn on the terminal as is
      total_(total),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressLine::Update(int64_t done, int64_t failed) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  done_ = done;
  failed_ = failed;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200)) return;
  last_draw_ = now;
  Draw(false);
}

void ProgressLine::Finish() {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  Draw(true);
}

void ProgressLine::Draw(bool final_draw) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
  const double percent =
      total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100;
  std::fprintf(stderr, "\r\033[K%s %lld/%lld (%.0f%%)  %.1f img/s  failed %lld  %s %s",
               stage_.c_str(), static_cast<long long>(done_), static_cast<long long>(total_),
               percent, rate, static_cast<long long>(failed_), final_draw ? "took" : "ETA",
               FormatDuration(final_draw ? elapsed : eta).c_str());
  if (final_draw) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace orchard::pipeline
