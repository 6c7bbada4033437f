// Errors of HFReduce: one exception type, raised on every rank of a failed operation with a message that names
// the rank or node at fault. The Python binding turns it into hfreduce.HFReduceError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace hfreduce {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error another node found and sent here: its text already names where it happened.
class RemoteError : public Error {
 public:
  using Error::Error;
};

template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream s;
  (s << ... << std::forward<Parts>(parts));
  return s.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace hfreduce
