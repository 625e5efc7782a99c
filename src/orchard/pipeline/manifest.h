// Manifest inputs: a table of paths (.parquet, .csv, .jsonl) or an S3 Inventory report
// (manifest.json with CSV, ORC or Parquet data files), turned into the listing's items.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pipeline/listing.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The columns a manifest's path may be in, in the order they are looked for.
inline constexpr const char* kManifestPathColumns[] = {"path", "uri", "url", "key"};
inline constexpr const char* kManifestLabelColumn = "label";
/// A path cell longer than this is an error row (PATH_MAX; S3 keys have at most 1024 bytes).
inline constexpr size_t kMaxManifestPathBytes = 4096;
/// A JSON-lines line longer than this is an error row, skipped without being held whole.
inline constexpr int64_t kMaxManifestLineBytes = int64_t{1} << 20;

/// The kind of manifest a location's name says it is; kNone for anything else.
enum class ManifestKind { kNone, kParquet, kCsv, kJsonLines, kS3Inventory };
ManifestKind ManifestKindOf(std::string_view path);

/// The items of a manifest table. Rows: relative paths are below the manifest's folder
/// (a ".." that leaves it is an error row); absolute local paths only in a local manifest,
/// s3:// URIs only in a manifest on S3 (one filesystem per manifest); empty cells, NUL
/// bytes, cells over kMaxManifestPathBytes, malformed lines and other schemes are error
/// rows. `label` when the manifest has it, else the parent folder's name. Local rows get
/// their size and mtime (stat; a missing file is left to the read, which makes its error
/// row). Fails when the manifest cannot be opened, has no path column, or its path column
/// is not text; a read that fails midway keeps the rows before it and adds an error row.
Result<std::vector<ImageItem>> ListManifest(const io::Location& manifest, ManifestKind kind);

/// The items of an S3 Inventory report, read from its manifest.json: each data file (CSV,
/// gzip or not, with URL-encoded keys; ORC; or Parquet) of the destination bucket, every key of
/// the source bucket that is not a folder marker, a delete marker or hidden (a name
/// starting with '.' or '_', as for folders). The report must be on S3 (its rows are
/// objects of the source bucket, read through the same filesystem).
Result<std::vector<ImageItem>> ListS3Inventory(const io::Location& manifest_json);

namespace internal {
/// An S3 Inventory CSV key decoded: %XX to its byte, '+' to a space (the report's URL
/// encoding). A malformed escape fails.
Result<std::string> DecodeInventoryKey(std::string_view encoded);
}  // namespace internal

}  // namespace orchard::pipeline
