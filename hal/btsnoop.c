#include "hal/btsnoop.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t btsnoop_magic[8] = {'b', 't', 's', 'n', 'o', 'o', 'p', '\0'};

/* H4 packet types (1002 records begin with one). */
#define H4_COMMAND 0x01
#define H4_ACL 0x02
#define H4_SCO 0x03
#define H4_EVENT 0x04
#define H4_ISO 0x05

/* 1001/1002 flags. */
#define FLAG_RECEIVED 0x01
#define FLAG_COMMAND_EVENT 0x02

struct btsnoop_reader {
	FILE *f;
	char *path;
	uint32_t format;
	int64_t size;	 /* of the file, -1 when not a regular file */
	uint64_t offset; /* of the next record */
	bool failed;	 /* a corrupt record was seen; only rewind clears it */
	uint8_t *buf;	 /* BTSNOOP_RECORD_MAX bytes */
};

struct btsnoop_writer {
	FILE *f;
	char *path;
	uint32_t format;
	int error; /* first write error, -errno */
};

static int fail(struct btsnoop_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct btsnoop_error *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, v >> 32);
	put_be32(p + 4, (uint32_t)v);
}

static bool format_known(uint32_t format)
{
	return format == BTSNOOP_FORMAT_HCI || format == BTSNOOP_FORMAT_UART ||
	       format == BTSNOOP_FORMAT_MONITOR;
}

/* ---- reader ----------------------------------------------------------- */

void btsnoop_reader_free(struct btsnoop_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->buf);
	free(r->path);
	free(r);
}

int btsnoop_reader_open(const char *path, struct btsnoop_reader **ret, struct btsnoop_error *err)
{
	struct btsnoop_reader *r;
	uint8_t hdr[BTSNOOP_HEADER_LEN];
	struct stat st;
	uint32_t version;
	size_t n;
	int rc;

	*ret = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return fail(err, -ENOMEM, "%s: out of memory", path);
	r->path = strdup(path);
	r->buf = malloc(BTSNOOP_RECORD_MAX);
	if (!r->path || !r->buf) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto free_reader;
	}
	r->f = fopen(path, "rb");
	if (!r->f) {
		rc = -errno;
		fail(err, rc, "%s: cannot open: %s", path, strerror(-rc));
		goto free_reader;
	}
	r->size = fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;

	n = fread(hdr, 1, sizeof(hdr), r->f);
	if (n != sizeof(hdr)) {
		rc = fail(err, -EBADMSG,
			  "%s: %zu bytes, too short for the 16-byte btsnoop header; "
			  "not a btsnoop capture (write one with `btmon -w FILE`)",
			  path, n);
		goto free_reader;
	}
	if (memcmp(hdr, btsnoop_magic, sizeof(btsnoop_magic)) != 0) {
		rc = fail(err, -EBADMSG,
			  "%s: byte 0: no \"btsnoop\" magic; not a btsnoop capture "
			  "(write one with `btmon -w FILE`)",
			  path);
		goto free_reader;
	}
	version = get_be32(hdr + 8);
	if (version != 1) {
		rc = fail(err, -EBADMSG, "%s: byte 8: btsnoop version %u, only version 1 exists",
			  path, version);
		goto free_reader;
	}
	r->format = get_be32(hdr + 12);
	if (!format_known(r->format)) {
		rc = fail(err, -EPROTONOSUPPORT,
			  "%s: byte 12: datalink type %u not supported; use 1001 (HCI), "
			  "1002 (H4 UART) or 2001 (btmon monitor)",
			  path, r->format);
		goto free_reader;
	}
	r->offset = BTSNOOP_HEADER_LEN;
	*ret = r;
	return 0;

free_reader:
	btsnoop_reader_free(r);
	return rc;
}

uint32_t btsnoop_reader_format(const struct btsnoop_reader *r)
{
	return r->format;
}

