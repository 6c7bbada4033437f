#include "tcp_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "error.hpp"
#include "edges.hpp"
#include "tree.hpp"

namespace hfreduce {

namespace {

constexpr int kSlots = 4;  // chunks a parent buffers per child: enough to keep the child sending while it reduces

enum Kind : std::uint32_t { kOp = 1, kData = 2, kAbort = 3 };

struct Frame {
  std::uint32_t kind, len;
};

struct OpHeader {
  std::uint64_t seq, count;
  std::uint32_t dtype, pad;
};

struct Link;

// One direction of one connection: the frames we send.
struct Out {
  Frame hdr{};
  OpHeader op{};
  const char* payload = nullptr;
  std::size_t len = 0, off = 0;  // off counts header and payload bytes sent
  bool busy = false;
  int started = 0;  // data frames started (the op frame is not counted)
  int sent = 0;     // data frames completed
  bool op_sent = false;

  void start(std::uint32_t kind, const char* p, std::size_t n) {
    hdr = {kind, static_cast<std::uint32_t>(n)};
    payload = p;
    len = n;
    off = 0;
    busy = true;
  }
  // false if the socket would block; throws on a broken connection
  bool pump(int fd, const std::string& who) {
    while (busy) {
      iovec v[2];
      int nv = 0;
      if (off < sizeof hdr) v[nv++] = {reinterpret_cast<char*>(&hdr) + off, sizeof hdr - off};
      const std::size_t poff = off > sizeof hdr ? off - sizeof hdr : 0;
      if (poff < len) v[nv++] = {const_cast<char*>(payload) + poff, len - poff};
      msghdr m{};
      m.msg_iov = v;
      m.msg_iovlen = static_cast<std::size_t>(nv);
      ssize_t r = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        if (errno == EINTR) continue;
        fail("lost the connection to ", who, " (", std::strerror(errno), ")");
      }
      off += static_cast<std::size_t>(r);
      if (off == sizeof hdr + len) {
        busy = false;
        if (hdr.kind == kData) ++sent;
        if (hdr.kind == kOp) op_sent = true;
      }
    }
    return true;
  }
};

// The other direction: the frames we receive.
struct In {
  Frame hdr{};
  std::size_t hdr_got = 0;
  char* dst = nullptr;
  std::size_t got = 0;
  bool in_payload = false;
  bool op_received = false;
  OpHeader op{};
  int received = 0;  // data frames completed
  bool peer_closed = false;
  std::string abort_text;
};

struct Link {
  Socket sock;
  int peer = -1;  // node index
  int tree = 0;
  bool is_up = false;  // the link to this node's parent in its tree
  bool hung_up = false;  // the peer closed or reset; read only when its data is wanted
  std::string who;
  Out out;
  In in;
};

struct TreeState : TreeCall {
  TreeLinks links;
  Link* up = nullptr;
  std::vector<Link*> down;
  std::vector<std::vector<char>> slots;  // per child: kSlots chunks
  int final_chunks() const { return up ? up_final : reduced; }
  int up_final = 0;  // chunks of the result received from the parent
};

class TcpTrees final : public InterNode {
 public:
  TcpTrees(const JobTable& table, int my_node, Socket& listen, Deadline deadline, int sockbuf);
  const char* name() const override { return "tcp"; }
  void allreduce(const OpArgs& op) override;
  void abort(const std::string& message) noexcept override;

 private:
  void start_frames(TreeState& t);
  void reduce_ready(TreeState& t, const OpArgs& op);
  bool wants_input(const TreeState& t, const Link& l, bool is_up) const;
  bool read(TreeState& t, Link& l, bool is_up, const OpArgs& op);
  [[noreturn]] void lost(Link& l, const OpArgs& op);
  std::string stalled(const OpArgs& op) const;

