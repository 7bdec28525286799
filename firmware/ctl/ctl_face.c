/*
 * edgeboxctl face — the face pipeline on still images, for technicians and
 * test rigs:
 *
 *   face embed [OPTIONS] IMAGE...   one JSON line per face found:
 *        {"file":"a.jpg","box":[left,top,width,height],"embedding":[128 floats]}
 *   face compare [OPTIONS] A B      the distance between the one face in A
 *        and the one face in B, and the verdict at the threshold
 *
 * The same code path as the box (image_load -> face_dlib_detect ->
 * face_dlib_embed) with the box's detection settings. Nothing is written to
 * disk. Exit status: see the --help texts.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/face_dlib.h"
#include "agent/face_match.h"
#include "agent/face_track.h"
#include "firmware/config.h"
#include "firmware/ctl/ctl.h"
#include "hal/image.h"

#define FACE_CTL_MAX_FACES 64 /* faces reported per image */

struct face_opts {
	const char *models;
	const char *config;
	long upsample;	  /* -1: from the config or the default */
	double threshold; /* NAN: from the config or the default */
	bool json;
	const char *files[2];
	int nfiles;
	char **images; /* embed: the rest of argv */
	int nimages;
};

static void usage_embed(FILE *f)
{
	fprintf(f,
		"Usage: edgeboxctl face embed [--models DIR] [--config FILE] [--upsample N] "
		"IMAGE...\n\n"
		"Detects the faces in each JPEG or PPM image and prints one JSON line per face:\n"
		"  {\"file\":...,\"box\":[left,top,width,height],\"embedding\":[128 floats]}\n"
		"Boxes are in the image's pixels and may reach a little past its edges.\n\n"
		"  --models DIR    folder with the dlib models (default: ./models if it holds\n"
		"                  them, else %s)\n"
		"  --config FILE   take the detection settings (and models) from [faces] of an\n"
		"                  edgebox config\n"
		"  --upsample N    0..2: each step finds faces half as small, 4x slower\n\n"
		"Exit status: 0 every image had a face; 1 an image could not be read or had no\n"
		"face (said on stderr; the other images are still done), or the models are\n"
		"missing; 2 usage error or a bad --config.\n",
		FACE_MODELS_DEFAULT);
}

static void usage_compare(FILE *f)
{
	fprintf(f, "Usage: edgeboxctl face compare [--json] [--threshold T] [--models DIR] "
		   "[--config FILE]\n"
		   "                               [--upsample N] A B\n\n"
		   "Compares the one face in image A with the one face in image B: prints the\n"
		   "distance between their descriptors and \"same person\" when it is below the\n"
		   "threshold (default 0.6, dlib's operating point), else \"different people\".\n\n"
		   "  --json          one JSON object: a, b, distance, threshold, same_person\n"
		   "  --threshold T   0.2..1.2\n"
		   "  --models DIR, --config FILE, --upsample N: as for face embed\n\n"
		   "Exit status: 0 compared (whatever the verdict); 1 an image could not be read,\n"
		   "has no face or more than one, or the models are missing; 2 usage error or a\n"
		   "bad --config.\n");
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: edgeboxctl face embed IMAGE...      faces and their descriptors as "
		   "JSON lines\n"
		   "       edgeboxctl face compare A B         distance and verdict for two "
		   "faces\n"
		   "Each subcommand has --help.\n");
}

static bool parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static bool parse_double(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return false;
	*ret = v;
	return true;
}

/* 0, CTL_EXIT_USAGE (said why), or -1 for --help (printed). */
static int parse(int argc, char **argv, bool compare, struct face_opts *o)
{
	const char *cmd = compare ? "compare" : "embed";
	int i;

	memset(o, 0, sizeof(*o));
	o->upsample = -1;
	o->threshold = NAN;
	o->images = calloc((size_t)argc, sizeof(char *));
	if (!o->images) {
		fprintf(stderr, "edgeboxctl face: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			compare ? usage_compare(stdout) : usage_embed(stdout);
			return -1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "--models") == 0 && has_value) {
			o->models = argv[++i];
		} else if (strcmp(a, "--config") == 0 && has_value) {
			o->config = argv[++i];
		} else if (strcmp(a, "--upsample") == 0 && has_value) {
			if (!parse_long(argv[++i], 0, FACE_DLIB_UPSAMPLE_MAX, &o->upsample)) {
				fprintf(
				    stderr,
				    "edgeboxctl face %s: --upsample: expected 0..%d, got '%s'\n",
				    cmd, FACE_DLIB_UPSAMPLE_MAX, argv[i]);
				return CTL_EXIT_USAGE;
			}
		} else if (compare && strcmp(a, "--threshold") == 0 && has_value) {
			if (!parse_double(argv[++i], 0.2, 1.2, &o->threshold)) {
				fprintf(stderr,
					"edgeboxctl face compare: --threshold: expected a distance "
					"0.2..1.2, got '%s'\n",
					argv[i]);
				return CTL_EXIT_USAGE;
			}
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr,
				"edgeboxctl face %s: unknown option or missing value: '%s'\n", cmd,
				a);
			compare ? usage_compare(stderr) : usage_embed(stderr);
			return CTL_EXIT_USAGE;
		} else if (compare) {
			if (o->nfiles == 2) {
				fprintf(
				    stderr,
				    "edgeboxctl face compare: expected two images, got a third: "
				    "'%s'\n",
				    a);
				return CTL_EXIT_USAGE;
			}
			o->files[o->nfiles++] = a;
		} else {
			o->images[o->nimages++] = argv[i];
		}
	}
	if (compare && o->nfiles != 2) {
		fprintf(stderr, "edgeboxctl face compare: expected two images A and B\n");
		usage_compare(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!compare && o->nimages == 0) {
		fprintf(stderr, "edgeboxctl face embed: expected at least one image\n");
		usage_embed(stderr);
		return CTL_EXIT_USAGE;
	}
	return 0;
}

