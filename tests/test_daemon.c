/*
 * The real daemon, end to end, on replay drivers: it starts, runs every
 * stage, records events in the store, reloads on SIGHUP, refuses bad
 * configs, survives a missing device, and shuts down in order on SIGTERM.
 * Runs build/bin/edgeboxd (or $EDGEBOX_BIN/edgeboxd).
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/daemon.h"

static struct test_box box;

/* A box in the test's folder NAME, its config NAME.conf. */
static int setup(const char *name)
{
	char conf[64];

	snprintf(conf, sizeof(conf), "%s.conf", name);
	return test_box_init(&box, test_tmpdir(), name, conf);
}

/* A sim config with paths into the repository and state in the box. */
static int write_config(void)
{
	return test_box_write_conf(
	    &box, "[daemon]\nlog_level = info\nrealtime = false\nstatus_file = @DIR@/status.json\n"
		  "status_interval_ms = 100\n"
		  "[store]\npath = @DIR@/edgebox.db\n"
		  "[ble]\ndriver = btsnoop\nfile = @REPO@/tests/fixtures/ble/walk_in.btsnoop\n"
		  "speed = 4\nloop = true\n"
		  "[beacons]\nuuid = E2C56DB5-DFFB-48D2-B060-D0F5A71096E0\n"
		  "[camera]\ndriver = replay\npath = @REPO@/tests/fixtures/camera\nfps = 20\n"
		  "loop = true\n"
		  "[gpio]\ndriver = replay\nscript = @REPO@/tests/fixtures/gpio/door.script\n"
		  "speed = 8\n"
		  "[kiosk]\nsocket = @DIR@/kiosk.sock\n[staff]\nsocket = @DIR@/staff.sock\n"
		  "[faces]\nmodels = @REPO@/models\n"
		  "[watchdog]\ndriver = soft\ntimeout_s = 5\n");
}

/* edgeboxctl status on this test's status file: its exit status. */
static int ctl_status(void)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "%s/edgeboxctl status --status-file %s/status.json >%s/ctl.out 2>&1",
		 test_bin_dir(), box.dir, box.dir);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static cJSON *status(void)
{
	char path[600], *text;
	cJSON *root;

	snprintf(path, sizeof(path), "%s/status.json", box.dir);
	text = test_read_file(path, NULL);
	if (!text)
		return NULL;
	root = cJSON_Parse(text);
	free(text);
	return root;
}

static const cJSON *stage(const cJSON *root, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(root, "stages"))
	{
		if (strcmp(cJSON_GetObjectItem(s, "name")->valuestring, name) == 0)
			return s;
	}
	return NULL;
}

static double stage_num(const cJSON *root, const char *name, const char *key)
{
	const cJSON *s = stage(root, name);

	return s ? cJSON_GetObjectItem(s, key)->valuedouble : -1;
}

static const char *stage_str(const cJSON *root, const char *name, const char *key)
{
	const cJSON *s = stage(root, name);
	const cJSON *v = s ? cJSON_GetObjectItem(s, key) : NULL;

	return v && cJSON_IsString(v) ? v->valuestring : "";
}

/* Counts audit rows of a kind (a word) in the store, as any reader would. */
static int audit_count(const char *kind)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE kind = '%s'", kind);
	return test_box_rows(&box, sql);
}

#define WAIT_FOR(ms, cond)                                                                         \
	do {                                                                                       \
		for (int w_ = 0; w_ < (ms) / 50 && !(cond); w_++)                                  \
			usleep(50000);                                                             \
	} while (0)

