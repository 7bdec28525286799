#include "agent/visitor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/config.h"

#define MS 1000000ull

enum phase {
	PHASE_NOBODY,
	PHASE_PENDING, /* evidence seen, waiting briefly for an identity */
	PHASE_PRESENT,
};

struct visitor_tracker {
	struct visitor_params p;
	enum phase phase;
	uint64_t first_ns;
	/* what saw them */
	bool via_app, via_face, via_kiosk;
	bool beacon_here; /* approached and not left */
	bool face_here;	  /* a track open now */
	uint32_t face_track;
	uint64_t face_last_ns; /* last face event */
	uint64_t input_last_ns;
	/* identity candidates */
	int64_t app_customer;
	int64_t face_customer;
	double face_confidence;
	bool face_decided;
	int64_t announced; /* the customer id arrived/identified with */
};

void visitor_params_default(struct visitor_params *p)
{
	p->identify_wait_ms = 700;
	p->face_gone_ms = 4000;
	p->input_gone_ms = 30000;
	p->face_threshold = 0.6;
}

int visitor_params_from_config(const struct config *cfg, const char *section,
			       struct visitor_params *ret, struct config_error *err)
{
	long a, b, c;
	int rc = 0;

	visitor_params_default(ret);
	rc = rc
		 ?: config_int(cfg, section, "identify_wait_ms", ret->identify_wait_ms, 0, 5000, &a,
			       err);
	rc = rc ?: config_int(cfg, section, "face_gone_ms", ret->face_gone_ms, 100, 60000, &b, err);
	rc = rc
		 ?: config_int(cfg, section, "input_gone_ms", ret->input_gone_ms, 1000, 600000, &c,
			       err);
	if (rc < 0)
		return rc;
	ret->identify_wait_ms = (uint32_t)a;
	ret->face_gone_ms = (uint32_t)b;
	ret->input_gone_ms = (uint32_t)c;
	return 0;
}

int visitor_tracker_new(const struct visitor_params *p, struct visitor_tracker **ret)
{
	struct visitor_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->p = *p;
	*ret = t;
	return 0;
}

void visitor_tracker_free(struct visitor_tracker *t)
{
	free(t);
}

bool visitor_present(const struct visitor_tracker *t)
{
	return t->phase == PHASE_PRESENT;
}

uint32_t visitor_face_track(const struct visitor_tracker *t)
{
	return t->phase == PHASE_PRESENT && t->face_here ? t->face_track : 0;
}

int64_t visitor_face_customer(const struct visitor_tracker *t)
{
	return t->phase == PHASE_PRESENT && t->face_decided ? t->face_customer : 0;
}

const char *visitor_output_name(enum visitor_output_kind k)
{
	switch (k) {
	case VISITOR_OUT_ARRIVED:
		return "visitor_arrived";
	case VISITOR_OUT_IDENTIFIED:
		return "visitor_identified";
	case VISITOR_OUT_CONFLICT:
		return "identity_conflict";
	case VISITOR_OUT_LEFT:
		return "visitor_left";
	}
	return "unknown";
}

static void reset(struct visitor_tracker *t)
{
	struct visitor_params p = t->p;

	memset(t, 0, sizeof(*t));
	t->p = p;
}

/* Who it is, from what we have: 0 anonymous; conflict when both name others. */
static int64_t identity(const struct visitor_tracker *t, char *how, size_t len, double *conf,
			bool *conflict)
{
	int64_t face = t->face_decided ? t->face_customer : 0;
	int64_t app = t->app_customer;

	*conflict = false;
	*conf = 0;
	if (face && app && face != app) {
		*conflict = true;
		strncpy(how, t->via_face ? "camera" : "app", len - 1);
		return 0;
	}
	if (face && app) {
		strncpy(how, "face+app", len - 1);
		*conf = 0.5 + t->face_confidence / 2 > 0.99 ? 0.99 : 0.5 + t->face_confidence / 2;
		return face;
	}
	if (face) {
		strncpy(how, "face", len - 1);
		*conf = t->face_confidence;
		return face;
	}
	if (app) {
		strncpy(how, "app", len - 1);
		*conf = 0.8; /* the phone is theirs, but phones are lent and left on tables */
		return app;
	}
	strncpy(how,
		t->via_kiosk && !t->via_face && !t->via_app ? "kiosk"
		: t->via_face				    ? "camera"
							    : "app",
		len - 1);
	return 0;
}

static size_t arrive(struct visitor_tracker *t, uint64_t now, struct visitor_output *out)
{
	bool conflict;
	size_t n = 0;

	memset(&out[n], 0, sizeof(out[n]));
	out[n].kind = VISITOR_OUT_ARRIVED;
	out[n].ts_ns = now;
	out[n].customer_id =
	    identity(t, out[n].how, sizeof(out[n].how), &out[n].confidence, &conflict);
	t->announced = out[n].customer_id;
	t->phase = PHASE_PRESENT;
	n++;
	if (conflict) {
		memset(&out[n], 0, sizeof(out[n]));
		out[n].kind = VISITOR_OUT_CONFLICT;
		out[n].ts_ns = now;
		out[n].customer_id = t->face_customer;
		out[n].other_customer_id = t->app_customer;
		strcpy(out[n].how, "face+app");
		n++;
	}
	return n;
}

