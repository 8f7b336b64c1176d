#include "kernels_internal.h"

// Products of quantized weight rows with 8-bit quantized activation rows.
//
// For one block j of 32 elements, with weight scale dw, activation scale dx
// and integer values w_i, x_i:
//   Q8_0: sum_i (dw w_i)(dx x_i)       = dw dx sum_i w_i x_i
//   Q4_1: sum_i (dw w_i + m)(dx x_i)   = dw dx sum_i w_i x_i + m (dx sum_i x_i)
//   Q4_0: sum_i (dw (w_i - 8))(dx x_i) = dw dx sum_i w_i x_i - 8 dw (dx sum_i x_i)
// so each block needs one integer dot product plus an offset term built from
// the activation block's scaled sum `s`. Kernels call that offset factor
// (m, -8 dw, or 0) the weight's "bias" per block.
//
// The float arithmetic follows ggml's AVX2 `ggml_vec_dot_q4_1_q8_1` and
// `ggml_vec_dot_q8_0_q8_0` (llama.cpp commit 0c1e570): the scaled block dots
// accumulate in eight lanes with FMA, the bias terms accumulate in one scalar
// with FMA in block order, and the result is the lane sum plus that scalar.

/// Weight rows longer than this take the portable path, because the AVX2
/// panel kernel decodes four rows into a stack buffer.
#define MAX_PANEL_COLUMNS 16384

// MARK: Portable path

static void decode_block_portable(int type, const void *row, int j, int8_t *values, float *scale, float *bias) {
    switch (type) {
    case SK_TYPE_Q4_0: {
        const sk_block_q4_0 *block = (const sk_block_q4_0 *)row + j;
        for (int i = 0; i < 16; i++) {
            values[i] = (int8_t)(block->qs[i] & 0x0F);
            values[i + 16] = (int8_t)(block->qs[i] >> 4);
        }
        *scale = sk_half_to_float(block->d);
        *bias = -8 * *scale;
        break;
    }
    case SK_TYPE_Q4_1: {
        const sk_block_q4_1 *block = (const sk_block_q4_1 *)row + j;
        for (int i = 0; i < 16; i++) {
            values[i] = (int8_t)(block->qs[i] & 0x0F);
            values[i + 16] = (int8_t)(block->qs[i] >> 4);
        }
        *scale = sk_half_to_float(block->d);
        *bias = sk_half_to_float(block->m);
        break;
    }
    default: {
        const sk_block_q8_0 *block = (const sk_block_q8_0 *)row + j;
        memcpy(values, block->qs, 32);
        *scale = sk_half_to_float(block->d);
        *bias = 0;
        break;
    }
    }
}

static void rows_portable(const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x) {
    int blocks = x->columns / SK_BLOCK;
    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)m->weights + (size_t)n * m->row_bytes;
        for (int b = 0; b < x->rows; b++) {
            const int8_t *xq = x->q + (size_t)b * x->q_stride;
            const float *xd = x->d + (size_t)b * x->ds_stride;
            const float *xs = x->s + (size_t)b * x->ds_stride;
            float sum = 0;
            float bias_sum = 0;
            for (int j = 0; j < blocks; j++) {
                int8_t values[32];
                float scale, bias;
                decode_block_portable(m->type, row, j, values, &scale, &bias);
                int dot = 0;
                for (int i = 0; i < 32; i++) dot += values[i] * xq[j * 32 + i];
                sum = fmaf(scale * xd[j], (float)dot, sum);
                bias_sum = fmaf(bias, xs[j], bias_sum);
            }
            m->output[(size_t)b * m->output_stride + n] = sum + bias_sum;
        }
    }
}

#if SK_X86

// MARK: AVX2 helpers

SK_AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    sum4 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
    sum4 = _mm_add_ss(sum4, _mm_movehdup_ps(sum4));
    return _mm_cvtss_f32(sum4);
}

/// Returns the 32 nibbles of a Q4 block as bytes in element order.
SK_AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i low = _mm_and_si128(raw, mask);
    __m128i high = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
    return _mm256_set_m128i(high, low);
}

/// Sums adjacent pairs of unsigned-by-signed byte products, then adjacent pairs of those, as floats.
SK_AVX2 static inline __m256 dot_bytes(__m256i unsigned_bytes, __m256i signed_bytes) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i pairs = _mm256_maddubs_epi16(unsigned_bytes, signed_bytes);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
}

// MARK: AVX2, one or two activation rows

