#include "tests/test.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "firmware/ring.h"

/*
 * The threaded tests move tens of millions of items at -O2; sanitizers make
 * that ~20x slower, so they scale down (RING_TEST_DIVISOR overrides).
 */

static uint64_t scaled(uint64_t n)
{
	const char *env = getenv("RING_TEST_DIVISOR");
	uint64_t div = 1;

#if TEST_SANITIZED
	div = 20;
#endif
	if (env && atoi(env) > 0)
		div = (uint64_t)atoi(env);
	return n / div ? n / div : 1;
}

/*
 * A ring bug can also show as a hang (a lost wake-up, a livelocked push):
 * make that a failure with a message rather than a stuck CI job.
 */
static void watchdog_fired(int sig)
{
	static const char msg[] = "test_ring: watchdog: still running after 120 s; a test hung "
				  "(lost wake-up or livelock in the ring)\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

__attribute__((constructor)) static void watchdog_start(void)
{
	signal(SIGALRM, watchdog_fired);
	alarm(120);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct ring *make(const char *name, size_t slot, size_t cap, enum ring_overflow o,
			 enum ring_producers p)
{
	struct ring_params params = {name, slot, cap, o, p};
	struct ring *r = NULL;

	if (ring_create(&params, &r) < 0)
		return NULL;
	return r;
}

/* The three supported kinds, for tests that apply to all of them. */
static const struct {
	enum ring_overflow o;
	enum ring_producers p;
} kinds[] = {
    {RING_OVERFLOW_REJECT, RING_SPSC},
    {RING_OVERFLOW_REJECT, RING_MPSC},
    {RING_OVERFLOW_DROP_OLDEST, RING_SPSC},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Item i's byte j: any overwrite or mix-up of items shows. */
static unsigned char pattern(uint64_t i, size_t j)
{
	return (unsigned char)(i * 131 + j * 7 + (i >> 8));
}

static void fill(unsigned char *buf, uint64_t i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		buf[j] = pattern(i, j);
}

static bool intact(const unsigned char *buf, uint64_t i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		if (buf[j] != pattern(i, j))
			return false;
	return true;
}

/* ---- parameters ---- */

static int check(struct ring_params p, char *msg)
{
	struct ring *r = (struct ring *)0x1;
	int a = ring_params_check(&p, msg, RING_ERROR_MAX);
	int b = ring_create(&p, &r);

	if (a != b)
		return 12345; /* create disagrees with check */
	if (b == 0) {
		ring_free(r);
		return 0;
	}
	if (r != (struct ring *)0x1)
		return 12346; /* touched *ret on error */
	return a;
}

TEST(params_rejected_with_reason)
{
	char msg[RING_ERROR_MAX];
	struct ring_params ok = {"events", 64, 16, RING_OVERFLOW_REJECT, RING_SPSC};
	struct ring_params p;
	struct ring *r = (struct ring *)0x1;

	ASSERT_EQ(ring_params_check(NULL, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "no parameters");
	ASSERT_EQ(ring_create(NULL, &r), -EINVAL);
	ASSERT(r == (struct ring *)0x1);
	ASSERT_EQ(check(ok, msg), 0);
	ASSERT_EQ(ring_params_check(&ok, msg, sizeof(msg)), 0);
	ASSERT_EQ(ring_params_check(&ok, NULL, 0), 0);

	p = ok;
	p.name = NULL;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "name is empty");
	p.name = "";
	ASSERT_EQ(check(p, msg), -EINVAL);
	p.name = "a-very-long-ring-name-that-goes-on-and-on";
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "longer than 31 characters");

	p = ok;
	p.slot_size = 0;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "ring events: slot_size 0 is out of range");
	p.slot_size = RING_MAX_SLOT_SIZE + 1;
	ASSERT_EQ(check(p, msg), -EINVAL);

	p = ok;
	p.capacity = 100;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "ring events: capacity 100 is not a power of two; use 64 or 128");
	p.capacity = 3;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "use 2 or 4");
	p.capacity = 0;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "capacity 0 is out of range");
	p.capacity = 1;
	ASSERT_EQ(check(p, msg), -EINVAL);
	p.capacity = RING_MAX_CAPACITY * 2;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "out of range");

	p = ok;
	p.overflow = (enum ring_overflow)7;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "overflow policy 7 is unknown");
	p = ok;
	p.producers = (enum ring_producers) - 1;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "producers -1 is unknown");

	p = ok;
	p.overflow = RING_OVERFLOW_DROP_OLDEST;
	p.producers = RING_MPSC;
	ASSERT_EQ(check(p, msg), -ENOTSUP);
	ASSERT_CONTAINS(msg, "drop-oldest needs a single producer");

	/* 64 camera frames of 32 MiB: over the allocation limit. */
	p = ok;
	p.slot_size = 32u << 20;
	p.capacity = 64;
	ASSERT_EQ(check(p, msg), -EINVAL);
	ASSERT_CONTAINS(msg, "lower capacity or slot_size");
}

