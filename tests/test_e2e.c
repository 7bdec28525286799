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
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/support/daemon.h"

static struct test_box box;

/* ---- the daemon ----------------------------------------------------------- */

/* A box in its own folder under the test's: state, log and config there. */
static int use_dir(const char *name)
{
	return test_box_init(&box, test_tmpdir(), name, "e2e.conf");
}

/* extra: more lines, appended (later keys win). */
static void write_config_extra(const char *extra)
{
	/* with the repository's agent files, no control socket */
	test_box_write_conf(
	    &box, "[daemon]\nrealtime = false\nstatus_file = @DIR@/status.json\n"
		  "[store]\npath = @DIR@/edgebox.db\n"
		  "[ble]\ndriver = btsnoop\nfile = @REPO@/tests/fixtures/ble/walk_in.btsnoop\n"
		  "speed = 8\n"
		  "[beacons]\nuuid = E2C56DB5-DFFB-48D2-B060-D0F5A71096E0\n"
		  "[kiosk]\nsocket = @DIR@/kiosk.sock\n[staff]\nsocket = @DIR@/staff.sock\n"
		  "[conversation]\nsilence_s = 60\n"
		  "[watchdog]\ndriver = soft\n");
	test_box_append_conf(&box, extra);
}

static void write_config(void)
{
	write_config_extra("");
}

/* ---- the kiosk and the staff tablet ----------------------------------------- */

static void say(struct test_client *c, const char *text)
{
	char line[1024];
	cJSON *s = cJSON_CreateString(text);
	char *q = cJSON_PrintUnformatted(s);

	snprintf(line, sizeof(line), "{\"v\":1,\"type\":\"customer_text\",\"text\":%s}\n", q);
	if (test_client_send(c, line) < 0)
		perror("say");
	free(q);
	cJSON_Delete(s);
}

/* Every staff message so far, as one string of types (and some fields). */
static void drain_staff(struct test_client *c, char *out, size_t len)
{
	cJSON *m;

	while ((m = test_client_next(c, 200))) {
		const cJSON *cat = cJSON_GetObjectItem(m, "category");
		size_t off = strlen(out);

		snprintf(out + off, len - off, "%s%s%s ", test_msg_str(m, "type"),
			 cJSON_IsString(cat) ? ":" : "",
			 cJSON_IsString(cat) ? cat->valuestring : "");
		cJSON_Delete(m);
	}
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
	struct test_client kiosk, staff;
	char text[8192], feed[16384] = "";
	cJSON *m;
	int turns_before;

	ASSERT_EQ(use_dir("e2e"), 0);
	write_config();
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_connect(&box, "kiosk.sock", &kiosk), 0);
	ASSERT_EQ(test_box_connect(&box, "staff.sock", &staff), 0);

	/* the walk-in replay brings the visitor to the kiosk: a greeting */
	text[0] = '\0';
	m = test_client_until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; daemon log:\n%s", test_box_log(&box));
	ASSERT_CONTAINS(cJSON_GetObjectItem(m, "text")->valuestring, "welcome");
	cJSON_Delete(m);
	m = test_client_until(&staff, "visitor_arrived", 2000, NULL, 0);
	ASSERT(m);
	cJSON_Delete(m);

	/* five selling turns: each streams a reply that ends */
	for (int i = 0; i < 5; i++) {
		text[0] = '\0';
		say(&kiosk, conversation[i]);
		m = test_client_until(&kiosk, "reply_end", 10000, text, sizeof(text));
		ASSERT_MSG(m, "turn %d: no reply_end", i + 1);
		cJSON_Delete(m);
		ASSERT_MSG(strlen(text) > 10, "turn %d: reply \"%s\"", i + 1, text);
	}
	/* the sixth is out of scope: a hand-over, never a sales reply */
	say(&kiosk, conversation[5]);
	m = test_client_until(&kiosk, "handoff", 10000, NULL, 0);
	ASSERT(m);
	cJSON_Delete(m);
	drain_staff(&staff, feed, sizeof(feed));
	ASSERT_CONTAINS(feed, "signals");
	ASSERT_CONTAINS(feed, "transcript");
	ASSERT_CONTAINS(feed, "escalation:cancellation");

	/* one visit, no spurious farewell before the talk */
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM sessions"), 1);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM turns WHERE text LIKE '%let you be%'"),
		  0);

	/* every turn was committed as it happened */
	turns_before = test_box_rows(&box, "SELECT count(*) FROM turns");
	ASSERT_MSG(turns_before >= 13, "turns %d", turns_before); /* greeting + 6 x 2 */

	/* killed mid-visit: nothing committed is lost, the session resumes */
	ASSERT_EQ(test_box_signal(&box, SIGKILL), 0);
	ASSERT_EQ(test_box_wait(&box, 3000), 128 + SIGKILL);
	test_client_close(&kiosk);
	test_client_close(&staff);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM turns"), turns_before);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM sessions WHERE closed_at IS NULL"), 1);
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_connect(&box, "staff.sock", &staff), 0);
	for (int i = 0; i < 100 && !strstr(test_box_log(&box), "resumed session"); i++)
		usleep(50000);
	ASSERT_CONTAINS(test_box_log(&box), "resumed session");
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM turns"), turns_before);
	ASSERT_EQ(test_box_stop(&box), 0);
	test_client_close(&staff);
}

