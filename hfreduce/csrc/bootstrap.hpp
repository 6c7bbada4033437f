// How the ranks of a job find each other: rank 0 listens at the root address; every other rank connects (retrying
// while rank 0 starts), says who it is, where its data socket listens and which node it runs on; rank 0 checks the
// answers agree and sends everyone the whole table. Ranks group into nodes by node name (the hostname unless
// set), in rank order; the lowest rank of a node is its leader and speaks for it between nodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clock.hpp"
#include "net.hpp"

namespace hfreduce {

struct Peer {
  int rank = 0;
  std::string node;   // node name
  Endpoint listen;    // its data-plane listening socket
  int pid = 0;
  std::uint32_t caps = 0;  // kCapIbverbs: this rank could use the ibverbs transport
};

constexpr std::uint32_t kCapIbverbs = 1;

struct NodeInfo {
  std::string name;
  std::vector<int> ranks;  // ascending; ranks[0] is the leader
  Endpoint leader;
};

struct JobTable {
  std::uint64_t job_id = 0;
  std::vector<Peer> peers;  // by rank
  std::vector<NodeInfo> nodes;
  int node_of(int rank) const;
  std::string describe_node(int node) const;  // "node 2 (cn03, ranks 4-5)"
};

struct BootstrapArgs {
  int rank = 0, world = 1;
  Endpoint root;         // rank 0 listens here
  std::string node;      // this rank's node name
  Endpoint my_listen;    // this rank's data socket
  std::uint32_t caps = 0;
  Deadline deadline;
};

JobTable bootstrap(const BootstrapArgs& a, std::string* my_ip_toward_root);

}  // namespace hfreduce