TEST(create_accessors_and_free)
{
	struct ring *r = make("frames", 100, 8, RING_OVERFLOW_DROP_OLDEST, RING_SPSC);
	struct ring_stats st;

	ASSERT(r);
	ASSERT_STREQ(ring_name(r), "frames");
	ASSERT_EQ(ring_slot_size(r), 100);
	ASSERT_EQ(ring_capacity(r), 8);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.capacity, 8);
	ASSERT_EQ(st.depth + st.high_water + st.pushed + st.popped + st.drops + st.rejects, 0);
	ASSERT_STREQ(ring_overflow_name(RING_OVERFLOW_DROP_OLDEST), "drop-oldest");
	ASSERT_STREQ(ring_overflow_name(RING_OVERFLOW_REJECT), "reject");
	ASSERT_STREQ(ring_producers_name(RING_MPSC), "mpsc");
	ASSERT_STREQ(ring_producers_name(RING_SPSC), "spsc");
	ring_free(r);
	ring_free(NULL);
}

TEST(item_data_is_aligned)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *small = make("s", 12, 4, kinds[k].o, kinds[k].p);
		struct ring *big = make("b", 1000, 4, kinds[k].o, kinds[k].p);
		unsigned char item[1000] = {0};
		const void *p;

		ASSERT(small && big);
		for (int i = 0; i < 6; i++) {
			ASSERT_EQ(ring_push(small, item, 12), 0);
			p = ring_peek(small, NULL);
			ASSERT_EQ((uintptr_t)p % 8, 0);
			ring_release(small);
			ASSERT_EQ(ring_push(big, item, 1000), 0);
			p = ring_peek(big, NULL);
			ASSERT_EQ((uintptr_t)p % 64, 0);
			ring_release(big);
		}
		ring_free(small);
		ring_free(big);
	}
}

/* ---- single-thread semantics, every kind ---- */

TEST(push_pop_fifo_and_empty)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("q", 16, 8, kinds[k].o, kinds[k].p);
		char out[16];
		size_t len = 99;

		ASSERT(r);
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 0);
		ASSERT_EQ(len, 99); /* untouched when empty */
		ASSERT(ring_peek(r, &len) == NULL);
		ASSERT_EQ(ring_push(r, "one", 4), 0);
		ASSERT_EQ(ring_push(r, "two", 4), 0);
		ASSERT_EQ(ring_push(r, "three", 6), 0);
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_EQ(len, 4);
		ASSERT_STREQ(out, "one");
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_STREQ(out, "two");
		ASSERT_EQ(ring_pop(r, out, sizeof(out), NULL), 1);
		ASSERT_STREQ(out, "three");
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 0);
		ring_free(r);
	}
}

TEST(push_bad_input)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("q", 16, 4, kinds[k].o, kinds[k].p);
		char big[17] = {0}, out[17];
		struct ring_stats st;
		size_t len = 99;

		ASSERT(r);
		ASSERT_EQ(ring_push(r, big, 17), -EMSGSIZE);
		ASSERT_EQ(ring_push(r, NULL, 3), -EINVAL);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.pushed, 0);
		ASSERT_EQ(st.rejects, 0);
		/* An empty item is an item. */
		ASSERT_EQ(ring_push(r, NULL, 0), 0);
		ASSERT_EQ(ring_push(r, big, 16), 0);
		ASSERT_EQ(ring_pop(r, NULL, 0, &len), 1);
		ASSERT_EQ(len, 0);
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_EQ(len, 16);
		ring_free(r);
	}
}

TEST(pop_into_small_buffer_keeps_item)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("q", 32, 4, kinds[k].o, kinds[k].p);
		char out[32];
		size_t len = 0;
		struct ring_stats st;

		ASSERT(r);
		ASSERT_EQ(ring_push(r, "0123456789", 11), 0);
		ASSERT_EQ(ring_push(r, "next", 5), 0);
		ASSERT_EQ(ring_pop(r, out, 4, &len), -EMSGSIZE);
		ASSERT_EQ(len, 11);
		ASSERT_EQ(ring_pop(r, out, 10, &len), -EMSGSIZE);
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_EQ(len, 11);
		ASSERT_STREQ(out, "0123456789");
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_STREQ(out, "next");
		ring_get_stats(r, &st);
		ASSERT_EQ(st.popped, 2);
		ASSERT_EQ(st.depth, 0);
		ring_free(r);
	}
}

TEST(peek_release_semantics)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("q", 16, 4, kinds[k].o, kinds[k].p);
		struct ring_stats st;
		const char *a, *b;
		char out[16];
		size_t len = 0;

		ASSERT(r);
		ring_release(r); /* nothing held: no-op */
		ASSERT_EQ(ring_push(r, "first", 6), 0);
		ASSERT_EQ(ring_push(r, "second", 7), 0);
		a = ring_peek(r, &len);
		ASSERT(a);
		ASSERT_EQ(len, 6);
		ASSERT_STREQ(a, "first");
		b = ring_peek(r, NULL); /* still held: the same item */
		ASSERT(a == b);
		/* A held item keeps its slot in a REJECT ring, has left a DROP_OLDEST one. */
		ring_get_stats(r, &st);
		ASSERT_EQ(st.pushed, 2);
		ASSERT_EQ(st.depth, kinds[k].o == RING_OVERFLOW_REJECT ? 2 : 1);
		ASSERT_EQ(st.popped, kinds[k].o == RING_OVERFLOW_REJECT ? 0 : 1);
		ASSERT_EQ(ring_wait(r, 0), 1); /* held counts as readable */
		ring_release(r);
		ring_release(r); /* a second release must not skip "second" */
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_STREQ(out, "second");
		ring_release(r);
		ASSERT(ring_peek(r, &len) == NULL);
		ring_release(r);
		ASSERT_EQ(ring_push(r, "third", 6), 0);
		ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
		ASSERT_STREQ(out, "third");
		ring_free(r);
	}
}

