#include "hal/gpio_lines.h"

#include <errno.h>
#include <limits.h>
#include <linux/gpio.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/errmsg.h"
#include "hal/time.h"

/* One record can settle a pending edge and add its own: 2 per line per pass. */
#define QUEUE_CAP 16
#define QUEUE_ROOM_PER_PASS (2 * GPIO_LINES_COUNT)

struct line_state {
	struct gpio_line_cfg cfg;
	int level;	      /* logical level last handed out, -1 before the first */
	uint64_t quiet_until; /* an edge before this is bounce (debounce only) */
	bool pending;	      /* the last bounce, handed out if it outlasts the quiet time */
	int pending_level;
	uint64_t pending_ts;
};

struct gpio_lines {
	struct line_state line[GPIO_LINES_COUNT];
	struct gpio_event queue[QUEUE_CAP]; /* sorted by ts_ns */
	unsigned nqueued;
	uint64_t dropped;
};

static const char *const line_names[GPIO_LINES_COUNT] = {
    [GPIO_INPUT_DOOR] = "door",
    [GPIO_INPUT_STAFF_CALL] = "staff_call",
};

int gpio_lines_new(const struct gpio_line_cfg cfg[GPIO_LINES_COUNT], struct gpio_lines **ret)
{
	struct gpio_lines *l;
	int i;

	*ret = NULL;
	for (i = 0; i < GPIO_LINES_COUNT; i++)
		if (cfg[i].debounce_ms > GPIO_LINES_MAX_DEBOUNCE_MS || cfg[i].initial_level < -1 ||
		    cfg[i].initial_level > 1)
			return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (i = 0; i < GPIO_LINES_COUNT; i++) {
		l->line[i].cfg = cfg[i];
		l->line[i].level =
		    cfg[i].initial_level < 0 ? -1 : (cfg[i].initial_level ^ (int)cfg[i].active_low);
	}
	*ret = l;
	return 0;
}

void gpio_lines_free(struct gpio_lines *l)
{
	free(l);
}

uint64_t gpio_lines_dropped(const struct gpio_lines *l)
{
	return l->dropped;
}

static void queue_push(struct gpio_lines *l, int input, int level, uint64_t ts)
{
	unsigned i = l->nqueued;

	/* Callers keep QUEUE_ROOM_PER_PASS free, so this never overflows. */
	while (i > 0 && l->queue[i - 1].ts_ns > ts) {
		l->queue[i] = l->queue[i - 1];
		i--;
	}
	l->queue[i].ts_ns = ts;
	l->queue[i].input = (enum gpio_input)input;
	l->queue[i].edge = level ? GPIO_EDGE_RISING : GPIO_EDGE_FALLING;
	l->nqueued++;
	l->line[input].level = level;
}

/* Hands out a pending edge if it changes the level, else drops it. */
static void settle(struct gpio_lines *l, int input)
{
	struct line_state *s = &l->line[input];

	if (!s->pending)
		return;
	s->pending = false;
	if (s->pending_level != s->level)
		queue_push(l, input, s->pending_level, s->pending_ts);
	else
		l->dropped++;
}

/*
 * Debounce: the first edge after a quiet spell goes out at once (no latency on
 * a press); edges within debounce_ms of the previous edge are bounce and only
 * the last of them is kept, to go out once the line has been quiet for
 * debounce_ms, and only if it leaves the line at a new level. So a tap shorter
 * than debounce_ms still ends in a falling edge.
 */
static void take_edge(struct gpio_lines *l, int input, int level, uint64_t ts)
{
	struct line_state *s = &l->line[input];
	uint64_t debounce_ns = (uint64_t)s->cfg.debounce_ms * 1000000ull;

	if (!debounce_ns) {
		queue_push(l, input, level, ts);
		return;
	}
	if (ts < s->quiet_until) {
		if (s->pending)
			l->dropped++;
		s->pending = true;
		s->pending_level = level;
		s->pending_ts = ts;
		s->quiet_until = ts + debounce_ns;
		return;
	}
	settle(l, input);
	if (level != s->level)
		queue_push(l, input, level, ts);
	else
		l->dropped++;
	s->quiet_until = ts + debounce_ns;
}

static void settle_due(struct gpio_lines *l, uint64_t now)
{
	int i;

	for (i = 0; i < GPIO_LINES_COUNT; i++)
		if (l->line[i].pending && now >= l->line[i].quiet_until)
			settle(l, i);
}

/* The earliest time a pending edge settles, UINT64_MAX if none is pending. */
static uint64_t next_settle(const struct gpio_lines *l)
{
	uint64_t t = UINT64_MAX;
	int i;

	for (i = 0; i < GPIO_LINES_COUNT; i++)
		if (l->line[i].pending && l->line[i].quiet_until < t)
			t = l->line[i].quiet_until;
	return t;
}

