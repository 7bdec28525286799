#include "firmware/supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "firmware/log.h"
#include "firmware/sdnotify.h"
#include "hal/watchdog.h"

#define MS 1000000ull

void supervisor_params_default(struct supervisor_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_failures = 5;
	p->failure_window_ms = 60000;
	p->backoff_initial_ms = 200;
	p->backoff_max_ms = 10000;
	p->cancel_timeout_ms = 500;
	p->realtime = true;
}

void supervisor_init(struct supervisor *s, const struct supervisor_params *p,
		     struct watchdog_dev *wd)
{
	memset(s, 0, sizeof(*s));
	s->p = *p;
	s->wd = wd;
}

int supervisor_add(struct supervisor *s, struct stage *st)
{
	if (s->n == SUPERVISOR_MAX_STAGES)
		return -E2BIG;
	s->stages[s->n++] = st;
	return 0;
}

struct stage *supervisor_find(struct supervisor *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->stages[i]->desc.name, name) == 0)
			return s->stages[i];
	return NULL;
}

static int start_one(struct supervisor *s, struct stage *st)
{
	int rc = stage_start(st, s->p.realtime);

	if (rc < 0)
		log_error("supervisor", "stage %s: %s", st->desc.name, st->error);
	return rc;
}

int supervisor_start_all(struct supervisor *s)
{
	int rc = 0, r;
	size_t i;

	for (i = 0; i < s->n; i++) {
		r = start_one(s, s->stages[i]);
		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* Counts a failure and either schedules a restart or gives up. */
static void record_failure(struct supervisor *s, struct stage *st, uint64_t now, const char *why)
{
	if (!st->failures_window_start_ns ||
	    now - st->failures_window_start_ns > (uint64_t)s->p.failure_window_ms * MS) {
		st->failures_window_start_ns = now;
		st->failures_in_window = 0;
		st->backoff_ms = 0;
	}
	st->failures_in_window++;
	if (st->failures_in_window > s->p.max_failures) {
		atomic_store(&st->state, STAGE_STATE_FAILED);
		log_error("supervisor",
			  "stage %s failed %u times within %u s (last: %s); giving up, the box "
			  "runs degraded without it",
			  st->desc.name, st->failures_in_window, s->p.failure_window_ms / 1000,
			  why);
		return;
	}
	st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : s->p.backoff_initial_ms;
	if (st->backoff_ms > s->p.backoff_max_ms)
		st->backoff_ms = s->p.backoff_max_ms;
	st->restart_at_ns = now + (uint64_t)st->backoff_ms * MS;
	atomic_store(&st->state, STAGE_STATE_STOPPED);
	/* The first failure in a window is news; repeats of it are not. */
	if (st->failures_in_window == 1)
		log_error("supervisor", "stage %s: %s; restarting in %u ms", st->desc.name, why,
			  st->backoff_ms);
	else
		log_warning("supervisor", "stage %s: still failing; restart %u in %u ms",
			    st->desc.name, st->failures_in_window, st->backoff_ms);
}

static void check_stage(struct supervisor *s, struct stage *st, uint64_t now)
{
	uint64_t hb, deadline = (uint64_t)st->desc.deadline_ms * MS;
	char why[700];

	switch (stage_get_state(st)) {
	case STAGE_STATE_RUNNING:
		hb = atomic_load(&st->heartbeat_ns);
		if (now <= hb || now - hb <= deadline)
			break;
		snprintf(why, sizeof(why), "stalled: no heartbeat for %llu ms (deadline %u ms)",
			 (unsigned long long)((now - hb) / MS), st->desc.deadline_ms);
		if (stage_cancel(st, (int)s->p.cancel_timeout_ms) < 0) {
			atomic_store(&st->state, STAGE_STATE_FAILED);
			log_error("supervisor",
				  "stage %s %s and did not end when cancelled; marked failed",
				  st->desc.name, why);
			break;
		}
		record_failure(s, st, now, why);
		break;
	case STAGE_STATE_EXITED:
		stage_join(st, (int)s->p.cancel_timeout_ms);
		snprintf(why, sizeof(why), "%s", st->error[0] ? st->error : "exited");
		record_failure(s, st, now, why);
		break;
	case STAGE_STATE_DONE:
		if (st->thread_valid) {
			stage_join(st, (int)s->p.cancel_timeout_ms);
			log_notice("supervisor", "stage %s finished its input", st->desc.name);
		}
		break;
	case STAGE_STATE_STOPPED:
		if (st->restart_at_ns && now >= st->restart_at_ns) {
			st->restart_at_ns = 0;
			atomic_fetch_add(&st->restarts, 1);
			start_one(s, st);
		}
		break;
	case STAGE_STATE_STARTING:
	case STAGE_STATE_FAILED:
		break;
	}
}

static bool critical_healthy(struct supervisor *s, uint64_t now)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct stage *st = s->stages[i];
		uint64_t hb = atomic_load(&st->heartbeat_ns);

		if (!st->desc.critical)
			continue;
		if (stage_get_state(st) != STAGE_STATE_RUNNING) {
			snprintf(s->unhealthy_reason, sizeof(s->unhealthy_reason),
				 "critical stage %s is %s", st->desc.name,
				 stage_state_name(stage_get_state(st)));
			return false;
		}
		if (now > hb && now - hb > (uint64_t)st->desc.deadline_ms * MS) {
			snprintf(s->unhealthy_reason, sizeof(s->unhealthy_reason),
				 "critical stage %s missed its heartbeat", st->desc.name);
			return false;
		}
	}
	s->unhealthy_reason[0] = '\0';
	return true;
}

void supervisor_tick(struct supervisor *s, uint64_t now_ns)
{
	bool healthy;
	size_t i;

	for (i = 0; i < s->n; i++)
		check_stage(s, s->stages[i], now_ns);

	healthy = critical_healthy(s, now_ns);
	if (healthy != s->healthy) {
		if (healthy)
			log_notice("supervisor",
				   "all critical stages healthy; feeding the watchdog");
		else
			log_error("supervisor", "%s; the watchdog is no longer fed",
				  s->unhealthy_reason);
		s->healthy = healthy;
	}
	if (!healthy)
		return;
	if (s->wd && watchdog_keepalive(s->wd) == 0)
		s->keepalives++;
	/* systemd wants a ping at least every WatchdogSec; send at half that. */
	if (s->p.sd_watchdog_usec &&
	    now_ns - s->last_sd_ping_ns >= s->p.sd_watchdog_usec * 1000 / 2) {
		if (sdnotify_send("WATCHDOG=1") > 0)
			s->keepalives++;
		s->last_sd_ping_ns = now_ns;
	}
}

void supervisor_stop_all(struct supervisor *s, int timeout_ms)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		struct stage *st = s->stages[i];

		st->restart_at_ns = 0;
		if (!st->thread_valid)
			continue;
		stage_request_stop(st);
		if (stage_join(st, timeout_ms) < 0) {
			log_warning("supervisor", "stage %s did not stop within %d ms; cancelling",
				    st->desc.name, timeout_ms);
			if (stage_cancel(st, timeout_ms) < 0)
				log_error("supervisor", "stage %s does not end; leaving it",
					  st->desc.name);
		}
		if (stage_get_state(st) != STAGE_STATE_FAILED)
			atomic_store(&st->state, STAGE_STATE_STOPPED);
	}
}