TEST(reserve_commit)
{
	struct ring *r = make("q", 16, 2, RING_OVERFLOW_REJECT, RING_SPSC);
	struct ring_stats st;
	char *w, *w2, out[16];
	size_t len;

	ASSERT(r);
	ASSERT_EQ(ring_commit(r, 1), -EINVAL); /* nothing reserved */
	w = ring_reserve(r);
	ASSERT(w);
	w2 = ring_reserve(r);
	ASSERT(w == w2);
	ASSERT_EQ(ring_push(r, "x", 1), -EBUSY);
	memcpy(w, "zero-copy", 10);
	ASSERT_EQ(ring_commit(r, 17), -EMSGSIZE); /* stays reserved */
	ASSERT(ring_peek(r, NULL) == NULL);
	ASSERT_EQ(ring_commit(r, 10), 0);
	ASSERT_EQ(ring_commit(r, 10), -EINVAL);
	ASSERT_EQ(ring_push(r, "b", 2), 0);
	ASSERT(ring_reserve(r) == NULL); /* full: counted as a reject */
	ring_get_stats(r, &st);
	ASSERT_EQ(st.rejects, 1);
	ASSERT_EQ(st.pushed, 2);
	ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
	ASSERT_EQ(len, 10);
	ASSERT_STREQ(out, "zero-copy");
	ring_free(r);

	/* MPSC has no reservations. */
	r = make("m", 16, 2, RING_OVERFLOW_REJECT, RING_MPSC);
	ASSERT(r);
	ASSERT(ring_reserve(r) == NULL);
	ASSERT_EQ(ring_commit(r, 1), -EINVAL);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.rejects + st.pushed, 0);
	ring_free(r);

	/* DROP_OLDEST: a reservation never fails, even on a full ring. */
	r = make("d", 16, 2, RING_OVERFLOW_DROP_OLDEST, RING_SPSC);
	ASSERT(r);
	for (int i = 0; i < 5; i++) {
		w = ring_reserve(r);
		ASSERT(w);
		ASSERT_EQ(ring_push(r, "x", 1), -EBUSY);
		w[0] = (char)('a' + i);
		ASSERT_EQ(ring_commit(r, 1), 0);
	}
	ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
	ASSERT_EQ(out[0], 'd');
	ASSERT_EQ(ring_pop(r, out, sizeof(out), &len), 1);
	ASSERT_EQ(out[0], 'e');
	ring_get_stats(r, &st);
	ASSERT_EQ(st.drops, 3);
	ring_free(r);
}

/* Pushes and pops in uneven bursts so indexes wrap many times. */
TEST(wrap_around_variable_lengths)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("w", 100, 4, kinds[k].o, kinds[k].p);
		unsigned char buf[100];
		uint64_t in = 0, outn = 0;
		size_t len;

		ASSERT(r);
		for (int round = 0; round < 3000; round++) {
			int npush = 1 + round % 4, npop = 1 + (round * 7) % 4;

			for (int i = 0; i < npush; i++) {
				struct ring_stats st;

				ring_get_stats(r, &st);
				if (st.depth == 4)
					break; /* keep DROP_OLDEST from dropping here */
				len = (size_t)(in % 101);
				fill(buf, in, len);
				ASSERT_EQ(ring_push(r, buf, len), 0);
				in++;
			}
			for (int i = 0; i < npop; i++) {
				int got = ring_pop(r, buf, sizeof(buf), &len);

				if (got == 0)
					break;
				ASSERT_EQ(got, 1);
				ASSERT_EQ(len, outn % 101);
				ASSERT_MSG(intact(buf, outn, len), "kind %zu item %llu corrupt", k,
					   (unsigned long long)outn);
				outn++;
			}
		}
		ASSERT(in > 3000);
		while (ring_pop(r, buf, sizeof(buf), &len) == 1) {
			ASSERT(intact(buf, outn, len));
			outn++;
		}
		ASSERT_EQ(outn, in);
		ring_free(r);
	}
}

/*
 * Every slot size class: items packed with their lengths in one line (up to
 * 24 bytes), apart from 1-, 2- and 4-byte length arrays, at the edges
 * (254/255 and 65534/65535 bytes need the next wider length).
 */
