/*
 * edgeboxctl's technician commands (firmware/ctl/ctl_tech.c), run as the real
 * binary ($EDGEBOX_BIN/edgeboxctl, default build/bin) against a control
 * socket served by this test process (firmware/control.h) and a real store:
 * --help everywhere, usage errors, status (socket, status file, stale, no
 * daemon), pair/unpair with and without the daemon, logs, config check and
 * show, diag, and the bundle: untarred, every file there, and a customer's
 * name and words planted in the store nowhere in it.
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "firmware/control.h"
#include "firmware/store.h"
#include "tests/support/daemon.h"

#define SEC 1000000000ull
#define NAME "Zelda Quixote"
#define WORDS "XYZZY cheapest plan please"
#define SECRET "sk-BUNDLE-SECRET-777"

static _Atomic uint64_t fake_now = 100 * SEC;

static uint64_t clock_fn(void *ctx)
{
	(void)ctx;
	return atomic_load(&fake_now);
}

/* test_ctl() with both outputs freed; the exit status. */
static int run_rc(const char *args)
{
	char *out, *err;
	int rc = test_ctl(args, &out, &err);

	free(out);
	free(err);
	return rc;
}

static int cli_ready(void)
{
	char *out, *err;
	int rc = test_ctl("diag --help", &out, &err);
	int ok = rc == 0 && out && strstr(out, "Usage: edgeboxctl diag");

	if (!ok)
		printf("    edgeboxctl diag --help exited %d: %s", rc, err ? err : "");
	free(out);
	free(err);
	return ok;
}

#define READY()                                                                                    \
	ASSERT_MSG(cli_ready(), "edgeboxctl lacks the technician commands: ctl_diag, ctl_status, " \
				"ctl_logs, ctl_config, ctl_pair, ctl_unpair, ctl_bundle must be "  \
				"listed in firmware/edgeboxctl.c's command table")

/* ---- a box: store, config, and (optionally) the control socket --------------------- */

struct box {
	char dir[300];
	char sock[CONTROL_PATH_MAX];
	char db[400];
	char cfg[400];
	char status_file[400];
	struct control *c;
};

static int make_store(const char *path)
{
	struct store_error err;
	struct store *s;
	int64_t cust, sess;

	if (store_open(path, 0, &s, NULL, &err) < 0)
		return -1;
	store_customer_add(s, NAME, &cust);
	store_session_open(s, &(struct store_session_new){.customer_id = cust}, &sess, NULL);
	store_turn_append(s, sess, STORE_ROLE_CUSTOMER, WORDS, NULL);
	store_audit_append(s, sess, "consent_answer",
			   "{\"text\":\"" WORDS "\",\"name\":\"" NAME "\"}");
	store_audit_append(s, sess, "escalation",
			   "{\"category\":\"complaint\",\"rule\":\"R7\",\"by\":\"scope_guard\","
			   "\"reason\":\"" NAME " was upset\"}");
	store_audit_append(s, sess, "offline", "{\"outcome\":\"timeout_connect\"}");
	store_audit_append_customer(s, cust, "consent", "{\"kind\":\"face\",\"by\":\"" NAME "\"}");
	store_close(s);
	return 0;
}

static int box_init(struct box *b, const char *name, bool serve)
{
	char text[2048];

	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "%s/%s", test_tmpdir(), name);
	mkdir(b->dir, 0755);
	snprintf(b->sock, sizeof(b->sock), "%.90s/c.sock", b->dir);
	snprintf(b->db, sizeof(b->db), "%s/edgebox.db", b->dir);
	snprintf(b->cfg, sizeof(b->cfg), "%s/box.conf", b->dir);
	snprintf(b->status_file, sizeof(b->status_file), "%s/status.json", b->dir);
	if (make_store(b->db) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "[daemon]\nstatus_file = %s\n[store]\npath = %s\n[control]\nsocket = %s\n"
		 "[llm]\nurl =\napi_key = " SECRET "\n"
		 "[camera]\ndriver = none\n[ble]\ndriver = none\n[gpio]\ndriver = none\n"
		 "[watchdog]\ndriver = soft\n",
		 b->status_file, b->db, b->sock);
	if (test_write_file(b->cfg, text, strlen(text)) < 0)
		return -1;
	if (serve) {
		struct control_params p;
		char err[CONTROL_ERROR_MAX];

		control_params_default(&p);
		snprintf(p.path, sizeof(p.path), "%s", b->sock);
		snprintf(p.store_path, sizeof(p.store_path), "%s", b->db);
		snprintf(p.config_path, sizeof(p.config_path), "%s", b->cfg);
		snprintf(p.version, sizeof(p.version), "7.7.7");
		p.now_ns = clock_fn;
		if (control_create(&p, &b->c, err, sizeof(err)) < 0) {
			printf("    %s\n", err);
			return -1;
		}
	}
	return 0;
}

