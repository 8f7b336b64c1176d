#ifndef SLUICE_KERNELS_INTERNAL_H
#define SLUICE_KERNELS_INTERNAL_H
#include "CKernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define SK_X86 1
#include <immintrin.h>
#define SK_AVX2 __attribute__((target("avx2,fma,f16c")))
#else
#define SK_X86 0
#endif

// Block layouts of ggml's quantized types. Element i of a Q4 block is the low
// nibble of qs[i] for i < 16 and the high nibble of qs[i - 16] otherwise.
typedef struct {
    uint16_t d;
    uint8_t qs[SK_BLOCK / 2];
} sk_block_q4_0;

typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[SK_BLOCK / 2];
} sk_block_q4_1;

typedef struct {
    uint16_t d;
    int8_t qs[SK_BLOCK];
} sk_block_q8_0;

_Static_assert(sizeof(sk_block_q4_0) == 18, "Q4_0 block is 18 bytes");
_Static_assert(sizeof(sk_block_q4_1) == 20, "Q4_1 block is 20 bytes");
_Static_assert(sizeof(sk_block_q8_0) == 34, "Q8_0 block is 34 bytes");

/// Whether to take the AVX2 paths: the CPU has AVX2, FMA and F16C, and tests did not force the portable ones.
int sk_use_avx2(void);

static inline float sk_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // A subnormal half is mantissa * 2^-24, exact in float.
        float value = (float)mantissa * 5.9604644775390625e-8f;
        memcpy(&bits, &value, 4);
        bits |= sign;
    }
    float result;
    memcpy(&result, &bits, 4);
    return result;
}

/// Converts to half precision, rounding to nearest even, with overflow to infinity.
static inline uint16_t sk_float_to_half(float value) {
    uint32_t bits;
    memcpy(&bits, &value, 4);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
    uint32_t magnitude = bits & 0x7FFFFFFF;

    if (magnitude > 0x7F800000) return sign | 0x7E00;  // NaN
    if (magnitude >= 0x477FF000) return sign | 0x7C00;  // rounds to infinity or is infinite
    if (magnitude < 0x38800000) {
        // Below the smallest normal half: round magnitude * 2^24 to an integer count of 2^-24 steps.
        float absolute;
        memcpy(&absolute, &magnitude, 4);
        return sign | (uint16_t)lrintf(absolute * 16777216.0f);
    }
    uint32_t rounded = magnitude + 0x0FFF + ((magnitude >> 13) & 1);
    return sign | (uint16_t)((rounded - 0x38000000) >> 13);
}

/// Rounds to the nearest half-precision value and widens back, as storing a ggml FP16 field does.
static inline float sk_round_to_half(float value) { return sk_half_to_float(sk_float_to_half(value)); }

#if SK_X86
/// e^x with the arithmetic of ggml's AVX2 `ggml_v_expf` (ggml-cpu vec.h, llama.cpp commit 0c1e570):
/// x = n ln2 + b, a degree-5 polynomial in b, and special scaling when |n| > 126.
/// Silu uses it so that activations match llama.cpp to the bit.
SK_AVX2 static inline __m256 exp_ggml(__m256 x) {
    const __m256 shifter = _mm256_set1_ps(0x1.8p23f);
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shifter);
    __m256 n = _mm256_sub_ps(z, shifter);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x);
    b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), b);
    __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    __m256 n_magnitude = _mm256_andnot_ps(sign_bit, n);
    __m256 large = _mm256_cmp_ps(n_magnitude, _mm256_set1_ps(126.0f), _CMP_GT_OQ);

    __m256 b2 = _mm256_mul_ps(b, b);
    __m256 high = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
    __m256 low = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
    __m256 poly = _mm256_fmadd_ps(high, b2, low);
    poly = _mm256_fmadd_ps(poly, b2, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(large)) return _mm256_fmadd_ps(poly, k, k);

    // 2^n overflows or underflows the exponent field, so scale in two factors.
    __m256i adjust = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                      _mm256_set1_epi32((int)0x82000000u));
    __m256 scale1 = _mm256_castsi256_ps(_mm256_add_epi32(adjust, _mm256_set1_epi32(0x7f000000)));
    __m256 scale2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, adjust));
    __m256 saturated = _mm256_cmp_ps(n_magnitude, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(scale2, poly, scale2), scale1);
    __m256 ordinary = _mm256_fmadd_ps(k, poly, k);
    __m256 result = _mm256_or_ps(_mm256_and_ps(large, scaled), _mm256_andnot_ps(large, ordinary));
    return _mm256_or_ps(_mm256_and_ps(saturated, _mm256_mul_ps(scale1, scale1)), _mm256_andnot_ps(saturated, result));
}

/// e^x for x <= 0 (softmax inputs after subtracting the max), relative error about 2e-7.
SK_AVX2 static inline __m256 exp_negative(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    // x = n ln2 + r with |r| <= ln2 / 2, so e^x = 2^n e^r.
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    // Taylor series of e^r to degree 7.
    __m256 poly = _mm256_set1_ps(1.0f / 5040);
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 720));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 120));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 24));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f / 6));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(0.5f));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f));
    poly = _mm256_fmadd_ps(poly, r, _mm256_set1_ps(1.0f));
    __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(poly, _mm256_castsi256_ps(exponent));
}
#endif

static inline float sk_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float result;
    memcpy(&result, &bits, 4);
    return result;
}

#endif
