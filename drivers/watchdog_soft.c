/*
 * watchdog_soft — an in-process watchdog for test rigs and the simulator.
 * A thread wakes when the timeout runs out; if no keepalive came it counts an
 * expiry, writes one line to stderr and re-arms. Nothing is reset: tests and
 * the simulator read the count with watchdog_expired().
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "firmware/config.h"
#include "hal/time.h"
#include "hal/watchdog.h"

#define SOFT_MAX_TIMEOUT_S 600
#define SOFT_MIN_TIMEOUT_MS 10

struct soft_priv {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* CLOCK_MONOTONIC, so wall-clock jumps do not fire it */
	uint64_t timeout_ns;
	uint64_t fed_ns;   /* last keepalive, or open */
	uint64_t armed_ns; /* the timeout runs from here: last keepalive or expiry */
	int expired;
	bool stop;
};

static int fail(struct watchdog_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct watchdog_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

static void *soft_thread(void *arg)
{
	struct soft_priv *p = arg;
	struct timespec ts;
	uint64_t now, deadline, silent_ms;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		deadline = p->armed_ns + p->timeout_ns;
		now = hal_now_ns();
		if (now < deadline) {
			ts.tv_sec = (time_t)(deadline / 1000000000ull);
			ts.tv_nsec = (long)(deadline % 1000000000ull);
			pthread_cond_timedwait(&p->wake, &p->lock, &ts);
			continue;
		}
		p->expired++;
		p->armed_ns = now;
		silent_ms = (now - p->fed_ns) / 1000000ull;
		pthread_mutex_unlock(&p->lock);
		fprintf(stderr, "watchdog(soft): expired after %llu ms without keepalive\n",
			(unsigned long long)silent_ms);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int soft_open(struct watchdog_dev *dev, const struct config *cfg, const char *section)
{
	struct config_error err;
	pthread_condattr_t attr;
	struct soft_priv *p;
	long timeout_s, timeout_ms = 0;
	bool has_s, has_ms;
	int rc;

	has_s = config_get(cfg, section, "timeout_s") != NULL;
	has_ms = config_get(cfg, section, "timeout_ms") != NULL;
	if (has_s && has_ms)
		return fail(dev, -EINVAL,
			    "watchdog(soft): %s: [%s] has both timeout_s and timeout_ms; keep one",
			    config_name(cfg), section);
	if (config_int(cfg, section, "timeout_s", 15, 1, SOFT_MAX_TIMEOUT_S, &timeout_s, &err) <
		0 ||
	    (has_ms && config_int(cfg, section, "timeout_ms", 0, SOFT_MIN_TIMEOUT_MS,
				  SOFT_MAX_TIMEOUT_S * 1000L, &timeout_ms, &err) < 0))
		return fail(dev, -EINVAL, "watchdog(soft): %s", err.msg);
	if (!has_ms)
		timeout_ms = timeout_s * 1000;

	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(dev, -ENOMEM, "watchdog(soft): out of memory");
	p->timeout_ns = (uint64_t)timeout_ms * 1000000ull;
	p->fed_ns = p->armed_ns = hal_now_ns();
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = -pthread_create(&p->thread, NULL, soft_thread, p);
	if (rc < 0) {
		fail(dev, rc, "watchdog(soft): cannot start its thread: %s", strerror(-rc));
		goto free_priv;
	}
	dev->priv = p;
	/* Whole seconds for the supervisor; timeout_ms is for testing this driver. */
	dev->timeout_s = (int)((timeout_ms + 999) / 1000);
	return 0;

free_priv:
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return rc;
}

static int soft_keepalive(struct watchdog_dev *dev)
{
	struct soft_priv *p = dev->priv;

	if (!p)
		return -EBADF;
	pthread_mutex_lock(&p->lock);
	p->fed_ns = p->armed_ns = hal_now_ns();
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int soft_expired(struct watchdog_dev *dev)
{
	struct soft_priv *p = dev->priv;
	int n;

	if (!p)
		return -EBADF;
	pthread_mutex_lock(&p->lock);
	n = p->expired;
	pthread_mutex_unlock(&p->lock);
	return n;
}

static void soft_close(struct watchdog_dev *dev)
{
	struct soft_priv *p = dev->priv;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	free(p);
	dev->priv = NULL;
}

const struct watchdog_ops watchdog_soft_ops = {
    .name = "soft",
    .open = soft_open,
    .keepalive = soft_keepalive,
    .expired = soft_expired,
    .close = soft_close,
};
