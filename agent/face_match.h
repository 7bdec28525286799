/*
 * face_match — who is this face? An in-memory gallery of enrolled
 * customers' face descriptors, matched by Euclidean distance.
 *
 * The gallery is a bounded, flat array filled from the store
 * (store_embeddings_load: only customers with a live "face" consent have
 * embeddings there, since revoking the consent deletes them) or by hand.
 * A query compares the probe with every stored descriptor (128 floats each:
 * 16 k descriptors take about 1 ms) and keeps, per customer, the closest.
 *
 * Verdict:
 *   KNOWN      best < threshold and the best *other* customer is at least
 *              margin further away (several descriptors of the same customer
 *              never compete with each other);
 *   AMBIGUOUS  best < threshold but another customer is within margin: two
 *              people look alike to the model, so nobody is named;
 *   UNKNOWN    nobody under the threshold, or the gallery is empty.
 * Anything but KNOWN means the visitor stays anonymous.
 *
 * Threshold 0.6 is dlib's own operating point for this model (99.38% on
 * LFW). Margin 0.05: see docs/faces.md for how it was chosen.
 *
 * Threads: not thread-safe; the face stage owns its gallery and reloads it
 * between frames (after an enrolment, a revoked consent or a forget).
 */
#ifndef AGENT_FACE_MATCH_H
#define AGENT_FACE_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FACE_MATCH_DIM 128		  /* = FACE_DLIB_DIM = STORE_EMBEDDING_DIM */
#define FACE_MATCH_GALLERY_MAX (1u << 20) /* descriptors: 512 MB, far past any store */
#define FACE_MATCH_ERROR_MAX 256

struct store;

struct face_match_params {
	float threshold;    /* same person below this distance: 0.6 */
	float margin;	    /* best other customer at least this much further: 0.05 */
	size_t gallery_max; /* descriptors the gallery holds: 16384 (8 MB) */
};

void face_match_params_default(struct face_match_params *p);

enum face_match_verdict {
	FACE_MATCH_UNKNOWN,
	FACE_MATCH_AMBIGUOUS,
	FACE_MATCH_KNOWN,
};

/* "unknown", "ambiguous", "known"; NULL for a value out of range. */
const char *face_match_verdict_name(enum face_match_verdict v);

struct face_match_result {
	enum face_match_verdict verdict;
	int64_t customer_id;	    /* the closest customer; 0 when the gallery is empty */
	int64_t embedding_id;	    /* its closest stored embedding (0: added by hand), so a
				       "that is not them" correction can remove exactly it */
	float distance;		    /* to the closest customer; INFINITY when empty */
	int64_t second_customer_id; /* the closest other customer; 0 if none */
	float second_distance;	    /* to it; INFINITY if none */
	float margin;		    /* second_distance - distance; INFINITY if none */
};

struct face_match;

/*
 * A new, empty gallery. On success *ret owns it (free with face_match_free).
 * -EINVAL: threshold not in (0, 4], margin not in [0, 4], gallery_max 0 or
 * over FACE_MATCH_GALLERY_MAX (the message names it); -ENOMEM.
 */
int face_match_new(const struct face_match_params *p, struct face_match **ret, char *err,
		   size_t errlen);

/* NULL is fine. */
void face_match_free(struct face_match *m);

const struct face_match_params *face_match_params(const struct face_match *m);

/* Descriptors and distinct customers in the gallery. */
size_t face_match_count(const struct face_match *m);
size_t face_match_customers(const struct face_match *m);

/*
 * Adds one descriptor (copied). -EINVAL: customer_id <= 0, or a value that is
 * not finite; -ENOSPC: the gallery holds gallery_max already.
 */
int face_match_add(struct face_match *m, int64_t customer_id, const float vec[FACE_MATCH_DIM]);

/* Empties the gallery. */
void face_match_clear(struct face_match *m);

/*
 * Replaces the gallery with every embedding in the store, all or nothing:
 * on error the old gallery is kept. Returns the number of descriptors
 * loaded. Errors: the store's (err says which, from store_errmsg), -ENOSPC
 * when the store holds more than gallery_max (err says how many; raise
 * [faces] gallery_max), -EINVAL for a non-finite stored value, -ENOMEM.
 */
int face_match_load(struct face_match *m, struct store *s, char *err, size_t errlen);

/* Euclidean distance of two descriptors. */
float face_match_distance(const float a[FACE_MATCH_DIM], const float b[FACE_MATCH_DIM]);

/*
 * Matches vec against the gallery into *ret (see the verdicts above). 0, or
 * -EINVAL for a non-finite value in vec.
 */
int face_match_query(const struct face_match *m, const float vec[FACE_MATCH_DIM],
		     struct face_match_result *ret);

/* The verdict for a best/second-best pair under p (what query applies). */
enum face_match_verdict face_match_decide(const struct face_match_params *p, float distance,
					  float second_distance);

#endif
