#include "kernels.hpp"

#include "error.hpp"

namespace hfreduce {

#define HF_DECLARE_LEVEL(L)                                                          \
  namespace level_##L {                                                              \
  void reduce_f32(void* out, const void* const* in, int k, std::size_t n);           \
  void reduce_f16(void* out, const void* const* in, int k, std::size_t n);           \
  void reduce_bf16(void* out, const void* const* in, int k, std::size_t n);          \
  }

HF_DECLARE_LEVEL(generic)
#ifdef HF_HAVE_avx
HF_DECLARE_LEVEL(avx)
#endif
#ifdef HF_HAVE_avx2
HF_DECLARE_LEVEL(avx2)
#endif
#ifdef HF_HAVE_avx512
HF_DECLARE_LEVEL(avx512)
#endif

namespace {

struct Level {
  Simd simd;
  ReduceFn fn[3];  // by DType
};

#define HF_LEVEL_ROW(L) Level{Simd::L, {level_##L::reduce_f32, level_##L::reduce_f16, level_##L::reduce_bf16}}

const Level kLevels[] = {
    HF_LEVEL_ROW(generic),
#ifdef HF_HAVE_avx
    HF_LEVEL_ROW(avx),
#endif
#ifdef HF_HAVE_avx2
    HF_LEVEL_ROW(avx2),
#endif
#ifdef HF_HAVE_avx512
    HF_LEVEL_ROW(avx512),
#endif
};

bool cpu_supports(Simd s) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (s) {
    case Simd::generic:
      return true;
    case Simd::avx:
      return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
    case Simd::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
    case Simd::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c");
  }
  return false;
#else
  return s == Simd::generic;
#endif
}

}  // namespace

std::size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 2; }

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "float32";
    case DType::f16:
      return "float16";
    case DType::bf16:
      return "bfloat16";
  }
  return "?";
}

const char* simd_name(Simd s) {
  switch (s) {
    case Simd::generic:
      return "generic";
    case Simd::avx:
      return "avx";
    case Simd::avx2:
      return "avx2";
    case Simd::avx512:
      return "avx512";
  }
  return "?";
}

Simd simd_from_name(const std::string& name) {
  for (Simd s : {Simd::generic, Simd::avx, Simd::avx2, Simd::avx512})
    if (name == simd_name(s)) return s;
  fail("unknown SIMD level '", name, "': one of generic, avx, avx2, avx512");
}

std::vector<Simd> simd_compiled() {
  std::vector<Simd> out;
  for (const Level& l : kLevels) out.push_back(l.simd);
  return out;
}

Simd simd_best() {
  Simd best = Simd::generic;
  for (const Level& l : kLevels)
    if (cpu_supports(l.simd)) best = l.simd;
  return best;
}

void reduce(Simd level, DType t, void* out, const void* const* in, int k, std::size_t n) {
  for (const Level& l : kLevels)
    if (l.simd == level) return l.fn[static_cast<int>(t)](out, in, k, n);
  fail("SIMD level ", simd_name(level), " is not compiled into this build");
}

}  // namespace hfreduce
