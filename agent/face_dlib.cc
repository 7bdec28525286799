/*
 * face_dlib — the firmware's only C++: dlib's detector, shape predictor and
 * face network behind the C API of agent/face_dlib.h. Everything else about
 * faces (tracking, quality, matching) is C. No exception leaves this file.
 */
#include "agent/face_dlib.h"

#include <dlib/dnn.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <unistd.h>
#include <vector>

namespace
{

/* The network of dlib_face_recognition_resnet_model_v1.dat, as declared in
 * dlib's dnn_face_recognition_ex.cpp: a ResNet-29 with affine layers (batch
 * norm folded in) for inference. The model file only loads into this type. */
template <template <int, template <typename> class, int, typename> class block, int N,
	  template <typename> class BN, typename SUBNET>
using residual = dlib::add_prev1<block<N, BN, 1, dlib::tag1<SUBNET>>>;

template <template <int, template <typename> class, int, typename> class block, int N,
	  template <typename> class BN, typename SUBNET>
using residual_down = dlib::add_prev2<
    dlib::avg_pool<2, 2, 2, 2, dlib::skip1<dlib::tag2<block<N, BN, 2, dlib::tag1<SUBNET>>>>>>;

template <int N, template <typename> class BN, int stride, typename SUBNET>
using block =
    BN<dlib::con<N, 3, 3, 1, 1, dlib::relu<BN<dlib::con<N, 3, 3, stride, stride, SUBNET>>>>>;

template <int N, typename SUBNET> using ares = dlib::relu<residual<block, N, dlib::affine, SUBNET>>;
template <int N, typename SUBNET>
using ares_down = dlib::relu<residual_down<block, N, dlib::affine, SUBNET>>;

template <typename SUBNET> using alevel0 = ares_down<256, SUBNET>;
template <typename SUBNET> using alevel1 = ares<256, ares<256, ares_down<256, SUBNET>>>;
template <typename SUBNET> using alevel2 = ares<128, ares<128, ares_down<128, SUBNET>>>;
template <typename SUBNET> using alevel3 = ares<64, ares<64, ares<64, ares_down<64, SUBNET>>>>;
template <typename SUBNET> using alevel4 = ares<32, ares<32, ares<32, SUBNET>>>;

using face_net = dlib::loss_metric<dlib::fc_no_bias<
    128, dlib::avg_pool_everything<alevel0<alevel1<alevel2<alevel3<alevel4<dlib::max_pool<
	     3, 3, 2, 2,
	     dlib::relu<dlib::affine<
		 dlib::con<32, 7, 7, 2, 2, dlib::input_rgb_image_sized<FACE_DLIB_CHIP>>>>>>>>>>>>>;

/* A camera frame seen through dlib's generic image interface: RGB24 rows
 * are rgb_pixel rows, so dlib reads the frame in place, without a copy. */
struct frame_view {
	const uint8_t *data;
	long rows;
	long cols;
	long stride;
};

inline long num_rows(const frame_view &v)
{
	return v.rows;
}
inline long num_columns(const frame_view &v)
{
	return v.cols;
}
inline long width_step(const frame_view &v)
{
	return v.stride;
}
/* Read-only: frames are only ever inputs, so only the const accessor. */
inline const void *image_data(const frame_view &v)
{
	return v.data;
}

} // namespace

namespace dlib
{
template <> struct image_traits<frame_view> {
	typedef rgb_pixel pixel_type;
};
} // namespace dlib

static_assert(sizeof(dlib::rgb_pixel) == 3, "RGB24 rows must be rgb_pixel rows");

struct face_dlib {
	struct face_dlib_params p;
	dlib::frontal_face_detector detector;
	dlib::shape_predictor sp;
	face_net net;
	/* Scratch images, resized only when the frame size changes. */
	dlib::array2d<unsigned char> grey, scaled, up1, up2;
	dlib::matrix<dlib::rgb_pixel> chip;
	std::vector<dlib::rect_detection> dets;
	char err[FACE_DLIB_ERROR_MAX];
};

static void say(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

extern "C" void face_dlib_params_default(struct face_dlib_params *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->models_dir, sizeof(p->models_dir), "models");
	p->upsample = 1;
	p->detect_max_width = 640;
	p->detect_threshold = 0.0;
}

