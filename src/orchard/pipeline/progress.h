// Progress on a terminal: count, rate and ETA on one rewritten line of stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace orchard::pipeline {

class ProgressLine {
 public:
  /// `enabled` false makes every call a no-op (not a terminal, or --quiet).
  ProgressLine(std::string stage, int64_t total, bool enabled);
  /// Thread-safe; redraws at most 5 times a second.
  void Update(int64_t done, int64_t failed);
  /// Draws the final state and ends the line.
  void Finish();

 private:
  void Draw(bool final_draw);

  std::string stage_;
  int64_t total_;
  bool enabled_;
  std::mutex mutex_;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace orchard::pipeline
