/*
 * stage — one pipeline stage: a thread with a priority, a heartbeat, and
 * statistics, running a step function in a loop.
 *
 * The stage thread calls init() once (open devices), then step() until
 * asked to stop, then fini(). step() must return within the stage's
 * deadline (it waits for input with a timeout well below it), so a stage
 * whose heartbeat is older than its deadline is stalled. The supervisor
 * then cancels the thread: cancellation is enabled only while step() runs,
 * and fini() still runs (as a cleanup handler), so the stage's devices are
 * closed and it can be started again. Code inside step() that must not be
 * cut short (a store commit) brackets itself with stage_critical_begin/end.
 *
 * Life cycle (state):
 *   STOPPED -> STARTING -> RUNNING -> (EXITED | DONE)
 *   EXITED: init or step failed, error[] says why; the supervisor restarts it
 *   DONE:   the input ended (a replay file without loop); not restarted
 *   FAILED: set by the supervisor when it gives up on the stage
 */
#ifndef FIRMWARE_STAGE_H
#define FIRMWARE_STAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "firmware/histogram.h"

enum stage_priority {
	STAGE_PRIO_CONVERSATION, /* highest: SCHED_FIFO 30, or nice -10 */
	STAGE_PRIO_SENSOR,	 /* BLE, GPIO, camera capture: SCHED_FIFO 20, or nice -5 */
	STAGE_PRIO_BACKGROUND,	 /* face embedding: SCHED_OTHER, nice 10 */
};

enum stage_state {
	STAGE_STATE_STOPPED,
	STAGE_STATE_STARTING,
	STAGE_STATE_RUNNING,
	STAGE_STATE_EXITED,
	STAGE_STATE_DONE,
	STAGE_STATE_FAILED,
};

struct stage;

struct stage_desc {
	const char *name;
	enum stage_priority priority;
	bool critical;	      /* the watchdog is fed only while it runs */
	uint32_t deadline_ms; /* max time between heartbeats */
	/* Called in the stage thread. 0, or -errno with err filled (the fix too). */
	int (*init)(void *ctx, char *err, size_t errlen);
	/* 0: go on; -ENODATA: input finished; other -errno: fail (err filled). */
	int (*step)(void *ctx, struct stage *st, char *err, size_t errlen);
	/* Undo init; called once per successful init, also after cancellation. */
	void (*fini)(void *ctx);
	/* Optional: make a blocked step() return soon (e.g. ring_wake). */
	void (*wake)(void *ctx);
	void *ctx;
};

struct stage {
	struct stage_desc desc;
	pthread_t thread;
	bool thread_valid;
	_Atomic int state; /* enum stage_state */
	_Atomic bool stop;
	_Atomic uint64_t heartbeat_ns;
	_Atomic uint64_t started_ns;
	_Atomic uint64_t items;
	_Atomic uint64_t errors;
	_Atomic uint32_t restarts;
	bool initialised;	  /* init succeeded and fini not yet run */
	bool realtime;		  /* try SCHED_FIFO before a nice level */
	char sched[48];		  /* the scheduling the thread got, e.g. "SCHED_FIFO 30" */
	char error[640];	  /* why it last exited; written by the stage thread */
	struct histogram latency; /* per-item latency, from the item's timestamp */
	/* supervisor bookkeeping */
	uint64_t failures_window_start_ns;
	uint32_t failures_in_window;
	uint64_t restart_at_ns;
	uint32_t backoff_ms;
};

/* Sets up st from desc (copied). No thread yet. */
void stage_init(struct stage *st, const struct stage_desc *desc);

/* Starts the thread. 0, or -errno if pthread_create failed. */
int stage_start(struct stage *st, bool realtime);

/* Asks the stage to stop after its current step and wakes it. */
void stage_request_stop(struct stage *st);

/*
 * Waits up to timeout_ms for the thread to end and reaps it.
 * 0, or -ETIMEDOUT (still running).
 */
int stage_join(struct stage *st, int timeout_ms);

/* Cancels a stalled thread and reaps it; -ETIMEDOUT if it will not end. */
int stage_cancel(struct stage *st, int timeout_ms);

/* For step(): proof of life inside a long step. */
static inline void stage_heartbeat(struct stage *st, uint64_t now_ns)
{
	atomic_store_explicit(&st->heartbeat_ns, now_ns, memory_order_relaxed);
}

/* For step(): one item handled; item_ts_ns is when it entered the pipeline. */
void stage_item_done(struct stage *st, uint64_t item_ts_ns, uint64_t now_ns);

/* Regions of step() that cancellation must not cut (store commits). */
void stage_critical_begin(void);
void stage_critical_end(void);

const char *stage_state_name(enum stage_state s);

static inline enum stage_state stage_get_state(const struct stage *st)
{
	return (enum stage_state)atomic_load(&st->state);
}

#endif
