// The GPU path (built where CUDA's runtime headers are; HF_WITH_CUDA): a GPU buffer is copied to host memory by
// the GPU's copy engines (cudaMemcpyAsync; no kernel, no SM), summed there like any host buffer, and copied back.
// A rank's own shared-memory slot is its D2H destination, registered (pinned) with CUDA once, so the copy is one DMA.
// GPUs that share a PCIe root port share its bandwidth (paper §IV-D3): their ranks take turns for the D2H copy.
#pragma once

#include <cstddef>

namespace hfreduce::gpu {

bool built();  // this build has the GPU path
void to_host(void* host, const void* device_ptr, std::size_t bytes, int device);
void to_device(void* device_ptr, const void* host, std::size_t bytes, int device);
void pin(void* host, std::size_t bytes);      // cudaHostRegister: once per mapping
void* alloc_pinned(std::size_t bytes);        // a staging buffer for a rank alone on its node
void free_pinned(void* p);

}  // namespace hfreduce::gpu
