// What the CLI prints on stderr when a job ends (unless --json or --quiet): the typed
// summaries of the jobs, a line per fact.
#pragma once

#include <map>
#include <string>

#include "orchard/jobs/predict_job.h"
#include "orchard/jobs/train_job.h"
#include "orchard/output/summary.h"

namespace orchard::cli {

/// "time       list 0.01s, featurize 1.20s, ..."
void PrintSeconds(const std::map<std::string, double>& seconds);

/// run, featurize, fit-pca, project.
void PrintSummary(const output::JobSummary& summary);

/// predict --input --output.
void PrintSummary(const jobs::PredictSummary& summary);

/// train.
void PrintSummary(const jobs::TrainSummary& summary);

}  // namespace orchard::cli
