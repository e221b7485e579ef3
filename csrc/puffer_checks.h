/* puffer_checks.h: action validation kernels the engine runs before any environment steps.
 *
 * Each first computes a branch-free "any invalid" reduction (vectorised by the compiler), and only
 * when something is wrong walks the buffer again to report the first offending index.
 */
#ifndef PUFFER_CHECKS_H
#define PUFFER_CHECKS_H

#include <stdint.h>

/* Discrete actions [rows, dims]: 0 <= a[r, d] < n[d]. Returns -1, or the flat index of the first
 * invalid value. */
static inline int64_t puffer_check_discrete(const int32_t* a, int64_t rows, int dims, const int* n) {
    uint32_t bad = 0;
    if (dims == 1) {
        uint32_t lim = (uint32_t)n[0];
        for (int64_t i = 0; i < rows; i++) bad |= (uint32_t)a[i] >= lim;
    } else {
        for (int64_t i = 0; i < rows; i++)
            for (int d = 0; d < dims; d++) bad |= (uint32_t)a[i * dims + d] >= (uint32_t)n[d];
    }
    if (!bad) return -1;
    for (int64_t k = 0; k < rows * dims; k++)
        if ((uint32_t)a[k] >= (uint32_t)n[k % dims]) return k;
    return -1;
}

/* Continuous actions: every value finite. Returns -1, or the index of the first NaN or inf. */
static inline int64_t puffer_check_finite(const float* a, int64_t count) {
    uint32_t bad = 0;
    for (int64_t i = 0; i < count; i++) bad |= !(a[i] - a[i] == 0.0f);
    if (!bad) return -1;
    for (int64_t i = 0; i < count; i++)
        if (!(a[i] - a[i] == 0.0f)) return i;
    return -1;
}

#endif /* PUFFER_CHECKS_H */
