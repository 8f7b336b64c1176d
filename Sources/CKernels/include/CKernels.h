#ifndef SLUICE_CKERNELS_H
#define SLUICE_CKERNELS_H
#include <stddef.h>
#include <stdint.h>
#endif
