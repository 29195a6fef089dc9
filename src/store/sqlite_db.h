// Thin RAII layer over the SQLite C API for the run store. Errors name the database file and
// what was being done, plus SQLite's own message and extended result code.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "clinbench/error.h"

namespace clinbench::store {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

// Maps a SQLite result code to the clinbench error kind.
ErrorCode error_code_for(int sqlite_rc);

// "<file>: <doing>: <sqlite message> (<code name>)".
Error sqlite_error(sqlite3* db, int rc, const std::string& file, std::string_view doing);

// Opens (creating when missing) a database for reading and writing with extended result codes.
// Writes nothing to the file. read_only: an existing database, opened for reading.
Result<SqliteHandle> open_database(const std::string& file, bool read_only = false);

// Runs one or more statements that return no rows of interest.
Result<void> exec(sqlite3* db, const std::string& file, const char* sql);

// A prepared statement. Bind errors are kept and reported by the next step().
class Statement {
 public:
  static Result<Statement> prepare(sqlite3* db, const std::string& file, std::string_view sql);

  Statement(Statement&&) noexcept = default;
  Statement& operator=(Statement&&) noexcept = default;

  // Indices are 1-based, as in SQLite.
  Statement& bind_text(int index, std::string_view text);
  Statement& bind_int(int index, int64_t value);
  Statement& bind_double(int index, double value);
  Statement& bind_null(int index);
  Statement& bind_optional_text(int index, const std::optional<std::string>& text);
  Statement& bind_optional_double(int index, const std::optional<double>& value);

  // true: a row is available; false: done.
  Result<bool> step();
  // Steps until done; an error if any step fails.
  Result<void> run();

  bool is_null(int column) const;
  int64_t column_int(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;  // embedded NULs and any bytes preserved
  std::optional<std::string> column_optional_text(int column) const;
  std::optional<double> column_optional_double(int column) const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };
  Statement(sqlite3* db, const std::string& file, sqlite3_stmt* stmt);
  void note_bind(int rc, int index);

  sqlite3* db_ = nullptr;
  std::string file_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bind_rc_ = SQLITE_OK;
  int bind_index_ = 0;
};

}  // namespace clinbench::store
