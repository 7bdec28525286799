#include "firmware/ring.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CACHE_LINE 64

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* The three supported combinations of policy and producers. */
enum ring_kind {
	KIND_SPSC, /* REJECT, one producer: hand-over through per-slot states */
	KIND_MPSC, /* REJECT, many producers: Vyukov's per-slot turns */
	KIND_DROP, /* DROP_OLDEST, one producer: buffers traded through positions */
};

/*
 * DROP_OLDEST keeps cap + 2 buffers and cap position words. A position word
 * is seq << 32 | flags | buffer index: which buffer holds which item. The
 * producer and the consumer each own one buffer outside the positions and
 * trade buffers in and out with atomic exchange / compare-exchange, so a
 * buffer is owned by exactly one side at a time (docs/ring.md).
 */
#define POS_EMPTY (UINT64_C(1) << 31)
#define POS_INDEX_MASK (POS_EMPTY - 1)

/*
 * One allocation: this struct, then (per kind) the position words or the
 * slot turns, then the buffers. Buffers are grouped in blocks of per_block;
 * small items (up to 24 bytes) share a cache line with their lengths, one
 * byte each at the end of the line (8-byte items: 7 and their lengths to a
 * line), so the consumer reads one line per 7 items, not two. Bigger items
 * sit one per block and their lengths (1, 2 or 4 bytes as slot_size needs)
 * in an array of their own.
 */
struct ring {
	/* Read-only after ring_create. */
	char name[RING_NAME_MAX];
	unsigned char *data;	 /* block q at data + q * block_bytes */
	unsigned char *lens;	 /* block q's lengths at lens + q * lens_step */
	_Atomic uint32_t *turns; /* KIND_MPSC: slot i's turn */
	_Atomic uint64_t *pos;	 /* KIND_DROP: position words */
	size_t slot_size;
	size_t stride; /* between buffers in a block */
	size_t block_bytes;
	size_t lens_step;
	uint64_t recip; /* i / per_block == (i * recip) >> 32 for every index we use */
	uint32_t per_block;
	uint64_t cap;
	uint64_t mask;
	enum ring_kind kind;
	enum ring_overflow overflow;
	enum ring_producers producers;
	unsigned len_width;
	bool asym_fence; /* membarrier() stands in for the producers' fence */

	/* Written by the producer(s). */
	alignas(CACHE_LINE) _Atomic uint64_t head;
	/* KIND_MPSC/DROP: the consumer's tail as last seen, so a push reads the
	 * consumer's line only for a new high-water mark. */
	_Atomic uint64_t tail_cache;
	_Atomic uint64_t rejects;
	_Atomic uint64_t drops;
	uint32_t prod_buf; /* KIND_DROP: the buffer the producer writes next */
	bool reserved;

	/* Written by the consumer. */
	alignas(CACHE_LINE) _Atomic uint64_t tail;
	_Atomic uint64_t popped;  /* KIND_DROP (tail skips dropped items); else popped == tail */
	_Atomic uint64_t skipped; /* KIND_DROP: items the consumer discarded, see drop_resync */
	uint32_t cons_buf;	  /* KIND_DROP: the consumer's spare, or the held item's buffer */
	uint32_t kicks_seen;
	bool held;

	/* Read on every push or pop, written rarely. */
	alignas(CACHE_LINE) _Atomic uint64_t high_water;
	_Atomic uint32_t wake_seq; /* the futex word */
	_Atomic uint32_t sleeping;
	_Atomic uint32_t kicks;
};

/* Buffer i's bytes and length: block q = i / per_block, place i - q * per_block. */
static inline unsigned char *buf(const struct ring *r, uint64_t i)
{
	uint64_t q = (i * r->recip) >> 32;

	return r->data + q * r->block_bytes + (i - q * r->per_block) * r->stride;
}

static inline unsigned char *len_at(const struct ring *r, uint64_t i)
{
	uint64_t q = (i * r->recip) >> 32;

	return r->lens + q * r->lens_step + (i - q * r->per_block) * r->len_width;
}

