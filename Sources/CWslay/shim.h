#ifndef SLUICE_CWSLAY_SHIM_H
#define SLUICE_CWSLAY_SHIM_H
#include <wslay/wslay.h>
#endif
