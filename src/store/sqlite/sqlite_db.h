// Thin RAII wrappers over the SQLite C API for the SQLite task store and the file result store's
// index of packed outputs (results/pack_index.h): a connection with a cache of prepared
// statements, and a statement with typed bind/column helpers. SQLite result codes become Status
// here and nowhere else.
//
// A connection (and its statements) is used by one thread at a time; the store arranges that.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace stipple::sqlite {

// kUnavailable for busy/locked/I/O errors (retry may help), kAlreadyExists for constraint
// violations, kDataLoss for corruption, kInternal otherwise.
Status SqliteError(sqlite3* db, int rc, std::string_view what);

// Virtual-machine steps run by this process's statements (SQLITE_STMTSTATUS_VM_STEP, added up
// as each cached statement is reset): how much work a call did, independent of the machine's
// speed. The test that shows costs do not grow with the backlog reads it.
int64_t VmStepsRun();

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view value);  // copied by SQLite
  Statement& Bind(int index, std::optional<int64_t> value);
  Statement& BindBlob(int index, std::string_view bytes);  // copied by SQLite
  Statement& BindNull(int index);

  // True: a row is available; false: done. Errors carry the SQL's first words.
  Result<bool> Step();
  // Steps to completion, for statements without rows.
  Status Run();
  void Reset();

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::optional<int64_t> OptInt(int column) const;
  std::string Text(int column) const;
  // A BLOB column's bytes, valid until the next Step, Reset or conversion of this column.
  std::string_view Blob(int column) const;
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// A prepared statement borrowed from a Connection's cache; reset when it goes out of scope, so a
// half-read SELECT never keeps a read transaction (and the WAL) pinned.
class ScopedStatement {
 public:
  explicit ScopedStatement(Statement* s) : s_(s) {}
  ScopedStatement(ScopedStatement&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  ScopedStatement& operator=(ScopedStatement&&) = delete;
  ~ScopedStatement() {
    if (s_) s_->Reset();
  }
  Statement* operator->() const { return s_; }
  Statement& operator*() const { return *s_; }

 private:
  Statement* s_;
};

class Connection {
 public:
  // Opens (creating if needed) the database at `path` in multi-thread mode, through the VFS
  // registered as `vfs` (empty: SQLite's default).
  static Result<std::unique_ptr<Connection>> Open(const std::string& path,
                                                  const std::string& vfs = "");
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status Exec(const char* sql);
  // Runs a single statement without rows through the statement cache (`sql` as for Prepare).
  Status Run(const char* sql);
  // A cached prepared statement for `sql`, reset and unbound. `sql` must be a string with static
  // storage duration: the cache is keyed by its address.
  Result<ScopedStatement> Prepare(const char* sql);
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* raw() { return db_; }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<const char*, std::unique_ptr<Statement>> cache_;
};

}  // namespace stipple::sqlite