static enum btsnoop_packet monitor_type(uint16_t opcode)
{
	switch (opcode) {
	case BTSNOOP_OPCODE_COMMAND_PKT:
		return BTSNOOP_PACKET_COMMAND;
	case BTSNOOP_OPCODE_EVENT_PKT:
		return BTSNOOP_PACKET_EVENT;
	case BTSNOOP_OPCODE_ACL_TX_PKT:
		return BTSNOOP_PACKET_ACL_TX;
	case BTSNOOP_OPCODE_ACL_RX_PKT:
		return BTSNOOP_PACKET_ACL_RX;
	case BTSNOOP_OPCODE_SCO_TX_PKT:
		return BTSNOOP_PACKET_SCO_TX;
	case BTSNOOP_OPCODE_SCO_RX_PKT:
		return BTSNOOP_PACKET_SCO_RX;
	case BTSNOOP_OPCODE_ISO_TX_PKT:
		return BTSNOOP_PACKET_ISO_TX;
	case BTSNOOP_OPCODE_ISO_RX_PKT:
		return BTSNOOP_PACKET_ISO_RX;
	default:
		return BTSNOOP_PACKET_OTHER;
	}
}

static enum btsnoop_packet h4_type(uint8_t h4, uint32_t flags)
{
	bool rx = flags & FLAG_RECEIVED;

	switch (h4) {
	case H4_COMMAND:
		return BTSNOOP_PACKET_COMMAND;
	case H4_EVENT:
		return BTSNOOP_PACKET_EVENT;
	case H4_ACL:
		return rx ? BTSNOOP_PACKET_ACL_RX : BTSNOOP_PACKET_ACL_TX;
	case H4_SCO:
		return rx ? BTSNOOP_PACKET_SCO_RX : BTSNOOP_PACKET_SCO_TX;
	case H4_ISO:
		return rx ? BTSNOOP_PACKET_ISO_RX : BTSNOOP_PACKET_ISO_TX;
	default:
		return BTSNOOP_PACKET_OTHER;
	}
}

static enum btsnoop_packet hci_type(uint32_t flags)
{
	bool rx = flags & FLAG_RECEIVED;

	if (flags & FLAG_COMMAND_EVENT)
		return rx ? BTSNOOP_PACKET_EVENT : BTSNOOP_PACKET_COMMAND;
	return rx ? BTSNOOP_PACKET_ACL_RX : BTSNOOP_PACKET_ACL_TX;
}

