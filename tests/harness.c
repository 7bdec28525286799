#include "test.h"
#include "tests/support/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_MAX 512

static struct {
	const char *name;
	test_fn fn;
} tests[TEST_MAX];
static int ntests;
static int current_failed;
static char tmpdir[256];

void test_register(const char *name, test_fn fn)
{
	if (ntests == TEST_MAX) {
		fprintf(stderr, "harness: more than %d tests in one binary\n", TEST_MAX);
		exit(2);
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	current_failed = 1;
	printf("    %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

int test_failed(void)
{
	return current_failed;
}

static void remove_tmpdir(void)
{
	char cmd[300];

	if (tmpdir[0] && !getenv("TEST_KEEP_TMP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: could not remove %s\n", tmpdir);
	}
}

char *test_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0, got;
	char *buf = NULL, *grown;

	if (!f)
		return NULL;
	do {
		grown = realloc(buf, cap + 1);
		if (!grown) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = grown;
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n == cap)
			cap *= 2;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (ret_len)
		*ret_len = n;
	return buf;
}

int test_write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int err = 0;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (n == 0) { /* no progress and no errno: do not spin */
			err = -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

const char *test_tmpdir(void)
{
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/edgebox-test-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("harness: mkdtemp");
			exit(2);
		}
		atexit(remove_tmpdir);
	}
	return tmpdir;
}

static int selected(int argc, char **argv, const char *name)
{
	int i;

	if (argc < 2)
		return 1;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int i, passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < ntests; i++) {
		if (!selected(argc, argv, tests[i].name))
			continue;
		current_failed = 0;
		tests[i].fn();
		if (current_failed) {
			printf("FAIL %s.%s\n", prog, tests[i].name);
			failed++;
		} else {
			printf("ok   %s.%s\n", prog, tests[i].name);
			passed++;
		}
	}
	printf("%s: %d passed, %d failed\n", prog, passed, failed);
	return failed ? 1 : 0;
}

int test_ctl(const char *args, char **out, char **err)
{
	char ctl[512], cmd[4096], o[512], e[512];
	int st;

	*out = *err = NULL;
	if (test_bin_path("edgeboxctl", ctl, sizeof(ctl)) < 0)
		return -1;
	snprintf(o, sizeof(o), "%s/ctl.out", test_tmpdir());
	snprintf(e, sizeof(e), "%s/ctl.err", test_tmpdir());
	if (snprintf(cmd, sizeof(cmd), "%s %s >%s 2>%s </dev/null", ctl, args, o, e) >=
	    (int)sizeof(cmd))
		return -1;
	st = system(cmd);
	*out = test_read_file(o, NULL);
	*err = test_read_file(e, NULL);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
