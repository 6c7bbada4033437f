#include "shm.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "error.hpp"

namespace hfreduce {

namespace {

constexpr std::uint64_t kMagic = 0x48465245444e4f44ull;  // "HFREDNOD"
constexpr int kMpolInterleave = 3, kMpolPreferred = 1;   // linux/mempolicy.h, without needing libnuma

std::size_t round_up(std::size_t x, std::size_t to) { return (x + to - 1) / to * to; }

std::string segment_name(std::uint64_t job, int node) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "/hfreduce.%016llx.%d", static_cast<unsigned long long>(job), node);
  return buf;
}

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0);
}

void bind_pages(void* addr, std::size_t len, int mode, int numa_node, const char* what) {
  unsigned long mask[16] = {};
  const int max_node = 16 * 64;
  if (mode == kMpolInterleave) {
    // every node this process may allocate on
    std::FILE* f = std::fopen("/sys/devices/system/node/online", "r");
    int lo = 0, hi = 0;
    if (f == nullptr || std::fscanf(f, "%d-%d", &lo, &hi) < 1) hi = lo = 0;
    if (f) std::fclose(f);
    if (hi < lo) hi = lo;
    if (hi == lo) return;  // one node: nothing to interleave
    for (int n = lo; n <= hi && n < max_node; ++n) mask[n / 64] |= 1ul << (n % 64);
  } else {
    if (numa_node >= max_node) fail("NUMA node ", numa_node, " is out of range (HFREDUCE_NUMA_NODE)");
    mask[numa_node / 64] |= 1ul << (numa_node % 64);
  }
  if (::syscall(SYS_mbind, addr, len, mode, mask, max_node + 1, 0) != 0) {
    if (errno == ENOSYS) return;  // a kernel without NUMA support: there is only one node anyway
    fail("cannot bind the ", what, " to NUMA node ", numa_node, ": ", std::strerror(errno),
         " (HFREDUCE_NUMA_NODE names a node this host does not have?)");
  }
}

}  // namespace

std::uint64_t process_start_time(int pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return 0;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces and parentheses
  if (p == nullptr) return 0;
  char state = 0;
  unsigned long long start = 0;
  // after ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime
  // cstime priority nice num_threads itrealvalue starttime(22)
  if (std::sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &state,
                  &start) != 2)
    return 0;
  if (state == 'Z' || state == 'X') return 0;
  return start;
}

