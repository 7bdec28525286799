/*
 * edgeboxctl enroll | forget | not-them — consent and biometric data.
 *
 *   enroll --name NAME (--image FILE | --camera) --consent kiosk|staff [--by WHO]
 *          [--customer ID] [--config FILE] [--json]
 *       records the customer's consent to be recognised by face and stores
 *       one embedding of their face (exactly one face must be in view). The
 *       picture is decoded in memory and never written anywhere.
 *   forget CUSTOMER [--config FILE] [--json]
 *       erases every trace of a customer and says what it erased.
 *   not-them CUSTOMER EMBEDDING [--config FILE]
 *       "that is not this person": removes the embedding a wrong recognition
 *       matched (the face_identified audit event names it).
 *
 * The running daemon reloads its face gallery within 30 s.
 * Exit: 0 done, 1 failed (no face, several faces, no such customer), 2 usage.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/face_dlib.h"
#include "agent/face_track.h"
#include "firmware/config.h"
#include "firmware/ctl/ctl.h"
#include "firmware/store.h"
#include "hal/camera.h"
#include "hal/image.h"
#include "hal/registry.h"

#define DEFAULT_CONFIG "/etc/edgebox/edgebox.conf"

struct privacy_opts {
	const char *config;
	const char *name;
	const char *image;
	bool camera;
	const char *consent;
	const char *by;
	int64_t customer;
	bool json;
};

static int64_t parse_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	return end != s && !*end && v > 0 ? (int64_t)v : 0;
}

static int open_store(const char *path, struct config **ret_cfg, struct store **ret)
{
	struct config_error err;
	struct store_error serr;
	struct config *c;

	*ret_cfg = NULL;
	if (config_load(path, &c, &err) < 0) {
		fprintf(stderr, "edgeboxctl: %s (use --config FILE)\n", err.msg);
		return CTL_EXIT_USAGE;
	}
	if (store_open_config(c, "store", 0, ret, NULL, &serr) < 0) {
		fprintf(stderr, "edgeboxctl: %s\n", serr.msg);
		config_free(c);
		return CTL_EXIT_FAIL;
	}
	*ret_cfg = c;
	return 0;
}

/* One frame from the configured camera driver (replay or real). */
static int grab(const struct config *c, struct camera_frame *f)
{
	const struct camera_ops *ops;
	struct camera_dev dev;
	const char *name = config_get(c, "camera", "driver");
	int rc;

	ops = name ? hal_driver_find(HAL_CLASS_CAMERA, name) : NULL;
	if (!ops) {
		fprintf(stderr,
			"edgeboxctl enroll: [camera] driver is '%s'; no camera to take a "
			"picture with (use --image FILE)\n",
			name ? name : "none");
		return -ENODEV;
	}
	rc = camera_open(&dev, ops, c, "camera");
	if (rc < 0) {
		fprintf(stderr,
			"edgeboxctl enroll: %s (is edgeboxd using the camera? enrol "
			"from an --image, or stop it)\n",
			dev.error);
		camera_close(&dev);
		return rc;
	}
	for (int i = 0; i < 50; i++) {
		rc = camera_read(&dev, f, 100);
		if (rc != 0)
			break;
	}
	camera_close(&dev);
	if (rc <= 0) {
		fprintf(stderr, "edgeboxctl enroll: no frame from the camera within 5 s\n");
		return rc < 0 ? rc : -ETIMEDOUT;
	}
	return 0;
}

static void usage_enroll(FILE *f)
{
	fprintf(f, "Usage: edgeboxctl enroll --name NAME (--image FILE | --camera) --consent "
		   "kiosk|staff\n"
		   "                         [--by WHO] [--customer ID] [--config FILE] [--json]\n"
		   "Records the customer's consent to be recognised by face and stores one face\n"
		   "embedding (exactly one face must be in the picture). No picture is kept.\n"
		   "--customer adds the embedding to an existing customer instead of a new one.\n");
}

