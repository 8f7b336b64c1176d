#include "kernels_internal.h"

/// Query rows per attention task.
#define ROWS_PER_TASK 16

size_t sk_kv_page_bytes(sk_kv_layout layout) {
    return (size_t)layout.layers * 2 * layout.kv_heads * layout.page_tokens * layout.head_dim * sizeof(uint16_t);
}

/// Returns the first F16 value of `head` at position `position` in the K (`which` = 0) or V (1) block of `layer`.
static inline uint16_t *kv_row(sk_kv_layout layout, void *const *pages, int layer, int which, int head,
                               int position) {
    size_t block_values = (size_t)layout.kv_heads * layout.page_tokens * layout.head_dim;
    uint16_t *page = pages[position / layout.page_tokens];
    int slot = position % layout.page_tokens;
    return page + ((size_t)layer * 2 + which) * block_values + ((size_t)head * layout.page_tokens + slot) * layout.head_dim;
}

void sk_kv_store(sk_kv_layout layout, void *const *pages, int layer, int first_position, int count,
                 const float *k, size_t k_stride, const float *v, size_t v_stride) {
    for (int i = 0; i < count; i++) {
        for (int h = 0; h < layout.kv_heads; h++) {
            const float *k_source = k + (size_t)i * k_stride + (size_t)h * layout.head_dim;
            const float *v_source = v + (size_t)i * v_stride + (size_t)h * layout.head_dim;
            uint16_t *k_destination = kv_row(layout, pages, layer, 0, h, first_position + i);
            uint16_t *v_destination = kv_row(layout, pages, layer, 1, h, first_position + i);
            for (int d = 0; d < layout.head_dim; d++) {
                k_destination[d] = sk_float_to_half(k_source[d]);
                v_destination[d] = sk_float_to_half(v_source[d]);
            }
        }
    }
}

/// Sums 32 lanes in the order of the AVX2 reduction in `attend_row_avx2`.
static float sum_lanes_portable(const float *lanes) {
    float total[8];
    for (int i = 0; i < 8; i++) total[i] = (lanes[i] + lanes[16 + i]) + (lanes[8 + i] + lanes[24 + i]);
    float four[4];
    for (int i = 0; i < 4; i++) four[i] = total[i] + total[4 + i];
    return (four[0] + four[1]) + (four[2] + four[3]);
}

typedef struct {
    const sk_attention_parameters *parameters;
    const sk_attention_sequence *sequences;
    int sequence_count;
    int chunks_per_sequence;
} attention_job;

// Both paths follow the arithmetic of ggml's CPU flash attention with an F16
// KV cache (`ggml_compute_forward_flash_attn_ext_f16_one_chunk`, llama.cpp
// commit 0c1e570), which llama-server uses on CPU by default: Q rounded to F16,
// each score a dot product of F16 values, an online softmax over the keys in
// position order with libm expf, and the weighted sum of V kept in F16.

// MARK: Portable path

/// Attention of one query row for the `group` query heads that share KV head `kv_head`.
static void attend_row_portable(const sk_attention_parameters *p, const sk_attention_sequence *sequence,
                                int kv_head, int row, float *scratch) {
    sk_kv_layout layout = p->layout;
    int group = p->heads / layout.kv_heads;
    int head_dim = layout.head_dim;
    int keys = sequence->first_position + row + 1;
    float *q_half = scratch;
    float *sum_half = scratch + head_dim;

    for (int g = 0; g < group; g++) {
        int head = kv_head * group + g;
        const float *q = sequence->q + (size_t)row * p->q_stride + (size_t)head * head_dim;
        float *output = sequence->output + (size_t)row * p->output_stride + (size_t)head * head_dim;
        for (int d = 0; d < head_dim; d++) {
            q_half[d] = sk_round_to_half(q[d]);
            sum_half[d] = 0;
        }

        float max_score = -INFINITY;
        float weight_sum = 0;
        for (int t = 0; t < keys; t++) {
            const uint16_t *k = kv_row(layout, sequence->pages, p->layer, 0, kv_head, t);
            float lanes[32] = {0};
            for (int d = 0; d < head_dim; d++) lanes[d % 32] = fmaf(q_half[d], sk_half_to_float(k[d]), lanes[d % 32]);
            float score = sum_lanes_portable(lanes) * p->scale;

            float rescale = 1.0f;
            float weight = 1.0f;
            if (score > max_score) {
                rescale = expf(max_score - score);
                max_score = score;
                for (int d = 0; d < head_dim; d++) sum_half[d] = sk_round_to_half(sum_half[d] * rescale);
            } else {
                weight = expf(score - max_score);
            }
            const uint16_t *v = kv_row(layout, sequence->pages, p->layer, 1, kv_head, t);
            for (int d = 0; d < head_dim; d++) {
                sum_half[d] = sk_round_to_half(fmaf(sk_half_to_float(v[d]), weight, sum_half[d]));
            }
            weight_sum = fmaf(weight_sum, rescale, weight);
        }

        float inverse = weight_sum == 0 ? 0 : 1.0f / weight_sum;
        for (int d = 0; d < head_dim; d++) output[d] = sum_half[d] * inverse;
    }
}

#if SK_X86

// MARK: AVX2 path

/// Rounds eight floats to F16 and back.
SK_AVX2 static inline __m256 round_to_half8(__m256 v) {
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

SK_AVX2 static inline __m256 load_half8(const uint16_t *source) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)source));
}

