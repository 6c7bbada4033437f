#include "bootstrap.hpp"

#include <cstring>
#include <fcntl.h>
#include <map>
#include <random>
#include <unistd.h>

#include "error.hpp"

namespace hfreduce {

namespace {

constexpr std::uint32_t kMagic = 0x48465244;  // "HFRD"
constexpr std::uint32_t kVersion = 3;
// Which build a rank runs: during a rolling upgrade a job may get nodes on both sides, and two builds must never
// exchange data (their wire formats may differ). ffinfra's role sets HFREDUCE_SOURCE; a local build leaves it empty.
constexpr char kBuild[] = HF_VERSION "+" HF_SOURCE;

struct Hello {  // rank → root
  std::uint32_t magic, version;  // first, in every version: a rank of another protocol is still told apart
  std::int32_t rank, world, pid, port;
  std::uint32_t caps, pad;
  char ip[16];
  char node[64];
  char build[48];
};

struct Reply {  // root → rank, then `world` Hello records or `len` bytes of error text
  std::uint32_t magic, status;
  std::uint64_t job_id;
  std::uint32_t len, pad;
};

template <std::size_t N>
void put(char (&dst)[N], const std::string& s) {
  std::memset(dst, 0, N);
  std::memcpy(dst, s.data(), s.size() < N - 1 ? s.size() : N - 1);
}

Hello hello_of(const BootstrapArgs& a, const std::string& ip) {
  Hello h{};
  h.magic = kMagic;
  h.version = kVersion;
  h.rank = a.rank;
  h.world = a.world;
  h.pid = static_cast<std::int32_t>(::getpid());
  h.port = a.my_listen.port;
  h.caps = a.caps;
  put(h.ip, ip);
  put(h.node, a.node);
  put(h.build, kBuild);
  return h;
}

std::uint64_t new_job_id() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(::getpid());
}

JobTable table_of(std::uint64_t job_id, const std::vector<Hello>& hellos) {
  JobTable t;
  t.job_id = job_id;
  std::map<std::string, int> node_index;
  for (const Hello& h : hellos) {
    Peer p{h.rank, std::string(h.node, strnlen(h.node, sizeof h.node)), {std::string(h.ip), h.port}, h.pid, h.caps};
    auto it = node_index.find(p.node);
    if (it == node_index.end()) {
      it = node_index.emplace(p.node, static_cast<int>(t.nodes.size())).first;
      t.nodes.push_back({p.node, {}, p.listen});
    }
    t.nodes[it->second].ranks.push_back(p.rank);
    t.peers.push_back(p);
  }
  return t;
}

void send_error(int fd, const std::string& text, Deadline d) {
  Reply r{kMagic, 1, 0, static_cast<std::uint32_t>(text.size()), 0};
  try {
    send_all(fd, &r, sizeof r, d, "a rank");
    send_all(fd, text.data(), text.size(), d, "a rank");
  } catch (const Error&) {  // that rank is gone already; the others still hear about it
  }
}

}  // namespace

int JobTable::node_of(int rank) const {
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (int r : nodes[i].ranks)
      if (r == rank) return static_cast<int>(i);
  return -1;
}

std::string JobTable::describe_node(int node) const {
  const NodeInfo& n = nodes.at(static_cast<std::size_t>(node));
  std::string ranks = n.ranks.size() == 1 ? cat("rank ", n.ranks[0]) : cat("ranks ", n.ranks.front(), "-", n.ranks.back());
  if (n.ranks.size() > 1 && n.ranks.back() - n.ranks.front() + 1 != static_cast<int>(n.ranks.size())) {
    ranks = "ranks ";
    for (std::size_t i = 0; i < n.ranks.size(); ++i) ranks += cat(i ? "," : "", n.ranks[i]);
  }
  return cat("node ", node, " (", n.name, ", ", ranks, ")");
}

