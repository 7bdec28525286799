/*
 * firmware/diag: each check on crafted situations (missing and damaged
 * models, a corrupt database, replay drivers, device nodes, a live status,
 * disk thresholds through an injected statvfs, the clock through an injected
 * time, the LLM against tests/llm_server.py), the config checker, config
 * redaction, audit sanitizing and the bundle writer.
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firmware/diag.h"
#include "firmware/store.h"

#define MS_2025_06 1748736000000LL /* 2025-06-01 */
#define DAY_MS 86400000LL

static char dir[512];

static const char *mkdirp(const char *name)
{
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
	mkdir(dir, 0755);
	return dir;
}

/* The agent's files are in the repository, not beside a test config. */
static const char *agent_section(void)
{
	static char buf[2048];
	char cwd[256];

	if (!getcwd(cwd, sizeof(cwd)))
		return "";
	snprintf(
	    buf, sizeof(buf),
	    "[agent]\nscope_rules = %s/config/scope_rules.conf\nsignals = %s/config/signals.conf\n"
	    "archetypes = %s/config/archetypes.conf\nskills = %s/skills/manifest.conf\n"
	    "catalog = %s/catalog\n",
	    cwd, cwd, cwd, cwd, cwd);
	return buf;
}

/* A config in dir: its text is body; writes dir/box.conf and returns its path
 * (a failed write fails the current test). */
static const char *config(const char *d, const char *body)
{
	static char path[600];
	char text[8192];
	int rc;

	snprintf(path, sizeof(path), "%s/box.conf", d);
	snprintf(text, sizeof(text), "%s\n[store]\npath = %s/edgebox.db\n", body, d);
	rc = test_write_file(path, text, strlen(text));
	if (rc < 0)
		test_fail(__FILE__, __LINE__, "cannot write %s: %s", path, strerror(-rc));
	return path;
}

static struct diag *open_diag(const char *cfg, const char *status)
{
	struct diag_env env = {.config_path = cfg, .status_json = status};
	struct diag *d = NULL;

	if (diag_new(&env, &d) < 0)
		return NULL;
	return d;
}

/* ---- models ------------------------------------------------------------------ */

TEST(model_hashes_match_deps_sh)
{
	char *deps = test_read_file("firmware/deps.sh", NULL);

	ASSERT_MSG(deps, "cannot read firmware/deps.sh (tests run from the repository root)");
	ASSERT_CONTAINS(deps, DIAG_MODEL_LANDMARKS ":" DIAG_MODEL_LANDMARKS_SHA256);
	ASSERT_CONTAINS(deps, DIAG_MODEL_EMBEDDER ":" DIAG_MODEL_EMBEDDER_SHA256);
	free(deps);
}

TEST(missing_model_fails_with_make_deps)
{
	const char *d = mkdirp("models_missing");
	char body[2048];
	struct diag_check c;
	struct diag *dg;

	snprintf(body, sizeof(body),
		 "[camera]\ndriver = replay\npath = %s\n[faces]\nmodels = %s/none\n", d, d);
	dg = open_diag(config(d, body), NULL);
	ASSERT(dg);
	diag_check_models(dg, &c);
	ASSERT_STREQ(c.name, "models");
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, DIAG_MODEL_LANDMARKS);
	ASSERT_CONTAINS(c.detail, "missing");
	ASSERT_CONTAINS(c.fix, "make deps");
	diag_free(dg);
}

TEST(wrong_model_checksum_fails)
{
	const char *d = mkdirp("models_bad");
	char body[2048], p[700];
	struct diag_check c;
	struct diag *dg;

	snprintf(p, sizeof(p), "%s/%s", d, DIAG_MODEL_LANDMARKS);
	ASSERT_EQ(test_write_file(p, "not a model", 11), 0);
	snprintf(p, sizeof(p), "%s/%s", d, DIAG_MODEL_EMBEDDER);
	ASSERT_EQ(test_write_file(p, "not a model either", 18), 0);
	snprintf(body, sizeof(body), "[camera]\ndriver = replay\npath = %s\n[faces]\nmodels = %s\n",
		 d, d);
	dg = open_diag(config(d, body), NULL);
	ASSERT(dg);
	diag_check_models(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "SHA-256");
	ASSERT_CONTAINS(c.detail, DIAG_MODEL_LANDMARKS_SHA256);
	ASSERT_CONTAINS(c.fix, "make deps");
	diag_free(dg);
}

