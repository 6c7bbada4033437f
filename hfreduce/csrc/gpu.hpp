// The GPU path (built where CUDA's runtime headers are; HF_WITH_CUDA): a GPU buffer is copied to host memory by
// the GPU's copy engines (cudaMemcpyAsync; no kernel, no SM), summed there like any host buffer, and copied back.
// A rank's own shared-memory slot is its D2H destination, registered (pinned) with CUDA once, so the copy is one DMA.
// GPUs that share a PCIe root port share its bandwidth (paper §IV-D3): their ranks take turns for the D2H copy.
// NVLink pairs (HF_WITH_NVLINK: pair_sum.cu built by nvcc) stage their buffers in device memory that the partner
// maps through CUDA IPC, and sum across the bridge with one kernel.
#pragma once

#include <cstddef>
#include <string>

#include "kernels.hpp"

namespace hfreduce::gpu {

bool built();  // this build has the GPU path
void to_host(void* host, const void* device_ptr, std::size_t bytes, int device);
void to_device(void* device_ptr, const void* host, std::size_t bytes, int device);
// Every call makes its `device` the thread's current GPU first (and leaves it so).
void pin(void* host, std::size_t bytes, int device);  // cudaHostRegister: once per mapping
void* alloc_pinned(std::size_t bytes, int device);    // a staging buffer for a rank alone on its node
void free_pinned(void* p);
std::string pci_bus_id(int device);  // "0000:01:00.0"
int device_by_pci(const std::string& bus_id);  // the CUDA device with that PCI bus id in this process, or -1

constexpr std::size_t kIpcHandleBytes = 64;  // CUDA_IPC_HANDLE_SIZE
bool nvlink_built();  // this build has the pair kernel
void* alloc_device(std::size_t bytes, int device);
void free_device(void* p, int device);
void ipc_export(void* device_ptr, char* handle, int device);  // handle: kIpcHandleBytes
// Maps the partner's exported buffer (on `peer_device`) into this process, for kernels on `device`.
void* ipc_open(const char* handle, int device, int peer_device);
void ipc_close(void* p, int device);
// Queued on this process's stream; sync() waits for everything queued.
void copy_on_device(void* dst, const void* src, std::size_t bytes, int device);
void pair_sum(void* out, const void* mine, const void* peer, std::size_t count, DType dtype, int device);  // out = mine + peer
void sync(int device);

}  // namespace hfreduce::gpu
