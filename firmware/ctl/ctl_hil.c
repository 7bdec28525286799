/*
 * edgeboxctl hil — hardware-in-the-loop scenarios (firmware/hil.h, docs/hil.md).
 *
 *   edgeboxctl hil run [--junit FILE] [--bin DIR] ... SCENARIO...
 *   edgeboxctl hil check SCENARIO...
 *
 * run loads every scenario first (one bad file: exit 2, nothing runs), then
 * runs them in order, printing a line per step as it ends and a summary,
 * and writes one JUnit report for all of them.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "firmware/ctl/ctl.h"
#include "firmware/hil.h"

#define SCENARIOS_MAX 64

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static void usage(FILE *f)
{
	fputs("Usage: edgeboxctl hil run [OPTIONS] SCENARIO.json...\n"
	      "       edgeboxctl hil check SCENARIO.json...\n"
	      "Hardware-in-the-loop scenarios (docs/hil.md): a scripted customer on the\n"
	      "kiosk socket and a watcher on the staff socket, with timing checks.\n"
	      "  run    run the scenarios; one line per step, then a summary with each\n"
	      "         turn's time to first token and to reply_end\n"
	      "  check  load the scenarios and report the first mistake in each\n",
	      f);
}

static void run_usage(FILE *f)
{
	fputs("Usage: edgeboxctl hil run [OPTIONS] SCENARIO.json...\n"
	      "Runs each scenario: in start mode edgeboxd is started on the scenario's config\n"
	      "with its replay inputs and a fresh state folder, and stopped (SIGTERM, clean\n"
	      "exit checked) at the end; in attach mode the runner connects to a running box.\n"
	      "Paths in a scenario are relative to the current folder.\n"
	      "  --junit FILE   write a JUnit XML report (one testsuite per scenario)\n"
	      "  --bin DIR      folder of edgeboxd (default $EDGEBOX_BIN, else edgeboxctl's\n"
	      "                 own folder when edgeboxd is there, else $PATH)\n"
	      "  --kiosk PATH --staff PATH\n"
	      "                 attach to the box on these sockets instead, even for a start\n"
	      "                 scenario (the rig's hardware then makes its inputs)\n"
	      "  --set S.K=V    one more edgeboxd --set for start mode (repeatable)\n"
	      "  --keep-going   run every step even after one failed\n"
	      "  --keep-state   keep the start-mode state folder (store, log) for a look\n"
	      "  --trace        print every message sent and received, with its time\n"
	      "  --quiet        only the summary\n"
	      "Tokens for sockets that need one: EDGEBOX_KIOSK_TOKEN, EDGEBOX_STAFF_TOKEN.\n"
	      "Exit status: 0 every step passed, 1 a step failed, 2 bad scenario or usage,\n"
	      "3 the box was not reachable.\n",
	      f);
}

/* edgeboxd next to this edgeboxctl, if it is there. */
static const char *own_bin_dir(char *buf, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (strlen(exe) + sizeof("/edgeboxd") > len)
		return NULL;
	memcpy(buf, exe, (size_t)(slash - exe));
	strcpy(buf + (slash - exe), "/edgeboxd");
	if (access(buf, X_OK) != 0)
		return NULL;
	buf[slash - exe] = '\0';
	return buf;
}

static int load_all(int n, char **paths, struct hil_scenario **out)
{
	struct hil_error err;
	int bad = 0;

	for (int i = 0; i < n; i++) {
		if (hil_scenario_load(paths[i], &out[i], &err) < 0) {
			fprintf(stderr, "edgeboxctl hil: %s\n", err.msg);
			bad++;
		}
	}
	return bad;
}

