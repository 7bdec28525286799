/*
 * End to end through the real daemon on replay drivers: a customer with the
 * store app walks in (BLE replay), the box greets them on the kiosk socket,
 * they have a six-turn conversation that ends in a hand-over, and the staff
 * socket shows the co-pilot feed. Then the daemon is killed with SIGKILL
 * mid-visit and restarted: the session resumes with every committed turn.
 * Face consent at the kiosk: with a camera replaying photos of one person and
 * the real dlib models, an anonymous visitor is asked after two messages,
 * says yes with a name, is enrolled from the live face (no image written) and
 * recognised at the next re-check; a no keeps nothing and is not asked
 * again; without a camera the box never asks and says why it cannot.
 * Runs build/bin/edgeboxd (or $EDGEBOX_BIN/edgeboxd), offline responder.
 */
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[512], conf[600], logpath[600];

/* ---- the daemon ----------------------------------------------------------- */

/* extra: more lines, appended (later keys win). */
static void write_config_extra(const char *extra)
{
	char cwd[256];
	FILE *f;

	if (!getcwd(cwd, sizeof(cwd)))
		return;
	f = fopen(conf, "w");
	if (!f)
		return;
	fprintf(f,
		"[daemon]\nrealtime = false\nstatus_file = %s/status.json\n"
		"[store]\npath = %s/edgebox.db\n"
		"[agent]\nscope_rules = %s/config/scope_rules.conf\nsignals = %s/config/signals.conf\n"
		"archetypes = %s/config/archetypes.conf\nskills = %s/skills/manifest.conf\n"
		"catalog = %s/catalog\n"
		"[ble]\ndriver = btsnoop\nfile = %s/tests/fixtures/ble/walk_in.btsnoop\nspeed = 8\n"
		"[beacons]\nuuid = E2C56DB5-DFFB-48D2-B060-D0F5A71096E0\n"
		"[kiosk]\nsocket = %s/kiosk.sock\n[staff]\nsocket = %s/staff.sock\n"
		"[control]\nsocket = none\n"
		"[conversation]\nsilence_s = 60\n"
		"[watchdog]\ndriver = soft\n",
		dir, dir, cwd, cwd, cwd, cwd, cwd, cwd, dir, dir);
	fputs(extra, f);
	fclose(f);
}

static void write_config(void)
{
	write_config_extra("");
}

static pid_t start_daemon(void)
{
	const char *bin = getenv("EDGEBOX_BIN");
	char path[512];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/edgeboxd", bin ? bin : "build/bin");
	pid = fork();
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(path, "edgeboxd", "--config", conf, (char *)NULL);
		_exit(127);
	}
	return pid;
}

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

/* ---- a socket client that reads JSON lines -------------------------------- */

struct client {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static int client_connect(struct client *c, const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	char path[700];

	c->len = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (int i = 0; i < 300; i++) {
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		close(c->fd);
		usleep(20000);
	}
	return -1;
}

/* The next message, within ms; NULL on timeout. The caller frees it. */
static cJSON *client_next(struct client *c, int ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);