/* The box's settings: [faces] of --config, or the defaults; then the
 * command line. */
static int settings(const struct face_opts *o, struct face_params *p)
{
	face_params_default(p);
	if (o->config) {
		struct config *c = NULL;
		struct config_error err;

		if (config_load(o->config, &c, &err) < 0 ||
		    face_params_from_config(c, "faces", p, &err) < 0) {
			fprintf(stderr, "edgeboxctl face: %s\n", err.msg);
			config_free(c);
			return CTL_EXIT_USAGE;
		}
		config_free(c);
	} else if (!o->models && access("models/" FACE_DLIB_EMBEDDER_FILE, R_OK) == 0 &&
		   access("models/" FACE_DLIB_LANDMARKS_FILE, R_OK) == 0) {
		snprintf(p->dlib.models_dir, sizeof(p->dlib.models_dir), "models");
	}
	if (o->models) {
		if (strlen(o->models) >= sizeof(p->dlib.models_dir)) {
			fprintf(stderr, "edgeboxctl face: --models: path over %d bytes\n",
				FACE_DLIB_PATH_MAX - 1);
			return CTL_EXIT_USAGE;
		}
		snprintf(p->dlib.models_dir, sizeof(p->dlib.models_dir), "%s", o->models);
	}
	if (o->upsample >= 0)
		p->dlib.upsample = (unsigned)o->upsample;
	if (!isnan(o->threshold))
		p->match.threshold = (float)o->threshold;
	return 0;
}

static struct face_dlib *open_models(const struct face_params *p)
{
	struct face_dlib *h = NULL;
	char err[FACE_DLIB_ERROR_MAX];

	if (face_dlib_open(&p->dlib, &h, err, sizeof(err)) < 0) {
		fprintf(stderr, "edgeboxctl face: %s\n", err);
		return NULL;
	}
	return h;
}

static int load(const char *cmd, const char *path, struct camera_frame *f)
{
	char err[512];
	int rc;

	rc = image_load(path, f, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "edgeboxctl face %s: %s\n", cmd, err);
	return rc;
}

/* The file name as a JSON string (escaped by cJSON); NULL on no memory. */
static char *json_string(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *out = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return out;
}

