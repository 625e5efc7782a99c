// What this process uses of the machine's memory, for run summaries.
#pragma once

namespace orchard::util {

/// Peak resident memory of this process so far, in MiB. Thread-safe.
double PeakRssMiB();

}  // namespace orchard::util