static void publish(struct box *b, bool healthy, uint64_t at_s)
{
	char buf[1024];

	snprintf(
	    buf, sizeof(buf),
	    "{\"version\":1,\"pid\":4242,\"daemon\":\"running\",\"uptime_s\":77,\"healthy\":%s,"
	    "%s\"stages\":[{\"name\":\"ble\",\"state\":\"running\",\"sched\":\"nice -5\","
	    "\"items\":%llu}],\"rings\":{\"ble\":{\"capacity\":256,\"depth\":1,\"drops\":2}},"
	    "\"watchdog\":{\"driver\":\"soft\",\"keepalives\":9}}",
	    healthy ? "true" : "false",
	    healthy ? "" : "\"unhealthy_reason\":\"stage ble stalled\",",
	    (unsigned long long)at_s * 10);
	control_publish_status(b->c, strdup(buf), at_s * SEC);
}

/* ---- help and usage ---------------------------------------------------------------- */

TEST(help_on_every_subcommand)
{
	static const char *const cmds[] = {"diag", "status", "logs",  "config",
					   "pair", "unpair", "bundle"};
	char args[64], want[64], *out, *err;

	READY();
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		snprintf(args, sizeof(args), "%s --help", cmds[i]);
		ASSERT_EQ(test_ctl(args, &out, &err), 0);
		snprintf(want, sizeof(want), "Usage: edgeboxctl %s", cmds[i]);
		ASSERT_CONTAINS(out, want);
		ASSERT_CONTAINS(out, "Exit status");
		free(out);
		free(err);
	}
}

TEST(usage_errors_exit_2)
{
	static const char *const bad[] = {
	    "logs --limit 0",
	    "logs --limit 5000",
	    "logs --since yesterday",
	    "logs --session x",
	    "logs --bogus",
	    "unpair",
	    "unpair abc",
	    "unpair 1 2",
	    "config",
	    "config check",
	    "config frobnicate x",
	    "status --interval 0",
	    "status extra",
	    "diag extra",
	    "pair --all",
	    "pair --name ''",
	    "bundle --audit-rows 0",
	    "bundle extra",
	};

	READY();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ASSERT_MSG(run_rc(bad[i]) == 2, "edgeboxctl %s did not exit 2", bad[i]);
}

/* ---- status ------------------------------------------------------------------------- */

