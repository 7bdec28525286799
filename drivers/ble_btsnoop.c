/*
 * ble_btsnoop — replays the LE advertising events of a btsnoop capture
 * (`btmon -w`, or an H4/HCI btsnoop log) as if a scanner saw them now.
 *
 *   [ble]
 *   driver = btsnoop
 *   file = walkin.btsnoop   # required; relative to the config file
 *   speed = 1.0             # 1 original timing, 2 twice as fast, 0 no waiting
 *   loop = false            # start again after the last record
 *
 * Event records go through hci_parse_event(), so a replay exercises the same
 * parser the real adapter does; commands, ACL and monitor notes are skipped.
 * Each event is due its capture-time distance after the previous one
 * (divided by speed; a timestamp that goes backwards counts as no gap); its
 * reports are stamped with CLOCK_MONOTONIC when handed up. After a loop the
 * first event follows the last one at once. open() walks the whole file
 * once, so a corrupt capture fails at open with the byte offset rather than
 * minutes into a run.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "firmware/config.h"
#include "hal/ble.h"
#include "hal/btsnoop.h"
#include "hal/hci.h"
#include "hal/time.h"

#define REPLAY_MAX_SPEED 1000.0

struct replay_priv {
	struct btsnoop_reader *reader;
	double speed;
	bool loop;
	bool started; /* prev_* hold the last event handed to the parser */
	int64_t prev_ts_us;
	uint64_t prev_due_ns;
	bool have_next; /* next_* hold an event read but not yet due */
	uint8_t next_evt[HCI_EVENT_LEN_MAX];
	size_t next_len;
	int64_t next_ts_us;
	struct ble_adv_report queue[HCI_ADV_REPORTS_MAX];
	int nqueue;
	int qnext;
};

