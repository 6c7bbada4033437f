// One SIMD level of the reduce kernels. CMake compiles this file once per level with that level's -m flags and
// HF_LEVEL set to its name; the code is written once, with GCC/Clang vector extensions, so every level computes
// exactly what the level tested on the build machine computes (same summation order, same rounding).
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__F16C__)
#include <immintrin.h>
#endif

#ifndef HF_LEVEL
#error "HF_LEVEL (generic, avx, avx2, avx512) must be defined by the build"
#endif
#ifndef HF_VBYTES
#error "HF_VBYTES (vector width in bytes) must be defined by the build"
#endif

#define HF_CAT2(a, b) a##b
#define HF_CAT(a, b) HF_CAT2(a, b)

namespace hfreduce::HF_CAT(level_, HF_LEVEL) {
namespace {

constexpr std::size_t W = HF_VBYTES / 4;  // fp32 lanes per vector
constexpr std::size_t U = 4;              // vectors per step: enough independent adds to hide latency

using vf = float __attribute__((vector_size(HF_VBYTES)));
using vu = std::uint32_t __attribute__((vector_size(HF_VBYTES)));
using vi = std::int32_t __attribute__((vector_size(HF_VBYTES)));
using vh = std::uint16_t __attribute__((vector_size(HF_VBYTES / 2)));
using vf16 = _Float16 __attribute__((vector_size(HF_VBYTES / 2)));

template <typename V, typename T>
inline V load(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);  // an unaligned load: buffers come from the user
  return v;
}
template <typename V, typename T>
inline void store(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// Element formats: how a block of W elements becomes W fp32 lanes and back.
struct F32 {
  using T = float;
  static vf in(const T* p) { return load<vf>(p); }
  static void out(T* p, vf v) { store(p, v); }
  static float in1(const T* p) { return *p; }
  static void out1(T* p, float v) { *p = v; }
};

// GCC converts _Float16 vectors lane by lane; F16C (and AVX-512F) convert a whole vector in one instruction.
struct F16 {
  using T = std::uint16_t;
#if defined(__AVX512F__) && HF_VBYTES == 64
  static vf in(const T* p) { return (vf)_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void out(T* p, vf v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT));
  }
#elif defined(__F16C__) && HF_VBYTES == 32
  static vf in(const T* p) { return (vf)_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static void out(T* p, vf v) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT));
  }
#else
  static vf in(const T* p) { return __builtin_convertvector(load<vf16>(p), vf); }
  static void out(T* p, vf v) { store(p, __builtin_convertvector(v, vf16)); }
#endif
  static float in1(const T* p) {
    _Float16 h;
    std::memcpy(&h, p, 2);
    return static_cast<float>(h);
  }
  static void out1(T* p, float v) {
    auto h = static_cast<_Float16>(v);
    std::memcpy(p, &h, 2);
  }
};

// bfloat16 is the top half of an fp32: widening is a shift; narrowing rounds to nearest even, and keeps a NaN a
// (quiet) NaN where plain rounding would carry it into infinity.
struct BF16 {
  using T = std::uint16_t;
  static vf in(const T* p) {
    vu u = __builtin_convertvector(load<vh>(p), vu) << 16;
    return (vf)u;  // a bit cast, lane by lane
  }
  static void out(T* p, vf v) {
    vu b = (vu)v;
    vu rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
    vu nan = (vu)(v != v);  // all ones where v is NaN
    vu r = (rounded & ~nan) | (((b >> 16) | 0x40u) & nan);
    store(p, __builtin_convertvector(r, vh));
  }
  static float in1(const T* p) {
    std::uint32_t u = static_cast<std::uint32_t>(*p) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  static void out1(T* p, float v) {
    std::uint32_t b;
    std::memcpy(&b, &v, 4);
    *p = v != v ? static_cast<std::uint16_t>((b >> 16) | 0x40u)
                : static_cast<std::uint16_t>((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
  }
};

template <typename F>
void reduce_as(void* out, const void* const* in, int k, std::size_t n) {
  using T = typename F::T;
  T* o = static_cast<T*>(out);
  const T* x0 = static_cast<const T*>(in[0]);
  std::size_t i = 0;
  for (; i + U * W <= n; i += U * W) {
    vf a[U];
    for (std::size_t u = 0; u < U; ++u) a[u] = F::in(x0 + i + u * W);
    for (int j = 1; j < k; ++j) {
      const T* xj = static_cast<const T*>(in[j]);
      for (std::size_t u = 0; u < U; ++u) a[u] += F::in(xj + i + u * W);
    }
    for (std::size_t u = 0; u < U; ++u) F::out(o + i + u * W, a[u]);
  }
  for (; i + W <= n; i += W) {
    vf a = F::in(x0 + i);
    for (int j = 1; j < k; ++j) a += F::in(static_cast<const T*>(in[j]) + i);
    F::out(o + i, a);
  }
  for (; i < n; ++i) {  // the tail: same order of additions as the lanes above
    float a = F::in1(x0 + i);
    for (int j = 1; j < k; ++j) a += F::in1(static_cast<const T*>(in[j]) + i);
    F::out1(o + i, a);
  }
}

// bfloat16 without shuffles: a 32-bit lane holds two bfloat16, and each is an fp32 by masking (high) or shifting
// (low) alone. The even and odd elements are summed in separate vectors and packed back the same way; the sums
// and their rounding are exactly those of reduce_as<BF16>.
inline vu bf16_round(vf v) {  // the bfloat16 bits of v, in the low half of each lane
  vu b = (vu)v;
  vu rounded = (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
  vu nan = (vu)(v != v);
  return (rounded & ~nan) | (((b >> 16) | 0x40u) & nan);
}

void reduce_bf16_pairs(void* out, const void* const* in, int k, std::size_t n) {
  auto* o = static_cast<std::uint16_t*>(out);
  const std::size_t step = 2 * W;  // bfloat16 elements per vector
  std::size_t i = 0;
  for (; i + 2 * step <= n; i += 2 * step) {
    vf even[2], odd[2];
    for (int u = 0; u < 2; ++u) {
      vu x = load<vu>(static_cast<const std::uint16_t*>(in[0]) + i + u * step);
      even[u] = (vf)(x << 16);
      odd[u] = (vf)(x & 0xffff0000u);
    }
    for (int j = 1; j < k; ++j)
      for (int u = 0; u < 2; ++u) {
        vu x = load<vu>(static_cast<const std::uint16_t*>(in[j]) + i + u * step);
        even[u] += (vf)(x << 16);
        odd[u] += (vf)(x & 0xffff0000u);
      }
    for (int u = 0; u < 2; ++u) store(o + i + u * step, bf16_round(even[u]) | (bf16_round(odd[u]) << 16));
  }
  if (i < n) {
    const void* rest[64];
    for (int j = 0; j < k; ++j) rest[j] = static_cast<const std::uint16_t*>(in[j]) + i;
    reduce_as<BF16>(o + i, rest, k, n - i);
  }
}

}  // namespace

void reduce_f32(void* out, const void* const* in, int k, std::size_t n) { reduce_as<F32>(out, in, k, n); }
void reduce_f16(void* out, const void* const* in, int k, std::size_t n) { reduce_as<F16>(out, in, k, n); }
void reduce_bf16(void* out, const void* const* in, int k, std::size_t n) { reduce_bf16_pairs(out, in, k, n); }

}  // namespace hfreduce::HF_CAT(level_, HF_LEVEL)
