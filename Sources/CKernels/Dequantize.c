#include "kernels_internal.h"

static void dequantize_q4_0(const sk_block_q4_0 *blocks, float *y, size_t count) {
    for (size_t b = 0; b < count / SK_BLOCK; b++) {
        float d = sk_half_to_float(blocks[b].d);
        float *out = y + b * SK_BLOCK;
        for (int i = 0; i < SK_BLOCK / 2; i++) {
            out[i] = (float)((blocks[b].qs[i] & 0x0F) - 8) * d;
            out[i + SK_BLOCK / 2] = (float)((blocks[b].qs[i] >> 4) - 8) * d;
        }
    }
}

static void dequantize_q4_1(const sk_block_q4_1 *blocks, float *y, size_t count) {
    for (size_t b = 0; b < count / SK_BLOCK; b++) {
        float d = sk_half_to_float(blocks[b].d);
        float m = sk_half_to_float(blocks[b].m);
        float *out = y + b * SK_BLOCK;
        for (int i = 0; i < SK_BLOCK / 2; i++) {
            out[i] = (float)(blocks[b].qs[i] & 0x0F) * d + m;
            out[i + SK_BLOCK / 2] = (float)(blocks[b].qs[i] >> 4) * d + m;
        }
    }
}

static void dequantize_q8_0(const sk_block_q8_0 *blocks, float *y, size_t count) {
    for (size_t b = 0; b < count / SK_BLOCK; b++) {
        float d = sk_half_to_float(blocks[b].d);
        float *out = y + b * SK_BLOCK;
        for (int i = 0; i < SK_BLOCK; i++) {
            out[i] = (float)blocks[b].qs[i] * d;
        }
    }
}

int sk_dequantize_row(int type, const void *source, float *y, size_t count) {
    switch (type) {
    case SK_TYPE_F32:
        memcpy(y, source, count * sizeof(float));
        return 0;
    case SK_TYPE_F16: {
        const uint16_t *halves = source;
        for (size_t i = 0; i < count; i++) y[i] = sk_half_to_float(halves[i]);
        return 0;
    }
    case SK_TYPE_BF16: {
        const uint16_t *halves = source;
        for (size_t i = 0; i < count; i++) y[i] = sk_bf16_to_float(halves[i]);
        return 0;
    }
    case SK_TYPE_Q4_0:
        if (count % SK_BLOCK != 0) return -1;
        dequantize_q4_0(source, y, count);
        return 0;
    case SK_TYPE_Q4_1:
        if (count % SK_BLOCK != 0) return -1;
        dequantize_q4_1(source, y, count);
        return 0;
    case SK_TYPE_Q8_0:
        if (count % SK_BLOCK != 0) return -1;
        dequantize_q8_0(source, y, count);
        return 0;
    default:
        return -1;
    }
}
