#include "store/sqlite_db.h"

#include <fmt/format.h>

namespace clinbench::store {

ErrorCode error_code_for(int sqlite_rc) {
  switch (sqlite_rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
      return ErrorCode::kCorrupt;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorCode::kIo;
    case SQLITE_NOMEM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kResource;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return ErrorCode::kInvalidArgument;
    default:
      return ErrorCode::kInternal;
  }
}

Error sqlite_error(sqlite3* db, int rc, const std::string& file, std::string_view doing) {
  // sqlite3_errmsg describes the most recent failure on the connection, which is this one; with
  // no connection fall back to the generic text of the code. (sqlite3_system_errno is not added:
  // the unix VFS reads errno when asked, after later system calls may have changed it.)
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error{error_code_for(rc),
               fmt::format("{}: {}: {} ({})", file, doing, message, sqlite3_errstr(rc))};
}

namespace {

std::string statement_summary(sqlite3_stmt* stmt) {
  // The statement's first words say what was being done; its column list says nothing more.
  std::string sql = stmt != nullptr ? sqlite3_sql(stmt) : "";
  if (const auto paren = sql.find(" ("); paren != std::string::npos) sql.resize(paren);
  if (sql.size() > 60) sql = sql.substr(0, 57) + "...";
  return sql;
}

}  // namespace

Result<SqliteHandle> open_database(const std::string& file, bool read_only) {
  sqlite3* raw = nullptr;
  const int mode = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &raw,
                                 mode | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nullptr);
  SqliteHandle db(raw);  // sqlite3_open_v2 allocates a handle even on failure
  if (rc != SQLITE_OK) {
    return std::unexpected(sqlite_error(db.get(), rc, file, "cannot open the database"));
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Result<void> exec(sqlite3* db, const std::string& file, const char* sql) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return std::unexpected(sqlite_error(db, rc, file, fmt::format("executing \"{}\"", sql)));
  }
  return {};
}

Statement::Statement(sqlite3* db, const std::string& file, sqlite3_stmt* stmt)
    : db_(db), file_(file), stmt_(stmt) {}

Result<Statement> Statement::prepare(sqlite3* db, const std::string& file, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return std::unexpected(sqlite_error(db, rc, file, fmt::format("preparing \"{}\"", sql)));
  }
  return Statement(db, file, raw);
}

void Statement::note_bind(int rc, int index) {
  if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) {
    bind_rc_ = rc;
    bind_index_ = index;
  }
}

Statement& Statement::bind_text(int index, std::string_view text) {
  note_bind(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                                SQLITE_UTF8),
            index);
  return *this;
}

Statement& Statement::bind_int(int index, int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
  return *this;
}

Statement& Statement::bind_double(int index, double value) {
  note_bind(sqlite3_bind_double(stmt_.get(), index, value), index);
  return *this;
}

Statement& Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_.get(), index), index);
  return *this;
}

Statement& Statement::bind_optional_text(int index, const std::optional<std::string>& text) {
  return text ? bind_text(index, *text) : bind_null(index);
}

Statement& Statement::bind_optional_double(int index, const std::optional<double>& value) {
  return value ? bind_double(index, *value) : bind_null(index);
}

Result<bool> Statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    return std::unexpected(
        Error{error_code_for(bind_rc_),
              fmt::format("{}: binding parameter {} of \"{}\": {}", file_, bind_index_,
                          sqlite3_sql(stmt_.get()), sqlite3_errstr(bind_rc_))});
  }
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error error =
      sqlite_error(db_, rc, file_, fmt::format("running \"{}\"", statement_summary(stmt_.get())));
  sqlite3_reset(stmt_.get());
  return std::unexpected(std::move(error));
}

Result<void> Statement::run() {
  for (;;) {
    auto row = step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return {};
  }
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

int64_t Statement::column_int(int column) const {
  return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::column_double(int column) const {
  return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  const int bytes = sqlite3_column_bytes(stmt_.get(), column);
  return text == nullptr ? std::string() : std::string(text, static_cast<size_t>(bytes));
}

std::optional<std::string> Statement::column_optional_text(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_text(column);
}

std::optional<double> Statement::column_optional_double(int column) const {
  if (is_null(column)) return std::nullopt;
  return column_double(column);
}

}  // namespace clinbench::store
