// Between nodes: each node leader's part of an allreduce over the double binary tree. The buffer is split in two
// halves, one per tree; each half moves in chunks, up the tree (children's chunks reduced into the node's own,
// then sent to the parent) and back down (the root's result, passed on to the children), every chunk in flight
// as soon as it is ready, so all levels of both trees work at once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "bootstrap.hpp"
#include "error.hpp"
#include "kernels.hpp"

namespace hfreduce {

struct OpArgs {
  char* data;
  std::size_t count;  // elements
  DType dtype;
  Simd simd;
  std::size_t chunk_bytes;
  std::uint64_t seq;
  double timeout_s;                  // without any progress for this long, the call fails
  std::function<void(bool)> tick;    // called each turn of the loop, true if data moved: keeps the node's other
                                     // ranks waiting patiently, and throws if one of them failed meanwhile
};

// Two nodes in different calls (number, element count or type): the error both transports raise.
[[noreturn]] inline void calls_differ(const std::string& me, const OpArgs& op, const std::string& peer,
                                      std::uint64_t seq, std::uint64_t count, std::uint32_t dtype) {
  fail("allreduce calls do not match between nodes: ", me, " is in call #", op.seq, " with ", op.count, " ",
       dtype_name(op.dtype), " elements, ", peer, " in call #", seq, " with ", count, " ",
       dtype_name(static_cast<DType>(dtype)), " elements");
}

// One tree's part of a call: tree 0 sums the first half of the buffer, tree 1 the rest, each cut into chunks; and
// how many chunks are summed so far (all of them at once on a leaf, which has nothing to add).
struct TreeCall {
  char* base = nullptr;
  std::size_t count = 0, chunk_elems = 0, esize = 4;
  int chunks = 0, reduced = 0;

  void begin(int tree, const OpArgs& op, std::size_t chunk_elements, bool leaf) {
    const std::size_t half = op.count / 2;
    esize = dtype_size(op.dtype);
    base = op.data + (tree == 0 ? 0 : half * esize);
    count = tree == 0 ? half : op.count - half;
    chunk_elems = chunk_elements;
    chunks = static_cast<int>((count + chunk_elems - 1) / chunk_elems);
    reduced = leaf ? chunks : 0;
  }
  std::size_t chunk_bytes(int c) const {
    return std::min(chunk_elems, count - static_cast<std::size_t>(c) * chunk_elems) * esize;
  }
  char* chunk_ptr(int c) const { return base + static_cast<std::size_t>(c) * chunk_elems * esize; }
};

class InterNode {  // a transport between node leaders
 public:
  virtual ~InterNode() = default;
  virtual const char* name() const = 0;
  virtual void allreduce(const OpArgs& op) = 0;
  // After an error: tell every peer what went wrong, then close, so the whole job ends with the same message.
  virtual void abort(const std::string& message) noexcept = 0;
};

}  // namespace hfreduce
