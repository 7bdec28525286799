/*
 * ring — fixed-size, lock-free rings that carry items between pipeline
 * stage threads. docs/ring.md explains the design (memory orders, why
 * drop-oldest never overwrites the slot the consumer reads).
 *
 * A ring is created once with every slot preallocated (one aligned
 * allocation, pages touched up front); push, pop and the zero-copy calls
 * never allocate and never take a lock.
 *
 * Roles: one consumer thread calls peek/release/pop/wait. A RING_SPSC ring
 * has one producer thread (push, or reserve + commit); a RING_MPSC ring
 * may be pushed to from any number of threads at once. ring_wake and
 * ring_get_stats/ring_name/... may be called from any thread. Calling a
 * role's functions from two threads at once is a bug the ring does not
 * detect.
 *
 * Items are variable length, 0 .. slot_size bytes; the length is kept per
 * slot. Item data is 8-byte aligned, 64-byte aligned when slot_size >= 64.
 *
 * Overflow policy, per ring:
 *   RING_OVERFLOW_REJECT       push on a full ring fails with -EAGAIN and
 *                              counts a reject; nothing queued is lost.
 *   RING_OVERFLOW_DROP_OLDEST  push always succeeds; on a full ring the
 *                              oldest unread item is discarded and counted
 *                              in drops. The item the consumer holds
 *                              (between peek and release) is never touched.
 *                              A consumer that finds itself a whole lap
 *                              behind resumes at the oldest item left, or
 *                              half a ring back if the producer keeps
 *                              overwriting that one (the skipped items are
 *                              drops too). Single producer only.
 */
#ifndef FIRMWARE_RING_H
#define FIRMWARE_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_NAME_MAX 32		    /* including the NUL */
#define RING_MAX_CAPACITY ((size_t)1 << 20) /* items */
#define RING_MAX_SLOT_SIZE ((size_t)64 << 20)
#define RING_MAX_BYTES ((size_t)1 << 30) /* whole allocation */
#define RING_ERROR_MAX 256

enum ring_overflow {
	RING_OVERFLOW_REJECT,
	RING_OVERFLOW_DROP_OLDEST,
};

enum ring_producers {
	RING_SPSC, /* one producer thread */
	RING_MPSC, /* any number of producer threads; REJECT only */
};

struct ring_params {
	const char *name; /* 1 .. RING_NAME_MAX-1 characters; copied */
	size_t slot_size; /* largest item, bytes: 1 .. RING_MAX_SLOT_SIZE */
	size_t capacity;  /* items: a power of two, 2 .. RING_MAX_CAPACITY */
	enum ring_overflow overflow;
	enum ring_producers producers;
};

/*
 * Each field is read atomically, but the fields are not one snapshot: taken
 * while the ring runs, pushed - popped - drops may differ from depth by the
 * few items in flight. When producers and consumer are quiet,
 * pushed == popped + drops + depth exactly.
 *
 * An item the consumer holds (between peek and release) still takes its
 * slot in a REJECT ring, so it counts in depth until released; in a
 * DROP_OLDEST ring it has left the ring at the peek and counts as popped.
 */
struct ring_stats {
	size_t capacity;
	/* Items in the ring now. */
	size_t depth;
	/* The largest depth reached; while running it may trail a peak by an item. */
	size_t high_water;
	/* Items accepted by push/commit. */
	uint64_t pushed;
	/* Items that left the ring to the consumer (see above for a held one). */
	uint64_t popped;
	/* DROP_OLDEST: items discarded unread. */
	uint64_t drops;
	/* REJECT: pushes and reserves refused because the ring was full. */
	uint64_t rejects;
};

struct ring;

/*
 * Checks p without creating anything. 0, or -EINVAL (bad value) or
 * -ENOTSUP (DROP_OLDEST with RING_MPSC); msg (may be NULL) then says which
 * ring, what was wrong and how to fix it.
 */
int ring_params_check(const struct ring_params *p, char *msg, size_t msg_len);