static int cmd_check(int argc, char **argv)
{
	struct hil_scenario *s[SCENARIOS_MAX] = {0};
	int n = argc - 1, bad;

	if (wants_help(argc, argv)) {
		printf("Usage: edgeboxctl hil check SCENARIO.json...\n"
		       "Loads each scenario and reports the first mistake in it (file, step,\n"
		       "field, what was expected). Exit status: 0 all good, 2 any bad.\n");
		return CTL_EXIT_OK;
	}
	if (n < 1 || n > SCENARIOS_MAX) {
		fprintf(stderr, "edgeboxctl hil check: give 1 to %d scenario files\n",
			SCENARIOS_MAX);
		return CTL_EXIT_USAGE;
	}
	bad = load_all(n, argv + 1, s);
	for (int i = 0; i < n; i++) {
		if (s[i])
			printf("%s: ok: %s, %zu steps, %s mode\n", argv[i + 1],
			       hil_scenario_name(s[i]), hil_scenario_steps(s[i]),
			       hil_scenario_starts_box(s[i]) ? "start" : "attach");
		hil_scenario_free(s[i]);
	}
	return bad ? CTL_EXIT_USAGE : CTL_EXIT_OK;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"junit", required_argument, NULL, 'j'}, {"bin", required_argument, NULL, 'b'},
	    {"kiosk", required_argument, NULL, 'k'}, {"staff", required_argument, NULL, 's'},
	    {"set", required_argument, NULL, 'S'},   {"keep-going", no_argument, NULL, 'g'},
	    {"keep-state", no_argument, NULL, 'K'},  {"trace", no_argument, NULL, 't'},
	    {"quiet", no_argument, NULL, 'q'},	     {0},
	};
	struct hil_scenario *s[SCENARIOS_MAX] = {0};
	struct hil_report *reports[SCENARIOS_MAX] = {0};
	const char *sets[HIL_SETS_MAX], *junit = NULL;
	struct hil_options o = {.out = stdout};
	enum hil_status worst = HIL_STATUS_PASS;
	struct hil_error err;
	char own[PATH_MAX];
	int c, n, i, rc = CTL_EXIT_OK;
	size_t nrep = 0;
	bool quiet = false;

	if (wants_help(argc, argv)) {
		run_usage(stdout);
		return CTL_EXIT_OK;
	}
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			junit = optarg;
			break;
		case 'b':
			o.bin_dir = optarg;
			break;
		case 'k':
			o.kiosk = optarg;
			break;
		case 's':
			o.staff = optarg;
			break;
		case 'S':
			if (o.nsets == HIL_SETS_MAX) {
				fprintf(stderr, "edgeboxctl hil run: more than %d --set\n",
					HIL_SETS_MAX);
				return CTL_EXIT_USAGE;
			}
			sets[o.nsets++] = optarg;
			break;
		case 'g':
			o.keep_going = true;
			break;
		case 'K':
			o.keep_state = true;
			break;
		case 't':
			o.trace = stdout;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			run_usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	o.sets = sets;
	n = argc - optind;
	if (n < 1 || n > SCENARIOS_MAX) {
		fprintf(stderr, "edgeboxctl hil run: give 1 to %d scenario files (see --help)\n",
			SCENARIOS_MAX);
		return CTL_EXIT_USAGE;
	}
	if (!!o.kiosk != !!o.staff) {
		fprintf(stderr, "edgeboxctl hil run: --kiosk and --staff go together\n");
		return CTL_EXIT_USAGE;
	}
	if (quiet)
		o.out = NULL;
	if (!o.bin_dir)
		o.bin_dir = getenv("EDGEBOX_BIN");
	if (!o.bin_dir)
		o.bin_dir = own_bin_dir(own, sizeof(own));
	if (load_all(n, argv + optind, s)) {
		rc = CTL_EXIT_USAGE;
		goto free_all;
	}
	for (i = 0; i < n; i++) {
		int r = hil_run(s[i], &o, &reports[nrep], &err);

		if (r < 0) {
			fprintf(stderr, "edgeboxctl hil run: %s: %s\n", argv[optind + i], err.msg);
			/* -EINVAL: an option (--set, a socket path) is wrong; else the runner
			 * itself could not work (no state folder, no memory) */
			rc = r == -EINVAL ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
			goto free_all;
		}
		worst = hil_status_worst(worst, hil_report_status(reports[nrep]));
		nrep++;
	}
	for (size_t k = 0; k < nrep; k++)
		hil_report_print(reports[k], stdout);
	rc = (int)worst;
	if (junit) {
		if (hil_junit_write((const struct hil_report *const *)reports, nrep, junit, &err) <
		    0) {
			fprintf(stderr, "edgeboxctl hil run: %s\n", err.msg);
			rc = rc ? rc : CTL_EXIT_FAIL;
		} else if (!quiet) {
			printf("JUnit report: %s\n", junit);
		}
	}
free_all:
	for (i = 0; i < n; i++)
		hil_scenario_free(s[i]);
	for (size_t k = 0; k < nrep; k++)
		hil_report_free(reports[k]);
	return rc;
}

int ctl_hil(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	fprintf(stderr, "edgeboxctl hil: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
