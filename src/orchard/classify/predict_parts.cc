#include "orchard/classify/predict_parts.h"

#include <arrow/api.h>

#include <map>
#include <memory>

#include "orchard/table/predictions.h"
#include "orchard/table/tables.h"
#include "orchard/util/parallel_for.h"

namespace orchard::classify {
namespace {

// The predictions of one features part's rows, counted into `counts`.
Result<std::shared_ptr<arrow::RecordBatch>> PredictionsBatch(const Classifier& classifier,
                                                             const table::VectorRows& rows,
                                                             const std::vector<float>& probs,
                                                             PredictionCounts* counts) {
  const int64_t k = classifier.num_classes();
  std::map<std::string, int64_t> index;
  for (int64_t class_idx = 0; class_idx < k; ++class_idx)
    index[classifier.classes[static_cast<size_t>(class_idx)]] = class_idx;
  table::PredictionsBatchBuilder builder(classifier.classes);
  for (int64_t row_idx = 0; row_idx < rows.num_rows(); ++row_idx) {
    const float* row = probs.data() + row_idx * k;
    const auto top = TopK(row, k, kTopK);
    const std::string& label = rows.labels[static_cast<size_t>(row_idx)];
    ORCHARD_RETURN_NOT_OK(
        builder.Append(rows.paths[static_cast<size_t>(row_idx)], label, top, row));
    const auto known = index.find(label);
    counts->Add(label, known == index.end() ? -1 : known->second, top, k);
  }
  return builder.Finish();
}

}  // namespace

Status CheckEmbeddingDim(const Classifier& classifier, int64_t dim, const std::string& what) {
  if (dim == classifier.embedding_dim()) return Status::OK();
  return Status::Invalid(what, " has ", dim, "-d features but the classifier expects ",
                         classifier.embedding_dim(), "-d embeddings");
}

Result<PredictionCounts> PredictParts(const Classifier& classifier,
                                      const std::vector<io::Location>& feature_parts,
                                      const io::Location& predictions_dir, int threads) {
  const int64_t k = classifier.num_classes();
  std::vector<PredictionCounts> counts(feature_parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(feature_parts.size(), threads, [&](size_t part_idx) -> Status {
    const auto& part = feature_parts[part_idx];
    counts[part_idx] = PredictionCounts::Zero(k);
    ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(part, table::kFeaturesColumn));
    if (rows.num_rows() > 0)
      ORCHARD_RETURN_NOT_OK(CheckEmbeddingDim(classifier, rows.dim, part.display));
    std::vector<float> probabilities(static_cast<size_t>(rows.num_rows() * k));
    classifier.ProbabilitiesFromEmbeddings(rows.values.data(), rows.num_rows(),
                                           probabilities.data());
    ORCHARD_ASSIGN_OR_RAISE(auto batch,
                            PredictionsBatch(classifier, rows, probabilities, &counts[part_idx]));
    const std::string name = part.path.substr(part.path.rfind('/') + 1);
    return table::WriteParquet(predictions_dir.Child(name), *batch);
  }));
  PredictionCounts total = PredictionCounts::Zero(k);
  for (const auto& part_counts : counts) ORCHARD_RETURN_NOT_OK(total.Merge(part_counts));
  return total;
}

}  // namespace orchard::classify
