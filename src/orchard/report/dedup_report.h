// The page of `orchard dedup`, DUP/report/index.html: the largest groups of near-duplicates
// (or, with --against, the images that have a near-copy in the other set), each image a
// small inline thumbnail with its path, label and distance. One self-contained file like
// the run report (page.h): the thumbnails are data URIs, nothing is loaded from anywhere.
// The data is gathered by the dedup job (jobs layer: it reads and scales the images); this
// layer only renders it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace orchard::report {

/// Groups shown, members shown per group, matches shown: a bound on the page's size
/// (about 2 KB a thumbnail: at most ~1 MB).
inline constexpr int64_t kMaxDedupGroupsShown = 50;
inline constexpr int64_t kMaxDedupMembersShown = 8;
inline constexpr int64_t kMaxDedupMatchesShown = 100;

struct DedupImage {
  std::string path;
  std::string label;
  float distance = 0;          ///< to the group's representative, or to the match
  std::string thumbnail_jpeg;  ///< "" when the image could not be read: a placeholder
  std::string missing_reason;  ///< why, shown as the placeholder's title
};

struct DedupGroupShown {
  int64_t group = 0;
  int64_t size = 0;                 ///< members in the group (shown or not)
  std::vector<DedupImage> members;  ///< the representative first
};

struct DedupMatchShown {
  DedupImage image;  ///< of the input
  DedupImage match;  ///< its nearest image of the other set
};

struct DedupReport {
  std::string input;
  std::string against;  ///< "" without --against
  std::string output;
  double threshold = 0;
  int64_t rows = 0;
  int64_t skipped = 0;
  int64_t groups = 0;
  int64_t grouped_rows = 0;
  int64_t matched_rows = 0;
  std::string thumbnails_note;  ///< e.g. why no image could be shown; "" otherwise
  std::vector<DedupGroupShown> largest_groups;
  std::vector<DedupMatchShown> matches;
};

/// The whole page.
std::string RenderDedupPage(const DedupReport& report);

}  // namespace orchard::report
