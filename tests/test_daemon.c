/*
 * The real daemon, end to end, on replay drivers: it starts, runs every
 * stage, records events in the store, reloads on SIGHUP, refuses bad
 * configs, survives a missing device, and shuts down in order on SIGTERM.
 * Runs build/bin/edgeboxd (or $EDGEBOX_BIN/edgeboxd).
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char daemon_path[512];
static char ctl_path[512];
static char dir[512];

static void setup(const char *name)
{
	const char *bin = getenv("EDGEBOX_BIN");

	snprintf(daemon_path, sizeof(daemon_path), "%s/edgeboxd", bin ? bin : "build/bin");
	snprintf(ctl_path, sizeof(ctl_path), "%s/edgeboxctl", bin ? bin : "build/bin");
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
	mkdir(dir, 0755);
}

/* The agent's files live in the repository, not beside the test config. */
static const char *agent_section(void)
{
	static char buf[4096];
	char cwd[256];

	if (!getcwd(cwd, sizeof(cwd)))
		return "";
	snprintf(buf, sizeof(buf),
		 "[agent]\nscope_rules = %s/config/scope_rules.conf\nsignals = %s/config/signals.conf\n"
		 "archetypes = %s/config/archetypes.conf\nskills = %s/skills/manifest.conf\n"
		 "catalog = %s/catalog\n[control]\nsocket = none\n",
		 cwd, cwd, cwd, cwd, cwd);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fputs(agent_section(), f);
		fclose(f);
	}
}

/* A sim config with paths into the repository and state in dir. */
static void write_config(const char *path, const char *extra)
{
	char cwd[256], text[4096];

	if (!getcwd(cwd, sizeof(cwd)))
		return;
	snprintf(text, sizeof(text),
		 "[daemon]\nlog_level = info\nrealtime = false\nstatus_file = %s/status.json\n"
		 "status_interval_ms = 100\n"
		 "[store]\npath = %s/edgebox.db\n"
		 "[ble]\ndriver = btsnoop\nfile = %s/tests/fixtures/ble/walk_in.btsnoop\nspeed = 4\n"
		 "loop = true\n"
		 "[beacons]\nuuid = E2C56DB5-DFFB-48D2-B060-D0F5A71096E0\n"
		 "[camera]\ndriver = replay\npath = %s/tests/fixtures/camera\nfps = 20\nloop = true\n"
		 "[gpio]\ndriver = replay\nscript = %s/tests/fixtures/gpio/door.script\nspeed = 8\n"
		 "[kiosk]\nsocket = %s/kiosk.sock\n[staff]\nsocket = %s/staff.sock\n"
		 "[faces]\nmodels = %s/models\n"
		 "[watchdog]\ndriver = soft\ntimeout_s = 5\n%s",
		 dir, dir, cwd, cwd, cwd, dir, dir, cwd, extra ? extra : "");
	write_file(path, text);
}