TEST(lengths_of_every_width)
{
	static const size_t sizes[] = {1,  7,	8,   16,  17,	 24,	25,   56,
				       64, 254, 255, 300, 65534, 65535, 70000};
	unsigned char *in = malloc(70000), *out = malloc(70000);

	ASSERT(in && out);
	for (size_t k = 0; k < NKINDS; k++) {
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			size_t slot = sizes[z], lens[] = {0, 1, slot / 2, slot - 1, slot};
			struct ring *r = make("len", slot, 4, kinds[k].o, kinds[k].p);
			uint64_t n = 0;

			ASSERT(r);
			/* 3 rounds of 5 through 4 slots: every slot, wrapped, each length. */
			for (int round = 0; round < 3; round++) {
				for (size_t j = 0; j < 5; j++) {
					size_t len = lens[j], got = 0;
					const unsigned char *p;

					fill(in, n, len);
					ASSERT_EQ(ring_push(r, in, len), 0);
					p = ring_peek(r, &got);
					ASSERT(p);
					ASSERT_MSG(got == len && intact(p, n, len),
						   "kind %zu slot %zu len %zu: got %zu", k, slot,
						   len, got);
					ring_release(r);
					ASSERT_EQ(ring_push(r, in, len), 0);
					ASSERT_EQ(ring_pop(r, out, slot, &got), 1);
					ASSERT_EQ(got, len);
					ASSERT(intact(out, n, len));
					n++;
				}
			}
			ring_free(r);
		}
	}
	free(in);
	free(out);
}

TEST(reject_policy_loses_nothing)
{
	for (int mp = 0; mp < 2; mp++) {
		struct ring *r =
		    make("events", 8, 8, RING_OVERFLOW_REJECT, mp ? RING_MPSC : RING_SPSC);
		struct ring_stats st;
		uint64_t v, next = 0;

		ASSERT(r);
		for (v = 0; v < 8; v++)
			ASSERT_EQ(ring_push(r, &v, 8), 0);
		ASSERT_EQ(ring_push(r, &v, 8), -EAGAIN);
		ASSERT_EQ(ring_push(r, &v, 8), -EAGAIN);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.rejects, 2);
		ASSERT_EQ(st.pushed, 8);
		ASSERT_EQ(st.depth, 8);
		ASSERT_EQ(st.high_water, 8);
		ASSERT_EQ(st.drops, 0);
		ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		ASSERT_EQ(v, next++);
		v = 8;
		ASSERT_EQ(ring_push(r, &v, 8), 0); /* room again */
		while (ring_pop(r, &v, 8, NULL) == 1)
			ASSERT_EQ(v, next++);
		ASSERT_EQ(next, 9);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.pushed, 9);
		ASSERT_EQ(st.popped, 9);
		ASSERT_EQ(st.depth, 0);
		ring_free(r);
	}
}

TEST(drop_oldest_policy)
{
	struct ring *r = make("frames", 8, 4, RING_OVERFLOW_DROP_OLDEST, RING_SPSC);
	struct ring_stats st;
	uint64_t v;

	ASSERT(r);
	for (v = 0; v < 10; v++)
		ASSERT_EQ(ring_push(r, &v, 8), 0);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.pushed, 10);
	ASSERT_EQ(st.drops, 6);
	ASSERT_EQ(st.depth, 4);
	ASSERT_EQ(st.high_water, 4);
	ASSERT_EQ(st.rejects, 0);
	/* The oldest are gone; the newest four remain, in order. */
	for (uint64_t want = 6; want < 10; want++) {
		ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		ASSERT_EQ(v, want);
	}
	ASSERT_EQ(ring_pop(r, &v, 8, NULL), 0);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.popped, 4);
	ASSERT_EQ(st.depth, 0);
	ASSERT_EQ(st.pushed, st.popped + st.drops + st.depth);

	/* Dropping after the consumer caught up: only what overflowed goes. */
	for (v = 10; v < 15; v++)
		ASSERT_EQ(ring_push(r, &v, 8), 0);
	ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
	ASSERT_EQ(v, 11);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.drops, 7);
	ASSERT_EQ(st.depth, 3);
	ASSERT_EQ(st.pushed, st.popped + st.drops + st.depth);
	ring_free(r);
}

/* The held item's bytes survive any number of laps by the producer. */
TEST(drop_oldest_never_overwrites_held_item)
{
	struct ring *r = make("frames", 64, 4, RING_OVERFLOW_DROP_OLDEST, RING_SPSC);
	unsigned char buf[64];
	const unsigned char *held;
	struct ring_stats st;
	size_t len;
	uint64_t i, want;

	ASSERT(r);
	for (i = 0; i < 4; i++) {
		fill(buf, i, 64);
		ASSERT_EQ(ring_push(r, buf, 64), 0);
	}
	held = ring_peek(r, &len);
	ASSERT(held);
	ASSERT(intact(held, 0, 64));
	for (; i < 104; i++) {
		fill(buf, i, 64);
		ASSERT_EQ(ring_push(r, buf, 64), 0);
		ASSERT_MSG(intact(held, 0, 64), "held item overwritten by push %llu",
			   (unsigned long long)i);
	}
	ASSERT(ring_peek(r, NULL) == held); /* still the same item */
	ring_release(r);
	for (want = 100; want < 104; want++) {
		ASSERT_EQ(ring_pop(r, buf, sizeof(buf), &len), 1);
		ASSERT(intact(buf, want, 64));
	}
	ASSERT_EQ(ring_pop(r, buf, sizeof(buf), &len), 0);
	ring_get_stats(r, &st);
	ASSERT_EQ(st.pushed, 104);
	ASSERT_EQ(st.popped, 5);
	ASSERT_EQ(st.drops, 99);
	ASSERT_EQ(st.depth, 0);
	ring_free(r);
}

