// The kernel pair_sum.cu compiles (nvcc), called from gpu.cpp (the host compiler). dtype: DType's value.
#pragma once

#include <cstddef>

#include <cuda_runtime_api.h>

namespace hfreduce::gpu {

cudaError_t launch_pair_add(int dtype, void* mine, const void* peer, std::size_t n, cudaStream_t stream);

}  // namespace hfreduce::gpu
