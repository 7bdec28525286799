/*
 * gpio_replay — door and staff-call edges from a timed script, for test rigs
 * and the simulator. One event per line:
 *
 *   # comment (also after an event)
 *   <seconds since open> <door|staff_call> <rising|falling>
 *
 * Times must not go backwards. At speed 1.0 an event is handed out when its
 * time comes (stamped with that CLOCK_MONOTONIC time); speed 2.0 plays twice
 * as fast; speed 0 hands every event out at once, stamped when it is read.
 * With loop = true the script starts again right after its last event.
 * LED writes only update dev->led, where tests read them.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firmware/config.h"
#include "hal/gpio.h"
#include "hal/time.h"

#define REPLAY_MAX_LINE 255
#define REPLAY_MAX_EVENTS 10000
#define REPLAY_MAX_SECONDS 1000000.0
#define REPLAY_MIN_SPEED 0.01 /* keeps scheduled times far from overflow */
#define REPLAY_MAX_SPEED 1000.0
#define REPLAY_FORMAT "'<seconds> <door|staff_call> <rising|falling>'"

struct replay_event {
	uint64_t at_ns; /* script time */
	enum gpio_input input;
	enum gpio_edge edge;
};

struct replay_priv {
	struct replay_event *ev;
	size_t n;
	size_t next;
	uint64_t start_ns;  /* CLOCK_MONOTONIC at open */
	uint64_t period_ns; /* script length, for loop */
	uint64_t rounds;    /* completed passes over the script */
	double speed;
	bool loop;
};

static int fail(struct gpio_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct gpio_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* Parses one line that holds an event (comment already cut off). */
static int parse_event(struct gpio_dev *dev, const char *path, int lineno, char *s,
		       struct replay_event *ret)
{
	char *tok[4], *save = NULL, *end;
	int n = 0;
	double t;

	for (char *w = strtok_r(s, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 4)
			break;
		tok[n++] = w;
	}
	if (n != 3)
		return fail(dev, -EINVAL,
			    "gpio(replay): %s:%d: expected " REPLAY_FORMAT ", got %s%d word%s",
			    path, lineno, n == 4 ? "more than " : "", n == 4 ? 3 : n,
			    n == 1 ? "" : "s");
	errno = 0;
	t = strtod(tok[0], &end);
	if (errno || end == tok[0] || *end || !isfinite(t) || t < 0 || t > REPLAY_MAX_SECONDS)
		return fail(dev, -EINVAL,
			    "gpio(replay): %s:%d: expected seconds since start (a number from 0 "
			    "to %.0f), got '%s'",
			    path, lineno, REPLAY_MAX_SECONDS, tok[0]);
	if (strcmp(tok[1], "door") == 0)
		ret->input = GPIO_INPUT_DOOR;
	else if (strcmp(tok[1], "staff_call") == 0)
		ret->input = GPIO_INPUT_STAFF_CALL;
	else
		return fail(dev, -EINVAL,
			    "gpio(replay): %s:%d: expected door or staff_call, got '%s'", path,
			    lineno, tok[1]);
	if (strcmp(tok[2], "rising") == 0)
		ret->edge = GPIO_EDGE_RISING;
	else if (strcmp(tok[2], "falling") == 0)
		ret->edge = GPIO_EDGE_FALLING;
	else
		return fail(dev, -EINVAL,
			    "gpio(replay): %s:%d: expected rising or falling, got '%s'", path,
			    lineno, tok[2]);
	ret->at_ns = (uint64_t)llround(t * 1e9);
	return 0;
}

static int load_script(struct gpio_dev *dev, struct replay_priv *p, const char *path)
{
	char line[REPLAY_MAX_LINE + 2], *hash;
	size_t cap = 0;
	int lineno = 0, rc = 0, e;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		e = errno;
		return fail(dev, -e,
			    "gpio(replay): cannot open %s: %s (set script = a file like "
			    "tests/fixtures/gpio/door.script)",
			    path, strerror(e));
	}
	while (fgets(line, sizeof(line), f)) {
		struct replay_event ev;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
			rc = fail(dev, -EINVAL,
				  "gpio(replay): %s:%d: line longer than %d characters", path,
				  lineno, REPLAY_MAX_LINE);
			goto close_file;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		rc = parse_event(dev, path, lineno, line, &ev);
		if (rc < 0)
			goto close_file;
		if (p->n && ev.at_ns < p->ev[p->n - 1].at_ns) {
			rc = fail(dev, -EINVAL,
				  "gpio(replay): %s:%d: %.3f s is before the previous event at "
				  "%.3f s; keep events in time order",
				  path, lineno, ev.at_ns / 1e9, p->ev[p->n - 1].at_ns / 1e9);
			goto close_file;
		}
		if (p->n == REPLAY_MAX_EVENTS) {
			rc = fail(dev, -E2BIG,
				  "gpio(replay): %s:%d: more than %d events; split the script",
				  path, lineno, REPLAY_MAX_EVENTS);
			goto close_file;
		}
		if (p->n == cap) {
			size_t grown_cap = cap ? cap * 2 : 64;
			struct replay_event *grown;

			if (grown_cap > REPLAY_MAX_EVENTS)
				grown_cap = REPLAY_MAX_EVENTS;
			grown = realloc(p->ev, grown_cap * sizeof(*grown));
			if (!grown) {
				rc = fail(dev, -ENOMEM, "gpio(replay): out of memory");
				goto close_file;
			}
			p->ev = grown;
			cap = grown_cap;
		}
		p->ev[p->n++] = ev;
	}
	if (ferror(f)) {
		rc = fail(dev, -EIO, "gpio(replay): reading %s: %s", path, strerror(EIO));
		goto close_file;
	}
	if (!p->n)
		rc = fail(dev, -EINVAL,
			  "gpio(replay): %s: no events; add lines like '0.5 door rising'", path);
close_file:
	fclose(f);
	return rc;
}

