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

typedef struct {
    const sk_attention_parameters *parameters;
    const sk_attention_sequence *sequences;
    int sequence_count;
    int chunks_per_sequence;
} attention_job;

// MARK: Portable path

/// Attention of one query row for the `group` query heads that share KV head `kv_head`.
static void attend_row_portable(const sk_attention_parameters *p, const sk_attention_sequence *sequence,
                                int kv_head, int row, float *scores) {
    sk_kv_layout layout = p->layout;
    int group = p->heads / layout.kv_heads;
    int head_dim = layout.head_dim;
    int keys = sequence->first_position + row + 1;

    for (int g = 0; g < group; g++) {
        int head = kv_head * group + g;
        const float *q = sequence->q + (size_t)row * p->q_stride + (size_t)head * head_dim;
        float *output = sequence->output + (size_t)row * p->output_stride + (size_t)head * head_dim;

        float max_score = -INFINITY;
        for (int t = 0; t < keys; t++) {
            const uint16_t *k = kv_row(layout, sequence->pages, p->layer, 0, kv_head, t);
            float dot = 0;
            for (int d = 0; d < head_dim; d++) dot += q[d] * sk_half_to_float(k[d]);
            scores[t] = dot * p->scale;
            if (scores[t] > max_score) max_score = scores[t];
        }
        float sum = 0;
        for (int t = 0; t < keys; t++) {
            scores[t] = expf(scores[t] - max_score);
            sum += scores[t];
        }
        float inverse = 1.0f / sum;

        for (int d = 0; d < head_dim; d++) output[d] = 0;
        for (int t = 0; t < keys; t++) {
            const uint16_t *v = kv_row(layout, sequence->pages, p->layer, 1, kv_head, t);
            float weight = scores[t] * inverse;
            for (int d = 0; d < head_dim; d++) output[d] += weight * sk_half_to_float(v[d]);
        }
    }
}

#if SK_X86

// MARK: AVX2 path

SK_AVX2 static inline float horizontal_sum_attention(__m256 v) {
    __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum4 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    sum4 = _mm_add_ss(sum4, _mm_movehdup_ps(sum4));
    return _mm_cvtss_f32(sum4);
}

/// The AVX2 version of `attend_row_portable`; needs head_dim to be a multiple of 32.
SK_AVX2 static void attend_row_avx2(const sk_attention_parameters *p, const sk_attention_sequence *sequence,
                                    int kv_head, int row, float *scores) {
    sk_kv_layout layout = p->layout;
    int group = p->heads / layout.kv_heads;
    int head_dim = layout.head_dim;
    int keys = sequence->first_position + row + 1;
    // Scores of query head g are at scores[g * stride ...], padded to whole vectors.
    int stride = (keys + 7) & ~7;
    float key[512] __attribute__((aligned(32)));

    const float *queries = sequence->q + (size_t)row * p->q_stride + (size_t)kv_head * group * head_dim;
    for (int t = 0; t < keys; t++) {
        const uint16_t *k = kv_row(layout, sequence->pages, p->layer, 0, kv_head, t);
        for (int d = 0; d < head_dim; d += 8) {
            _mm256_store_ps(key + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(k + d))));
        }
        for (int g = 0; g < group; g++) {
            const float *q = queries + (size_t)g * head_dim;
            __m256 sum0 = _mm256_setzero_ps();
            __m256 sum1 = _mm256_setzero_ps();
            for (int d = 0; d < head_dim; d += 16) {
                sum0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_load_ps(key + d), sum0);
                sum1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d + 8), _mm256_load_ps(key + d + 8), sum1);
            }
            scores[(size_t)g * stride + t] = horizontal_sum_attention(_mm256_add_ps(sum0, sum1)) * p->scale;
        }
    }

    for (int g = 0; g < group; g++) {
        float *s = scores + (size_t)g * stride;
        for (int t = keys; t < stride; t++) s[t] = -INFINITY;

        __m256 max_vector = _mm256_set1_ps(-INFINITY);
        for (int t = 0; t < stride; t += 8) max_vector = _mm256_max_ps(max_vector, _mm256_loadu_ps(s + t));
        __m128 max4 = _mm_max_ps(_mm256_castps256_ps128(max_vector), _mm256_extractf128_ps(max_vector, 1));
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4));
        __m256 max_score = _mm256_set1_ps(_mm_cvtss_f32(max4));

        __m256 sum = _mm256_setzero_ps();
        for (int t = 0; t < stride; t += 8) {
            __m256 e = exp_negative(_mm256_sub_ps(_mm256_loadu_ps(s + t), max_score));
            // The padding is -inf, and exp_negative clamps it to e^-87, so zero it explicitly.
            if (t + 8 > keys) {
                __m256 index = _mm256_add_ps(_mm256_set1_ps((float)t), _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
                e = _mm256_and_ps(e, _mm256_cmp_ps(index, _mm256_set1_ps((float)keys), _CMP_LT_OQ));
            }
            _mm256_storeu_ps(s + t, e);
            sum = _mm256_add_ps(sum, e);
        }
        float inverse = 1.0f / horizontal_sum_attention(sum);

        int head = kv_head * group + g;
        float *output = sequence->output + (size_t)row * p->output_stride + (size_t)head * head_dim;
        for (int d0 = 0; d0 < head_dim; d0 += 32) {
            __m256 acc0 = _mm256_setzero_ps();
            __m256 acc1 = _mm256_setzero_ps();
            __m256 acc2 = _mm256_setzero_ps();
            __m256 acc3 = _mm256_setzero_ps();
            for (int t = 0; t < keys; t++) {
                const uint16_t *v = kv_row(layout, sequence->pages, p->layer, 1, kv_head, t) + d0;
                __m256 weight = _mm256_broadcast_ss(s + t);
                acc0 = _mm256_fmadd_ps(weight, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v)), acc0);
                acc1 = _mm256_fmadd_ps(weight, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8))), acc1);
                acc2 = _mm256_fmadd_ps(weight, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 16))), acc2);
                acc3 = _mm256_fmadd_ps(weight, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 24))), acc3);
            }
            __m256 scale = _mm256_set1_ps(inverse);
            _mm256_storeu_ps(output + d0, _mm256_mul_ps(acc0, scale));
            _mm256_storeu_ps(output + d0 + 8, _mm256_mul_ps(acc1, scale));
            _mm256_storeu_ps(output + d0 + 16, _mm256_mul_ps(acc2, scale));
            _mm256_storeu_ps(output + d0 + 24, _mm256_mul_ps(acc3, scale));
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
