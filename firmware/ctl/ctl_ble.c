/*
 * edgeboxctl ble — for field technicians checking a capture taken at a
 * store (`btmon -w`), and for making realistic captures from a described
 * walk. The work is done by agent/ble_walk.c; this file is arguments and
 * printing.
 *
 *   edgeboxctl ble decode FILE [--config CONF] [--section NAME] [--events-only]
 *   edgeboxctl ble synth WALKFILE OUT.btsnoop [--json]
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ble_walk.h"
#include "firmware/config.h"
#include "firmware/ctl/ctl.h"

static const char ble_usage[] =
    "Usage: edgeboxctl ble decode FILE [--config CONF] [--section NAME] [--events-only]\n"
    "       edgeboxctl ble synth WALKFILE OUT.btsnoop [--json]\n"
    "\n"
    "  decode  read a btsnoop capture (btmon -w), decode iBeacon, AltBeacon and\n"
    "          Eddystone-UID advertisements, run the presence tracker on the\n"
    "          capture's timestamps and print one JSON line per sighting and per\n"
    "          presence event (approach, dwell, leave)\n"
    "  synth   write a btsnoop capture from a walk file (docs/proximity.md)\n"
    "\n"
    "edgeboxctl ble SUBCOMMAND --help for details.\n"
    "Exit status: 0 ok, 1 a file could not be read or is invalid, 2 bad arguments.\n";

static const char decode_usage[] =
    "Usage: edgeboxctl ble decode FILE [--config CONF] [--section NAME] [--events-only]\n"
    "\n"
    "Prints, one JSON object per line, every advertising report that carries a\n"
    "beacon and every presence event, in capture order:\n"
    "  {\"type\":\"sighting\",\"ts\":1715679000.123456,\"addr\":\"5C:3A:91:0E:7B:22\",\n"
    "   \"kind\":\"ibeacon\",\"uuid\":\"...\",\"major\":1,\"minor\":42,\"rssi\":-60,\n"
    "   \"tx_power\":-59,\"tracked\":true,\"rssi_smoothed\":-59.4,\"distance_m\":1.05,\n"
    "   \"zone\":\"near\"}\n"
    "  {\"type\":\"event\",\"event\":\"approach\",\"ts\":...,\"addr\":...,\"kind\":...,\n"
    "   \"zone\":\"kiosk\",\"distance_m\":0.71,\"rssi\":-56.0}   (leave adds \"reason\")\n"
    "ts is the capture's time in seconds since 1970; tx_power is the beacon's\n"
    "measured power at 1 m. A summary goes to standard error.\n"
    "\n"
    "  --config CONF    take the tracker's settings from [beacons] of CONF\n"
    "                   (uuid, eddystone_namespace, kiosk_m, ...; docs/proximity.md).\n"
    "                   Without it, or without uuid and eddystone_namespace there,\n"
    "                   every beacon is tracked.\n"
    "  --section NAME   read [NAME] instead of [beacons]\n"
    "  --events-only    print presence events only\n"
    "  --json           accepted for symmetry with other commands: the output\n"
    "                   is JSON lines already\n"
    "\n"
    "Exit status: 0 ok, 1 the capture or config could not be read or is corrupt\n"
    "(what came before a corrupt record is printed), 2 bad arguments.\n";

static const char synth_usage[] =
    "Usage: edgeboxctl ble synth WALKFILE OUT.btsnoop [--json]\n"
    "\n"
    "Writes a btsnoop capture (Linux monitor format, what btmon -w writes) of\n"
    "LE Advertising Reports for the advertisers and walks described in\n"
    "WALKFILE: distance over time, advertising interval, RSSI noise, packet\n"
    "loss, all drawn from the file's seed, so the output is the same on every\n"
    "machine. Format: docs/proximity.md; examples: tests/fixtures/ble/*.walk.\n"
    "\n"
    "  --json    print the summary as one JSON object\n"
    "\n"
    "Exit status: 0 ok, 1 the walk file is invalid or OUT cannot be written,\n"
    "2 bad arguments.\n";

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

static void print_ts(int64_t ts_us)
{
	uint64_t a = ts_us < 0 ? -(uint64_t)ts_us : (uint64_t)ts_us;

	printf("%s%llu.%06llu", ts_us < 0 ? "-" : "", (unsigned long long)(a / 1000000),
	       (unsigned long long)(a % 1000000));
}

struct decode_ctx {
	bool events_only;
	uint64_t sightings, events;
};

static int on_item(const struct ble_replay_item *it, void *ctx)
{
	struct decode_ctx *c = ctx;
	char buf[BEACON_JSON_MAX + 256];

	if (it->kind == BLE_REPLAY_EVENT) {
		if (proximity_event_to_json(it->event, it->ts_us, buf, sizeof(buf)) < 0)
			return -ENOSPC;
		printf("%s\n", buf);
		c->events++;
		return 0;
	}
	c->sightings++;
	if (c->events_only)
		return 0;
	{
		const uint8_t *a = it->report->addr;

		if (beacon_id_to_json(it->beacon, buf, sizeof(buf)) < 0)
			return -ENOSPC;
		printf("{\"type\":\"sighting\",\"ts\":");
		print_ts(it->ts_us);
		printf(",\"addr\":\"%02X:%02X:%02X:%02X:%02X:%02X\",\"addr_type\":\"%s\","
		       "\"report\":\"%s\",%s",
		       a[5], a[4], a[3], a[2], a[1], a[0],
		       it->report->addr_type == 0 ? "public" : "random",
		       it->report->kind == BLE_REPORT_EXTENDED ? "extended" : "legacy", buf);
		if (it->report->rssi == BLE_RSSI_NONE)
			printf(",\"rssi\":null");
		else
			printf(",\"rssi\":%d", it->report->rssi);
		printf(",\"tx_power\":%d,\"tracked\":%s", it->beacon->measured_power,
		       it->tracked ? "true" : "false");
		if (it->tracked)
			printf(",\"rssi_smoothed\":%.1f,\"distance_m\":%.2f,\"zone\":\"%s\"",
			       it->track->rssi, it->track->distance_m,
			       proximity_zone_name(it->track->zone));
		printf("}\n");
	}
	return 0;
}

static int cmd_decode(int argc, char **argv)
{
	const char *file = NULL, *conf = NULL, *section = "beacons";
	struct decode_ctx ctx = {0};
	struct proximity_params p;
	struct ble_replay_stats st;
	struct ble_walk_error err;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(decode_usage, stdout);
			return CTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--events-only") == 0) {
			ctx.events_only = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			/* The output is JSON lines already. */
		} else if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--section") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "edgeboxctl ble decode: %s needs a value\n\n%s",
					argv[i], decode_usage);
				return CTL_EXIT_USAGE;
			}
			*(strcmp(argv[i], "--config") == 0 ? &conf : &section) = argv[i + 1];
			i++;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "edgeboxctl ble decode: unknown option '%s'\n\n%s", argv[i],
				decode_usage);
			return CTL_EXIT_USAGE;
		} else if (!file) {
			file = argv[i];
		} else {
			fprintf(stderr,
				"edgeboxctl ble decode: one capture at a time ('%s' too)\n\n%s",
				argv[i], decode_usage);
			return CTL_EXIT_USAGE;
		}
	}
	if (!file) {
		fprintf(stderr, "edgeboxctl ble decode: which capture? Give a btsnoop FILE\n\n%s",
			decode_usage);
		return CTL_EXIT_USAGE;
	}
	proximity_params_default(&p);
	if (conf) {
		struct config_error ce;
		struct config *cfg;

		rc = config_load(conf, &cfg, &ce);
		if (rc == 0) {
			rc = proximity_params_from_config(cfg, section, &p, &ce);
			config_free(cfg);
		}
		if (rc < 0) {
			fprintf(stderr, "edgeboxctl ble decode: %s\n", ce.msg);
			return CTL_EXIT_FAIL;
		}
	}

	rc = ble_walk_replay(file, &p, on_item, &ctx, &st, &err);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "edgeboxctl ble decode: writing the output failed: %s\n",
			strerror(errno));
		return CTL_EXIT_FAIL;
	}
	if (rc < 0 && rc != -ENOSPC) {
		fprintf(stderr, "edgeboxctl ble decode: %s\n", err.msg);
		return CTL_EXIT_FAIL;
	}
	fprintf(stderr,
		"%s: %llu records, %llu advertising reports (%llu malformed events skipped), "
		"%llu beacon sightings (%llu iBeacon, %llu AltBeacon, %llu Eddystone-UID; %llu "
		"malformed AD structures skipped), %llu presence events; tracking %s\n",
		file, (unsigned long long)st.records, (unsigned long long)st.reports,
		(unsigned long long)st.malformed_events, (unsigned long long)ctx.sightings,
		(unsigned long long)st.beacons.ibeacon, (unsigned long long)st.beacons.altbeacon,
		(unsigned long long)st.beacons.eddystone_uid,
		(unsigned long long)st.beacons.malformed, (unsigned long long)ctx.events,
		p.n_uuids || p.n_namespaces ? "the configured UUIDs/namespaces" : "every beacon");
	if (rc == -ENOSPC) {
		fprintf(stderr, "edgeboxctl ble decode: an output line did not fit its buffer\n");
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static int cmd_synth(int argc, char **argv)
{
	const char *in = NULL, *out = NULL;
	struct ble_walk_stats st;
	struct ble_walk_error err;
	struct ble_walk *w;
	bool json = false;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(synth_usage, stdout);
			return CTL_EXIT_OK;
		}
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "edgeboxctl ble synth: unknown option '%s'\n\n%s", argv[i],
				synth_usage);
			return CTL_EXIT_USAGE;
		} else if (!in) {
			in = argv[i];
		} else if (!out) {
			out = argv[i];
		} else {
			fprintf(stderr, "edgeboxctl ble synth: too many arguments ('%s')\n\n%s",
				argv[i], synth_usage);
			return CTL_EXIT_USAGE;
		}
	}
	if (!in || !out) {
		fprintf(stderr, "edgeboxctl ble synth: needs a WALKFILE and an OUT.btsnoop\n\n%s",
			synth_usage);
		return CTL_EXIT_USAGE;
	}
	rc = ble_walk_load(in, &w, &err);
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl ble synth: %s\n", err.msg);
		return CTL_EXIT_FAIL;
	}
	rc = ble_walk_write(w, out, &st, &err);
	if (rc < 0) {
		fprintf(stderr, "edgeboxctl ble synth: %s\n", err.msg);
		ble_walk_free(w);
		return CTL_EXIT_FAIL;
	}
	if (json) {
		cJSON *o = cJSON_CreateObject();
		char *text = NULL;

		if (o && cJSON_AddStringToObject(o, "file", out) &&
		    cJSON_AddNumberToObject(o, "advertisers", (double)ble_walk_count(w)) &&
		    cJSON_AddNumberToObject(o, "records", (double)st.records) &&
		    cJSON_AddNumberToObject(o, "reports", (double)st.reports) &&
		    cJSON_AddNumberToObject(o, "lost", (double)st.lost) &&
		    cJSON_AddNumberToObject(o, "unheard", (double)st.unheard) &&
		    cJSON_AddNumberToObject(o, "duration_s", (double)st.duration_us / 1e6))
			text = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!text) {
			fprintf(stderr, "edgeboxctl ble synth: out of memory\n");
			ble_walk_free(w);
			return CTL_EXIT_FAIL;
		}
		printf("%s\n", text);
		free(text);
	} else {
		printf("wrote %s: %zu advertisers, %.1f s, %llu records, %llu advertising reports "
		       "(%llu lost to packet loss, %llu below sensitivity)\n",
		       out, ble_walk_count(w), (double)st.duration_us / 1e6,
		       (unsigned long long)st.records, (unsigned long long)st.reports,
		       (unsigned long long)st.lost, (unsigned long long)st.unheard);
	}
	ble_walk_free(w);
	return CTL_EXIT_OK;
}

int ctl_ble(int argc, char **argv)
{
	if (argc < 2) {
		fputs(ble_usage, stderr);
		return CTL_EXIT_USAGE;
	}
	if (is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		fputs(ble_usage, stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "decode") == 0)
		return cmd_decode(argc - 1, argv + 1);
	if (strcmp(argv[1], "synth") == 0)
		return cmd_synth(argc - 1, argv + 1);
	fprintf(stderr, "edgeboxctl ble: unknown subcommand '%s'\n\n%s", argv[1], ble_usage);
	return CTL_EXIT_USAGE;
}
