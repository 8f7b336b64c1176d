#ifndef SLUICE_CNGHTTP2_SHIM_H
#define SLUICE_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>

// Size macros that do not import into Swift.
static inline int32_t cnghttp2_initial_window_size(void) { return NGHTTP2_INITIAL_WINDOW_SIZE; }
static inline int32_t cnghttp2_max_window_size(void) { return NGHTTP2_MAX_WINDOW_SIZE; }
#endif
