// Which vector instructions this CPU runs, for choosing the micro-kernel's tile shape.
#ifndef ATTN_CPU_FEATURES_H
#define ATTN_CPU_FEATURES_H
int attn_cpu_has_avx512f(void);
int attn_cpu_has_avx2_fma(void);
#endif