/// Weights decoded straight into registers; best when there are too few
/// activation rows to pay for decoding into a buffer. The arithmetic, bias
/// terms included, runs in the same order as `multiply_panel`, so a row's
/// result does not depend on how many rows share the call.
SK_AVX2 __attribute__((always_inline)) static inline void rows_direct_q4(
    const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x, const int batch) {
    int blocks = x->columns / SK_BLOCK;
    int is_q4_1 = m->type == SK_TYPE_Q4_1;
    size_t block_bytes = is_q4_1 ? sizeof(sk_block_q4_1) : sizeof(sk_block_q4_0);
    float biases[MAX_PANEL_COLUMNS / SK_BLOCK];

    for (int n = n0; n < n1; n++) {
        const uint8_t *row = (const uint8_t *)m->weights + (size_t)n * m->row_bytes;
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};

        for (int j = 0; j < blocks; j++) {
            const uint8_t *block = row + (size_t)j * block_bytes;
            float scale;
            const uint8_t *qs;
            if (is_q4_1) {
                const sk_block_q4_1 *b = (const sk_block_q4_1 *)block;
                scale = _cvtsh_ss(b->d);
                biases[j] = _cvtsh_ss(b->m);
                qs = b->qs;
            } else {
                const sk_block_q4_0 *b = (const sk_block_q4_0 *)block;
                scale = _cvtsh_ss(b->d);
                biases[j] = -8 * scale;
                qs = b->qs;
            }
            __m256i w = unpack_nibbles(qs);

            for (int c = 0; c < batch; c++) {
                const int8_t *xq = x->q + (size_t)c * x->q_stride + (size_t)j * SK_BLOCK;
                float dx = x->d[(size_t)c * x->ds_stride + j];
                __m256 products = dot_bytes(w, _mm256_loadu_si256((const __m256i *)xq));
                acc[c] = _mm256_fmadd_ps(products, _mm256_set1_ps(scale * dx), acc[c]);
            }
        }
        for (int c = 0; c < batch; c++) {
            const float *xs = x->s + (size_t)c * x->ds_stride;
            float bias_sum = 0;
            for (int j = 0; j < blocks; j++) bias_sum = fmaf(biases[j], xs[j], bias_sum);
            m->output[(size_t)c * m->output_stride + n] = horizontal_sum(acc[c]) + bias_sum;
        }
    }
}

SK_AVX2 __attribute__((always_inline)) static inline void rows_direct_q8(
    const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x, const int batch) {
    int blocks = x->columns / SK_BLOCK;
    for (int n = n0; n < n1; n++) {
        const sk_block_q8_0 *row = (const sk_block_q8_0 *)((const uint8_t *)m->weights + (size_t)n * m->row_bytes);
        __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int j = 0; j < blocks; j++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)row[j].qs);
            __m256i magnitude = _mm256_sign_epi8(w, w);
            float scale = _cvtsh_ss(row[j].d);
            for (int c = 0; c < batch; c++) {
                const int8_t *xq = x->q + (size_t)c * x->q_stride + (size_t)j * SK_BLOCK;
                float dx = x->d[(size_t)c * x->ds_stride + j];
                // |w| * (x with w's sign) is w * x with an unsigned left operand, as maddubs needs.
                __m256i signed_x = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xq), w);
                acc[c] = _mm256_fmadd_ps(dot_bytes(magnitude, signed_x), _mm256_set1_ps(scale * dx), acc[c]);
            }
        }
        for (int c = 0; c < batch; c++) {
            m->output[(size_t)c * m->output_stride + n] = horizontal_sum(acc[c]);
        }
    }
}

// MARK: AVX2, many activation rows

/// Weight rows decoded once into a buffer, then multiplied with every activation row.
typedef struct {
    uint8_t *values;   // [4][columns]: nibbles (Q4) or magnitudes (Q8_0)
    int8_t *signs;     // [4][columns]: the signed values (Q8_0 only)
    float *scales;     // [4][ds_stride]
    float *biases;     // [4][ds_stride], zero padded
    size_t ds_stride;
    int columns;
} decoded_panel;