/// The AVX2 version of `attend_row_portable`; needs head_dim to be a multiple of 32.
SK_AVX2 static void attend_row_avx2(const sk_attention_parameters *p, const sk_attention_sequence *sequence,
                                    int kv_head, int row, float *scratch) {
    (void)scratch;
    sk_kv_layout layout = p->layout;
    int group = p->heads / layout.kv_heads;
    int head_dim = layout.head_dim;
    int keys = sequence->first_position + row + 1;
    float q_half[512] __attribute__((aligned(32)));
    float sum_half[512] __attribute__((aligned(32)));

    for (int g = 0; g < group; g++) {
        int head = kv_head * group + g;
        const float *q = sequence->q + (size_t)row * p->q_stride + (size_t)head * head_dim;
        float *output = sequence->output + (size_t)row * p->output_stride + (size_t)head * head_dim;
        for (int d = 0; d < head_dim; d += 8) {
            _mm256_store_ps(q_half + d, round_to_half8(_mm256_loadu_ps(q + d)));
            _mm256_store_ps(sum_half + d, _mm256_setzero_ps());
        }

        float max_score = -INFINITY;
        float weight_sum = 0;
        for (int t = 0; t < keys; t++) {
            // ggml_vec_dot_f16: four 8-lane accumulators over 32-element steps,
            // reduced as (a0 + a2) + (a1 + a3), then the two halves, then two horizontal adds.
            const uint16_t *k = kv_row(layout, sequence->pages, p->layer, 0, kv_head, t);
            __m256 a0 = _mm256_setzero_ps();
            __m256 a1 = _mm256_setzero_ps();
            __m256 a2 = _mm256_setzero_ps();
            __m256 a3 = _mm256_setzero_ps();
            for (int d = 0; d < head_dim; d += 32) {
                a0 = _mm256_fmadd_ps(load_half8(k + d), _mm256_load_ps(q_half + d), a0);
                a1 = _mm256_fmadd_ps(load_half8(k + d + 8), _mm256_load_ps(q_half + d + 8), a1);
                a2 = _mm256_fmadd_ps(load_half8(k + d + 16), _mm256_load_ps(q_half + d + 16), a2);
                a3 = _mm256_fmadd_ps(load_half8(k + d + 24), _mm256_load_ps(q_half + d + 24), a3);
            }
            __m256 total = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
            __m128 four = _mm_add_ps(_mm256_castps256_ps128(total), _mm256_extractf128_ps(total, 1));
            four = _mm_hadd_ps(four, four);
            float score = _mm_cvtss_f32(_mm_hadd_ps(four, four)) * p->scale;

            float rescale = 1.0f;
            float weight = 1.0f;
            if (score > max_score) {
                rescale = expf(max_score - score);
                max_score = score;
                __m256 factor = _mm256_set1_ps(rescale);
                for (int d = 0; d < head_dim; d += 8) {
                    _mm256_store_ps(sum_half + d, round_to_half8(_mm256_mul_ps(_mm256_load_ps(sum_half + d), factor)));
                }
            } else {
                weight = expf(score - max_score);
            }
            const uint16_t *v = kv_row(layout, sequence->pages, p->layer, 1, kv_head, t);
            __m256 factor = _mm256_set1_ps(weight);
            for (int d = 0; d < head_dim; d += 8) {
                __m256 updated = _mm256_fmadd_ps(load_half8(v + d), factor, _mm256_load_ps(sum_half + d));
                _mm256_store_ps(sum_half + d, round_to_half8(updated));
            }
            weight_sum = fmaf(weight_sum, rescale, weight);
        }

        __m256 inverse = _mm256_set1_ps(weight_sum == 0 ? 0 : 1.0f / weight_sum);
        for (int d = 0; d < head_dim; d += 8) {
            _mm256_storeu_ps(output + d, _mm256_mul_ps(_mm256_load_ps(sum_half + d), inverse));
        }
    }
}
#endif

static void attention_task(void *context, int task, int thread) {
    const attention_job *job = context;
    const sk_attention_parameters *p = job->parameters;
    int kv_heads = p->layout.kv_heads;

    int chunk = task % job->chunks_per_sequence;
    int kv_head = (task / job->chunks_per_sequence) % kv_heads;
    const sk_attention_sequence *sequence = &job->sequences[task / job->chunks_per_sequence / kv_heads];
    int first_row = chunk * ROWS_PER_TASK;
    int end_row = first_row + ROWS_PER_TASK < sequence->count ? first_row + ROWS_PER_TASK : sequence->count;
    float *scores = p->scratch + (size_t)thread * p->scratch_stride;

    for (int row = first_row; row < end_row; row++) {
#if SK_X86
        if (sk_use_avx2() && p->layout.head_dim % 32 == 0 && p->layout.head_dim <= 512) {
            attend_row_avx2(p, sequence, kv_head, row, scores);
            continue;
        }
#endif
        attend_row_portable(p, sequence, kv_head, row, scores);
    }
}

void sk_attention(sk_pool *pool, const sk_attention_parameters *parameters, const sk_attention_sequence *sequences,
                  int sequence_count) {
    int max_count = 0;
    for (int i = 0; i < sequence_count; i++) {
        if (sequences[i].count > max_count) max_count = sequences[i].count;
    }
    if (max_count == 0) return;

    // Tasks form a grid of sequence x KV head x chunk of rows. Chunks past a
    // sequence's row count do nothing, which costs less than building a packed task list.
    attention_job job = {
        .parameters = parameters,
        .sequences = sequences,
        .sequence_count = sequence_count,
        .chunks_per_sequence = (max_count + ROWS_PER_TASK - 1) / ROWS_PER_TASK,
    };
    sk_pool_run(pool, attention_task, &job, sequence_count * parameters->layout.kv_heads * job.chunks_per_sequence);
}
