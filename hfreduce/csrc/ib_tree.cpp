// The ibverbs transport (built where rdma-core's headers are; HF_WITH_IBVERBS): the same double binary tree as
// the TCP transport, with the data moved by RDMA WRITE WITH IMMEDIATE on one reliable-connected queue pair per tree
// edge, as the paper's HFReduce does (§IV). The TCP connection of each edge stays as the control channel: queue
// pairs are exchanged over it at setup, each call's description (checked by the peer, as with TCP) and the
// address of the buffer the parent writes results into, and an abort.
//
//   child → parent   WRITE_WITH_IMM(UP, c): chunk c of the child's partial sum into the parent's slot c % kSlots
//   parent → child   WRITE_WITH_IMM(CREDIT, c), no data: the parent has summed chunk c, its slot is free again
//   parent → child   WRITE_WITH_IMM(DOWN, c): chunk c of the result into the child's own buffer
//
// A chunk is summed when every child's copy has arrived (the receive completion of its immediate), exactly as the
// TCP transport sums it, so both give the same bits. Traffic carries the SL of the HFReduce class (HFREDUCE_IB_SL).
#include "ib_tree.hpp"

#include <infiniband/verbs.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <poll.h>
#include <sys/socket.h>
#include <vector>

#include "edges.hpp"
#include "error.hpp"

namespace hfreduce {

namespace {

constexpr int kSlots = 4;          // chunks a parent takes ahead from each child
constexpr int kPort = 1;           // HCA port
constexpr int kRecvDepth = 256;    // receives kept posted per queue pair (each immediate consumes one)
constexpr int kSendDepth = 256;    // writes in flight per queue pair
constexpr std::uint32_t kMagic = 0x48464942;  // "HFIB"

enum Imm : std::uint32_t { kUp = 1u << 30, kCredit = 2u << 30, kDown = 3u << 30 };
constexpr std::uint32_t kKindMask = 3u << 30, kChunkMask = ~kKindMask;

struct QpInfo {  // exchanged once per edge
  std::uint32_t magic, qpn, psn;
  std::uint16_t lid, pad;
  std::uint8_t gid[16];
  std::uint64_t slots_addr;  // the parent's receive slots for this child (0 from a child)
  std::uint32_t slots_rkey, mtu;
};

struct CallInfo {  // exchanged per call
  std::uint32_t magic, dtype;
  std::uint64_t seq, count;
  std::uint64_t addr;  // the sender's buffer (the parent writes the result there)
  std::uint32_t rkey, kind;  // kind 0: a call; 1: an abort, followed by `count` bytes of text
};

std::string verbs_error(const char* what, int err) { return cat(what, ": ", std::strerror(err)); }

struct Mr {
  ibv_mr* mr = nullptr;
  ~Mr() {
    if (mr) ibv_dereg_mr(mr);
  }
};

struct Peer {
  Edge edge;
  ibv_qp* qp = nullptr;
  // child edges: where this node receives the child's chunks; parent edges: where the parent takes ours
  std::vector<char> slots;
  std::unique_ptr<Mr> slots_mr;
  std::uint64_t remote_slots = 0;
  std::uint32_t remote_slots_rkey = 0;
  // per call
  std::uint64_t remote_addr = 0;
  std::uint32_t remote_rkey = 0;
  int received = 0;     // child: chunks arrived; parent: result chunks arrived
  int credit = kSlots;  // parent edge: chunks we may send up
  int sent = 0;         // chunks posted to this peer
  int inflight = 0;     // writes posted and not completed
};

struct Tree : TreeCall {
  Peer* up = nullptr;
  std::vector<Peer*> down;
  int final_chunks() const { return up ? up->received : reduced; }
};

class IbTrees final : public InterNode {
 public:
  IbTrees(const JobTable& table, int my_node, Socket& listen, Deadline deadline, const IbOptions& o);
  ~IbTrees() override;
  const char* name() const override { return "ibverbs"; }
  void allreduce(const OpArgs& op) override;
  void abort(const std::string& message) noexcept override;

 private:
  void open_device(const IbOptions& o);
  void connect_qp(Peer& p, const QpInfo& remote);
  ibv_mr* region(char* data, std::size_t bytes);
  void post_recv(Peer& p, int n);
  void post_write(Peer& p, const char* src, std::size_t bytes, std::uint32_t lkey, std::uint64_t dst,
                  std::uint32_t rkey, std::uint32_t imm);
  void progress(Tree& t, const OpArgs& op, std::uint32_t lkey);
  void exchange_calls(const OpArgs& op, std::uint32_t rkey);