static int check_params(const struct face_dlib_params *p, char *err, size_t errlen)
{
	if (!p->models_dir[0] || !memchr(p->models_dir, '\0', sizeof(p->models_dir))) {
		say(err, errlen, "face_dlib: models folder: expected a path, got an empty one");
		return -EINVAL;
	}
	if (p->upsample > FACE_DLIB_UPSAMPLE_MAX) {
		say(err, errlen, "face_dlib: upsample: expected 0..%d, got %u",
		    FACE_DLIB_UPSAMPLE_MAX, p->upsample);
		return -EINVAL;
	}
	if (p->detect_max_width && (p->detect_max_width < FACE_DLIB_MIN_DETECT_WIDTH ||
				    p->detect_max_width > CAMERA_MAX_WIDTH)) {
		say(err, errlen,
		    "face_dlib: detect_max_width: expected 0 (never scale) or %d..%d, got %u",
		    FACE_DLIB_MIN_DETECT_WIDTH, CAMERA_MAX_WIDTH, p->detect_max_width);
		return -EINVAL;
	}
	if (!(p->detect_threshold >= -1.0 && p->detect_threshold <= 1.0)) {
		say(err, errlen, "face_dlib: detect_threshold: expected -1..1, got %g",
		    p->detect_threshold);
		return -EINVAL;
	}
	return 0;
}

/* Loads one model file into model; errors name the file and the fix. */
template <typename T>
static int load_model(const char *dir, const char *file, T &model, char *err, size_t errlen)
{
	char path[FACE_DLIB_PATH_MAX + 64];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		say(err, errlen, "face_dlib: models folder path too long (over %d bytes)",
		    FACE_DLIB_PATH_MAX);
		return -ENAMETOOLONG;
	}
	/* dlib's own message for a missing file does not say why; open it
	 * first so the error carries errno. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		say(err, errlen,
		    "face_dlib: cannot open model %s: %s; run `make deps` to install the models, "
		    "or point [faces] models at the folder that holds %s",
		    path, strerror(e), file);
		return -e;
	}
	close(fd);
	try {
		dlib::deserialize(path) >> model;
	} catch (const std::bad_alloc &) {
		say(err, errlen,
		    "face_dlib: out of memory reading model %s (a corrupt file can ask for absurd "
		    "sizes too: run `make deps` to fetch it again)",
		    path);
		return -ENOMEM;
	} catch (const std::exception &e) {
		/* dlib's messages run over several lines: keep the first. */
		const char *what = e.what();
		int first = (int)strcspn(what, "\n");

		say(err, errlen,
		    "face_dlib: model %s is corrupt, truncated or not the model expected; run "
		    "`make deps` to fetch and check it again (dlib: %.*s)",
		    path, first, what);
		return -EBADMSG;
	}
	return 0;
}

extern "C" int face_dlib_open(const struct face_dlib_params *p, struct face_dlib **ret, char *err,
			      size_t errlen)
{
	struct face_dlib *h = nullptr;
	int rc;

	*ret = nullptr;
	if (!p) {
		say(err, errlen, "face_dlib: no params");
		return -EINVAL;
	}
	rc = check_params(p, err, errlen);
	if (rc < 0)
		return rc;
	try {
		h = new face_dlib();
		h->p = *p;
		h->detector = dlib::get_frontal_face_detector();
	} catch (const std::bad_alloc &) {
		delete h;
		say(err, errlen, "face_dlib: out of memory");
		return -ENOMEM;
	} catch (const std::exception &e) {
		delete h;
		say(err, errlen, "face_dlib: cannot build the face detector: %s", e.what());
		return -EIO;
	}
	rc = load_model(p->models_dir, FACE_DLIB_LANDMARKS_FILE, h->sp, err, errlen);
	if (rc == 0 && h->sp.num_parts() != 5) {
		say(err, errlen,
		    "face_dlib: model %s/%s has %lu landmarks, expected the 5-point model; run "
		    "`make deps` to fetch the right file",
		    p->models_dir, FACE_DLIB_LANDMARKS_FILE, (unsigned long)h->sp.num_parts());
		rc = -EBADMSG;
	}
	if (rc == 0)
		rc = load_model(p->models_dir, FACE_DLIB_EMBEDDER_FILE, h->net, err, errlen);
	if (rc < 0) {
		delete h;
		return rc;
	}
	h->err[0] = '\0';
	*ret = h;
	return 0;
}

