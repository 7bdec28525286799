#include "tests/test.h"
#include "firmware/histogram.h"

static struct histogram h;

TEST(empty_is_zero)
{
	histogram_reset(&h);
	ASSERT_EQ(histogram_quantile(&h, 0.5), 0);
}

TEST(small_values_are_exact)
{
	histogram_reset(&h);
	for (int i = 0; i < 8; i++)
		histogram_add(&h, (uint64_t)i);
	ASSERT_EQ(histogram_quantile(&h, 1.0), 7);
	ASSERT_EQ(histogram_quantile(&h, 0.5), 3);
}

TEST(quantiles_within_one_bucket)
{
	histogram_reset(&h);
	/* 1..100000 ns uniformly: p50 ~ 50000, p99 ~ 99000 */
	for (uint64_t v = 1; v <= 100000; v++)
		histogram_add(&h, v);
	uint64_t p50 = histogram_quantile(&h, 0.5), p99 = histogram_quantile(&h, 0.99);
	ASSERT_MSG(p50 >= 50000 && p50 <= 50000 * 1.125 + 1, "p50 %lu", (unsigned long)p50);
	ASSERT_MSG(p99 >= 99000 && p99 <= 99000 * 1.125 + 1, "p99 %lu", (unsigned long)p99);
}

TEST(huge_values_land_in_the_last_bucket)
{
	histogram_reset(&h);
	histogram_add(&h, UINT64_MAX);
	ASSERT(histogram_quantile(&h, 1.0) > 1000000000000ull);
}
