// Human-facing report of a run: the cumulative explained-variance ("scree") plot.
#pragma once

#include <string>

#include "orchard/pca/pca.h"

namespace orchard::report {

/// An SVG line chart of the cumulative explained-variance ratio against the number of
/// components, with the threshold and the chosen k marked, and the individual ratios as
/// bars. Opens in any browser.
std::string ScreePlotSvg(const pca::PcaModel& model, const std::string& title);

}  // namespace orchard::report