  const JobTable& table_;
  int me_;
  std::vector<std::unique_ptr<Link>> links_;
  TreeState trees_[2];
  std::size_t esize_ = 4;
  std::string broken_;
};

TcpTrees::TcpTrees(const JobTable& table, int my_node, Socket& listen, Deadline deadline, int sockbuf)
    : table_(table), me_(my_node) {
  TreeEdges te = connect_tree_edges(table, my_node, listen, deadline);
  for (int t = 0; t < 2; ++t) trees_[t].links = te.links[t];
  for (Edge& e : te.edges) {  // parents first, then children in summation order (edges.hpp)
    auto l = std::make_unique<Link>();
    l->peer = e.peer;
    l->tree = e.tree;
    l->is_up = e.is_up;
    l->who = e.who;
    l->sock = std::move(e.sock);
    tune_stream(l->sock.fd(), sockbuf);
    set_nonblocking(l->sock.fd(), true);
    if (l->is_up)
      trees_[l->tree].up = l.get();
    else
      trees_[l->tree].down.push_back(l.get());
    links_.push_back(std::move(l));
  }
}

void TcpTrees::start_frames(TreeState& t) {
  auto feed = [&](Link& l, int ready) {
    if (l.out.busy) return;
    if (!l.out.op_sent) return;  // the op frame was started at the beginning of the call
    if (l.out.started < ready) {
      const int c = l.out.started++;
      l.out.start(kData, t.chunk_ptr(c), t.chunk_bytes(c));
    }
  };
  if (t.up) feed(*t.up, t.reduced);
  for (Link* d : t.down) feed(*d, t.final_chunks());
}

void TcpTrees::reduce_ready(TreeState& t, const OpArgs& op) {
  while (t.reduced < t.chunks) {
    const int c = t.reduced;
    for (Link* d : t.down)
      if (d->in.received <= c) return;
    const void* in[3];
    int k = 0;
    in[k++] = t.chunk_ptr(c);
    for (std::size_t j = 0; j < t.down.size(); ++j)
      in[k++] = t.slots[j].data() + static_cast<std::size_t>(c % kSlots) * t.chunk_elems * esize_;
    if (k > 1) reduce(op.simd, op.dtype, t.chunk_ptr(c), in, k, t.chunk_bytes(c) / esize_);
    ++t.reduced;
  }
}

bool TcpTrees::wants_input(const TreeState& t, const Link& l, bool is_up) const {
  if (!l.in.op_received || l.in.in_payload || l.in.hdr_got > 0) return true;
  if (is_up) return t.up_final < t.chunks;
  return l.in.received < t.chunks && l.in.received < t.reduced + kSlots;
}

// Reads what is there; true if anything moved.
bool TcpTrees::read(TreeState& t, Link& l, bool is_up, const OpArgs& op) {
  bool moved = false;
  In& in = l.in;
  // recv's outcome: bytes read (> 0); 0: interrupted, try again; -1: nothing there yet. A connection that ended or
  // broke ends the call (lost()).
  auto outcome = [&](ssize_t r) -> ssize_t {
    if (r > 0) return r;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -1;
    if (r < 0 && errno == EINTR) return 0;
    lost(l, op);
  };
  while (wants_input(t, l, is_up)) {
    if (!in.in_payload) {
      const ssize_t r = outcome(::recv(l.sock.fd(), reinterpret_cast<char*>(&in.hdr) + in.hdr_got,
                                       sizeof in.hdr - in.hdr_got, MSG_DONTWAIT));
      if (r < 0) return moved;
      if (r == 0) continue;
      moved = true;
      in.hdr_got += static_cast<std::size_t>(r);
      if (in.hdr_got < sizeof in.hdr) continue;
      in.hdr_got = 0;
      in.got = 0;
      if (in.hdr.kind == kAbort) {
        std::string text(in.hdr.len, '\0');
        recv_all(l.sock.fd(), text.data(), text.size(), Deadline::in(5), l.who);
        throw RemoteError(text);
      }
      if (in.hdr.kind == kOp) {
        if (in.op_received || in.hdr.len != sizeof(OpHeader)) fail("protocol error from ", l.who);
        recv_all(l.sock.fd(), &in.op, sizeof in.op, Deadline::in(op.timeout_s), l.who);
        in.op_received = true;
        if (in.op.seq != op.seq || in.op.count != op.count || in.op.dtype != static_cast<std::uint32_t>(op.dtype))
          calls_differ(table_.describe_node(me_), op, l.who, in.op.seq, in.op.count, in.op.dtype);
        continue;
      }
      if (in.hdr.kind != kData || !in.op_received) fail("protocol error from ", l.who);
      const int c = is_up ? t.up_final : in.received;
      if (c >= t.chunks || in.hdr.len != t.chunk_bytes(c)) fail("protocol error from ", l.who, ": unexpected chunk");
      if (is_up) {
        in.dst = t.chunk_ptr(c);
      } else {
        const std::size_t j = static_cast<std::size_t>(std::find(t.down.begin(), t.down.end(), &l) - t.down.begin());
        in.dst = t.slots[j].data() + static_cast<std::size_t>(c % kSlots) * t.chunk_elems * esize_;
      }
      in.in_payload = true;
    }
    const ssize_t r = outcome(::recv(l.sock.fd(), in.dst + in.got, in.hdr.len - in.got, MSG_DONTWAIT));
    if (r < 0) return moved;
    if (r == 0) continue;
    moved = true;
    in.got += static_cast<std::size_t>(r);
    if (in.got == in.hdr.len) {
      in.in_payload = false;
      if (is_up)
        ++t.up_final;
      else
        ++in.received;
    }
  }
  return moved;
}

// The connection ended in the middle of a call: if the peer said why before closing, that is the error;
// otherwise the peer itself is gone.
void TcpTrees::lost(Link& l, const OpArgs& op) {
  In& in = l.in;
  Deadline d = Deadline::in(2);
  std::vector<char> sink(1 << 16);
  std::string said;
  try {
    if (in.in_payload) {  // skip the rest of the frame we were reading
      for (std::size_t left = in.hdr.len - in.got; left > 0;) {
        const std::size_t n = std::min(left, sink.size());
        recv_all(l.sock.fd(), sink.data(), n, d, l.who);
        left -= n;
      }
    }
    while (said.empty()) {
      Frame f{};
      recv_all(l.sock.fd(), &f, sizeof f, d, l.who);
      std::string text(f.len, '\0');
      recv_all(l.sock.fd(), text.data(), text.size(), d, l.who);
      if (f.kind == kAbort) said = text;
    }
  } catch (const Error&) {  // the stream ended without an abort frame
  }
  if (!said.empty()) throw RemoteError(said);
  fail("lost the connection to ", l.who, " during allreduce #", op.seq, ": its leader, rank ",
       table_.nodes[static_cast<std::size_t>(l.peer)].ranks.front(), ", ended or the network between us failed");
}

std::string TcpTrees::stalled(const OpArgs& op) const {
  std::vector<std::string> waiting;
  auto add = [&](const std::string& what) {
    if (std::find(waiting.begin(), waiting.end(), what) == waiting.end()) waiting.push_back(what);
  };
  for (const auto& t : trees_) {
    if (t.up && t.up_final < t.chunks) add(cat("the result from ", t.up->who));
    for (const Link* d : t.down)
      if (d->in.received < t.chunks && d->in.received <= t.reduced) add(cat("data from ", d->who));
  }
  std::string list;
  for (const auto& w : waiting) list += cat(list.empty() ? "" : "; ", w);
  return cat("allreduce #", op.seq, " made no progress for ", op.timeout_s, " s",
             list.empty() ? std::string() : cat(", waiting for ", list));
}

void TcpTrees::allreduce(const OpArgs& op) {
  if (!broken_.empty()) fail("the communicator failed earlier: ", broken_);
  esize_ = dtype_size(op.dtype);
  const std::size_t chunk_elems = std::max<std::size_t>(1, op.chunk_bytes / esize_);
  for (int ti = 0; ti < 2; ++ti) {
    TreeState& t = trees_[ti];
    t.begin(ti, op, chunk_elems, t.down.empty());
    t.up_final = 0;
    t.slots.resize(t.down.size());
    for (auto& s : t.slots) s.resize(static_cast<std::size_t>(kSlots) * chunk_elems * esize_);
  }
  for (auto& l : links_) {
    l->out = Out{};
    l->in = In{};
    l->out.op = {op.seq, op.count, static_cast<std::uint32_t>(op.dtype), 0};
    l->out.start(kOp, reinterpret_cast<const char*>(&l->out.op), sizeof l->out.op);
  }
  auto done = [&] {
    for (const auto& t : trees_) {
      if (t.reduced < t.chunks || t.final_chunks() < t.chunks) return false;
      if (t.up && (t.up->out.sent < t.chunks || t.up->out.busy || !t.up->in.op_received)) return false;
      for (const Link* d : t.down)
        if (d->out.sent < t.chunks || d->out.busy || !d->in.op_received) return false;
    }
    return true;
  };
  std::vector<pollfd> fds(links_.size());
  Deadline idle = Deadline::in(op.timeout_s);
  while (!done()) {
    bool moved = false;
    for (auto& t : trees_) {
      reduce_ready(t, op);
      start_frames(t);
    }
    for (std::size_t i = 0; i < links_.size(); ++i) {
      Link& l = *links_[i];
      const bool want = wants_input(trees_[l.tree], l, l.is_up);
      short ev = 0;
      if (l.out.busy) ev |= POLLOUT;
      if (want) ev |= POLLIN;
      // a peer that hung up is polled only when we need its bytes (poll reports a hang-up whether asked or not)
      fds[i] = {l.hung_up && !want && !l.out.busy ? -1 : l.sock.fd(), ev, 0};
    }
    int r = ::poll(fds.data(), fds.size(), idle.ms_left(100));
    if (r < 0 && errno != EINTR) fail("poll: ", std::strerror(errno));
    for (std::size_t i = 0; i < links_.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Link& l = *links_[i];
      TreeState& t = trees_[l.tree];
      if (fds[i].revents & (POLLERR | POLLHUP)) l.hung_up = true;
      if (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) moved |= read(t, l, l.is_up, op);
      if (l.out.busy && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
        const int before = l.out.sent;
        const std::size_t off = l.out.off;
        l.out.pump(l.sock.fd(), l.who);
        moved |= l.out.sent != before || l.out.off != off;
      }
    }
    if (op.tick) op.tick(moved);
    if (moved) {
      idle = Deadline::in(op.timeout_s);
    } else if (idle.passed()) {
      fail(stalled(op));
    }
  }
}

void TcpTrees::abort(const std::string& message) noexcept {
  if (!broken_.empty()) return;
  broken_ = message;
  for (auto& l : links_) {
    if (!l->sock) continue;
    try {
      Deadline d = Deadline::in(1);
      set_nonblocking(l->sock.fd(), true);
      // finish the frame in flight, so the peer can parse the abort after it
      while (l->out.busy && !d.passed())
        if (!l->out.pump(l->sock.fd(), l->who)) {
          pollfd p{l->sock.fd(), POLLOUT, 0};
          ::poll(&p, 1, d.ms_left(100));
        }
      if (!l->out.busy) {
        Frame f{kAbort, static_cast<std::uint32_t>(message.size())};
        send_all(l->sock.fd(), &f, sizeof f, d, l->who);
        send_all(l->sock.fd(), message.data(), message.size(), d, l->who);
      }
    } catch (...) {  // that peer is gone or stuck; the others still hear
    }
    ::shutdown(l->sock.fd(), SHUT_WR);
  }
}

}  // namespace

std::unique_ptr<InterNode> tcp_trees(const JobTable& table, int my_node, Socket& listen, Deadline deadline,
                                     int socket_buffer_bytes) {
  return std::make_unique<TcpTrees>(table, my_node, listen, deadline, socket_buffer_bytes);
}

}  // namespace hfreduce
