/*
 * A tiny test harness: TEST(name) { ... } registers a case; ASSERT* fail the
 * case (and return from it) with the file, line and what was compared.
 * tests/harness.c provides main(): it runs every case, or the ones named on
 * the command line, and ends with "<binary>: N passed, N failed".
 */
#ifndef TESTS_TEST_H
#define TESTS_TEST_H

#include <stdio.h>
#include <string.h>

/*
 * TEST_SANITIZED is 1 in a sanitizer build (make asan): gcc says so with
 * __SANITIZE_*__, clang with __has_feature. Sanitizers make code ~20x slower
 * and keep freed memory in quarantine, so loads and memory bounds that a
 * test measures are scaled or left to the plain build.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int test_failed(void);

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	__attribute__((constructor)) static void test_register_##name(void)                        \
	{                                                                                          \
		test_register(#name, test_##name);                                                 \
	}                                                                                          \
	static void test_##name(void)

#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, "%s", #cond);                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define ASSERT_MSG(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define ASSERT_EQ(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (a_ != b_) {                                                                    \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);   \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define ASSERT_STREQ(a, b)                                                                         \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
			test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,        \
				  a_ ? a_ : "(null)", b_ ? b_ : "(null)");                         \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* The haystack contains the needle. */
#define ASSERT_CONTAINS(hay, needle)                                                               \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_)) {                                                      \
			test_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, n_,  \
				  h_ ? h_ : "(null)");                                             \
			return;                                                                    \
		}                                                                                  \
	} while (0)

/* A whole file, NUL-terminated, malloc'd (the caller frees), its length in
 * *ret_len (may be NULL); NULL when it cannot be read. */
char *test_read_file(const char *path, size_t *ret_len);

/* Runs $EDGEBOX_BIN/edgeboxctl ARGS (a shell command line, stdin from
 * /dev/null); its stdout and stderr into *out and *err (the caller frees
 * them; NULL when unreadable). Returns the exit status, or -1. */
int test_ctl(const char *args, char **out, char **err);

/* Writes len bytes of data as the whole file at path (created or truncated,
 * mode 0644). 0 or -errno of open/write/close. Text: pass strlen(text). */
int test_write_file(const char *path, const void *data, size_t len);

/* A scratch folder for this binary, created on first use, removed at exit. */
const char *test_tmpdir(void);

#endif
