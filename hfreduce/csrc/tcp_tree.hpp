// The TCP transport: one connection per tree edge, non-blocking sockets driven by one poll loop. Every message
// is a frame (kind, length): the call's description first (checked by the peer: same call number, element count
// and type), then one frame per chunk, or an abort carrying the error that ended the job.
#pragma once

#include <memory>
#include <vector>

#include "internode.hpp"
#include "net.hpp"

namespace hfreduce {

std::unique_ptr<InterNode> tcp_trees(const JobTable& table, int my_node, Socket& listen, Deadline deadline,
                                     int socket_buffer_bytes);

}  // namespace hfreduce