TEST(high_water_mark)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("h", 8, 16, kinds[k].o, kinds[k].p);
		struct ring_stats st;
		uint64_t v = 0;
		int i;

		ASSERT(r);
		for (i = 0; i < 5; i++)
			ASSERT_EQ(ring_push(r, &v, 8), 0);
		for (i = 0; i < 3; i++)
			ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		for (i = 0; i < 2; i++)
			ASSERT_EQ(ring_push(r, &v, 8), 0);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.depth, 4);
		ASSERT_EQ(st.high_water, 5);
		/* Many pushes at a low depth never raise it. */
		for (i = 0; i < 1000; i++) {
			ASSERT_EQ(ring_push(r, &v, 8), 0);
			ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		}
		ring_get_stats(r, &st);
		ASSERT_EQ(st.high_water, 5);
		for (i = 0; i < 7; i++)
			ASSERT_EQ(ring_push(r, &v, 8), 0);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.high_water, 11);
		for (i = 0; i < 10; i++)
			ring_push(r, &v, 8);
		ring_get_stats(r, &st);
		ASSERT_EQ(st.high_water, 16); /* never above capacity */
		ring_free(r);
	}
}

/* ---- threads ---- */

/*
 * Shared by a test's threads. A broken ring must fail the test, not hang
 * it: producers set done when finished, consumers stop at done + empty,
 * and anyone can set stop to make the others give up.
 */
struct seq_run {
	struct ring *r;
	uint64_t n;
	_Atomic uint64_t ready; /* start barrier */
	_Atomic int done;	/* producers finished */
	_Atomic int stop;
	int nthreads;
	uint64_t spins;
};

static void start_together(struct seq_run *s)
{
	atomic_fetch_add(&s->ready, 1);
	while (atomic_load(&s->ready) < (uint64_t)s->nthreads)
		;
}

static void *seq_producer(void *arg)
{
	struct seq_run *s = arg;

	start_together(s);
	for (uint64_t i = 0; i < s->n && !atomic_load(&s->stop); i++) {
		while (ring_push(s->r, &i, 8) == -EAGAIN && !atomic_load(&s->stop))
			s->spins++;
	}
	atomic_store(&s->done, 1);
	return NULL;
}

