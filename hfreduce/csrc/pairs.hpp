// NVLink pairs (paper §IV-C): GPUs joined by an NVLink Bridge first sum their buffers over the bridge, each half of
// the pair sum goes to the host from its own GPU, and after the CPU path each GPU brings back its half and fetches
// the other from its partner. These are the pure decisions: who is whose partner, and where a pair splits.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace hfreduce {

// For each of a node's ranks, by the GPU its buffer is on (-1: host memory), the local rank it pairs with, or -1.
// Two ranks pair when their GPUs form one of `pairs` and no other rank of the node uses either GPU.
std::vector<int> pair_partners(const std::vector<std::pair<int, int>>& pairs, const std::vector<int>& devices);

// The element where a pair's buffer of `count` elements splits: the lower local rank takes [0, split), its partner
// [split, count). Rounded down to 64 elements, so both halves start 128-byte aligned for the GPU's vector loads.
std::size_t pair_split(std::size_t count);

// The position of PCI bus id `id` in `ids`, compared by value ("0000:01:00.0" is "00000000:01:00.0"), or -1.
int pci_index(const std::vector<std::string>& ids, const std::string& id);

}  // namespace hfreduce