TEST(real_models_pass_and_camera_off_needs_none)
{
	const char *d = mkdirp("models_real");
	char body[2048], cwd[256];
	struct diag_check c;
	struct diag *dg;

	ASSERT(getcwd(cwd, sizeof(cwd)));
	snprintf(body, sizeof(body),
		 "[camera]\ndriver = replay\npath = %s\n[faces]\nmodels = %s/models\n", d, cwd);
	dg = open_diag(config(d, body), NULL);
	ASSERT(dg);
	diag_check_models(dg, &c);
	ASSERT_MSG(c.result == DIAG_PASS, "models/ (make deps puts them there): %s", c.detail);
	ASSERT_CONTAINS(c.detail, "SHA-256 verified");
	diag_free(dg);

	dg = open_diag(config(d, "[camera]\ndriver = none\n[faces]\nmodels = /nowhere\n"), NULL);
	ASSERT(dg);
	diag_check_models(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "not used");
	diag_free(dg);
}

/* ---- database ----------------------------------------------------------------- */

static int make_store(const char *path)
{
	struct store_error err;
	struct store *s;
	int64_t cust, sess;

	if (store_open(path, 0, &s, NULL, &err) < 0)
		return -1;
	store_customer_add(s, "Ada Example", &cust);
	store_session_open(s, &(struct store_session_new){.customer_id = cust}, &sess, NULL);
	/* enough rows to span several pages, so damage lands inside a b-tree */
	for (int i = 0; i < 300; i++)
		store_turn_append(s, sess, STORE_ROLE_CUSTOMER,
				  "a long enough line of conversation to fill the pages of the "
				  "turns table with real content",
				  NULL);
	store_close(s);
	return 0;
}

TEST(database_ok_missing_and_corrupt)
{
	static const char not_sqlite[] =
	    "this is not an SQLite file, just text long enough to be read as a header......"
	    "..................................................................................";
	const char *d = mkdirp("db");
	char db[600], *cfg;
	struct diag_check c;
	struct diag *dg;
	int fd;

	cfg = strdup(config(d, ""));
	snprintf(db, sizeof(db), "%s/edgebox.db", d);

	dg = open_diag(cfg, NULL); /* no file yet, daemon stopped */
	ASSERT(dg);
	diag_check_database(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "no database");
	diag_free(dg);

	ASSERT_EQ(make_store(db), 0);
	dg = open_diag(cfg, NULL);
	diag_check_database(dg, &c);
	ASSERT_MSG(c.result == DIAG_PASS, "%s", c.detail);
	ASSERT_CONTAINS(c.detail, "integrity ok");
	ASSERT_CONTAINS(c.detail, "schema");
	diag_free(dg);

	/* damage the middle of the file: b-tree pages, not the header */
	fd = open(db, O_WRONLY);
	ASSERT(fd >= 0);
	{
		char junk[4096];
		struct stat st;

		memset(junk, 0xa5, sizeof(junk));
		fstat(fd, &st);
		ASSERT(st.st_size > 4 * 4096);
		ASSERT_EQ(pwrite(fd, junk, sizeof(junk), st.st_size - 3 * 4096),
			  (ssize_t)sizeof(junk));
		close(fd);
	}
	dg = open_diag(cfg, NULL);
	diag_check_database(dg, &c);
	ASSERT_MSG(c.result == DIAG_FAIL, "%s", c.detail);
	ASSERT_CONTAINS(c.fix, "corrupt");
	diag_free(dg);

	/* not a database at all */
	ASSERT_EQ(test_write_file(db, not_sqlite, strlen(not_sqlite)), 0);
	dg = open_diag(cfg, NULL);
	diag_check_database(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	diag_free(dg);
	free(cfg);
}

/* ---- devices without the daemon ----------------------------------------------- */

TEST(replay_drivers_pass_with_note_and_missing_files_fail)
{
	const char *d = mkdirp("replay");
	char body[2048], cwd[256];
	struct diag_check c;
	struct diag *dg;

	ASSERT(getcwd(cwd, sizeof(cwd)));
	snprintf(body, sizeof(body),
		 "[ble]\ndriver = btsnoop\nfile = %s/tests/fixtures/ble/walk_in.btsnoop\n"
		 "[camera]\ndriver = replay\npath = %s/tests/fixtures/camera\n"
		 "[gpio]\ndriver = replay\nscript = %s/tests/fixtures/gpio/door.script\n"
		 "[watchdog]\ndriver = soft\n",
		 cwd, cwd, cwd);
	dg = open_diag(config(d, body), NULL);
	ASSERT(dg);
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "replay driver configured");
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "replay driver configured");
	diag_check_gpio(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "replay driver configured");
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "soft watchdog");
	diag_free(dg);

	dg = open_diag(config(d, "[ble]\ndriver = btsnoop\nfile = nowhere.btsnoop\n"
				 "[camera]\ndriver = replay\npath = nowhere\n"),
		       NULL);
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.fix, "[ble] file");
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	diag_free(dg);
}