TEST(spsc_threads_no_loss_dup_or_reorder)
{
	struct seq_run s = {0};
	pthread_t t;
	uint64_t v, want = 0, t0 = now_ns();
	struct ring_stats st;
	size_t len;

	s.r = make("seq", 8, 1024, RING_OVERFLOW_REJECT, RING_SPSC);
	ASSERT(s.r);
	s.n = scaled(20000000);
	s.nthreads = 2;
	ASSERT_EQ(pthread_create(&t, NULL, seq_producer, &s), 0);
	start_together(&s);
	for (;;) {
		int done = atomic_load(&s.done);
		int got = ring_pop(s.r, &v, 8, &len);

		if (got == 0) {
			if (done)
				break;
			continue;
		}
		if (got != 1 || len != 8 || v != want) {
			atomic_store(&s.stop, 1);
			pthread_join(t, NULL);
			ASSERT_MSG(0, "item %llu: got %d len %zu value %llu",
				   (unsigned long long)want, got, len, (unsigned long long)v);
		}
		want++;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(want, s.n);
	ASSERT_EQ(ring_pop(s.r, &v, 8, &len), 0);
	ring_get_stats(s.r, &st);
	ASSERT_EQ(st.pushed, s.n);
	ASSERT_EQ(st.popped, s.n);
	ASSERT_EQ(st.rejects, s.spins);
	ASSERT_EQ(st.depth, 0);
	ASSERT(st.high_water >= 1 && st.high_water <= 1024);
	printf("    %llu items in %.2f s\n", (unsigned long long)s.n, (now_ns() - t0) / 1e9);
	ring_free(s.r);
}

/* Zero-copy on both sides, variable lengths, a tiny ring: wraps constantly. */
static void *zc_producer(void *arg)
{
	struct seq_run *s = arg;

	start_together(s);
	for (uint64_t i = 0; i < s->n; i++) {
		unsigned char *w;
		size_t len = 8 + (size_t)(i % 57);

		while (!(w = ring_reserve(s->r)))
			sched_yield();
		memcpy(w, &i, 8);
		fill(w + 8, i, len - 8);
		if (ring_commit(s->r, len) != 0)
			abort();
	}
	atomic_store(&s->done, 1);
	return NULL;
}

TEST(spsc_threads_zero_copy_variable_length)
{
	struct seq_run s = {0};
	pthread_t t;
	uint64_t want = 0, bad = 0;

	s.r = make("zc", 64, 8, RING_OVERFLOW_REJECT, RING_SPSC);
	ASSERT(s.r);
	s.n = scaled(2000000);
	s.nthreads = 2;
	ASSERT_EQ(pthread_create(&t, NULL, zc_producer, &s), 0);
	start_together(&s);
	for (;;) {
		int done = atomic_load(&s.done);
		size_t len;
		const unsigned char *p = ring_peek(s.r, &len);
		uint64_t v;

		if (!p) {
			if (done)
				break;
			sched_yield();
			continue;
		}
		memcpy(&v, p, 8);
		if (v != want || len != 8 + want % 57 || !intact(p + 8, want, len - 8))
			bad++;
		ring_release(s.r);
		want++;
	}
	pthread_join(t, NULL);
	ASSERT_EQ(bad, 0);
	ASSERT_EQ(want, s.n);
	ring_free(s.r);
}

#define MP_MAX 4

struct mp_producer {
	struct seq_run *s;
	uint32_t id;
};

struct mp_item {
	uint32_t producer;
	uint32_t check;
	uint64_t seq;
};

static uint32_t mp_check(uint32_t id, uint64_t seq)
{
	return (uint32_t)(seq * 2654435761u) ^ (id * 0x9e3779b9u);
}

static void *mp_producer(void *arg)
{
	struct mp_producer *p = arg;
	struct mp_item it = {p->id, 0, 0};

	start_together(p->s);
	for (it.seq = 0; it.seq < p->s->n && !atomic_load(&p->s->stop); it.seq++) {
		it.check = mp_check(p->id, it.seq);
		while (ring_push(p->s->r, &it, sizeof(it)) == -EAGAIN && !atomic_load(&p->s->stop))
			sched_yield();
	}
	atomic_fetch_add(&p->s->done, 1);
	ring_wake(p->s->r); /* the consumer may be waiting for more: make it look at done */
	return NULL;
}

TEST(mpsc_threads_per_producer_order_and_totals)
{
	for (uint32_t np = 2; np <= MP_MAX; np++) {
		struct seq_run s = {0};
		struct mp_producer prod[MP_MAX];
		pthread_t t[MP_MAX];
		uint64_t next[MP_MAX] = {0}, total = 0, bad = 0, stalls = 0;
		struct ring_stats st;
		struct mp_item it;
		size_t len;

		s.r = make("mp", sizeof(struct mp_item), 256, RING_OVERFLOW_REJECT, RING_MPSC);
		ASSERT(s.r);
		s.n = scaled(3000000) / np;
		s.nthreads = (int)np + 1;
		for (uint32_t i = 0; i < np; i++) {
			prod[i].s = &s;
			prod[i].id = i;
			ASSERT_EQ(pthread_create(&t[i], NULL, mp_producer, &prod[i]), 0);
		}
		start_together(&s);
		for (;;) {
			int done = atomic_load(&s.done);
			int got = ring_pop(s.r, &it, sizeof(it), &len);

			if (got == 0) {
				uint64_t w0 = now_ns();

				if (done == (int)np)
					break;
				ring_wait(s.r, 2000);
				if (now_ns() - w0 > 1000000000u) {
					/* Neither an item nor a producer's final
					 * ring_wake woke us: a lost wake-up. */
					stalls++;
					atomic_store(&s.stop, 1);
					break;
				}
				continue;
			}
			if (got != 1 || len != sizeof(it) || it.producer >= np ||
			    it.seq != next[it.producer] ||
			    it.check != mp_check(it.producer, it.seq)) {
				bad++;
				if (it.producer < np)
					next[it.producer] = it.seq;
			}
			if (it.producer < np)
				next[it.producer]++;
			total++;
		}
		for (uint32_t i = 0; i < np; i++)
			pthread_join(t[i], NULL);
		ASSERT_MSG(bad == 0, "%u producers: %llu items out of order or corrupt", np,
			   (unsigned long long)bad);
		ASSERT_EQ(stalls, 0);
		ASSERT_EQ(total, s.n * np);
		for (uint32_t i = 0; i < np; i++)
			ASSERT_EQ(next[i], s.n);
		ASSERT_EQ(ring_pop(s.r, &it, sizeof(it), &len), 0);
		ring_get_stats(s.r, &st);
		ASSERT_EQ(st.pushed, s.n * np);
		ASSERT_EQ(st.popped, s.n * np);
		ASSERT_EQ(st.depth, 0);
		ASSERT_EQ(st.drops, 0);
		ring_free(s.r);
	}
}

struct drop_run {
	struct seq_run s;
	_Atomic int done;
	int failures;
};

#define DROP_SLOT 200

static size_t drop_len(uint64_t i)
{
	return 8 + (size_t)(i * 37 % (DROP_SLOT - 7));
}

static void *drop_producer(void *arg)
{
	struct drop_run *d = arg;
	unsigned char buf[DROP_SLOT];

	start_together(&d->s);
	for (uint64_t i = 0; i < d->s.n; i++) {
		size_t len = drop_len(i);

		if (i % 2) { /* both producer paths */
			unsigned char *w = ring_reserve(d->s.r);

			if (!w) {
				d->failures++;
				continue;
			}
			memcpy(w, &i, 8);
			fill(w + 8, i, len - 8);
			if (ring_commit(d->s.r, len) != 0)
				d->failures++;
		} else {
			memcpy(buf, &i, 8);
			fill(buf + 8, i, len - 8);
			if (ring_push(d->s.r, buf, len) != 0)
				d->failures++;
		}
	}
	atomic_store(&d->done, 1);
	return NULL;
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

/*
 * A producer laps a small drop-oldest ring while the consumer holds each item
 * for a while: every item seen must be whole, still whole at release, and
 * newer than the one before.
 */
TEST(drop_oldest_threads_slow_consumer)
{
	static const uint64_t hold_ns[] = {0, 3000};

	for (size_t h = 0; h < 2; h++) {
		struct drop_run d = {0};
		pthread_t t;
		uint64_t seen = 0, last = 0, bad = 0;
		bool first = true;
		struct ring_stats st;

		d.s.r = make("frames", DROP_SLOT, 8, RING_OVERFLOW_DROP_OLDEST, RING_SPSC);
		ASSERT(d.s.r);
		d.s.n = scaled(h ? 1000000 : 3000000);
		d.s.nthreads = 2;
		ASSERT_EQ(pthread_create(&t, NULL, drop_producer, &d), 0);
		start_together(&d.s);
		for (;;) {
			int done = atomic_load(&d.done);
			size_t len;
			const unsigned char *p = ring_peek(d.s.r, &len);
			uint64_t v;

			if (!p) {
				if (done)
					break;
				continue;
			}
			memcpy(&v, p, 8);
			if ((!first && v <= last) || v >= d.s.n || len != drop_len(v) ||
			    !intact(p + 8, v, len - 8))
				bad++;
			if (hold_ns[h]) {
				spin_ns(hold_ns[h]);
				if (!intact(p + 8, v, len - 8) || memcmp(p, &v, 8) != 0)
					bad++;
			}
			ring_release(d.s.r);
			first = false;
			last = v;
			seen++;
		}
		pthread_join(t, NULL);
		ASSERT_EQ(d.failures, 0);
		ASSERT_MSG(bad == 0, "hold %llu ns: %llu bad items of %llu",
			   (unsigned long long)hold_ns[h], (unsigned long long)bad,
			   (unsigned long long)seen);
		ASSERT_EQ(last, d.s.n - 1); /* the newest item is never dropped */
		ring_get_stats(d.s.r, &st);
		ASSERT_EQ(st.pushed, d.s.n);
		ASSERT_EQ(st.popped, seen);
		ASSERT_EQ(st.depth, 0);
		ASSERT_EQ(st.pushed, st.popped + st.drops + st.depth);
		if (hold_ns[h])
			ASSERT(st.drops > 0); /* the consumer was slower */
		ASSERT_EQ(st.rejects, 0);
		printf("    hold %llu ns: %llu pushed, %llu seen, %llu dropped\n",
		       (unsigned long long)hold_ns[h], (unsigned long long)st.pushed,
		       (unsigned long long)seen, (unsigned long long)st.drops);
		ring_free(d.s.r);
	}
}

/* ---- waiting ---- */

struct later {
	struct ring *r;
	int what; /* 0 push, 1 wake */
	int delay_ms;
};

static void *do_later(void *arg)
{
	struct later *l = arg;
	uint64_t v = 42;

	usleep((useconds_t)l->delay_ms * 1000);
	if (l->what == 0)
		ring_push(l->r, &v, 8);
	else
		ring_wake(l->r);
	return NULL;
}

TEST(wait_timeout)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("w", 8, 4, kinds[k].o, kinds[k].p);
		uint64_t t0, v = 1;

		ASSERT(r);
		t0 = now_ns();
		ASSERT_EQ(ring_wait(r, 0), 0);
		ASSERT(now_ns() - t0 < 50000000u);
		t0 = now_ns();
		ASSERT_EQ(ring_wait(r, 60), 0);
		ASSERT_MSG(now_ns() - t0 >= 59000000u && now_ns() - t0 < 1000000000u,
			   "waited %llu ns for 60 ms", (unsigned long long)(now_ns() - t0));
		ASSERT_EQ(ring_push(r, &v, 8), 0);
		ASSERT_EQ(ring_wait(r, 0), 1);
		ASSERT_EQ(ring_wait(r, -1), 1);
		ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		ASSERT_EQ(ring_wait(r, 0), 0);
		ring_free(r);
	}
}

