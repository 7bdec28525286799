/*
 * ctl — edgeboxctl's subcommands. Each group lives in its own file
 * (firmware/ctl/ctl_<group>.c) and is listed in the table in
 * firmware/edgeboxctl.c. A subcommand gets argv with argv[0] = its own name,
 * prints for people by default and JSON lines with --json, answers --help,
 * and returns an exit status: CTL_EXIT_*.
 */
#ifndef FIRMWARE_CTL_CTL_H
#define FIRMWARE_CTL_CTL_H

enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAIL = 1,	/* the check or action failed */
	CTL_EXIT_USAGE = 2,	/* bad arguments */
	CTL_EXIT_NO_DAEMON = 3, /* the daemon is not running or its status is stale */
};

int ctl_ble(int argc, char **argv);	 /* ble decode FILE | ble synth ... */
int ctl_face(int argc, char **argv);	 /* face embed IMAGE... | face compare A B */
int ctl_guard(int argc, char **argv);	 /* guard: messages on stdin -> JSON verdicts */
int ctl_kiosk(int argc, char **argv);	 /* kiosk: be the customer on the kiosk socket */
int ctl_staff(int argc, char **argv);	 /* staff: the live staff feed; take over, hand back */
int ctl_enroll(int argc, char **argv);	 /* enroll: face consent + one embedding */
int ctl_forget(int argc, char **argv);	 /* forget CUSTOMER: erase every trace */
int ctl_not_them(int argc, char **argv); /* not-them CUSTOMER EMBEDDING: a wrong match */
int ctl_hil(int argc, char **argv);	 /* hil run SCENARIO... | hil check SCENARIO... */
int ctl_diag(int argc, char **argv);	 /* diag: PASS/WARN/FAIL per check, with the fix */
int ctl_status(int argc, char **argv);	 /* status [--watch]: through the control socket */
int ctl_logs(int argc, char **argv);	 /* logs: events and escalations, filtered */
int ctl_config(int argc, char **argv);	 /* config check FILE | config show */
int ctl_pair(int argc, char **argv);	 /* pair: a one-time PIN for a staff tablet */
int ctl_unpair(int argc, char **argv);	 /* unpair DEVICE */
int ctl_bundle(int argc, char **argv);	 /* bundle: a diagnostics archive for support */
int ctl_update(int argc, char **argv);	 /* update BUNDLE | --status | --boot | --make-bundle ... */

#endif
