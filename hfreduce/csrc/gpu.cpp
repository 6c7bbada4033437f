#include "gpu.hpp"

#include "error.hpp"

#include <cstring>
#include <map>
#include <string>

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

// Makes `device` this thread's current GPU, on every call: the caller (or another library) may have changed it
// since. It is not restored afterwards: restoring device 0 on a thread that never used a GPU would open a context
// there, several hundred MiB on a GPU this rank does not use.
void use(int device) { check(cudaSetDevice(device), "cudaSetDevice"); }

// One stream per thread and GPU, kept: the copies and the kernel of one call are ordered on it, and
// cudaStreamSynchronize waits for just them. A blocking stream, so it also waits for work the caller queued on the
// legacy default stream (the Python layer waits for the caller's current stream too).
cudaStream_t stream_on(int device) {
  static thread_local std::map<int, cudaStream_t> streams;
  use(device);
  auto it = streams.find(device);
  if (it == streams.end()) {
    cudaStream_t s = nullptr;
    check(cudaStreamCreateWithFlags(&s, cudaStreamDefault), "cudaStreamCreate");
    it = streams.emplace(device, s).first;
  }
  return it->second;
}

}  // namespace

bool built() { return true; }

void to_host(void* host, const void* device_ptr, std::size_t bytes, int device) {
  cudaStream_t s = stream_on(device);
  check(cudaMemcpyAsync(host, device_ptr, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (GPU to host)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (GPU to host)");
}

void to_device(void* device_ptr, const void* host, std::size_t bytes, int device) {
  cudaStream_t s = stream_on(device);
  check(cudaMemcpyAsync(device_ptr, host, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync (host to GPU)");
  check(cudaStreamSynchronize(s), "cudaStreamSynchronize (host to GPU)");
}

void pin(void* host, std::size_t bytes, int device) {
  use(device);  // registering opens a context on the current GPU: this rank's
  const cudaError_t e = cudaHostRegister(host, bytes, cudaHostRegisterPortable);
  if (e == cudaErrorHostMemoryAlreadyRegistered) {
    cudaGetLastError();  // clear it: registered before is what we want
    return;
  }
  check(e, "cudaHostRegister (the node's shared memory)");
}

void* alloc_pinned(std::size_t bytes, int device) {
  use(device);
  void* p = nullptr;
  check(cudaMallocHost(&p, bytes), "cudaMallocHost");
  return p;
}

void free_pinned(void* p) {
  if (p) cudaFreeHost(p);
}

std::string pci_bus_id(int device) {
  char id[32] = {};
  check(cudaDeviceGetPCIBusId(id, sizeof id, device), "cudaDeviceGetPCIBusId");
  return id;
}

int device_by_pci(const std::string& bus_id) {
  int device = -1;
  if (cudaDeviceGetByPCIBusId(&device, bus_id.c_str()) != cudaSuccess) {
    cudaGetLastError();  // not visible in this process: clear the error, the caller explains
    return -1;
  }
  return device;
}

bool nvlink_built() {
#ifdef HF_WITH_NVLINK
  return true;
#else
  return false;
#endif
}

void* alloc_device(std::size_t bytes, int device) {
  use(device);
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
  use(device);
  cudaIpcMemHandle_t h;
  check(cudaIpcGetMemHandle(&h, device_ptr), "cudaIpcGetMemHandle");
  static_assert(sizeof h == kIpcHandleBytes, "CUDA's IPC handle size");
  std::memcpy(handle, &h, sizeof h);
}

void* ipc_open(const char* handle, int device, int peer_device) {
  use(device);
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
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_on(device)), "cudaMemcpyAsync (on the GPU)");
}

void pair_sum(void* out, const void* mine, const void* peer, std::size_t count, DType dtype, int device) {
#ifdef HF_WITH_NVLINK
  cudaStream_t s = stream_on(device);
  check(launch_pair_sum(static_cast<int>(dtype), out, mine, peer, count, device, s), "the NVLink pair kernel");
#else
  (void)out, (void)mine, (void)peer, (void)count, (void)dtype, (void)device;
  fail("this build of HFReduce has no NVLink pair kernel (built without nvcc)");
#endif
}

void sync(int device) { check(cudaStreamSynchronize(stream_on(device)), "cudaStreamSynchronize"); }

#else

bool built() { return false; }
[[noreturn]] static void absent() { fail("this build of HFReduce has no GPU path (built without CUDA)"); }
void to_host(void*, const void*, std::size_t, int) { absent(); }
void to_device(void*, const void*, std::size_t, int) { absent(); }
void pin(void*, std::size_t, int) { absent(); }
void* alloc_pinned(std::size_t, int) { absent(); }
void free_pinned(void*) {}
std::string pci_bus_id(int) { absent(); }
int device_by_pci(const std::string&) { absent(); }
bool nvlink_built() { return false; }
void* alloc_device(std::size_t, int) { absent(); }
void free_device(void*, int) {}
void ipc_export(void*, char*, int) { absent(); }
void* ipc_open(const char*, int, int) { absent(); }
void ipc_close(void*, int) {}
void copy_on_device(void*, const void*, std::size_t, int) { absent(); }
void pair_sum(void*, const void*, const void*, std::size_t, DType, int) { absent(); }
void sync(int) { absent(); }

#endif

}  // namespace hfreduce::gpu