TEST(wait_returns_on_push)
{
	for (size_t k = 0; k < NKINDS; k++) {
		struct ring *r = make("w", 8, 4, kinds[k].o, kinds[k].p);
		struct later l = {r, 0, 30};
		pthread_t t;
		uint64_t t0 = now_ns(), took, v;

		ASSERT(r);
		ASSERT_EQ(pthread_create(&t, NULL, do_later, &l), 0);
		ASSERT_EQ(ring_wait(r, 5000), 1);
		took = now_ns() - t0;
		pthread_join(t, NULL);
		ASSERT_MSG(took >= 25000000u && took < 2000000000u, "woke after %llu ns",
			   (unsigned long long)took);
		ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
		ASSERT_EQ(v, 42);
		ring_free(r);
	}
}

TEST(wake_interrupts_wait)
{
	struct ring *r = make("w", 8, 4, RING_OVERFLOW_REJECT, RING_SPSC);
	struct later l = {r, 1, 30};
	pthread_t t;
	uint64_t t0, took, v = 7;

	ASSERT(r);
	/* A waiter that is asleep. */
	t0 = now_ns();
	ASSERT_EQ(pthread_create(&t, NULL, do_later, &l), 0);
	ASSERT_EQ(ring_wait(r, 5000), -EINTR);
	took = now_ns() - t0;
	pthread_join(t, NULL);
	ASSERT_MSG(took >= 25000000u && took < 2000000000u, "woke after %llu ns",
		   (unsigned long long)took);
	ASSERT_EQ(ring_wait(r, 20), 0); /* one wake, one -EINTR */

	/* A wake before the wait is not lost. */
	ring_wake(r);
	t0 = now_ns();
	ASSERT_EQ(ring_wait(r, 5000), -EINTR);
	ASSERT(now_ns() - t0 < 1000000000u);
	ASSERT_EQ(ring_wait(r, 0), 0);

	/* Data comes first; the wake is reported once the ring is empty. */
	ring_wake(r);
	ASSERT_EQ(ring_push(r, &v, 8), 0);
	ASSERT_EQ(ring_wait(r, 5000), 1);
	ASSERT_EQ(ring_pop(r, &v, 8, NULL), 1);
	ASSERT_EQ(ring_wait(r, 5000), -EINTR);
	ring_free(r);
}

