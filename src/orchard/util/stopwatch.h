// Wall-clock timing of a step, for run summaries and busy-time accounting.
#pragma once

#include <chrono>

namespace orchard::util {

using Clock = std::chrono::steady_clock;

/// Seconds from `start` to now.
inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace orchard::util
