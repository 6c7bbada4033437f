// The CPU reduce: out[i] = in[0][i] + ... + in[k-1][i] for fp32, fp16 and bf16, one implementation compiled once
// per SIMD level (kernels_level.cpp) and chosen at run time: never above what the CPU supports, nor above the level
// the node's hardware profile asks for. Half-precision inputs are summed in fp32 and rounded once (to nearest even).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace hfreduce {

enum class DType { f32 = 0, f16 = 1, bf16 = 2 };
enum class Simd { generic = 0, avx = 1, avx2 = 2, avx512 = 3 };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);
const char* simd_name(Simd s);
Simd simd_from_name(const std::string& name);  // throws Error on an unknown name

// Levels compiled into this build, lowest first (a build may be limited to a maximum level).
std::vector<Simd> simd_compiled();
// The best level both compiled in and supported by this CPU.
Simd simd_best();

// out may alias in[0] (accumulate in place). n is a count of elements. Any n, any alignment.
void reduce(Simd level, DType t, void* out, const void* const* in, int k, std::size_t n);

using ReduceFn = void (*)(void* out, const void* const* in, int k, std::size_t n);

}  // namespace hfreduce