TEST(ble_adapter_from_sysfs)
{
	const char *d = mkdirp("sysfs");
	char p[700], sysfs[600], *cfg;
	struct diag_env env = {0};
	struct diag_check c;
	struct diag *dg;

	snprintf(sysfs, sizeof(sysfs), "%s/sys", d);
	cfg = strdup(config(d, "[ble]\ndriver = hci\nadapter = hci0\n"));
	env.config_path = cfg;
	env.sysfs_root = sysfs;

	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_ble(dg, &c); /* no class/bluetooth at all */
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "no Bluetooth adapter");
	diag_free(dg);

	snprintf(p, sizeof(p), "mkdir -p %s/class/bluetooth/hci1", sysfs);
	ASSERT_EQ(system(p), 0);
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_ble(dg, &c); /* another adapter: the fix names it */
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.fix, "hci1");
	diag_free(dg);

	snprintf(p, sizeof(p), "mkdir -p %s/class/bluetooth/hci0/rfkill3", sysfs);
	ASSERT_EQ(system(p), 0);
	snprintf(p, sizeof(p), "%s/class/bluetooth/hci0/rfkill3/soft", sysfs);
	ASSERT_EQ(test_write_file(p, "1\n", 2), 0);
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.fix, "rfkill unblock");
	diag_free(dg);

	ASSERT_EQ(test_write_file(p, "0\n", 2), 0);
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "hci0 present");
	diag_free(dg);
	free(cfg);
}

TEST(camera_watchdog_gpio_device_nodes)
{
	const char *d = mkdirp("nodes");
	char body[2048], file[600];
	struct diag_check c;
	struct diag *dg;

	snprintf(file, sizeof(file), "%s/plain", d);
	ASSERT_EQ(test_write_file(file, "x", 1), 0);
	snprintf(
	    body, sizeof(body),
	    "[camera]\ndriver = v4l2\ndevice = %s\n[watchdog]\ndriver = dev\ndevice = %s/none\n"
	    "[gpio]\ndriver = gpiod\nchip = edgebox-no-such-chip\ndoor_line = 1\n"
	    "staff_call_line = 2\nled_line = 3\n",
	    file, d);
	dg = open_diag(config(d, body), NULL);
	ASSERT(dg);
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "not a device node");
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "no watchdog device");
	diag_check_gpio(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "edgebox-no-such-chip");
	diag_free(dg);

	/* /dev/null: a character device, but no camera; a present "watchdog" is
	 * never opened (it would arm a real one) */
	dg = open_diag(config(d, "[camera]\ndriver = v4l2\ndevice = /dev/null\n"
				 "[watchdog]\ndriver = dev\ndevice = /dev/null\n"
				 "[gpio]\ndriver = gpiod\nchip = gpiochip0\ndoor_line = 1\n"),
		       NULL);
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "not a V4L2 device");
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "not opened");
	diag_check_gpio(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "staff_call_line is missing");
	diag_free(dg);

	dg = open_diag(config(d, "[watchdog]\ndriver = none\n[ble]\ndriver = none\n"), NULL);
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.fix, "driver = dev");
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "off");
	diag_free(dg);
}

/* ---- with the daemon's live status ------------------------------------------------ */

static char *status_json(const char *camera_state, double camera_rate, const char *ble_state,
			 double ble_rate, bool healthy, const char *wd_driver)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf),
		 "{\"version\":1,\"daemon\":\"running\",\"healthy\":%s,%s"
		 "\"stages\":["
		 "{\"name\":\"ble\",\"state\":\"%s\",\"items\":500,\"restarts\":0,"
		 "\"items_per_s\":%g,\"rate_window_s\":10%s},"
		 "{\"name\":\"camera\",\"state\":\"%s\",\"items\":1000,\"restarts\":3,"
		 "\"items_per_s\":%g,\"rate_window_s\":10%s},"
		 "{\"name\":\"gpio\",\"state\":\"running\",\"items\":4}],"
		 "\"rings\":{\"frame\":{\"drops\":7}},"
		 "\"watchdog\":{\"driver\":\"%s\",\"keepalives\":42}}",
		 healthy ? "true" : "false",
		 healthy ? "" : "\"unhealthy_reason\":\"conversation stalled\",", ble_state,
		 ble_rate,
		 strcmp(ble_state, "failed") == 0 ? ",\"last_error\":\"hci0: no such device\"" : "",
		 camera_state, camera_rate,
		 strcmp(camera_state, "failed") == 0 ? ",\"last_error\":\"/dev/video0: gone\"" : "",
		 wd_driver);
	return buf;
}