TEST(status_through_the_socket_the_file_and_without_daemon)
{
	static const char stopped[] = "{\"pid\":1,\"daemon\":\"stopped\",\"healthy\":false,"
				      "\"stages\":[]}\n";
	static const char running[] = "{\"pid\":1,\"daemon\":\"running\",\"healthy\":true,"
				      "\"stages\":[]}\n";
	char args[1024], *out, *err;
	struct box b;
	cJSON *j;

	READY();
	ASSERT_EQ(box_init(&b, "status", true), 0);
	atomic_store(&fake_now, 100 * SEC);
	publish(&b, true, 95);
	publish(&b, true, 99);
	snprintf(args, sizeof(args), "status --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "edgeboxd pid 4242, running, up 77 s, healthy");
	ASSERT_CONTAINS(out, "ITEMS/S");
	ASSERT_CONTAINS(out, "10.0"); /* 40 items in 4 s */
	ASSERT_CONTAINS(out, "session 1: open");
	ASSERT(!strstr(out, NAME));
	free(out);
	free(err);

	snprintf(args, sizeof(args), "status --json --config %s",
		 b.cfg); /* socket from [control] */
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	j = cJSON_Parse(out);
	ASSERT_MSG(j, "not JSON: %s", out);
	ASSERT(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "stages"), 0),
				   "items_per_s"));
	cJSON_Delete(j);
	free(out);
	free(err);

	/* --status-file alone: that file, even though a daemon answers on the socket */
	ASSERT_EQ(test_write_file(b.status_file, stopped, strlen(stopped)), 0);
	snprintf(args, sizeof(args), "status --status-file %s", b.status_file);
	ASSERT_EQ(test_ctl(args, &out, &err), 3);
	ASSERT_CONTAINS(err, "has stopped");
	free(out);
	free(err);

	publish(&b, false, 100);
	snprintf(args, sizeof(args), "status --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(out, "UNHEALTHY: stage ble stalled");
	free(out);
	free(err);

	atomic_store(&fake_now, 130 * SEC); /* the main loop stopped publishing */
	ASSERT_EQ(test_ctl(args, &out, &err), 3);
	ASSERT_CONTAINS(err, "main loop");
	free(out);
	free(err);
	control_free(b.c);

	/* no socket: the status file, with a note; no file either: exit 3 */
	ASSERT_EQ(test_write_file(b.status_file, running, strlen(running)), 0);
	snprintf(args, sizeof(args), "status --config %s", b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(err, "showing");
	ASSERT_CONTAINS(out, "healthy");
	free(out);
	free(err);
	unlink(b.status_file);
	ASSERT_EQ(test_ctl(args, &out, &err), 3);
	ASSERT_CONTAINS(err, "is edgeboxd running");
	free(out);
	free(err);
}

/* ---- pair and unpair ------------------------------------------------------------------ */

TEST(pair_needs_the_daemon_list_and_unpair_work_both_ways)
{
	char args[1024], pin[8], token[CONTROL_TOKEN_HEX + 1], *out, *err, *p;
	int64_t id;
	struct box b;

	READY();
	ASSERT_EQ(box_init(&b, "pair", false), 0);
	snprintf(args, sizeof(args), "pair --config %s", b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 3);
	ASSERT_CONTAINS(err, "lives in its memory");
	free(out);
	free(err);

	ASSERT_EQ(box_init(&b, "pair2", true), 0);
	snprintf(args, sizeof(args), "pair --name 'Front desk' --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	p = strstr(out, "PIN ");
	ASSERT_MSG(p, "%s", out);
	memcpy(pin, p + 4, 6);
	pin[6] = '\0';
	ASSERT_CONTAINS(out, "Front desk");
	free(out);
	free(err);
	/* the tablet's side, as the staff socket will call it */
	ASSERT_EQ(control_pair_redeem(b.c, pin, "ipad", token, sizeof(token), &id), 0);

	snprintf(args, sizeof(args), "pair --list --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "Front desk");
	ASSERT_CONTAINS(out, "live");
	ASSERT(!strstr(out, token));
	free(out);
	free(err);

	snprintf(args, sizeof(args), "unpair %lld --socket %s", (long long)id, b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "revoked");
	free(out);
	free(err);
	ASSERT_EQ(control_token_check(b.c, token, NULL), -ENOENT);
	ASSERT_EQ(test_ctl(args, &out, &err), 1); /* not live any more */
	ASSERT_CONTAINS(err, "not_found");
	free(out);
	free(err);
	control_free(b.c);

	/* without the daemon: the list and a revoke straight from the store */
	snprintf(args, sizeof(args), "pair --list --all --json --store %s", b.db);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "\"type\":\"device\"");
	ASSERT_CONTAINS(out, "\"name\":\"Front desk\"");
	free(out);
	free(err);
	snprintf(args, sizeof(args), "unpair 99 --store %s", b.db);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "no live staff device 99");
	free(out);
	free(err);
}

/* ---- logs ----------------------------------------------------------------------------- */

TEST(logs_filters_through_the_socket_and_the_store)
{
	char args[1024], *out, *err;
	struct box b;

	READY();
	ASSERT_EQ(box_init(&b, "logs", true), 0);
	snprintf(args, sizeof(args), "logs --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "escalation");
	ASSERT_CONTAINS(out, "category=complaint");
	ASSERT_CONTAINS(out, "withheld");
	ASSERT(!strstr(out, NAME));
	ASSERT(!strstr(out, "XYZZY"));
	free(out);
	free(err);

	snprintf(args, sizeof(args), "logs --kind offline --json --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "\"outcome\":\"timeout_connect\"");
	ASSERT(!strstr(out, "escalation"));
	free(out);
	free(err);
	control_free(b.c);

	/* the daemon stopped: straight from the store, same filter */
	snprintf(args, sizeof(args), "logs --kind escalation,offline --limit 1 --config %s", b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(err, "reading");
	ASSERT_CONTAINS(out, "offline");
	ASSERT(!strstr(out, "escalation")); /* only the newest one */
	free(out);
	free(err);
	snprintf(args, sizeof(args), "logs --since 1h --store %s/none.db", b.dir);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "none.db");
	free(out);
	free(err);
}

/* ---- config, diag ----------------------------------------------------------------------- */

TEST(config_check_and_show)
{
	char args[1024], bad[600], *out, *err;
	struct box b;

	READY();
	ASSERT_EQ(box_init(&b, "config", true), 0);
	snprintf(args, sizeof(args), "config check %s", b.cfg);
	/* the [agent] files are relative to the config: this one lives in a temp
	 * folder, so point them at the repository's */
	{
		char cwd[256], agent[2048], text[4096], *cur = test_read_file(b.cfg, NULL);

		ASSERT(getcwd(cwd, sizeof(cwd)));
		snprintf(
		    agent, sizeof(agent),
		    "[agent]\nscope_rules = %s/config/scope_rules.conf\n"
		    "signals = %s/config/signals.conf\narchetypes = %s/config/archetypes.conf\n"
		    "skills = %s/skills/manifest.conf\ncatalog = %s/catalog\n",
		    cwd, cwd, cwd, cwd, cwd);
		snprintf(text, sizeof(text), "%s%s", cur, agent);
		free(cur);
		ASSERT_EQ(test_write_file(b.cfg, text, strlen(text)), 0);
		ASSERT_EQ(test_ctl(args, &out, &err), 0);
		ASSERT_CONTAINS(out, "valid");
		free(out);
		free(err);

		snprintf(bad, sizeof(bad), "%s/bad.conf", b.dir);
		snprintf(text, sizeof(text), "[daemon]\ntick_ms = 100\ntikc_ms = 5\n%s", agent);
		ASSERT_EQ(test_write_file(bad, text, strlen(text)), 0);
	}
	snprintf(args, sizeof(args), "config check %s", bad);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "bad.conf:3");
	ASSERT_CONTAINS(err, "tikc_ms");
	free(out);
	free(err);
	snprintf(args, sizeof(args), "config check %s --json", bad);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(out, "\"valid\":false");
	free(out);
	free(err);

	snprintf(args, sizeof(args), "config show --socket %s", b.sock);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "api_key = <redacted>");
	ASSERT(!strstr(out, SECRET));
	free(out);
	free(err);
	control_free(b.c);
	ASSERT_EQ(test_ctl(args, &out, &err), 3);
	free(out);
	free(err);
}