static int read_record(struct gpio_lines *l, int input, char *err, size_t errlen)
{
	const struct line_state *s = &l->line[input];
	struct gpioevent_data ev;
	uint64_t now;
	ssize_t n;
	int level;

	do
		n = read(s->cfg.fd, &ev, sizeof(ev));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN)
			return 0;
		return errmsg(err, errlen, -errno, "gpio: %s line: reading an event: %s",
			      line_names[input], strerror(errno));
	}
	if (n == 0)
		return errmsg(err, errlen, -EIO,
			      "gpio: %s line: event fd reached end of file; a line-event fd never "
			      "does, so the line was released or this is not one",
			      line_names[input]);
	if ((size_t)n != sizeof(ev))
		return errmsg(
		    err, errlen, -EIO,
		    "gpio: %s line: short event record, %zd of %zu bytes; the kernel "
		    "writes whole struct gpioevent_data records, so this fd is not a GPIO "
		    "v1 line-event fd",
		    line_names[input], n, sizeof(ev));
	if (ev.id == GPIOEVENT_EVENT_RISING_EDGE)
		level = 1;
	else if (ev.id == GPIOEVENT_EVENT_FALLING_EDGE)
		level = 0;
	else
		return errmsg(err, errlen, -EBADMSG,
			      "gpio: %s line: unknown event id %u (expected 1 = rising or 2 = "
			      "falling); is this fd a GPIO v1 line-event fd?",
			      line_names[input], (unsigned)ev.id);
	now = hal_now_ns();
	if (ev.timestamp > now + GPIO_LINES_MAX_AHEAD_NS)
		return errmsg(err, errlen, -ERANGE,
			      "gpio: %s line: event timestamp %llu ns is ahead of CLOCK_MONOTONIC "
			      "(%llu ns); kernels before 5.7 stamp v1 events with CLOCK_REALTIME, "
			      "run Linux 5.7 or later",
			      line_names[input], (unsigned long long)ev.timestamp,
			      (unsigned long long)now);
	take_edge(l, input, level ^ (int)s->cfg.active_low, ev.timestamp);
	return 1;
}

/*
 * Reads what the fds already hold, without waiting. 0 when they were all
 * empty, 1 when it stopped early to keep room in the queue, -errno.
 */
static int drain(struct gpio_lines *l, char *err, size_t errlen)
{
	struct pollfd pfd[GPIO_LINES_COUNT];
	int i, rc;

	for (;;) {
		if (QUEUE_CAP - l->nqueued < QUEUE_ROOM_PER_PASS)
			return 1;
		for (i = 0; i < GPIO_LINES_COUNT; i++) {
			pfd[i].fd = l->line[i].cfg.fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		rc = poll(pfd, GPIO_LINES_COUNT, 0);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return errmsg(err, errlen, -errno, "gpio: waiting for events: %s",
				      strerror(errno));
		if (rc == 0)
			return 0;
		for (i = 0; i < GPIO_LINES_COUNT; i++) {
			if (pfd[i].revents & POLLNVAL)
				return errmsg(err, errlen, -EBADF,
					      "gpio: %s line: event fd %d is not open",
					      line_names[i], pfd[i].fd);
			if ((pfd[i].revents & POLLERR) && !(pfd[i].revents & POLLIN))
				return errmsg(err, errlen, -EIO,
					      "gpio: %s line: error condition on event fd %d",
					      line_names[i], pfd[i].fd);
			if (pfd[i].revents & (POLLIN | POLLHUP)) {
				rc = read_record(l, i, err, errlen);
				if (rc < 0)
					return rc;
			}
		}
	}
}

static int wait_ms(uint64_t now, uint64_t until)
{
	uint64_t ms;

	if (until == UINT64_MAX)
		return -1;
	if (until <= now)
		return 0;
	ms = (until - now + 999999) / 1000000; /* round up: never wake early */
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int gpio_lines_read(struct gpio_lines *l, struct gpio_event *ret, int timeout_ms, char *err,
		    size_t errlen)
{
	struct pollfd pfd[GPIO_LINES_COUNT];
	uint64_t now = hal_now_ns(), deadline, until;
	int i, rc;

	deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		rc = drain(l, err, errlen);
		if (rc < 0)
			return rc;
		now = hal_now_ns();
		/* Settle only when nothing is left unread: an unread edge may be bounce. */
		if (rc == 0)
			settle_due(l, now);
		if (l->nqueued) {
			*ret = l->queue[0];
			l->nqueued--;
			memmove(&l->queue[0], &l->queue[1], l->nqueued * sizeof(l->queue[0]));
			return 1;
		}
		if (now >= deadline)
			return 0;
		until = next_settle(l);
		if (deadline < until)
			until = deadline;
		for (i = 0; i < GPIO_LINES_COUNT; i++) {
			pfd[i].fd = l->line[i].cfg.fd;
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		rc = poll(pfd, GPIO_LINES_COUNT, wait_ms(now, until));
		if (rc < 0 && errno != EINTR)
			return errmsg(err, errlen, -errno, "gpio: waiting for events: %s",
				      strerror(errno));
	}
}