TEST(live_status_judges_rates_states_and_watchdog)
{
	const char *d = mkdirp("live");
	struct diag_check c;
	struct diag *dg;
	char *cfg;

	cfg = strdup(config(d, "[camera]\ndriver = v4l2\nfps = 15\n[ble]\ndriver = hci\n"
			       "[gpio]\ndriver = gpiod\nchip = gpiochip0\ndoor_line = 1\n"
			       "staff_call_line = 2\nled_line = 3\n[watchdog]\ndriver = dev\n"));

	dg = open_diag(cfg, status_json("running", 14.2, "running", 3.5, true, "dev"));
	ASSERT(dg);
	diag_check_camera(dg, &c);
	ASSERT_MSG(c.result == DIAG_PASS, "%s", c.detail);
	ASSERT_CONTAINS(c.detail, "14.2 frames/s");
	ASSERT_CONTAINS(c.detail, "7 dropped");
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "3.5 advertisements/s");
	diag_check_gpio(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "42");
	diag_free(dg);

	dg = open_diag(cfg, status_json("running", 5, "running", 0, true, "dev"));
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "configured 15.0 fps");
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "no advertisements");
	diag_free(dg);

	dg = open_diag(cfg, status_json("running", 0, "failed", 0, false, "none"));
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "no frames");
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "hci0: no such device");
	diag_check_watchdog(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "without its watchdog");
	diag_free(dg);

	dg = open_diag(cfg, status_json("failed", 0, "running", 1, false, "dev"));
	diag_check_camera(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "/dev/video0: gone");
	ASSERT_CONTAINS(c.fix, "systemctl restart edgeboxd");
	diag_check_watchdog(dg, &c); /* unhealthy: not fed */
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "conversation stalled");
	diag_free(dg);

	/* the daemon runs but the status is not JSON: refused, not guessed */
	{
		struct diag_env env = {.config_path = cfg, .status_json = "{not json"};

		ASSERT_EQ(diag_new(&env, &dg), -EINVAL);
		ASSERT(dg == NULL);
	}
	free(cfg);
}

/* ---- disk and clock ---------------------------------------------------------------- */

struct fake_fs {
	unsigned long blocks, avail;
	int rc;
};

static int fake_statvfs(const char *path, struct statvfs *ret, void *ctx)
{
	struct fake_fs *f = ctx;

	(void)path;
	if (f->rc)
		return f->rc;
	memset(ret, 0, sizeof(*ret));
	ret->f_frsize = 4096;
	ret->f_bsize = 4096;
	ret->f_blocks = f->blocks;
	ret->f_bavail = f->avail;
	ret->f_bfree = f->avail;
	return 0;
}

TEST(disk_thresholds)
{
	const char *d = mkdirp("disk");
	struct fake_fs fs = {.blocks = 1000000};
	struct diag_env env = {.statvfs_fn = fake_statvfs, .statvfs_ctx = &fs};
	static const struct {
		unsigned long avail;
		enum diag_result want;
	} cases[] = {{500000, DIAG_PASS}, {100001, DIAG_PASS}, {99000, DIAG_WARN},
		     {20001, DIAG_WARN},  {19999, DIAG_FAIL},  {0, DIAG_FAIL}};
	struct diag_check c;
	struct diag *dg;

	env.config_path = config(d, "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fs.avail = cases[i].avail;
		ASSERT_EQ(diag_new(&env, &dg), 0);
		diag_check_disk(dg, &c);
		ASSERT_MSG(c.result == cases[i].want, "avail %lu of %lu: %s %s", fs.avail,
			   fs.blocks, diag_result_name(c.result), c.detail);
		ASSERT_CONTAINS(c.detail, d); /* the store's folder */
		diag_free(dg);
	}
	fs.rc = -ENOENT;
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_disk(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.fix, "StateDirectory");
	diag_free(dg);
}

