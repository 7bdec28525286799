/*
 * edgeboxctl — the technicians' and test rigs' command line.
 *
 * One table of subcommands; each has --help, prints for people by default
 * and JSON with --json. Exit status: 0 ok, 1 the check or action failed,
 * 2 usage error, 3 the daemon is not running or its status is stale.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "firmware/ctl/ctl.h"
#include "hal/registry.h"

#define EDGEBOX_VERSION "0.1.0"
#define STATUS_MAX_BYTES (1024 * 1024)

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_NO_DAEMON = 3,
};

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

/* ---- status ------------------------------------------------------------- */

static char *read_small_file(const char *path, int *ret_errno)
{
	struct stat st;
	char *buf;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		*ret_errno = errno;
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size > STATUS_MAX_BYTES) {
		*ret_errno = EFBIG;
		fclose(f);
		return NULL;
	}
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
		*ret_errno = EIO;
	}
	fclose(f);
	return buf;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_status(const cJSON *root, double age_s)
{
	const cJSON *stage, *ring, *wd;

	printf("edgeboxd pid %.0f, %s, up %.0f s, %s%s%s (status %.1f s old)\n", num(root, "pid"),
	       str(root, "daemon"), num(root, "uptime_s"),
	       cJSON_IsTrue(cJSON_GetObjectItem(root, "healthy")) ? "healthy" : "UNHEALTHY",
	       *str(root, "unhealthy_reason") ? ": " : "", str(root, "unhealthy_reason"), age_s);
	printf("\n%-13s %-8s %-14s %10s %6s %8s %10s %10s\n", "STAGE", "STATE", "SCHED", "ITEMS",
	       "ERRORS", "RESTARTS", "P50 us", "P99 us");
	cJSON_ArrayForEach(stage, cJSON_GetObjectItem(root, "stages"))
	{
		printf("%-13s %-8s %-14s %10.0f %6.0f %8.0f %10.1f %10.1f\n", str(stage, "name"),
		       str(stage, "state"), str(stage, "sched"), num(stage, "items"),
		       num(stage, "errors"), num(stage, "restarts"), num(stage, "latency_p50_us"),
		       num(stage, "latency_p99_us"));
		if (*str(stage, "last_error"))
			printf("  last error: %s\n", str(stage, "last_error"));
	}
	printf("\n%-8s %8s %6s %10s %10s %10s %8s %8s\n", "RING", "CAPACITY", "DEPTH", "HIGHWATER",
	       "PUSHED", "POPPED", "DROPS", "REJECTS");
	cJSON_ArrayForEach(ring, cJSON_GetObjectItem(root, "rings"))
	{
		printf("%-8s %8.0f %6.0f %10.0f %10.0f %10.0f %8.0f %8.0f\n", ring->string,
		       num(ring, "capacity"), num(ring, "depth"), num(ring, "high_water"),
		       num(ring, "pushed"), num(ring, "popped"), num(ring, "drops"),
		       num(ring, "rejects"));
	}
	wd = cJSON_GetObjectItem(root, "watchdog");
	printf("\nwatchdog: %s, %.0f keepalives", str(wd, "driver"), num(wd, "keepalives"));
	if (cJSON_GetObjectItem(wd, "expired"))
		printf(", %.0f expiries", num(wd, "expired"));
	printf("\n");
}

