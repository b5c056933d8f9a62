// cuda_util.cuh — error checking shared by the kernel files.
#pragma once

#include <cuda_runtime.h>

#include "common.h"

// Turn a CUDA error into a t2l::Error naming the call site.
#define CUDA_CHECK(expr)                                                                 \
    do {                                                                                 \
        cudaError_t err_ = (expr);                                                       \
        if (err_ != cudaSuccess) t2l::fail("CUDA error in ", #expr, ": ", cudaGetErrorString(err_)); \
    } while (0)
