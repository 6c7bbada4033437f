// The kernel pair_sum.cu compiles (nvcc), called from gpu.cpp (the host compiler). dtype: DType's value.
#pragma once

#include <cstddef>

#include <cuda_runtime_api.h>

namespace hfreduce::gpu {

// out = mine + peer, n elements, on `device` (the current one) in `stream`
cudaError_t launch_pair_sum(int dtype, void* out, const void* mine, const void* peer, std::size_t n, int device,
                            cudaStream_t stream);

}  // namespace hfreduce::gpu