/*
 * Creates a ring. On success *ret owns it (free with ring_free); the name is
 * copied, p is not kept. Errors: -EINVAL / -ENOTSUP as ring_params_check
 * (use it for the message), -ENOMEM. *ret is untouched on error.
 */
int ring_create(const struct ring_params *p, struct ring **ret);

/* Frees the ring and every slot; NULL is fine. No thread may still use it. */
void ring_free(struct ring *r);

/* The name, owned by the ring. */
const char *ring_name(const struct ring *r);
size_t ring_slot_size(const struct ring *r);
size_t ring_capacity(const struct ring *r);

/*
 * Producer side.
 *
 * ring_push copies len bytes from item into the ring. 0, or
 *   -EAGAIN    full (REJECT): nothing was queued, a reject is counted
 *   -EMSGSIZE  len > slot_size
 *   -EINVAL    item is NULL with len > 0
 *   -EBUSY     (SPSC) a ring_reserve is open: commit it first
 * DROP_OLDEST pushes never fail on a full ring.
 */
int ring_push(struct ring *r, const void *item, size_t len);

/*
 * Zero-copy producer (RING_SPSC only): returns slot_size writable bytes
 * owned by the producer until ring_commit, or NULL when the ring is full
 * (REJECT; a reject is counted) or the ring is RING_MPSC (use ring_push
 * there: a reservation has no owner thread to find its slot by). Calling
 * it again before commit returns the same bytes. DROP_OLDEST never returns
 * NULL: the bytes are a spare slot outside the ring.
 */
void *ring_reserve(struct ring *r);

/*
 * Publishes the reserved slot with len bytes. 0, -EINVAL (no open
 * reservation), -EMSGSIZE (len > slot_size; the reservation stays open).
 */
int ring_commit(struct ring *r, size_t len);

/*
 * Consumer side.
 *
 * ring_peek returns the oldest item in place (*ret_len its length, may be
 * NULL) or NULL when empty. The consumer holds it, and the producer will
 * not write to it, until ring_release; peeking again before that returns
 * the same item. The pointer is owned by the ring.
 */
const void *ring_peek(struct ring *r, size_t *ret_len);

/* Gives the held item's slot back to the producer; no-op if none is held. */
void ring_release(struct ring *r);

/*
 * Copies the oldest item into out (cap bytes) and removes it. 1 with
 * *ret_len (may be NULL) set, 0 when empty, -EMSGSIZE when the item is
 * longer than cap: *ret_len is set to its length and the item stays at the
 * front, held, for a pop with a larger buffer (or peek/release).
 */
int ring_pop(struct ring *r, void *out, size_t cap, size_t *ret_len);

/*
 * Waits until the ring has an item for the consumer (or one is held),
 * without spinning: 1 readable, 0 timed out, -EINTR ring_wake was called.
 * timeout_ms: -1 forever, 0 just checks. A ring_wake made while nobody waits
 * is remembered: the next ring_wait that finds the ring empty returns
 * -EINTR at once (so a wake just before the wait is not lost at shutdown).
 * The fast path (ring not empty) is a couple of loads; producers make a
 * futex wake syscall only while the consumer sleeps. Not a cancellation
 * point. Going to sleep costs a membarrier() call, which spares every push
 * a memory fence (docs/ring.md; EDGEBOX_RING_NO_MEMBARRIER=1 in the
 * environment when a ring is created makes that ring use the fence).
 */
int ring_wait(struct ring *r, int timeout_ms);

/* Makes the consumer's ring_wait return -EINTR (now or at its next call). */
void ring_wake(struct ring *r);

/* Counters, readable from any thread while the ring runs. */
void ring_get_stats(const struct ring *r, struct ring_stats *ret);

/* "reject" / "drop-oldest", "spsc" / "mpsc": for logs and status. */
const char *ring_overflow_name(enum ring_overflow o);
const char *ring_producers_name(enum ring_producers p);

#endif
