/*
 * face_match — the gallery of enrolled descriptors and the matching rule
 * (agent/face_match.h). A flat array grown by doubling up to gallery_max,
 * searched linearly: the gallery is small (16 descriptors per customer at
 * most) and a scan of 16 k descriptors is about 1 ms, a fraction of one
 * embedding.
 */
#include "agent/face_match.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/face_dlib.h"
#include "firmware/store.h"
#include "hal/errmsg.h"

_Static_assert(FACE_MATCH_DIM == FACE_DLIB_DIM, "one descriptor size everywhere");
_Static_assert(FACE_MATCH_DIM == STORE_EMBEDDING_DIM, "one descriptor size everywhere");

#define GALLERY_FIRST 256

struct entry {
	int64_t customer_id;
	int64_t embedding_id; /* the store's row, 0 when added by hand */
	float vec[FACE_MATCH_DIM];
};

struct face_match {
	struct face_match_params p;
	struct entry *e;
	size_t n;
	size_t cap;
};

void face_match_params_default(struct face_match_params *p)
{
	p->threshold = 0.6f;
	p->margin = 0.05f;
	p->gallery_max = 16384;
}

const char *face_match_verdict_name(enum face_match_verdict v)
{
	switch (v) {
	case FACE_MATCH_UNKNOWN:
		return "unknown";
	case FACE_MATCH_AMBIGUOUS:
		return "ambiguous";
	case FACE_MATCH_KNOWN:
		return "known";
	}
	return NULL;
}

int face_match_new(const struct face_match_params *p, struct face_match **ret, char *err,
		   size_t errlen)
{
	struct face_match *m;

	*ret = NULL;
	if (!(p->threshold > 0.0f && p->threshold <= 4.0f)) {
		errmsg(err, errlen, 0,
		       "face_match: threshold: expected a distance in (0, 4], got %g",
		       (double)p->threshold);
		return -EINVAL;
	}
	if (!(p->margin >= 0.0f && p->margin <= 4.0f)) {
		errmsg(err, errlen, 0, "face_match: margin: expected a distance in [0, 4], got %g",
		       (double)p->margin);
		return -EINVAL;
	}
	if (p->gallery_max == 0 || p->gallery_max > FACE_MATCH_GALLERY_MAX) {
		errmsg(err, errlen, 0,
		       "face_match: gallery_max: expected 1..%u descriptors, got %zu",
		       FACE_MATCH_GALLERY_MAX, p->gallery_max);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errmsg(err, errlen, 0, "face_match: out of memory");
		return -ENOMEM;
	}
	m->p = *p;
	*ret = m;
	return 0;
}

void face_match_free(struct face_match *m)
{
	if (!m)
		return;
	free(m->e);
	free(m);
}

const struct face_match_params *face_match_params(const struct face_match *m)
{
	return &m->p;
}

