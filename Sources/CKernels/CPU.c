#include "kernels_internal.h"

#include <stdatomic.h>

static atomic_int portable_only = 0;

static int detect_avx2(void) {
#if SK_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return 0;
#endif
}

int sk_has_avx2(void) {
    static atomic_int cached = -1;
    int value = atomic_load_explicit(&cached, memory_order_relaxed);
    if (value < 0) {
        value = detect_avx2();
        atomic_store_explicit(&cached, value, memory_order_relaxed);
    }
    return value;
}

int sk_use_avx2(void) {
    return sk_has_avx2() && !atomic_load_explicit(&portable_only, memory_order_relaxed);
}

int sk_set_portable_only(int value) {
    return atomic_exchange(&portable_only, value ? 1 : 0);
}

float sk_fp16_to_fp32(uint16_t value) { return sk_half_to_float(value); }

uint16_t sk_fp32_to_fp16(float value) { return sk_float_to_half(value); }
