// Errors as values. Every fallible library call returns Result<T>; an Error names what was wrong
// and where (file, line, tensor, flag). Nothing throws across a module boundary.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace clinbench {

enum class ErrorCode {
  kInvalidArgument,  // a flag, option or config value is wrong
  kNotFound,         // a file or key is missing
  kIo,               // reading or writing failed
  kCorrupt,          // a file exists but its content is malformed
  kUnsupported,      // well-formed input that clinbench cannot handle
  kResource,         // out of memory, budget exceeded
  kInternal,         // a bug or a failure of a dependency
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  // "what: message" — prefixes context (a file name, a stage) to the message.
  Error with_context(const std::string& what) const& { return {code, what + ": " + message}; }
};

// A value or the Error that kept it from being made. [[nodiscard]]: an ignored Result is a
// dropped error, which the compiler reports (-Werror makes it fail the build). Where failing
// really does not matter, say why and test it: `if (!r) { /* why */ }`, never `(void)`.
template <typename T>
class [[nodiscard]] Result : public std::expected<T, Error> {
 public:
  using std::expected<T, Error>::expected;
  Result(std::expected<T, Error> e) : std::expected<T, Error>(std::move(e)) {}  // NOLINT
};

inline std::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return std::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace clinbench