TEST(clock_sanity_with_injected_time)
{
	const char *d = mkdirp("clock");
	struct diag_env env = {.clock_ref_ms = MS_2025_06};
	static const struct {
		int64_t now;
		enum diag_result want;
		const char *says;
	} cases[] = {
	    {1700000000000LL, DIAG_WARN, "before 2025"},	 /* 2023 */
	    {MS_2025_06 + 30 * DAY_MS, DIAG_PASS, "2025-07-01"}, /* a month after the build */
	    {MS_2025_06 - 3 * DAY_MS, DIAG_WARN, "before this firmware"}, /* behind the build */
	    {MS_2025_06 + 21LL * 366 * DAY_MS, DIAG_WARN, "future"},	  /* RTC garbage */
	};
	struct diag_check c;
	struct diag *dg;

	env.config_path = config(d, "");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env.now_ms = cases[i].now;
		ASSERT_EQ(diag_new(&env, &dg), 0);
		diag_check_clock(dg, &c);
		ASSERT_MSG(c.result == cases[i].want, "case %zu: %s %s", i,
			   diag_result_name(c.result), c.detail);
		ASSERT_CONTAINS(c.detail, cases[i].says);
		if (c.result != DIAG_PASS)
			ASSERT_CONTAINS(c.fix, "timedatectl");
		diag_free(dg);
	}
}

/* ---- LLM ------------------------------------------------------------------------------ */

static pid_t server_pid;
static int server_in = -1;

