#include "eval/csv.h"

namespace clinbench::csv {

Parsed parse(std::string_view text) {
  Parsed out;
  std::size_t line = 1;
  std::size_t i = 0;
  const std::size_t n = text.size();

  while (i < n) {
    Record record;
    record.line = line;
    std::string field;
    bool field_started = false;  // false on a line with nothing yet: a blank line is no record
    bool done = false;
    while (!done) {
      if (i >= n) {
        record.fields.push_back(std::move(field));
        break;
      }
      char c = text[i];
      if (c == '"' && field.empty() && !field_started) {
        // Quoted field: runs to the next quote not doubled.
        const std::size_t open_line = line;
        ++i;
        bool closed = false;
        while (i < n) {
          char q = text[i];
          if (q == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              field.push_back('"');
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (q == '\n') ++line;
          field.push_back(q);
          ++i;
        }
        if (!closed) {
          out.unterminated_at = open_line;
          return out;
        }
        field_started = true;
        continue;
      }
      if (c == ',') {
        record.fields.push_back(std::move(field));
        field.clear();
        field_started = true;  // the next field exists even if empty
        ++i;
        continue;
      }
      if (c == '\r' && i + 1 < n && text[i + 1] == '\n') {
        ++i;
        c = '\n';
      }
      if (c == '\n') {
        ++i;
        ++line;
        if (!field_started && field.empty() && record.fields.empty()) {
          record.line = line;  // blank line: keep looking for the record's first line
          continue;
        }
        record.fields.push_back(std::move(field));
        done = true;
        continue;
      }
      field.push_back(c);
      field_started = true;
      ++i;
    }
    if (!record.fields.empty() &&
        !(record.fields.size() == 1 && record.fields[0].empty() && !field_started)) {
      out.records.push_back(std::move(record));
    }
  }
  return out;
}

}  // namespace clinbench::csv
