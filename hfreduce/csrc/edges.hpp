// The connections of a node leader in the double binary tree: one TCP connection per tree edge, to its parent in
// each tree and from each of its children. The TCP transport moves the data over them; the ibverbs transport uses
// them to exchange queue pairs and, per call, buffer addresses and aborts.
#pragma once

#include <vector>

#include "bootstrap.hpp"
#include "net.hpp"
#include "tree.hpp"

namespace hfreduce {

struct Edge {
  Socket sock;
  int peer = -1;  // node index
  int tree = 0;
  bool is_up = false;  // the edge to this node's parent in `tree`
  std::string who;     // the peer, for messages: "node 2 (cn03, ranks 4-5)"
};

struct TreeEdges {
  TreeLinks links[2];      // this node's parent and children in each tree
  std::vector<Edge> edges;  // parents first (by tree), then children by tree and node index
};

// Collective among the node leaders: connects up, accepts the children, checks every connection is this job's.
TreeEdges connect_tree_edges(const JobTable& table, int my_node, Socket& listen, Deadline deadline);

}  // namespace hfreduce