/*
 * Buffer i's state: 0 when free, else its item's length + 1. In KIND_SPSC
 * rings the state is the whole hand-over: the producer fills a free slot
 * and stores its state (release); the consumer reads a full one (acquire)
 * and stores 0 (release). Neither side reads the other's index, and for
 * small items the state shares the line with the item, so an item costs
 * one line moving between the cores, not three.
 */
static inline uint32_t load_state(const struct ring *r, uint64_t i, memory_order mo)
{
	void *p = len_at(r, i);

	switch (r->len_width) {
	case 1:
		return atomic_load_explicit((_Atomic uint8_t *)p, mo);
	case 2:
		return atomic_load_explicit((_Atomic uint16_t *)p, mo);
	default:
		return atomic_load_explicit((_Atomic uint32_t *)p, mo);
	}
}

static inline void store_state(struct ring *r, uint64_t i, uint32_t state, memory_order mo)
{
	void *p = len_at(r, i);

	switch (r->len_width) {
	case 1:
		atomic_store_explicit((_Atomic uint8_t *)p, (uint8_t)state, mo);
		break;
	case 2:
		atomic_store_explicit((_Atomic uint16_t *)p, (uint16_t)state, mo);
		break;
	default:
		atomic_store_explicit((_Atomic uint32_t *)p, state, mo);
		break;
	}
}

/* memcpy with a variable length is a libc call; most items are small. */
static inline void copy_bytes(unsigned char *dst, const unsigned char *src, size_t len)
{
	if (len == 8) {
		memcpy(dst, src, 8);
	} else if (len > 16) {
		memcpy(dst, src, len);
	} else if (len >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + len - 8, src + len - 8, 8);
	} else if (len >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + len - 4, src + len - 4, 4);
	} else {
		for (size_t i = 0; i < len; i++)
			dst[i] = src[i];
	}
}

