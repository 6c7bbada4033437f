#include "gpu.hpp"

#include "error.hpp"

#include <cstring>

#ifdef HF_WITH_CUDA
#include <cuda_runtime_api.h>
#endif
#ifdef HF_WITH_NVLINK
#include "gpu_kernels.hpp"
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

bool nvlink_built() {
#ifdef HF_WITH_NVLINK
  return true;
#else
  return false;
#endif
}

void* alloc_device(std::size_t bytes, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  void* p = nullptr;
  check(cudaMalloc(&p, bytes), "cudaMalloc (the NVLink pair's staging buffer)");
  return p;
}

void free_device(void* p, int device) {
  if (!p) return;
  cudaSetDevice(device);
  cudaFree(p);
}

void ipc_export(void* device_ptr, char* handle, int device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  cudaIpcMemHandle_t h;
  check(cudaIpcGetMemHandle(&h, device_ptr), "cudaIpcGetMemHandle");
  static_assert(sizeof h == kIpcHandleBytes, "CUDA's IPC handle size");
  std::memcpy(handle, &h, sizeof h);
}

void* ipc_open(const char* handle, int device, int peer_device) {
  check(cudaSetDevice(device), "cudaSetDevice");
  int can = 0;
  check(cudaDeviceCanAccessPeer(&can, device, peer_device), "cudaDeviceCanAccessPeer");
  if (!can)
    fail("GPU ", device, " cannot reach GPU ", peer_device, " directly, but HFREDUCE_NVLINK_PAIRS pairs them: ",
         "check the NVLink Bridge (nvidia-smi nvlink --status) or the profile's gpus.nvlink_pairs");
  cudaIpcMemHandle_t h;
  std::memcpy(&h, handle, sizeof h);
  void* p = nullptr;
  check(cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess), "cudaIpcOpenMemHandle (the partner GPU's buffer)");
  return p;
}

void ipc_close(void* p, int device) {
  if (!p) return;
  cudaSetDevice(device);
  cudaIpcCloseMemHandle(p);
}

void copy_on_device(void* dst, const void* src, std::size_t bytes, int device) {
  if (bytes == 0) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_for(device)), "cudaMemcpyAsync (on the GPU)");
}

void add_from_peer(void* mine, const void* peer, std::size_t count, DType dtype, int device) {
#ifdef HF_WITH_NVLINK
  check(launch_pair_add(static_cast<int>(dtype), mine, peer, count, stream_for(device)), "the NVLink pair kernel");
#else
  (void)mine, (void)peer, (void)count, (void)dtype, (void)device;
  fail("this build of HFReduce has no NVLink pair kernel (built without nvcc)");
#endif
}

void sync(int device) { check(cudaStreamSynchronize(stream_for(device)), "cudaStreamSynchronize"); }

#else

bool built() { return false; }
[[noreturn]] static void absent() { fail("this build of HFReduce has no GPU path (built without CUDA)"); }
void to_host(void*, const void*, std::size_t, int) { absent(); }
void to_device(void*, const void*, std::size_t, int) { absent(); }
void pin(void*, std::size_t) { absent(); }
void* alloc_pinned(std::size_t) { absent(); }
void free_pinned(void*) {}
bool nvlink_built() { return false; }
void* alloc_device(std::size_t, int) { absent(); }
void free_device(void*, int) {}
void ipc_export(void*, char*, int) { absent(); }
void* ipc_open(const char*, int, int) { absent(); }
void ipc_close(void*, int) {}
void copy_on_device(void*, const void*, std::size_t, int) { absent(); }
void add_from_peer(void*, const void*, std::size_t, DType, int) { absent(); }
void sync(int) { absent(); }

#endif

}  // namespace hfreduce::gpu
