// The PCA model files of the output contract: pca_model/model.json (everything) and
// pca_model/components.parquet (one row per kept component). Written by the jobs (with
// report/scree.svg beside them: jobs::WritePcaFiles) and, through orchard._native, by the
// Spark job.
#pragma once

#include <arrow/type_fwd.h>

#include <memory>

#include "orchard/io/storage.h"
#include "orchard/pca/pca.h"
#include "orchard/util/status.h"

namespace orchard::output {

/// component int32, explained_variance, explained_variance_ratio,
/// cumulative_explained_variance_ratio float64, vector list<float64>; k rows.
Result<std::shared_ptr<arrow::RecordBatch>> ComponentsBatch(const pca::PcaModel& model);

/// The model of root/pca_model/model.json; says to run `orchard fit-pca` when it is missing.
Result<pca::PcaModel> ReadPcaModel(const io::Location& root);

/// Writes pca_model/model.json and pca_model/components.parquet below `root` (a staging
/// folder). The scree plot is the report layer's: jobs::WritePcaFiles writes both.
Status WritePcaModel(const pca::PcaModel& model, const io::Location& root);

}  // namespace orchard::output