static void replay_close(struct gpio_dev *dev)
{
	struct replay_priv *p = dev->priv;

	if (!p)
		return;
	free(p->ev);
	free(p);
	dev->priv = NULL;
}

static int replay_open(struct gpio_dev *dev, const struct config *cfg, const char *section)
{
	char path[PATH_MAX];
	struct config_error err;
	struct replay_priv *p;
	int rc;

	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(dev, -ENOMEM, "gpio(replay): out of memory");
	dev->priv = p;
	if (config_path(cfg, section, "script", NULL, true, path, sizeof(path), &err) < 0 ||
	    config_double(cfg, section, "speed", 1.0, 0.0, REPLAY_MAX_SPEED, &p->speed, &err) < 0 ||
	    config_bool(cfg, section, "loop", false, &p->loop, &err) < 0) {
		rc = fail(dev, -EINVAL, "gpio(replay): %s", err.msg);
		goto close_dev;
	}
	if (p->speed > 0 && p->speed < REPLAY_MIN_SPEED) {
		rc = fail(dev, -EINVAL,
			  "gpio(replay): %s: [%s] speed: expected 0 (as fast as possible) or %g "
			  "to %g, got %g",
			  config_name(cfg), section, REPLAY_MIN_SPEED, REPLAY_MAX_SPEED, p->speed);
		goto close_dev;
	}
	rc = load_script(dev, p, path);
	if (rc < 0)
		goto close_dev;
	p->period_ns = p->ev[p->n - 1].at_ns;
	if (p->loop && !p->period_ns) {
		rc = fail(dev, -EINVAL,
			  "gpio(replay): %s: loop = true needs a script whose last event is after "
			  "0 s, or it would repeat without end in no time",
			  path);
		goto close_dev;
	}
	p->start_ns = hal_now_ns();
	return 0;

close_dev:
	replay_close(dev);
	return rc;
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(t_ns / 1000000000ull),
	    .tv_nsec = (long)(t_ns % 1000000000ull),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int replay_read_event(struct gpio_dev *dev, struct gpio_event *ret, int timeout_ms)
{
	struct replay_priv *p = dev->priv;
	const struct replay_event *ev;
	uint64_t now, due = 0;

	if (!p)
		return -EBADF;
	if (p->next == p->n) {
		if (!p->loop)
			return -ENODATA;
		p->next = 0;
		p->rounds++;
	}
	ev = &p->ev[p->next];
	now = hal_now_ns();
	if (p->speed > 0) {
		due = p->start_ns +
		      (uint64_t)((double)(ev->at_ns + p->rounds * p->period_ns) / p->speed);
		if (due > now) {
			if (timeout_ms == 0)
				return 0;
			if (timeout_ms > 0 && due > now + (uint64_t)timeout_ms * 1000000ull) {
				sleep_until(now + (uint64_t)timeout_ms * 1000000ull);
				return 0;
			}
			sleep_until(due);
		}
	}
	ret->ts_ns = p->speed > 0 ? due : now;
	ret->input = ev->input;
	ret->edge = ev->edge;
	p->next++;
	return 1;
}

static int replay_set_led(struct gpio_dev *dev, bool on)
{
	if (!dev->priv)
		return -EBADF;
	dev->led = on;
	return 0;
}

const struct gpio_ops gpio_replay_ops = {
    .name = "replay",
    .open = replay_open,
    .read_event = replay_read_event,
    .set_led = replay_set_led,
    .close = replay_close,
};
