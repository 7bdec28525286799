#include "firmware/histogram.h"

#include <string.h>

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, sub;

	if (v < HISTOGRAM_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	sub = (unsigned)(v >> (msb - 3)) & (HISTOGRAM_SUB - 1);
	/* msb >= 3 here; bucket row msb-2 keeps rows 0 for the small values */
	if (msb - 2 >= HISTOGRAM_BUCKETS / HISTOGRAM_SUB)
		return HISTOGRAM_BUCKETS - 1;
	return (msb - 2) * HISTOGRAM_SUB + sub;
}

static uint64_t bucket_upper(unsigned b)
{
	unsigned row = b / HISTOGRAM_SUB, sub = b % HISTOGRAM_SUB;
	unsigned msb;

	if (row == 0)
		return sub;
	msb = row + 2;
	return ((uint64_t)(HISTOGRAM_SUB + sub + 1) << (msb - 3)) - 1;
}

void histogram_reset(struct histogram *h)
{
	unsigned i;

	atomic_store(&h->count, 0);
	for (i = 0; i < HISTOGRAM_BUCKETS; i++)
		atomic_store(&h->buckets[i], 0);
}

void histogram_add(struct histogram *h, uint64_t value_ns)
{
	atomic_fetch_add_explicit(&h->buckets[bucket_of(value_ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

uint64_t histogram_quantile(const struct histogram *h, double q)
{
	uint64_t total = 0, seen = 0, want;
	unsigned i;

	for (i = 0; i < HISTOGRAM_BUCKETS; i++)
		total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
	if (!total)
		return 0;
	want = (uint64_t)(q * (double)total + 0.999999);
	if (want < 1)
		want = 1;
	for (i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
		if (seen >= want)
			return bucket_upper(i);
	}
	return bucket_upper(HISTOGRAM_BUCKETS - 1);
}