static int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"status-file", required_argument, NULL, 'f'},
		{"watch", no_argument, NULL, 'w'},
		{0},
	};
	const char *path = "/run/edgebox/status.json";
	bool json = false, watch = false;
	int c, e = 0, rc = EXIT_OK;

	if (wants_help(argc, argv)) {
		printf("Usage: edgeboxctl status [--json] [--watch] [--status-file FILE]\n"
		       "Each stage's state, scheduling, items, errors, restarts and latency; ring\n"
		       "depths and drops; the watchdog. Read from the status file edgeboxd writes\n"
		       "every second (default %s).\n"
		       "Exit status: 0 healthy, 1 unhealthy, 3 daemon not running or status stale.\n",
		       path);
		return EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'w':
			watch = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	do {
		struct stat st;
		char *text = read_small_file(path, &e);
		cJSON *root;
		double age;

		if (!text) {
			fprintf(stderr,
				"edgeboxctl: cannot read %s: %s (is edgeboxd running? `systemctl "
				"status edgeboxd`)\n",
				path, strerror(e));
			return EXIT_NO_DAEMON;
		}
		stat(path, &st);
		age = difftime(time(NULL), st.st_mtime);
		root = cJSON_Parse(text);
		if (!root) {
			fprintf(stderr, "edgeboxctl: %s is not valid JSON\n", path);
			free(text);
			return EXIT_FAIL;
		}
		if (watch)
			printf("\033[H\033[2J");
		if (json)
			printf("%s", text);
		else
			print_status(root, age);
		rc = cJSON_IsTrue(cJSON_GetObjectItem(root, "healthy")) ? EXIT_OK : EXIT_FAIL;
		if (strcmp(str(root, "daemon"), "stopped") == 0) {
			fprintf(stderr, "edgeboxctl: edgeboxd has stopped; this is its last status\n");
			rc = EXIT_NO_DAEMON;
		} else if (age > 10) {
			fprintf(stderr, "edgeboxctl: the status is %.0f s old; edgeboxd may be stopped "
					"or hung\n", age);
			rc = EXIT_NO_DAEMON;
		}
		cJSON_Delete(root);
		free(text);
		fflush(stdout);
	} while (watch && sleep(1) == 0);
	return rc;
}

/* ---- drivers ------------------------------------------------------------ */

static int cmd_drivers(int argc, char **argv)
{
	const struct hal_driver *d;
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	size_t n, i;

	if (wants_help(argc, argv)) {
		printf("Usage: edgeboxctl drivers [--json]\n"
		       "The device drivers this build has, by class, for the `driver =` keys.\n");
		return EXIT_OK;
	}
	d = hal_drivers(&n);
	for (i = 0; i < n; i++) {
		if (json)
			printf("{\"class\":\"%s\",\"driver\":\"%s\",\"summary\":\"%s\"}\n",
			       hal_class_name(d[i].cls), d[i].name, d[i].summary);
		else
			printf("%-9s %-8s %s\n", hal_class_name(d[i].cls), d[i].name, d[i].summary);
	}
	return EXIT_OK;
}

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("edgeboxctl %s\n", EDGEBOX_VERSION);
	return EXIT_OK;
}

static const struct command commands[] = {
	{"status", "stages, rings and watchdog of the running daemon", cmd_status},
	{"ble", "decode a btsnoop capture; synthesize walk captures", ctl_ble},
	{"face", "embed faces in images, compare two faces", ctl_face},
	{"enroll", "record a customer's face consent and enrol their face", ctl_enroll},
	{"forget", "erase every trace of a customer", ctl_forget},
	{"not-them", "a wrong recognition: remove the embedding it matched", ctl_not_them},
	{"guard", "check customer messages against the scope rules (stdin -> JSON lines)", ctl_guard},
	{"kiosk", "be the customer at the kiosk: type, see the reply stream", ctl_kiosk},
	{"staff", "the live staff feed; take a session over, hand it back", ctl_staff},
	{"drivers", "the device drivers this build has", cmd_drivers},
	{"hil", "run hardware-in-the-loop scenarios on the kiosk and staff sockets", ctl_hil},
	{"update", "signed A/B firmware updates: install, status, make-bundle, keygen", ctl_update},
	{"version", "print the version", cmd_version},
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: edgeboxctl COMMAND [OPTIONS]   (edgeboxctl COMMAND --help)\n\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nExit status: 0 ok, 1 failed, 2 usage error, 3 daemon not running.\n");
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "edgeboxctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
