// Time limits. Every wait in HFReduce has one, so a failure ends in an error instead of a hang.
#pragma once

#include <chrono>

namespace hfreduce {

using Clock = std::chrono::steady_clock;

struct Deadline {
  Clock::time_point at;
  static Deadline in(double seconds) {
    return {Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))};
  }
  bool passed() const { return Clock::now() >= at; }
  // milliseconds left, capped at `cap` (poll-sized waits), never negative
  int ms_left(int cap = 100) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
    if (ms < 0) return 0;
    return ms > cap ? cap : static_cast<int>(ms);
  }
};

}  // namespace hfreduce