TEST(runs_on_replay_drivers_records_events_reloads_and_stops_in_order)
{
	char out[600], *text;
	cJSON *st = NULL;

	ASSERT_EQ(setup("sim"), 0);
	ASSERT_EQ(write_config(), 0);
	ASSERT_EQ(test_box_start(&box, NULL), 0);

	/* Every stage runs and items flow through every ring. The face stage
	 * runs at the lowest priority and dlib is slow under ASan, so on a busy
	 * box its first frames take a while: wait long (it ends at once when
	 * they are there). */
	WAIT_FOR(TEST_SANITIZED ? 60000 : 20000,
		 (cJSON_Delete(st), st = status()) && stage_num(st, "conversation", "items") >= 3 &&
		     stage_num(st, "face", "items") > 5 && stage_num(st, "presence", "items") > 5 &&
		     audit_count("approach") >= 1 && audit_count("motion_start") >= 1);
	ASSERT_MSG(st, "no status file; log:\n%s", test_box_log(&box));
	ASSERT_STREQ(stage_str(st, "conversation", "state"), "running");
	ASSERT_STREQ(stage_str(st, "camera", "state"), "running");
	ASSERT_STREQ(stage_str(st, "ble", "state"), "running");
	ASSERT_CONTAINS(stage_str(st, "conversation", "sched"), "nice -10");
	ASSERT_CONTAINS(stage_str(st, "face", "sched"), "nice 10");
	ASSERT(stage_num(st, "conversation", "items") >= 3);
	ASSERT(stage_num(st, "face", "items") > 5);
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(st, "healthy")));
	ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "watchdog"), "keepalives")->valuedouble >
	       0);
	cJSON_Delete(st);
	st = NULL;

	/* What a technician sees. */
	ASSERT_EQ(ctl_status(), 0);
	snprintf(out, sizeof(out), "%s/ctl.out", box.dir);
	text = test_read_file(out, NULL);
	ASSERT_CONTAINS(text, "running");
	ASSERT_CONTAINS(text, "conversation");
	ASSERT_CONTAINS(text, "watchdog: soft");
	free(text);

	/* SIGHUP rebuilds the pipeline; the daemon stays up. */
	/* (a reload waits for the face stage to finish its frame and reloads
	 * the agent's knowledge and the models: seconds, not milliseconds) */
	ASSERT_EQ(test_box_signal(&box, SIGHUP), 0);
	for (int i = 0; i < 200 && !strstr(test_box_log(&box), "config reloaded"); i++)
		usleep(50000);
	ASSERT_EQ(test_box_wait(&box, 100), -ETIMEDOUT);
	ASSERT_MSG(strstr(test_box_log(&box), "config reloaded"), "no reload within 10 s");

	/* SIGTERM: clean exit, and the events are in the store. */
	ASSERT_EQ(test_box_stop(&box), 0);
	ASSERT_EQ(ctl_status(), 3); /* stopped */
	ASSERT_MSG(audit_count("approach") >= 1, "approach rows: %d", audit_count("approach"));
	ASSERT_MSG(audit_count("door") >= 1, "door rows: %d", audit_count("door"));
	ASSERT_MSG(audit_count("motion_start") >= 1, "motion rows: %d",
		   audit_count("motion_start"));
	ASSERT_CONTAINS(test_box_log(&box), "stopped");
}

TEST(bad_config_is_refused_with_file_line_and_key)
{
	const char *log;

	ASSERT_EQ(setup("bad"), 0);

	test_box_write_conf(&box, "[store]\npath = x.db\n[ble]\ndriver = bluetooth\n");
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_wait(&box, 5000), 2);
	log = test_box_log(&box);
	ASSERT_CONTAINS(log, "[ble] driver: expected none, hci, btsnoop; got 'bluetooth'");
	ASSERT_CONTAINS(log, "not starting");

	test_box_write_conf(&box, "[store]\npath = x.db\n[daemon]\ntick_ms = 5\n");
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_wait(&box, 5000), 2);
	ASSERT_CONTAINS(
	    test_box_log(&box),
	    "bad.conf:4: [daemon] tick_ms: expected a whole number from 10 to 1000, got '5'");

	/* A config refused for an unknown key never opens the display sockets:
	 * a listener already on the kiosk's path would be reported if it did. */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		ASSERT(strlen(box.dir) < 90); /* a socket path is short */
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/kiosk.sock", box.dir);
		ASSERT(fd >= 0);
		ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ASSERT_EQ(listen(fd, 1), 0);
		test_box_write_conf(&box,
				    "[store]\npath = x.db\n[daemon]\nlog_levle = debug\n"
				    "[kiosk]\nsocket = @DIR@/kiosk.sock\n[staff]\nsocket = none\n");
		ASSERT_EQ(test_box_start(&box, NULL), 0);
		ASSERT_EQ(test_box_wait(&box, 5000), 2);
		ASSERT_CONTAINS(test_box_log(&box), "bad.conf:4: [daemon] log_levle: unknown key");
		ASSERT_MSG(!strstr(test_box_log(&box), "kiosk socket"),
			   "the refused daemon opened its kiosk socket:\n%s", test_box_log(&box));
		close(fd);
	}
}