TEST(visitor_who_walks_away_gets_a_farewell_and_the_session_closes)
{
	struct test_client kiosk;
	cJSON *m;

	ASSERT_EQ(use_dir("leave"), 0);
	write_config(); /* the walk-in fixture at 8x: at the kiosk ~1.5 s, gone by ~5 s */
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_connect(&box, "kiosk.sock", &kiosk), 0);
	m = test_client_until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; log:\n%s", test_box_log(&box));
	cJSON_Delete(m);
	m = test_client_until(&kiosk, "farewell", 20000, NULL, 0);
	ASSERT_MSG(m, "no farewell; log:\n%s", test_box_log(&box));
	cJSON_Delete(m);
	ASSERT_EQ(test_box_rows_soon(
		      &box, "SELECT count(*) FROM sessions WHERE closed_at IS NOT NULL", 1),
		  1);
	ASSERT_EQ(
	    test_box_rows_soon(&box, "SELECT count(*) FROM visits WHERE ended_at IS NOT NULL", 1),
	    1);
	ASSERT_EQ(test_box_stop(&box), 0);
	test_client_close(&kiosk);
}

TEST(silence_ends_the_visit_with_a_farewell)
{
	struct test_client kiosk;
	char text[4096] = "";
	cJSON *m;

	ASSERT_EQ(use_dir("silence"), 0);
	/* the app's beacon crawls in (never arrives); someone types instead */
	write_config_extra("[ble]\nspeed = 0.01\n[conversation]\nsilence_s = 10\n");
	ASSERT_EQ(test_box_start(&box, NULL), 0);
	ASSERT_EQ(test_box_connect(&box, "kiosk.sock", &kiosk), 0);
	say(&kiosk, "hello, just looking");
	m = test_client_until(&kiosk, "reply_end", 10000, text, sizeof(text));
	ASSERT_MSG(m, "no reply; log:\n%s", test_box_log(&box));
	cJSON_Delete(m);
	m = test_client_until(&kiosk, "farewell", 20000, NULL, 0);
	ASSERT_MSG(m, "no farewell after 10 s of silence; log:\n%s", test_box_log(&box));
	ASSERT_CONTAINS(cJSON_GetObjectItem(m, "text")->valuestring, "let you be");
	cJSON_Delete(m);
	ASSERT_EQ(test_box_rows_soon(
		      &box, "SELECT count(*) FROM sessions WHERE closed_at IS NOT NULL", 1),
		  1);
	ASSERT_EQ(test_box_stop(&box), 0);
	test_client_close(&kiosk);
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
	char cwd[256], cam[700], src[900], dst[900];

	ASSERT_MSG(getcwd(cwd, sizeof(cwd)), "getcwd");
	snprintf(cam, sizeof(cam), "%s/camera", box.dir);
	mkdir(cam, 0755);
	for (size_t i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "%s/tests/data/faces/johns/John_Salley/%s", cwd,
			 photos[i]);
		snprintf(dst, sizeof(dst), "%s/%zu.jpg", cam, i);
		unlink(dst);
		ASSERT_MSG(symlink(src, dst) == 0, "symlink %s", src);
	}
	write_config_extra("[camera]\ndriver = replay\npath = @DIR@/camera\nfps = 8\nloop = true\n"
			   "[faces]\nmodels = @REPO@/models\nrecheck_ms = 1000\n"
			   "[privacy]\nface_consent_after_turns = 2\n");
}