static int fail(struct ble_dev *dev, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ble_dev *dev, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* Walks every record: corruption fails open; a capture without one LE
 * advertising report is almost certainly the wrong file. */
static int check_file(struct ble_dev *dev, struct replay_priv *p, const char *path)
{
	struct ble_adv_report *scratch = p->queue;
	struct btsnoop_record rec;
	struct btsnoop_error err;
	unsigned long records = 0, events = 0, reports = 0;
	int rc;

	while ((rc = btsnoop_reader_next(p->reader, &rec, &err)) > 0) {
		records++;
		if (rec.type != BTSNOOP_PACKET_EVENT)
			continue;
		events++;
		rc = hci_parse_event(rec.data, rec.len, scratch, HCI_ADV_REPORTS_MAX);
		if (rc > 0)
			reports += (unsigned long)rc;
	}
	if (rc < 0)
		return fail(dev, rc, "ble(btsnoop): %s", err.msg);
	if (!reports)
		return fail(
		    dev, -EINVAL,
		    "ble(btsnoop): %s: no LE advertising reports in %lu records (%lu events); "
		    "record a scan with `btmon -w FILE` while `bluetoothctl scan on` runs",
		    path, records, events);
	rc = btsnoop_reader_rewind(p->reader, &err);
	if (rc < 0)
		return fail(dev, rc, "ble(btsnoop): %s", err.msg);
	return 0;
}

static int replay_open(struct ble_dev *dev, const struct config *cfg, const char *section)
{
	struct replay_priv *p;
	struct config_error cerr;
	struct btsnoop_error berr;
	char path[PATH_MAX];
	int rc;

	/* ble_open() leaves stats alone; a reopened dev starts from zero. */
	memset(&dev->stats, 0, sizeof(dev->stats));
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(dev, -ENOMEM, "ble(btsnoop): out of memory");
	dev->priv = p;
	if (config_path(cfg, section, "file", NULL, true, path, sizeof(path), &cerr) < 0 ||
	    config_double(cfg, section, "speed", 1.0, 0.0, REPLAY_MAX_SPEED, &p->speed, &cerr) <
		0 ||
	    config_bool(cfg, section, "loop", false, &p->loop, &cerr) < 0)
		return fail(dev, -EINVAL, "ble(btsnoop): %s", cerr.msg);
	rc = btsnoop_reader_open(path, &p->reader, &berr);
	if (rc < 0)
		return fail(dev, rc, "ble(btsnoop): %s (set [%s] file to a `btmon -w` capture)",
			    berr.msg, section);
	return check_file(dev, p, path);
}

static void replay_close(struct ble_dev *dev)
{
	struct replay_priv *p = dev->priv;

	if (!p)
		return;
	btsnoop_reader_free(p->reader);
	free(p);
	dev->priv = NULL;
}

/* Loads the next event record into next_*: 0, -ENODATA at the end, -errno. */
static int load_next(struct ble_dev *dev, struct replay_priv *p)
{
	struct btsnoop_record rec;
	struct btsnoop_error err;
	bool rewound = false;
	int rc;

	for (;;) {
		rc = btsnoop_reader_next(p->reader, &rec, &err);
		if (rc < 0)
			return fail(dev, rc, "ble(btsnoop): %s", err.msg);
		if (rc == 0) {
			/* A pass without a single event would spin forever. */
			if (!p->loop || rewound)
				return fail(dev, -ENODATA, "ble(btsnoop): end of the capture");
			rc = btsnoop_reader_rewind(p->reader, &err);
			if (rc < 0)
				return fail(dev, rc, "ble(btsnoop): %s", err.msg);
			rewound = true;
			p->started = false;
			continue;
		}
		if (rec.type != BTSNOOP_PACKET_EVENT)
			continue;
		if (rec.len > sizeof(p->next_evt)) {
			dev->stats.events++;
			dev->stats.malformed++;
			continue;
		}
		memcpy(p->next_evt, rec.data, rec.len);
		p->next_len = rec.len;
		p->next_ts_us = rec.ts_us;
		p->have_next = true;
		return 0;
	}
}

/* When next_* is due on CLOCK_MONOTONIC; the first event is due now. */
static uint64_t due_ns(struct replay_priv *p, uint64_t now)
{
	int64_t gap_us;

	if (!p->started) {
		/* After a loop, the next pass follows the last event at once. */
		p->started = true;
		p->prev_due_ns = p->prev_due_ns ? p->prev_due_ns : now;
		p->prev_ts_us = p->next_ts_us;
	}
	gap_us = p->next_ts_us - p->prev_ts_us;
	if (p->speed == 0.0 || gap_us <= 0)
		return p->prev_due_ns;
	return p->prev_due_ns + (uint64_t)((double)gap_us * 1000.0 / p->speed);
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {
	    .tv_sec = (time_t)(t_ns / 1000000000ull),
	    .tv_nsec = (long)(t_ns % 1000000000ull),
	};

	/* EINTR: the caller's loop looks at the clock again. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int replay_read(struct ble_dev *dev, struct ble_adv_report *ret, int timeout_ms)
{
	struct replay_priv *p = dev->priv;
	uint64_t deadline = 0;

	if (!p || !p->reader)
		return fail(dev, -EBADF, "ble(btsnoop): read on a device that is not open");
	if (timeout_ms >= 0)
		deadline = hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	for (;;) {
		uint64_t now, due;
		int rc;

		if (p->qnext < p->nqueue) {
			*ret = p->queue[p->qnext++];
			ret->ts_ns = hal_now_ns();
			dev->stats.reports++;
			return 1;
		}
		if (!p->have_next) {
			rc = load_next(dev, p);
			if (rc < 0)
				return rc;
		}
		now = hal_now_ns();
		due = due_ns(p, now);
		if (now < due) {
			if (deadline && now >= deadline)
				return 0;
			sleep_until(deadline && deadline < due ? deadline : due);
			continue;
		}
		p->have_next = false;
		p->prev_ts_us = p->next_ts_us;
		p->prev_due_ns = due;
		dev->stats.events++;
		rc = hci_parse_event(p->next_evt, p->next_len, p->queue, HCI_ADV_REPORTS_MAX);
		if (rc < 0)
			dev->stats.malformed++;
		p->nqueue = rc > 0 ? rc : 0;
		p->qnext = 0;
		if (rc <= 0 && deadline && hal_now_ns() >= deadline)
			return 0;
	}
}

const struct ble_ops ble_btsnoop_ops = {
    .name = "btsnoop",
    .open = replay_open,
    .read = replay_read,
    .close = replay_close,
};
