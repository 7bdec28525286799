/*
 * btsnoop — reading and writing btsnoop capture files.
 *
 * File: a 16-byte header ("btsnoop\0", version 1, datalink type; all
 * integers big-endian), then records of a 24-byte header (original length,
 * included length, flags, cumulative drops, timestamp in microseconds since
 * midnight 1 Jan 0 AD) and the included bytes. Datalinks:
 *   1001 HCI unencapsulated: flags bit 0 = received, bit 1 = command/event.
 *   1002 HCI UART (H4): the first byte is the H4 packet type; flags as 1001.
 *   2001 Linux monitor (`btmon -w`): flags = controller index << 16 |
 *        opcode (2 command, 3 event, 4/5 ACL tx/rx, 6/7 SCO, 18/19 ISO, ...).
 * Records hand up the HCI packet without an H4 type byte, whatever the
 * datalink. See docs/ble.md.
 */
#ifndef HAL_BTSNOOP_H
#define HAL_BTSNOOP_H

#include <stddef.h>
#include <stdint.h>

#define BTSNOOP_FORMAT_HCI 1001
#define BTSNOOP_FORMAT_UART 1002
#define BTSNOOP_FORMAT_MONITOR 2001

#define BTSNOOP_HEADER_LEN 16
#define BTSNOOP_RECORD_HEADER_LEN 24
/* Largest included length accepted: an H4 type byte, an ACL header and a
 * full 65535-byte ACL payload. Anything larger is corruption. */
#define BTSNOOP_RECORD_MAX (1 + 4 + 65535)
/* Microseconds from 1 Jan 0 AD to 1 Jan 1970, as the format counts them. */
#define BTSNOOP_EPOCH_DELTA_US 0x00dcddb30f2f8000ull
#define BTSNOOP_ERROR_MAX 256

/* Monitor (2001) opcodes, as BlueZ src/shared/btsnoop.h. */
#define BTSNOOP_OPCODE_NEW_INDEX 0
#define BTSNOOP_OPCODE_COMMAND_PKT 2
#define BTSNOOP_OPCODE_EVENT_PKT 3
#define BTSNOOP_OPCODE_ACL_TX_PKT 4
#define BTSNOOP_OPCODE_ACL_RX_PKT 5
#define BTSNOOP_OPCODE_SCO_TX_PKT 6
#define BTSNOOP_OPCODE_SCO_RX_PKT 7
#define BTSNOOP_OPCODE_ISO_TX_PKT 18
#define BTSNOOP_OPCODE_ISO_RX_PKT 19

struct btsnoop_error {
	char msg[BTSNOOP_ERROR_MAX];
};

enum btsnoop_packet {
	BTSNOOP_PACKET_COMMAND,
	BTSNOOP_PACKET_EVENT,
	BTSNOOP_PACKET_ACL_TX,
	BTSNOOP_PACKET_ACL_RX,
	BTSNOOP_PACKET_SCO_TX,
	BTSNOOP_PACKET_SCO_RX,
	BTSNOOP_PACKET_ISO_TX,
	BTSNOOP_PACKET_ISO_RX,
	BTSNOOP_PACKET_OTHER, /* monitor notes, index changes, vendor ... */
};

struct btsnoop_record {
	uint64_t offset;   /* of the record header in the file, for messages */
	int64_t ts_us;	   /* microseconds since 1970-01-01 UTC (may be < 0) */
	uint32_t orig_len; /* as captured; >= len */
	uint32_t flags;	   /* raw */
	uint32_t drops;
	enum btsnoop_packet type;
	uint16_t index;	     /* monitor: controller index; 0 otherwise */
	uint16_t opcode;     /* monitor: raw opcode; 0 otherwise */
	const uint8_t *data; /* the packet without H4 type byte; owned by the reader,
				valid until its next read */
	uint32_t len;
};

struct btsnoop_reader;

/*
 * Opens path and checks the header. On success *ret is owned by the caller
 * (btsnoop_reader_free). Errors, each with err->msg naming the file and what
 * was wrong: -errno (cannot open), -EBADMSG (short header, bad magic,
 * version not 1), -EPROTONOSUPPORT (datalink not 1001/1002/2001), -ENOMEM.
 */
int btsnoop_reader_open(const char *path, struct btsnoop_reader **ret, struct btsnoop_error *err);
void btsnoop_reader_free(struct btsnoop_reader *r);

/* The datalink type from the header (BTSNOOP_FORMAT_*). */
uint32_t btsnoop_reader_format(const struct btsnoop_reader *r);

/*
 * Reads the next record into *ret. 1 on success, 0 at a clean end of file,
 * -EBADMSG for a corrupt record (err->msg names the file and the byte offset:
 * truncated header, included length beyond the end of the file or above
 * BTSNOOP_RECORD_MAX or above the original length, an H4 record without
 * its type byte), -EIO on a read error. Unknown H4 types and monitor
 * opcodes are not errors: they come back as BTSNOOP_PACKET_OTHER. After an error, reads keep
 * failing until btsnoop_reader_rewind.
 */
int btsnoop_reader_next(struct btsnoop_reader *r, struct btsnoop_record *ret,
			struct btsnoop_error *err);

/* Back to the first record. 0 or -errno. */
int btsnoop_reader_rewind(struct btsnoop_reader *r, struct btsnoop_error *err);

struct btsnoop_writer;

/*
 * Creates (truncates) path and writes the header for format (0 means
 * BTSNOOP_FORMAT_MONITOR, what btmon writes). On success *ret is owned by
 * the caller and must be finished with btsnoop_writer_close. Errors:
 * -EPROTONOSUPPORT (format), -errno (cannot create), -ENOMEM.
 */
int btsnoop_writer_create(const char *path, uint32_t format, struct btsnoop_writer **ret,
			  struct btsnoop_error *err);

/*
 * Appends one packet (data without H4 type byte, len bytes) of the given
 * type on controller index (monitor only; others need 0) at ts_us
 * (microseconds since 1970). 0, -EINVAL (type OTHER, len over
 * BTSNOOP_RECORD_MAX - 1, a timestamp before 0 AD, index != 0 on a non-monitor
 * file), -errno on a write error.
 */
int btsnoop_writer_packet(struct btsnoop_writer *w, int64_t ts_us, enum btsnoop_packet type,
			  uint16_t index, const void *data, size_t len, struct btsnoop_error *err);

/* btsnoop_writer_packet for an HCI event (the bytes after the 0x04) on index 0. */
int btsnoop_writer_event(struct btsnoop_writer *w, int64_t ts_us, const void *evt, size_t len,
			 struct btsnoop_error *err);

/*
 * Monitor only: a New Index record (opcode 0) announcing controller index
 * as a primary controller on bus 'bus' with bdaddr (wire order) and name
 * (up to 8 bytes), as btmon writes first. -EINVAL on a non-monitor file.
 */
int btsnoop_writer_new_index(struct btsnoop_writer *w, int64_t ts_us, uint16_t index, uint8_t bus,
			     const uint8_t bdaddr[6], const char *name, struct btsnoop_error *err);

/*
 * Flushes and closes; frees w in every case (NULL is fine). 0, or -errno if
 * any earlier write or the final flush failed (the file is then incomplete).
 */
int btsnoop_writer_close(struct btsnoop_writer *w, struct btsnoop_error *err);

#endif