/* Starts edgeboxd --config conf [--set s]... with its output in log. */
static pid_t start_with(const char *conf, const char *log, const char *const *sets)
{
	pid_t pid = fork();

	if (pid == 0) {
		const char *argv[32] = {"edgeboxd", "--config", conf};
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644), n = 3;

		for (; sets && *sets && n < 29; sets++) {
			argv[n++] = "--set";
			argv[n++] = *sets;
		}
		dup2(fd, 1);
		dup2(fd, 2);
		execv(daemon_path, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static pid_t start(const char *conf, const char *log)
{
	return start_with(conf, log, NULL);
}

/* Waits up to ms for the child; its exit status, or -1 if still running. */
static int wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	return -1;
}


/* edgeboxctl status on this test's status file: its exit status. */
static int ctl_status(void)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s status --status-file %s/status.json >%s/ctl.out 2>&1",
		 ctl_path, dir, dir);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static cJSON *status(void)
{
	char path[600], *text;
	cJSON *root;

	snprintf(path, sizeof(path), "%s/status.json", dir);
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

/* Counts audit rows of a kind in the store, as any reader would. */
static int audit_count(const char *kind)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/edgebox.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit WHERE kind = ?", -1, &st, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

#define WAIT_FOR(ms, cond)                                                                         \
	do {                                                                                       \
		for (int w_ = 0; w_ < (ms) / 50 && !(cond); w_++)                                  \
			usleep(50000);                                                             \
	} while (0)

TEST(runs_on_replay_drivers_records_events_reloads_and_stops_in_order)
{
	char conf[600], log[600], *text;
	cJSON *st = NULL;
	pid_t pid;

	setup("sim");
	snprintf(conf, sizeof(conf), "%s/sim.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	write_config(conf, NULL);
	pid = start(conf, log);
	ASSERT(pid > 0);

	/* Every stage runs and items flow through every ring. */
	WAIT_FOR(8000, (cJSON_Delete(st), st = status()) && stage_num(st, "conversation", "items") >= 3 &&
			       stage_num(st, "face", "items") > 5 && stage_num(st, "presence", "items") > 5 &&
			       audit_count("approach") >= 1 && audit_count("motion_start") >= 1);
	ASSERT_MSG(st, "no status file; log:\n%s", test_read_file(log, NULL));
	ASSERT_STREQ(stage_str(st, "conversation", "state"), "running");
	ASSERT_STREQ(stage_str(st, "camera", "state"), "running");
	ASSERT_STREQ(stage_str(st, "ble", "state"), "running");
	ASSERT_CONTAINS(stage_str(st, "conversation", "sched"), "nice -10");
	ASSERT_CONTAINS(stage_str(st, "face", "sched"), "nice 10");
	ASSERT(stage_num(st, "conversation", "items") >= 3);
	ASSERT(stage_num(st, "face", "items") > 5);
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(st, "healthy")));
	ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "watchdog"), "keepalives")->valuedouble > 0);
	cJSON_Delete(st);
	st = NULL;

	/* What a technician sees. */
	ASSERT_EQ(ctl_status(), 0);
	snprintf(log, sizeof(log), "%s/ctl.out", dir);
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "running");
	ASSERT_CONTAINS(text, "conversation");
	ASSERT_CONTAINS(text, "watchdog: soft");
	free(text);
	snprintf(log, sizeof(log), "%s/log", dir);

	/* SIGHUP rebuilds the pipeline; the daemon stays up. */
	/* (a reload waits for the face stage to finish its frame and reloads
	 * the agent's knowledge and the models: seconds, not milliseconds) */
	ASSERT_EQ(kill(pid, SIGHUP), 0);
	for (int i = 0; i < 200; i++) {
		text = test_read_file(log, NULL);
		if (text && strstr(text, "config reloaded"))
			break;
		free(text);
		text = NULL;
		usleep(50000);
	}
	ASSERT_EQ(wait_exit(pid, 100), -1);
	ASSERT_MSG(text, "no reload within 10 s");
	free(text);

	/* SIGTERM: clean exit, and the events are in the store. */
	ASSERT_EQ(kill(pid, SIGTERM), 0);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
	ASSERT_EQ(ctl_status(), 3); /* stopped */
	ASSERT_MSG(audit_count("approach") >= 1, "approach rows: %d", audit_count("approach"));
	ASSERT_MSG(audit_count("door") >= 1, "door rows: %d", audit_count("door"));
	ASSERT_MSG(audit_count("motion_start") >= 1, "motion rows: %d",
		   audit_count("motion_start"));
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "stopped");
	free(text);
}

TEST(bad_config_is_refused_with_file_line_and_key)
{
	char conf[600], log[600], *text;
	pid_t pid;

	setup("bad");
	snprintf(conf, sizeof(conf), "%s/bad.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);

	write_file(conf, "[store]\npath = x.db\n[ble]\ndriver = bluetooth\n");
	pid = start(conf, log);
	ASSERT_EQ(wait_exit(pid, 5000), 2);
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "[ble] driver: expected none, hci, btsnoop; got 'bluetooth'");
	ASSERT_CONTAINS(text, "not starting");
	free(text);

	write_file(conf, "[store]\npath = x.db\n[daemon]\ntick_ms = 5\n");
	pid = start(conf, log);
	ASSERT_EQ(wait_exit(pid, 5000), 2);
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "bad.conf:4: [daemon] tick_ms: expected a whole number from 10 to 1000, got '5'");
	free(text);

	write_file(conf, "[store]\npath = x.db\n[daemon]\nlog_levle = debug\n");
	pid = start(conf, log);
	ASSERT_EQ(wait_exit(pid, 5000), 2);
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "bad.conf:4: [daemon] log_levle: unknown key");
	free(text);
}

