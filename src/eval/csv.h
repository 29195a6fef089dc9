// RFC 4180 CSV reading: comma-separated fields, double-quoted fields may hold commas, newlines
// and doubled quotes (""). Lenient where Python's csv module is (a quote inside an unquoted
// field, or text after a closing quote, is kept literally), so files Python wrote read back
// identically. Both LF and CRLF line ends are accepted.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clinbench::csv {

struct Record {
  std::size_t line = 0;  // 1-based line the record starts on
  std::vector<std::string> fields;
};

struct Parsed {
  std::vector<Record> records;  // blank lines produce no record
  // Line where a quoted field opened that the end of the text never closed; that last record is
  // not in `records`.
  std::optional<std::size_t> unterminated_at;
};

Parsed parse(std::string_view text);

}  // namespace clinbench::csv
