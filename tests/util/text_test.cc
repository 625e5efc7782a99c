#include "orchard/util/text.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"

namespace orchard::util {
namespace {

using namespace std::string_literals;

// Random byte strings biased towards the hard cases: UTF-8 lead and continuation bytes,
// '%', hex digits (so that literal "%FF" text appears), controls and bidi sequences.
std::string RandomBytes(std::mt19937& rng) {
  static const std::vector<std::string> kPieces = {"%",
                                                   "%2",
                                                   "%25",
                                                   "%FF",
                                                   "%ff",
                                                   "F",
                                                   "a",
                                                   "/",
                                                   "\xFF",
                                                   "\xC0\xAF",
                                                   "\xC3\xA9",
                                                   "\xED\xA0\x80",
                                                   "\xED\x9F\xBF",
                                                   "\xF4\x8F\xBF\xBF",
                                                   "\xF4\x90\x80\x80",
                                                   "\xE2\x80\xAE",
                                                   "\x1B[31m",
                                                   "\r\n",
                                                   "\xC2\x9B",
                                                   "\xE2\x80",
                                                   "\xF0\x9F\x8D\x8E",
                                                   "\x7F",
                                                   "\t",
                                                   "\xE2\x81\xA6"};
  std::uniform_int_distribution<int> length_of(0, 12);
  std::uniform_int_distribution<int> coin(0, 1);
  std::uniform_int_distribution<size_t> piece_of(0, kPieces.size() - 1);
  std::uniform_int_distribution<int> byte_of(0, 255);
  std::string out;
  const int pieces = length_of(rng);
  for (int idx = 0; idx < pieces; ++idx) {
    if (coin(rng)) {
      out += kPieces[piece_of(rng)];
    } else {
      out += static_cast<char>(byte_of(rng));
    }
  }
  return out;
}

TEST(Utf8Test, StrictValidation) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xF0\x9F\x8D\x8E \xEF\xBF\xBF"));
  EXPECT_TRUE(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, the last before the surrogates
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
  EXPECT_TRUE(IsValidUtf8("nul\0inside"s));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xED\xBF\xBF"));      // surrogate U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));      // overlong '/', 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong '/', 4 bytes
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xF5\x80\x80\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));      // truncated
  EXPECT_FALSE(IsValidUtf8("\xE2\x80"));  // truncated
  EXPECT_FALSE(IsValidUtf8("x\x80"));     // stray continuation byte
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

TEST(EscapeNameTest, SpecificCases) {
  EXPECT_EQ(EscapeName("Apple Braeburn"), "Apple Braeburn");
  EXPECT_EQ(EscapeName("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(EscapeName("100%"), "100%25");
  EXPECT_EQ(EscapeName("col\xFFx"), "col%FFx");
  EXPECT_EQ(EscapeName("col%FFx"), "col%25FFx");  // the folder literally named so: distinct
  EXPECT_EQ(EscapeName("\xED\xA0\x80"), "%ED%A0%80");
  EXPECT_EQ(EscapeName("\xC0\xAF"), "%C0%AF");
  EXPECT_EQ(EscapeName("\xF4\x90\x80\x80"), "%F4%90%80%80");
  EXPECT_EQ(EscapeName("\xE2\x80"), "%E2%80");
  // Mixed: the valid sequence between invalid bytes is kept.
  EXPECT_EQ(EscapeName("\xFF\xC3\xA9%\xC3"), "%FF\xC3\xA9%25%C3");
  // Control characters are valid UTF-8 and legal in file names: the table keeps them.
  EXPECT_EQ(EscapeName("a\x1B[31m\nb\xE2\x80\xAE"), "a\x1B[31m\nb\xE2\x80\xAE");
}

TEST(EscapeNameTest, UnescapeInvertsAndRejectsMalformedEscapes) {
  ASSERT_OK_AND_ASSIGN(auto raw, UnescapeName("col%25FFx%FF"));
  EXPECT_EQ(raw, "col%FFx\xFF");
  ASSERT_OK_AND_ASSIGN(raw, UnescapeName("%e9"));
  EXPECT_EQ(raw, "\xE9");
  EXPECT_FALSE(UnescapeName("100%").ok());
  EXPECT_FALSE(UnescapeName("%2").ok());
  EXPECT_FALSE(UnescapeName("%G0").ok());
}

// The property the tables rely on, over many random byte strings (seeded: the same
// strings on every run): the escape is valid UTF-8, round-trips, and is injective.
TEST(EscapeNameTest, PropertyValidInjectiveAndReversible) {
  std::mt19937 rng(20240521);
  std::set<std::string> raws;
  std::set<std::string> escapes;
  for (int sample = 0; sample < 200000; ++sample) {
    const std::string raw = RandomBytes(rng);
    const std::string escaped = EscapeName(raw);
    ASSERT_TRUE(IsValidUtf8(escaped)) << "escape of " << ValidUtf8(raw);
    ASSERT_OK_AND_ASSIGN(auto back, UnescapeName(escaped));
    ASSERT_EQ(back, raw);
    if (IsValidUtf8(raw) && raw.find('%') == std::string::npos) {
      ASSERT_EQ(escaped, raw);
    }
    // Injective: no two distinct raws share an escape.
    if (raws.insert(raw).second) {
      ASSERT_TRUE(escapes.insert(escaped).second) << escaped;
    }
    // The terminal form of an escaped name stays reversible and has no controls.
    const std::string shown = ForTerminal(escaped);
    ASSERT_OK_AND_ASSIGN(auto from_terminal, UnescapeName(shown));
    ASSERT_EQ(from_terminal, raw);
    for (const char ch : shown) {
      const auto byte = static_cast<unsigned char>(ch);
      ASSERT_FALSE(byte < 0x20 || byte == 0x7F) << shown;
    }
  }
  EXPECT_GT(raws.size(), 100000u);
}

TEST(ValidUtf8Test, EscapesOnlyInvalidBytes) {
  EXPECT_EQ(ValidUtf8("100% caf\xC3\xA9"), "100% caf\xC3\xA9");
  EXPECT_EQ(ValidUtf8("a\xFF\xED\xA0\x80z"), "a%FF%ED%A0%80z");
  std::mt19937 rng(7);
  for (int sample = 0; sample < 20000; ++sample) {
    const std::string raw = RandomBytes(rng);
    ASSERT_TRUE(IsValidUtf8(ValidUtf8(raw)));
    if (IsValidUtf8(raw)) {
      ASSERT_EQ(ValidUtf8(raw), raw);
    }
  }
}

TEST(ForTerminalTest, EscapesControlsBidiAndInvalidBytes) {
  EXPECT_EQ(ForTerminal("photo 1.jpg (100%)"), "photo 1.jpg (100%)");
  EXPECT_EQ(ForTerminal("caf\xC3\xA9 \xF0\x9F\x8D\x8E"), "caf\xC3\xA9 \xF0\x9F\x8D\x8E");
  EXPECT_EQ(ForTerminal("\x1B]0;title\x07"), "%1B]0;title%07");
  EXPECT_EQ(ForTerminal("ok\r\nimages     9 ok"), "ok%0D%0Aimages     9 ok");
  EXPECT_EQ(ForTerminal("a\tb"), "a%09b");
  EXPECT_EQ(ForTerminal("x\x7F\xC2\x9By"), "x%7F%C2%9By");  // DEL, C1 CSI
  EXPECT_EQ(ForTerminal("gpj.\xE2\x80\xAE"
                        "exe"),
            "gpj.%E2%80%AEexe");
  EXPECT_EQ(ForTerminal("\xE2\x81\xA6i\xE2\x81\xA9"), "%E2%81%A6i%E2%81%A9");
  EXPECT_EQ(ForTerminal("\xE2\x80\xA8"), "%E2%80%A8");  // LINE SEPARATOR
  EXPECT_EQ(ForTerminal("\xFF\xED\xA0\x80"), "%FF%ED%A0%80");
  EXPECT_EQ(ForTerminal("nul\0"s), "nul%00");
}

// Every code point: ForTerminal's output holds no terminal control and is valid UTF-8.
TEST(ForTerminalTest, RemovesEveryControlAndBidiCodePoint) {
  int controls = 0;
  for (char32_t code = 0; code <= 0x10FFFF; ++code) {
    if (code >= 0xD800 && code <= 0xDFFF) continue;
    std::string encoded;
    if (code < 0x80) {
      encoded += static_cast<char>(code);
    } else if (code < 0x800) {
      encoded += static_cast<char>(0xC0 | (code >> 6));
      encoded += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      encoded += static_cast<char>(0xE0 | (code >> 12));
      encoded += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      encoded += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      encoded += static_cast<char>(0xF0 | (code >> 18));
      encoded += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      encoded += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      encoded += static_cast<char>(0x80 | (code & 0x3F));
    }
    char32_t decoded = 0;
    ASSERT_EQ(DecodeUtf8(encoded, 0, &decoded), encoded.size());
    ASSERT_EQ(decoded, code);
    const std::string shown = ForTerminal("[" + encoded + "]");
    if (IsTerminalControl(code)) {
      ++controls;
      ASSERT_EQ(shown.find(encoded), std::string::npos) << static_cast<uint32_t>(code);
    } else {
      ASSERT_EQ(shown, "[" + encoded + "]");
    }
  }
  // C0 (32) + DEL and C1 (33) + U+2028/9 (2) + bidi (5 + 4 + 3).
  EXPECT_EQ(controls, 32 + 33 + 2 + 12);
  for (char32_t code : {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069,
                        0x200E, 0x200F, 0x061C}) {
    EXPECT_TRUE(IsBidiControl(code)) << static_cast<uint32_t>(code);
  }
}

TEST(DumpJsonTest, NeverThrowsOnInvalidText) {
  nlohmann::json value = {
      {"path", "col\xFFx"}, {"nested", {{"labels", {"ok", "\xED\xA0\x80"}}}}, {"key\xC0\xAF", 1}};
  EXPECT_THROW((void)value.dump(), nlohmann::json::type_error);  // what DumpJson guards
  const std::string text = DumpJson(value, 2);
  EXPECT_TRUE(IsValidUtf8(text));
  const auto parsed = nlohmann::json::parse(text);
  EXPECT_EQ(parsed.at("path"), "col%FFx");
  EXPECT_EQ(parsed.at("nested").at("labels").at(1), "%ED%A0%80");
  EXPECT_EQ(parsed.at("key%C0%AF"), 1);
}

TEST(DumpJsonTest, ValidTextIsWrittenAsIsOrAsAscii) {
  const nlohmann::json value = {{"label", "caf\xC3\xA9\x1B\xE2\x80\xAE"}};
  EXPECT_EQ(DumpJson(value), value.dump());
  const std::string ascii = DumpJson(value, -1, JsonChars::kAscii);
  for (const char ch : ascii) {
    const auto byte = static_cast<unsigned char>(ch);
    EXPECT_TRUE(byte >= 0x20 && byte < 0x7F) << ascii;
  }
  EXPECT_EQ(nlohmann::json::parse(ascii), value);
}

}  // namespace
}  // namespace orchard::util
