#include "edges.hpp"

#include <algorithm>

#include "error.hpp"

namespace hfreduce {

namespace {

constexpr std::uint32_t kHelloMagic = 0x48465443;  // "HFTC"

struct Hello {
  std::uint32_t magic;
  std::int32_t tree, node;
  std::uint32_t pad;
  std::uint64_t job;
};

}  // namespace

TreeEdges connect_tree_edges(const JobTable& table, int my_node, Socket& listen, Deadline deadline) {
  TreeEdges out;
  const int n = static_cast<int>(table.nodes.size());
  int expected_children = 0;
  for (int t = 0; t < 2; ++t) {
    out.links[t] = tree_links(t, n, my_node);
    expected_children += static_cast<int>(out.links[t].children.size());
  }
  // Connect up first: every leader listened before the bootstrap, so these complete without the parent's help.
  for (int t = 0; t < 2; ++t) {
    const int p = out.links[t].parent;
    if (p < 0) continue;
    Edge e;
    e.peer = p;
    e.tree = t;
    e.is_up = true;
    e.who = table.describe_node(p);
    e.sock = connect_to(table.nodes[static_cast<std::size_t>(p)].leader, deadline, e.who);
    Hello h{kHelloMagic, t, my_node, 0, table.job_id};
    send_all(e.sock.fd(), &h, sizeof h, deadline, e.who);
    out.edges.push_back(std::move(e));
  }
  std::vector<Edge> children;
  for (int i = 0; i < expected_children; ++i) {
    Socket s = accept_one(listen.fd(), deadline, "this node's children in the allreduce trees");
    Hello h{};
    recv_all(s.fd(), &h, sizeof h, deadline, "a child node");
    if (h.magic != kHelloMagic || h.job != table.job_id || h.tree < 0 || h.tree > 1)
      fail("a connection to this node's HFReduce port is not from this job");
    const auto& kids = out.links[h.tree].children;
    if (std::find(kids.begin(), kids.end(), h.node) == kids.end())
      fail(table.describe_node(h.node), " connected as a child in tree ", h.tree, " but it is not one");
    Edge e;
    e.peer = h.node;
    e.tree = h.tree;
    e.who = table.describe_node(h.node);
    e.sock = std::move(s);
    children.push_back(std::move(e));
  }
  // children in a fixed order: the order of their contributions in the sum
  std::sort(children.begin(), children.end(),
            [](const Edge& a, const Edge& b) { return a.tree != b.tree ? a.tree < b.tree : a.peer < b.peer; });
  for (Edge& e : children) out.edges.push_back(std::move(e));
  return out;
}

}  // namespace hfreduce
