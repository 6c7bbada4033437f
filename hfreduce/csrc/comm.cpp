#include "comm.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/uio.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "error.hpp"
#include "gpu.hpp"
#include "pairs.hpp"
#include "tcp_tree.hpp"
#ifdef HF_WITH_IBVERBS
#include "ib_tree.hpp"
#endif

namespace hfreduce {

namespace {

constexpr std::uint64_t kProbe = 0x70726f62652d6866ull;
const volatile std::uint64_t probe_word = kProbe;  // read by the node's other ranks to test single-copy reads

// Reads `n` bytes at `remote` in process `pid` into `local`; false if the kernel refuses (ptrace rules, seccomp).
bool read_peer(int pid, void* local, std::uint64_t remote, std::size_t n) {
  while (n > 0) {
    iovec l{local, n};
    iovec r{reinterpret_cast<void*>(remote), n};
    ssize_t got = ::process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
    local = static_cast<char*>(local) + got;
    remote += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

Simd choose_simd(const std::string& wanted) {
  const Simd best = simd_best();
  if (wanted.empty()) return best;
  const Simd w = simd_from_name(wanted);
  // never above what this CPU runs: a profile's level is a ceiling, not a promise
  return static_cast<int>(w) < static_cast<int>(best) ? w : best;
}

}  // namespace

Communicator::Communicator(const Config& c) : cfg_(c) {
  if (c.world < 1 || c.rank < 0 || c.rank >= c.world) fail("rank ", c.rank, " is not in a job of ", c.world, " ranks");
  if (c.chunk_bytes < 4096) fail("chunk size ", c.chunk_bytes, " bytes is below the 4 KiB minimum");
  if (c.buffer_bytes < c.chunk_bytes) fail("buffer size must be at least the chunk size");
  if (c.transport != "auto" && c.transport != "tcp" && c.transport != "ibverbs")
    fail("unknown transport '", c.transport, "' (HFREDUCE_TRANSPORT): auto, tcp or ibverbs");
#ifndef HF_WITH_IBVERBS
  if (c.transport == "ibverbs") fail("this build of HFReduce has no ibverbs transport (built without rdma-core)");
#endif
  simd_ = choose_simd(c.simd);
  const Deadline deadline = Deadline::in(c.timeout_s);
  const std::string node = c.node.empty() ? hostname() : c.node;
  // The data socket listens before the bootstrap, so peers can connect as soon as they learn its address.
  std::string bind_ip = !c.bind_ip.empty() ? c.bind_ip : !c.ifname.empty() ? interface_ipv4(c.ifname) : "0.0.0.0";
  Endpoint listen_at;
  Socket listen = listen_on(bind_ip, 0, &listen_at);
  BootstrapArgs b;
  b.rank = c.rank;
  b.world = c.world;
  b.root = {resolve_ipv4(c.root_host), c.root_port};
  b.node = node;
  b.my_listen = listen_at;
  b.deadline = deadline;
#ifdef HF_WITH_IBVERBS
  if (c.transport != "tcp" && ib_device_present(c.ib_hca)) b.caps |= kCapIbverbs;
#endif
  std::string toward_root;
  table_ = bootstrap(b, &toward_root);
  node_ = table_.node_of(c.rank);
  const NodeInfo& mine = table_.nodes[static_cast<std::size_t>(node_)];
  local_size_ = static_cast<int>(mine.ranks.size());
  local_rank_ = static_cast<int>(std::find(mine.ranks.begin(), mine.ranks.end(), c.rank) - mine.ranks.begin());
  // Every rank decides the same from the table: RDMA only if every leader has it (and every rank fails alike when
  // it was demanded and some leader has not).
  std::string without;
  for (const NodeInfo& n : table_.nodes)
    if (!(table_.peers[static_cast<std::size_t>(n.ranks.front())].caps & kCapIbverbs))
      without += cat(without.empty() ? "" : ", ", n.name);
  if (c.transport == "ibverbs" && !without.empty() && table_.nodes.size() > 1)
    fail("HFREDUCE_TRANSPORT=ibverbs, but these nodes have no active RDMA port", c.ib_hca.empty() ? "" : " on ",
         c.ib_hca, ": ", without);
  int threads = c.threads;
  if (threads <= 0) {
    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::clamp(cpus / local_size_, 1, 8);
  }
  pool_ = std::make_unique<Pool>(threads);
  if (local_size_ > 1) {
    SegmentArgs s;
    s.job_id = table_.job_id;
    s.node_index = node_;
    s.local_rank = local_rank_;
    s.local_size = local_size_;
    s.global_rank = c.rank;
    s.capacity = c.buffer_bytes;
    s.numa_node = c.numa_node;
    s.deadline = deadline;
    s.origin = describe();
    seg_ = std::make_unique<Segment>(s, mine.ranks.data());
    setup_node();
  }
  if (local_rank_ == 0 && table_.nodes.size() > 1) {
#ifdef HF_WITH_IBVERBS
    if (without.empty() && c.transport != "tcp") {
      IbOptions o;
      o.hca = c.ib_hca;
      o.sl = c.ib_sl;
      o.gid_index = c.ib_gid_index;
      o.chunk_bytes = c.chunk_bytes;
      inter_ = ib_trees(table_, node_, listen, deadline, o);
    }
#endif
    if (!inter_) inter_ = tcp_trees(table_, node_, listen, deadline, c.socket_buffer_bytes);
  }
}

Communicator::~Communicator() {
  gpu::ipc_close(peer_staging_, gpu_staging_device_);
  gpu::free_device(gpu_staging_, gpu_staging_device_);
  gpu::free_pinned(staging_);
}

// What every rank of the node must agree on before the first call, decided alike by all after two barriers (the
// same two whatever the settings, so ranks with different settings fail here instead of hanging in a call):
// - single-copy mode needs every rank to read every other's memory (same user, and no ptrace restriction or
//   seccomp filter against process_vm_readv);
// - NVLink pairs add barriers to every call and decide who pairs, so the ranks must have the same pairs and builds
//   alike with or without the pair kernel.
void Communicator::setup_node() {
  pairs_on_ = cfg_.nvlink && !cfg_.nvlink_pairs.empty();
  std::uint64_t digest = 0;
  if (pairs_on_) {
    digest = 1469598103934665603ull;  // FNV-1a over the pairs and whether this build can pair
    for (const auto& [a, b] : cfg_.nvlink_pairs)
      for (int v : {a, b}) digest = (digest ^ static_cast<std::uint64_t>(v + 1)) * 1099511628211ull;
    digest = (digest ^ (gpu::nvlink_built() ? 2u : 1u)) * 1099511628211ull;
  }
  RankSlot& me = seg_->me();
  me.probe_address = reinterpret_cast<std::uint64_t>(&probe_word);
  me.pairs_digest = digest;
  seg_->barrier(cfg_.timeout_s, "setting up this node's shared memory");
  const SegmentHeader& h = seg_->header();
  for (int i = 0; i < local_size_; ++i)
    if (h.ranks[i].pairs_digest != digest)
      fail("the NVLink pair settings of ranks ", cfg_.rank, " and ", h.ranks[i].global_rank,
           " differ (HFREDUCE_NVLINK, HFREDUCE_NVLINK_PAIRS, or a build without the pair kernel): every rank of a ",
           "node must use the same");
  bool ok = cfg_.single_copy;
  for (int i = 0; i < local_size_ && ok; ++i) {
    if (i == local_rank_) continue;
    std::uint64_t word = 0;
    ok = read_peer(h.ranks[i].pid, &word, h.ranks[i].probe_address, sizeof word) && word == kProbe;
  }
  me.reads_peers = ok ? 1 : 0;
  seg_->barrier(cfg_.timeout_s, "setting up this node's shared memory");
  single_copy_ = true;
  for (int i = 0; i < local_size_; ++i) single_copy_ = single_copy_ && h.ranks[i].reads_peers == 1;
}

void Communicator::failed(const Error& e, bool attributed) {
  const std::string msg = attributed ? std::string(e.what()) : cat(describe(), ": ", e.what());
  if (broken_.empty()) broken_ = msg;
  if (seg_) seg_->abort(msg);
  if (inter_) inter_->abort(msg);
  throw Error(msg);
}

void Communicator::allreduce(void* data, std::size_t count, DType dtype, int device, Part part) {
  if (!broken_.empty()) fail("this communicator failed earlier: ", broken_);
  if (device >= 0 && !gpu::built()) fail("this build of HFReduce has no GPU path (built without CUDA)");
  part.hi = std::min(part.hi, count);
  if (part.lo > part.hi)
    fail("part (", part.lo, ", ", part.hi, ") is not a range of a buffer of ", count, " elements: it needs lo <= hi");
  if (device >= 0 && (part.lo != 0 || part.hi != count)) fail("a part of a buffer is for host memory only");
  const std::size_t es = dtype_size(dtype);
  // GPU buffers go through host memory of the buffer's size: shared memory, or a pinned staging buffer
  const std::size_t per_piece = seg_ ? seg_->capacity() / es : device >= 0 ? cfg_.buffer_bytes / es : count;
  char* p = static_cast<char*>(data);
  try {
    std::size_t done = 0;
    do {  // also for count == 0: every rank makes the same calls, so the sequence numbers stay in step
      const std::size_t n = std::min(per_piece, count - done);
      const std::size_t lo = std::clamp(part.lo, done, done + n), hi = std::clamp(part.hi, done, done + n);
      piece(p + done * es, n, dtype, device, Part{lo - done, hi - done});
      done += n;
    } while (done < count);
  } catch (const RemoteError& e) {
    failed(e, true);
  } catch (const Error& e) {
    failed(e, false);
  }
}

void Communicator::check_calls(std::uint64_t seq, std::size_t count, DType dtype) const {
  const SegmentHeader& h = seg_->header();
  for (int i = 0; i < local_size_; ++i) {
    const CallInfo& other = h.ranks[i].call;
    if (other.seq != seq || other.count != count || other.dtype != static_cast<std::uint32_t>(dtype))
      fail("allreduce calls do not match on this node: rank ", cfg_.rank, " is in call #", seq, " with ", count, " ",
           dtype_name(dtype), " elements, rank ", h.ranks[i].global_rank, " in call #", other.seq, " with ",
           other.count, " ", dtype_name(static_cast<DType>(other.dtype)), " elements");
  }
}

void Communicator::piece(char* data, std::size_t count, DType dtype, int device, Part part) {
  const std::uint64_t seq = ++seq_;
  const std::size_t es = dtype_size(dtype);
  const std::size_t bytes = count * es;
  auto between_nodes = [&](char* buf) {
    if (!inter_) return;
    OpArgs op{buf, count, dtype, simd_, cfg_.chunk_bytes, seq, between_nodes_timeout(), nullptr};
    op.tick = [this](bool moved) {
      if (!seg_) return;
      if (moved) seg_->beat();
      seg_->throw_if_aborted();
    };
    inter_->allreduce(op);
  };
  if (!seg_) {  // one rank on this node: straight between nodes, in the caller's buffer (or a host copy of it)
    if (device < 0) {
      if (count > 0) {  // what it does not contribute counts as zero; the sum overwrites it
        std::memset(data, 0, part.lo * es);
        std::memset(data + part.hi * es, 0, (count - part.hi) * es);
      }
      return between_nodes(data);
    }
    if (staging_ == nullptr) staging_ = gpu::alloc_pinned(cfg_.buffer_bytes, device);
    char* host = static_cast<char*>(staging_);
    gpu::to_host(host, data, bytes, device);
    between_nodes(host);
    gpu::to_device(data, host, bytes, device);
    return;
  }
  constexpr std::size_t kCopyAlign = 4096;
  RankSlot& me = seg_->me();
  // Where this rank's input is: read in place by the others (single-copy), or in its slot (copied; always for a
  // GPU buffer, whose D2H copy lands there).
  const bool in_place = single_copy_ && device < 0;
  const int gpu = device >= 0 ? gpu_index(device) : -1;
  me.call = {seq, count, static_cast<std::uint32_t>(dtype), device,
             in_place ? reinterpret_cast<std::uint64_t>(data) : 0, part.lo, part.hi, gpu};
  if (device >= 0 && !slots_pinned_) {
    gpu::pin(seg_->slot(0), seg_->capacity() * static_cast<std::size_t>(local_size_ + 1), device);  // + result
    slots_pinned_ = true;
  }
  // NVLink pairs: each GPU of a pair sums its half of the two buffers over the bridge and sends only that half to
  // the host; the rest of the node sees a pair as two ranks contributing half a buffer each.
  int partner = -1;
  bool pairs_in_call = false;  // some ranks of this node pair in this call: all take the pairs' barriers
  Part half, other;
  if (pairs_on_) {
    seg_->barrier(cfg_.timeout_s, "waiting for this node's ranks to enter allreduce");
    check_calls(seq, count, dtype);
    const std::vector<int> partners = call_partners();
    partner = partners[static_cast<std::size_t>(local_rank_)];
    pairs_in_call = std::any_of(partners.begin(), partners.end(), [](int q) { return q >= 0; });
    if (partner >= 0) {
      const std::size_t split = pair_split(count);
      half = local_rank_ < partner ? Part{0, split} : Part{split, count};
      other = local_rank_ < partner ? Part{split, count} : Part{0, split};
      // the half the partner sums goes to this rank's staging buffer, for the partner to read
      stage_on(device);
      gpu::copy_on_device(static_cast<char*>(gpu_staging_) + other.lo * es, data + other.lo * es,
                          (other.hi - other.lo) * es, device);
      gpu::sync(device);
    }
    if (pairs_in_call) seg_->barrier(cfg_.timeout_s, "waiting for this node's NVLink pairs to stage their buffers");
  }
  partner_ = partner;
  if (partner >= 0) {
    open_partner(partner, device);
    char* sum = static_cast<char*>(gpu_staging_) + half.lo * es;
    gpu::pair_sum(sum, data + half.lo * es, static_cast<char*>(peer_staging_) + half.lo * es, half.hi - half.lo,
                  dtype, device);
    me.call.part_lo = half.lo;
    me.call.part_hi = half.hi;
    wait_for_root_port(gpu, seq);
    gpu::to_host(seg_->slot(local_rank_) + half.lo * es, sum, (half.hi - half.lo) * es, device);  // after the sum
    me.copied.store(seq);
  } else if (device >= 0) {
    wait_for_root_port(gpu, seq);
    gpu::to_host(seg_->slot(local_rank_), data, bytes, device);
    me.copied.store(seq);
  } else if (!in_place) {
    char* slot = seg_->slot(local_rank_);
    pool_->split((part.hi - part.lo) * es, kCopyAlign, [&](std::size_t b, std::size_t e) {
      std::memcpy(slot + part.lo * es + b, data + part.lo * es + b, e - b);
    });
  }
  if (pairs_on_) {
    seg_->barrier(cfg_.timeout_s, "waiting for this node's ranks to copy their buffers to the host");
  } else {
    seg_->barrier(cfg_.timeout_s, "waiting for this node's ranks to enter allreduce");
    check_calls(seq, count, dtype);
  }
  // each local rank sums its own slice of every rank's buffer
  const std::size_t lo = count * static_cast<std::size_t>(local_rank_) / static_cast<std::size_t>(local_size_);
  const std::size_t hi = count * static_cast<std::size_t>(local_rank_ + 1) / static_cast<std::size_t>(local_size_);
  reduce_slice(data, lo, hi, dtype);
  seg_->barrier(cfg_.timeout_s, "waiting for this node's ranks to finish their part of the reduce");
  if (local_rank_ == 0) between_nodes(seg_->result());
  seg_->barrier(between_nodes_timeout() + grace(), "waiting for this node's leader to finish between nodes");
  if (partner >= 0) {  // each GPU of a pair brings back its half, then takes the other half from its partner
    char* mine = static_cast<char*>(gpu_staging_) + half.lo * es;
    gpu::to_device(mine, seg_->result() + half.lo * es, (half.hi - half.lo) * es, device);
    seg_->barrier(cfg_.timeout_s, "waiting for this node's NVLink pairs to bring the result back");
    gpu::copy_on_device(data + half.lo * es, mine, (half.hi - half.lo) * es, device);
    gpu::copy_on_device(data + other.lo * es, static_cast<char*>(peer_staging_) + other.lo * es,
                        (other.hi - other.lo) * es, device);
    gpu::sync(device);
  } else {
    if (device >= 0) {
      gpu::to_device(data, seg_->result(), bytes, device);
    } else {
      pool_->split(bytes, kCopyAlign, [&](std::size_t b, std::size_t e) {
        std::memcpy(data + b, seg_->result() + b, e - b);
      });
    }
    if (pairs_in_call) seg_->barrier(cfg_.timeout_s, "waiting for this node's NVLink pairs to bring the result back");
  }
  // also keeps a partner's staging buffer as it is until this rank has read it
  seg_->barrier(cfg_.timeout_s, "waiting for this node's ranks to copy the result out");
}

// A GPU's index in the node's numbering (the spec's, nvidia-smi's): its position in HFREDUCE_GPU_PCI by PCI bus
// id where that is given, so ranks that each see only their own GPU (CUDA_VISIBLE_DEVICES) still tell them apart;
// else the CUDA device number (ffinfra's hfreduce.env sets CUDA_DEVICE_ORDER=PCI_BUS_ID to make the two agree).
int Communicator::gpu_index(int device) {
  auto it = gpus_.find(device);
  if (it == gpus_.end()) {
    const std::string bus = gpu::pci_bus_id(device);
    int index = device;
    if (!cfg_.gpu_pci.empty()) {
      index = pci_index(cfg_.gpu_pci, bus);
      if (index < 0) fail("GPU ", device, " (PCI ", bus, ") is not among HFREDUCE_GPU_PCI: the profile's gpus.pci");
    }
    it = gpus_.emplace(device, std::make_pair(index, bus)).first;
  }
  if (seg_) std::snprintf(seg_->me().gpu_bus, sizeof seg_->me().gpu_bus, "%s", it->second.second.c_str());
  return it->second.first;
}

// A paired rank's staging buffer: a piece's bytes of device memory, allocated on its first paired call and exported
// (CUDA IPC) once, for the partner to map. A new device gets a new buffer, and the partner sees a new generation.
void Communicator::stage_on(int device) {
  if (gpu_staging_ != nullptr && gpu_staging_device_ == device) return;
  gpu::ipc_close(peer_staging_, gpu_staging_device_);
  peer_staging_ = nullptr;
  peer_local_ = -1;
  gpu::free_device(gpu_staging_, gpu_staging_device_);
  gpu_staging_ = nullptr;
  gpu_staging_ = gpu::alloc_device(seg_->capacity(), device);
  gpu_staging_device_ = device;
  RankSlot& me = seg_->me();
  gpu::ipc_export(gpu_staging_, me.staging_handle, device);
  me.staging_generation = me.staging_generation + 1;
}

// Who pairs with whom in this call, from the GPUs the node's ranks published (the same answer on every rank).
// A build without the pair kernel pairs nobody: its GPU ranks take the PCIe path alone.
std::vector<int> Communicator::call_partners() const {
  const SegmentHeader& h = seg_->header();
  std::vector<int> gpus;
  for (int i = 0; i < local_size_; ++i) gpus.push_back(gpu::nvlink_built() ? h.ranks[i].call.gpu : -1);
  return pair_partners(cfg_.nvlink_pairs, gpus);
}

// Maps the partner's staging buffer, once per buffer it allocates. Its GPU must be visible here too (by PCI bus id:
// CUDA numbers the GPUs a process sees from 0).
void Communicator::open_partner(int partner, int device) {
  const RankSlot& peer = seg_->header().ranks[partner];
  if (peer_staging_ != nullptr && peer_local_ == partner && peer_generation_ == peer.staging_generation) return;
  const int peer_device = gpu::device_by_pci(peer.gpu_bus);
  if (peer_device < 0)
    fail("rank ", peer.global_rank, "'s GPU (PCI ", peer.gpu_bus, ") is NVLink-paired with this rank's but not visible ",
         "to it: the ranks of a pair must both see both GPUs (CUDA_VISIBLE_DEVICES)");
  gpu::ipc_close(peer_staging_, device);
  peer_staging_ = nullptr;
  peer_staging_ = gpu::ipc_open(peer.staging_handle, device, peer_device);
  peer_local_ = partner;
  peer_generation_ = peer.staging_generation;
}

// GPUs behind one PCIe root port share its ~37 GB/s (paper §IV-D3): of the node's ranks whose GPUs share a port,
// the lower local rank copies first. A rank only ever waits for lower ones, so nobody waits in a circle.
void Communicator::wait_for_root_port(int gpu, std::uint64_t seq) {
  const auto& ports = cfg_.root_ports;
  if (ports.empty() || gpu < 0 || gpu >= static_cast<int>(ports.size())) return;
  const SegmentHeader& h = seg_->header();
  const Deadline deadline = Deadline::in(cfg_.timeout_s);
  for (int j = 0; j < local_rank_; ++j) {
    for (;;) {
      const CallInfo& other = h.ranks[j].call;
      const int g = other.seq == seq ? other.gpu : -1;
      if (other.seq == seq && (g < 0 || g >= static_cast<int>(ports.size()) || ports[g] != ports[gpu])) break;
      if (h.ranks[j].copied.load() >= seq) break;
      seg_->throw_if_aborted();
      if (deadline.passed())
        fail("timed out after ", cfg_.timeout_s, " s waiting for rank ", h.ranks[j].global_rank,
             " to finish its GPU copy (its GPU shares a PCIe root port with GPU ", gpu, ")");
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

// The slice is summed block by block. An input in its rank's slot is read there; one left in place (single-copy)
// is read straight from its rank's memory into a small buffer that stays in cache, so it crosses memory once.
// A rank that contributes part of its buffer counts only there: a block is cut where any rank's part begins or ends.
void Communicator::reduce_slice(const char* data, std::size_t lo, std::size_t hi, DType dtype) {
  const std::size_t es = dtype_size(dtype);
  const std::size_t block = (128u << 10) / es;  // elements per block
  const SegmentHeader& h = seg_->header();
  pool_->split(hi - lo, block, [&](std::size_t b, std::size_t e) {
    // sized once: `in` points into it
    std::vector<char> scratch(static_cast<std::size_t>(local_size_ - 1) * block * es);
    const void* in[kMaxLocalRanks];
    std::vector<std::size_t> cuts;
    for (std::size_t x = lo + b; x < lo + e; x += block) {
      const std::size_t end = std::min(x + block, lo + e);
      cuts.assign({x, end});
      for (int i = 0; i < local_size_; ++i)
        for (std::uint64_t c : {h.ranks[i].call.part_lo, h.ranks[i].call.part_hi})
          if (c > x && c < end) cuts.push_back(c);
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
      for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        const std::size_t s = cuts[c], n = cuts[c + 1] - s;
        int k = 0;
        std::size_t used = 0;
        for (int i = 0; i < local_size_; ++i) {
          const CallInfo& call = h.ranks[i].call;
          if (s < call.part_lo || s + n > call.part_hi) continue;
          if (call.address == 0) {
            in[k++] = seg_->slot(i) + s * es;
          } else if (i == local_rank_) {
            in[k++] = data + s * es;
          } else {
            char* buf = scratch.data() + used++ * block * es;
            if (!read_peer(h.ranks[i].pid, buf, call.address + s * es, n * es))
              fail("cannot read rank ", h.ranks[i].global_rank, "'s buffer: ", std::strerror(errno),
                   " (did it exit, or free its buffer during the call?)");
            in[k++] = buf;
          }
        }
        if (k == 0)
          std::memset(seg_->result() + s * es, 0, n * es);
        else
          reduce(simd_, dtype, seg_->result() + s * es, in, k, n);
      }
    }
  });
}

}  // namespace hfreduce
