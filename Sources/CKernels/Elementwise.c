#include "kernels_internal.h"

// MARK: Activation quantization

static void quantize_row_portable(const float *x, int columns, int8_t *q, float *d, float *s) {
    for (int b = 0; b < columns / SK_BLOCK; b++) {
        const float *block = x + b * SK_BLOCK;
        float max_magnitude = 0;
        for (int i = 0; i < SK_BLOCK; i++) {
            float magnitude = fabsf(block[i]);
            if (magnitude > max_magnitude) max_magnitude = magnitude;
        }
        float scale = max_magnitude / 127.0f;
        float inverse = max_magnitude != 0 ? 127.0f / max_magnitude : 0;
        int sum = 0;
        for (int i = 0; i < SK_BLOCK; i++) {
            int value = (int)nearbyintf(block[i] * inverse);
            q[b * SK_BLOCK + i] = (int8_t)value;
            sum += value;
        }
        // ggml stores both per-block values as FP16, and the sum uses the FP32 scale.
        d[b] = sk_round_to_half(scale);
        s[b] = sk_round_to_half(scale * (float)sum);
    }
}

#if SK_X86
SK_AVX2 static void quantize_row_avx2(const float *x, int columns, int8_t *q, float *d, float *s) {
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < columns / SK_BLOCK; b++) {
        const float *block = x + b * SK_BLOCK;
        __m256 v0 = _mm256_loadu_ps(block);
        __m256 v1 = _mm256_loadu_ps(block + 8);
        __m256 v2 = _mm256_loadu_ps(block + 16);
        __m256 v3 = _mm256_loadu_ps(block + 24);

        __m256 max01 = _mm256_max_ps(_mm256_andnot_ps(sign_mask, v0), _mm256_andnot_ps(sign_mask, v1));
        __m256 max23 = _mm256_max_ps(_mm256_andnot_ps(sign_mask, v2), _mm256_andnot_ps(sign_mask, v3));
        __m256 max_all = _mm256_max_ps(max01, max23);
        __m128 max4 = _mm_max_ps(_mm256_castps256_ps128(max_all), _mm256_extractf128_ps(max_all, 1));
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4));
        float max_magnitude = _mm_cvtss_f32(max4);

        float scale = max_magnitude / 127.0f;
        float inverse = max_magnitude != 0 ? 127.0f / max_magnitude : 0;
        __m256 multiplier = _mm256_set1_ps(inverse);
        // Round to nearest even, as nearbyintf does in the portable path.
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v0, multiplier));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v1, multiplier));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v2, multiplier));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v3, multiplier));

        __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i sum4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        sum4 = _mm_hadd_epi32(sum4, sum4);
        sum4 = _mm_hadd_epi32(sum4, sum4);

        // Pack 32-bit to 8-bit; the packs interleave 128-bit lanes, so restore the order.
        __m256i packed16a = _mm256_packs_epi32(i0, i1);
        __m256i packed16b = _mm256_packs_epi32(i2, i3);
        __m256i packed8 = _mm256_packs_epi16(packed16a, packed16b);
        packed8 = _mm256_permutevar8x32_epi32(packed8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(q + b * SK_BLOCK), packed8);

        d[b] = sk_round_to_half(scale);
        s[b] = sk_round_to_half(scale * (float)_mm_cvtsi128_si32(sum4));
    }
}
#endif

void sk_quantize_rows(const float *x, size_t x_stride, int rows, int columns, sk_q8_rows *output) {
    int blocks = columns / SK_BLOCK;
    output->rows = rows;
    output->columns = columns;
    for (int r = 0; r < rows; r++) {
        int8_t *q = output->q + (size_t)r * output->q_stride;
        float *d = output->d + (size_t)r * output->ds_stride;
        float *s = output->s + (size_t)r * output->ds_stride;
#if SK_X86
        if (sk_use_avx2()) {
            quantize_row_avx2(x + (size_t)r * x_stride, columns, q, d, s);
        } else {
            quantize_row_portable(x + (size_t)r * x_stride, columns, q, d, s);
        }
#else
        quantize_row_portable(x + (size_t)r * x_stride, columns, q, d, s);
#endif
        for (size_t j = (size_t)blocks; j < output->ds_stride; j++) {
            d[j] = 0;
            s[j] = 0;
        }
    }
}

