#include "clinbench/units.h"

#include <gtest/gtest.h>

namespace clinbench {
namespace {

TEST(Units, ParsesSizesWithUnits) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("1K"), 1024u);
  EXPECT_EQ(*parse_size("12GB"), 12ull << 30);
  EXPECT_EQ(*parse_size("12GiB"), 12ull << 30);
  EXPECT_EQ(*parse_size("512mib"), 512ull << 20);
  EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
  EXPECT_EQ(*parse_size(" 2 TiB "), 2ull << 40);
}

TEST(Units, RejectsBadSizesNamingTheText) {
  for (const char* bad :
       {"12XB", "", "GB", "-5G", "1.2.3G", "12 G B", "0.5", "1e3G", "99999999999T"}) {
    auto r = parse_size(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << r.error().message;
  }
}

TEST(Units, FormatsBytes) {
  EXPECT_EQ(format_bytes(932), "932 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(3ull << 30), "3.00 GiB");
}

}  // namespace
}  // namespace clinbench