JobTable bootstrap(const BootstrapArgs& a, std::string* my_ip) {
  if (a.rank == 0) {
    *my_ip = a.root.ip;
    Endpoint bound;
    Socket lst = listen_on(a.root.ip, a.root.port, &bound);
    std::vector<Hello> hellos(static_cast<std::size_t>(a.world));
    std::vector<bool> joined(static_cast<std::size_t>(a.world), false);
    std::vector<Socket> conns;
    hellos[0] = hello_of(a, a.my_listen.ip.empty() || a.my_listen.ip == "0.0.0.0" ? a.root.ip : a.my_listen.ip);
    joined[0] = true;
    std::string problem;
    try {
      for (int got = 1; got < a.world; ++got) {
        Socket s = accept_one(lst.fd(), a.deadline, "the other ranks");
        Hello h{};
        recv_all(s.fd(), &h, 2 * sizeof(std::uint32_t), a.deadline, "a joining rank");
        if (h.magic != kMagic) fail("a connection to the root address is not an HFReduce rank");
        if (h.version != kVersion) {
          problem = cat("a rank speaks HFReduce bootstrap version ", h.version, ", rank 0 (", a.node, ", build ", kBuild,
                        ") version ", kVersion, ": every node of a job must run one HFReduce build (is a rolling "
                        "upgrade under way? see hfreduce.env on each node)");
          conns.push_back(std::move(s));
          break;
        }
        recv_all(s.fd(), reinterpret_cast<char*>(&h) + 2 * sizeof(std::uint32_t), sizeof h - 2 * sizeof(std::uint32_t),
                 a.deadline, "a joining rank");
        const std::string build(h.build, strnlen(h.build, sizeof h.build));
        if (build != kBuild)
          problem = cat("rank ", h.rank, " (", std::string(h.node, strnlen(h.node, sizeof h.node)), ") runs HFReduce ",
                        build, ", rank 0 (", a.node, ") runs ", kBuild, ": every node of a job must run one HFReduce "
                        "build (is a rolling upgrade under way? see hfreduce.env on each node)");
        else if (h.world != a.world)
          problem = cat("rank ", h.rank, " was started with world size ", h.world, ", rank 0 with ", a.world);
        else if (h.rank <= 0 || h.rank >= a.world)
          problem = cat("a rank says it is rank ", h.rank, " of ", a.world);
        else if (joined[static_cast<std::size_t>(h.rank)])
          problem = cat("two processes both say they are rank ", h.rank);
        else {
          hellos[static_cast<std::size_t>(h.rank)] = h;
          joined[static_cast<std::size_t>(h.rank)] = true;
        }
        conns.push_back(std::move(s));
        if (!problem.empty()) break;
      }
    } catch (const Error& e) {
      std::string missing;
      int count = 0;
      for (int r = 0; r < a.world; ++r)
        if (!joined[static_cast<std::size_t>(r)]) {
          if (count++ < 16) missing += cat(count > 1 ? ", " : "", r);
        }
      problem = count ? cat(count, " rank(s) never joined the job (", missing, count > 16 ? ", ..." : "", "): ", e.what())
                      : std::string(e.what());
    }
    if (!problem.empty()) {
      for (Socket& s : conns) send_error(s.fd(), problem, Deadline::in(2));
      fail("bootstrap failed: ", problem);
    }
    const std::uint64_t job = new_job_id();
    Reply r{kMagic, 0, job, static_cast<std::uint32_t>(a.world), 0};
    for (Socket& s : conns) {
      send_all(s.fd(), &r, sizeof r, a.deadline, "a rank");
      send_all(s.fd(), hellos.data(), hellos.size() * sizeof(Hello), a.deadline, "a rank");
    }
    return table_of(job, hellos);
  }
  Socket s = connect_to(a.root, a.deadline, "rank 0 (the root address)");
  *my_ip = local_ip(s.fd());
  Hello h = hello_of(a, a.my_listen.ip.empty() || a.my_listen.ip == "0.0.0.0" ? *my_ip : a.my_listen.ip);
  send_all(s.fd(), &h, sizeof h, a.deadline, "rank 0");
  Reply r{};
  // a little longer than rank 0 waits for the others, so its verdict (who never joined) arrives here
  const Deadline verdict{a.deadline.at + std::chrono::seconds(5)};
  recv_all(s.fd(), &r, sizeof r, verdict, "rank 0 (waiting for every rank to join)");
  if (r.magic != kMagic) fail("the root address does not answer as HFReduce rank 0");
  if (r.status != 0) {
    std::string text(r.len, '\0');
    recv_all(s.fd(), text.data(), text.size(), a.deadline, "rank 0");
    fail("bootstrap failed: ", text);
  }
  std::vector<Hello> hellos(r.len);
  recv_all(s.fd(), hellos.data(), hellos.size() * sizeof(Hello), a.deadline, "rank 0");
  return table_of(r.job_id, hellos);
}

}  // namespace hfreduce
