/*
 * bench_ring — our SPSC ring against ck_ring (Concurrency Kit), measured in
 * the same run on the same machine:
 *   1. throughput: a producer thread and a consumer thread move 8-byte items
 *      through a 1024-slot ring, items/s;
 *   2. round trip: ping-pong over two rings, p50 and p99 in ns.
 * Threads are pinned to CPUs 0 and 1 when the machine allows it; each
 * measurement alternates ours/ck and takes the median of the repeats.
 * Usage: bench_ring [repeats]   (default 11)
 */
#include <ck_ring.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firmware/ring.h"

#define CAPACITY 1024
#define THROUGHPUT_ITEMS 5000000u
#define ROUND_TRIPS 100000u
#define MAX_REPEATS 15

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu >= CPU_SETSIZE)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: unpinned runs are noisier, not wrong. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void fail(const char *what)
{
	fprintf(stderr, "bench_ring: %s\n", what);
	exit(1);
}

/* Either ring behind one interface, so both run the very same loops. */
struct queue {
	struct ring *ours;
	struct ck_ring ck;
	struct ck_ring_buffer *ck_buf;
};

static inline int q_push(struct queue *q, uint64_t v)
{
	if (q->ours)
		return ring_push(q->ours, &v, sizeof(v)) == 0;
	return ck_ring_enqueue_spsc(&q->ck, q->ck_buf, (void *)(uintptr_t)v);
}

static inline int q_pop(struct queue *q, uint64_t *v)
{
	if (q->ours)
		return ring_pop(q->ours, v, sizeof(*v), NULL) == 1;
	{
		void *p;

		if (!ck_ring_dequeue_spsc(&q->ck, q->ck_buf, &p))
			return 0;
		*v = (uint64_t)(uintptr_t)p;
		return 1;
	}
}

static void q_init(struct queue *q, int ours, const char *name)
{
	memset(q, 0, sizeof(*q));
	if (ours) {
		struct ring_params p = {name, sizeof(uint64_t), CAPACITY, RING_OVERFLOW_REJECT,
					RING_SPSC};

		if (ring_create(&p, &q->ours) < 0)
			fail("ring_create failed");
		return;
	}
	if (posix_memalign((void **)&q->ck_buf, 64, CAPACITY * sizeof(*q->ck_buf)) != 0)
		fail("out of memory");
	memset(q->ck_buf, 0, CAPACITY * sizeof(*q->ck_buf));
	ck_ring_init(&q->ck, CAPACITY);
}

static void q_fini(struct queue *q)
{
	ring_free(q->ours);
	free(q->ck_buf);
}

/* ---- throughput ---- */

struct tp_run {
	struct queue q;
	_Atomic int ready;
	uint64_t n;
	int bad;
};

static void *tp_consumer(void *arg)
{
	struct tp_run *t = arg;
	uint64_t v, want = 0;

	pin(1);
	atomic_fetch_add(&t->ready, 1);
	while (atomic_load(&t->ready) < 2)
		;
	while (want < t->n) {
		if (!q_pop(&t->q, &v))
			continue;
		if (v != want)
			t->bad = 1;
		want++;
	}
	return NULL;
}

static double throughput(int ours)
{
	struct tp_run t;
	pthread_t th;
	uint64_t t0, t1;

	memset(&t, 0, sizeof(t));
	q_init(&t.q, ours, "bench");
	t.n = THROUGHPUT_ITEMS;
	pin(0);
	if (pthread_create(&th, NULL, tp_consumer, &t) != 0)
		fail("pthread_create failed");
	atomic_fetch_add(&t.ready, 1);
	while (atomic_load(&t.ready) < 2)
		;
	t0 = now_ns();
	for (uint64_t i = 0; i < t.n; i++)
		while (!q_push(&t.q, i))
			;
	pthread_join(th, NULL);
	t1 = now_ns();
	if (t.bad)
		fail("items arrived out of order");
	q_fini(&t.q);
	return (double)t.n * 1e9 / (double)(t1 - t0);
}

/* ---- round trip ---- */

struct rt_run {
	struct queue ping, pong;
	_Atomic int ready;
	uint64_t n;
	uint64_t *samples;
};

static void *rt_echo(void *arg)
{
	struct rt_run *t = arg;
	uint64_t v;

	pin(1);
	atomic_fetch_add(&t->ready, 1);
	for (uint64_t i = 0; i < t->n; i++) {
		while (!q_pop(&t->ping, &v))
			;
		while (!q_push(&t->pong, v))
			;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void roundtrip(int ours, double *p50, double *p99)
{
	struct rt_run t;
	pthread_t th;
	uint64_t v;

	memset(&t, 0, sizeof(t));
	q_init(&t.ping, ours, "ping");
	q_init(&t.pong, ours, "pong");
	t.n = ROUND_TRIPS;
	t.samples = malloc(t.n * sizeof(*t.samples));
	if (!t.samples)
		fail("out of memory");
	pin(0);
	if (pthread_create(&th, NULL, rt_echo, &t) != 0)
		fail("pthread_create failed");
	while (atomic_load(&t.ready) < 1)
		;
	for (uint64_t i = 0; i < t.n; i++) {
		uint64_t t0 = now_ns();

		while (!q_push(&t.ping, i))
			;
		while (!q_pop(&t.pong, &v))
			;
		t.samples[i] = now_ns() - t0;
		if (v != i)
			fail("round trip returned the wrong item");
	}
	pthread_join(th, NULL);
	qsort(t.samples, t.n, sizeof(*t.samples), cmp_u64);
	*p50 = (double)t.samples[t.n / 2];
	*p99 = (double)t.samples[t.n * 99 / 100];
	free(t.samples);
	q_fini(&t.ping);
	q_fini(&t.pong);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *metric, double ours, double ref, const char *unit, double ratio,
		   int has_goal)
{
	printf("bench ring.%s ours=%.0f ref=%.0f unit=%s ratio=%.2f ", metric, ours, ref, unit,
	       ratio);
	if (has_goal)
		printf("goal>=1.00 %s\n", ratio >= 1.0 ? "PASS" : "MISS");
	else
		printf("goal=none\n");
}

int main(int argc, char **argv)
{
	int repeats = argc > 1 ? atoi(argv[1]) : 11;
	double tp[2][MAX_REPEATS], p50[2][MAX_REPEATS], p99[2][MAX_REPEATS];
	double o, c;

	if (repeats < 1 || repeats > MAX_REPEATS) {
		fprintf(stderr, "usage: bench_ring [repeats 1..%d]\n", MAX_REPEATS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Warm up caches, the allocator and the CPU clocks once each. */
	throughput(1);
	throughput(0);
	for (int i = 0; i < repeats; i++) {
		/* Alternate who goes first so drift does not favour either. */
		for (int k = 0; k < 2; k++) {
			int ours = (i + k) % 2;

			tp[ours][i] = throughput(ours);
			roundtrip(ours, &p50[ours][i], &p99[ours][i]);
		}
	}
	o = median(tp[1], repeats);
	c = median(tp[0], repeats);
	report("spsc_throughput", o, c, "items/s", o / c, 1);
	o = median(p50[1], repeats);
	c = median(p50[0], repeats);
	report("roundtrip_p50", o, c, "ns", c / o, 1);
	o = median(p99[1], repeats);
	c = median(p99[0], repeats);
	report("roundtrip_p99", o, c, "ns", c / o, 0);
	return 0;
}
