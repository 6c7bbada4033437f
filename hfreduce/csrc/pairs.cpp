#include "pairs.hpp"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace hfreduce {

std::vector<int> pair_partners(const std::vector<std::pair<int, int>>& pairs, const std::vector<int>& devices) {
  const int n = static_cast<int>(devices.size());
  std::vector<int> partner(static_cast<std::size_t>(n), -1);
  auto only_user = [&](int device) {  // the one rank on `device`, or -1 if none or several
    int found = -1;
    for (int i = 0; i < n; ++i)
      if (devices[static_cast<std::size_t>(i)] == device) {
        if (found >= 0) return -1;
        found = i;
      }
    return found;
  };
  for (const auto& [a, b] : pairs) {
    if (a < 0 || b < 0 || a == b) continue;
    const int i = only_user(a), j = only_user(b);
    if (i < 0 || j < 0 || partner[static_cast<std::size_t>(i)] >= 0 || partner[static_cast<std::size_t>(j)] >= 0)
      continue;
    partner[static_cast<std::size_t>(i)] = j;
    partner[static_cast<std::size_t>(j)] = i;
  }
  return partner;
}

std::size_t pair_split(std::size_t count) { return count / 2 / 64 * 64; }

namespace {

// domain:bus:device.function, all hexadecimal; (-1, ...) if it is not one
std::tuple<long, long, long, long> parse_pci(const std::string& id) {
  unsigned long domain = 0, bus = 0, dev = 0, fn = 0;
  char end = 0;
  if (std::sscanf(id.c_str(), "%lx:%lx:%lx.%lx%c", &domain, &bus, &dev, &fn, &end) != 4) return {-1, 0, 0, 0};
  return {static_cast<long>(domain), static_cast<long>(bus), static_cast<long>(dev), static_cast<long>(fn)};
}

}  // namespace

int pci_index(const std::vector<std::string>& ids, const std::string& id) {
  const auto want = parse_pci(id);
  if (std::get<0>(want) < 0) return -1;
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (parse_pci(ids[i]) == want) return static_cast<int>(i);
  return -1;
}

}  // namespace hfreduce
