/*
 * histogram — a fixed, lock-free latency histogram for per-item stage
 * latency. Log-linear buckets (8 per power of two, so a quantile is within
 * 12.5% of the true value) over 1 ns .. ~2^40 ns; one atomic add per sample,
 * no allocation, readable from another thread.
 */
#ifndef FIRMWARE_HISTOGRAM_H
#define FIRMWARE_HISTOGRAM_H

#include <stdatomic.h>
#include <stdint.h>

#define HISTOGRAM_SUB 8
#define HISTOGRAM_BUCKETS (41 * HISTOGRAM_SUB)

struct histogram {
	_Atomic uint64_t count;
	_Atomic uint64_t buckets[HISTOGRAM_BUCKETS];
};

void histogram_reset(struct histogram *h);
void histogram_add(struct histogram *h, uint64_t value_ns);
/* The q-quantile (0 < q <= 1), as the upper bound of its bucket; 0 if empty. */
uint64_t histogram_quantile(const struct histogram *h, double q);

#endif
