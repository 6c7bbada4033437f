// The Python module hfreduce._core. The Python package (hfreduce/__init__.py) reads the environment and wraps it;
// everything here takes explicit arguments. Calls that move data release the GIL.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>

#include "comm.hpp"
#include "gpu.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "pairs.hpp"
#include "pool.hpp"
#include "tree.hpp"

namespace nb = nanobind;
using namespace hfreduce;

namespace {

using Array = nb::ndarray<nb::c_contig, nb::device::cpu>;
using AnyArray = nb::ndarray<nb::c_contig>;  // host or GPU memory (DLPack: NumPy, torch)
using ReadArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

// The element type: the array's own (float32, float16, bfloat16), or `as` for a 2-byte array holding float16 or
// bfloat16 bits (NumPy has no bfloat16).
DType dtype_of(const nb::dlpack::dtype& t, const std::string& as) {
  using C = nb::dlpack::dtype_code;
  if (!as.empty()) {
    const DType d = as == "float32" ? DType::f32 : as == "float16" ? DType::f16 : as == "bfloat16" ? DType::bf16
                                                                                 : throw Error("dtype must be float32, float16 or bfloat16, not '" + as + "'");
    if (t.bits / 8 != dtype_size(d)) fail("an array of ", t.bits / 8, "-byte elements cannot hold ", as);
    return d;
  }
  if (t.code == static_cast<uint8_t>(C::Float) && t.bits == 32) return DType::f32;
  if (t.code == static_cast<uint8_t>(C::Float) && t.bits == 16) return DType::f16;
  if (t.code == static_cast<uint8_t>(C::Bfloat) && t.bits == 16) return DType::bf16;
  fail("HFReduce sums float32, float16 and bfloat16 arrays; pass dtype= for raw 16-bit data");
}

}  // namespace