static int embed_one(struct face_dlib *h, const char *path, struct camera_frame *f)
{
	struct face_box boxes[FACE_CTL_MAX_FACES];
	float vec[FACE_DLIB_DIM];
	char *name;
	int n, i, rc;

	if (load("embed", path, f) < 0)
		return CTL_EXIT_FAIL;
	n = face_dlib_detect(h, f, boxes, FACE_CTL_MAX_FACES);
	if (n < 0) {
		fprintf(stderr, "edgeboxctl face embed: %s: %s\n", path, face_dlib_errmsg(h));
		return CTL_EXIT_FAIL;
	}
	if (n == 0) {
		fprintf(stderr, "edgeboxctl face embed: %s: no face found\n", path);
		return CTL_EXIT_FAIL;
	}
	if (n > FACE_CTL_MAX_FACES)
		fprintf(stderr,
			"edgeboxctl face embed: %s: %d faces found, printing the %d surest\n", path,
			n, FACE_CTL_MAX_FACES);
	name = json_string(path);
	if (!name) {
		fprintf(stderr, "edgeboxctl face embed: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	for (i = 0; i < n && i < FACE_CTL_MAX_FACES; i++) {
		rc = face_dlib_embed(h, f, &boxes[i], vec);
		if (rc < 0) {
			fprintf(stderr, "edgeboxctl face embed: %s: face %d: %s\n", path, i + 1,
				face_dlib_errmsg(h));
			free(name);
			return CTL_EXIT_FAIL;
		}
		printf("{\"file\":%s,\"box\":[%d,%d,%d,%d],\"embedding\":[", name, boxes[i].left,
		       boxes[i].top, boxes[i].width, boxes[i].height);
		/* %.9g: a float survives the round trip through text. */
		for (int k = 0; k < FACE_DLIB_DIM; k++)
			printf("%s%.9g", k ? "," : "", (double)vec[k]);
		printf("]}\n");
	}
	free(name);
	fflush(stdout);
	return CTL_EXIT_OK;
}

static int face_embed(int argc, char **argv)
{
	struct camera_frame f = {0};
	struct face_params p;
	struct face_opts o;
	struct face_dlib *h = NULL;
	int rc, status = CTL_EXIT_OK;

	rc = parse(argc, argv, false, &o);
	if (rc != 0)
		goto out;
	rc = settings(&o, &p);
	if (rc != 0)
		goto out;
	h = open_models(&p);
	if (!h) {
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	f.data = malloc(f.capacity);
	if (!f.data) {
		fprintf(stderr, "edgeboxctl face embed: out of memory\n");
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	for (int i = 0; i < o.nimages; i++)
		if (embed_one(h, o.images[i], &f) != CTL_EXIT_OK)
			status = CTL_EXIT_FAIL;
	rc = status;
out:
	free(f.data);
	face_dlib_close(h);
	free(o.images);
	return rc < 0 ? CTL_EXIT_OK : rc;
}

/* The one face of path into vec; CTL_EXIT_FAIL (said why) otherwise. */
static int one_face(struct face_dlib *h, const char *path, struct camera_frame *f,
		    float vec[FACE_DLIB_DIM])
{
	struct face_box boxes[8];
	int n;

	if (load("compare", path, f) < 0)
		return CTL_EXIT_FAIL;
	n = face_dlib_detect(h, f, boxes, 8);
	if (n < 0) {
		fprintf(stderr, "edgeboxctl face compare: %s: %s\n", path, face_dlib_errmsg(h));
		return CTL_EXIT_FAIL;
	}
	if (n != 1) {
		if (n == 0)
			fprintf(stderr, "edgeboxctl face compare: %s: no face found\n", path);
		else
			fprintf(stderr,
				"edgeboxctl face compare: %s: %d faces found; compare needs "
				"exactly one per image (crop it to one person)\n",
				path, n);
		return CTL_EXIT_FAIL;
	}
	if (face_dlib_embed(h, f, &boxes[0], vec) < 0) {
		fprintf(stderr, "edgeboxctl face compare: %s: %s\n", path, face_dlib_errmsg(h));
		return CTL_EXIT_FAIL;
	}
	return CTL_EXIT_OK;
}

static int face_compare(int argc, char **argv)
{
	float a[FACE_DLIB_DIM], b[FACE_DLIB_DIM], d;
	struct camera_frame f = {0};
	struct face_params p;
	struct face_opts o;
	struct face_dlib *h = NULL;
	bool same;
	int rc;

	rc = parse(argc, argv, true, &o);
	if (rc != 0)
		goto out;
	rc = settings(&o, &p);
	if (rc != 0)
		goto out;
	h = open_models(&p);
	if (!h) {
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	f.capacity = CAMERA_FRAME_MAX_BYTES;
	f.data = malloc(f.capacity);
	if (!f.data) {
		fprintf(stderr, "edgeboxctl face compare: out of memory\n");
		rc = CTL_EXIT_FAIL;
		goto out;
	}
	rc = one_face(h, o.files[0], &f, a);
	rc = rc ?: one_face(h, o.files[1], &f, b);
	if (rc != 0)
		goto out;
	d = face_match_distance(a, b);
	same = d < p.match.threshold;
	if (o.json) {
		cJSON *j = cJSON_CreateObject();
		char *s;

		cJSON_AddStringToObject(j, "a", o.files[0]);
		cJSON_AddStringToObject(j, "b", o.files[1]);
		cJSON_AddNumberToObject(j, "distance", round((double)d * 1e6) / 1e6);
		cJSON_AddNumberToObject(j, "threshold",
					round((double)p.match.threshold * 1e6) / 1e6);
		cJSON_AddBoolToObject(j, "same_person", same);
		s = cJSON_PrintUnformatted(j);
		if (s)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(j);
	} else {
		printf("distance %.4f: %s (threshold %.2f)\n", (double)d,
		       same ? "same person" : "different people", (double)p.match.threshold);
	}
	rc = CTL_EXIT_OK;
out:
	free(f.data);
	face_dlib_close(h);
	free(o.images);
	return rc < 0 ? CTL_EXIT_OK : rc;
}

int ctl_face(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "embed") == 0)
		return face_embed(argc - 1, argv + 1);
	if (strcmp(argv[1], "compare") == 0)
		return face_compare(argc - 1, argv + 1);
	fprintf(stderr, "edgeboxctl face: unknown subcommand '%s'\n", argv[1]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