static void consent_answer(struct test_client *c, bool yes, const char *name)
{
	char line[256];

	snprintf(line, sizeof(line),
		 "{\"v\":1,\"type\":\"consent\",\"kind\":\"face\",\"granted\":%s%s%s%s}\n",
		 yes ? "true" : "false", name ? ",\"name\":\"" : "", name ? name : "",
		 name ? "\"" : "");
	if (test_client_send(c, line) < 0)
		perror("consent");
}

/* Starts the daemon on the config written and connects both displays: 0 or -errno. */
static int start_box(struct test_client *kiosk, struct test_client *staff)
{
	int rc = test_box_start(&box, NULL);

	if (rc == 0 && ((rc = test_box_connect(&box, "kiosk.sock", kiosk)) < 0 ||
			(rc = test_box_connect(&box, "staff.sock", staff)) < 0)) {
		printf("    no display sockets; daemon log:\n%s\n", test_box_log(&box));
		test_box_signal(&box, SIGKILL);
		test_box_wait(&box, 3000);
	}
	return rc;
}

/* SIGTERM: the daemon must stop cleanly. */
static int stop_box(struct test_client *kiosk, struct test_client *staff)
{
	int rc = test_box_stop(&box);

	test_client_close(kiosk);
	test_client_close(staff);
	return rc;
}

/* Greeted, then two messages: the consent question comes after the second. */
static cJSON *talk_until_consent_request(struct test_client *kiosk)
{
	char text[4096] = "";
	cJSON *m = test_client_until(kiosk, "greeting", 30000, NULL, 0);

	if (!m)
		return NULL;
	cJSON_Delete(m);
	say(kiosk, "hi, I'm after a new phone plan");
	m = test_client_until(kiosk, "reply_end", 10000, text, sizeof(text));
	if (!m)
		return NULL;
	cJSON_Delete(m);
	say(kiosk, "mostly streaming and video calls, I run out of data every month");
	return test_client_until(kiosk, "consent_request", 10000, NULL, 0);
}

TEST(kiosk_consent_enrols_the_live_face_and_the_box_then_recognises_it)
{
	struct test_client kiosk, staff;
	cJSON *m;

	ASSERT_EQ(use_dir("consent-yes"), 0);
	write_camera_config();
	ASSERT_EQ(start_box(&kiosk, &staff), 0);

	/* the camera brought an anonymous visitor; after two messages, the question */
	m = talk_until_consent_request(&kiosk);
	ASSERT_MSG(m, "no consent_request; daemon log:\n%s", test_box_log(&box));
	ASSERT_STREQ(test_msg_str(m, "kind"), "face");
	ASSERT_CONTAINS(test_msg_str(m, "text"), "never a photo");
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "ask_name"))); /* we do not know them */
	cJSON_Delete(m);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM customers"), 0);

	/* yes, call me Sam: the face the camera sees now is enrolled */
	consent_answer(&kiosk, true, "Sam");
	m = test_client_until(&kiosk, "consent_result", 15000, NULL, 0);
	ASSERT_MSG(m, "no consent_result; daemon log:\n%s", test_box_log(&box));
	ASSERT_MSG(cJSON_IsTrue(cJSON_GetObjectItem(m, "ok")), "not enrolled: %s",
		   test_msg_str(m, "text"));
	ASSERT_CONTAINS(test_msg_str(m, "text"), "Sam");
	cJSON_Delete(m);
	m = test_client_until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "granted")));
	ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(m, "enrolled")));
	ASSERT_EQ((int)cJSON_GetObjectItem(m, "customer_id")->valuedouble, 1);
	cJSON_Delete(m);

	/* one customer, named; the consent (kiosk, by the customer) and one template */
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM customers WHERE display_name = 'Sam'"),
		  1);
	ASSERT_EQ(test_box_rows(&box,
				"SELECT count(*) FROM consents WHERE customer_id = 1 AND kind = "
				"'face' AND method = 'kiosk' AND granted_by IS NULL AND revoked_at "
				"IS NULL AND granted_at > 0"),
		  1);
	ASSERT_EQ(test_box_rows(&box,
				"SELECT count(*) FROM face_embeddings WHERE customer_id = 1 AND "
				"source = 'enroll:kiosk' AND length(vector) = 512"),
		  1);
	/* the visit is theirs now (kept, not purged as anonymous) */
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM visits WHERE customer_id = 1"), 1);
	ASSERT_EQ(test_box_rows(&box,
				"SELECT count(*) FROM audit WHERE kind = 'consent_enrolment' AND "
				"detail LIKE '%\"enrolled\":true%'"),
		  1);

	/* the gallery is reloaded at once: the next re-check names the face */
	for (int i = 0; i < 100 && test_box_rows(&box, "SELECT count(*) FROM audit WHERE kind = "
						       "'face_identified' AND detail LIKE "
						       "'%\"customer\":1,%'") < 1;
	     i++)
		usleep(100000);
	ASSERT_MSG(test_box_rows(&box,
				 "SELECT count(*) FROM audit WHERE kind = 'face_identified' AND "
				 "detail LIKE '%\"customer\":1,%'") >= 1,
		   "the enrolled face was not recognised; log:\n%s", test_box_log(&box));

	/* no image or crop was written anywhere in the box's folder (the camera's
	 * replay photos are links into the repository, and not files) */
	{
		char cmd[2048];

		snprintf(
		    cmd, sizeof(cmd),
		    "find '%s' -type f \\( -name '*.jpg' -o -name '*.jpeg' -o -name '*.ppm' -o "
		    "-name '*.png' \\) | grep -q .",
		    box.dir);
		ASSERT_MSG(system(cmd) != 0, "an image file appeared in %s", box.dir);
	}
	ASSERT_EQ(stop_box(&kiosk, &staff), 0);
}