TEST(diag_through_the_socket_and_locally)
{
	char args[1024], *out, *err;
	struct box b;
	int lines = 0;

	READY();
	ASSERT_EQ(box_init(&b, "diag", true), 0);
	publish(&b, true, 100);
	atomic_store(&fake_now, 100 * SEC);
	snprintf(args, sizeof(args), "diag --json --socket %s", b.sock);
	/* the test's config has no [agent]: the config check FAILs, so exit 1 */
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(l);

		ASSERT_MSG(j, "not JSON: %s", l);
		ASSERT_STREQ(cJSON_GetObjectItem(j, "type")->valuestring, "check");
		cJSON_Delete(j);
		lines++;
	}
	ASSERT_EQ(lines, 10);
	free(out);
	free(err);
	control_free(b.c);

	/* daemon gone: checked locally, said so, one line per check with the fix */
	snprintf(args, sizeof(args), "diag --config %s", b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "checking directly");
	ASSERT_CONTAINS(out, "FAIL  config");
	ASSERT_CONTAINS(out, "fix: ");
	ASSERT_CONTAINS(out, "PASS  database");
	ASSERT_CONTAINS(out, "PASS  watchdog");
	ASSERT_CONTAINS(out, "failed");
	free(out);
	free(err);
}

/* ---- bundle -------------------------------------------------------------------------------- */