NB_MODULE(_core, m) {
  nb::exception<Error>(m, "HFReduceError");

  nb::class_<Config>(m, "Config")
      .def(nb::init<>())
      .def_rw("rank", &Config::rank)
      .def_rw("world", &Config::world)
      .def_rw("root_host", &Config::root_host)
      .def_rw("root_port", &Config::root_port)
      .def_rw("node", &Config::node)
      .def_rw("timeout_s", &Config::timeout_s)
      .def_rw("chunk_bytes", &Config::chunk_bytes)
      .def_rw("threads", &Config::threads)
      .def_rw("numa_node", &Config::numa_node)
      .def_rw("simd", &Config::simd)
      .def_rw("buffer_bytes", &Config::buffer_bytes)
      .def_rw("ifname", &Config::ifname)
      .def_rw("bind_ip", &Config::bind_ip)
      .def_rw("socket_buffer_bytes", &Config::socket_buffer_bytes)
      .def_rw("single_copy", &Config::single_copy)
      .def_rw("transport", &Config::transport)
      .def_rw("ib_hca", &Config::ib_hca)
      .def_rw("ib_sl", &Config::ib_sl)
      .def_rw("ib_gid_index", &Config::ib_gid_index)
      .def_rw("root_ports", &Config::root_ports)
      .def_rw("nvlink", &Config::nvlink)
      .def_rw("nvlink_pairs", &Config::nvlink_pairs)
      .def_rw("gpu_pci", &Config::gpu_pci);

  nb::class_<Communicator>(m, "Communicator")
      .def(nb::init<const Config&>(), nb::call_guard<nb::gil_scoped_release>())
      .def(
          "allreduce",
          [](Communicator& c, AnyArray a, const std::string& as,
             std::optional<std::pair<std::size_t, std::size_t>> part) {
            const DType d = dtype_of(a.dtype(), as);
            int device = -1;
            if (a.device_type() == nb::device::cuda::value)
              device = a.device_id();
            else if (a.device_type() != nb::device::cpu::value && a.device_type() != nb::device::cuda_host::value)
              fail("HFReduce sums buffers in host memory or on CUDA GPUs");
            void* p = a.data();
            const std::size_t n = a.size();
            Part within;
            if (part) within = {part->first, part->second};
            nb::gil_scoped_release unlocked;
            c.allreduce(p, n, d, device, within);
          },
          nb::arg("array"), nb::arg("dtype") = "", nb::arg("part") = nb::none())
      .def_prop_ro("rank", &Communicator::rank)
      .def_prop_ro("world", &Communicator::world)
      .def_prop_ro("node_index", &Communicator::node_index)
      .def_prop_ro("nodes", &Communicator::nodes)
      .def_prop_ro("local_rank", &Communicator::local_rank)
      .def_prop_ro("local_size", &Communicator::local_size)
      .def_prop_ro("threads", &Communicator::threads)
      .def_prop_ro("simd", [](const Communicator& c) { return std::string(simd_name(c.simd())); })
      .def_prop_ro("transport", &Communicator::transport)
      .def_prop_ro("single_copy", &Communicator::single_copy)
      .def_prop_ro("nvlink_pairs", &Communicator::nvlink_pairs)
      .def_prop_ro("nvlink_partner", &Communicator::nvlink_partner)
      .def_prop_ro("describe", &Communicator::describe);

  m.def("simd_compiled", [] {
    std::vector<std::string> out;
    for (Simd s : simd_compiled()) out.emplace_back(simd_name(s));
    return out;
  });
  m.def("simd_best", [] { return std::string(simd_name(simd_best())); });
  m.def("transports", [] {
    std::vector<std::string> out{"tcp"};
#ifdef HF_WITH_IBVERBS
    out.emplace_back("ibverbs");
#endif
    return out;
  });
  m.def("version", [] { return std::string(HF_VERSION); });
  m.def("source", [] { return std::string(HF_SOURCE); });
  m.def("cuda", [] { return gpu::built(); });
  m.def("nvlink", [] { return gpu::nvlink_built(); });

  // out = sum(inputs), on `threads` threads: the kernel alone, for tests and the benchmark
  m.def(
      "reduce",
      [](Array out, std::vector<ReadArray> inputs, const std::string& as, const std::string& simd, int threads) {
        const DType d = dtype_of(out.dtype(), as);
        if (inputs.empty() || inputs.size() > 64) fail("1 to 64 inputs");
        std::vector<const char*> in;
        for (auto& a : inputs) {
          if (a.size() != out.size() || a.dtype() != out.dtype()) fail("every input must have the output's size and type");
          in.push_back(static_cast<const char*>(a.data()));
        }
        const Simd level = simd.empty() ? simd_best() : simd_from_name(simd);
        char* o = static_cast<char*>(out.data());
        const std::size_t n = out.size(), es = dtype_size(d);
        nb::gil_scoped_release unlocked;
        Pool pool(threads);
        pool.split(n, 1024, [&](std::size_t b, std::size_t e) {
          std::vector<const void*> ptrs;
          for (const char* p : in) ptrs.push_back(p + b * es);
          reduce(level, d, o + b * es, ptrs.data(), static_cast<int>(ptrs.size()), e - b);
        });
      },
      nb::arg("out"), nb::arg("inputs"), nb::arg("dtype") = "", nb::arg("simd") = "", nb::arg("threads") = 1);

  // out = in with memcpy on `threads` threads: the yardstick the kernel is measured against
  m.def(
      "copy",
      [](Array out, ReadArray in, int threads) {
        if (in.size() * in.itemsize() != out.size() * out.itemsize()) fail("copy: sizes differ");
        char* o = static_cast<char*>(out.data());
        const char* i = static_cast<const char*>(in.data());
        const std::size_t bytes = out.size() * out.itemsize();
        nb::gil_scoped_release unlocked;
        Pool pool(threads);
        pool.split(bytes, 4096, [&](std::size_t b, std::size_t e) { std::memcpy(o + b, i + b, e - b); });
      },
      nb::arg("out"), nb::arg("input"), nb::arg("threads") = 1);

  m.def("tree_parent", &tree_parent, nb::arg("tree"), nb::arg("nodes"), nb::arg("node"));
  m.def("pair_partners", &pair_partners, nb::arg("pairs"), nb::arg("devices"));
  m.def("pair_split", &pair_split, nb::arg("count"));
  m.def("pci_index", &pci_index, nb::arg("ids"), nb::arg("id"));
}