struct pong {
	struct ring *in, *out;
	uint64_t n;
	uint64_t max_wait_ns;
	uint64_t bad;
};

/* Echoes n items back, sleeping in ring_wait between them. */
static void *ponger(void *arg)
{
	struct pong *p = arg;
	uint64_t v;

	for (uint64_t i = 0; i < p->n; i++) {
		uint64_t t0 = now_ns();
		int w = ring_wait(p->in, 3000);

		if (now_ns() - t0 > p->max_wait_ns)
			p->max_wait_ns = now_ns() - t0;
		if (w != 1 || ring_pop(p->in, &v, 8, NULL) != 1 || v != i ||
		    p->max_wait_ns > 1000000000u) {
			p->bad++;
			return NULL;
		}
		while (ring_push(p->out, &v, 8) == -EAGAIN)
			;
	}
	return NULL;
}

/*
 * Ping-pong through ring_wait on both sides: a lost wake-up would stall one
 * side for the whole 3 s timeout, so the longest wait must stay far below it.
 */
TEST(wait_ping_pong_loses_no_wakeup)
{
	/* The last pair uses the plain fence instead of membarrier (ring.c). */
	static const struct {
		enum ring_overflow o1;
		enum ring_producers p1;
		enum ring_overflow o2;
		enum ring_producers p2;
	} pairs[] = {
	    {RING_OVERFLOW_REJECT, RING_SPSC, RING_OVERFLOW_REJECT, RING_MPSC},
	    {RING_OVERFLOW_DROP_OLDEST, RING_SPSC, RING_OVERFLOW_REJECT, RING_SPSC},
	    {RING_OVERFLOW_REJECT, RING_SPSC, RING_OVERFLOW_DROP_OLDEST, RING_SPSC},
	};

	for (size_t k = 0; k < 3; k++) {
		struct pong p = {0};
		pthread_t t;
		uint64_t v, max_wait = 0, bad = 0, t0 = now_ns();

		if (k == 2)
			setenv("EDGEBOX_RING_NO_MEMBARRIER", "1", 1);
		p.in = make("ping", 8, 4, pairs[k].o1, pairs[k].p1);
		p.out = make("pong", 8, 4, pairs[k].o2, pairs[k].p2);
		unsetenv("EDGEBOX_RING_NO_MEMBARRIER");
		ASSERT(p.in && p.out);
		p.n = scaled(10000);
		ASSERT_EQ(pthread_create(&t, NULL, ponger, &p), 0);
		for (uint64_t i = 0; i < p.n && !bad; i++) {
			uint64_t w0;
			int w;

			ASSERT_EQ(ring_push(p.in, &i, 8), 0);
			w0 = now_ns();
			w = ring_wait(p.out, 3000);
			if (now_ns() - w0 > max_wait)
				max_wait = now_ns() - w0;
			if (w != 1 || ring_pop(p.out, &v, 8, NULL) != 1 || v != i ||
			    max_wait > 1000000000u)
				bad++;
		}
		if (bad)
			ring_wake(p.in);
		pthread_join(t, NULL);
		ASSERT_MSG(max_wait < 1000000000u && p.max_wait_ns < 1000000000u,
			   "a wait took %llu / %llu ns: lost wake-up", (unsigned long long)max_wait,
			   (unsigned long long)p.max_wait_ns);
		ASSERT_EQ(bad, 0);
		ASSERT_EQ(p.bad, 0);
		printf("    %llu round trips in %.2f s\n", (unsigned long long)p.n,
		       (now_ns() - t0) / 1e9);
		ring_free(p.in);
		ring_free(p.out);
	}
}
