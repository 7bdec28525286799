/*
 * Consent and biometric data through edgeboxctl: enroll records the face
 * consent and one embedding, the enrolled face is recognised and another
 * person's is not, not-them removes a wrong embedding, forget erases every
 * trace, and nothing is enrolled without consent or with no single face.
 */
#include "tests/test.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/face_dlib.h"
#include "agent/face_match.h"
#include "firmware/agent_stage.h"
#include "firmware/config.h"
#include "firmware/store.h"
#include "hal/image.h"
#include "tests/support/daemon.h"

#define FACES "tests/data/faces/johns"

static char conf[600], db[600], out[600];

static void setup(void)
{
	char cwd[256];
	FILE *f;

	if (!getcwd(cwd, sizeof(cwd)))
		return;
	snprintf(conf, sizeof(conf), "%s/privacy.conf", test_tmpdir());
	snprintf(db, sizeof(db), "%s/privacy.db", test_tmpdir());
	snprintf(out, sizeof(out), "%s/out.txt", test_tmpdir());
	f = fopen(conf, "w");
	if (!f)
		return;
	fprintf(f, "[store]\npath = %s\n[faces]\nmodels = %s/models\n", db, cwd);
	fclose(f);
}

/* Runs edgeboxctl with args; its exit status, output in out. */
static int ctl(const char *args)
{
	char cmd[2048];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl %s --config %s >%s 2>&1", test_bin_dir(), args,
		 conf, out);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const char *output(void)
{
	static char buf[4096];
	FILE *f = fopen(out, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int rows(const char *sql)
{
	return test_store_rows(db, sql);
}

/* The gallery's verdict for a photo, through the firmware's matching code. */
static int64_t recognise(const char *photo)
{
	struct face_dlib_params dp;
	struct face_match_params mp;
	struct face_match_result r = {0};
	struct camera_frame f = {0};
	struct face_dlib *h = NULL;
	struct face_match *m = NULL;
	struct face_box box;
	struct store *s = NULL;
	float vec[FACE_DLIB_DIM];
	char err[512];

	face_dlib_params_default(&dp);
	snprintf(dp.models_dir, sizeof(dp.models_dir), "models");
	face_match_params_default(&mp);
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	f.data = malloc(f.capacity);
	if (image_load(photo, &f, err, sizeof(err)) < 0 ||
	    face_dlib_open(&dp, &h, err, sizeof(err)) < 0 || face_dlib_detect(h, &f, &box, 1) < 1 ||
	    face_dlib_embed(h, &f, &box, vec) < 0 ||
	    face_match_new(&mp, &m, err, sizeof(err)) < 0 ||
	    store_open(db, STORE_OPEN_READONLY, &s, NULL, NULL) < 0 ||
	    face_match_load(m, s, err, sizeof(err)) < 0 || face_match_query(m, vec, &r) < 0)
		r.verdict = FACE_MATCH_UNKNOWN;
	store_close(s);
	face_match_free(m);
	face_dlib_close(h);
	free(f.data);
	return r.verdict == FACE_MATCH_KNOWN ? r.customer_id : 0;
}

TEST(enroll_recognise_correct_and_forget)
{
	setup();
	ASSERT_MSG(ctl("enroll --name Alice --image " FACES
		       "/John_Salley/000179_02159509.jpg --consent kiosk --json") == 0,
		   "%s", output());
	ASSERT_CONTAINS(output(), "\"customer\":1");
	ASSERT_EQ(rows("SELECT count(*) FROM consents WHERE kind = 'face' AND method = 'kiosk'"),
		  1);
	ASSERT_EQ(rows("SELECT count(*) FROM face_embeddings"), 1);
	/* the same person from another photo is recognised; someone else is not */
	ASSERT_EQ(recognise(FACES "/John_Salley/000183_02159543.jpg"), 1);
	ASSERT_EQ(recognise(FACES "/John_Savage/000264_01099001.jpg"), 0);
	/* a second photo for the same customer, consent taken by staff */
	ASSERT_EQ(ctl("enroll --customer 1 --image " FACES
		      "/John_Salley/000186_02159346.jpg --consent staff --by Sam"),
		  0);
	ASSERT_EQ(rows("SELECT count(*) FROM face_embeddings WHERE customer_id = 1"), 2);
	/* "that is not Alice": the wrong embedding goes */
	ASSERT_EQ(ctl("not-them 1 2"), 0);
	ASSERT_EQ(rows("SELECT count(*) FROM face_embeddings WHERE customer_id = 1"), 1);
	ASSERT_EQ(ctl("not-them 1 99"), 1);
	/* forget erases every trace and says what it erased */
	ASSERT_EQ(ctl("forget 1 --json"), 0);
	ASSERT_CONTAINS(output(), "\"embeddings\":1");
	ASSERT_EQ(rows("SELECT count(*) FROM customers"), 0);
	ASSERT_EQ(rows("SELECT count(*) FROM consents"), 0);
	ASSERT_EQ(rows("SELECT count(*) FROM face_embeddings"), 0);
	ASSERT_EQ(recognise(FACES "/John_Salley/000183_02159543.jpg"), 0);
	ASSERT_EQ(ctl("forget 1"), 1);
	ASSERT_CONTAINS(output(), "no");
}

TEST(no_consent_no_face_no_enrolment)
{
	setup();
	ASSERT_EQ(ctl("enroll --name Bob --image " FACES "/John_Savage/000264_01099001.jpg"), 2);
	ASSERT_CONTAINS(output(), "consent");
	ASSERT_EQ(ctl("enroll --name Bob --image " FACES
		      "/John_Savage/000264_01099001.jpg --consent staff"),
		  2);
	ASSERT_CONTAINS(output(), "--by");
	ASSERT_EQ(
	    ctl("enroll --name Dogs --image tests/data/faces/scenes/dogs.jpg --consent kiosk"), 1);
	ASSERT_CONTAINS(output(), "no face");
	ASSERT_EQ(rows("SELECT count(*) FROM customers WHERE display_name = 'Dogs'"), 0);
	ASSERT_EQ(ctl("enroll --name X --image /nonexistent.jpg --consent kiosk"), 1);
	ASSERT_CONTAINS(output(), "/nonexistent.jpg");
	ASSERT_EQ(ctl("enroll --help"), 0);
	ASSERT_EQ(ctl("forget"), 2);
	ASSERT_EQ(ctl("forget abc"), 2);
}

/* [privacy]'s kiosk consent keys: defaults, and bad values named by file,
 * line and key (the daemon refuses to start on them). */
TEST(kiosk_consent_config_defaults_and_bad_values)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"[privacy]\nface_consent = maybe\n", "p.conf:2: [privacy] face_consent"},
	    {"[privacy]\nface_consent_after_turns = 0\n", "face_consent_after_turns"},
	    {"[privacy]\nface_consent_after_turns = 51\n", "face_consent_after_turns"},
	    {"[privacy]\nenrol_timeout_s = 1\n", "enrol_timeout_s"},
	    {"[privacy]\nenrol_timeout_s = ten\n", "enrol_timeout_s"},
	};
	struct agent_stage_params p;
	struct config_error err;
	struct config *c = NULL;
	char text[1200];

	ASSERT_EQ(config_load_string("p.conf", ".", "", &c, &err), 0);
	ASSERT_EQ(agent_stage_params_from_config(c, &p, &err), 0);
	ASSERT(p.face_consent);
	ASSERT_EQ(p.face_consent_turns, 2);
	ASSERT_EQ(p.enrol_timeout_ms, 10000);
	ASSERT_CONTAINS(p.face_consent_text, "never a photo");
	config_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(config_load_string("p.conf", ".", bad[i].text, &c, &err), 0);
		ASSERT_MSG(agent_stage_params_from_config(c, &p, &err) == -EINVAL, "%s accepted",
			   bad[i].text);
		ASSERT_CONTAINS(err.msg, bad[i].want);
		config_free(c);
	}
	/* the question is one line of at most 511 bytes */
	snprintf(text, sizeof(text), "[privacy]\nface_consent_text = %0600d\n", 0);
	ASSERT_EQ(config_load_string("p.conf", ".", text, &c, &err), 0);
	ASSERT_EQ(agent_stage_params_from_config(c, &p, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "p.conf: [privacy] face_consent_text: expected 1 to 511 bytes");
	config_free(c);
}