Segment::Segment(const SegmentArgs& a, const int* global_ranks)
    : capacity_(round_up(a.capacity, 4096)), local_rank_(a.local_rank), local_size_(a.local_size), origin_(a.origin) {
  if (a.local_size > kMaxLocalRanks) fail("at most ", kMaxLocalRanks, " ranks per node, this node has ", a.local_size);
  for (int i = 0; i < a.local_size; ++i) global_ranks_[i] = global_ranks[i];
  slots_offset_ = round_up(sizeof(SegmentHeader), 4096);
  result_offset_ = slots_offset_ + capacity_ * static_cast<std::size_t>(a.local_size);
  size_ = result_offset_ + capacity_;
  const std::string name = segment_name(a.job_id, a.node_index);
  const bool leader = a.local_rank == 0;
  int fd = -1;
  if (leader) {
    fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) fail("cannot create shared memory ", name, ": ", std::strerror(errno));
    if (::ftruncate(fd, static_cast<off_t>(size_)) != 0) {
      ::close(fd);
      ::shm_unlink(name.c_str());
      fail("cannot size shared memory ", name, " to ", size_, " bytes: ", std::strerror(errno));
    }
  } else {
    // the leader creates it; wait until it has, and has written the header
    for (;;) {
      fd = ::shm_open(name.c_str(), O_RDWR, 0600);
      if (fd >= 0) {
        struct stat st{};
        if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) == size_) break;
        ::close(fd);
        fd = -1;
      }
      if (a.deadline.passed()) fail("timed out waiting for this node's leader (rank ", global_ranks[0], ") to create its shared memory");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    if (leader) ::shm_unlink(name.c_str());
    fail("cannot map shared memory ", name, ": ", std::strerror(errno));
  }
  base_ = static_cast<char*>(p);
  SegmentHeader& h = header();
  if (leader) {
    try {
      if (a.numa_node >= 0) {
        bind_pages(slot(0), capacity_ * static_cast<std::size_t>(a.local_size), kMpolInterleave, a.numa_node, "input buffers");
        bind_pages(result(), capacity_, kMpolPreferred, a.numa_node, "result buffer");
      }
    } catch (...) {
      ::munmap(base_, size_);
      ::shm_unlink(name.c_str());
      throw;
    }
    h.local_size = static_cast<std::uint32_t>(a.local_size);
    h.magic = kMagic;  // last: the others wait for it
  } else {
    while (reinterpret_cast<volatile std::uint64_t&>(h.magic) != kMagic) {
      if (a.deadline.passed()) fail("timed out waiting for this node's leader to set up its shared memory");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  RankSlot& me = h.ranks[a.local_rank];
  me.pid = static_cast<std::int32_t>(::getpid());
  me.global_rank = a.global_rank;
  me.start_time = process_start_time(me.pid);
  h.attached.fetch_add(1);
  if (leader) {
    while (h.attached.load() < static_cast<std::uint32_t>(a.local_size)) {
      if (a.deadline.passed()) {
        ::shm_unlink(name.c_str());
        fail("timed out waiting for this node's ranks to map its shared memory: ", h.attached.load(), " of ", a.local_size);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::shm_unlink(name.c_str());  // everyone has it: the memory goes when the last rank exits
  }
}

Segment::~Segment() {
  if (base_) ::munmap(base_, size_);
}

std::string Segment::dead_rank() const {
  const SegmentHeader& h = header();
  for (int i = 0; i < local_size_; ++i) {
    const RankSlot& r = h.ranks[i];
    if (r.pid == 0) continue;
    const std::uint64_t now = process_start_time(r.pid);
    if (now == 0 || (r.start_time != 0 && now != r.start_time))
      return cat(origin_, ": rank ", global_ranks_[i], " (pid ", r.pid, ") died");
  }
  return "";
}

void Segment::throw_if_aborted() const {
  const SegmentHeader& h = header();
  if (h.aborted.load() == 2) throw RemoteError(std::string(h.abort_message));
}

void Segment::abort(const std::string& message) {
  SegmentHeader& h = header();
  std::uint32_t zero = 0;
  if (h.aborted.compare_exchange_strong(zero, 1)) {
    std::size_t n = message.size() < sizeof h.abort_message - 1 ? message.size() : sizeof h.abort_message - 1;
    std::memcpy(h.abort_message, message.data(), n);
    h.abort_message[n] = '\0';
    h.aborted.store(2);
  }
  h.generation.fetch_add(1);
  futex_wake_all(&h.generation);
}

void Segment::barrier(double timeout_s, const char* where) {
  SegmentHeader& h = header();
  throw_if_aborted();
  me().barriers.fetch_add(1);
  const std::uint32_t gen = h.generation.load();
  if (h.arrived.fetch_add(1) + 1 == static_cast<std::uint32_t>(local_size_)) {
    h.arrived.store(0);
    h.generation.fetch_add(1);
    futex_wake_all(&h.generation);
    return;
  }
  std::uint64_t beat = h.heartbeat.load();
  Deadline deadline = Deadline::in(timeout_s);
  int checks = 0;
  while (h.generation.load() == gen) {
    futex_wait(&h.generation, gen, 50);
    if (h.generation.load() != gen) break;
    throw_if_aborted();
    if (++checks % 4 == 0) {  // every ~200 ms: has a local rank died?
      std::string dead = dead_rank();
      if (!dead.empty()) {
        abort(dead);
        throw RemoteError(dead);
      }
    }
    const std::uint64_t b = h.heartbeat.load();
    if (b != beat) {
      beat = b;
      deadline = Deadline::in(timeout_s);
    }
    if (deadline.passed()) {
      std::string late;
      const std::uint64_t mine = me().barriers.load();
      for (int i = 0; i < local_size_; ++i)
        if (h.ranks[i].barriers.load() < mine) late += cat(late.empty() ? "" : ", ", global_ranks_[i]);
      std::string msg = late.empty()
                            ? cat(origin_, ": timed out after ", timeout_s, " s ", where)
                            : cat(origin_, ": timed out after ", timeout_s, " s ", where, ": rank(s) ", late,
                                  " never arrived");
      abort(msg);
      throw RemoteError(msg);
    }
  }
  throw_if_aborted();
}

}  // namespace hfreduce
