#pragma once
// STRUCTSEQ_CPU_CLONES before a hot, non-template function compiles it three times — for
// AVX-512 (x86-64-v4), AVX2 + FMA (x86-64-v3) and the baseline — and picks one at load time, so
// a portable build still runs vector code on the machine it lands on. The function should call
// STRUCTSEQ_ALWAYS_INLINE templates, which are then compiled inside each clone.

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define STRUCTSEQ_CPU_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STRUCTSEQ_CPU_CLONES
#endif

#define STRUCTSEQ_ALWAYS_INLINE inline __attribute__((always_inline))