static inline void count(_Atomic uint64_t *c)
{
	/* One writer per counter: a plain increment, not a locked one. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts,
		  uint32_t bitset)
{
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, bitset);
}

/*
 * The sleep handshake needs a full fence between "publish item" and "is the
 * consumer asleep?" in every push. membarrier(PRIVATE_EXPEDITED), issued by
 * the consumer before it sleeps, makes a compiler barrier in the producer
 * enough (an asymmetric fence, as in liburcu): the rare sleep pays the
 * cost instead of every push. Without it (old kernel, seccomp, or
 * EDGEBOX_RING_NO_MEMBARRIER=1 set when the ring is created) producers fence.
 */
static bool have_membarrier;

static void membarrier_init(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	have_membarrier =
	    cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

static bool use_membarrier(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const char *off = getenv("EDGEBOX_RING_NO_MEMBARRIER");

	pthread_once(&once, membarrier_init);
	return have_membarrier && !(off && *off && strcmp(off, "0") != 0);
}

/* ---- parameters and life cycle ---- */

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static void set_msg(char *msg, size_t msg_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msg_len, const char *fmt, ...)
{
	va_list ap;

	if (!msg || !msg_len)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msg_len, fmt, ap);
	va_end(ap);
}

struct layout {
	size_t pos, turns, lens, data, total; /* offsets from the start */
	size_t stride, nbuf, nblocks, block_bytes, lens_step;
	unsigned per_block, len_width;
};

static void plan(const struct ring_params *p, struct layout *l)
{
	bool drop = p->overflow == RING_OVERFLOW_DROP_OLDEST;
	size_t off = round_up(sizeof(struct ring), CACHE_LINE);

	/* Big items start on a cache line; small ones are packed 8-aligned. */
	l->stride = round_up(p->slot_size, p->slot_size >= CACHE_LINE ? CACHE_LINE : 8);
	/* DROP_OLDEST: one spare buffer each for the producer and the consumer. */
	l->nbuf = drop ? p->capacity + 2 : p->capacity;
	/* The state is length + 1. */
	l->len_width = p->slot_size < UINT8_MAX ? 1 : p->slot_size < UINT16_MAX ? 2 : 4;
	l->pos = off;
	if (drop)
		off += round_up(p->capacity * sizeof(uint64_t), CACHE_LINE);
	l->turns = off;
	if (p->producers == RING_MPSC)
		off += round_up(p->capacity * sizeof(uint32_t), CACHE_LINE);
	if (l->stride <= 24) {
		/* 7, 3 or 2 items, then their one-byte lengths, in one line. */
		l->per_block = (unsigned)(CACHE_LINE / (l->stride + 1));
		l->block_bytes = CACHE_LINE;
		l->nblocks = (l->nbuf + l->per_block - 1) / l->per_block;
		l->data = off;
		l->lens = off + l->per_block * l->stride;
		l->lens_step = CACHE_LINE;
		l->total = off + l->nblocks * CACHE_LINE;
		return;
	}
	l->per_block = 1;
	l->block_bytes = l->stride;
	l->nblocks = l->nbuf;
	l->lens = off;
	l->lens_step = l->len_width;
	off += round_up(l->nbuf * l->len_width, CACHE_LINE);
	l->data = off;
	l->total = off + l->nbuf * l->stride;
}

int ring_params_check(const struct ring_params *p, char *msg, size_t msg_len)
{
	struct layout l;
	const char *name;

	set_msg(msg, msg_len, "ok");
	if (!p) {
		set_msg(msg, msg_len, "ring: no parameters given");
		return -EINVAL;
	}
	name = p->name;
	if (!name || !*name) {
		set_msg(msg, msg_len,
			"ring: the name is empty; name every ring (it shows in stats "
			"and errors)");
		return -EINVAL;
	}
	if (strlen(name) >= RING_NAME_MAX) {
		set_msg(msg, msg_len,
			"ring %.40s...: the name is longer than %d characters; shorten it", name,
			RING_NAME_MAX - 1);
		return -EINVAL;
	}
	if (p->slot_size == 0 || p->slot_size > RING_MAX_SLOT_SIZE) {
		set_msg(msg, msg_len,
			"ring %s: slot_size %zu is out of range; it must be 1 .. %zu bytes (the "
			"largest item)",
			name, p->slot_size, RING_MAX_SLOT_SIZE);
		return -EINVAL;
	}
	if (p->capacity < 2 || p->capacity > RING_MAX_CAPACITY) {
		set_msg(msg, msg_len,
			"ring %s: capacity %zu is out of range; use a power of two from 2 to %zu",
			name, p->capacity, RING_MAX_CAPACITY);
		return -EINVAL;
	}
	if (p->capacity & (p->capacity - 1)) {
		size_t lo = (size_t)1 << (63 - __builtin_clzll(p->capacity));

		set_msg(msg, msg_len, "ring %s: capacity %zu is not a power of two; use %zu or %zu",
			name, p->capacity, lo, lo * 2);
		return -EINVAL;
	}
	switch (p->overflow) {
	case RING_OVERFLOW_REJECT:
	case RING_OVERFLOW_DROP_OLDEST:
		break;
	default:
		set_msg(msg, msg_len,
			"ring %s: overflow policy %d is unknown; use RING_OVERFLOW_REJECT or "
			"RING_OVERFLOW_DROP_OLDEST",
			name, (int)p->overflow);
		return -EINVAL;
	}
	switch (p->producers) {
	case RING_SPSC:
	case RING_MPSC:
		break;
	default:
		set_msg(msg, msg_len,
			"ring %s: producers %d is unknown; use RING_SPSC or RING_MPSC", name,
			(int)p->producers);
		return -EINVAL;
	}
	if (p->overflow == RING_OVERFLOW_DROP_OLDEST && p->producers == RING_MPSC) {
		set_msg(msg, msg_len,
			"ring %s: drop-oldest needs a single producer; use RING_SPSC, or "
			"RING_OVERFLOW_REJECT for a ring fed by several threads",
			name);
		return -ENOTSUP;
	}
	plan(p, &l);
	if (l.total > RING_MAX_BYTES) {
		set_msg(msg, msg_len,
			"ring %s: %zu slots of %zu bytes need %zu bytes, over the %zu MiB limit; "
			"lower capacity or slot_size",
			name, l.nbuf, p->slot_size, l.total, RING_MAX_BYTES >> 20);
		return -EINVAL;
	}
	return 0;
}

int ring_create(const struct ring_params *p, struct ring **ret)
{
	struct layout l;
	struct ring *r;
	unsigned char *mem;
	size_t i;
	int err;

	err = ring_params_check(p, NULL, 0);
	if (err < 0)
		return err;
	plan(p, &l);
	if (posix_memalign((void **)&mem, CACHE_LINE, l.total) != 0)
		return -ENOMEM;
	/* Touch every page now, so the hot path never takes a first-touch fault. */
	memset(mem, 0, l.total);

	r = (struct ring *)mem;
	snprintf(r->name, sizeof(r->name), "%s", p->name);
	r->data = mem + l.data;
	r->lens = mem + l.lens;
	r->slot_size = p->slot_size;
	r->stride = l.stride;
	r->block_bytes = l.block_bytes;
	r->lens_step = l.lens_step;
	r->per_block = l.per_block;
	/* ceil(2^32 / per_block): exact division for per_block 1, 2, 3, 7 and
	 * every index below 2^21 (checked exhaustively; capacity <= 2^20). */
	r->recip = ((UINT64_C(1) << 32) + l.per_block - 1) / l.per_block;
	r->cap = p->capacity;
	r->mask = p->capacity - 1;
	r->overflow = p->overflow;
	r->producers = p->producers;
	r->len_width = l.len_width;
	r->asym_fence = use_membarrier();
	if (p->overflow == RING_OVERFLOW_DROP_OLDEST) {
		r->kind = KIND_DROP;
		r->pos = (_Atomic uint64_t *)(mem + l.pos);
		for (i = 0; i < r->cap; i++)
			atomic_init(&r->pos[i], POS_EMPTY | i);
		r->prod_buf = (uint32_t)r->cap;
		r->cons_buf = (uint32_t)r->cap + 1;
	} else if (p->producers == RING_MPSC) {
		r->kind = KIND_MPSC;
		r->turns = (_Atomic uint32_t *)(mem + l.turns);
		for (i = 0; i < r->cap; i++)
			atomic_init(&r->turns[i], (uint32_t)i);
	} else {
		r->kind = KIND_SPSC;
	}
	*ret = r;
	return 0;
}

void ring_free(struct ring *r)
{
	free(r);
}

const char *ring_name(const struct ring *r)
{
	return r->name;
}

size_t ring_slot_size(const struct ring *r)
{
	return r->slot_size;
}

size_t ring_capacity(const struct ring *r)
{
	return (size_t)r->cap;
}

const char *ring_overflow_name(enum ring_overflow o)
{
	switch (o) {
	case RING_OVERFLOW_REJECT:
		return "reject";
	case RING_OVERFLOW_DROP_OLDEST:
		return "drop-oldest";
	}
	return "?";
}

const char *ring_producers_name(enum ring_producers p)
{
	switch (p) {
	case RING_SPSC:
		return "spsc";
	case RING_MPSC:
		return "mpsc";
	}
	return "?";
}

/* ---- producer side ---- */

static __attribute__((noinline, cold)) void wake_now(struct ring *r)
{
	if (atomic_exchange_explicit(&r->sleeping, 0, memory_order_relaxed)) {
		atomic_fetch_add_explicit(&r->wake_seq, 1, memory_order_seq_cst);
		futex(&r->wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, 0);
	}
}

/*
 * Wakes a sleeping consumer. The caller has just published an item with a
 * store; the fence orders that store before the load of sleeping, pairing
 * with the one in ring_wait (Dekker): either the consumer sees the item or
 * we see it sleeping. wake_now's exchange makes one wake per sleep.
 */
static inline void wake_consumer(struct ring *r)
{
	if (likely(r->asym_fence))
		atomic_signal_fence(memory_order_seq_cst); /* see membarrier_init */
	else
		atomic_thread_fence(memory_order_seq_cst);
	if (unlikely(atomic_load_explicit(&r->sleeping, memory_order_relaxed)))
		wake_now(r);
}

static __attribute__((noinline)) void new_high_water(struct ring *r, uint64_t head)
{
	uint64_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t depth;

	atomic_store_explicit(&r->tail_cache, tail, memory_order_relaxed);
	if (tail >= head)
		return;
	depth = head - tail;
	if (depth > r->cap)
		depth = r->cap; /* KIND_DROP: the consumer has not skipped ahead yet */
	while (depth > hw &&
	       !atomic_compare_exchange_weak_explicit(&r->high_water, &hw, depth,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/*
 * KIND_MPSC/DROP high-water mark, kept by the producers without reading the
 * consumer's line on every push: the estimate from the cached tail is never
 * below the true depth, so the true tail is read only when the estimate
 * beats the mark.
 */
static inline void note_depth(struct ring *r, uint64_t head)
{
	if (unlikely(head - atomic_load_explicit(&r->tail_cache, memory_order_relaxed) >
		     atomic_load_explicit(&r->high_water, memory_order_relaxed)))
		new_high_water(r, head);
}

/* KIND_SPSC: is the slot for item head free? Acquire: the consumer is done reading it. */
static inline bool spsc_free(struct ring *r, uint64_t head)
{
	if (likely(load_state(r, head & r->mask, memory_order_acquire) == 0))
		return true;
	count(&r->rejects);
	return false;
}

static inline void spsc_publish(struct ring *r, uint64_t head, size_t len)
{
	/*
	 * head only counts (stats). It moves first, and the consumer's tail
	 * store is a release after its acquire of the state, so a reader of
	 * tail then head never sees popped > pushed.
	 */
	atomic_store_explicit(&r->head, head + 1, memory_order_relaxed);
	/* Release: the item's bytes before its state. */
	store_state(r, head & r->mask, (uint32_t)len + 1, memory_order_release);
	wake_consumer(r);
}

/* KIND_DROP: swap the producer's buffer into the position for head. */
static void drop_publish(struct ring *r, size_t len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t word = (head << 32) | r->prod_buf;
	uint64_t old;

	store_state(r, r->prod_buf, (uint32_t)len + 1, memory_order_relaxed);
	/*
	 * Release: the item's bytes before the word. Acquire: the consumer is
	 * done with the buffer we get back. seq_cst: it is also the store the
	 * sleep handshake needs ordered before the load of sleeping.
	 */
	old = atomic_exchange_explicit(&r->pos[head & r->mask], word, memory_order_seq_cst);
	r->prod_buf = (uint32_t)(old & POS_INDEX_MASK);
	if (!(old & POS_EMPTY))
		count(&r->drops); /* item head - cap was never claimed */
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	note_depth(r, head + 1);
	if (atomic_load_explicit(&r->sleeping, memory_order_seq_cst))
		wake_now(r);
}

/* KIND_MPSC: Vyukov's bounded queue; turns[i] == n means slot i is free for item n. */
static int mpsc_push(struct ring *r, const void *item, size_t len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t i;

	for (;;) {
		uint32_t turn;
		int32_t diff;

		i = head & r->mask;
		turn = atomic_load_explicit(&r->turns[i], memory_order_acquire);
		diff = (int32_t)(turn - (uint32_t)head);
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &head, head + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			/* The slot still holds the item from one lap ago: full. */
			atomic_fetch_add_explicit(&r->rejects, 1, memory_order_relaxed);
			return -EAGAIN;
		} else {
			head = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
	copy_bytes(buf(r, i), item, len);
	store_state(r, i, (uint32_t)len + 1, memory_order_relaxed);
	atomic_store_explicit(&r->turns[i], (uint32_t)(head + 1), memory_order_release);
	note_depth(r, head + 1);
	wake_consumer(r);
	return 0;
}

static __attribute__((noinline)) int push_slow(struct ring *r, const void *item, size_t len)
{
	if (len > r->slot_size)
		return -EMSGSIZE;
	if (!item && len)
		return -EINVAL;
	switch (r->kind) {
	case KIND_MPSC:
		return mpsc_push(r, item, len);
	case KIND_DROP:
		if (r->reserved)
			return -EBUSY;
		copy_bytes(buf(r, r->prod_buf), item, len);
		drop_publish(r, len);
		return 0;
	case KIND_SPSC:
		break;
	}
	if (r->reserved)
		return -EBUSY;
	return ring_push(r, len ? item : "", len);
}

int ring_push(struct ring *r, const void *item, size_t len)
{
	uint64_t head;

	if (unlikely(r->kind != KIND_SPSC || r->reserved || len > r->slot_size || !item))
		return push_slow(r, item, len);
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!spsc_free(r, head))
		return -EAGAIN;
	copy_bytes(buf(r, head & r->mask), item, len);
	spsc_publish(r, head, len);
	return 0;
}

void *ring_reserve(struct ring *r)
{
	uint64_t head;

	switch (r->kind) {
	case KIND_MPSC:
		return NULL;
	case KIND_DROP:
		r->reserved = true;
		return buf(r, r->prod_buf);
	case KIND_SPSC:
		break;
	}
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (!r->reserved && !spsc_free(r, head))
		return NULL;
	r->reserved = true;
	return buf(r, head & r->mask);
}

int ring_commit(struct ring *r, size_t len)
{
	if (!r->reserved)
		return -EINVAL; /* also every KIND_MPSC ring */
	if (len > r->slot_size)
		return -EMSGSIZE;
	r->reserved = false;
	if (r->kind == KIND_DROP)
		drop_publish(r, len);
	else
		spsc_publish(r, atomic_load_explicit(&r->head, memory_order_relaxed), len);
	return 0;
}

/* ---- consumer side ---- */

/*
 * KIND_DROP, the consumer fell a lap behind: every item before head - cap
 * was overwritten (the producer counted those drops). Resume at the oldest
 * item still there; but that is the very position the producer writes next,
 * so after losing that race once, resume half a ring back instead and
 * discard the items skipped over ourselves. Marking them empty with a
 * compare-exchange counts each exactly once: either we discard it here, or
 * the producer's exchange finds it still full.
 */
static uint64_t drop_resync(struct ring *r, uint64_t tail, bool lost_race)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t oldest = head > r->cap ? head - r->cap : 0;
	uint64_t target = oldest;

	if (lost_race && head > r->cap / 2)
		target = head - r->cap / 2;
	if (target <= tail)
		return tail + 1;
	for (uint64_t s = oldest > tail ? oldest : tail + 1; s < target; s++) {
		_Atomic uint64_t *p = &r->pos[s & r->mask];
		uint64_t word = atomic_load_explicit(p, memory_order_relaxed);

		if (!(word & POS_EMPTY) && (uint32_t)(word >> 32) == (uint32_t)s &&
		    atomic_compare_exchange_strong_explicit(
			p, &word, word | POS_EMPTY, memory_order_relaxed, memory_order_relaxed))
			count(&r->skipped);
	}
	return target;
}

/*
 * KIND_DROP: claim item tail by swapping the consumer's spare buffer into
 * its position; the item's buffer is then ours alone until we swap it back
 * in at the next claim. Returns the buffer index or -1 when empty.
 */
static int64_t drop_claim(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	bool lapped = false;

	for (;;) {
		_Atomic uint64_t *p = &r->pos[tail & r->mask];
		uint64_t word = atomic_load_explicit(p, memory_order_acquire);
		int32_t ahead = (int32_t)((uint32_t)(word >> 32) - (uint32_t)tail);

		if ((word & POS_EMPTY) || ahead < 0)
			return -1; /* item tail not pushed yet */
		if (ahead == 0) {
			uint64_t mine = (tail << 32) | POS_EMPTY | r->cons_buf;

			if (atomic_compare_exchange_strong_explicit(
				p, &word, mine, memory_order_acq_rel, memory_order_acquire)) {
				r->cons_buf = (uint32_t)(word & POS_INDEX_MASK);
				atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
				count(&r->popped);
				return r->cons_buf;
			}
			/* The producer overwrote it just now: we are a lap behind. */
		}
		tail = drop_resync(r, tail, lapped);
		lapped = true;
		atomic_store_explicit(&r->tail, tail, memory_order_release);
	}
}

static __attribute__((noinline)) void spsc_raise_high_water(struct ring *r, uint64_t tail,
							    uint64_t hw)
{
	while (hw < r->cap && load_state(r, (tail + hw) & r->mask, memory_order_relaxed))
		hw++;
	atomic_store_explicit(&r->high_water, hw, memory_order_relaxed);
}

/*
 * KIND_SPSC high-water mark, kept by the consumer, which finds item tail
 * present: the depth exceeds the mark iff item tail + mark is present too
 * (its slot is full). That slot was last written by the consumer itself a
 * lap ago unless the ring is nearly that deep, so the check rarely leaves
 * the core. Depth only falls by a pop, so every peak is seen at the pop
 * that ends it (or by ring_get_stats, which also counts the depth now).
 */
static inline void spsc_note_depth(struct ring *r, uint64_t tail)
{
	uint64_t hw = atomic_load_explicit(&r->high_water, memory_order_relaxed);

	if (unlikely(hw < r->cap && load_state(r, (tail + hw) & r->mask, memory_order_relaxed)))
		spsc_raise_high_water(r, tail, hw);
}

/*
 * Finds the front item and holds it: its buffer index, or -1 when empty.
 * The held item stays the front until release.
 */
static int64_t hold(struct ring *r)
{
	uint64_t tail;

	if (r->held)
		goto held;
	tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	switch (r->kind) {
	case KIND_SPSC:
		/* Acquire: the item's bytes were written before its state. */
		if (load_state(r, tail & r->mask, memory_order_acquire) == 0)
			return -1;
		spsc_note_depth(r, tail);
		break;
	case KIND_MPSC:
		/* Acquire: the item was written before its turn. */
		if (atomic_load_explicit(&r->turns[tail & r->mask], memory_order_acquire) !=
		    (uint32_t)(tail + 1))
			return -1;
		break;
	case KIND_DROP:
		if (drop_claim(r) < 0)
			return -1;
		break;
	}
	r->held = true;
held:
	if (r->kind == KIND_DROP)
		return r->cons_buf;
	return (int64_t)(atomic_load_explicit(&r->tail, memory_order_relaxed) & r->mask);
}

const void *ring_peek(struct ring *r, size_t *ret_len)
{
	int64_t i = hold(r);

	if (i < 0)
		return NULL;
	if (ret_len)
		*ret_len = load_state(r, (uint64_t)i, memory_order_relaxed) - 1;
	return buf(r, (uint64_t)i);
}

void ring_release(struct ring *r)
{
	uint64_t tail;

	if (!r->held)
		return;
	r->held = false;
	if (r->kind == KIND_DROP)
		return; /* cons_buf is our spare again; tail moved at the claim */
	tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Release: we are done reading the slot before the producer may reuse it. */
	if (r->kind == KIND_MPSC)
		atomic_store_explicit(&r->turns[tail & r->mask], (uint32_t)(tail + r->cap),
				      memory_order_release);
	else
		store_state(r, tail & r->mask, 0, memory_order_release);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}

static __attribute__((noinline)) int pop_slow(struct ring *r, void *out, size_t cap,
					      size_t *ret_len)
{
	int64_t i = hold(r);
	size_t len;

	if (i < 0)
		return 0;
	len = load_state(r, (uint64_t)i, memory_order_relaxed) - 1;
	if (ret_len)
		*ret_len = len;
	if (len > cap)
		return -EMSGSIZE; /* stays held */
	copy_bytes(out, buf(r, (uint64_t)i), len);
	ring_release(r);
	return 1;
}

int ring_pop(struct ring *r, void *out, size_t cap, size_t *ret_len)
{
	uint64_t tail, i;
	uint32_t state;
	size_t len;

	if (unlikely(r->kind != KIND_SPSC || r->held))
		return pop_slow(r, out, cap, ret_len);
	tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	i = tail & r->mask;
	/* Acquire: the item's bytes were written before its state. */
	state = load_state(r, i, memory_order_acquire);
	if (!state)
		return 0;
	spsc_note_depth(r, tail);
	len = state - 1;
	if (ret_len)
		*ret_len = len;
	if (unlikely(len > cap)) {
		r->held = true;
		return -EMSGSIZE;
	}
	copy_bytes(out, buf(r, i), len);
	/* Release: we are done reading the slot before the producer may reuse it. */
	store_state(r, i, 0, memory_order_release);
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 1;
}

/* ---- waiting ---- */

/* Is there an item for the consumer? Loads only; called around a sleep. */
static bool readable(struct ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t word;

	if (r->held)
		return true;
	switch (r->kind) {
	case KIND_SPSC:
		return load_state(r, tail & r->mask, memory_order_seq_cst) != 0;
	case KIND_MPSC:
		return atomic_load_explicit(&r->turns[tail & r->mask], memory_order_seq_cst) ==
		       (uint32_t)(tail + 1);
	case KIND_DROP:
		word = atomic_load_explicit(&r->pos[tail & r->mask], memory_order_seq_cst);
		return !(word & POS_EMPTY) &&
		       (int32_t)((uint32_t)(word >> 32) - (uint32_t)tail) >= 0;
	}
	return false;
}

static bool kicked(struct ring *r)
{
	uint32_t k = atomic_load_explicit(&r->kicks, memory_order_seq_cst);

	if (k == r->kicks_seen)
		return false;
	r->kicks_seen = k;
	return true;
}

static void add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int ring_wait(struct ring *r, int timeout_ms)
{
	struct timespec deadline, until, now;
	int ret;

	if (readable(r))
		return 1;
	if (kicked(r))
		return -EINTR;
	if (timeout_ms == 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	add_ms(&deadline, timeout_ms);
	for (;;) {
		/* Read the word first: a wake after this makes futex_wait return at once. */
		uint32_t seq = atomic_load_explicit(&r->wake_seq, memory_order_seq_cst);
		bool fenced = true;

		atomic_store_explicit(&r->sleeping, 1, memory_order_seq_cst);
		/* Pairs with wake_consumer's fence; see membarrier_init. */
		if (r->asym_fence)
			fenced =
			    syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
		atomic_thread_fence(memory_order_seq_cst);
		if (readable(r)) {
			ret = 1;
			break;
		}
		if (kicked(r)) {
			ret = -EINTR;
			break;
		}
		until = deadline;
		if (!fenced) {
			/* Cannot happen once registered; if it does, a wake-up may be
			 * missed, so sleep in 1 ms slices rather than risk a long stall. */
			clock_gettime(CLOCK_MONOTONIC, &now);
			add_ms(&now, 1);
			if (timeout_ms < 0 || before(&now, &until))
				until = now;
		}
		/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
		if (futex(&r->wake_seq, FUTEX_WAIT_BITSET_PRIVATE, seq,
			  timeout_ms > 0 || !fenced ? &until : NULL, FUTEX_BITSET_MATCH_ANY) < 0 &&
		    errno == ETIMEDOUT && timeout_ms > 0) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!before(&now, &deadline)) {
				ret = readable(r) ? 1 : 0;
				break;
			}
		}
	}
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
	return ret;
}

void ring_wake(struct ring *r)
{
	atomic_fetch_add_explicit(&r->kicks, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&r->wake_seq, 1, memory_order_seq_cst);
	futex(&r->wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, 0);
}

void ring_get_stats(const struct ring *r, struct ring_stats *ret)
{
	/* Tail before head: head only grows, so depth is never negative. */
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t depth = head > tail ? head - tail : 0;

	memset(ret, 0, sizeof(*ret));
	ret->capacity = (size_t)r->cap;
	ret->depth = (size_t)(depth > r->cap ? r->cap : depth);
	ret->high_water = (size_t)atomic_load_explicit(&r->high_water, memory_order_relaxed);
	if (ret->high_water < ret->depth)
		ret->high_water = ret->depth; /* a peak the consumer has not reached yet */
	ret->pushed = head;
	ret->popped =
	    r->kind == KIND_DROP ? atomic_load_explicit(&r->popped, memory_order_relaxed) : tail;
	ret->drops = atomic_load_explicit(&r->drops, memory_order_relaxed) +
		     atomic_load_explicit(&r->skipped, memory_order_relaxed);
	ret->rejects = atomic_load_explicit(&r->rejects, memory_order_relaxed);
}