SK_AVX2 static void decode_row(const sk_qmatrix *m, int n, decoded_panel *panel, int slot) {
    int blocks = panel->columns / SK_BLOCK;
    const uint8_t *row = (const uint8_t *)m->weights + (size_t)n * m->row_bytes;
    uint8_t *values = panel->values + (size_t)slot * panel->columns;
    float *scales = panel->scales + (size_t)slot * panel->ds_stride;
    float *biases = panel->biases + (size_t)slot * panel->ds_stride;

    for (int j = 0; j < blocks; j++) {
        __m256i *destination = (__m256i *)(values + (size_t)j * SK_BLOCK);
        if (m->type == SK_TYPE_Q4_1) {
            const sk_block_q4_1 *block = (const sk_block_q4_1 *)row + j;
            _mm256_store_si256(destination, unpack_nibbles(block->qs));
            scales[j] = _cvtsh_ss(block->d);
            biases[j] = _cvtsh_ss(block->m);
        } else if (m->type == SK_TYPE_Q4_0) {
            const sk_block_q4_0 *block = (const sk_block_q4_0 *)row + j;
            _mm256_store_si256(destination, unpack_nibbles(block->qs));
            scales[j] = _cvtsh_ss(block->d);
            biases[j] = -8 * scales[j];
        } else {
            const sk_block_q8_0 *block = (const sk_block_q8_0 *)row + j;
            __m256i w = _mm256_loadu_si256((const __m256i *)block->qs);
            _mm256_store_si256(destination, _mm256_sign_epi8(w, w));
            _mm256_store_si256((__m256i *)(panel->signs + (size_t)slot * panel->columns + (size_t)j * SK_BLOCK), w);
            scales[j] = _cvtsh_ss(block->d);
            biases[j] = 0;
        }
    }
    for (size_t j = (size_t)blocks; j < panel->ds_stride; j++) {
        scales[j] = 0;
        biases[j] = 0;
    }
}

/// Multiplies `rows` decoded weight rows (1 to 4) with activation rows b ..< b + batch (1 or 2).
SK_AVX2 __attribute__((always_inline)) static inline void multiply_panel(
    const decoded_panel *panel, const int rows, const int is_q8, const sk_q8_rows *x, int b, const int batch,
    float *output, size_t output_stride) {
    int blocks = panel->columns / SK_BLOCK;
    __m256 acc[4][2];
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < batch; c++) acc[r][c] = _mm256_setzero_ps();
    }

    const int8_t *xq[2];
    const float *xd[2];
    const float *xs[2];
    for (int c = 0; c < batch; c++) {
        xq[c] = x->q + (size_t)(b + c) * x->q_stride;
        xd[c] = x->d + (size_t)(b + c) * x->ds_stride;
        xs[c] = x->s + (size_t)(b + c) * x->ds_stride;
    }

    for (int j = 0; j < blocks; j++) {
        __m256i xv[2];
        __m256 dx[2];
        for (int c = 0; c < batch; c++) {
            xv[c] = _mm256_loadu_si256((const __m256i *)(xq[c] + (size_t)j * SK_BLOCK));
            dx[c] = _mm256_broadcast_ss(xd[c] + j);
        }
        for (int r = 0; r < rows; r++) {
            __m256i w = _mm256_load_si256((const __m256i *)(panel->values + (size_t)r * panel->columns +
                                                             (size_t)j * SK_BLOCK));
            __m256 dw = _mm256_broadcast_ss(panel->scales + (size_t)r * panel->ds_stride + j);
            __m256i sign = is_q8 ? _mm256_load_si256((const __m256i *)(panel->signs + (size_t)r * panel->columns +
                                                                        (size_t)j * SK_BLOCK))
                                 : _mm256_setzero_si256();
            for (int c = 0; c < batch; c++) {
                __m256i operand = is_q8 ? _mm256_sign_epi8(xv[c], sign) : xv[c];
                acc[r][c] = _mm256_fmadd_ps(dot_bytes(w, operand), _mm256_mul_ps(dw, dx[c]), acc[r][c]);
            }
        }
    }

    for (int c = 0; c < batch; c++) {
        for (int r = 0; r < rows; r++) {
            float bias_sum = 0;
            if (!is_q8) {
                const float *biases = panel->biases + (size_t)r * panel->ds_stride;
                for (int j = 0; j < blocks; j++) bias_sum = fmaf(biases[j], xs[c][j], bias_sum);
            }
            output[(size_t)(b + c) * output_stride + r] = horizontal_sum(acc[r][c]) + bias_sum;
        }
    }
}

