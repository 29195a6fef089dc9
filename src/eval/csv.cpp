#include "eval/csv.h"

namespace clinbench::csv {

Parsed parse(std::string_view text) {
  Parsed out;
  const std::size_t n = text.size();
  std::size_t i = 0;
  std::size_t line = 1;

  Record record;
  std::string field;
  bool at_field_start = true;  // nothing of the current field read yet
  bool blank = true;           // nothing of the current record read yet (not even a comma)

  auto end_record = [&]() {
    record.fields.push_back(std::move(field));
    field.clear();
    if (!blank) out.records.push_back(std::move(record));
    record = Record{};
    at_field_start = true;
    blank = true;
  };

  while (i < n) {
    if (blank) record.line = line;
    const char c = text[i];
    if (c == '"' && at_field_start) {
      // Quoted field: runs to the next quote that is not doubled.
      const std::size_t open_line = line;
      ++i;
      bool closed = false;
      while (i < n) {
        if (text[i] == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        if (text[i] == '\n') ++line;
        field.push_back(text[i++]);
      }
      if (!closed) {
        out.unterminated_at = open_line;
        return out;
      }
      at_field_start = false;
      blank = false;
      continue;
    }
    if (c == ',') {
      record.fields.push_back(std::move(field));
      field.clear();
      at_field_start = true;
      blank = false;
      ++i;
      continue;
    }
    if (c == '\n' || (c == '\r' && i + 1 < n && text[i + 1] == '\n')) {
      i += c == '\r' ? 2 : 1;
      end_record();
      ++line;
      continue;
    }
    field.push_back(c);
    at_field_start = false;
    blank = false;
    ++i;
  }
  if (!blank) end_record();
  return out;
}

}  // namespace clinbench::csv
