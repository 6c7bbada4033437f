#include "pool.hpp"

#include <algorithm>

namespace hfreduce {

Pool::Pool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

Pool::~Pool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void Pool::drain() {  // take tasks until none is left; called with mu_ unlocked
  for (;;) {
    int i;
    const std::function<void(int)>* fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_ >= n_) return;
      i = next_++;
      fn = fn_;
      ++running_;
    }
    try {
      (*fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!error_) error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
    }
    done_.notify_all();
  }
}

void Pool::work() {
  unsigned long long seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    drain();
  }
}

void Pool::run(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return next_ >= n_ && running_ == 0; });
    n_ = 0;
    fn_ = nullptr;
    error = error_;
  }
  if (error) std::rethrow_exception(error);
}

void Pool::split(std::size_t count, std::size_t align, const std::function<void(std::size_t, std::size_t)>& fn) {
  const std::size_t parts = static_cast<std::size_t>(size());
  std::size_t per = (count + parts - 1) / parts;
  per = (per + align - 1) / align * align;
  const int n = per == 0 ? 0 : static_cast<int>((count + per - 1) / per);
  run(n, [&](int i) {
    const std::size_t b = static_cast<std::size_t>(i) * per;
    fn(b, std::min(count, b + per));
  });
}

}  // namespace hfreduce
