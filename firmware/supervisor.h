/*
 * supervisor — watches every stage's heartbeat and state, restarts what
 * stalled or failed (with back-off), gives up on a stage that keeps failing
 * (the box runs degraded without it), and feeds the hardware watchdog and
 * systemd's watchdog only while every critical stage is healthy.
 *
 * It is stepped: supervisor_tick(now) does one round, so tests drive it
 * tick by tick and the daemon calls it from its main loop.
 */
#ifndef FIRMWARE_SUPERVISOR_H
#define FIRMWARE_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/stage.h"

struct watchdog_dev;

#define SUPERVISOR_MAX_STAGES 16

struct supervisor_params {
	uint32_t max_failures; /* failures within the window before giving up */
	uint32_t failure_window_ms;
	uint32_t backoff_initial_ms; /* first restart delay, doubled per failure */
	uint32_t backoff_max_ms;
	uint32_t cancel_timeout_ms; /* how long a cancelled stage may take to end */
	uint64_t sd_watchdog_usec;  /* systemd's WatchdogSec in µs; 0: not asked */
	bool realtime;		    /* SCHED_FIFO for the stages when permitted */
};

struct supervisor {
	struct supervisor_params p;
	struct stage *stages[SUPERVISOR_MAX_STAGES];
	size_t n;
	struct watchdog_dev *wd; /* NULL: no hardware watchdog */
	bool healthy;		 /* last tick's verdict */
	uint64_t last_sd_ping_ns;
	uint64_t keepalives; /* watchdog feeds, hardware or systemd */
	char unhealthy_reason[128];
};

void supervisor_params_default(struct supervisor_params *p);

/* wd may be NULL. The supervisor does not own the stages or the watchdog. */
void supervisor_init(struct supervisor *s, const struct supervisor_params *p,
		     struct watchdog_dev *wd);

/* -E2BIG past SUPERVISOR_MAX_STAGES. */
int supervisor_add(struct supervisor *s, struct stage *st);

/* Starts every stage. 0, or the first -errno (the others still start). */
int supervisor_start_all(struct supervisor *s);

/* One round of checks at time now_ns (CLOCK_MONOTONIC). */
void supervisor_tick(struct supervisor *s, uint64_t now_ns);

/*
 * Stops the stages in the order they were added (producers first, so
 * consumers can drain), each given timeout_ms before it is cancelled.
 */
void supervisor_stop_all(struct supervisor *s, int timeout_ms);

/* A stage by name, or NULL. */
struct stage *supervisor_find(struct supervisor *s, const char *name);

#endif
