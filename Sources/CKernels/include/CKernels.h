#ifndef SLUICE_CKERNELS_H
#define SLUICE_CKERNELS_H
// Vectorized numeric kernels of the CPU engine: weight dequantization,
// activation quantization, quantized matrix multiplication, attention over an
// F16 KV cache, and the thread pool that runs them. Every kernel has an AVX2
// path chosen at run time and a portable fallback with the same results up to
// float rounding.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Weight storage types, numbered as ggml numbers them in GGUF files.
enum {
    SK_TYPE_F32 = 0,
    SK_TYPE_F16 = 1,
    SK_TYPE_Q4_0 = 2,
    SK_TYPE_Q4_1 = 3,
    SK_TYPE_Q8_0 = 8,
    SK_TYPE_BF16 = 30,
};

/// Elements per block of the quantized types, and of the 8-bit activation blocks.
#define SK_BLOCK 32

/// Whether the AVX2 (with FMA and F16C) paths are in use on this CPU.
int sk_has_avx2(void);

/// Forces the portable paths (for tests that compare the two); returns the previous setting.
int sk_set_portable_only(int portable_only);

// MARK: - Conversions and dequantization

float sk_fp16_to_fp32(uint16_t value);
uint16_t sk_fp32_to_fp16(float value);

/// Converts `count` elements of one row of the given type to F32. `count` must
/// be a multiple of the type's block size. Returns 0, or -1 for an unsupported type.
int sk_dequantize_row(int type, const void *source, float *destination, size_t count);

// MARK: - Activations

/// Rows of activations quantized to 8 bits in blocks of 32: `q[r * q_stride + i]`
/// holds the integers, `d[r * ds_stride + j]` the scale of block j and
/// `s[r * ds_stride + j]` the scale times the sum of the block's integers.
/// `ds_stride` is at least the block count rounded up to a multiple of 8, and
/// the padding entries are 0.
typedef struct {
    int8_t *q;
    float *d;
    float *s;
    size_t q_stride;
    size_t ds_stride;
    int rows;
    int columns;
} sk_q8_rows;

/// Quantizes `rows` rows of `columns` floats (row stride `x_stride`) into
/// `output`, setting its `rows` and `columns`. `columns` must be a multiple of 32.
void sk_quantize_rows(const float *x, size_t x_stride, int rows, int columns, sk_q8_rows *output);

/// Applies RMS normalization to `rows` rows: y = x / sqrt(mean(x^2) + epsilon) * weight.
void sk_rms_norm(const float *x, size_t x_stride, float *y, size_t y_stride, int rows, int columns,
                 const float *weight, float epsilon);

/// Computes gate = silu(gate) * up element-wise over `rows` rows.
void sk_silu_multiply(float *gate, size_t gate_stride, const float *up, size_t up_stride, int rows, int columns);

/// Adds `addend` to `x` element-wise over `rows` rows.
void sk_add_rows(float *x, size_t x_stride, const float *addend, size_t addend_stride, int rows, int columns);

/// Rotates adjacent pairs (2i, 2i+1) of every head of every row by the row's
/// angles: `cos_sin[r * head_dim + 2i]` is cos and `[... + 2i + 1]` is sin of
/// the angle of pair i at row r's position.
void sk_rope(float *x, size_t x_stride, int rows, int heads, int head_dim, const float *cos_sin);

/// Writes output[i] = e^((x[i] - shift) * multiplier) and returns the sum.
/// Inputs must make every exponent at most 0 (shift = max, multiplier > 0);
/// exponents below -87 give about e^-87 on the AVX2 path.
float sk_exp_shifted(const float *x, int count, float shift, float multiplier, float *output);

// MARK: - Thread pool

typedef struct sk_pool sk_pool;

/// A task function: `task` is in [0, task_count), `thread` in [0, thread count).
typedef void (*sk_task_function)(void *context, int task, int thread);

/// Creates a pool of `threads` threads, the calling thread included. Idle
/// workers spin for `spin_microseconds` after each job, then sleep on a
/// condition variable. Returns NULL when a thread cannot be started.
sk_pool *sk_pool_create(int threads, int spin_microseconds);
void sk_pool_destroy(sk_pool *pool);
int sk_pool_thread_count(const sk_pool *pool);

/// Runs `task_count` tasks on the pool and the calling thread, and returns
/// when all are done. Tasks are handed out one at a time in index order.
/// Must be called from one thread at a time.
void sk_pool_run(sk_pool *pool, sk_task_function function, void *context, int task_count);

// MARK: - Quantized matrix multiplication

/// A weight matrix of `rows` rows of quantized blocks (Q4_0, Q4_1 or Q8_0),
/// row `n` starting at `weights + n * row_bytes`, and where its products go:
/// `output[b * output_stride + n]` for activation row b.
typedef struct {
    int type;
    const void *weights;
    size_t row_bytes;
    int rows;
    float *output;
    size_t output_stride;
} sk_qmatrix;

/// Computes output[b][n] = sum_k W[n][k] * x[b][k] for every matrix in
/// `matrices` (all with `x.columns` columns) and every row of `x`, splitting
/// the weight rows over the pool. Returns 0, or -1 for an unsupported type.
int sk_qmatmul(sk_pool *pool, const sk_qmatrix *matrices, int matrix_count, const sk_q8_rows *x);

// MARK: - KV cache and attention

/// The layout of one sequence's KV cache pages. A page contains `page_tokens`
/// positions of every layer: for each layer, K then V, each as
/// [kv_heads][page_tokens][head_dim] F16 values.
typedef struct {
    int layers;
    int kv_heads;
    int head_dim;
    int page_tokens;
} sk_kv_layout;

/// Bytes of one page.
size_t sk_kv_page_bytes(sk_kv_layout layout);

/// Stores `count` rows of K and V (F32, heads side by side) for positions
/// `first_position ..< first_position + count` of `layer` into the pages.
void sk_kv_store(sk_kv_layout layout, void *const *pages, int layer, int first_position, int count,
                 const float *k, size_t k_stride, const float *v, size_t v_stride);

/// One sequence's part of an attention call: `count` query rows at positions
/// `first_position ..< first_position + count`, whose K and V are already stored.
typedef struct {
    void *const *pages;
    int first_position;
    int count;
    const float *q;
    float *output;
} sk_attention_sequence;

typedef struct {
    sk_kv_layout layout;
    int layer;
    int heads;
    size_t q_stride;
    size_t output_stride;
    float scale;
    /// Per-thread score buffers: thread t uses `scratch + t * scratch_stride`,
    /// which needs room for (heads / kv_heads) * (max position + 8) floats.
    float *scratch;
    size_t scratch_stride;
} sk_attention_parameters;

/// Computes causal softmax attention with grouped KV heads for every sequence.
void sk_attention(sk_pool *pool, const sk_attention_parameters *parameters, const sk_attention_sequence *sequences,
                  int sequence_count);

#ifdef __cplusplus
}
#endif
#endif
