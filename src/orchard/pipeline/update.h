// `run --update`: a new listing of an input against the output an earlier run made of it,
// streaming, never loading either. Both listings are sorted by path, and an output's parts
// hold its listing's images in order (part p: images p*R ..), so one merge pass over the old
// listing, its parts and the new listing decides each image (PlanUpdate), and a second one
// writes the new parts from the old rows and the rows of the images featurized again
// (AssembleUpdate). Memory holds one part of each stream at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/listing_file.h"
#include "orchard/pipeline/shard.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// What an update did with the images of the new listing (and the old one's).
struct UpdateCounts {
  int64_t reused = 0;   ///< unchanged since the output was made: its row is kept
  int64_t added = 0;    ///< a path the old listing did not have
  int64_t changed = 0;  ///< a path it had, with another size, mtime, label or source
  int64_t retried = 0;  ///< unchanged, but its row was a transient error (stage "read")
  int64_t removed = 0;  ///< in the old listing only: its row is dropped
};

/// One image of an output with its row: a features row or an error row.
struct OutputRow {
  ImageItem item;
  bool has_features = false;
  std::vector<float> features;  ///< dim values when has_features
  table::ErrorRecord error;     ///< when !has_features
};

/// An output's rows in its listing's order: its listing file (checked whole first) read a
/// part at a time with that part's features and errors files. A part whose rows are not
/// exactly its images (a tampered or foreign output) fails the stream, naming the part.
class OutputRows {
 public:
  /// `listing`: the output's listing file; `features_dir`, `errors_dir`: its tables.
  /// `with_features` false: only paths and labels are read (rows have no values), which is
  /// all PlanUpdate needs.
  static Result<std::unique_ptr<OutputRows>> Open(const io::Location& listing,
                                                  const io::Location& features_dir,
                                                  const io::Location& errors_dir,
                                                  bool with_features = true);
  /// The next image and its row; nullptr at the end.
  Result<const OutputRow*> Next();
  int64_t rows_per_part() const { return info_.rows_per_part; }
  int64_t num_items() const { return info_.num_items; }
  int64_t dim() const { return dim_; }

 private:
  OutputRows() = default;
  Status LoadPart();

  ListingInfo info_;
  io::Location features_dir_;
  io::Location errors_dir_;
  std::unique_ptr<ListingReader> reader_;
  bool with_features_ = true;
  int64_t next_part_ = 0;
  int64_t dim_ = 0;
  std::vector<OutputRow> part_;
  size_t next_row_ = 0;
};

/// Decides each image of `new_listing` (bytes [begin, end) of its file, `num_items` images)
/// against the output `old_rows`: the images to featurize (added, changed, retried, and the
/// rows the listing itself fails, which cost nothing) go to `to_featurize` in order.
Result<UpdateCounts> PlanUpdate(const ListingRange& new_listing, OutputRows* old_rows,
                                ListingWriter* to_featurize);

/// Writes the parts of `new_listing` (rows_per_part images each) into `features_dir` and
/// `errors_dir`: each image's row comes from `featurized` (the images PlanUpdate chose,
/// featurized) when it is there, else from `old_rows`; every features row must be `dim`
/// wide (the model's). Returns the counts of the new parts
/// and their PCA statistics, made part by part and merged in part order as a fresh run's.
Result<ShardOutcome> AssembleUpdate(const ListingRange& new_listing, int64_t rows_per_part,
                                    int64_t dim, OutputRows* old_rows, OutputRows* featurized,
                                    const io::Location& features_dir,
                                    const io::Location& errors_dir);

}  // namespace orchard::pipeline