		if (nl) {
			cJSON *m;

			*nl = '\0';
			m = cJSON_Parse(c->buf);
			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
			if (m)
				return m;
			continue;
		}
		if (poll(&p, 1, ms) <= 0)
			return NULL;
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

static const char *type_of(const cJSON *m)
{
	const cJSON *t = cJSON_GetObjectItem(m, "type");

	return cJSON_IsString(t) ? t->valuestring : "";
}

/* Reads until a message of type `want`; collects streamed tokens into text. */
static cJSON *until(struct client *c, const char *want, int ms, char *text, size_t len)
{
	cJSON *m;

	while ((m = client_next(c, ms))) {
		if (text && strcmp(type_of(m), "token") == 0) {
			const cJSON *t = cJSON_GetObjectItem(m, "text");

			if (cJSON_IsString(t))
				strncat(text, t->valuestring, len - strlen(text) - 1);
		}
		if (strcmp(type_of(m), want) == 0)
			return m;
		cJSON_Delete(m);
	}
	return NULL;
}

static void say(struct client *c, const char *text)
{
	char line[1024];
	int n;
	cJSON *s = cJSON_CreateString(text);
	char *q = cJSON_PrintUnformatted(s);

	n = snprintf(line, sizeof(line), "{\"v\":1,\"type\":\"customer_text\",\"text\":%s}\n", q);
	if (write(c->fd, line, (size_t)n) != n)
		perror("say");
	free(q);
	cJSON_Delete(s);
}

/* Every staff message so far, as one string of types (and some fields). */
static void drain_staff(struct client *c, char *out, size_t len)
{
	cJSON *m;

	while ((m = client_next(c, 200))) {
		const cJSON *cat = cJSON_GetObjectItem(m, "category");
		size_t off = strlen(out);

		snprintf(out + off, len - off, "%s%s%s ", type_of(m), cJSON_IsString(cat) ? ":" : "",
			 cJSON_IsString(cat) ? cat->valuestring : "");
		cJSON_Delete(m);
	}
}

/* The daemon's log so far (a static buffer). */
static const char *slurp_log(void)
{
	static char buf[1 << 16];
	FILE *f = fopen(logpath, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int count_rows(const char *sql);

/* The farewell goes out before the store's commit: give it a moment. */
static int count_rows_soon(const char *sql, int want)
{
	int n = -1;

	for (int i = 0; i < 40 && (n = count_rows(sql)) != want; i++)
		usleep(50000);
	return n;
}

static int count_rows(const char *sql)
{
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/edgebox.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

static const char *const conversation[] = {
	"hi, we're looking for a better TV setup for the family",
	"the kids fight over the TV every evening and we pay for StreamMax separately",
	"that sounds good but it's a bit expensive for us",
	"what would it cost compared to Crestel?",
	"ok, how do I sign up?",
	"actually I want to cancel my old broadband contract first",
};

TEST(walk_in_six_turns_handoff_and_resume_after_sigkill)
{
	struct client kiosk, staff;
	char text[8192], feed[16384] = "";
	cJSON *m;
	pid_t pid;
	int turns_before;

	snprintf(dir, sizeof(dir), "%s/e2e", test_tmpdir());
	mkdir(dir, 0755);
	snprintf(conf, sizeof(conf), "%s/e2e.conf", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	write_config();
	pid = start_daemon();
	ASSERT_EQ(client_connect(&kiosk, "kiosk.sock"), 0);
	ASSERT_EQ(client_connect(&staff, "staff.sock"), 0);

	/* the walk-in replay brings the visitor to the kiosk: a greeting */
	text[0] = '\0';
	m = until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; daemon log:\n%s", slurp_log());
	ASSERT_CONTAINS(cJSON_GetObjectItem(m, "text")->valuestring, "welcome");
	cJSON_Delete(m);
	m = until(&staff, "visitor_arrived", 2000, NULL, 0);
	ASSERT(m);
	cJSON_Delete(m);

	/* five selling turns: each streams a reply that ends */
	for (int i = 0; i < 5; i++) {
		text[0] = '\0';
		say(&kiosk, conversation[i]);
		m = until(&kiosk, "reply_end", 10000, text, sizeof(text));
		ASSERT_MSG(m, "turn %d: no reply_end", i + 1);
		cJSON_Delete(m);
		ASSERT_MSG(strlen(text) > 10, "turn %d: reply \"%s\"", i + 1, text);
	}
	/* the sixth is out of scope: a hand-over, never a sales reply */
	say(&kiosk, conversation[5]);
	m = until(&kiosk, "handoff", 10000, NULL, 0);
	ASSERT(m);
	cJSON_Delete(m);
	drain_staff(&staff, feed, sizeof(feed));
	ASSERT_CONTAINS(feed, "signals");
	ASSERT_CONTAINS(feed, "transcript");
	ASSERT_CONTAINS(feed, "escalation:cancellation");

	/* one visit, no spurious farewell before the talk */
	ASSERT_EQ(count_rows("SELECT count(*) FROM sessions"), 1);
	ASSERT_EQ(count_rows("SELECT count(*) FROM turns WHERE text LIKE '%let you be%'"), 0);

	/* every turn was committed as it happened */
	turns_before = count_rows("SELECT count(*) FROM turns");
	ASSERT_MSG(turns_before >= 13, "turns %d", turns_before); /* greeting + 6 x 2 */

	/* killed mid-visit: nothing committed is lost, the session resumes */
	kill(pid, SIGKILL);
	ASSERT_EQ(wait_exit(pid, 3000), 128 + SIGKILL);
	close(kiosk.fd);
	close(staff.fd);
	ASSERT_EQ(count_rows("SELECT count(*) FROM turns"), turns_before);
	ASSERT_EQ(count_rows("SELECT count(*) FROM sessions WHERE closed_at IS NULL"), 1);
	pid = start_daemon();
	ASSERT_EQ(client_connect(&staff, "staff.sock"), 0);
	for (int i = 0; i < 100 && !strstr(slurp_log(), "resumed session"); i++)
		usleep(50000);
	ASSERT_CONTAINS(slurp_log(), "resumed session");
	ASSERT_EQ(count_rows("SELECT count(*) FROM turns"), turns_before);
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
	close(staff.fd);
}

/* Paths for a fresh test folder. */
static void fresh(const char *name)
{
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
	mkdir(dir, 0755);
	snprintf(conf, sizeof(conf), "%s/e2e.conf", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
}

TEST(visitor_who_walks_away_gets_a_farewell_and_the_session_closes)
{
	struct client kiosk;
	cJSON *m;
	pid_t pid;

	fresh("leave");
	write_config(); /* the walk-in fixture at 8x: at the kiosk ~1.5 s, gone by ~5 s */
	pid = start_daemon();
	ASSERT_EQ(client_connect(&kiosk, "kiosk.sock"), 0);
	m = until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; log:\n%s", slurp_log());
	cJSON_Delete(m);
	m = until(&kiosk, "farewell", 20000, NULL, 0);
	ASSERT_MSG(m, "no farewell; log:\n%s", slurp_log());
	cJSON_Delete(m);
	ASSERT_EQ(count_rows_soon("SELECT count(*) FROM sessions WHERE closed_at IS NOT NULL", 1), 1);
	ASSERT_EQ(count_rows_soon("SELECT count(*) FROM visits WHERE ended_at IS NOT NULL", 1), 1);
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
	close(kiosk.fd);
}

TEST(silence_ends_the_visit_with_a_farewell)
{
	struct client kiosk;
	char text[4096] = "";
	cJSON *m;
	pid_t pid;

	fresh("silence");
	/* the app's beacon crawls in (never arrives); someone types instead */
	write_config_extra("[ble]\nspeed = 0.01\n[conversation]\nsilence_s = 10\n");
	pid = start_daemon();
	ASSERT_EQ(client_connect(&kiosk, "kiosk.sock"), 0);
	say(&kiosk, "hello, just looking");
	m = until(&kiosk, "reply_end", 10000, text, sizeof(text));
	ASSERT_MSG(m, "no reply; log:\n%s", slurp_log());
	cJSON_Delete(m);
	m = until(&kiosk, "farewell", 20000, NULL, 0);
	ASSERT_MSG(m, "no farewell after 10 s of silence; log:\n%s", slurp_log());
	ASSERT_CONTAINS(cJSON_GetObjectItem(m, "text")->valuestring, "let you be");
	cJSON_Delete(m);
	ASSERT_EQ(count_rows_soon("SELECT count(*) FROM sessions WHERE closed_at IS NOT NULL", 1), 1);
	kill(pid, SIGTERM);
	ASSERT_EQ(wait_exit(pid, 5000), 0);
	close(kiosk.fd);
}

/* ---- face consent at the kiosk --------------------------------------------- */

/*
 * A camera that replays three photos of one person in turn (so the motion
 * gate lets the face stage look) and the real dlib models, next to the walk-in
 * BLE replay (an app beacon the store has not mapped): an anonymous visitor
 * the camera sees.
 */
static void write_camera_config(void)
{
	static const char *const photos[] = {"000179_02159509.jpg", "000183_02159543.jpg",
					      "000186_02159346.jpg"};
	char cwd[256], cam[700], src[900], dst[900], extra[2048];

	ASSERT_MSG(getcwd(cwd, sizeof(cwd)), "getcwd");
	snprintf(cam, sizeof(cam), "%s/camera", dir);
	mkdir(cam, 0755);
	for (size_t i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "%s/tests/data/faces/johns/John_Salley/%s", cwd,
			 photos[i]);
		snprintf(dst, sizeof(dst), "%s/%zu.jpg", cam, i);
		unlink(dst);
		ASSERT_MSG(symlink(src, dst) == 0, "symlink %s", src);
	}
	snprintf(extra, sizeof(extra),
		 "[camera]\ndriver = replay\npath = %s\nfps = 8\nloop = true\n"
		 "[faces]\nmodels = %s/models\nrecheck_ms = 1000\n"
		 "[privacy]\nface_consent_after_turns = 2\n",
		 cam, cwd);
	write_config_extra(extra);
}

static void consent_answer(struct client *c, bool yes, const char *name)
{
	char line[256];
	int n = snprintf(line, sizeof(line),
			 "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":%s%s%s%s}\n",
			 yes ? "true" : "false", name ? ",\"name\":\"" : "", name ? name : "",
			 name ? "\"" : "");

	if (write(c->fd, line, (size_t)n) != n)
		perror("consent");
}

static const char *str_of(const cJSON *m, const char *key)
{
	const cJSON *v = cJSON_GetObjectItem(m, key);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* A box in its own folder under the test's: state, log and config there. */
static void use_dir(const char *name)
{
	snprintf(dir, sizeof(dir), "%s/%s", test_tmpdir(), name);
	mkdir(dir, 0755);
	snprintf(conf, sizeof(conf), "%s/e2e.conf", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
}

/* Starts the daemon on the config written and connects both displays. */
static pid_t start_box(struct client *kiosk, struct client *staff)
{
	pid_t pid = start_daemon();

	if (client_connect(kiosk, "kiosk.sock") < 0 || client_connect(staff, "staff.sock") < 0) {
		printf("    no display sockets; daemon log:\n%s\n", slurp_log());
		kill(pid, SIGKILL);
		wait_exit(pid, 3000);
		return -1;
	}
	return pid;
}

/* SIGTERM: the daemon must stop cleanly. */
static int stop_box(pid_t pid, struct client *kiosk, struct client *staff)
{
	kill(pid, SIGTERM);
	close(kiosk->fd);
	close(staff->fd);
	return wait_exit(pid, 5000);
}

/* Greeted, then two messages: the consent question comes after the second. */
static cJSON *talk_until_consent_request(struct client *kiosk)
{
	char text[4096] = "";
	cJSON *m = until(kiosk, "greeting", 30000, NULL, 0);

	if (!m)
		return NULL;
	cJSON_Delete(m);
	say(kiosk, "hi, I'm after a new phone plan");
	m = until(kiosk, "reply_end", 10000, text, sizeof(text));
	if (!m)
		return NULL;
	cJSON_Delete(m);
	say(kiosk, "mostly streaming and video calls, I run out of data every month");
	return until(kiosk, "consent_request", 10000, NULL, 0);
}

TEST(kiosk_consent_enrols_the_live_face_and_the_box_then_recognises_it)
{
	struct client kiosk, staff;
	cJSON *m;
	pid_t pid;

	use_dir("consent-yes");
	write_camera_config();
	pid = start_box(&kiosk, &staff);
	ASSERT(pid > 0);

	/* the camera brought an anonymous visitor; after two messages, the question */
	m = talk_until_consent_request(&kiosk);
	ASSERT_MSG(m, "no consent_request; daemon log:\n%s", slurp_log());
	ASSERT_STREQ(str_of(m, "kind"), "face");
	ASSERT_CONTAINS(str_of(m, "text"), "never a photo");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "ask_name"))); /* we do not know them */
	cJSON_Delete(m);
	ASSERT_EQ(count_rows("SELECT count(*) FROM customers"), 0);

	/* yes, call me Sam: the face the camera sees now is enrolled */
	consent_answer(&kiosk, true, "Sam");
	m = until(&kiosk, "consent_result", 15000, NULL, 0);
	ASSERT_MSG(m, "no consent_result; daemon log:\n%s", slurp_log());
	ASSERT_MSG(cJSON_IsTrue(cJSON_GetObjectItem(m, "ok")), "not enrolled: %s",
		   str_of(m, "text"));
	ASSERT_CONTAINS(str_of(m, "text"), "Sam");
	cJSON_Delete(m);
	m = until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "granted")));
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "enrolled")));
	ASSERT_EQ((int)cJSON_GetObjectItem(m, "customer_id")->valuedouble, 1);
	cJSON_Delete(m);

	/* one customer, named; the consent (kiosk, by the customer) and one template */
	ASSERT_EQ(count_rows("SELECT count(*) FROM customers WHERE display_name = 'Sam'"), 1);
	ASSERT_EQ(count_rows("SELECT count(*) FROM consents WHERE customer_id = 1 AND kind = "
			     "'face' AND method = 'kiosk' AND granted_by IS NULL AND revoked_at "
			     "IS NULL AND granted_at > 0"),
		  1);
	ASSERT_EQ(count_rows("SELECT count(*) FROM face_embeddings WHERE customer_id = 1 AND "
			     "source = 'enroll:kiosk' AND length(vector) = 512"),
		  1);
	/* the visit is theirs now (kept, not purged as anonymous) */
	ASSERT_EQ(count_rows("SELECT count(*) FROM visits WHERE customer_id = 1"), 1);
	ASSERT_EQ(count_rows("SELECT count(*) FROM audit WHERE kind = 'consent_enrolment' AND "
			     "detail LIKE '%\"enrolled\":true%'"),
		  1);

	/* the gallery is reloaded at once: the next re-check names the face */
	for (int i = 0; i < 100 && count_rows("SELECT count(*) FROM audit WHERE kind = "
					       "'face_identified' AND detail LIKE "
					       "'%\"customer\":1,%'") < 1;
	     i++)
		usleep(100000);
	ASSERT_MSG(count_rows("SELECT count(*) FROM audit WHERE kind = 'face_identified' AND "
			      "detail LIKE '%\"customer\":1,%'") >= 1,
		   "the enrolled face was not recognised; log:\n%s", slurp_log());

	/* no image or crop was written anywhere in the box's folder (the camera's
	 * replay photos are links into the repository, and not files) */
	{
		char cmd[2048];

		snprintf(cmd, sizeof(cmd),
			 "find '%s' -type f \\( -name '*.jpg' -o -name '*.jpeg' -o -name '*.ppm' -o "
			 "-name '*.png' \\) | grep -q .",
			 dir);
		ASSERT_MSG(system(cmd) != 0, "an image file appeared in %s", dir);
	}
	ASSERT_EQ(stop_box(pid, &kiosk, &staff), 0);
}

