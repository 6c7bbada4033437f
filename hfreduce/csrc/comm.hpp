// A communicator: one per process of a job. allreduce() sums a buffer over every rank of the job, in place:
// the node's ranks put their buffers in shared memory and each reduces a slice of them on the CPU; the node's
// leader allreduces the node's sum with the other nodes' leaders; every rank copies the result back.
// Any failure ends the call on every rank with the same message, naming where it happened, and leaves the
// communicator broken: later calls fail at once with that message.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bootstrap.hpp"
#include "error.hpp"
#include "internode.hpp"
#include "kernels.hpp"
#include "pool.hpp"
#include "shm.hpp"

namespace hfreduce {

struct Config {
  int rank = 0, world = 1;
  std::string root_host = "127.0.0.1";  // where rank 0 listens for the others
  int root_port = 29600;
  std::string node;                     // node name; "" = the hostname
  double timeout_s = 300;               // without progress for this long, a call fails
  std::size_t chunk_bytes = 4u << 20;   // pipelining unit between nodes
  int threads = 0;                      // reduce threads per rank; 0 = the node's CPUs shared among its ranks
  int numa_node = -1;                   // bind the result buffer here, interleave the inputs; -1 = no binding
  std::string simd;                     // "" = the best this CPU and build have
  std::size_t buffer_bytes = 64u << 20; // per-rank shared memory; larger calls go in pieces of this size
  std::string ifname;                   // bind the data socket to this interface's address
  std::string bind_ip;                  // ... or to this address
  int socket_buffer_bytes = 0;         // SO_SNDBUF/SO_RCVBUF; 0 = the kernel autotunes
  bool single_copy = true;              // read the node's other ranks' buffers directly (process_vm_readv)
  std::string transport = "auto";       // between nodes: auto (ibverbs where every leader has RDMA), tcp, ibverbs
  std::string ib_hca;                   // the RDMA device (first of a comma list); "" = the first
  int ib_sl = 0;                        // the service level of HFReduce's traffic
  int ib_gid_index = 0;                 // RoCE: the GID to address by
  std::vector<int> root_ports;          // PCIe root port of each GPU (by index): GPUs sharing one copy in turn
  bool nvlink = true;                   // sum NVLink-paired GPUs' buffers over the bridge first (needs the pair kernel)
  std::vector<std::pair<int, int>> nvlink_pairs;  // GPU indexes joined by an NVLink Bridge
  std::vector<std::string> gpu_pci;     // PCI bus id of each GPU (by index): how GPU indexes are found; [] = CUDA's
};

struct Part {  // the elements of a rank's buffer it contributes to the sum; the others count as zero
  std::size_t lo = 0, hi = static_cast<std::size_t>(-1);
};

class Communicator {
 public:
  explicit Communicator(const Config& c);
  ~Communicator();

  // `device`: the GPU `data` is on (the GPU path: copied to host memory and back), or -1 for host memory.
  // `part` (host memory only): this rank contributes only those elements; every rank still gets the whole sum.
  void allreduce(void* data, std::size_t count, DType dtype, int device = -1, Part part = {});

  int rank() const { return cfg_.rank; }
  int world() const { return cfg_.world; }
  int node_index() const { return node_; }
  int nodes() const { return static_cast<int>(table_.nodes.size()); }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  int threads() const { return pool_->size(); }
  Simd simd() const { return simd_; }
  std::string transport() const { return inter_ ? inter_->name() : "none"; }
  bool single_copy() const { return single_copy_; }
  bool nvlink_pairs() const { return pairs_on_; }  // NVLink pairs configured (they pair where the kernel is built)
  int nvlink_partner() const { return partner_; }  // the local rank this one paired with in its last call, or -1
  std::string describe() const { return table_.describe_node(node_); }
  const Config& config() const { return cfg_; }

 private:
  void piece(char* data, std::size_t count, DType dtype, int device, Part part);
  void check_calls(std::uint64_t seq, std::size_t count, DType dtype) const;
  void reduce_slice(const char* data, std::size_t lo, std::size_t hi, DType dtype);
  void setup_node();
  void stage_on(int device);
  std::vector<int> call_partners() const;
  void open_partner(int partner, int device);
  void wait_for_root_port(int gpu, std::uint64_t seq);
  int gpu_index(int device);
  // Who gives up first when something stalls: whoever knows most about it. A node waits `timeout_s` for its own
  // ranks; between nodes a call waits a grace longer (so a late rank's own leader speaks first); a node's other
  // ranks wait for their leader's part another grace longer (so the leader's message about another node wins).
  double grace() const { return std::min(cfg_.timeout_s / 2, 30.0); }
  double between_nodes_timeout() const { return cfg_.timeout_s + grace(); }
  [[noreturn]] void failed(const Error& e, bool attributed);

  Config cfg_;
  JobTable table_;
  int node_ = 0, local_rank_ = 0, local_size_ = 1;
  Simd simd_ = Simd::generic;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<Segment> seg_;
  std::unique_ptr<InterNode> inter_;
  std::uint64_t seq_ = 0;
  bool single_copy_ = false;  // every rank of this node can read the others' memory
  bool slots_pinned_ = false;  // the shared memory is registered with CUDA (the GPU path's first call)
  void* staging_ = nullptr;    // pinned host memory of a rank alone on its node, for the GPU path
  bool pairs_on_ = false;      // NVLink pairs configured: calls take the pairs' steps
  void* gpu_staging_ = nullptr;  // device memory of a paired rank: its buffer, then its half of the pair sum
  int gpu_staging_device_ = -1;
  void* peer_staging_ = nullptr;  // the partner's, mapped here
  int peer_local_ = -1;
  std::uint64_t peer_generation_ = 0;
  int partner_ = -1;
  std::map<int, std::pair<int, std::string>> gpus_;  // CUDA device → (its index in the node's numbering, PCI id)
  std::string broken_;
};

}  // namespace hfreduce
