#include "hal/hci.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hal/time.h"

/* H4 indicators of packets the reader skips (only events are wanted). */
#define HCI_PKT_ACL 0x02
#define HCI_PKT_SCO 0x03
#define HCI_PKT_ISO 0x05

/* Indicator + the largest event; the stream buffer holds two of them so a
 * partial packet always leaves room for a full read behind it. */
#define HCI_IO_PKT_MAX (1 + HCI_EVENT_LEN_MAX)
#define HCI_IO_BUF (2 * HCI_IO_PKT_MAX)

/* Fixed part of one report before its data. */
#define HCI_LEGACY_FIXED 9 /* event_type, addr_type, addr[6], data_len */
#define HCI_EXT_FIXED 24   /* see parse_ext() */

struct hci_io {
	int fd;
	bool packet_mode; /* one packet per read (raw HCI, seqpacket, dgram) */
	uint8_t buf[HCI_IO_BUF];
	size_t used; /* stream mode: bytes buffered at buf */
	size_t skip; /* stream mode: bytes of a non-event packet still to drop */
	struct ble_adv_report queue[HCI_ADV_REPORTS_MAX];
	int nqueue;
	int next;
	struct ble_stats stats;
	char error[HCI_ERROR_MAX];
};

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int set_error(struct hci_io *io, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(struct hci_io *io, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(io->error, sizeof(io->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- parsing ---------------------------------------------------------- */

static int parse_legacy(const uint8_t *p, size_t n, struct ble_adv_report *ret, size_t max)
{
	size_t off = 1, i, num;

	if (n < 1)
		return -EBADMSG;
	num = p[0];
	if (num < 1 || num > HCI_ADV_REPORTS_MAX)
		return -EBADMSG;
	for (i = 0; i < num; i++) {
		uint8_t event_type, data_len;

		if (n - off < HCI_LEGACY_FIXED)
			return -EBADMSG;
		event_type = p[off];
		data_len = p[off + 8];
		/* data_len bytes of data, then the RSSI byte. */
		if (event_type > 4 || data_len > HCI_LEGACY_DATA_MAX ||
		    n - off - HCI_LEGACY_FIXED < (size_t)data_len + 1)
			return -EBADMSG;
		if (i < max) {
			struct ble_adv_report *r = &ret[i];

			memset(r, 0, sizeof(*r));
			r->kind = BLE_REPORT_LEGACY;
			r->event_type = event_type;
			r->addr_type = p[off + 1];
			memcpy(r->addr, &p[off + 2], 6);
			r->data_len = data_len;
			memcpy(r->data, &p[off + HCI_LEGACY_FIXED], data_len);
			r->rssi = (int8_t)p[off + HCI_LEGACY_FIXED + data_len];
			r->tx_power = BLE_TX_POWER_NONE;
		}
		off += HCI_LEGACY_FIXED + data_len + 1;
	}
	if (off != n)
		return -EBADMSG;
	return num > max ? -ENOSPC : (int)num;
}

/*
 * Per report: event_type u16, addr_type, addr[6], primary_phy,
 * secondary_phy, sid, tx_power, rssi, periodic_interval u16,
 * direct_addr_type, direct_addr[6], data_len, data[data_len].
 */
static int parse_ext(const uint8_t *p, size_t n, struct ble_adv_report *ret, size_t max)
{
	size_t off = 1, i, num;

	if (n < 1)
		return -EBADMSG;
	num = p[0];
	if (num < 1 || num > HCI_EXT_ADV_REPORTS_MAX)
		return -EBADMSG;
	for (i = 0; i < num; i++) {
		uint8_t data_len;

		if (n - off < HCI_EXT_FIXED)
			return -EBADMSG;
		data_len = p[off + 23];
		if (data_len > BLE_ADV_DATA_MAX || n - off - HCI_EXT_FIXED < data_len)
			return -EBADMSG;
		if (i < max) {
			struct ble_adv_report *r = &ret[i];

			memset(r, 0, sizeof(*r));
			r->kind = BLE_REPORT_EXTENDED;
			r->event_type = get_le16(&p[off]);
			r->addr_type = p[off + 2];
			memcpy(r->addr, &p[off + 3], 6);
			r->primary_phy = p[off + 9];
			r->secondary_phy = p[off + 10];
			r->sid = p[off + 11];
			r->tx_power = (int8_t)p[off + 12];
			r->rssi = (int8_t)p[off + 13];
			r->data_len = data_len;
			memcpy(r->data, &p[off + HCI_EXT_FIXED], data_len);
		}
		off += HCI_EXT_FIXED + data_len;
	}
	if (off != n)
		return -EBADMSG;
	return num > max ? -ENOSPC : (int)num;
}

int hci_parse_event(const uint8_t *evt, size_t len, struct ble_adv_report *ret, size_t max)
{
	if (len < 2 || (size_t)evt[1] + 2 != len)
		return -EBADMSG;
	if (evt[0] != HCI_EVT_LE_META)
		return 0;
	if (len < 3)
		return -EBADMSG;
	switch (evt[2]) {
	case HCI_LE_SUB_ADV_REPORT:
		return parse_legacy(evt + 3, len - 3, ret, max);
	case HCI_LE_SUB_EXT_ADV_REPORT:
		return parse_ext(evt + 3, len - 3, ret, max);
	default:
		return 0;
	}
}

const char *hci_status_str(uint8_t status)
{
	/* Core spec Vol 1 Part F; the codes a scan set-up can plausibly see. */
	switch (status) {
	case 0x00:
		return "Success";
	case 0x01:
		return "Unknown HCI Command";
	case 0x02:
		return "Unknown Connection Identifier";
	case 0x03:
		return "Hardware Failure";
	case 0x07:
		return "Memory Capacity Exceeded";
	case 0x0C:
		return "Command Disallowed";
	case 0x0D:
		return "Connection Rejected due to Limited Resources";
	case 0x11:
		return "Unsupported Feature or Parameter Value";
	case 0x12:
		return "Invalid HCI Command Parameters";
	case 0x1F:
		return "Unspecified Error";
	case 0x20:
		return "Unsupported LMP/LL Parameter Value";
	case 0x3A:
		return "Controller Busy";
	default:
		return "unknown status";
	}
}

static const char *opcode_name(uint16_t opcode)
{
	switch (opcode) {
	case HCI_OP_LE_SET_SCAN_PARAMS:
		return "LE Set Scan Parameters";
	case HCI_OP_LE_SET_SCAN_ENABLE:
		return "LE Set Scan Enable";
	default:
		return "HCI command";
	}
}

/* ---- the fd reader ---------------------------------------------------- */

int hci_io_new(int fd, struct hci_io **ret)
{
	struct hci_io *io;
	int type = 0;
	socklen_t tlen = sizeof(type);

	*ret = NULL;
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;
	io->fd = fd;
	/* Not a socket (pipe, tty, file) or SOCK_STREAM: bytes, not packets. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0)
		io->packet_mode = type == SOCK_RAW || type == SOCK_SEQPACKET || type == SOCK_DGRAM;
	*ret = io;
	return 0;
}

void hci_io_free(struct hci_io *io)
{
	free(io);
}

const char *hci_io_error(const struct hci_io *io)
{
	return io->error;
}

void hci_io_stats(const struct hci_io *io, struct ble_stats *ret)
{
	*ret = io->stats;
}

static void consume(struct hci_io *io, size_t n)
{
	memmove(io->buf, io->buf + n, io->used - n);
	io->used -= n;
}

/*
 * Takes the next event out of the stream buffer: its length, or 0 when the
 * buffer holds no complete event yet. Non-event packets are skipped by their
 * own length fields, which may exceed the buffer (ACL), hence io->skip.
 */
static int stream_take(struct hci_io *io, uint8_t *out)
{
	while (io->used > 0) {
		size_t need = 0;

		if (io->skip) {
			size_t n = io->skip < io->used ? io->skip : io->used;

			consume(io, n);
			io->skip -= n;
			continue;
		}
		switch (io->buf[0]) {
		case HCI_PKT_EVENT:
			if (io->used < 3 || io->used < 3 + (size_t)io->buf[2])
				return 0;
			need = 3 + (size_t)io->buf[2];
			memcpy(out, io->buf + 1, need - 1);
			consume(io, need);
			io->stats.events++;
			return (int)need - 1;
		case HCI_PKT_COMMAND:
		case HCI_PKT_SCO:
			if (io->used < 4)
				return 0;
			io->skip = 4 + (size_t)io->buf[3];
			break;
		case HCI_PKT_ACL:
			if (io->used < 5)
				return 0;
			io->skip = 5 + (size_t)get_le16(&io->buf[3]);
			break;
		case HCI_PKT_ISO:
			if (io->used < 5)
				return 0;
			io->skip = 5 + (size_t)(get_le16(&io->buf[3]) & 0x3fff);
			break;
		default:
			io->stats.malformed++;
			set_error(io, -EBADMSG,
				  "HCI stream out of step: byte 0x%02x is no packet type; "
				  "dropped %zu buffered bytes",
				  io->buf[0], io->used);
			io->used = 0;
			return 0;
		}
	}
	return 0;
}

/* A datagram: the event's length, or 0 if it was skipped. */
static int packet_take(struct hci_io *io, size_t n, uint8_t *out)
{
	if (io->buf[0] != HCI_PKT_EVENT) {
		switch (io->buf[0]) {
		case HCI_PKT_COMMAND:
		case HCI_PKT_ACL:
		case HCI_PKT_SCO:
		case HCI_PKT_ISO:
			return 0;
		default:
			io->stats.malformed++;
			set_error(io, -EBADMSG, "HCI packet with unknown type 0x%02x skipped",
				  io->buf[0]);
			return 0;
		}
	}
	if (n < 3 || n != 3 + (size_t)io->buf[2]) {
		io->stats.malformed++;
		set_error(
		    io, -EBADMSG,
		    "HCI event packet of %zu bytes skipped: its header says %d parameter bytes", n,
		    n < 3 ? -1 : io->buf[2]);
		return 0;
	}
	io->stats.events++;
	memcpy(out, io->buf + 1, n - 1);
	return (int)n - 1;
}

/* Milliseconds left until deadline (0: none, i.e. forever → -1), rounded up. */
static int remaining_ms(uint64_t deadline)
{
	uint64_t now;

	if (!deadline)
		return -1;
	now = hal_now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

static uint64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : hal_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* Reads until an event is complete or the deadline passes (0 then). */
static int read_event_until(struct hci_io *io, uint8_t *out, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = io->fd, .events = POLLIN};
		ssize_t n;
		int rc, wait;

		if (!io->packet_mode) {
			rc = stream_take(io, out);
			if (rc > 0)
				return rc;
		}
		wait = remaining_ms(deadline);
		rc = poll(&pfd, 1, wait);
		if (rc < 0) {
			rc = -errno;
			if (rc == -EINTR)
				continue;
			return set_error(io, rc, "poll on the HCI fd: %s", strerror(-rc));
		}
		if (rc == 0)
			return 0;
		if (pfd.revents & POLLNVAL)
			return set_error(io, -EBADF, "the HCI fd is not open");
		if (io->packet_mode)
			n = read(io->fd, io->buf, sizeof(io->buf));
		else
			n = read(io->fd, io->buf + io->used, sizeof(io->buf) - io->used);
		if (n < 0) {
			rc = -errno;
			if (rc == -EINTR || rc == -EAGAIN)
				continue;
			return set_error(io, rc, "read from the HCI fd: %s", strerror(-rc));
		}
		if (n == 0)
			return set_error(io, -EPIPE, "the HCI fd reached end of file");
		if (io->packet_mode) {
			rc = packet_take(io, (size_t)n, out);
			if (rc > 0)
				return rc;
		} else {
			io->used += (size_t)n;
		}
	}
}

int hci_io_read_event(struct hci_io *io, uint8_t *buf, size_t len, int timeout_ms)
{
	if (len < HCI_EVENT_LEN_MAX)
		return set_error(io, -ENOSPC, "event buffer of %zu bytes; need %d", len,
				 HCI_EVENT_LEN_MAX);
	return read_event_until(io, buf, deadline_after(timeout_ms));
}

int hci_io_read_report(struct hci_io *io, struct ble_adv_report *ret, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	uint8_t evt[HCI_EVENT_LEN_MAX];
	size_t len;

	while (io->next >= io->nqueue) {
		int rc = read_event_until(io, evt, deadline);

		if (rc <= 0)
			return rc;
		len = (size_t)rc;
		rc = hci_parse_event(evt, len, io->queue, HCI_ADV_REPORTS_MAX);
		if (rc < 0) {
			io->stats.malformed++;
			set_error(io, rc, "malformed HCI event 0x%02x/0x%02x (%zu bytes) skipped",
				  evt[0], len > 2 ? evt[2] : 0, len);
		}
		if (rc > 0) {
			io->nqueue = rc;
			io->next = 0;
		} else if (deadline && hal_now_ns() >= deadline) {
			/* A flood of other events must not starve the timeout. */
			return 0;
		}
	}
	*ret = io->queue[io->next++];
	ret->ts_ns = hal_now_ns();
	io->stats.reports++;
	return 1;
}

/* ---- commands --------------------------------------------------------- */

/* 1 when evt answers opcode (status in *status), 0 if it is another event. */
static int match_answer(const uint8_t *evt, size_t len, uint16_t opcode, uint8_t *status)
{
	/* Command Complete: ncmd, opcode, return parameters (status first). */
	if (evt[0] == HCI_EVT_CMD_COMPLETE && len >= 5 && get_le16(&evt[3]) == opcode) {
		if (len < 6)
			return -EBADMSG;
		*status = evt[5];
		return 1;
	}
	/* Command Status: status, ncmd, opcode. */
	if (evt[0] == HCI_EVT_CMD_STATUS && len == 6 && get_le16(&evt[4]) == opcode) {
		*status = evt[2];
		return 1;
	}
	return 0;
}

int hci_io_command(struct hci_io *io, uint16_t opcode, const void *params, uint8_t plen,
		   int timeout_ms, uint8_t *ret_status)
{
	uint8_t pkt[4 + 255], evt[HCI_EVENT_LEN_MAX], status = 0;
	uint64_t deadline;
	ssize_t n;

	pkt[0] = HCI_PKT_COMMAND;
	pkt[1] = opcode & 0xff;
	pkt[2] = opcode >> 8;
	pkt[3] = plen;
	if (plen)
		memcpy(pkt + 4, params, plen);
	/* A raw HCI socket takes a command only as one write. MSG_NOSIGNAL: a
	 * vanished peer is -EPIPE, not a SIGPIPE that kills the daemon. */
	do {
		n = send(io->fd, pkt, 4 + (size_t)plen, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(io->fd, pkt, 4 + (size_t)plen);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		int rc = -errno;

		return set_error(io, rc, "cannot send %s (0x%04x): %s", opcode_name(opcode), opcode,
				 strerror(-rc));
	}
	if ((size_t)n != 4 + (size_t)plen)
		return set_error(io, -EIO, "short write of %s (0x%04x): %zd of %d bytes",
				 opcode_name(opcode), opcode, n, 4 + plen);

	deadline = deadline_after(timeout_ms);
	for (;;) {
		int rc = read_event_until(io, evt, deadline);

		if (rc < 0)
			return rc;
		if (rc > 0) {
			rc = match_answer(evt, (size_t)rc, opcode, &status);
			if (rc < 0) {
				io->stats.malformed++;
				return set_error(
				    io, -EBADMSG,
				    "Command Complete for %s (0x%04x) has no status byte",
				    opcode_name(opcode), opcode);
			}
			if (rc == 1)
				break;
			/* Another event: go on unless a flood of them ate the time. */
			if (!deadline || hal_now_ns() < deadline)
				continue;
		}
		return set_error(
		    io, -ETIMEDOUT,
		    "no Command Complete or Command Status for %s (0x%04x) within %d ms",
		    opcode_name(opcode), opcode, timeout_ms);
	}
	if (ret_status)
		*ret_status = status;
	if (status)
		return set_error(io, -EIO, "%s (0x%04x) failed with HCI status 0x%02x (%s)",
				 opcode_name(opcode), opcode, status, hci_status_str(status));
	return 0;
}

int hci_io_scan_start(struct hci_io *io, const struct hci_scan_params *p, int timeout_ms,
		      uint8_t *ret_status)
{
	uint8_t params[7], enable[2];
	int rc;

	if (p->interval < 0x0004 || p->interval > 0x4000)
		return set_error(
		    io, -EINVAL,
		    "scan interval %u (x 0.625 ms) out of range 4..16384 (2.5 ms..10.24 s)",
		    p->interval);
	if (p->window < 0x0004 || p->window > p->interval)
		return set_error(
		    io, -EINVAL,
		    "scan window %u (x 0.625 ms) out of range 4..%u (at most the interval)",
		    p->window, p->interval);
	if (p->own_addr_type > 3)
		return set_error(io, -EINVAL, "own address type %u out of range 0..3",
				 p->own_addr_type);
	params[0] = p->active ? 0x01 : 0x00;
	params[1] = p->interval & 0xff;
	params[2] = p->interval >> 8;
	params[3] = p->window & 0xff;
	params[4] = p->window >> 8;
	params[5] = p->own_addr_type;
	params[6] = 0x00; /* accept all advertisers, no filter accept list */
	rc = hci_io_command(io, HCI_OP_LE_SET_SCAN_PARAMS, params, sizeof(params), timeout_ms,
			    ret_status);
	if (rc < 0)
		return rc;
	enable[0] = 0x01;
	enable[1] = p->filter_duplicates ? 0x01 : 0x00;
	return hci_io_command(io, HCI_OP_LE_SET_SCAN_ENABLE, enable, sizeof(enable), timeout_ms,
			      ret_status);
}

int hci_io_scan_stop(struct hci_io *io, int timeout_ms)
{
	static const uint8_t disable[2] = {0x00, 0x00};

	return hci_io_command(io, HCI_OP_LE_SET_SCAN_ENABLE, disable, sizeof(disable), timeout_ms,
			      NULL);
}
