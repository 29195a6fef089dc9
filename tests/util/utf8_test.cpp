// The one UTF-8 repair: valid text unchanged, each byte that starts no well-formed sequence
// replaced by U+FFFD, and the result always something nlohmann::json can dump.
#include "util/utf8.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace clinbench {
namespace {

const std::string R = "\xEF\xBF\xBD";  // U+FFFD

TEST(Utf8, ValidTextIsUnchanged) {
  for (const std::string& s : {
           std::string(), std::string("plain ASCII, with \t tabs and \n newlines"),
           std::string("\0embedded NUL", 13),
           std::string("Norepinephrine 0.05 µg/kg/min titrated to MAP ≥ 65 mmHg"),
           std::string("Dr. Müller reviewed Zoë Ångström's chart in São Paulo"),
           std::string("β₂-agonist; 𝛼 (U+1D6FC); 🩺"),
           // The edges of each length and of the ranges next to the surrogates.
           std::string("\x7F"), std::string("\xC2\x80"), std::string("\xDF\xBF"),
           std::string("\xE0\xA0\x80"),
           std::string("\xED\x9F\xBF"),  // U+D7FF
           std::string("\xEE\x80\x80"),  // U+E000
           std::string("\xEF\xBF\xBF"),  // U+FFFF
           std::string("\xF0\x90\x80\x80"),
           std::string("\xF4\x8F\xBF\xBF"),  // U+10FFFF
       }) {
    EXPECT_EQ(valid_utf8(s), s);
  }
}

TEST(Utf8, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(valid_utf8("\x80"), R);  // a lone continuation byte
  EXPECT_EQ(valid_utf8("a\xBF"
                       "b"),
            "a" + R + "b");
  EXPECT_EQ(valid_utf8("\xFF\xFE"), R + R);                          // bytes no UTF-8 uses
  EXPECT_EQ(valid_utf8("\xF8\x88\x80\x80\x80"), R + R + R + R + R);  // the old 5-byte form
}

TEST(Utf8, TruncatedSequencesAreReplacedAndWhatFollowsIsKept) {
  EXPECT_EQ(valid_utf8("ab\xE2\x80"), "ab" + R + R);  // "…" cut by a token budget
  EXPECT_EQ(valid_utf8("\xF0\x9F\xA9"), R + R + R);
  EXPECT_EQ(valid_utf8("\xC3"), R);
  EXPECT_EQ(valid_utf8("\xC3("), R + "(");
  EXPECT_EQ(valid_utf8("\xE2\x82"
                       "A"),
            R + R + "A");
  EXPECT_EQ(valid_utf8("\xE2\xC3\xA9"), R + "\xC3\xA9");  // a valid "é" right after a broken lead
}

TEST(Utf8, OverlongFormsAreReplaced) {
  EXPECT_EQ(valid_utf8("\xC0\xAF"), R + R);  // '/' in two bytes
  EXPECT_EQ(valid_utf8("\xC1\xBF"), R + R);
  EXPECT_EQ(valid_utf8("\xE0\x80\xAF"), R + R + R);
  EXPECT_EQ(valid_utf8("\xE0\x9F\xBF"), R + R + R);
  EXPECT_EQ(valid_utf8("\xF0\x80\x80\xAF"), R + R + R + R);
  EXPECT_EQ(valid_utf8("\xF0\x8F\xBF\xBF"), R + R + R + R);
}

TEST(Utf8, SurrogatesAndCodePointsAboveTheRangeAreReplaced) {
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), R + R + R);          // U+D800
  EXPECT_EQ(valid_utf8("\xED\xBF\xBF"), R + R + R);          // U+DFFF
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // U+110000
  EXPECT_EQ(valid_utf8("\xF5\x80\x80\x80"), R + R + R + R);
}

TEST(Utf8, AppendsToWhatIsThere) {
  std::string out = "id,";
  append_valid_utf8(out, "x\xFFy");
  EXPECT_EQ(out, "id,x" + R + "y");
}

TEST(Utf8, AnyBytesBecomeTextNlohmannDumpsAsIs) {
  std::mt19937 rng(14);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 24);
  for (int i = 0; i < 5000; ++i) {
    std::string s(static_cast<size_t>(length(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    const std::string fixed = valid_utf8(s);
    EXPECT_EQ(valid_utf8(fixed), fixed);
    std::string dumped;
    // Strict: a byte this let through would throw here.
    ASSERT_NO_THROW(dumped = nlohmann::json(fixed).dump(-1, ' ', false)) << i;
    EXPECT_EQ(nlohmann::json::parse(dumped).get<std::string>(), fixed);
  }
}

}  // namespace
}  // namespace clinbench