static void server_stop(void)
{
	if (server_pid > 0) {
		close(server_in);
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

static int server_start(void)
{
	int in[2], out[2];
	char line[32];
	size_t got = 0;

	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	server_pid = fork();
	if (server_pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("python3", "python3", "tests/llm_server.py", "--port", "0", "--script",
		       "tests/fixtures/llm", "--timeout", "60", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	server_in = in[1];
	atexit(server_stop);
	while (got < sizeof(line) - 1 && read(out[0], line + got, 1) == 1 && line[got] != '\n')
		got++;
	line[got] = '\0';
	close(out[0]);
	return atoi(line);
}

TEST(llm_reachable_unreachable_and_absent)
{
	const char *d = mkdirp("llm");
	struct diag_env env = {.llm_timeout_ms = 3000};
	char body[512];
	struct diag_check c;
	struct diag *dg;
	struct timespec t0, t1;
	int port;

	env.config_path = config(d, "[llm]\nurl =\n");
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_llm(dg, &c);
	ASSERT_EQ(c.result, DIAG_PASS);
	ASSERT_CONTAINS(c.detail, "offline responder");
	diag_free(dg);

	/* nobody listens on port 1: a WARN (the box falls back), never a FAIL */
	env.config_path = config(d, "[llm]\nurl = http://127.0.0.1:1/v1\nmodel = normal\n");
	ASSERT_EQ(diag_new(&env, &dg), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	diag_check_llm(dg, &c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "offline responder");
	ASSERT(t1.tv_sec - t0.tv_sec < 5);
	diag_free(dg);

	port = server_start();
	ASSERT_MSG(port > 0, "cannot start tests/llm_server.py");
	snprintf(body, sizeof(body), "[llm]\nurl = http://127.0.0.1:%d/v1\nmodel = normal\n", port);
	env.config_path = config(d, body);
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_llm(dg, &c);
	ASSERT_MSG(c.result == DIAG_PASS, "%s", c.detail);
	ASSERT_CONTAINS(c.detail, "first token in");
	diag_free(dg);

	/* a model that never starts answering within the cap */
	env.llm_timeout_ms = 500;
	snprintf(body, sizeof(body), "[llm]\nurl = http://127.0.0.1:%d/v1\nmodel = slow_first\n",
		 port);
	env.config_path = config(d, body);
	ASSERT_EQ(diag_new(&env, &dg), 0);
	diag_check_llm(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "within 500 ms");
	diag_free(dg);
}

/* ---- config check ----------------------------------------------------------------------- */

TEST(config_check_accepts_the_shipped_configs)
{
	char msg[DIAG_DETAIL_MAX];
	char *text = test_read_file("config/edgebox.conf", NULL);
	const char *d = mkdirp("shipped");
	char path[600];
	int rc;

	ASSERT_EQ(diag_config_check("config/sim.conf", NULL, msg, sizeof(msg)), 0);
	ASSERT_CONTAINS(msg, "valid");
	ASSERT(text);
	rc = diag_config_check("config/edgebox.conf", NULL, msg, sizeof(msg));
	if (rc < 0 && strstr(msg, "[control] group")) {
		/* the technicians' group of a real box may not exist on this machine:
		 * check everything else */
		char *copy = malloc(strlen(text) + 64);

		snprintf(path, sizeof(path), "%s/edgebox.conf", d);
		sprintf(copy, "%s\n[control]\ngroup =\n", text);
		rc = test_write_file(path, copy, strlen(copy));
		free(copy);
		ASSERT_EQ(rc, 0);
		rc = diag_config_check(path, NULL, msg, sizeof(msg));
		/* the copy sits elsewhere: its relative agent paths point nowhere */
		if (rc < 0 && strstr(msg, "[agent]") == NULL && strstr(msg, "scope_rules") == NULL)
			ASSERT_MSG(0, "%s", msg);
	} else {
		ASSERT_MSG(rc == 0, "%s", msg);
	}
	free(text);
}

TEST(config_check_names_file_line_and_key)
{
	const char *d = mkdirp("cfgcheck");
	static const struct {
		const char *body;
		const char *want;
	} bad[] = {
	    {"[daemon]\ntick_ms = 5\n", "tick_ms"},
	    {"[daemon]\nlog_level = chatty\n", "log_level"},
	    {"[daemon]\ntikc_ms = 100\n", "tikc_ms"},	      /* a typo: unknown key */
	    {"[camera]\ndriver = webcam\n", "driver"},	      /* no such driver */
	    {"[camera]\ndriver = v4l2\nfps = 1000\n", "fps"}, /* out of the driver's range */
	    {"[camera]\ndriver = none\ndevice = /dev/video0\n", "device"}, /* nobody reads it */
	    {"[llm]\nurl = ftp://x\nmodel = m\n", "url"},
	    {"[control]\ngroup = edgebox-no-such-group-xyz\n", "edgebox-no-such-group-xyz"},
	    {"[control]\npin_ttl_s = 5\n", "pin_ttl_s"},
	    {"[beacons]\nkiosk_m = banana\n", "kiosk_m"},
	    {"this line is not ini\n", "box.conf"},
	};
	char msg[DIAG_DETAIL_MAX], body[4096];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "%s%s", agent_section(), bad[i].body);
		ASSERT_MSG(diag_config_check(config(d, body), NULL, msg, sizeof(msg)) < 0,
			   "case %zu accepted: %s", i, bad[i].body);
		ASSERT_CONTAINS(msg, bad[i].want);
		ASSERT_CONTAINS(msg, "box.conf");
	}
	snprintf(body, sizeof(body),
		 "%s[daemon]\ntick_ms = 50\n[camera]\ndriver = v4l2\nfps = 30\n"
		 "[control]\nsocket = none\npin_ttl_s = 120\n",
		 agent_section());
	ASSERT_EQ(diag_config_check(config(d, body), NULL, msg, sizeof(msg)), 0);
	ASSERT_EQ(diag_config_check("/nonexistent/edgebox.conf", NULL, msg, sizeof(msg)), -ENOENT);
	ASSERT_CONTAINS(msg, "/nonexistent/edgebox.conf");
}

TEST(config_check_runs_edgeboxd_when_given)
{
	static const char refuses[] =
	    "#!/bin/sh\necho \"edgeboxd: $3:3: [x] y: refused by the daemon\" >&2\nexit 2\n";
	static const char agrees[] = "#!/bin/sh\necho ok\nexit 0\n";
	const char *d = mkdirp("cfgdaemon");
	char msg[DIAG_DETAIL_MAX], fake[600], body[4096];

	/* a stand-in edgeboxd that refuses with a message, to see it is run and heard */
	snprintf(fake, sizeof(fake), "%s/edgeboxd", d);
	ASSERT_EQ(test_write_file(fake, refuses, strlen(refuses)), 0);
	chmod(fake, 0755);
	snprintf(body, sizeof(body), "%s", agent_section());
	ASSERT_EQ(diag_config_check(config(d, body), fake, msg, sizeof(msg)), -EINVAL);
	ASSERT_CONTAINS(msg, "refused by the daemon");
	ASSERT_CONTAINS(msg, "box.conf:3");
	ASSERT_EQ(test_write_file(fake, agrees, strlen(agrees)), 0);
	ASSERT_EQ(diag_config_check(config(d, body), fake, msg, sizeof(msg)), 0);
	ASSERT_CONTAINS(msg, "agrees");
}

TEST(diag_run_counts_fails_and_json_round_trips)
{
	const char *d = mkdirp("run");
	struct diag_check c, back;
	struct diag *dg;
	char *line;
	int fails;

	/* a config that does not load: config FAILs, the device checks say why not */
	{
		char p[600];

		snprintf(p, sizeof(p), "%s/broken.conf", d);
		ASSERT_EQ(test_write_file(p, "[daemon\n", 8), 0);
		dg = open_diag(p, NULL);
	}
	ASSERT(dg);
	fails = diag_run(dg, NULL, NULL);
	ASSERT_EQ(fails, 1);
	diag_check_ble(dg, &c);
	ASSERT_EQ(c.result, DIAG_WARN);
	ASSERT_CONTAINS(c.detail, "does not load");
	diag_check_config(dg, &c);
	ASSERT_EQ(c.result, DIAG_FAIL);
	ASSERT_CONTAINS(c.detail, "broken.conf:1");
	ASSERT_EQ(diag_check_json(&c, &line), 0);
	ASSERT_CONTAINS(line, "\"result\":\"FAIL\"");
	ASSERT(line[strlen(line) - 1] == '\n');
	ASSERT_EQ(diag_check_from_json(line, &back), 0);
	ASSERT_STREQ(back.name, "config");
	ASSERT_EQ(back.result, DIAG_FAIL);
	ASSERT_STREQ(back.detail, c.detail);
	free(line);
	diag_free(dg);

	ASSERT_EQ(diag_check_from_json("{\"name\":\"x\",\"result\":\"MAYBE\"}", &back), -EINVAL);
	ASSERT_EQ(diag_check_from_json("[]", &back), -EINVAL);
	ASSERT_EQ(diag_check_from_json("", &back), -EINVAL);
	ASSERT_STREQ(diag_result_name((enum diag_result)7), "?");
}

/* ---- what may leave the box ---------------------------------------------------------------- */

TEST(redact_config_secrets)
{
	static const char text[] =
	    "# the LLM\n[llm]\nurl = https://bob:hunter2pass@llm.example.com/v1  # prod\n"
	    "model = qwen\napi_key = sk-LIVE-1234567890   # never share\n"
	    "api_key_file = /etc/edgebox/llm.key\n[staff]\ntoken_file = /etc/edgebox/staff.token\n"
	    "[update]\npublic_key = 0123abcd\nsigning_secret=s3cr3tvalue\n  Password = "
	    "pw-xyz-987\n";
	char *out = NULL;

	ASSERT_EQ(diag_redact_config(text, &out), 0);
	ASSERT(!strstr(out, "sk-LIVE-1234567890"));
	ASSERT(!strstr(out, "hunter2pass"));
	ASSERT(!strstr(out, "bob:"));
	ASSERT(!strstr(out, "s3cr3tvalue"));
	ASSERT(!strstr(out, "pw-xyz-987"));
	ASSERT(!strstr(out, "never share"));
	ASSERT_CONTAINS(out, "api_key = <redacted>\n");
	ASSERT_CONTAINS(out, "https://<redacted>@llm.example.com/v1  # prod");
	ASSERT_CONTAINS(out, "api_key_file = /etc/edgebox/llm.key");
	ASSERT_CONTAINS(out, "token_file = /etc/edgebox/staff.token");
	ASSERT_CONTAINS(out, "public_key = 0123abcd");
	ASSERT_CONTAINS(out, "# the LLM\n[llm]\n");
	ASSERT_CONTAINS(out, "model = qwen\n");
	free(out);

	{
		char *big = malloc(300 * 1024);

		memset(big, 'a', 300 * 1024 - 1);
		big[300 * 1024 - 1] = '\0';
		ASSERT_EQ(diag_redact_config(big, &out), -E2BIG);
		ASSERT(out == NULL);
		free(big);
	}
}

TEST(audit_sanitize_keeps_only_safe_fields)
{
	char *out = NULL;
	cJSON *o;

	ASSERT_EQ(
	    diag_audit_sanitize(7, 1700000000000LL, 3, "escalation",
				"{\"category\":\"complaint\",\"rule\":\"R12\",\"by\":\"signals\","
				"\"name\":\"Zelda Quixote\",\"text\":\"my card number\","
				"\"customer\":42,\"reason\":\"she said hello there\","
				"\"confidence\":0.9,\"args\":{\"phone\":\"555\"}}",
				&out),
	    0);
	ASSERT(!strstr(out, "Zelda"));
	ASSERT(!strstr(out, "card number"));
	ASSERT(!strstr(out, "hello there"));
	ASSERT(!strstr(out, "555"));
	ASSERT(!strstr(out, "42"));
	o = cJSON_Parse(out);
	ASSERT(o);
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "detail"), "category")->valuestring,
		     "complaint");
	ASSERT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "detail"), "rule")->valuestring,
		     "R12");
	ASSERT_EQ(cJSON_GetObjectItem(o, "withheld")->valueint, 5);
	ASSERT_EQ(cJSON_GetObjectItem(o, "session")->valueint, 3);
	cJSON_Delete(o);
	free(out);

	/* a detail that is not JSON, and a kind that is not a word */
	ASSERT_EQ(diag_audit_sanitize(8, 1, 0, "bad kind with spaces", "Zelda Quixote", &out), 0);
	ASSERT(!strstr(out, "Zelda"));
	ASSERT(!strstr(out, "spaces"));
	ASSERT_CONTAINS(out, "\"withheld\":1");
	free(out);
}

