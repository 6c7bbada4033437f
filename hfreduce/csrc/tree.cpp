#include "tree.hpp"

namespace hfreduce {

int tree0_parent(int n, int node) {
  if (node == 0) return -1;
  const int bit = node & -node;
  int up = (node ^ bit) | (bit << 1);
  if (up >= n) up = node ^ bit;
  return up;
}

int tree_parent(int tree, int n, int node) {
  if (tree == 0) return tree0_parent(n, node);
  // tree 1: relabel, take tree 0's parent, label back
  auto to = [n](int x) { return n % 2 == 0 ? n - 1 - x : (x + n - 1) % n; };
  auto from = [n](int y) { return n % 2 == 0 ? n - 1 - y : (y + 1) % n; };
  const int p = tree0_parent(n, to(node));
  return p < 0 ? -1 : from(p);
}

TreeLinks tree_links(int tree, int n, int node) {
  TreeLinks links;
  links.parent = tree_parent(tree, n, node);
  for (int c = 0; c < n; ++c)  // derived from the parents, so the two always agree
    if (c != node && tree_parent(tree, n, c) == node) links.children.push_back(c);
  return links;
}

}  // namespace hfreduce
