// The ibverbs transport: RDMA WRITE WITH IMMEDIATE over one RC queue pair per tree edge (ib_tree.cpp). Built
// where rdma-core's headers are (CMake HFREDUCE_IBVERBS); used when every node leader of the job has an active
// RDMA port and HFREDUCE_TRANSPORT is auto or ibverbs.
#pragma once

#include <memory>
#include <string>

#include "internode.hpp"
#include "net.hpp"

namespace hfreduce {

struct IbOptions {
  std::string hca;  // HFREDUCE_IB_HCA: the device (first of a comma list); "" = the first device
  int sl = 0;       // HFREDUCE_IB_SL: the service level of the HFReduce traffic class
  int gid_index = 0;
  std::size_t chunk_bytes = 4u << 20;
};

std::unique_ptr<InterNode> ib_trees(const JobTable& table, int my_node, Socket& listen, Deadline deadline,
                                    const IbOptions& options);
bool ib_device_present(const std::string& hca);  // an RDMA device with an active port 1, named `hca` if given

}  // namespace hfreduce
