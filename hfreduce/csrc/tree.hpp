// The double binary tree over a job's nodes. Tree 0 numbers the nodes in order: a node's parent is found by
// clearing its lowest set bit and setting the next one (or, past the end, just clearing it), so half the nodes
// are leaves. Tree 1 is tree 0 mirrored (even node counts) or shifted by one (odd), which makes most leaves of
// one tree the inner nodes of the other: each node sends and receives about one buffer per phase in all.
#pragma once

#include <array>
#include <vector>

namespace hfreduce {

struct TreeLinks {
  int parent = -1;  // -1: the root
  std::vector<int> children;
};

int tree0_parent(int n, int node);
int tree_parent(int tree, int n, int node);
TreeLinks tree_links(int tree, int n, int node);

}  // namespace hfreduce