TEST(missing_hardware_leaves_the_box_running_degraded)
{
	const char *log;
	cJSON *st = NULL;

	ASSERT_EQ(setup("nohw"), 0);
	/* Real drivers for BLE and the camera; this machine has neither. */
	ASSERT_EQ(test_box_write_conf(&box,
				      "[daemon]\nlog_level = info\nrealtime = false\n"
				      "status_file = @DIR@/status.json\n"
				      "status_interval_ms = 100\n[store]\npath = @DIR@/edgebox.db\n"
				      "[supervisor]\nmax_failures = 1\nbackoff_initial_ms = 20\n"
				      "[ble]\ndriver = hci\nadapter = hci7\n"
				      "[camera]\ndriver = v4l2\ndevice = /dev/video77\n"
				      "[kiosk]\nsocket = none\n[staff]\nsocket = none\n"
				      "[watchdog]\ndriver = soft\n"),
		  0);
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	WAIT_FOR(5000, (cJSON_Delete(st), st = status()) &&
			   strcmp(stage_str(st, "ble", "state"), "failed") == 0 &&
			   strcmp(stage_str(st, "camera", "state"), "failed") == 0);
	ASSERT_MSG(st, "no status; log:\n%s", test_box_log(&box));
	ASSERT_STREQ(stage_str(st, "ble", "state"), "failed");
	ASSERT_STREQ(stage_str(st, "camera", "state"), "failed");
	ASSERT_STREQ(stage_str(st, "conversation", "state"), "running");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(st, "healthy")));
	cJSON_Delete(st);
	ASSERT_EQ(test_box_wait(&box, 10), -ETIMEDOUT);
	log = test_box_log(&box);
	ASSERT_CONTAINS(log, "hci7");
	ASSERT_CONTAINS(log, "btsnoop");
	ASSERT_CONTAINS(log, "/dev/video77");
	ASSERT_CONTAINS(log, "driver = replay");
	ASSERT_CONTAINS(log, "degraded");
	ASSERT_EQ(test_box_stop(&box), 0);
}

/* The shipped configs name only keys the daemon knows, and start. */
TEST(shipped_configs_start)
{
	static const char *const files[] = {"config/sim.conf", "config/edgebox.conf"};
	char store[700], status_file[700];
	cJSON *st = NULL;

	ASSERT_EQ(setup("shipped"), 0);
	snprintf(store, sizeof(store), "store.path=%s", box.db);
	snprintf(status_file, sizeof(status_file), "daemon.status_file=%s/status.json", box.dir);
	for (int i = 0; i < 2; i++) {
		const char *sets[] = {store,
				      status_file,
				      "daemon.realtime=false",
				      "daemon.status_interval_ms=100",
				      "kiosk.socket=none",
				      "staff.socket=none",
				      "control.socket=none",
				      NULL};

		unlink(status_file + strlen("daemon.status_file="));
		snprintf(box.conf, sizeof(box.conf), "%s", files[i]);
		ASSERT_EQ(test_box_start(&box, sets), 0);
		WAIT_FOR(5000, (cJSON_Delete(st), st = status()) &&
				   strcmp(stage_str(st, "conversation", "state"), "running") == 0);
		ASSERT_MSG(st && strcmp(stage_str(st, "conversation", "state"), "running") == 0,
			   "%s did not come up:\n%s", files[i], test_box_log(&box));
		cJSON_Delete(st);
		st = NULL;
		ASSERT_EQ(test_box_stop(&box), 0);
	}
}

/* A/B update: after an install the new slot is on trial; the daemon marks it
 * good once the supervisor has been healthy for healthy_for_s. */
TEST(new_firmware_on_trial_is_marked_good_when_healthy)
{
	const char *env = test_bin_dir(), *log;
	char cmd[4096], bin[512], cwd[256], *text;

	ASSERT_EQ(setup("update"), 0);
	ASSERT(getcwd(cwd, sizeof(cwd)));
	snprintf(bin, sizeof(bin), "%s%s%s", env[0] == '/' ? "" : cwd, env[0] == '/' ? "" : "/",
		 env);
	/* keys, a payload, a signed bundle; the box's config points at them */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s/edgeboxctl update --keygen key >/dev/null && "
		 "head -c 100000 /dev/urandom > payload && "
		 "%s/edgeboxctl update --make-bundle --key key --hardware-id rig-1 --version 1.1.0 "
		 "--payload payload -o fw.bundle >/dev/null && : > slot_a && : > slot_b",
		 box.dir, bin, bin);
	ASSERT_EQ(system(cmd), 0);
	ASSERT_EQ(
	    test_box_write_conf(
		&box,
		"[daemon]\nrealtime = false\nstatus_file = @DIR@/status.json\n"
		"[store]\npath = @DIR@/edgebox.db\n[kiosk]\nsocket = none\n"
		"[staff]\nsocket = none\n"
		"[update]\nslot_a = @DIR@/slot_a\nslot_b = @DIR@/slot_b\n"
		"state = @DIR@/update.state\nhardware_id = rig-1\npublic_key = @DIR@/key.pub\n"
		"factory_version = 1.0.0\nhealthy_for_s = 1\nhealthy_within_s = 30\n"),
	    0);
	snprintf(cmd, sizeof(cmd),
		 "%s/edgeboxctl update %s/fw.bundle --config %s >%s/install.log 2>&1", bin, box.dir,
		 box.conf, box.dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl update --status --config %s > %s/status.txt 2>&1",
		 bin, box.conf, box.dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/status.txt", box.dir);
	text = test_read_file(cmd, NULL);
	ASSERT_CONTAINS(text, "trying");
	free(text);

	ASSERT_EQ(test_box_start(&box, NULL), 0);
	for (int i = 0; i < 100 && !strstr(test_box_log(&box), "marked good"); i++)
		usleep(100000);
	log = test_box_log(&box);
	ASSERT_CONTAINS(log, "on trial");
	ASSERT_CONTAINS(log, "marked good");
	ASSERT_EQ(test_box_stop(&box), 0);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl update --status --config %s > %s/status.txt 2>&1",
		 bin, box.conf, box.dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/status.txt", box.dir);
	text = test_read_file(cmd, NULL);
	ASSERT(!strstr(text, "trying"));
	free(text);
}

