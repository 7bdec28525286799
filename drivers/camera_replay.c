/*
 * camera_replay — a camera made of files, for test rigs and the simulator.
 *
 *   [camera]
 *   driver = replay
 *   path = ../tests/fixtures/camera  # a folder of .jpg/.jpeg/.ppm, or a .y4m file
 *   fps = 10        # default: the Y4M's F rate, else 10
 *   loop = true     # start over at the end; false: -ENODATA at the end
 *   speed = 1.0     # 1 real time, 2 twice as fast, 0 as fast as possible
 *   cache_mb = 64   # decode a folder once at open if it fits; 0: decode per frame
 *
 * A folder holds at most CAMERA_REPLAY_MAX_IMAGES images, replayed in byte
 * order of their names; every image is checked at open, so a bad file stops
 * the box at start rather than mid-stream. Images keep their own size.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "firmware/config.h"
#include "hal/camera.h"
#include "hal/image.h"
#include "hal/time.h"

#define CAMERA_REPLAY_MAX_IMAGES 256
#define CAMERA_REPLAY_PATH_MAX 1024
#define CAMERA_REPLAY_DEFAULT_FPS 10.0

enum replay_kind {
	REPLAY_KIND_FOLDER,
	REPLAY_KIND_Y4M,
};

struct replay_image {
	char *path;
	uint32_t width;
	uint32_t height;
	uint8_t *pixels; /* decoded RGB24 when cached, else NULL */
};

struct camera_replay {
	enum replay_kind kind;
	char path[CAMERA_REPLAY_PATH_MAX];
	struct replay_image *images;
	uint32_t nimages;
	uint32_t next;	   /* folder: index of the next image */
	uint8_t *file_buf; /* folder, uncached: one file at a time */
	size_t file_cap;
	struct image_y4m *y4m;
	bool y4m_broken; /* the last Y4M read failed: rewind before the next */
	bool loop;
	uint64_t interval_ns; /* 0: as fast as possible */
	uint64_t due_ns;      /* when the next frame is due; 0: now */
	uint32_t seq;
	bool ended;
};

static void set_error(struct camera_dev *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(struct camera_dev *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
}

static bool has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && strcasecmp(name + n - s, suffix) == 0;
}

static bool is_image_name(const char *name)
{
	return name[0] != '.' &&
	       (has_suffix(name, ".jpg") || has_suffix(name, ".jpeg") || has_suffix(name, ".ppm"));
}

static int cmp_images(const void *a, const void *b)
{
	return strcmp(((const struct replay_image *)a)->path,
		      ((const struct replay_image *)b)->path);
}

static void free_images(struct camera_replay *r)
{
	uint32_t i;

	for (i = 0; i < r->nimages; i++) {
		free(r->images[i].path);
		free(r->images[i].pixels);
	}
	free(r->images);
	r->images = NULL;
	r->nimages = 0;
}