/* A present, anonymous visitor who is now known. */
static size_t maybe_identified(struct visitor_tracker *t, uint64_t now, struct visitor_output *out)
{
	bool conflict;
	double conf;
	char how[16] = "";
	int64_t id;

	if (t->phase != PHASE_PRESENT || t->announced)
		return 0;
	id = identity(t, how, sizeof(how), &conf, &conflict);
	memset(out, 0, sizeof(*out));
	out->ts_ns = now;
	if (conflict) {
		out->kind = VISITOR_OUT_CONFLICT;
		out->customer_id = t->face_customer;
		out->other_customer_id = t->app_customer;
		strcpy(out->how, "face+app");
		return 1;
	}
	if (!id)
		return 0;
	out->kind = VISITOR_OUT_IDENTIFIED;
	out->customer_id = id;
	out->confidence = conf;
	memcpy(out->how, how, sizeof(how));
	t->announced = id;
	return 1;
}

/* Ready to arrive: an identity is known, or the wait is over. */
static bool ready(const struct visitor_tracker *t, uint64_t now)
{
	bool known = t->app_customer || (t->face_decided && t->face_customer);
	bool face_pending = t->face_here && !t->face_decided;

	/* the camera has made up its mind, or a name is known and no face
	 * decision is still coming */
	if (!face_pending && (known || t->face_decided))
		return true;
	return now - t->first_ns >= (uint64_t)t->p.identify_wait_ms * MS;
}

static void evidence(struct visitor_tracker *t, uint64_t now)
{
	if (t->phase == PHASE_NOBODY) {
		t->phase = PHASE_PENDING;
		t->first_ns = now;
	}
}

int visitor_input(struct visitor_tracker *t, const struct visitor_input *in,
		  struct visitor_output *ret, size_t max)
{
	uint64_t now = in->ts_ns;

	if (max < VISITOR_OUTPUTS_MAX)
		return -EINVAL;
	switch (in->kind) {
	case VISITOR_IN_APPROACH:
		evidence(t, now);
		t->via_app = true;
		t->beacon_here = true;
		if (in->customer_id)
			t->app_customer = in->customer_id;
		break;
	case VISITOR_IN_BEACON_LEAVE:
		t->beacon_here = false;
		break;
	case VISITOR_IN_FACE_SEEN:
		evidence(t, now);
		t->via_face = true;
		t->face_here = true;
		t->face_track = in->track;
		t->face_last_ns = now;
		break;
	case VISITOR_IN_FACE_IDENTIFIED:
		evidence(t, now);
		t->via_face = true;
		t->face_here = true;
		t->face_last_ns = now;
		/* the first decision holds for the visit; a later anonymous
		 * verdict does not unname someone already recognised */
		if (!t->face_decided || (in->customer_id && !t->face_customer)) {
			double c = 1.0 - in->distance / (t->p.face_threshold * 2);

			t->face_decided = true;
			t->face_customer = in->customer_id;
			t->face_confidence = c < 0 ? 0 : c > 1 ? 1 : c;
		}
		break;
	case VISITOR_IN_FACE_GONE:
		if (in->track == t->face_track || !t->face_here) {
			t->face_here = false;
			t->face_last_ns = now;
		}
		break;
	case VISITOR_IN_KIOSK_INPUT:
		evidence(t, now);
		t->via_kiosk = true;
		t->input_last_ns = now;
		break;
	default:
		return -EINVAL;
	}
	if (t->phase == PHASE_PENDING && ready(t, now))
		return (int)arrive(t, now, ret);
	return (int)maybe_identified(t, now, ret);
}

int visitor_tick(struct visitor_tracker *t, uint64_t now, struct visitor_output *ret, size_t max)
{
	bool face_gone, input_gone;

	if (max < VISITOR_OUTPUTS_MAX)
		return -EINVAL;
	if (t->phase == PHASE_NOBODY)
		return 0;
	input_gone = !t->via_kiosk || now - t->input_last_ns >= (uint64_t)t->p.input_gone_ms * MS;
	if (t->phase == PHASE_PENDING && !t->beacon_here && !t->face_here && input_gone) {
		/* a glance or a beacon that left before the wait was over */
		reset(t);
		return 0;
	}
	if (t->phase == PHASE_PENDING && ready(t, now))
		return (int)arrive(t, now, ret);
	face_gone = !t->face_here &&
		    (!t->via_face || now - t->face_last_ns >= (uint64_t)t->p.face_gone_ms * MS);
	if (t->beacon_here || !face_gone || !input_gone)
		return 0;
	memset(ret, 0, sizeof(*ret));
	ret->kind = VISITOR_OUT_LEFT;
	ret->ts_ns = now;
	ret->customer_id = t->announced;
	reset(t);
	return 1;
}