extern "C" void face_dlib_close(struct face_dlib *h)
{
	delete h;
}

extern "C" const char *face_dlib_errmsg(const struct face_dlib *h)
{
	return h ? h->err : "face_dlib: no handle";
}

extern "C" const struct face_dlib_params *face_dlib_params(const struct face_dlib *h)
{
	return &h->p;
}

static int check_frame(struct face_dlib *h, const struct camera_frame *f)
{
	if (!f || !f->data || f->width == 0 || f->height == 0) {
		say(h->err, sizeof(h->err), "face_dlib: frame has no pixels");
		return -EINVAL;
	}
	if (f->width > CAMERA_MAX_WIDTH || f->height > CAMERA_MAX_HEIGHT) {
		say(h->err, sizeof(h->err), "face_dlib: frame %ux%u is larger than %dx%d", f->width,
		    f->height, CAMERA_MAX_WIDTH, CAMERA_MAX_HEIGHT);
		return -EINVAL;
	}
	if (f->stride < (uint64_t)f->width * 3 ||
	    f->bytes < (size_t)f->stride * (f->height - 1) + (size_t)f->width * 3) {
		say(h->err, sizeof(h->err),
		    "face_dlib: frame %ux%u with stride %u needs more than its %zu bytes", f->width,
		    f->height, f->stride, f->bytes);
		return -EINVAL;
	}
	return 0;
}

static frame_view view_of(const struct camera_frame *f)
{
	return frame_view{f->data, (long)f->height, (long)f->width, (long)f->stride};
}

/*
 * Runs the detector on img upsampled h->p.upsample times; boxes in img's
 * coordinates land in h->dets. Detection runs on grey: on RGB dlib's HOG
 * takes the gradient of the strongest channel at every pixel, which costs
 * about a third more and found exactly the same 43 labelled faces of the
 * test scenes (docs/faces.md).
 */
static void detect_in(struct face_dlib *h, const dlib::array2d<unsigned char> &img)
{
	const double thr = h->p.detect_threshold;
	dlib::pyramid_down<2> pyr;

	h->dets.clear();
	switch (h->p.upsample) {
	case 0:
		h->detector(img, h->dets, thr);
		break;
	case 1:
		dlib::pyramid_up(img, h->up1, pyr);
		h->detector(h->up1, h->dets, thr);
		break;
	default:
		dlib::pyramid_up(img, h->up1, pyr);
		dlib::pyramid_up(h->up1, h->up2, pyr);
		h->detector(h->up2, h->dets, thr);
		break;
	}
	for (auto &d : h->dets)
		for (unsigned i = 0; i < h->p.upsample; i++)
			d.rect = pyr.rect_down(d.rect);
}

static struct face_box box_of(const dlib::rectangle &r, double sx, double sy, double score)
{
	struct face_box b;

	b.left = (int32_t)lround(r.left() * sx);
	b.top = (int32_t)lround(r.top() * sy);
	b.width = (int32_t)lround((double)r.width() * sx);
	b.height = (int32_t)lround((double)r.height() * sy);
	b.score = (float)score;
	return b;
}

static int check_box(struct face_dlib *h, const struct camera_frame *f, const struct face_box *b)
{
	const int64_t l = b ? b->left : 0, t = b ? b->top : 0;

	if (!b || b->width <= 0 || b->height <= 0) {
		say(h->err, sizeof(h->err), "face_dlib: face box has no area");
		return -EINVAL;
	}
	/* A box many times the frame is not a face; it would only make the
	 * shape predictor sample nonsense. */
	if ((int64_t)b->width > 4 * (int64_t)f->width ||
	    (int64_t)b->height > 4 * (int64_t)f->height || l >= (int64_t)f->width ||
	    t >= (int64_t)f->height || l + b->width <= 0 || t + b->height <= 0) {
		say(h->err, sizeof(h->err),
		    "face_dlib: face box %dx%d at (%d,%d) does not fit a %ux%u frame", b->width,
		    b->height, b->left, b->top, f->width, f->height);
		return -EINVAL;
	}
	return 0;
}

/* h->dets (in an image scaled by 1/sx, 1/sy whose origin is at x0, y0 of
 * the frame) into boxes, best first; returns the count found. */