/* Lists the folder's images, sorted, and sizes the file buffer. */
static int list_folder(struct camera_dev *dev, struct camera_replay *r)
{
	struct dirent *de;
	struct stat st;
	char *full;
	DIR *dir;
	int rc = 0;

	dir = opendir(r->path);
	if (!dir) {
		rc = -errno;
		set_error(dev, "camera: cannot open replay folder %s: %s", r->path, strerror(-rc));
		return rc;
	}
	r->images = calloc(CAMERA_REPLAY_MAX_IMAGES, sizeof(*r->images));
	if (!r->images) {
		rc = -ENOMEM;
		set_error(dev, "camera: out of memory");
		goto close_dir;
	}
	while ((de = readdir(dir))) {
		if (!is_image_name(de->d_name))
			continue;
		if (asprintf(&full, "%s/%s", r->path, de->d_name) < 0) {
			rc = -ENOMEM;
			set_error(dev, "camera: out of memory");
			goto close_dir;
		}
		if (stat(full, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(full);
			continue;
		}
		if (r->nimages == CAMERA_REPLAY_MAX_IMAGES) {
			free(full);
			rc = -E2BIG;
			set_error(
			    dev,
			    "camera: %s holds more than %d images, the replay limit; split "
			    "it or make a .y4m (`ffmpeg -i %%04d.jpg -pix_fmt yuv420p out.y4m`)",
			    r->path, CAMERA_REPLAY_MAX_IMAGES);
			goto close_dir;
		}
		if ((uint64_t)st.st_size > IMAGE_MAX_FILE_BYTES) {
			rc = -EFBIG;
			set_error(dev,
				  "camera: %s is %lld bytes, more than the %zu an image may have",
				  full, (long long)st.st_size, IMAGE_MAX_FILE_BYTES);
			free(full);
			goto close_dir;
		}
		if ((size_t)st.st_size > r->file_cap)
			r->file_cap = (size_t)st.st_size;
		r->images[r->nimages++].path = full;
	}
	if (r->nimages == 0) {
		rc = -ENOENT;
		set_error(dev,
			  "camera: no .jpg, .jpeg or .ppm images in %s; set [camera] path to a "
			  "folder of images or a .y4m file",
			  r->path);
		goto close_dir;
	}
	qsort(r->images, r->nimages, sizeof(*r->images), cmp_images);
close_dir:
	closedir(dir);
	return rc;
}

/*
 * Reads every image once: checks it, learns its size and, when the decoded
 * folder fits in cache_bytes, keeps the pixels so read() is a copy.
 */
static int check_folder(struct camera_dev *dev, struct camera_replay *r, size_t cache_bytes)
{
	struct camera_frame tmp;
	char msg[sizeof(dev->error)];
	size_t len, total = 0;
	uint32_t i;
	int rc;

	r->file_buf = malloc(r->file_cap ? r->file_cap : 1);
	if (!r->file_buf) {
		set_error(dev, "camera: out of memory for a %zu byte file", r->file_cap);
		return -ENOMEM;
	}
	for (i = 0; i < r->nimages; i++) {
		struct replay_image *im = &r->images[i];

		rc = image_read_file(im->path, r->file_buf, r->file_cap, &len, msg, sizeof(msg));
		if (rc == 0)
			rc = image_probe(im->path, r->file_buf, len, &im->width, &im->height, msg,
					 sizeof(msg));
		if (rc < 0) {
			set_error(dev, "camera: %s", msg);
			return rc;
		}
		total += (size_t)im->width * 3 * im->height;
	}
	if (total > cache_bytes)
		return 0;
	for (i = 0; i < r->nimages; i++) {
		struct replay_image *im = &r->images[i];

		memset(&tmp, 0, sizeof(tmp));
		tmp.capacity = (size_t)im->width * 3 * im->height;
		tmp.data = im->pixels = malloc(tmp.capacity);
		if (!im->pixels) {
			set_error(dev, "camera: out of memory caching %s", im->path);
			return -ENOMEM;
		}
		rc = image_read_file(im->path, r->file_buf, r->file_cap, &len, msg, sizeof(msg));
		if (rc == 0)
			rc = image_decode(im->path, r->file_buf, len, &tmp, msg, sizeof(msg));
		if (rc < 0) {
			set_error(dev, "camera: %s", msg);
			return rc;
		}
		/* The file may have changed since the probe: trust the decode. */
		im->width = tmp.width;
		im->height = tmp.height;
	}
	free(r->file_buf);
	r->file_buf = NULL;
	return 0;
}

static int open_source(struct camera_dev *dev, struct camera_replay *r, size_t cache_bytes,
		       double *ret_file_fps)
{
	const struct image_y4m_info *info;
	char msg[sizeof(dev->error)];
	struct stat st;
	int rc;

	*ret_file_fps = 0;
	if (stat(r->path, &st) < 0) {
		rc = -errno;
		set_error(dev,
			  "camera: cannot open replay path %s: %s (set [camera] path to a folder "
			  "of images or a .y4m file, e.g. tests/fixtures/camera)",
			  r->path, strerror(-rc));
		return rc;
	}
	if (S_ISDIR(st.st_mode)) {
		r->kind = REPLAY_KIND_FOLDER;
		rc = list_folder(dev, r);
		if (rc == 0)
			rc = check_folder(dev, r, cache_bytes);
		if (rc == 0) {
			dev->width = r->images[0].width;
			dev->height = r->images[0].height;
		}
		return rc;
	}
	if (!S_ISREG(st.st_mode) || !has_suffix(r->path, ".y4m")) {
		set_error(dev,
			  "camera: replay path %s is neither a folder of images nor a .y4m file",
			  r->path);
		return -EINVAL;
	}
	r->kind = REPLAY_KIND_Y4M;
	rc = image_y4m_open(r->path, &r->y4m, msg, sizeof(msg));
	if (rc < 0) {
		set_error(dev, "camera: %s", msg);
		return rc;
	}
	info = image_y4m_info(r->y4m);
	dev->width = info->width;
	dev->height = info->height;
	if (info->fps_den)
		*ret_file_fps = (double)info->fps_num / info->fps_den;
	return 0;
}

static void replay_free(struct camera_replay *r)
{
	if (!r)
		return;
	free_images(r);
	free(r->file_buf);
	image_y4m_close(r->y4m);
	free(r);
}

static int replay_open(struct camera_dev *dev, const struct config *cfg, const char *section)
{
	struct config_error cerr;
	struct camera_replay *r;
	double fps, file_fps, speed;
	long cache_mb;
	int rc;

	r = calloc(1, sizeof(*r));
	if (!r) {
		set_error(dev, "camera: out of memory");
		return -ENOMEM;
	}
	/* fps 0 here means "not set": the file's rate or the default decides. */
	if ((rc = config_path(cfg, section, "path", NULL, true, r->path, sizeof(r->path), &cerr)) <
		0 ||
	    (rc = config_double(cfg, section, "fps", 0, 0.1, 1000, &fps, &cerr)) < 0 ||
	    (rc = config_bool(cfg, section, "loop", true, &r->loop, &cerr)) < 0 ||
	    (rc = config_double(cfg, section, "speed", 1.0, 0, 100, &speed, &cerr)) < 0 ||
	    (rc = config_int(cfg, section, "cache_mb", 64, 0, 1024, &cache_mb, &cerr)) < 0) {
		set_error(dev, "camera: %s", cerr.msg);
		goto free_replay;
	}
	rc = open_source(dev, r, (size_t)cache_mb << 20, &file_fps);
	if (rc < 0)
		goto free_replay;
	if (fps == 0 && file_fps > 0) {
		if (file_fps < 0.1 || file_fps > 1000) {
			rc = -ERANGE;
			set_error(dev,
				  "camera: %s says %g frames/s, outside 0.1..1000; set [%s] fps",
				  r->path, file_fps, section);
			goto free_replay;
		}
		fps = file_fps;
	}
	if (fps == 0)
		fps = CAMERA_REPLAY_DEFAULT_FPS;
	dev->fps = fps;
	r->interval_ns = speed > 0 ? (uint64_t)(1e9 / (fps * speed)) : 0;
	dev->priv = r;
	return 0;

free_replay:
	replay_free(r);
	return rc;
}

/* Sleeps until the monotonic time t; signals do not cut it short. */
static void sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
			      .tv_nsec = (long)(t % 1000000000ull)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int next_folder_frame(struct camera_dev *dev, struct camera_replay *r,
			     struct camera_frame *frame)
{
	struct replay_image *im;
	char msg[sizeof(dev->error)];
	size_t len, need;
	int rc;

	if (r->next == r->nimages) {
		if (!r->loop)
			return -ENODATA;
		r->next = 0;
	}
	im = &r->images[r->next];
	need = (size_t)im->width * 3 * im->height;
	if (!frame->data || frame->capacity < need) {
		set_error(dev, "camera: the frame buffer holds %zu bytes, %s (%ux%u) needs %zu",
			  frame->data ? frame->capacity : 0, im->path, im->width, im->height, need);
		return -ENOSPC;
	}
	r->next++;
	if (im->pixels) {
		memcpy(frame->data, im->pixels, need);
		frame->width = im->width;
		frame->height = im->height;
		frame->stride = im->width * 3;
		frame->bytes = need;
		return 1;
	}
	rc = image_read_file(im->path, r->file_buf, r->file_cap, &len, msg, sizeof(msg));
	if (rc == 0)
		rc = image_decode(im->path, r->file_buf, len, frame, msg, sizeof(msg));
	if (rc < 0) {
		set_error(dev, "camera: %s", msg);
		return rc;
	}
	return 1;
}

static int next_y4m_frame(struct camera_dev *dev, struct camera_replay *r,
			  struct camera_frame *frame)
{
	char msg[sizeof(dev->error)];
	int rc;

	if (r->y4m_broken) {
		if (!r->loop)
			return -ENODATA;
		rc = image_y4m_rewind(r->y4m, msg, sizeof(msg));
		if (rc < 0)
			goto fail;
		r->y4m_broken = false;
	}
	rc = image_y4m_read(r->y4m, frame, msg, sizeof(msg));
	if (rc == 0 && r->loop && image_y4m_frame_index(r->y4m) > 0) {
		rc = image_y4m_rewind(r->y4m, msg, sizeof(msg));
		if (rc == 0)
			rc = image_y4m_read(r->y4m, frame, msg, sizeof(msg));
	}
	if (rc == 1)
		return 1;
	if (rc == 0) {
		if (image_y4m_frame_index(r->y4m) == 0)
			set_error(dev, "camera: %s holds no frames", r->path);
		return -ENODATA;
	}
	/* A bad or cut-off frame: report it once, then start over (or end). */
	if (rc != -ENOSPC)
		r->y4m_broken = true;
fail:
	set_error(dev, "camera: %s", msg);
	return rc;
}

static int replay_read(struct camera_dev *dev, struct camera_frame *frame, int timeout_ms)
{
	struct camera_replay *r = dev->priv;
	uint64_t now;
	int rc;

	if (!r)
		return -EBADF;
	dev->error[0] = '\0';
	if (r->ended) {
		set_error(dev, "camera: end of replay %s (set loop = true to repeat it)", r->path);
		return -ENODATA;
	}
	now = hal_now_ns();
	if (r->interval_ns && r->due_ns > now) {
		if (timeout_ms >= 0 && r->due_ns - now > (uint64_t)timeout_ms * 1000000ull) {
			sleep_until(now + (uint64_t)timeout_ms * 1000000ull);
			return 0;
		}
		sleep_until(r->due_ns);
	}

	rc = r->kind == REPLAY_KIND_FOLDER ? next_folder_frame(dev, r, frame)
					   : next_y4m_frame(dev, r, frame);
	if (rc == -ENOSPC)
		return rc; /* nothing consumed: the caller may retry with room */
	now = hal_now_ns();
	/* Keep to the schedule, but a reader that fell behind gets no burst. */
	if (r->interval_ns) {
		r->due_ns = r->due_ns ? r->due_ns + r->interval_ns : now + r->interval_ns;
		if (r->due_ns < now)
			r->due_ns = now + r->interval_ns;
	}
	if (rc == -ENODATA) {
		r->ended = true;
		if (!dev->error[0])
			set_error(dev, "camera: end of replay %s (set loop = true to repeat it)",
				  r->path);
		return rc;
	}
	if (rc < 0) {
		dev->stats.errors++;
		return rc;
	}
	frame->ts_ns = now;
	frame->seq = r->seq++;
	dev->stats.frames++;
	return 1;
}

static void replay_close(struct camera_dev *dev)
{
	replay_free(dev->priv);
	dev->priv = NULL;
}

const struct camera_ops camera_replay_ops = {
    .name = "replay",
    .open = replay_open,
    .read = replay_read,
    .close = replay_close,
};