TEST(bundle_writer_tar_gz_contents)
{
	const char *d = mkdirp("bundle");
	char out[600], cmd[1400], p[700], *man, *cfg, *audit, *all;
	struct diag_bundle b = {0};
	size_t n;
	char err[DIAG_ERROR_MAX];

	b.config_path = "/etc/edgebox/edgebox.conf";
	b.config_text = "[llm]\nurl = http://x/v1\napi_key = sk-TOPSECRET-42\n";
	/* a diag line quoting the secret (a config error may echo a value) */
	b.diag_jsonl =
	    "{\"name\":\"config\",\"result\":\"FAIL\",\"detail\":\"got 'sk-TOPSECRET-42'\"}\n";
	b.audit_jsonl = "{\"id\":1,\"ts\":5,\"session\":2,\"kind\":\"turn\",\"detail\":{\"state\":"
			"\"discovery\",\"text\":\"Zelda Quixote wants a phone\"}}\n"
			"{\"id\":2,\"ts\":6,\"session\":2,\"kind\":\"consent_answer\",\"detail\":"
			"\"Zelda Quixote\"}\n";
	b.versions = "edgeboxctl 0.1.0\n";
	b.why_no_status = "edgeboxd is not running (test)";
	b.now_ms = MS_2025_06;
	snprintf(out, sizeof(out), "%s/b.tar.gz", d);
	ASSERT_EQ(diag_bundle_write(&b, out, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "cd %s && tar -xzf b.tar.gz && zcat b.tar.gz > raw.tar", d);
	ASSERT_EQ(system(cmd), 0);

	snprintf(p, sizeof(p), "%s/edgebox-bundle/MANIFEST.txt", d);
	man = test_read_file(p, NULL);
	ASSERT(man);
	ASSERT_CONTAINS(man, "Left out, and why");
	ASSERT_CONTAINS(man, "status.json: edgeboxd is not running (test)");
	ASSERT_CONTAINS(man, "the last 2 audit rows");
	snprintf(p, sizeof(p), "%s/edgebox-bundle/config.redacted.conf", d);
	cfg = test_read_file(p, NULL);
	ASSERT(cfg);
	ASSERT_CONTAINS(cfg, "api_key = <redacted>");
	snprintf(p, sizeof(p), "%s/edgebox-bundle/audit.jsonl", d);
	audit = test_read_file(p, NULL);
	ASSERT(audit);
	ASSERT_CONTAINS(audit, "\"state\":\"discovery\"");
	snprintf(p, sizeof(p), "%s/edgebox-bundle/status.json", d);
	ASSERT(access(p, F_OK) < 0);
	snprintf(p, sizeof(p), "%s/raw.tar", d);
	all = test_read_file(p, &n);
	ASSERT(all);
	ASSERT(n >= 512 * 8); /* 6 members (header + data) and the two end blocks */
	ASSERT(!memmem(all, n, "TOPSECRET", 9));
	ASSERT(!memmem(all, n, "Zelda", 5));
	free(man);
	free(cfg);
	free(audit);
	free(all);

	/* a folder that does not exist: an error naming it, no file left behind */
	snprintf(out, sizeof(out), "%s/no/such/dir/b.tar.gz", d);
	ASSERT(diag_bundle_write(&b, out, err, sizeof(err)) < 0);
	ASSERT_CONTAINS(err, "no/such/dir");
}