/* Every file of the untarred bundle and the raw tar are free of the planted data. */
static int bundle_clean(const char *dir, const char *tgz, char *why, size_t len)
{
	static const char *const files[] = {"MANIFEST.txt", "config.redacted.conf", "diag.jsonl",
					    "status.json",  "audit.jsonl",	    "versions.txt"};
	static const char *const planted[] = {NAME, "Zelda", "XYZZY", "cheapest plan", SECRET};
	char cmd[1400], p[700];
	size_t n;
	char *raw;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && rm -rf edgebox-bundle && tar -xzf %s && zcat %s > raw.tar", dir, tgz,
		 tgz);
	if (system(cmd) != 0)
		return snprintf(why, len, "cannot untar %s", tgz), -1;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *t;

		snprintf(p, sizeof(p), "%s/edgebox-bundle/%s", dir, files[i]);
		t = test_read_file(p, NULL);
		if (!t)
			return snprintf(why, len, "%s is missing", files[i]), -1;
		free(t);
	}
	snprintf(p, sizeof(p), "%s/raw.tar", dir);
	raw = test_read_file(p, &n);
	if (!raw)
		return snprintf(why, len, "no raw.tar"), -1;
	for (size_t i = 0; i < sizeof(planted) / sizeof(planted[0]); i++)
		if (memmem(raw, n, planted[i], strlen(planted[i]))) {
			free(raw);
			return snprintf(why, len, "'%s' is in the bundle", planted[i]), -1;
		}
	free(raw);
	return 0;
}

TEST(bundle_has_everything_and_no_customer_data)
{
	static const char stopped[] = "{\"daemon\":\"stopped\",\"healthy\":false,\"stages\":[]}";
	char args[1400], tgz[600], why[256], p[700], *out, *err, *audit, *man;
	struct box b;

	READY();
	ASSERT_EQ(box_init(&b, "bundle", true), 0);
	publish(&b, true, 100);
	atomic_store(&fake_now, 100 * SEC);
	snprintf(tgz, sizeof(tgz), "%s/support.tar.gz", b.dir);
	snprintf(args, sizeof(args), "bundle -o %s --socket %s --config %s", tgz, b.sock, b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	ASSERT_CONTAINS(out, "wrote");
	free(out);
	free(err);
	ASSERT_MSG(bundle_clean(b.dir, tgz, why, sizeof(why)) == 0, "%s", why);
	snprintf(p, sizeof(p), "%s/edgebox-bundle/audit.jsonl", b.dir);
	audit = test_read_file(p, NULL);
	ASSERT_CONTAINS(audit, "\"category\":\"complaint\"");
	ASSERT_CONTAINS(audit, "\"kind\":\"consent_answer\"");
	free(audit);
	snprintf(p, sizeof(p), "%s/edgebox-bundle/versions.txt", b.dir);
	man = test_read_file(p, NULL);
	ASSERT_CONTAINS(man, "edgeboxd 7.7.7");
	free(man);
	snprintf(p, sizeof(p), "%s/edgebox-bundle/MANIFEST.txt", b.dir);
	man = test_read_file(p, NULL);
	ASSERT_CONTAINS(man, "Left out, and why");
	ASSERT_CONTAINS(man, "customer names");
	free(man);
	control_free(b.c);

	/* the daemon stopped: gathered directly, still clean; the manifest says
	 * what is missing */
	ASSERT_EQ(test_write_file(b.status_file, stopped, strlen(stopped)), 0);
	snprintf(args, sizeof(args), "bundle -o %s --config %s", tgz, b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 0);
	free(out);
	free(err);
	ASSERT_MSG(bundle_clean(b.dir, tgz, why, sizeof(why)) == 0, "%s", why);
	snprintf(p, sizeof(p), "%s/edgebox-bundle/versions.txt", b.dir);
	man = test_read_file(p, NULL);
	ASSERT_CONTAINS(man, "edgeboxd not reachable");
	free(man);

	snprintf(args, sizeof(args), "bundle -o %s/no/such/dir/x.tar.gz --config %s", b.dir, b.cfg);
	ASSERT_EQ(test_ctl(args, &out, &err), 1);
	ASSERT_CONTAINS(err, "no/such/dir");
	free(out);
	free(err);
}
