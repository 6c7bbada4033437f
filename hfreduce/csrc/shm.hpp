// The shared memory of one node's ranks: a header (barrier, abort flag and message, each rank's pid and the call
// it is making) and, after it, one input slot per local rank and the result buffer. The leader creates it under a
// name unique to the job, binds its pages (slots interleaved over NUMA nodes, the result on the NIC's node), and
// unlinks the name once every local rank has it mapped, so nothing is left in /dev/shm whatever happens next.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "clock.hpp"

namespace hfreduce {

constexpr int kMaxLocalRanks = 64;

struct CallInfo {  // what a rank asked for, checked against the others before anything is reduced
  std::uint64_t seq, count;
  std::uint32_t dtype;
  std::int32_t device;    // the GPU its buffer is on; -1: host memory
  std::uint64_t address;  // its host buffer, read in place by the node's other ranks; 0: the data is in its slot
  std::uint64_t part_lo, part_hi;  // the elements it contributes (all, or its half of an NVLink pair's sum)
  std::int32_t gpu;                // that GPU in the node's numbering (gpus.pci order, else CUDA's); -1: host
};

struct alignas(64) RankSlot {
  std::int32_t pid;
  std::int32_t global_rank;
  std::uint64_t start_time;  // /proc/<pid>/stat field 22: tells a reused pid from the rank
  std::atomic<std::uint64_t> barriers;  // barriers this rank has entered
  std::uint64_t probe_address;          // a word the others try to read: may ranks read each other's memory?
  std::uint32_t reads_peers;            // 1: this rank could read every other rank's probe word
  std::atomic<std::uint64_t> copied;    // the last call whose GPU-to-host copy this rank finished
  std::uint64_t pairs_digest;           // its NVLink pair settings: every rank of a node must have the same
  std::uint64_t staging_generation;     // bumped each time it (re)allocates its GPU staging buffer; 0: none
  char staging_handle[64];              // that buffer's CUDA IPC handle, for its NVLink partner
  char gpu_bus[32];                     // the PCI bus id of the GPU of its last GPU call
  CallInfo call;
};

struct alignas(4096) SegmentHeader {
  std::uint64_t magic;
  std::uint32_t local_size;
  std::atomic<std::uint32_t> attached;
  std::atomic<std::uint32_t> arrived;
  std::atomic<std::uint32_t> generation;  // the futex word of the barrier
  std::atomic<std::uint32_t> aborted;     // 0, 1 (being written), 2 (message ready)
  std::atomic<std::uint64_t> heartbeat;   // bumped by the leader while it works between nodes
  char abort_message[2048];
  RankSlot ranks[kMaxLocalRanks];
};

struct SegmentArgs {
  std::uint64_t job_id;
  int node_index;
  int local_rank, local_size, global_rank;
  std::size_t capacity;  // bytes per slot and of the result
  int numa_node;         // -1: no binding
  Deadline deadline;
  std::string origin;  // "node 2 (cn03, ranks 4-5)": put in front of the errors this segment finds
};

class Segment {
 public:
  Segment(const SegmentArgs& a, const int* global_ranks);
  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  char* slot(int local) const { return base_ + slots_offset_ + static_cast<std::size_t>(local) * capacity_; }
  char* result() const { return base_ + result_offset_; }
  std::size_t capacity() const { return capacity_; }
  SegmentHeader& header() const { return *reinterpret_cast<SegmentHeader*>(base_); }
  RankSlot& me() const { return header().ranks[local_rank_]; }

  // Waits for every local rank. Throws Error if a rank aborted, a local rank died, or nothing happened for
  // `timeout_s` (the leader's heartbeat counts as something happening).
  void barrier(double timeout_s, const char* where);
  // Records the first error of this node for all its ranks, and wakes them.
  void abort(const std::string& message);
  void beat() { header().heartbeat.fetch_add(1, std::memory_order_relaxed); }
  void throw_if_aborted() const;

 private:
  std::string dead_rank() const;  // "" or a description of a local rank that no longer runs

  char* base_ = nullptr;
  std::size_t size_ = 0, capacity_ = 0, slots_offset_ = 0, result_offset_ = 0;
  int local_rank_ = 0, local_size_ = 0;
  int global_ranks_[kMaxLocalRanks] = {};
  std::string origin_;
};

std::uint64_t process_start_time(int pid);  // 0 if the process is gone or a zombie

}  // namespace hfreduce