// MARK: Normalization and element-wise operations

void sk_rms_norm(const float *x, size_t x_stride, float *y, size_t y_stride, int rows, int columns,
                 const float *weight, float epsilon) {
    for (int r = 0; r < rows; r++) {
        const float *in = x + (size_t)r * x_stride;
        float *out = y + (size_t)r * y_stride;
        // The arithmetic of ggml's CPU rms_norm followed by its separate weight multiply:
        // float squares summed in double, then the mean and the scale in float.
        double sum = 0;
        for (int i = 0; i < columns; i++) sum += (double)(in[i] * in[i]);
        float mean = (float)(sum / columns);
        float scale = 1.0f / sqrtf(mean + epsilon);
        for (int i = 0; i < columns; i++) {
            float normalized = in[i] * scale;
            out[i] = normalized * weight[i];
        }
    }
}

#if SK_X86
/// Computes silu(gate) * up for whole vectors of a row and returns the first column left for the caller.
SK_AVX2 static int silu_multiply_avx2(float *g, const float *u, int columns) {
    int i = 0;
    for (; i + 8 <= columns; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 denominator = _mm256_add_ps(_mm256_set1_ps(1.0f), exp_ggml(_mm256_sub_ps(_mm256_setzero_ps(), x)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, denominator), _mm256_loadu_ps(u + i)));
    }
    return i;
}
#endif

void sk_silu_multiply(float *gate, size_t gate_stride, const float *up, size_t up_stride, int rows, int columns) {
    for (int r = 0; r < rows; r++) {
        float *g = gate + (size_t)r * gate_stride;
        const float *u = up + (size_t)r * up_stride;
        int i = 0;
#if SK_X86
        if (sk_use_avx2()) i = silu_multiply_avx2(g, u, columns);
#endif
        for (; i < columns; i++) {
            float value = g[i];
            g[i] = value / (1.0f + expf(-value)) * u[i];
        }
    }
}

void sk_add_rows(float *x, size_t x_stride, const float *addend, size_t addend_stride, int rows, int columns) {
    for (int r = 0; r < rows; r++) {
        float *out = x + (size_t)r * x_stride;
        const float *in = addend + (size_t)r * addend_stride;
        for (int i = 0; i < columns; i++) out[i] += in[i];
    }
}

void sk_rope(float *x, size_t x_stride, int rows, int heads, int head_dim, const float *cos_sin) {
    for (int r = 0; r < rows; r++) {
        const float *angles = cos_sin + (size_t)r * head_dim;
        for (int h = 0; h < heads; h++) {
            float *head = x + (size_t)r * x_stride + (size_t)h * head_dim;
            for (int i = 0; i < head_dim; i += 2) {
                float c = angles[i];
                float s = angles[i + 1];
                float a = head[i];
                float b = head[i + 1];
                // The rounding of ggml's rotate_pairs (llama.cpp 0c1e570) as gcc -O3 -march=native
                // compiles it: the products with `a` go into FMAs and the products with `b` round first.
                head[i] = fmaf(a, c, -(b * s));
                head[i + 1] = fmaf(a, s, b * c);
            }
        }
    }
}

// MARK: Softmax

#if SK_X86
/// Handles whole vectors of `sk_exp_shifted`; sets `*end` to the first element left for the caller.
SK_AVX2 static float exp_shifted_avx2(const float *x, int count, float shift, float multiplier, float *output,
                                      int *end) {
    __m256 shift_vector = _mm256_set1_ps(shift);
    __m256 multiplier_vector = _mm256_set1_ps(multiplier);
    __m256 sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 scaled = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), shift_vector), multiplier_vector);
        __m256 e = exp_negative(scaled);
        _mm256_storeu_ps(output + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    *end = i;
    __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
    sum4 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    sum4 = _mm_add_ss(sum4, _mm_movehdup_ps(sum4));
    return _mm_cvtss_f32(sum4);
}
#endif

float sk_exp_shifted(const float *x, int count, float shift, float multiplier, float *output) {
    int i = 0;
    float sum = 0;
#if SK_X86
    if (sk_use_avx2()) {
        sum = exp_shifted_avx2(x, count, shift, multiplier, output, &i);
    }
#endif
    for (; i < count; i++) {
        output[i] = expf((x[i] - shift) * multiplier);
        sum += output[i];
    }
    return sum;
}
