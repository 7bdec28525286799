/* Monotonic time for every stage and driver. */
#ifndef HAL_TIME_H
#define HAL_TIME_H

#include <stdint.h>
#include <time.h>

static inline uint64_t hal_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