  const JobTable& table_;
  int me_;
  ibv_context* ctx_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_cq* cq_ = nullptr;
  ibv_port_attr port_{};
  ibv_gid gid_{};
  int gid_index_ = 0;
  bool use_grh_ = false;
  int sl_ = 0;
  std::size_t chunk_capacity_ = 0;  // bytes of a slot
  std::vector<std::unique_ptr<Peer>> peers_;
  Tree trees_[2];
  std::map<std::pair<char*, std::size_t>, std::unique_ptr<Mr>> regions_;
  int outstanding_ = 0;  // signaled writes not completed yet
  std::size_t esize_ = 4;
  std::string broken_;
};

void IbTrees::open_device(const IbOptions& o) {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr || n == 0) {
    if (list) ibv_free_device_list(list);
    fail("no RDMA device on this host (ibv_get_device_list found none): use the TCP transport");
  }
  ibv_device* dev = nullptr;
  const std::string want = o.hca.substr(0, o.hca.find(','));
  for (int i = 0; i < n && dev == nullptr; ++i)
    if (want.empty() || want == ibv_get_device_name(list[i])) dev = list[i];
  if (dev == nullptr) {
    std::string names;
    for (int i = 0; i < n; ++i) names += cat(i ? ", " : "", ibv_get_device_name(list[i]));
    ibv_free_device_list(list);
    fail("no RDMA device named '", want, "' (HFREDUCE_IB_HCA); this host has ", names);
  }
  ctx_ = ibv_open_device(dev);
  ibv_free_device_list(list);
  if (ctx_ == nullptr) fail(verbs_error("ibv_open_device", errno));
  if (ibv_query_port(ctx_, kPort, &port_) != 0) fail(verbs_error("ibv_query_port", errno));
  if (port_.state != IBV_PORT_ACTIVE) fail("RDMA device ", want, " port ", kPort, " is not active");
  use_grh_ = port_.link_layer == IBV_LINK_LAYER_ETHERNET;  // RoCE addresses by GID; InfiniBand by LID
  gid_index_ = o.gid_index;
  if (ibv_query_gid(ctx_, kPort, gid_index_, &gid_) != 0) fail(verbs_error("ibv_query_gid", errno));
  pd_ = ibv_alloc_pd(ctx_);
  if (pd_ == nullptr) fail(verbs_error("ibv_alloc_pd", errno));
  sl_ = o.sl;
}

IbTrees::IbTrees(const JobTable& table, int my_node, Socket& listen, Deadline deadline, const IbOptions& o)
    : table_(table), me_(my_node), chunk_capacity_(o.chunk_bytes) {
  open_device(o);
  TreeEdges te = connect_tree_edges(table, my_node, listen, deadline);
  // one completion queue for every queue pair's sends and receives
  cq_ = ibv_create_cq(ctx_, static_cast<int>(te.edges.size()) * (kSendDepth + kRecvDepth) + 1, nullptr, nullptr, 0);
  if (cq_ == nullptr) fail(verbs_error("ibv_create_cq", errno));
  for (Edge& e : te.edges) {
    auto p = std::make_unique<Peer>();
    p->edge = std::move(e);
    ibv_qp_init_attr init{};
    init.send_cq = cq_;
    init.recv_cq = cq_;
    init.qp_type = IBV_QPT_RC;
    init.cap.max_send_wr = kSendDepth;
    init.cap.max_recv_wr = kRecvDepth;
    init.cap.max_send_sge = 1;
    init.cap.max_recv_sge = 1;
    p->qp = ibv_create_qp(pd_, &init);
    if (p->qp == nullptr) fail(verbs_error("ibv_create_qp", errno));
    if (!p->edge.is_up) {  // a child's chunks land here
      p->slots.resize(static_cast<std::size_t>(kSlots) * chunk_capacity_);
      p->slots_mr = std::make_unique<Mr>();
      p->slots_mr->mr = ibv_reg_mr(pd_, p->slots.data(), p->slots.size(),
                                   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
      if (p->slots_mr->mr == nullptr) fail(verbs_error("ibv_reg_mr (receive slots)", errno));
    }
    QpInfo mine{kMagic, p->qp->qp_num, p->qp->qp_num & 0xffffff, port_.lid, 0, {}, 0, 0,
                static_cast<std::uint32_t>(port_.active_mtu)};
    std::memcpy(mine.gid, gid_.raw, 16);
    if (p->slots_mr) {
      mine.slots_addr = reinterpret_cast<std::uint64_t>(p->slots.data());
      mine.slots_rkey = p->slots_mr->mr->rkey;
    }
    QpInfo theirs{};
    send_all(p->edge.sock.fd(), &mine, sizeof mine, deadline, p->edge.who);
    recv_all(p->edge.sock.fd(), &theirs, sizeof theirs, deadline, p->edge.who);
    if (theirs.magic != kMagic) fail(p->edge.who, " does not speak HFReduce's ibverbs transport");
    p->remote_slots = theirs.slots_addr;
    p->remote_slots_rkey = theirs.slots_rkey;
    connect_qp(*p, theirs);
    post_recv(*p, kRecvDepth);
    Tree& t = trees_[p->edge.tree];
    if (p->edge.is_up)
      t.up = p.get();
    else
      t.down.push_back(p.get());
    peers_.push_back(std::move(p));
  }
}

void IbTrees::connect_qp(Peer& p, const QpInfo& r) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = kPort;
  a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
  if (ibv_modify_qp(p.qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) != 0)
    fail(verbs_error("ibv_modify_qp INIT", errno));
  a = {};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = static_cast<ibv_mtu>(std::min<std::uint32_t>(r.mtu, port_.active_mtu));
  a.dest_qp_num = r.qpn;
  a.rq_psn = r.psn;
  a.max_dest_rd_atomic = 1;
  a.min_rnr_timer = 12;
  a.ah_attr.dlid = r.lid;
  a.ah_attr.sl = static_cast<std::uint8_t>(sl_);
  a.ah_attr.port_num = kPort;
  if (use_grh_) {
    a.ah_attr.is_global = 1;
    std::memcpy(a.ah_attr.grh.dgid.raw, r.gid, 16);
    a.ah_attr.grh.sgid_index = static_cast<std::uint8_t>(gid_index_);
    a.ah_attr.grh.hop_limit = 1;
    a.ah_attr.grh.traffic_class = static_cast<std::uint8_t>(sl_ << 5);
  }
  if (ibv_modify_qp(p.qp, &a,
                    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                        IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER) != 0)
    fail(verbs_error("ibv_modify_qp RTR", errno), " (to ", p.edge.who, ")");
  a = {};
  a.qp_state = IBV_QPS_RTS;
  a.sq_psn = p.qp->qp_num & 0xffffff;
  a.timeout = 14;  // 4.096 µs × 2^14 ≈ 67 ms per try
  a.retry_cnt = 7;
  a.rnr_retry = 7;
  a.max_rd_atomic = 1;
  if (ibv_modify_qp(p.qp, &a,
                    IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                        IBV_QP_MAX_QP_RD_ATOMIC) != 0)
    fail(verbs_error("ibv_modify_qp RTS", errno), " (to ", p.edge.who, ")");
}

IbTrees::~IbTrees() {
  regions_.clear();
  for (auto& p : peers_) {
    if (p->qp) ibv_destroy_qp(p->qp);
    p->slots_mr.reset();
  }
  if (cq_) ibv_destroy_cq(cq_);
  if (pd_) ibv_dealloc_pd(pd_);
  if (ctx_) ibv_close_device(ctx_);
}

ibv_mr* IbTrees::region(char* data, std::size_t bytes) {
  auto key = std::make_pair(data, bytes);
  auto it = regions_.find(key);
  if (it != regions_.end()) return it->second->mr;
  if (regions_.size() >= 4) regions_.erase(regions_.begin());  // a job reuses a few buffers: keep those pinned
  auto m = std::make_unique<Mr>();
  m->mr = ibv_reg_mr(pd_, data, bytes, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
  if (m->mr == nullptr) fail(verbs_error("ibv_reg_mr (the allreduce buffer)", errno), " (is memlock unlimited?)");
  ibv_mr* mr = m->mr;
  regions_[key] = std::move(m);
  return mr;
}

void IbTrees::post_recv(Peer& p, int n) {
  for (int i = 0; i < n; ++i) {
    ibv_recv_wr wr{};
    wr.wr_id = reinterpret_cast<std::uint64_t>(&p);
    wr.num_sge = 0;  // immediates only: the data itself is written, not sent
    ibv_recv_wr* bad = nullptr;
    if (ibv_post_recv(p.qp, &wr, &bad) != 0) fail(verbs_error("ibv_post_recv", errno));
  }
}

void IbTrees::post_write(Peer& p, const char* src, std::size_t bytes, std::uint32_t lkey, std::uint64_t dst,
                         std::uint32_t rkey, std::uint32_t imm) {
  ibv_sge sge{reinterpret_cast<std::uint64_t>(src), static_cast<std::uint32_t>(bytes), lkey};
  ibv_send_wr wr{};
  wr.wr_id = reinterpret_cast<std::uint64_t>(&p);
  wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
  wr.imm_data = htonl(imm);
  wr.sg_list = bytes ? &sge : nullptr;
  wr.num_sge = bytes ? 1 : 0;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.wr.rdma.remote_addr = dst;
  wr.wr.rdma.rkey = rkey;
  ibv_send_wr* bad = nullptr;
  if (ibv_post_send(p.qp, &wr, &bad) != 0) fail(verbs_error("ibv_post_send", errno), " (to ", p.edge.who, ")");
  ++outstanding_;
  ++p.inflight;
}

// Each side tells its peers what it calls and where the parent writes results; the TCP transport's checks apply.
void IbTrees::exchange_calls(const OpArgs& op, std::uint32_t rkey) {
  const Deadline d = Deadline::in(op.timeout_s);
  for (auto& p : peers_) {
    CallInfo mine{kMagic, static_cast<std::uint32_t>(op.dtype), op.seq, op.count,
                  reinterpret_cast<std::uint64_t>(op.data), rkey, 0};
    send_all(p->edge.sock.fd(), &mine, sizeof mine, d, p->edge.who);
  }
  for (auto& p : peers_) {
    CallInfo theirs{};
    recv_all(p->edge.sock.fd(), &theirs, sizeof theirs, d, p->edge.who);
    if (theirs.magic != kMagic) fail("protocol error from ", p->edge.who);
    if (theirs.kind == 1) {
      std::string text(theirs.count, '\0');
      recv_all(p->edge.sock.fd(), text.data(), text.size(), Deadline::in(5), p->edge.who);
      throw RemoteError(text);
    }
    if (theirs.seq != op.seq || theirs.count != op.count || theirs.dtype != static_cast<std::uint32_t>(op.dtype))
      calls_differ(table_.describe_node(me_), op, p->edge.who, theirs.seq, theirs.count, theirs.dtype);
    p->remote_addr = theirs.addr;
    p->remote_rkey = theirs.rkey;
  }
}

void IbTrees::progress(Tree& t, const OpArgs& op, std::uint32_t lkey) {
  // sum every chunk all children have delivered; free their slots; pass it on
  while (t.reduced < t.chunks) {
    const int c = t.reduced;
    bool ready = true;
    for (Peer* d : t.down) ready &= d->received > c && d->inflight < kSendDepth;
    if (!ready) break;
    const void* in[3];
    int k = 0;
    in[k++] = t.chunk_ptr(c);
    for (Peer* d : t.down) in[k++] = d->slots.data() + static_cast<std::size_t>(c % kSlots) * chunk_capacity_;
    if (k > 1) reduce(op.simd, op.dtype, t.chunk_ptr(c), in, k, t.chunk_bytes(c) / esize_);
    for (Peer* d : t.down) post_write(*d, nullptr, 0, 0, 0, 0, kCredit | static_cast<std::uint32_t>(c));
    ++t.reduced;
  }
  if (t.up) {
    Peer& u = *t.up;
    while (u.sent < t.reduced && u.sent < u.credit && u.inflight < kSendDepth) {
      const int c = u.sent++;
      post_write(u, t.chunk_ptr(c), t.chunk_bytes(c), lkey,
                 u.remote_slots + static_cast<std::uint64_t>(c % kSlots) * chunk_capacity_, u.remote_slots_rkey,
                 kUp | static_cast<std::uint32_t>(c));
    }
  }
  const int fin = t.final_chunks();
  for (Peer* d : t.down)
    while (d->sent < fin && d->inflight < kSendDepth) {
      const int c = d->sent++;
      const std::size_t off = static_cast<std::size_t>(t.chunk_ptr(c) - op.data);
      post_write(*d, t.chunk_ptr(c), t.chunk_bytes(c), lkey, d->remote_addr + off, d->remote_rkey,
                 kDown | static_cast<std::uint32_t>(c));
    }
}

void IbTrees::allreduce(const OpArgs& op) {
  if (!broken_.empty()) fail("the communicator failed earlier: ", broken_);
  esize_ = dtype_size(op.dtype);
  const std::size_t chunk_elems = std::max<std::size_t>(1, std::min(op.chunk_bytes, chunk_capacity_) / esize_);
  ibv_mr* mr = region(op.data, std::max<std::size_t>(op.count * esize_, 1));
  exchange_calls(op, mr->rkey);
  for (int ti = 0; ti < 2; ++ti) trees_[ti].begin(ti, op, chunk_elems, trees_[ti].down.empty());
  for (auto& p : peers_) {
    p->received = 0;
    p->sent = 0;
    p->credit = kSlots;
  }
  auto done = [&] {
    for (const Tree& t : trees_) {
      if (t.reduced < t.chunks || t.final_chunks() < t.chunks) return false;
      if (t.up && t.up->sent < t.chunks) return false;
      for (const Peer* d : t.down)
        if (d->sent < t.chunks) return false;
    }
    return outstanding_ == 0;
  };
  Deadline idle = Deadline::in(op.timeout_s);
  ibv_wc wc[32];
  while (!done()) {
    for (Tree& t : trees_) progress(t, op, mr->lkey);
    const int n = ibv_poll_cq(cq_, 32, wc);
    if (n < 0) fail("ibv_poll_cq failed");
    for (int i = 0; i < n; ++i) {
      Peer& p = *reinterpret_cast<Peer*>(wc[i].wr_id);
      if (wc[i].status != IBV_WC_SUCCESS)
        fail("RDMA with ", p.edge.who, " failed during allreduce #", op.seq, ": ", ibv_wc_status_str(wc[i].status),
             " (its HCA, link or process is gone)");
      if (wc[i].opcode == IBV_WC_RDMA_WRITE) {
        --outstanding_;
        --p.inflight;
        continue;
      }
      if (wc[i].opcode != IBV_WC_RECV_RDMA_WITH_IMM) continue;
      post_recv(p, 1);
      const std::uint32_t imm = ntohl(wc[i].imm_data);
      const int c = static_cast<int>(imm & kChunkMask);
      switch (imm & kKindMask) {
        case kUp:  // a child's chunk is in its slot
        case kDown:  // our parent's result chunk is in our buffer
          p.received = std::max(p.received, c + 1);
          break;
        case kCredit:
          p.credit = std::max(p.credit, c + 1 + kSlots);
          break;
        default:
          fail("protocol error from ", p.edge.who);
      }
    }
    if (op.tick) op.tick(n > 0);
    if (n > 0) {
      idle = Deadline::in(op.timeout_s);
    } else if (idle.passed()) {
      fail("allreduce #", op.seq, " made no progress for ", op.timeout_s, " s (RDMA)");
    } else {
      // nothing completed: look at the control channels (an abort) without spinning on a shared core
      for (auto& p : peers_) {
        pollfd pf{p->edge.sock.fd(), POLLIN, 0};
        if (::poll(&pf, 1, 0) > 0) {
          CallInfo c{};
          recv_all(p->edge.sock.fd(), &c, sizeof c, Deadline::in(5), p->edge.who);
          if (c.magic == kMagic && c.kind == 1) {
            std::string text(c.count, '\0');
            recv_all(p->edge.sock.fd(), text.data(), text.size(), Deadline::in(5), p->edge.who);
            throw RemoteError(text);
          }
          fail("lost the control connection to ", p->edge.who, " during allreduce #", op.seq);
        }
      }
    }
  }
}

void IbTrees::abort(const std::string& message) noexcept {
  if (!broken_.empty()) return;
  broken_ = message;
  for (auto& p : peers_) {
    try {
      CallInfo c{kMagic, 0, 0, message.size(), 0, 0, 1};
      send_all(p->edge.sock.fd(), &c, sizeof c, Deadline::in(1), p->edge.who);
      send_all(p->edge.sock.fd(), message.data(), message.size(), Deadline::in(1), p->edge.who);
    } catch (...) {  // that peer is gone; the others still hear
    }
    ::shutdown(p->edge.sock.fd(), SHUT_WR);
    if (p->qp) {
      ibv_qp_attr a{};
      a.qp_state = IBV_QPS_ERR;  // flush what is in flight: nothing more lands in our buffers
      ibv_modify_qp(p->qp, &a, IBV_QP_STATE);
    }
  }
}

}  // namespace

std::unique_ptr<InterNode> ib_trees(const JobTable& table, int my_node, Socket& listen, Deadline deadline,
                                    const IbOptions& options) {
  return std::make_unique<IbTrees>(table, my_node, listen, deadline, options);
}

bool ib_device_present(const std::string& hca) {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) return false;
  const std::string want = hca.substr(0, hca.find(','));
  bool ok = false;
  for (int i = 0; i < n && !ok; ++i) {
    if (!want.empty() && want != ibv_get_device_name(list[i])) continue;
    ibv_context* c = ibv_open_device(list[i]);
    if (c == nullptr) continue;
    ibv_port_attr a{};
    ok = ibv_query_port(c, kPort, &a) == 0 && a.state == IBV_PORT_ACTIVE;
    ibv_close_device(c);
  }
  ibv_free_device_list(list);
  return ok;
}

}  // namespace hfreduce