TEST(kiosk_consent_no_keeps_nothing_and_is_not_asked_again)
{
	struct client kiosk, staff;
	char text[4096] = "";
	cJSON *m;
	pid_t pid;

	use_dir("consent-no");
	write_camera_config();
	pid = start_box(&kiosk, &staff);
	ASSERT(pid > 0);
	m = talk_until_consent_request(&kiosk);
	ASSERT_MSG(m, "no consent_request; daemon log:\n%s", slurp_log());
	cJSON_Delete(m);
	consent_answer(&kiosk, false, NULL);
	m = until(&kiosk, "consent_result", 5000, NULL, 0);
	ASSERT(m);
	ASSERT_CONTAINS(str_of(m, "text"), "not keep");
	cJSON_Delete(m);
	m = until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "granted")));
	ASSERT(!cJSON_GetObjectItem(m, "customer_id"));
	cJSON_Delete(m);
	/* more talk: the question is not asked again this visit */
	say(&kiosk, "what about the unlimited one?");
	m = until(&kiosk, "reply_end", 10000, text, sizeof(text));
	ASSERT(m);
	cJSON_Delete(m);
	m = until(&kiosk, "consent_request", 1500, NULL, 0);
	ASSERT(!m);
	ASSERT_EQ(count_rows("SELECT count(*) FROM customers"), 0);
	ASSERT_EQ(count_rows("SELECT count(*) FROM consents"), 0);
	ASSERT_EQ(count_rows("SELECT count(*) FROM face_embeddings"), 0);
	ASSERT_EQ(count_rows("SELECT count(*) FROM audit WHERE kind = 'consent_answer' AND detail "
			     "LIKE '%\"granted\":false%'"),
		  1);
	ASSERT_EQ(stop_box(pid, &kiosk, &staff), 0);
}