static int emit(struct face_dlib *h, long x0, long y0, double sx, double sy, struct face_box *boxes,
		size_t max)
{
	std::stable_sort(h->dets.begin(), h->dets.end(),
			 [](const dlib::rect_detection &a, const dlib::rect_detection &b) {
				 return a.detection_confidence > b.detection_confidence;
			 });
	for (size_t i = 0; i < h->dets.size() && i < max; i++) {
		boxes[i] = box_of(h->dets[i].rect, sx, sy, h->dets[i].detection_confidence);
		boxes[i].left += (int32_t)x0;
		boxes[i].top += (int32_t)y0;
	}
	return (int)std::min(h->dets.size(), (size_t)INT32_MAX);
}

extern "C" int face_dlib_detect(struct face_dlib *h, const struct camera_frame *f,
				struct face_box *boxes, size_t max)
{
	double sx = 1.0, sy = 1.0;
	int rc;

	rc = check_frame(h, f);
	if (rc < 0)
		return rc;
	if (max && !boxes) {
		say(h->err, sizeof(h->err), "face_dlib: no room for the boxes");
		return -EINVAL;
	}
	try {
		const uint32_t maxw = h->p.detect_max_width;

		dlib::assign_image(h->grey, view_of(f));
		if (maxw && f->width > maxw) {
			long nr = std::max(1L, lround((double)f->height * maxw / f->width));

			h->scaled.set_size(nr, maxw);
			dlib::resize_image(h->grey, h->scaled);
			sx = (double)f->width / maxw;
			sy = (double)f->height / (double)nr;
			detect_in(h, h->scaled);
		} else {
			detect_in(h, h->grey);
		}
		return emit(h, 0, 0, sx, sy, boxes, max);
	} catch (const std::bad_alloc &) {
		say(h->err, sizeof(h->err), "face_dlib: out of memory detecting faces");
		return -ENOMEM;
	} catch (const std::exception &e) {
		say(h->err, sizeof(h->err), "face_dlib: detection failed: %s", e.what());
		return -EIO;
	}
}

extern "C" int face_dlib_detect_near(struct face_dlib *h, const struct camera_frame *f,
				     const struct face_box *near, struct face_box *boxes,
				     size_t max)
{
	int rc;

	rc = check_frame(h, f);
	rc = rc ?: check_box(h, f, near);
	if (rc < 0)
		return rc;
	if (max && !boxes) {
		say(h->err, sizeof(h->err), "face_dlib: no room for the boxes");
		return -EINVAL;
	}
	try {
		const long side = std::max(near->width, near->height), pad = side / 2;
		const long x0 = std::max(0L, (long)near->left - pad);
		const long y0 = std::max(0L, (long)near->top - pad);
		const long x1 = std::min((long)f->width, (long)near->left + near->width + pad);
		const long y1 = std::min((long)f->height, (long)near->top + near->height + pad);
		const frame_view v{f->data + (size_t)y0 * f->stride + (size_t)x0 * 3, y1 - y0,
				   x1 - x0, (long)f->stride};
		double k = 1.0;

		/* Scale so the face is about FACE_DLIB_NEAR_TARGET px: the
		 * detector's 80 px window with room for the face to shrink. */
		if (side < FACE_DLIB_NEAR_TARGET * 9 / 10)
			k = std::min((double)FACE_DLIB_NEAR_TARGET / side,
				     (double)(1u << h->p.upsample));
		else if (side > 2 * FACE_DLIB_NEAR_TARGET)
			k = (double)FACE_DLIB_NEAR_TARGET / side;
		h->dets.clear();
		dlib::assign_image(h->grey, v);
		if (k == 1.0) {
			h->detector(h->grey, h->dets, h->p.detect_threshold);
			return emit(h, x0, y0, 1.0, 1.0, boxes, max);
		}
		const long nr = std::max(1L, lround((double)v.rows * k));
		const long nc = std::max(1L, lround((double)v.cols * k));
		h->scaled.set_size(nr, nc);
		dlib::resize_image(h->grey, h->scaled);
		h->detector(h->scaled, h->dets, h->p.detect_threshold);
		return emit(h, x0, y0, (double)v.cols / nc, (double)v.rows / nr, boxes, max);
	} catch (const std::bad_alloc &) {
		say(h->err, sizeof(h->err), "face_dlib: out of memory detecting faces");
		return -ENOMEM;
	} catch (const std::exception &e) {
		say(h->err, sizeof(h->err), "face_dlib: detection failed: %s", e.what());
		return -EIO;
	}
}