TEST(missing_hardware_leaves_the_box_running_degraded)
{
	char conf[600], log[600], *text;
	cJSON *st = NULL;
	pid_t pid;

	setup("nohw");
	snprintf(conf, sizeof(conf), "%s/nohw.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	/* Real drivers for BLE and the camera; this machine has neither. */
	{
		char text[2048];

		snprintf(text, sizeof(text),
			 "[daemon]\nlog_level = info\nrealtime = false\nstatus_file = %s/status.json\n"
			 "status_interval_ms = 100\n[store]\npath = %s/edgebox.db\n"
			 "[supervisor]\nmax_failures = 1\nbackoff_initial_ms = 20\n"
			 "[ble]\ndriver = hci\nadapter = hci7\n"
			 "[camera]\ndriver = v4l2\ndevice = /dev/video77\n"
			 "[kiosk]\nsocket = none\n[staff]\nsocket = none\n"
			 "[watchdog]\ndriver = soft\n",
			 dir, dir);
		write_file(conf, text);
	}
	pid = start(conf, log);
	WAIT_FOR(5000, (cJSON_Delete(st), st = status()) &&
			       strcmp(stage_str(st, "ble", "state"), "failed") == 0 &&
			       strcmp(stage_str(st, "camera", "state"), "failed") == 0);
	ASSERT_MSG(st, "no status; log:\n%s", test_read_file(log, NULL));
	ASSERT_STREQ(stage_str(st, "ble", "state"), "failed");
	ASSERT_STREQ(stage_str(st, "camera", "state"), "failed");
	ASSERT_STREQ(stage_str(st, "conversation", "state"), "running");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(st, "healthy")));
	cJSON_Delete(st);
	ASSERT_EQ(wait_exit(pid, 10), -1);
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "hci7");
	ASSERT_CONTAINS(text, "btsnoop");
	ASSERT_CONTAINS(text, "/dev/video77");
	ASSERT_CONTAINS(text, "driver = replay");
	ASSERT_CONTAINS(text, "degraded");
	free(text);
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
}

/* The shipped configs name only keys the daemon knows, and start. */
TEST(shipped_configs_start)
{
	static const char *const files[] = {"config/sim.conf", "config/edgebox.conf"};
	char log[600], store[600], status_file[600], *text;
	cJSON *st = NULL;

	setup("shipped");
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(store, sizeof(store), "store.path=%s/edgebox.db", dir);
	snprintf(status_file, sizeof(status_file), "daemon.status_file=%s/status.json", dir);
	for (int i = 0; i < 2; i++) {
		const char *sets[] = {store, status_file, "daemon.realtime=false",
				      "daemon.status_interval_ms=100", "kiosk.socket=none",
				      "staff.socket=none", "control.socket=none", NULL};
		pid_t pid;

		unlink(status_file + strlen("daemon.status_file="));
		pid = start_with(files[i], log, sets);
		WAIT_FOR(5000, (cJSON_Delete(st), st = status()) &&
				       strcmp(stage_str(st, "conversation", "state"), "running") == 0);
		text = test_read_file(log, NULL);
		ASSERT_MSG(st && strcmp(stage_str(st, "conversation", "state"), "running") == 0,
			   "%s did not come up:\n%s", files[i], text);
		free(text);
		cJSON_Delete(st);
		st = NULL;
		kill(pid, SIGTERM);
		ASSERT_EQ(wait_exit(pid, 5000), 0);
	}
}

/* A/B update: after an install the new slot is on trial; the daemon marks it
 * good once the supervisor has been healthy for healthy_for_s. */
TEST(new_firmware_on_trial_is_marked_good_when_healthy)
{
	const char *env = getenv("EDGEBOX_BIN");
	char conf[600], log[600], cmd[4096], bin[512], cwd[256], *text;
	pid_t pid;
	int rc;

	setup("update");
	ASSERT(getcwd(cwd, sizeof(cwd)));
	snprintf(bin, sizeof(bin), "%s%s%s", env && env[0] == '/' ? "" : cwd,
		 env && env[0] == '/' ? "" : "/", env ? env : "build/bin");
	snprintf(conf, sizeof(conf), "%s/update.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	/* keys, a payload, a signed bundle; the box's config points at them */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s/edgeboxctl update --keygen key >/dev/null && "
		 "head -c 100000 /dev/urandom > payload && "
		 "%s/edgeboxctl update --make-bundle --key key --hardware-id rig-1 --version 1.1.0 "
		 "--payload payload -o fw.bundle >/dev/null && : > slot_a && : > slot_b",
		 dir, bin, bin);
	ASSERT_EQ(system(cmd), 0);
	{
		char text2[8192];

		snprintf(text2, sizeof(text2),
			 "[daemon]\nrealtime = false\nstatus_file = %s/status.json\n"
			 "[store]\npath = %s/edgebox.db\n[kiosk]\nsocket = none\n[staff]\nsocket = none\n"
			 "[update]\nslot_a = %s/slot_a\nslot_b = %s/slot_b\nstate = %s/update.state\n"
			 "hardware_id = rig-1\npublic_key = %s/key.pub\nfactory_version = 1.0.0\n"
			 "healthy_for_s = 1\nhealthy_within_s = 30\n",
			 dir, dir, dir, dir, dir, dir);
		write_file(conf, text2);
	}
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl update %s/fw.bundle --config %s >%s/install.log 2>&1",
		 bin, dir, conf, dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl update --status --config %s > %s/status.txt 2>&1",
		 bin, conf, dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/status.txt", dir);
	text = test_read_file(cmd, NULL);
	ASSERT_CONTAINS(text, "trying");
	free(text);

	pid = start(conf, log);
	for (int i = 0; i < 100; i++) {
		text = test_read_file(log, NULL);
		rc = text && strstr(text, "marked good") != NULL;
		free(text);
		if (rc)
			break;
		usleep(100000);
	}
	text = test_read_file(log, NULL);
	ASSERT_CONTAINS(text, "on trial");
	ASSERT_CONTAINS(text, "marked good");
	free(text);
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl update --status --config %s > %s/status.txt 2>&1",
		 bin, conf, dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/status.txt", dir);
	text = test_read_file(cmd, NULL);
	ASSERT(!strstr(text, "trying"));
	free(text);
}

