// Well-formedness check of generated SVG / (polyglot) HTML with expat, for the report tests.
#pragma once

#include <expat.h>

#include <string>

namespace orchard::testing {

/// Empty when `text` is well-formed XML; else expat's message with the line and column.
inline std::string XmlError(const std::string& text) {
  XML_Parser parser = XML_ParserCreate("UTF-8");
  std::string error;
  if (XML_Parse(parser, text.data(), static_cast<int>(text.size()), /*isFinal=*/1) ==
      XML_STATUS_ERROR) {
    error = std::string(XML_ErrorString(XML_GetErrorCode(parser))) + " at line " +
            std::to_string(XML_GetCurrentLineNumber(parser)) + ", column " +
            std::to_string(XML_GetCurrentColumnNumber(parser));
  }
  XML_ParserFree(parser);
  return error;
}

/// Number of non-overlapping occurrences of `needle`.
inline size_t CountOf(const std::string& haystack, const std::string& needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

}  // namespace orchard::testing