TEST(kiosk_consent_no_keeps_nothing_and_is_not_asked_again)
{
	struct test_client kiosk, staff;
	char text[4096] = "";
	cJSON *m;

	ASSERT_EQ(use_dir("consent-no"), 0);
	write_camera_config();
	ASSERT_EQ(start_box(&kiosk, &staff), 0);
	m = talk_until_consent_request(&kiosk);
	ASSERT_MSG(m, "no consent_request; daemon log:\n%s", test_box_log(&box));
	cJSON_Delete(m);
	consent_answer(&kiosk, false, NULL);
	m = test_client_until(&kiosk, "consent_result", 5000, NULL, 0);
	ASSERT(m);
	ASSERT_CONTAINS(test_msg_str(m, "text"), "not keep");
	cJSON_Delete(m);
	m = test_client_until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "granted")));
	ASSERT(!cJSON_GetObjectItem(m, "customer_id"));
	cJSON_Delete(m);
	/* more talk: the question is not asked again this visit */
	say(&kiosk, "what about the unlimited one?");
	m = test_client_until(&kiosk, "reply_end", 10000, text, sizeof(text));
	ASSERT(m);
	cJSON_Delete(m);
	m = test_client_until(&kiosk, "consent_request", 1500, NULL, 0);
	ASSERT(!m);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM customers"), 0);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM consents"), 0);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM face_embeddings"), 0);
	ASSERT_EQ(test_box_rows(
		      &box, "SELECT count(*) FROM audit WHERE kind = 'consent_answer' AND detail "
			    "LIKE '%\"granted\":false%'"),
		  1);
	ASSERT_EQ(stop_box(&kiosk, &staff), 0);
}

TEST(kiosk_consent_without_a_camera_says_so_and_keeps_nothing)
{
	struct test_client kiosk, staff;
	char text[4096] = "";
	cJSON *m;

	ASSERT_EQ(use_dir("consent-nocam"), 0);
	write_config(); /* BLE only */
	ASSERT_EQ(start_box(&kiosk, &staff), 0);
	m = test_client_until(&kiosk, "greeting", 15000, NULL, 0);
	ASSERT_MSG(m, "no greeting; daemon log:\n%s", test_box_log(&box));
	cJSON_Delete(m);
	/* no camera: the box never asks... */
	for (int i = 0; i < 2; i++) {
		say(&kiosk, conversation[i]);
		m = test_client_until(&kiosk, "reply_end", 10000, text, sizeof(text));
		ASSERT(m);
		cJSON_Delete(m);
	}
	m = test_client_until(&kiosk, "consent_request", 1000, NULL, 0);
	ASSERT(!m);
	/* ...and a kiosk that offers it anyway gets a clear answer, nothing stored */
	consent_answer(&kiosk, true, "Kim");
	m = test_client_until(&kiosk, "consent_result", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "ok")));
	ASSERT_CONTAINS(test_msg_str(m, "text"), "no camera");
	cJSON_Delete(m);
	m = test_client_until(&staff, "consent_recorded", 5000, NULL, 0);
	ASSERT(m);
	ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(m, "enrolled")));
	cJSON_Delete(m);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM customers"), 0);
	ASSERT_EQ(test_box_rows(&box, "SELECT count(*) FROM consents"), 0);
	ASSERT_EQ(stop_box(&kiosk, &staff), 0);
}