static int cmd_enroll(int argc, char **argv)
{
	struct privacy_opts o = {.config = DEFAULT_CONFIG};
	struct face_params fp;
	struct face_box boxes[4];
	struct camera_frame f = {0};
	struct config_error cerr;
	struct face_dlib *h = NULL;
	struct config *c = NULL;
	struct store *s = NULL;
	float vec[FACE_DLIB_DIM];
	int64_t emb = 0;
	char err[FACE_DLIB_ERROR_MAX];
	int rc = CTL_EXIT_FAIL, n;
	bool created = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < argc;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage_enroll(stdout);
			return CTL_EXIT_OK;
		} else if (!strcmp(a, "--name") && more) {
			o.name = argv[++i];
		} else if (!strcmp(a, "--image") && more) {
			o.image = argv[++i];
		} else if (!strcmp(a, "--camera")) {
			o.camera = true;
		} else if (!strcmp(a, "--consent") && more) {
			o.consent = argv[++i];
		} else if (!strcmp(a, "--by") && more) {
			o.by = argv[++i];
		} else if (!strcmp(a, "--customer") && more) {
			o.customer = parse_id(argv[++i]);
			if (!o.customer) {
				fprintf(stderr,
					"edgeboxctl enroll: --customer: expected an id >= 1\n");
				return CTL_EXIT_USAGE;
			}
		} else if (!strcmp(a, "--config") && more) {
			o.config = argv[++i];
		} else if (!strcmp(a, "--json")) {
			o.json = true;
		} else {
			fprintf(stderr, "edgeboxctl enroll: unexpected '%s'\n", a);
			usage_enroll(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if ((!o.name && !o.customer) || (!o.image == !o.camera) || !o.consent ||
	    (strcmp(o.consent, "kiosk") && strcmp(o.consent, "staff"))) {
		fprintf(stderr,
			"edgeboxctl enroll: needs --name (or --customer), one of --image or "
			"--camera, and --consent kiosk|staff: the customer must agree first\n");
		usage_enroll(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!strcmp(o.consent, "staff") && !o.by) {
		fprintf(stderr, "edgeboxctl enroll: --consent staff needs --by WHO (the staff "
				"member who took the consent)\n");
		return CTL_EXIT_USAGE;
	}
	rc = open_store(o.config, &c, &s);
	if (rc)
		return rc;
	rc = CTL_EXIT_FAIL;
	face_params_default(&fp);
	if (face_params_from_config(c, "faces", &fp, &cerr) < 0) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", cerr.msg);
		goto out;
	}
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	f.data = malloc(f.capacity);
	if (!f.data)
		goto out;
	if (o.image && image_load(o.image, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", err);
		goto out;
	}
	if (o.camera && grab(c, &f) < 0)
		goto out;
	if (face_dlib_open(&fp.dlib, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", err);
		goto out;
	}
	n = face_dlib_detect(h, &f, boxes, 4);
	if (n != 1) {
		fprintf(stderr, "edgeboxctl enroll: %s in the picture; exactly one is needed\n",
			n < 0	 ? face_dlib_errmsg(h)
			: n == 0 ? "no face"
				 : "several faces");
		goto out;
	}
	if (face_dlib_embed(h, &f, &boxes[0], vec) < 0) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", face_dlib_errmsg(h));
		goto out;
	}
	if (!o.customer) {
		if (store_customer_add(s, o.name, &o.customer) < 0) {
			fprintf(stderr, "edgeboxctl enroll: %s\n", store_errmsg(s));
			goto out;
		}
		created = true;
	}
	if (store_consent_grant(s, o.customer, STORE_CONSENT_FACE,
				!strcmp(o.consent, "staff") ? STORE_CONSENT_STAFF
							    : STORE_CONSENT_KIOSK,
				o.by) < 0 &&
	    store_consent_active(s, o.customer, STORE_CONSENT_FACE) != 1) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", store_errmsg(s));
		goto out;
	}
	if (store_embedding_add(s, o.customer, vec, o.image ? "enroll:image" : "enroll:camera",
				&emb) < 0) {
		fprintf(stderr, "edgeboxctl enroll: %s\n", store_errmsg(s));
		goto out;
	}
	store_audit_append_customer(s, o.customer, "consent",
				    !strcmp(o.consent, "staff")
					? "{\"kind\":\"face\",\"method\":\"staff\"}"
					: "{\"kind\":\"face\",\"method\":\"kiosk\"}");
	if (o.json)
		printf("{\"customer\":%lld,\"embedding\":%lld,\"created\":%s}\n",
		       (long long)o.customer, (long long)emb, created ? "true" : "false");
	else
		printf("enrolled customer %lld (embedding %lld), face consent recorded (%s)\n",
		       (long long)o.customer, (long long)emb, o.consent);
	rc = CTL_EXIT_OK;
out:
	face_dlib_close(h);
	free(f.data);
	store_close(s);
	config_free(c);
	return rc;
}

static int parse_common(int argc, char **argv, const char *cmd, const char *usage,
			struct privacy_opts *o, const char **pos, int npos)
{
	int got = 0;

	o->config = DEFAULT_CONFIG;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("%s", usage);
			return -1;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			o->config = argv[++i];
		} else if (!strcmp(argv[i], "--json")) {
			o->json = true;
		} else if (argv[i][0] != '-' && got < npos) {
			pos[got++] = argv[i];
		} else {
			fprintf(stderr, "edgeboxctl %s: unexpected '%s'\n%s", cmd, argv[i], usage);
			return CTL_EXIT_USAGE;
		}
	}
	if (got != npos) {
		fprintf(stderr, "edgeboxctl %s: missing arguments\n%s", cmd, usage);
		return CTL_EXIT_USAGE;
	}
	return 0;
}

