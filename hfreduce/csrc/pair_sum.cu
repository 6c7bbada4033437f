// The one GPU kernel of HFReduce, for NVLink pairs: out[i] = mine[i] + peer[i], where `peer` is the partner GPU's
// staging buffer mapped into this process (CUDA IPC), read over the NVLink Bridge. Half-precision elements are
// added in fp32 and the pair's sum rounded to nearest even; the CPU then sums the pairs' rounded sums, so a paired
// result may differ from an unpaired one by that one rounding. Built by nvcc where HFREDUCE_NVLINK finds it.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "gpu_kernels.hpp"

namespace hfreduce::gpu {

namespace {

__device__ inline float to_f(float x) { return x; }
__device__ inline float to_f(__half x) { return __half2float(x); }
__device__ inline float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T> __device__ inline T from_f(float x);
template <> __device__ inline float from_f<float>(float x) { return x; }
template <> __device__ inline __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// 16 bytes per thread and step where both buffers allow it (the callers' halves start 128-byte aligned), then the
// tail one element at a time.
template <typename T>
__global__ void sum_into(T* __restrict__ out, const T* __restrict__ mine, const T* __restrict__ peer, std::size_t n) {
  constexpr std::size_t kVec = 16 / sizeof(T);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t first = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  std::size_t vec_end = 0;
  const std::uintptr_t addresses = reinterpret_cast<std::uintptr_t>(out) | reinterpret_cast<std::uintptr_t>(mine) |
                                   reinterpret_cast<std::uintptr_t>(peer);
  if (addresses % 16 == 0) {
    vec_end = n / kVec * kVec;
    for (std::size_t v = first; v < n / kVec; v += stride) {
      uint4 a = reinterpret_cast<const uint4*>(mine)[v];
      const uint4 b = reinterpret_cast<const uint4*>(peer)[v];
      T* x = reinterpret_cast<T*>(&a);
      const T* y = reinterpret_cast<const T*>(&b);
#pragma unroll
      for (std::size_t k = 0; k < kVec; ++k) x[k] = from_f<T>(to_f(x[k]) + to_f(y[k]));
      reinterpret_cast<uint4*>(out)[v] = a;
    }
  }
  for (std::size_t i = vec_end + first; i < n; i += stride) out[i] = from_f<T>(to_f(mine[i]) + to_f(peer[i]));
}

template <typename T>
cudaError_t launch(void* out, const void* mine, const void* peer, std::size_t n, int device, cudaStream_t stream) {
  int sms = 0;
  const cudaError_t e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (e != cudaSuccess) return e;
  // a few blocks per SM keep the NVLink reads in flight; the grid-stride loop covers any n
  const std::size_t want = (n / (16 / sizeof(T)) + 255) / 256;
  const unsigned blocks = static_cast<unsigned>(want < 1 ? 1 : want > 4u * sms ? 4u * sms : want);
  sum_into<T><<<blocks, 256, 0, stream>>>(static_cast<T*>(out), static_cast<const T*>(mine),
                                          static_cast<const T*>(peer), n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_pair_sum(int dtype, void* out, const void* mine, const void* peer, std::size_t n, int device,
                            cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (dtype) {
    case 0:
      return launch<float>(out, mine, peer, n, device, stream);
    case 1:
      return launch<__half>(out, mine, peer, n, device, stream);
    case 2:
      return launch<__nv_bfloat16>(out, mine, peer, n, device, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace hfreduce::gpu
