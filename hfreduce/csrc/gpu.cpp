#include "gpu.hpp"

#include "error.hpp"

#ifdef HF_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace hfreduce::gpu {

#ifdef HF_WITH_CUDA

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(what, ": ", cudaGetErrorString(e));
}

// One stream per process: the copies of one call are ordered, and cudaStreamSynchronize waits for just them.
cudaStream_t stream_for(int device) {
  static thread_local int current = -1;
  static thread_local cudaStream_t stream = nullptr;
  if (current != device) {
    check(cudaSetDevice(device), "cudaSetDevice");
    if (stream) cudaStreamDestroy(stream);
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    current = device;
  }
  return stream;
}

}  // namespace

bool built() { return true; }

void to_host(void* host, const void* device_ptr, std::size_t bytes, int device) {
  cudaStream_t s = stream_for(device);
  check(cudaMemcpyAsync(host, device_ptr, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (GPU to host)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (GPU to host)");
}

void to_device(void* device_ptr, const void* host, std::size_t bytes, int device) {
  cudaStream_t s = stream_for(device);
  check(cudaMemcpyAsync(device_ptr, host, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (host to GPU)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (host to GPU)");
}

void pin(void* host, std::size_t bytes) {
  const cudaError_t e = cudaHostRegister(host, bytes, cudaHostRegisterPortable);
  if (e == cudaErrorHostMemoryAlreadyRegistered) {
    cudaGetLastError();  // clear it: registered before is what we want
    return;
  }
  check(e, "cudaHostRegister (the node's shared memory)");
}

void* alloc_pinned(std::size_t bytes) {
  void* p = nullptr;
  check(cudaMallocHost(&p, bytes), "cudaMallocHost");
  return p;
}

void free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

#else

bool built() { return false; }
[[noreturn]] static void absent() { fail("this build of HFReduce has no GPU path (built without CUDA)"); }
void to_host(void*, const void*, std::size_t, int) { absent(); }
void to_device(void*, const void*, std::size_t, int) { absent(); }
void pin(void*, std::size_t) { absent(); }
void* alloc_pinned(std::size_t) { absent(); }
void free_pinned(void*) {}

#endif

}  // namespace hfreduce::gpu
