// libFuzzer target over names (issue 21): any bytes, taken as a relative file path, must
// give a listing item whose path and label are valid UTF-8 and decode back to the raw
// bytes (util::UnescapeName), a terminal form with no control, bidi or invalid sequence,
// an HTML form with no markup or bidi control, and a JSON dump that never throws and
// parses back. Any violation aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "orchard/pipeline/listing.h"
#include "orchard/report/svg_charts.h"
#include "orchard/util/text.h"

namespace {

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "names_fuzzer: %s\n", what);
    std::abort();
  }
}

// True when `text` is valid UTF-8 and holds no code point `reject` accepts.
template <typename Reject>
bool CleanText(std::string_view text, Reject reject) {
  size_t pos = 0;
  char32_t code_point = 0;
  while (pos < text.size()) {
    const size_t length = orchard::util::DecodeUtf8(text, pos, &code_point);
    if (length == 0 || reject(code_point)) return false;
    pos += length;
  }
  return true;
}

std::string RawOf(std::string_view escaped) {
  auto raw = orchard::util::UnescapeName(escaped);
  Require(raw.ok(), "an escaped name does not unescape");
  return *raw;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace orchard;
  const std::string raw(reinterpret_cast<const char*>(data), size);

  // The listing's item: the table form of path and label.
  io::Location root;
  root.path = "/in\xFF/root";
  const auto item = pipeline::MakeImageItem(raw, static_cast<int64_t>(size), root);
  Require(item.source == raw, "the item lost its raw source");
  Require(util::IsValidUtf8(item.path) && util::IsValidUtf8(item.label), "invalid table text");
  Require(RawOf(item.path) == raw, "path does not round-trip");
  // The label is the parent folder's name (the root's own for a file directly below it);
  // listed paths never start with '/', so such inputs only check validity above.
  const auto slash = raw.rfind('/');
  if (slash == std::string::npos) {
    Require(RawOf(item.label) == "root", "the root's label does not round-trip");
  } else if (raw.front() != '/') {
    const auto previous = raw.rfind('/', slash - 1);
    const size_t start = previous == std::string::npos ? 0 : previous + 1;
    Require(RawOf(item.label) == raw.substr(start, slash - start), "label does not round-trip");
  }
  if (util::IsValidUtf8(raw) && raw.find('%') == std::string::npos) {
    Require(item.path == raw, "a valid name without '%' was changed");
  }

  // The terminal: nothing acts on it, and a name's terminal form still decodes.
  const auto is_control = [](char32_t code) { return util::IsTerminalControl(code); };
  Require(CleanText(util::ForTerminal(raw), is_control), "ForTerminal left a control");
  const std::string shown = util::ForTerminal(item.path);
  Require(CleanText(shown, is_control), "ForTerminal of a path left a control");
  Require(RawOf(shown) == raw, "the terminal form of a path does not decode");
  Require(util::IsValidUtf8(util::ValidUtf8(raw)), "ValidUtf8 is not valid");

  // The report: no markup and no bidi control from a name reaches the page.
  const std::string html = report::EscapeXml(raw);
  Require(CleanText(html, [](char32_t code) { return util::IsBidiControl(code); }),
          "EscapeXml left a bidi control or invalid text");
  Require(html.find_first_of("<>\"'") == std::string::npos, "EscapeXml left markup");

  // JSON: the raw bytes as value and key never make a dump throw.
  const nlohmann::json document = {{"path", raw}, {"label", item.label}, {raw, 1}};
  for (const auto chars : {util::JsonChars::kUtf8, util::JsonChars::kAscii}) {
    const std::string text = util::DumpJson(document, -1, chars);
    Require(util::IsValidUtf8(text), "a JSON dump is not valid UTF-8");
    const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    Require(!parsed.is_discarded(), "a JSON dump does not parse");
    Require(parsed.at("label") == item.label, "a valid string changed in the dump");
  }
  return 0;
}