/* Reads up to one line (1 s); the line in buf, or "" on timeout. */
static const char *read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < 100 && n + 1 < len; i++) {
		ssize_t r = recv(fd, buf + n, 1, MSG_DONTWAIT);

		if (r == 1) {
			if (buf[n] == '\n')
				break;
			n++;
			i = 0;
			continue;
		}
		usleep(10000);
	}
	buf[n] = '\0';
	return buf;
}

static int staff_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends hello with a token, then asks for a session that does not exist:
 * an admitted tablet hears "no_session", a refused one "unauthorized". */
static void staff_try(const char *path, const char *token, char *out, size_t len)
{
	char line[512], buf[1024];
	int fd = staff_connect(path);

	out[0] = '\0';
	if (fd < 0)
		return;
	snprintf(line, sizeof(line),
		 "{\"v\":1,\"type\":\"hello\",\"device\":\"tablet-1\",\"token\":\"%s\"}\n"
		 "{\"v\":1,\"type\":\"take_over\",\"session\":99}\n",
		 token);
	if (write(fd, line, strlen(line)) < 0)
		return;
	for (int i = 0; i < 5; i++) {
		read_line(fd, buf, sizeof(buf));
		if (!buf[0])
			break;
		strncat(out, buf, len - strlen(out) - 2);
		strcat(out, "\n");
	}
	close(fd);
}

TEST(staff_tablet_pairs_with_a_pin_and_comes_back_with_its_token)
{
	const char *bin = getenv("EDGEBOX_BIN");
	char conf[600], log[600], cmd[2048], staffsock[600], out[4096], token[200] = "";
	char pin[16] = "", *text, *t;
	pid_t pid;

	setup("pair");
	snprintf(conf, sizeof(conf), "%s/pair.conf", dir);
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(staffsock, sizeof(staffsock), "%s/staff.sock", dir);
	{
		char text2[4096];

		snprintf(text2, sizeof(text2),
			 "[daemon]\nrealtime = false\nstatus_file = %s/status.json\n"
			 "[store]\npath = %s/edgebox.db\n[kiosk]\nsocket = none\n"
			 "[staff]\nsocket = %s\npairing = required\n",
			 dir, dir, staffsock);
		write_file(conf, text2);
		/* write_file ends with [control] socket = none: this test wants one */
		FILE *f = fopen(conf, "a");
		ASSERT(f);
		fprintf(f, "[control]\nsocket = %s/control.sock\n", dir);
		fclose(f);
	}
	pid = start(conf, log);
	snprintf(cmd, sizeof(cmd), "%s/control.sock", dir);
	for (int i = 0; i < 100 && access(cmd, F_OK) != 0; i++)
		usleep(50000);
	/* before pairing: refused */
	staff_try(staffsock, "123456", out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized");
	/* the technician asks for a PIN */
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl pair --socket %s/control.sock --json > %s/pin.json",
		 bin ? bin : "build/bin", dir, dir);
	ASSERT_EQ(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/pin.json", dir);
	text = test_read_file(cmd, NULL);
	ASSERT(text && (t = strstr(text, "\"pin\":\"")));
	snprintf(pin, sizeof(pin), "%.6s", t + 7);
	free(text);
	/* the tablet redeems it once and gets its token */
	staff_try(staffsock, pin, out, sizeof(out));
	ASSERT_CONTAINS(out, "\"type\":\"paired\"");
	ASSERT((t = strstr(out, "\"token\":\"")));
	snprintf(token, sizeof(token), "%.64s", t + 9);
	ASSERT_CONTAINS(out, "no_session");
	staff_try(staffsock, pin, out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized"); /* single use */
	/* later hellos use the token */
	staff_try(staffsock, token, out, sizeof(out));
	ASSERT_CONTAINS(out, "no_session");
	ASSERT(!strstr(out, "unauthorized"));
	token[0] = token[0] == 'a' ? 'b' : 'a';
	staff_try(staffsock, token, out, sizeof(out));
	ASSERT_CONTAINS(out, "unauthorized");
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
}