/* Sends hello with a token, then asks for a session that does not exist:
 * an admitted tablet hears "no_session", a refused one "unauthorized". */
static void staff_try(const char *token, char *out, size_t len)
{
	struct test_client c;
	char line[512], buf[1024];

	out[0] = '\0';
	if (test_box_connect(&box, "staff.sock", &c) < 0)
		return;
	snprintf(line, sizeof(line),
		 "{\"v\":1,\"type\":\"hello\",\"device\":\"tablet-1\",\"token\":\"%s\"}\n"
		 "{\"v\":1,\"type\":\"take_over\",\"session\":99}\n",
		 token);
	if (test_client_send(&c, line) == 0) {
		for (int i = 0; i < 5 && test_client_line(&c, 1000, buf, sizeof(buf)) > 0; i++) {
			strncat(out, buf, len - strlen(out) - 2);
			strcat(out, "\n");
		}
	}
	test_client_close(&c);
}

TEST(staff_tablet_pairs_with_a_pin_and_comes_back_with_its_token)
{
	char cmd[2048], out[4096], token[200] = "";
	char pin[16] = "", *text, *t;

	ASSERT_EQ(setup("pair"), 0);
	ASSERT_EQ(test_box_write_conf(&box,
				      "[daemon]\nrealtime = false\n"
				      "status_file = @DIR@/status.json\n"
				      "[store]\npath = @DIR@/edgebox.db\n[kiosk]\nsocket = none\n"
				      "[staff]\nsocket = @DIR@/staff.sock\npairing = required\n"),
		  0);
	/* the written config ends with [control] socket = none: this test wants one */
	ASSERT_EQ(test_box_append_conf(&box, "[control]\nsocket = @DIR@/control.sock\n"), 0);
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	snprintf(cmd, sizeof(cmd), "%s/control.sock", box.dir);
	for (int i = 0; i < 100 && access(cmd, F_OK) != 0; i++)
		usleep(50000);
	/* before pairing: refused */
	staff_try("123456", out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized");
	/* the technician asks for a PIN */
	snprintf(cmd, sizeof(cmd),
		 "%s/edgeboxctl pair --socket %s/control.sock --json > %s/pin.json", test_bin_dir(),
		 box.dir, box.dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/pin.json", box.dir);
	text = test_read_file(cmd, NULL);
	ASSERT(text && (t = strstr(text, "\"pin\":\"")));
	snprintf(pin, sizeof(pin), "%.6s", t + 7);
	free(text);
	/* the tablet redeems it once and gets its token */
	staff_try(pin, out, sizeof(out));
	ASSERT_CONTAINS(out, "\"type\":\"paired\"");
	ASSERT((t = strstr(out, "\"token\":\"")));
	snprintf(token, sizeof(token), "%.64s", t + 9);
	ASSERT_CONTAINS(out, "no_session");
	staff_try(pin, out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized"); /* single use */
	/* later hellos use the token */
	staff_try(token, out, sizeof(out));
	ASSERT_CONTAINS(out, "no_session");
	ASSERT(!strstr(out, "unauthorized"));
	token[0] = token[0] == 'a' ? 'b' : 'a';
	staff_try(token, out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized");
	ASSERT_EQ(test_box_stop(&box), 0);
}