static int corrupt(struct btsnoop_reader *r, struct btsnoop_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int corrupt(struct btsnoop_reader *r, struct btsnoop_error *err, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	r->failed = true;
	return fail(err, -EBADMSG, "%s: byte %llu: %s; the capture is corrupt or cut short",
		    r->path, (unsigned long long)r->offset, what);
}

int btsnoop_reader_next(struct btsnoop_reader *r, struct btsnoop_record *ret,
			struct btsnoop_error *err)
{
	uint8_t hdr[BTSNOOP_RECORD_HEADER_LEN];
	uint32_t orig_len, len;
	uint64_t ts;
	size_t n;

	if (r->failed)
		return fail(err, -EBADMSG, "%s: an earlier record was corrupt", r->path);
	n = fread(hdr, 1, sizeof(hdr), r->f);
	if (n == 0 && !ferror(r->f))
		return 0;
	if (ferror(r->f))
		goto read_error;
	if (n != sizeof(hdr))
		return corrupt(r, err, "record header cut short (%zu of %d bytes)", n,
			       BTSNOOP_RECORD_HEADER_LEN);

	orig_len = get_be32(hdr);
	len = get_be32(hdr + 4);
	if (len > BTSNOOP_RECORD_MAX)
		return corrupt(r, err, "included length %u is over the %d-byte limit", len,
			       BTSNOOP_RECORD_MAX);
	if (len > orig_len)
		return corrupt(r, err, "included length %u is larger than the original length %u",
			       len, orig_len);
	if (r->size >= 0 && (int64_t)(r->offset + sizeof(hdr) + len) > r->size)
		return corrupt(r, err,
			       "record of %u bytes runs past the end of the file (%lld bytes)", len,
			       (long long)r->size);
	n = fread(r->buf, 1, len, r->f);
	if (ferror(r->f))
		goto read_error;
	if (n != len)
		return corrupt(r, err, "record of %u bytes cut short after %zu", len, n);

	memset(ret, 0, sizeof(*ret));
	ret->offset = r->offset;
	ret->orig_len = orig_len;
	ret->flags = get_be32(hdr + 8);
	ret->drops = get_be32(hdr + 12);
	ts = get_be64(hdr + 16);
	/* Unsigned wrap then a signed view: timestamps before 1970 stay exact. */
	ret->ts_us = (int64_t)(ts - BTSNOOP_EPOCH_DELTA_US);
	ret->data = r->buf;
	ret->len = len;
	switch (r->format) {
	case BTSNOOP_FORMAT_MONITOR:
		ret->index = ret->flags >> 16;
		ret->opcode = ret->flags & 0xffff;
		ret->type = monitor_type(ret->opcode);
		break;
	case BTSNOOP_FORMAT_UART:
		if (len < 1)
			return corrupt(r, err, "H4 record without its packet type byte");
		ret->type = h4_type(r->buf[0], ret->flags);
		ret->data = r->buf + 1;
		ret->len = len - 1;
		break;
	default:
		ret->type = hci_type(ret->flags);
		break;
	}
	r->offset += sizeof(hdr) + len;
	return 1;

read_error:
	r->failed = true;
	return fail(err, -EIO, "%s: byte %llu: read error", r->path, (unsigned long long)r->offset);
}

int btsnoop_reader_rewind(struct btsnoop_reader *r, struct btsnoop_error *err)
{
	if (fseek(r->f, BTSNOOP_HEADER_LEN, SEEK_SET) != 0) {
		int rc = -errno;

		return fail(err, rc, "%s: cannot rewind: %s", r->path, strerror(-rc));
	}
	clearerr(r->f);
	r->offset = BTSNOOP_HEADER_LEN;
	r->failed = false;
	return 0;
}

/* ---- writer ----------------------------------------------------------- */

int btsnoop_writer_create(const char *path, uint32_t format, struct btsnoop_writer **ret,
			  struct btsnoop_error *err)
{
	struct btsnoop_writer *w;
	uint8_t hdr[BTSNOOP_HEADER_LEN];
	int rc;

	*ret = NULL;
	if (!format)
		format = BTSNOOP_FORMAT_MONITOR;
	if (!format_known(format))
		return fail(err, -EPROTONOSUPPORT,
			    "%s: btsnoop datalink %u not supported; use 1001, 1002 or 2001", path,
			    format);
	w = calloc(1, sizeof(*w));
	if (!w)
		return fail(err, -ENOMEM, "%s: out of memory", path);
	w->format = format;
	w->path = strdup(path);
	if (!w->path) {
		rc = fail(err, -ENOMEM, "%s: out of memory", path);
		goto free_writer;
	}
	w->f = fopen(path, "wb");
	if (!w->f) {
		rc = -errno;
		fail(err, rc, "%s: cannot create: %s", path, strerror(-rc));
		goto free_writer;
	}
	memcpy(hdr, btsnoop_magic, sizeof(btsnoop_magic));
	put_be32(hdr + 8, 1);
	put_be32(hdr + 12, format);
	errno = 0;
	if (fwrite(hdr, 1, sizeof(hdr), w->f) != sizeof(hdr)) {
		rc = errno ? -errno : -EIO;
		fail(err, rc, "%s: cannot write: %s", path, strerror(-rc));
		goto close_file;
	}
	*ret = w;
	return 0;

close_file:
	fclose(w->f);
free_writer:
	free(w->path);
	free(w);
	return rc;
}

/* One record: the H4 byte (0: none) then data, with raw flags. */
static int write_record(struct btsnoop_writer *w, int64_t ts_us, uint32_t flags, int h4,
			const void *data, size_t len, struct btsnoop_error *err)
{
	uint8_t hdr[BTSNOOP_RECORD_HEADER_LEN];
	uint32_t total = (uint32_t)len + (h4 ? 1 : 0);
	uint8_t type = (uint8_t)h4;

	if (w->error)
		return fail(err, w->error, "%s: an earlier write failed", w->path);
	if (ts_us < -(int64_t)BTSNOOP_EPOCH_DELTA_US)
		return fail(err, -EINVAL, "%s: timestamp %lld us is before 0 AD", w->path,
			    (long long)ts_us);
	put_be32(hdr, total);
	put_be32(hdr + 4, total);
	put_be32(hdr + 8, flags);
	put_be32(hdr + 12, 0);
	put_be64(hdr + 16, (uint64_t)ts_us + BTSNOOP_EPOCH_DELTA_US);
	errno = 0;
	if (fwrite(hdr, 1, sizeof(hdr), w->f) != sizeof(hdr) ||
	    (h4 && fwrite(&type, 1, 1, w->f) != 1) || (len && fwrite(data, 1, len, w->f) != len)) {
		w->error = errno ? -errno : -EIO;
		return fail(err, w->error, "%s: cannot write: %s", w->path, strerror(-w->error));
	}
	return 0;
}

int btsnoop_writer_packet(struct btsnoop_writer *w, int64_t ts_us, enum btsnoop_packet type,
			  uint16_t index, const void *data, size_t len, struct btsnoop_error *err)
{
	/* Per type: monitor opcode, H4 indicator, 1001/1002 flags. */
	static const struct {
		uint16_t opcode;
		uint8_t h4;
		uint8_t flags;
	} map[] = {
	    [BTSNOOP_PACKET_COMMAND] = {BTSNOOP_OPCODE_COMMAND_PKT, H4_COMMAND, 0x02},
	    [BTSNOOP_PACKET_EVENT] = {BTSNOOP_OPCODE_EVENT_PKT, H4_EVENT, 0x03},
	    [BTSNOOP_PACKET_ACL_TX] = {BTSNOOP_OPCODE_ACL_TX_PKT, H4_ACL, 0x00},
	    [BTSNOOP_PACKET_ACL_RX] = {BTSNOOP_OPCODE_ACL_RX_PKT, H4_ACL, 0x01},
	    [BTSNOOP_PACKET_SCO_TX] = {BTSNOOP_OPCODE_SCO_TX_PKT, H4_SCO, 0x00},
	    [BTSNOOP_PACKET_SCO_RX] = {BTSNOOP_OPCODE_SCO_RX_PKT, H4_SCO, 0x01},
	    [BTSNOOP_PACKET_ISO_TX] = {BTSNOOP_OPCODE_ISO_TX_PKT, H4_ISO, 0x00},
	    [BTSNOOP_PACKET_ISO_RX] = {BTSNOOP_OPCODE_ISO_RX_PKT, H4_ISO, 0x01},
	};

	if ((unsigned)type >= sizeof(map) / sizeof(map[0]))
		return fail(err, -EINVAL, "%s: packet type %d cannot be written", w->path, type);
	if (len > BTSNOOP_RECORD_MAX - 1)
		return fail(err, -EINVAL, "%s: packet of %zu bytes is over the %d-byte limit",
			    w->path, len, BTSNOOP_RECORD_MAX - 1);
	if (index && w->format != BTSNOOP_FORMAT_MONITOR)
		return fail(err, -EINVAL,
			    "%s: controller index %u needs the monitor (2001) datalink", w->path,
			    index);
	switch (w->format) {
	case BTSNOOP_FORMAT_MONITOR:
		return write_record(w, ts_us, (uint32_t)index << 16 | map[type].opcode, 0, data,
				    len, err);
	case BTSNOOP_FORMAT_UART:
		return write_record(w, ts_us, map[type].flags, map[type].h4, data, len, err);
	default:
		/* 1001 has no way to tell SCO or ISO from ACL. */
		if (map[type].h4 == H4_SCO || map[type].h4 == H4_ISO)
			return fail(err, -EINVAL,
				    "%s: the HCI (1001) datalink cannot hold SCO or ISO packets",
				    w->path);
		return write_record(w, ts_us, map[type].flags, 0, data, len, err);
	}
}

int btsnoop_writer_event(struct btsnoop_writer *w, int64_t ts_us, const void *evt, size_t len,
			 struct btsnoop_error *err)
{
	return btsnoop_writer_packet(w, ts_us, BTSNOOP_PACKET_EVENT, 0, evt, len, err);
}

int btsnoop_writer_new_index(struct btsnoop_writer *w, int64_t ts_us, uint16_t index, uint8_t bus,
			     const uint8_t bdaddr[6], const char *name, struct btsnoop_error *err)
{
	/* type (0 primary), bus, bdaddr[6], name[8] NUL-padded. */
	uint8_t rec[16] = {0};

	if (w->format != BTSNOOP_FORMAT_MONITOR)
		return fail(err, -EINVAL, "%s: New Index records need the monitor (2001) datalink",
			    w->path);
	rec[1] = bus;
	memcpy(rec + 2, bdaddr, 6);
	memcpy(rec + 8, name, strnlen(name, 8));
	return write_record(w, ts_us, (uint32_t)index << 16 | BTSNOOP_OPCODE_NEW_INDEX, 0, rec,
			    sizeof(rec), err);
}

int btsnoop_writer_close(struct btsnoop_writer *w, struct btsnoop_error *err)
{
	int rc;

	if (!w)
		return 0;
	rc = w->error;
	if (fclose(w->f) != 0 && !rc)
		rc = -errno;
	if (rc)
		fail(err, rc, "%s: cannot finish writing: %s", w->path, strerror(-rc));
	free(w->path);
	free(w);
	return rc;
}
