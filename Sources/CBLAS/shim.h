#ifndef SLUICE_CBLAS_SHIM_H
#define SLUICE_CBLAS_SHIM_H
#include <cblas.h>
#endif
