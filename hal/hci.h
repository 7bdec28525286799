/*
 * hci — the HCI bytes a BLE scanner needs, over any fd.
 *
 * Two layers:
 *  - hci_parse_event() turns one HCI event packet into advertising reports.
 *    It takes the event as the HCI spec defines it: event code, parameter
 *    length, parameters — WITHOUT the H4 packet-type indicator 0x04 (btmon
 *    captures and the Command Complete parser see it that way; the fd reader
 *    strips the indicator).
 *  - struct hci_io reads event packets from an fd and sends commands on it.
 *    A raw HCI socket (or any SOCK_SEQPACKET/SOCK_DGRAM fd) gives one packet
 *    per read; a stream (pipe, tty, SOCK_STREAM) may split or join packets,
 *    so the reader keeps a bounded buffer of at most two packets.
 *
 * Nothing here allocates per packet and nothing trusts a length field: every
 * one is checked against the bytes present. See docs/ble.md.
 */
#ifndef HAL_HCI_H
#define HAL_HCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hal/ble.h"

/* H4 packet-type indicators (first byte on a raw HCI socket or a UART). */
#define HCI_PKT_COMMAND 0x01
#define HCI_PKT_EVENT 0x04

#define HCI_EVT_CMD_COMPLETE 0x0E
#define HCI_EVT_CMD_STATUS 0x0F
#define HCI_EVT_LE_META 0x3E
#define HCI_LE_SUB_ADV_REPORT 0x02
#define HCI_LE_SUB_EXT_ADV_REPORT 0x0D

#define HCI_OP_LE_SET_SCAN_PARAMS 0x200B
#define HCI_OP_LE_SET_SCAN_ENABLE 0x200C

/* Event code + parameter length + at most 255 parameter bytes. */
#define HCI_EVENT_LEN_MAX (2 + 255)
/* Reports one event may carry (Num_Reports range, Core spec Vol 4 Part E 7.7.65). */
#define HCI_ADV_REPORTS_MAX 25
#define HCI_EXT_ADV_REPORTS_MAX 10
/* Legacy advertising PDUs carry at most 31 bytes of data. */
#define HCI_LEGACY_DATA_MAX 31
#define HCI_ERROR_MAX 256

/*
 * Parses one event (no 0x04 indicator; see above) of len bytes into up to
 * max reports at ret (pass HCI_ADV_REPORTS_MAX to never see -ENOSPC).
 * Reports get ts_ns = 0; the caller stamps them when it hands them up.
 * Returns the number of reports (>= 1) for an LE Advertising Report or LE
 * Extended Advertising Report, 0 for any other well-formed event (ignored),
 * -EBADMSG when any length disagrees with the bytes present (the header's
 * parameter length must equal len - 2 exactly, the reports must use up the
 * parameters exactly, Num_Reports must be 1..25 (legacy) or 1..10
 * (extended), legacy data at most 31 bytes, legacy event type 0..4), and
 * -ENOSPC when max is smaller than Num_Reports. Nothing is written past
 * ret[max - 1] and nothing is read past evt[len - 1].
 */
int hci_parse_event(const uint8_t *evt, size_t len, struct ble_adv_report *ret, size_t max);

/* "Command Disallowed" for 0x0C; "unknown status" for codes not in the table. */
const char *hci_status_str(uint8_t status);

struct hci_io;

/*
 * Wraps fd (which stays the caller's: hci_io_free does not close it). The
 * fd may be blocking; every read is preceded by poll(). -ENOMEM.
 * On success *ret is owned by the caller (free with hci_io_free).
 */
int hci_io_new(int fd, struct hci_io **ret);
void hci_io_free(struct hci_io *io);

/* The last error's message, "" if none. Owned by io, valid until the next call. */
const char *hci_io_error(const struct hci_io *io);

/* Events read, reports handed up, events/packets rejected as malformed. */
void hci_io_stats(const struct hci_io *io, struct ble_stats *ret);

/*
 * Reads the next HCI event packet into buf (without the 0x04 indicator).
 * Returns its length (2..HCI_EVENT_LEN_MAX), 0 on timeout (timeout_ms -1:
 * forever), -ENOSPC if len < HCI_EVENT_LEN_MAX, -EPIPE when the fd reached
 * end of file, -errno from poll/read. Command, ACL, SCO and ISO packets
 * are skipped; unknown packet types and datagrams whose size disagrees with
 * their header are counted malformed and skipped; in a stream an unknown
 * type byte means the framing is lost, so the buffered bytes are dropped.
 */
int hci_io_read_event(struct hci_io *io, uint8_t *buf, size_t len, int timeout_ms);

/*
 * Hands up the next advertising report: 1 with *ret filled (ts_ns =
 * CLOCK_MONOTONIC now), 0 on timeout, -errno as hci_io_read_event. Reports
 * of one event are queued and handed up one per call; other events are
 * skipped; malformed ones are counted and skipped.
 */
int hci_io_read_report(struct hci_io *io, struct ble_adv_report *ret, int timeout_ms);

/*
 * Sends one HCI command (indicator 0x01, opcode little-endian, plen, params)
 * with a single write() and waits up to timeout_ms for the Command Complete
 * or Command Status that carries its opcode. Events that arrive meanwhile,
 * advertising reports included, are dropped (counted in stats.events): a
 * scanner loses at most the few reports between two commands. Reports
 * hci_io_read_report had already queued stay queued.
 * Returns 0 on status 0x00, -EIO on any other status (the message names the
 * command, the code and its meaning; *ret_status holds it if ret_status is
 * not NULL), -ETIMEDOUT when no answer came, -EPIPE on end of file, -errno
 * from write/poll/read.
 */
int hci_io_command(struct hci_io *io, uint16_t opcode, const void *params, uint8_t plen,
		   int timeout_ms, uint8_t *ret_status);

struct hci_scan_params {
	bool active;		/* send SCAN_REQ to get scan responses */
	uint16_t interval;	/* 0.625 ms units, 0x0004..0x4000 */
	uint16_t window;	/* 0.625 ms units, 0x0004..interval */
	bool filter_duplicates; /* controller drops repeats: no RSSI track, so usually false */
	uint8_t own_addr_type;	/* 0 public, 1 random */
};

/*
 * LE Set Scan Parameters then LE Set Scan Enable (enable = 1), each waited
 * for as hci_io_command (*ret_status, if not NULL, gets the failing one's
 * status). -EINVAL (with a message) for an interval, window or address type
 * out of range, else as hci_io_command.
 */
int hci_io_scan_start(struct hci_io *io, const struct hci_scan_params *p, int timeout_ms,
		      uint8_t *ret_status);

/* LE Set Scan Enable (enable = 0, filter_duplicates = 0). As hci_io_command. */
int hci_io_scan_stop(struct hci_io *io, int timeout_ms);

#endif
