#include "orchard/util/text.h"

#include <nlohmann/json.hpp>

namespace orchard::util {
namespace {

constexpr char kHexDigits[] = "0123456789ABCDEF";

void AppendPercentByte(std::string* out, unsigned char byte) {
  *out += '%';
  *out += kHexDigits[byte >> 4];
  *out += kHexDigits[byte & 0xF];
}

void AppendPercentBytes(std::string* out, std::string_view bytes) {
  for (const char ch : bytes) AppendPercentByte(out, static_cast<unsigned char>(ch));
}

int HexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

// Every string and object key below `value` made valid UTF-8 (ValidUtf8), in place.
void MakeStringsValid(nlohmann::json* value) {
  if (value->is_string()) {
    auto& text = value->get_ref<std::string&>();
    if (!IsValidUtf8(text)) text = ValidUtf8(text);
  } else if (value->is_array()) {
    for (auto& element : *value) MakeStringsValid(&element);
  } else if (value->is_object()) {
    nlohmann::json fixed = nlohmann::json::object();
    for (auto& [key, element] : value->items()) {
      MakeStringsValid(&element);
      // Two invalid keys can become one; the later value wins, as with any repeated key.
      fixed[IsValidUtf8(key) ? key : ValidUtf8(key)] = std::move(element);
    }
    *value = std::move(fixed);
  }
}

}  // namespace

size_t DecodeUtf8(std::string_view text, size_t pos, char32_t* code_point) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) {
    *code_point = lead;
    return 1;
  }
  size_t length = 0;
  char32_t min_code = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {  // C0 and C1 would only start overlong forms
    length = 2;
    min_code = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    min_code = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {  // F5-FF would start code points > U+10FFFF
    length = 4;
    min_code = 0x10000;
  } else {
    return 0;
  }
  if (text.size() - pos < length) return 0;
  char32_t code = lead & (0x7F >> length);
  for (size_t idx = 1; idx < length; ++idx) {
    const auto next = static_cast<unsigned char>(text[pos + idx]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3F);
  }
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  *code_point = code;
  return length;
}

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  char32_t code_point = 0;
  while (pos < text.size()) {
    const size_t length = DecodeUtf8(text, pos, &code_point);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

namespace {

// Valid UTF-8 passes through; every other byte (and '%' itself when `escape_percent`)
// becomes %XX.
std::string PercentEscape(std::string_view text, bool escape_percent) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  char32_t code_point = 0;
  while (pos < text.size()) {
    const size_t length = DecodeUtf8(text, pos, &code_point);
    if (length == 0 || (escape_percent && code_point == '%')) {
      AppendPercentByte(&out, static_cast<unsigned char>(text[pos]));
      ++pos;
    } else {
      out.append(text.substr(pos, length));
      pos += length;
    }
  }
  return out;
}

}  // namespace

std::string EscapeName(std::string_view raw) { return PercentEscape(raw, /*escape_percent=*/true); }

Result<std::string> UnescapeName(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t pos = 0; pos < escaped.size(); ++pos) {
    if (escaped[pos] != '%') {
      out += escaped[pos];
      continue;
    }
    const int high = pos + 2 < escaped.size() ? HexValue(escaped[pos + 1]) : -1;
    const int low = high >= 0 ? HexValue(escaped[pos + 2]) : -1;
    if (low < 0) {
      return Status::Invalid("'", ValidUtf8(escaped), "' is not an escaped name: '%' at byte ", pos,
                             " is not followed by two hex digits");
    }
    out += static_cast<char>(high * 16 + low);
    pos += 2;
  }
  return out;
}

std::string ValidUtf8(std::string_view text) {
  return PercentEscape(text, /*escape_percent=*/false);
}

bool IsBidiControl(char32_t code_point) {
  return (code_point >= 0x202A && code_point <= 0x202E) ||
         (code_point >= 0x2066 && code_point <= 0x2069) || code_point == 0x200E ||
         code_point == 0x200F || code_point == 0x061C;
}

bool IsTerminalControl(char32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7F && code_point <= 0x9F) || code_point == 0x2028 ||
         code_point == 0x2029 || IsBidiControl(code_point);
}

std::string ForTerminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  char32_t code_point = 0;
  while (pos < text.size()) {
    const size_t length = DecodeUtf8(text, pos, &code_point);
    if (length == 0) {
      AppendPercentByte(&out, static_cast<unsigned char>(text[pos]));
      ++pos;
      continue;
    }
    if (IsTerminalControl(code_point)) {
      AppendPercentBytes(&out, text.substr(pos, length));
    } else {
      out.append(text.substr(pos, length));
    }
    pos += length;
  }
  return out;
}

std::string DumpJson(const nlohmann::json& value, int indent, JsonChars chars) {
  const bool ascii = chars == JsonChars::kAscii;
  try {
    return value.dump(indent, ' ', ascii);
  } catch (const nlohmann::json::type_error&) {
    // Invalid UTF-8 somewhere (error 316): every name should have been escaped where it
    // entered, but a dump must not abort the process over one that was not.
  }
  nlohmann::json copy = value;
  MakeStringsValid(&copy);
  return copy.dump(indent, ' ', ascii, nlohmann::json::error_handler_t::replace);
}

}  // namespace orchard::util