SK_AVX2 static void rows_panel(const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x) {
    int columns = x->columns;
    size_t ds_stride = x->ds_stride;
    int is_q8 = m->type == SK_TYPE_Q8_0;

    uint8_t value_storage[4 * MAX_PANEL_COLUMNS + 32];
    int8_t sign_storage[is_q8 ? 4 * columns + 32 : 1];
    float scales[4 * ds_stride];
    float biases[4 * ds_stride];
    decoded_panel panel = {
        .values = (uint8_t *)(((uintptr_t)value_storage + 31) & ~(uintptr_t)31),
        .signs = is_q8 ? (int8_t *)(((uintptr_t)sign_storage + 31) & ~(uintptr_t)31) : NULL,
        .scales = scales,
        .biases = biases,
        .ds_stride = ds_stride,
        .columns = columns,
    };

    int batch = x->rows;
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        for (int r = 0; r < 4; r++) decode_row(m, n + r, &panel, r);
        float *output = m->output + n;
        int b = 0;
        if (is_q8) {
            for (; b + 2 <= batch; b += 2) multiply_panel(&panel, 4, 1, x, b, 2, output, m->output_stride);
            if (b < batch) multiply_panel(&panel, 4, 1, x, b, 1, output, m->output_stride);
        } else {
            for (; b + 2 <= batch; b += 2) multiply_panel(&panel, 4, 0, x, b, 2, output, m->output_stride);
            if (b < batch) multiply_panel(&panel, 4, 0, x, b, 1, output, m->output_stride);
        }
    }
    for (; n < n1; n++) {
        decode_row(m, n, &panel, 0);
        float *output = m->output + n;
        for (int b = 0; b < batch; b++) {
            if (is_q8) {
                multiply_panel(&panel, 1, 1, x, b, 1, output, m->output_stride);
            } else {
                multiply_panel(&panel, 1, 0, x, b, 1, output, m->output_stride);
            }
        }
    }
}

SK_AVX2 static void rows_avx2(const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x) {
    int is_q8 = m->type == SK_TYPE_Q8_0;
    switch (x->rows) {
    case 1:
        if (is_q8) rows_direct_q8(m, n0, n1, x, 1); else rows_direct_q4(m, n0, n1, x, 1);
        break;
    case 2:
        if (is_q8) rows_direct_q8(m, n0, n1, x, 2); else rows_direct_q4(m, n0, n1, x, 2);
        break;
    default:
        rows_panel(m, n0, n1, x);
        break;
    }
}
#endif

// MARK: Dispatch

static void multiply_rows(const sk_qmatrix *m, int n0, int n1, const sk_q8_rows *x) {
#if SK_X86
    if (sk_use_avx2() && x->columns <= MAX_PANEL_COLUMNS) {
        rows_avx2(m, n0, n1, x);
        return;
    }
#endif
    rows_portable(m, n0, n1, x);
}

typedef struct {
    const sk_qmatrix *matrices;
    int matrix_count;
    int chunk_rows;
    int total_rows;
    const sk_q8_rows *x;
} qmatmul_job;

/// Task `task` covers rows [task * chunk_rows, ...) of all matrices stacked on top of each other.
static void qmatmul_task(void *context, int task, int thread) {
    (void)thread;
    const qmatmul_job *job = context;
    int begin = task * job->chunk_rows;
    int end = begin + job->chunk_rows < job->total_rows ? begin + job->chunk_rows : job->total_rows;
    int offset = 0;
    for (int i = 0; i < job->matrix_count && offset < end; i++) {
        const sk_qmatrix *m = &job->matrices[i];
        int first = begin > offset ? begin - offset : 0;
        int last = end - offset < m->rows ? end - offset : m->rows;
        if (first < last) multiply_rows(m, first, last, job->x);
        offset += m->rows;
    }
}

int sk_qmatmul(sk_pool *pool, const sk_qmatrix *matrices, int matrix_count, const sk_q8_rows *x) {
    int total_rows = 0;
    for (int i = 0; i < matrix_count; i++) {
        int type = matrices[i].type;
        if (type != SK_TYPE_Q4_0 && type != SK_TYPE_Q4_1 && type != SK_TYPE_Q8_0) return -1;
        total_rows += matrices[i].rows;
    }
    if (total_rows == 0 || x->rows == 0) return 0;

    // About eight tasks per thread balance the load when a core is shared,
    // and rows come in fours so the panel kernel rarely needs its one-row tail.
    int threads = sk_pool_thread_count(pool);
    int chunk_rows = (total_rows + threads * 8 - 1) / (threads * 8);
    chunk_rows = (chunk_rows + 3) & ~3;
    if (chunk_rows < 16) chunk_rows = 16;

    qmatmul_job job = {
        .matrices = matrices,
        .matrix_count = matrix_count,
        .chunk_rows = chunk_rows,
        .total_rows = total_rows,
        .x = x,
    };
    sk_pool_run(pool, qmatmul_task, &job, (total_rows + chunk_rows - 1) / chunk_rows);
    return 0;
}