size_t face_match_count(const struct face_match *m)
{
	return m->n;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

size_t face_match_customers(const struct face_match *m)
{
	int64_t *ids;
	size_t i, n = 0;

	if (m->n == 0)
		return 0;
	ids = malloc(m->n * sizeof(*ids));
	if (!ids) {
		/* Without scratch memory, count changes of id in gallery order:
		 * exact for the store's by-customer order. */
		for (i = 0; i < m->n; i++)
			n += i == 0 || m->e[i].customer_id != m->e[i - 1].customer_id;
		return n;
	}
	for (i = 0; i < m->n; i++)
		ids[i] = m->e[i].customer_id;
	qsort(ids, m->n, sizeof(*ids), cmp_id);
	for (i = 0; i < m->n; i++)
		n += i == 0 || ids[i] != ids[i - 1];
	free(ids);
	return n;
}

static bool finite_vec(const float *v)
{
	for (int i = 0; i < FACE_MATCH_DIM; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/* Makes room for one more entry in (*e, *cap) under max. */
static int reserve(struct entry **e, size_t *cap, size_t n, size_t max)
{
	struct entry *ne;
	size_t nc;

	if (n < *cap)
		return 0;
	if (n >= max)
		return -ENOSPC;
	nc = *cap ? *cap * 2 : GALLERY_FIRST;
	if (nc > max)
		nc = max;
	ne = realloc(*e, nc * sizeof(*ne));
	if (!ne)
		return -ENOMEM;
	*e = ne;
	*cap = nc;
	return 0;
}

int face_match_add(struct face_match *m, int64_t customer_id, const float vec[FACE_MATCH_DIM])
{
	int rc;

	if (customer_id <= 0 || !vec || !finite_vec(vec))
		return -EINVAL;
	rc = reserve(&m->e, &m->cap, m->n, m->p.gallery_max);
	if (rc < 0)
		return rc;
	m->e[m->n].customer_id = customer_id;
	m->e[m->n].embedding_id = 0;
	memcpy(m->e[m->n].vec, vec, sizeof(m->e[m->n].vec));
	m->n++;
	return 0;
}

void face_match_clear(struct face_match *m)
{
	m->n = 0;
}

struct loader {
	struct entry *e;
	size_t n, cap, max;
	size_t seen; /* embeddings the store delivered, also past max */
	int rc;
};

static int load_one(const struct store_embedding *se, void *ctx)
{
	struct loader *l = ctx;
	int rc;

	l->seen++;
	if (l->rc < 0)
		return 0; /* past the limit: keep counting for the message */
	if (se->customer_id <= 0 || !finite_vec(se->vec)) {
		l->rc = -EINVAL;
		return l->rc;
	}
	rc = reserve(&l->e, &l->cap, l->n, l->max);
	if (rc < 0) {
		l->rc = rc;
		return rc == -ENOSPC ? 0 : rc;
	}
	l->e[l->n].customer_id = se->customer_id;
	l->e[l->n].embedding_id = se->id;
	memcpy(l->e[l->n].vec, se->vec, sizeof(l->e[l->n].vec));
	l->n++;
	return 0;
}

int face_match_load(struct face_match *m, struct store *s, char *err, size_t errlen)
{
	struct loader l = {.max = m->p.gallery_max};
	int rc;

	rc = store_embeddings_load(s, load_one, &l);
	if (rc >= 0 && l.rc < 0)
		rc = l.rc;
	if (rc < 0) {
		switch (rc) {
		case -ENOSPC:
			errmsg(err, errlen, 0,
			       "face_match: the store holds %zu face embeddings, more than "
			       "gallery_max "
			       "%zu; raise [faces] gallery_max",
			       l.seen, m->p.gallery_max);
			break;
		case -EINVAL:
			if (l.rc == -EINVAL) {
				errmsg(
				    err, errlen, 0,
				    "face_match: a stored face embedding has a value that is not a "
				    "number; re-enrol that customer");
				break;
			}
			/* fall through */
		default:
			if (l.rc == -ENOMEM)
				errmsg(err, errlen, 0,
				       "face_match: out of memory loading the gallery");
			else
				errmsg(err, errlen, 0, "face_match: loading face embeddings: %s",
				       store_errmsg(s));
			break;
		}
		free(l.e);
		return rc;
	}
	free(m->e);
	m->e = l.e;
	m->n = l.n;
	m->cap = l.cap;
	return (int)l.n;
}

float face_match_distance(const float a[FACE_MATCH_DIM], const float b[FACE_MATCH_DIM])
{
	float sum = 0.0f;

	for (int i = 0; i < FACE_MATCH_DIM; i++) {
		float d = a[i] - b[i];
		sum += d * d;
	}
	return sqrtf(sum);
}

enum face_match_verdict face_match_decide(const struct face_match_params *p, float distance,
					  float second_distance)
{
	if (!(distance < p->threshold))
		return FACE_MATCH_UNKNOWN;
	if (second_distance - distance < p->margin)
		return FACE_MATCH_AMBIGUOUS;
	return FACE_MATCH_KNOWN;
}

int face_match_query(const struct face_match *m, const float vec[FACE_MATCH_DIM],
		     struct face_match_result *ret)
{
	float d1 = INFINITY, d2 = INFINITY;
	int64_t c1 = 0, c2 = 0, e1 = 0;
	size_t i;

	if (!vec || !finite_vec(vec))
		return -EINVAL;
	for (i = 0; i < m->n; i++) {
		const struct entry *e = &m->e[i];
		float d = face_match_distance(vec, e->vec);

		if (e->customer_id == c1) {
			if (d < d1) {
				d1 = d;
				e1 = e->embedding_id;
			}
		} else if (d < d1) {
			/* The old best becomes the best other customer. */
			d2 = d1;
			c2 = c1;
			d1 = d;
			c1 = e->customer_id;
			e1 = e->embedding_id;
		} else if (d < d2) {
			d2 = d;
			c2 = e->customer_id;
		}
	}
	ret->customer_id = c1;
	ret->embedding_id = e1;
	ret->distance = d1;
	ret->second_customer_id = c2;
	ret->second_distance = d2;
	ret->margin = isinf(d2) ? INFINITY : d2 - d1;
	ret->verdict = c1 ? face_match_decide(&m->p, d1, d2) : FACE_MATCH_UNKNOWN;
	return 0;
}
