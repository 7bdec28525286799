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
    {"status", "stages, rings, watchdog and the open session of the running daemon", ctl_status},
    {"diag", "check every subsystem: PASS/WARN/FAIL with the fix", ctl_diag},
    {"logs", "recent events and escalations from the store, filtered", ctl_logs},
    {"config", "check a config file; show the running one (secrets redacted)", ctl_config},
    {"pair", "pair a staff tablet with a one-time PIN; --list the paired ones", ctl_pair},
    {"unpair", "revoke a staff tablet's token", ctl_unpair},
    {"bundle", "a diagnostics archive for support, without customer data", ctl_bundle},
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
