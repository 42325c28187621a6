#pragma once
// Errors that cross layer boundaries. The CLI maps each kind to an exit code:
// BadInput -> 2 (the user's file, data or options are wrong), Internal -> 1 (our bug or the system's).
#include <stdexcept>
#include <string>

namespace nncompress {

enum class ErrorKind { BadInput, Internal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

// A problem with what the user gave us: a file, a model, data or an option.
inline Error bad_input(const std::string& message) { return Error(ErrorKind::BadInput, message); }
// A broken invariant inside nncompress.
inline Error internal_error(const std::string& message) { return Error(ErrorKind::Internal, message); }

}  // namespace nncompress
