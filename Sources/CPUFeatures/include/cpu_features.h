// What the kernels need from the CPU beyond Swift: which vector instructions it runs (to choose
// the micro-kernel's tile shape), and a software prefetch (Swift has none).
#ifndef ATTN_CPU_FEATURES_H
#define ATTN_CPU_FEATURES_H
int attn_cpu_has_avx512f(void);
int attn_cpu_has_avx2_fma(void);

// Brings the cache line at `address` in for writing (the GEMM's output tiles).
static inline void attn_prefetch_for_write(const void *address) { __builtin_prefetch(address, 1, 3); }
#endif
