// Text that leaves orchard: names from file systems, object keys, models and classifier
// files are arbitrary bytes, but Parquet strings, JSON, HTML and a terminal need valid
// UTF-8 (and a terminal needs text without control sequences). Every such name passes
// through one of these functions on its way out; see docs/decisions.md ("Names are
// escaped, not guessed").
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <string>
#include <string_view>

#include "orchard/util/status.h"

namespace orchard::util {

/// Length (1-4) of the well-formed UTF-8 sequence that starts at text[pos], storing its
/// code point in *code_point; 0 when the bytes there are not one (a stray continuation
/// byte, a truncated sequence, an overlong form, a surrogate U+D800-U+DFFF, or a code
/// point above U+10FFFF). Requires pos < text.size().
size_t DecodeUtf8(std::string_view text, size_t pos, char32_t* code_point);

/// True when every byte of `text` belongs to a well-formed UTF-8 sequence (strict, as
/// above: Parquet readers such as pyarrow and JSON parsers reject the rest).
bool IsValidUtf8(std::string_view text);

/// The table form of a raw name: '%' becomes "%25" and every byte that is not part of a
/// well-formed UTF-8 sequence becomes "%XX" (upper-case hex); everything else, control
/// characters included, is kept. The result is valid UTF-8, the escape is injective and
/// UnescapeName inverts it; a valid name without '%' is unchanged. It is percent-encoding
/// restricted to those bytes, so Python's urllib.parse.unquote_to_bytes inverts it too.
std::string EscapeName(std::string_view raw);

/// The raw bytes of an EscapeName result: every "%XX" (hex, either case) becomes byte XX.
/// Fails on a '%' not followed by two hex digits (never produced by EscapeName).
Result<std::string> UnescapeName(std::string_view escaped);

/// `text` made valid UTF-8 for a message or a display: valid text is unchanged, each byte
/// that is not part of a well-formed sequence becomes "%XX". '%' itself is kept, so this
/// is not injective: use it for messages and displays, never for table values (EscapeName).
std::string ValidUtf8(std::string_view text);

/// Bidirectional formatting characters: embeddings and overrides U+202A-U+202E, isolates
/// U+2066-U+2069, and the marks U+200E, U+200F, U+061C. They reorder the text around them.
bool IsBidiControl(char32_t code_point);

/// Code points that act on a terminal instead of showing: C0 (tab and newline included),
/// DEL, C1, the line and paragraph separators U+2028/U+2029, and the bidi controls.
bool IsTerminalControl(char32_t code_point);

/// `text` as one visible line with no effect on a terminal: each byte of a terminal
/// control code point (IsTerminalControl) and each byte of an invalid sequence becomes
/// "%XX"; the rest, '%' included, is unchanged. For a name, pass its EscapeName form: the
/// result is then still injective and decodes with UnescapeName.
std::string ForTerminal(std::string_view text);

/// How DumpJson writes characters outside ASCII.
enum class JsonChars {
  kUtf8,   ///< as UTF-8 (files: summary.json, metrics.json, model files)
  kAscii,  ///< as \uXXXX escapes (stdout: no byte can reach the terminal as a control)
};

/// `value` serialized (indent < 0: compact). Never throws on text: a string or key that is
/// not valid UTF-8 (which nlohmann::json's dump rejects with a type_error) is written as
/// ValidUtf8 of it. Every JSON document orchard writes goes through here.
std::string DumpJson(const nlohmann::json& value, int indent = -1,
                     JsonChars chars = JsonChars::kUtf8);

}  // namespace orchard::util
