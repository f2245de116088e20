// What the kernels need from the CPU beyond Swift: which vector instructions it runs (to choose
// the micro-kernel's tile shape), and a software prefetch (Swift has none).
#ifndef ATTN_CPU_FEATURES_H
#define ATTN_CPU_FEATURES_H
int attn_cpu_has_avx512f(void);
int attn_cpu_has_avx2_fma(void);

// Brings the cache line at `address` in for writing (the GEMM's output tiles).
static inline void attn_prefetch_for_write(const void *address) { __builtin_prefetch(address, 1, 3); }
// Brings the cache line at `address` into L1 for reading (the tall GEMM tile's B panel, streamed
// from L2).
static inline void attn_prefetch_for_read(const void *address) { __builtin_prefetch(address, 0, 3); }
#endif
