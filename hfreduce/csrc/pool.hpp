// A small fixed pool of threads for the intra-node reduce and copies: run(n, fn) calls fn(0..n-1) across the
// pool's threads and the caller, and returns when all are done. The first exception is rethrown in the caller.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hfreduce {

class Pool {
 public:
  explicit Pool(int threads);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void run(int n, const std::function<void(int)>& fn);
  // fn(begin, end) over [0, count) in size() contiguous parts, aligned to `align` elements
  void split(std::size_t count, std::size_t align, const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void work();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0, next_ = 0, running_ = 0;
  unsigned long long generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace hfreduce