TEST(kiosk_consent_without_a_camera_says_so_and_keeps_nothing)
{
	struct client kiosk, staff;
	char text[4096] = "";
	cJSON *m;
	pid_t pid;

	use_dir("consent-nocam");
	write_config(); /* BLE only */
	pid = start_box(&kiosk, &staff);
	ASSERT(pid > 0);
	m = until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; daemon log:\n%s", slurp_log());
	cJSON_Delete(m);
	/* no camera: the box never asks... */
	for (int i = 0; i < 2; i++) {
		say(&kiosk, conversation[i]);
		m = until(&kiosk, "reply_end", 10000, text, sizeof(text));
		ASSERT(m);
		cJSON_Delete(m);
	}
	m = until(&kiosk, "consent_request", 1000, NULL, 0);
	ASSERT(!m);
	/* ...and a kiosk that offers it anyway gets a clear answer, nothing stored */
	consent_answer(&kiosk, true, "Kim");
	m = until(&kiosk, "consent_result", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "ok")));
	ASSERT_CONTAINS(str_of(m, "text"), "no camera");
	cJSON_Delete(m);
	m = until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "enrolled")));
	cJSON_Delete(m);
	ASSERT_EQ(count_rows("SELECT count(*) FROM customers"), 0);
	ASSERT_EQ(count_rows("SELECT count(*) FROM consents"), 0);
	ASSERT_EQ(stop_box(pid, &kiosk, &staff), 0);
}