extern "C" int face_dlib_embed(struct face_dlib *h, const struct camera_frame *f,
			       const struct face_box *box, float ret_vec[FACE_DLIB_DIM])
{
	int rc;

	rc = check_frame(h, f);
	rc = rc ?: check_box(h, f, box);
	if (rc < 0)
		return rc;
	try {
		const frame_view v = view_of(f);
		const dlib::rectangle r(box->left, box->top, (long)box->left + box->width - 1,
					(long)box->top + box->height - 1);
		const dlib::full_object_detection shape = h->sp(v, r);

		dlib::extract_image_chip(
		    v, dlib::get_face_chip_details(shape, FACE_DLIB_CHIP, 0.25), h->chip);
		const dlib::matrix<float, 0, 1> d = h->net(h->chip);
		if (d.size() != FACE_DLIB_DIM) {
			say(h->err, sizeof(h->err),
			    "face_dlib: network gave %ld values, expected %d", (long)d.size(),
			    FACE_DLIB_DIM);
			return -EIO;
		}
		for (int i = 0; i < FACE_DLIB_DIM; i++)
			ret_vec[i] = d(i);
		return 0;
	} catch (const std::bad_alloc &) {
		say(h->err, sizeof(h->err), "face_dlib: out of memory embedding a face");
		return -ENOMEM;
	} catch (const std::exception &e) {
		say(h->err, sizeof(h->err), "face_dlib: embedding failed: %s", e.what());
		return -EIO;
	}
}

extern "C" int face_dlib_reference_embed_all(struct face_dlib *h, const struct camera_frame *f,
					     unsigned upsample, struct face_box *ret_boxes,
					     float (*ret_vecs)[FACE_DLIB_DIM], size_t max)
{
	int rc;

	rc = check_frame(h, f);
	if (rc < 0)
		return rc;
	if (upsample > FACE_DLIB_UPSAMPLE_MAX || (max && !ret_vecs)) {
		say(h->err, sizeof(h->err), "face_dlib: reference: bad upsample or no room");
		return -EINVAL;
	}
	try {
		/* What load_image() would have handed the example. */
		dlib::matrix<dlib::rgb_pixel> img(f->height, f->width);
		for (uint32_t y = 0; y < f->height; y++)
			memcpy(&img(y, 0), f->data + (size_t)y * f->stride, (size_t)f->width * 3);
		for (unsigned i = 0; i < upsample; i++)
			dlib::pyramid_up(img);

		std::vector<dlib::rectangle> dets = h->detector(img);
		std::vector<dlib::matrix<dlib::rgb_pixel>> faces;
		for (auto face : dets) {
			auto shape = h->sp(img, face);
			dlib::matrix<dlib::rgb_pixel> face_chip;
			dlib::extract_image_chip(img, dlib::get_face_chip_details(shape, 150, 0.25),
						 face_chip);
			faces.push_back(std::move(face_chip));
		}
		std::vector<dlib::matrix<float, 0, 1>> descriptors;
		if (!faces.empty())
			descriptors = h->net(faces);

		dlib::pyramid_down<2> pyr;
		for (size_t i = 0; i < descriptors.size() && i < max; i++) {
			for (int k = 0; k < FACE_DLIB_DIM; k++)
				ret_vecs[i][k] = descriptors[i](k);
			if (ret_boxes) {
				dlib::rectangle r = dets[i];
				for (unsigned u = 0; u < upsample; u++)
					r = pyr.rect_down(r);
				ret_boxes[i] = box_of(r, 1.0, 1.0, 0.0);
			}
		}
		return (int)std::min(dets.size(), (size_t)INT32_MAX);
	} catch (const std::bad_alloc &) {
		say(h->err, sizeof(h->err), "face_dlib: reference: out of memory");
		return -ENOMEM;
	} catch (const std::exception &e) {
		say(h->err, sizeof(h->err), "face_dlib: reference failed: %s", e.what());
		return -EIO;
	}
}