static int cmd_forget(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: edgeboxctl forget CUSTOMER [--config FILE] [--json]\n"
	    "Erases every trace of a customer: face embeddings, consents, beacon mapping,\n"
	    "visits, sessions, turns and their audit rows; says what it erased.\n";
	struct privacy_opts o = {0};
	struct store_delete_counts n;
	struct config *c;
	struct store *s;
	const char *pos[1];
	int64_t id;
	int rc;

	rc = parse_common(argc, argv, "forget", usage, &o, pos, 1);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	id = parse_id(pos[0]);
	if (!id) {
		fprintf(stderr, "edgeboxctl forget: CUSTOMER: expected an id >= 1, got '%s'\n",
			pos[0]);
		return CTL_EXIT_USAGE;
	}
	rc = open_store(o.config, &c, &s);
	if (rc)
		return rc;
	if (store_customer_forget(s, id, &n) < 0) {
		fprintf(stderr, "edgeboxctl forget: %s\n", store_errmsg(s));
		rc = CTL_EXIT_FAIL;
	} else if (o.json) {
		printf("{\"customer\":%lld,\"erased\":{\"customers\":%lld,\"consents\":%lld,"
		       "\"embeddings\":%lld,\"beacons\":%lld,\"visits\":%lld,\"sessions\":%lld,"
		       "\"turns\":%lld,\"audit\":%lld}}\n",
		       (long long)id, (long long)n.customers, (long long)n.consents,
		       (long long)n.embeddings, (long long)n.beacons, (long long)n.visits,
		       (long long)n.sessions, (long long)n.turns, (long long)n.audit);
	} else {
		printf("forgot customer %lld: %lld consents, %lld face embeddings, %lld beacons, "
		       "%lld visits, %lld sessions, %lld turns, %lld audit rows erased\n",
		       (long long)id, (long long)n.consents, (long long)n.embeddings,
		       (long long)n.beacons, (long long)n.visits, (long long)n.sessions,
		       (long long)n.turns, (long long)n.audit);
	}
	store_close(s);
	config_free(c);
	return rc;
}

static int cmd_not_them(int argc, char **argv)
{
	static const char usage[] =
	    "Usage: edgeboxctl not-them CUSTOMER EMBEDDING [--config FILE]\n"
	    "\"That is not this person\": removes the face embedding a wrong recognition\n"
	    "matched (the face_identified audit event of the visit names it).\n";
	struct privacy_opts o = {0};
	struct config *c;
	struct store *s;
	const char *pos[2];
	int64_t cust, emb;
	int rc;

	rc = parse_common(argc, argv, "not-them", usage, &o, pos, 2);
	if (rc)
		return rc < 0 ? CTL_EXIT_OK : rc;
	cust = parse_id(pos[0]);
	emb = parse_id(pos[1]);
	if (!cust || !emb) {
		fprintf(stderr, "edgeboxctl not-them: expected two ids >= 1\n%s", usage);
		return CTL_EXIT_USAGE;
	}
	rc = open_store(o.config, &c, &s);
	if (rc)
		return rc;
	if (store_embedding_delete(s, cust, emb) < 0) {
		fprintf(stderr, "edgeboxctl not-them: %s\n", store_errmsg(s));
		rc = CTL_EXIT_FAIL;
	} else {
		store_audit_append_customer(s, cust, "correction", "{\"removed_embedding\":true}");
		printf("removed embedding %lld of customer %lld\n", (long long)emb,
		       (long long)cust);
	}
	store_close(s);
	config_free(c);
	return rc;
}

int ctl_enroll(int argc, char **argv)
{
	return cmd_enroll(argc, argv);
}

int ctl_forget(int argc, char **argv)
{
	return cmd_forget(argc, argv);
}

int ctl_not_them(int argc, char **argv)
{
	return cmd_not_them(argc, argv);
}
