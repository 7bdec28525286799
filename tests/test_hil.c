/*
 * hil: the scenario loader, the runner and the JUnit writer.
 *
 * - every tests/hil/ scenario (.json) runs in start mode against the real edgeboxd on
 *   replay drivers ($EDGEBOX_BIN or build/bin) and passes, with a JUnit
 *   file a real XML parser (python3) reads;
 * - scenarios that must fail do, against the real daemon (a wrong expected
 *   type, a walk-in where the quiet scenario expects nobody, a config the
 *   daemon refuses), with the message, the last messages and the log tail;
 * - a fake box (a thread serving two sockets) drives the runner's timing,
 *   reply assembly, field and pattern checks, closed sockets, tokens,
 *   $session and keep_going deterministically and fast;
 * - bad scenario files are refused naming the file, the step and the field;
 * - JUnit escaping of < & " ' and of bytes that are not XML;
 * - edgeboxctl hil: exit codes 0/1/2/3 through the real binary.
 */
#include "tests/test.h"

#include <errno.h>
#include <glob.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "firmware/hil.h"
#include "tests/support/daemon.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 1 << 20);
	if (buf) {
		n = fread(buf, 1, (1 << 20) - 1, f);
		buf[n] = '\0';
	}
	fclose(f);
	return buf;
}

/* Runs a shell command; its output (stdout and stderr) in out, its exit status returned. */
static int run_cmd(const char *cmd, char *out, size_t len)
{
	char full[4096];
	FILE *p;
	size_t n = 0;
	int st;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	if (!p)
		return -1;
	if (len)
		n = fread(out, 1, len - 1, p);
	if (len)
		out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Parses a JUnit file with python3's XML parser and prints one line per suite
 * and case: "suite NAME tests=N failures=N errors=N skipped=N" and
 * "case NAME: pass|failure|error|skipped MESSAGE". Exit 0 when it parses. */
static int junit_outline(const char *path, char *out, size_t len)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import sys, xml.etree.ElementTree as E\n"
		 "r = E.parse(sys.argv[1]).getroot()\n"
		 "assert r.tag == \"testsuites\", r.tag\n"
		 "for s in r.findall(\"testsuite\"):\n"
		 "    print(\"suite\", s.get(\"name\"), \"tests=\" + s.get(\"tests\"),"
		 " \"failures=\" + s.get(\"failures\"), \"errors=\" + s.get(\"errors\"),"
		 " \"skipped=\" + s.get(\"skipped\"))\n"
		 "    assert int(s.get(\"tests\")) == len(s.findall(\"testcase\"))\n"
		 "    for c in s.findall(\"testcase\"):\n"
		 "        k = [e for e in c if e.tag in (\"failure\", \"error\", \"skipped\")]\n"
		 "        print(\"case\", c.get(\"name\") + \":\", k[0].tag if k else \"pass\","
		 " k[0].get(\"message\") if k else \"\")\n"
		 "        if k and k[0].tag != \"skipped\": print(\"body\", k[0].text)\n"
		 "' '%s'",
		 path);
	return run_cmd(cmd, out, len);
}

/* ---- runs in child processes (each starts its own edgeboxd) ---------------- */

struct job {
	char scenario[512];
	char junit[512];
	char summary[512];
	pid_t pid;
	int status; /* the child's exit: the hil status, or 100+ for a runner error */
};

static void job_start(struct job *j, const char *scenario, const char *tag)
{
	snprintf(j->scenario, sizeof(j->scenario), "%s", scenario);
	snprintf(j->junit, sizeof(j->junit), "%s/%s.xml", test_tmpdir(), tag);
	snprintf(j->summary, sizeof(j->summary), "%s/%s.txt", test_tmpdir(), tag);
	fflush(NULL);
	j->pid = fork();
	if (j->pid == 0) {
		struct hil_scenario *s;
		struct hil_report *r;
		struct hil_error err;
		struct hil_options o = {.bin_dir = test_bin_dir()};
		FILE *f = fopen(j->summary, "w");

		if (!f)
			_exit(102);
		o.out = f;
		if (hil_scenario_load(j->scenario, &s, &err) < 0) {
			fprintf(f, "load: %s\n", err.msg);
			fclose(f);
			_exit(100);
		}
		if (hil_run(s, &o, &r, &err) < 0) {
			fprintf(f, "run: %s\n", err.msg);
			fclose(f);
			_exit(101);
		}
		hil_report_print(r, f);
		if (hil_junit_write((const struct hil_report *const *)&r, 1, j->junit, &err) < 0)
			fprintf(f, "junit: %s\n", err.msg);
		fclose(f);
		_exit((int)hil_report_status(r)); /* _exit: the harness's atexit is the parent's */
	}
}

static void job_wait(struct job *j)
{
	int st = 0;

	j->status = -1;
	if (j->pid > 0 && waitpid(j->pid, &st, 0) == j->pid)
		j->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(every_shipped_scenario_passes_against_edgeboxd_on_replay_drivers)
{
	static const char *const expected[] = {"walk_in_greeting", "sales_talk", "handoff",
					       "walk_past_quiet"};
	struct job jobs[16];
	glob_t g;
	size_t n, i;

	ASSERT_EQ(glob("tests/hil/*.json", 0, NULL, &g), 0);
	n = g.gl_pathc < 16 ? g.gl_pathc : 16;
	for (i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		char want[128];
		bool found = false;

		snprintf(want, sizeof(want), "tests/hil/%s.json", expected[i]);
		for (size_t k = 0; k < n; k++)
			found = found || strcmp(g.gl_pathv[k], want) == 0;
		ASSERT_MSG(found, "%s is missing", want);
	}
	/* in parallel: each has its own daemon, state folder and sockets */
	for (i = 0; i < n; i++) {
		char tag[64];

		snprintf(tag, sizeof(tag), "shipped%zu", i);
		job_start(&jobs[i], g.gl_pathv[i], tag);
	}
	for (i = 0; i < n; i++)
		job_wait(&jobs[i]);
	for (i = 0; i < n; i++) {
		char *summary = slurp(jobs[i].summary), outline[16384];
		struct hil_scenario *s;
		struct hil_error err;
		char want[64];

		ASSERT_MSG(jobs[i].status == 0, "%s: exit %d\n%s", jobs[i].scenario, jobs[i].status,
			   summary ? summary : "(no summary)");
		free(summary);
		ASSERT_MSG(junit_outline(jobs[i].junit, outline, sizeof(outline)) == 0,
			   "%s: JUnit does not parse:\n%s", jobs[i].scenario, outline);
		ASSERT_EQ(hil_scenario_load(jobs[i].scenario, &s, &err), 0);
		/* every step, plus start and stop, passed */
		snprintf(want, sizeof(want), "tests=%zu failures=0 errors=0 skipped=0",
			 hil_scenario_steps(s) + 2);
		ASSERT_CONTAINS(outline, want);
		ASSERT_CONTAINS(outline, hil_scenario_name(s));
		hil_scenario_free(s);
	}
	globfree(&g);
}

/* Text of a shipped scenario with one substitution, written to to: 0, -ENOENT
 * (from cannot be read), -EINVAL (a is not in it), -ENOMEM, or -errno of the
 * write. */
static int derive(const char *from, const char *to, const char *a, const char *b)
{
	char *text = slurp(from), *p, *out;
	int rc;

	if (!text)
		return -ENOENT;
	p = strstr(text, a);
	out = calloc(1, strlen(text) + strlen(b) + 1);
	if (!p) {
		rc = -EINVAL;
	} else if (!out) {
		rc = -ENOMEM;
	} else {
		memcpy(out, text, (size_t)(p - text));
		strcat(out, b);
		strcat(out, p + strlen(a));
		rc = test_write_file(to, out, strlen(out));
	}
	free(out);
	free(text);
	return rc;
}

TEST(scenarios_that_must_fail_fail_with_what_was_expected_what_came_and_the_log)
{
	char wrong[600], walkin[600], badset[600], *sum, outline[32768];
	struct job jobs[3];

	/* a staff message type expected on the kiosk: the greeting comes instead */
	snprintf(wrong, sizeof(wrong), "%s/wrong_type.json", test_tmpdir());
	ASSERT_EQ(derive("tests/hil/handoff.json", wrong,
			 "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", "
			 "\"within_ms\": 6000}}",
			 "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"visitor_arrived\", "
			 "\"within_ms\": 4000}}"),
		  0);
	/* the quiet scenario with a customer who does walk in */
	snprintf(walkin, sizeof(walkin), "%s/not_quiet.json", test_tmpdir());
	ASSERT_EQ(
	    derive("tests/hil/walk_past_quiet.json", walkin, "walk_past.walk", "walk_in.walk"), 0);
	/* a key the daemon does not know */
	snprintf(badset, sizeof(badset), "%s/bad_set.json", test_tmpdir());
	ASSERT_EQ(derive("tests/hil/walk_in_greeting.json", badset, "\"daemon.realtime=false\"",
			 "\"daemon.realtime=false\", \"ble.colour=blue\""),
		  0);
	job_start(&jobs[0], wrong, "wrong_type");
	job_start(&jobs[1], walkin, "not_quiet");
	job_start(&jobs[2], badset, "bad_set");
	for (int i = 0; i < 3; i++)
		job_wait(&jobs[i]);

	sum = slurp(jobs[0].summary);
	ASSERT_MSG(jobs[0].status == HIL_STATUS_FAIL, "exit %d\n%s", jobs[0].status, sum);
	ASSERT_CONTAINS(sum,
			"01 expect kiosk visitor_arrived within 4000 ms: expected kiosk "
			"visitor_arrived within 4000 ms; got no \"visitor_arrived\" in 4000 ms");
	ASSERT_CONTAINS(sum, "note: the kiosk socket has no \"visitor_arrived\" messages");
	ASSERT_CONTAINS(sum, "\"type\":\"greeting\""); /* what came instead, in the history */
	ASSERT_CONTAINS(sum, "edgeboxd log");
	ASSERT_CONTAINS(sum, "running with");  /* the daemon's own words */
	ASSERT_CONTAINS(sum, "ok    99 stop"); /* the daemon still stopped cleanly */
	free(sum);
	ASSERT_EQ(junit_outline(jobs[0].junit, outline, sizeof(outline)), 0);
	ASSERT_CONTAINS(outline, "failures=1 errors=0");
	ASSERT_CONTAINS(outline, "case 01 expect kiosk visitor_arrived within 4000 ms: failure "
				 "expected kiosk visitor_arrived");
	ASSERT_CONTAINS(outline, "case 02 say \"hi, what fibre plans do you have?\": skipped");
	ASSERT_CONTAINS(outline, "body expected kiosk visitor_arrived");

	sum = slurp(jobs[1].summary);
	ASSERT_MSG(jobs[1].status == HIL_STATUS_FAIL, "exit %d\n%s", jobs[1].status, sum);
	ASSERT_CONTAINS(sum, "01 nobody greeted while they pass: expected no kiosk greeting for "
			     "4000 ms; got one after");
	free(sum);

	sum = slurp(jobs[2].summary);
	ASSERT_MSG(jobs[2].status == HIL_STATUS_BAD_SCENARIO, "exit %d\n%s", jobs[2].status, sum);
	/* usually before its sockets are up (case 00); it may have opened them for a
	 * moment before checking the last keys (then case 99 says it) */
	ASSERT_CONTAINS(sum, "refused the config the scenario starts it with");
	ASSERT_CONTAINS(sum, "ble.colour");
	free(sum);
	ASSERT_EQ(junit_outline(jobs[2].junit, outline, sizeof(outline)), 0);
	ASSERT_MSG(strstr(outline, "case 00 start: edgeboxd on config/sim.conf: error") ||
		       strstr(outline, "case 99 stop: edgeboxd exits cleanly on SIGTERM: error"),
		   "%s", outline);
}

/* ---- a fake box: two sockets served by a thread ------------------------------ */

struct fake {
	char kpath[128], spath[128];
	int lfd[2], cfd[2];
	int wake[2];
	pthread_t th;
	char token[64]; /* kiosk hello must carry it; "" none */
	int slow_ms;	/* before the first token */
	bool greet;
	int turn;
	pthread_mutex_t mu;
	char heard[8192]; /* every client line, for asserts */
};

static void fsend(int fd, const char *line)
{
	if (fd >= 0 && send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
		/* the runner went away: nothing to do */
	}
}

static void fake_line(struct fake *f, int role, const char *line)
{
	char buf[1024];
	int k = f->cfd[0], s = f->cfd[1];

	pthread_mutex_lock(&f->mu);
	snprintf(f->heard + strlen(f->heard), sizeof(f->heard) - strlen(f->heard), "%s %s\n",
		 role ? "staff" : "kiosk", line);
	pthread_mutex_unlock(&f->mu);
	if (role == 1) {
		const char *p = strstr(line, "\"session\":");

		if (strstr(line, "\"take_over\"") && p) {
			snprintf(buf, sizeof(buf),
				 "{\"v\":1,\"type\":\"takeover_state\",\"ts\":1,\"session\":%d,"
				 "\"state\":\"staff\"}\n",
				 atoi(p + 10));
			fsend(s, buf);
		}
		return;
	}
	if (strstr(line, "\"hello\"")) {
		if (f->token[0] && !strstr(line, f->token)) {
			fsend(k, "{\"v\":1,\"type\":\"error\",\"ts\":1,\"error\":\"unauthorized\","
				 "\"detail\":\"wrong token\",\"fatal\":true}\n");
			return;
		}
		if (f->greet)
			fsend(
			    k,
			    "{\"v\":1,\"type\":\"greeting\",\"ts\":1,\"text\":\"Welcome in!\"}\n");
		return;
	}
	if (!strstr(line, "\"customer_text\""))
		return;
	if (strstr(line, "\"close\"")) {
		shutdown(k, SHUT_RDWR);
		return;
	}
	if (strstr(line, "\"garbage\""))
		fsend(k, "this is not json\n{\"v\":1,\"type\":\n");
	f->turn++;
	fsend(s, "{\"v\":1,\"type\":\"transcript\",\"ts\":1,\"session\":7,\"role\":\"customer\","
		 "\"text\":\"hi\"}\n");
	if (strstr(line, "cancel")) {
		fsend(s, "{\"v\":1,\"type\":\"escalation\",\"ts\":1,\"session\":7,\"category\":"
			 "\"cancellation\",\"rule\":\"cancel.service\",\"reason\":\"r\","
			 "\"transcript_summary\":\"\"}\n");
		fsend(k, "{\"v\":1,\"type\":\"handoff\",\"ts\":1,\"reason\":\"cancellation\","
			 "\"text\":\"someone is coming\"}\n");
		return;
	}
	snprintf(buf, sizeof(buf), "{\"v\":1,\"type\":\"reply_start\",\"ts\":1,\"turn\":%d}\n",
		 f->turn);
	fsend(k, buf);
	if (f->slow_ms)
		usleep((useconds_t)f->slow_ms * 1000);
	snprintf(buf, sizeof(buf),
		 "{\"v\":1,\"type\":\"token\",\"ts\":1,\"turn\":%d,\"text\":\"Hello\"}\n"
		 "{\"v\":1,\"type\":\"token\",\"ts\":1,\"turn\":%d,\"text\":\" there\"}\n"
		 "{\"v\":1,\"type\":\"reply_end\",\"ts\":1,\"turn\":%d}\n",
		 f->turn, f->turn, f->turn);
	fsend(k, buf);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char bufs[2][4096];
	size_t lens[2] = {0, 0};

	for (;;) {
		struct pollfd p[5];
		int n = 0, who[5];

		p[n].fd = f->wake[0], p[n].events = POLLIN, who[n++] = -1;
		for (int i = 0; i < 2; i++) {
			if (f->cfd[i] < 0)
				p[n].fd = f->lfd[i], p[n].events = POLLIN, who[n++] = 10 + i;
			else
				p[n].fd = f->cfd[i], p[n].events = POLLIN, who[n++] = i;
		}
		if (poll(p, (nfds_t)n, 1000) < 0)
			continue;
		if (p[0].revents)
			return NULL;
		for (int j = 1; j < n; j++) {
			int i = who[j] % 10;
			ssize_t k;

			if (!p[j].revents)
				continue;
			if (who[j] >= 10) {
				char w[160];

				f->cfd[i] = accept(f->lfd[i], NULL, NULL);
				snprintf(w, sizeof(w),
					 "{\"v\":1,\"type\":\"welcome\",\"ts\":1,\"role\":\"%s\","
					 "\"client\":1,\"hello_required\":%s}\n",
					 i ? "staff" : "kiosk",
					 !i && f->token[0] ? "true" : "false");
				fsend(f->cfd[i], w);
				continue;
			}
			k = read(f->cfd[i], bufs[i] + lens[i], sizeof(bufs[i]) - 1 - lens[i]);
			if (k <= 0) {
				close(f->cfd[i]);
				f->cfd[i] = -1;
				lens[i] = 0;
				continue;
			}
			lens[i] += (size_t)k;
			for (char *nl; (nl = memchr(bufs[i], '\n', lens[i]));) {
				*nl = '\0';
				fake_line(f, i, bufs[i]);
				lens[i] -= (size_t)(nl + 1 - bufs[i]);
				memmove(bufs[i], nl + 1, lens[i]);
			}
		}
	}
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

static int fake_start(struct fake *f)
{
	static int seq;

	memset(f, 0, sizeof(*f));
	seq++;
	snprintf(f->kpath, sizeof(f->kpath), "%s/k%d.sock", test_tmpdir(), seq);
	snprintf(f->spath, sizeof(f->spath), "%s/s%d.sock", test_tmpdir(), seq);
	f->lfd[0] = listen_at(f->kpath);
	f->lfd[1] = listen_at(f->spath);
	f->cfd[0] = f->cfd[1] = -1;
	f->greet = true;
	pthread_mutex_init(&f->mu, NULL);
	if (f->lfd[0] < 0 || f->lfd[1] < 0 || pipe(f->wake) < 0)
		return -1;
	return pthread_create(&f->th, NULL, fake_main, f) == 0 ? 0 : -1;
}

static void fake_stop(struct fake *f)
{
	if (write(f->wake[1], "x", 1) == 1)
		pthread_join(f->th, NULL);
	for (int i = 0; i < 2; i++) {
		if (f->cfd[i] >= 0)
			close(f->cfd[i]);
		close(f->lfd[i]);
	}
	close(f->wake[0]);
	close(f->wake[1]);
	unlink(f->kpath);
	unlink(f->spath);
}

/* Runs steps (a JSON array's contents) against the fake box in attach mode. */
static int run_fake(struct fake *f, const char *name, const char *steps, bool keep_going,
		    struct hil_report **ret)
{
	char *text = malloc(16384);
	struct hil_scenario *s;
	struct hil_error err;
	struct hil_options o = {.keep_going = keep_going};
	int rc;

	*ret = NULL;
	if (!text)
		return -ENOMEM;
	snprintf(text, 16384,
		 "{\"name\": \"%s\", \"box\": {\"attach\": {\"kiosk\": \"%s\", \"staff\": \"%s\", "
		 "\"connect_ms\": 1000}}, \"steps\": [%s]}",
		 name, f->kpath, f->spath, steps);
	rc = hil_scenario_parse("fake.json", text, strlen(text), &s, &err);
	free(text);
	if (rc < 0) {
		printf("    parse: %s\n", err.msg);
		return rc;
	}
	rc = hil_run(s, &o, ret, &err);
	if (rc < 0)
		printf("    run: %s\n", err.msg);
	hil_scenario_free(s);
	return rc;
}

static struct hil_case case_at(const struct hil_report *r, size_t i)
{
	struct hil_case c = {.name = "", .message = "", .detail = ""};

	hil_report_case(r, i, &c);
	return c;
}

TEST(reply_text_is_the_streamed_reply_and_turns_are_timed)
{
	struct fake f;
	struct hil_report *r;
	struct hil_turn t;

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(
	    run_fake(&f, "talk",
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", "
		     "\"text_matches\": \"(?i)^welcome\"}},"
		     "{\"say\": \"hi\"},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"reply_end\", \"within_ms\": "
		     "1000, \"first_token_within_ms\": 500, \"text_matches\": \"^Hello there$\", "
		     "\"field\": {\"turn\": 1}}},"
		     "{\"expect\": {\"socket\": \"staff\", \"type\": \"transcript\", \"field\": "
		     "{\"role\": \"customer\"}, \"matches\": {\"text\": \"^h\"}}},"
		     "{\"send\": {\"socket\": \"staff\", \"message\": {\"type\": \"take_over\", "
		     "\"session\": \"$session\"}}},"
		     "{\"expect\": {\"socket\": \"staff\", \"type\": \"takeover_state\", "
		     "\"within_ms\": 1000, \"field\": {\"session\": 7, \"state\": \"staff\"}}}",
		     false, &r),
	    0);
	fake_stop(&f);
	for (size_t i = 0; i < hil_report_cases(r); i++)
		ASSERT_MSG(case_at(r, i).result == HIL_CASE_PASS, "%s: %s\n%s", case_at(r, i).name,
			   case_at(r, i).message, case_at(r, i).detail);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_PASS);
	ASSERT_EQ(hil_report_cases(r), 7); /* connect + 6 steps, no stop in attach mode */
	ASSERT_CONTAINS(f.heard,
			"kiosk {\"v\":1,\"type\":\"hello\",\"client\":\"edgeboxctl-hil\"}");
	ASSERT_CONTAINS(f.heard, "kiosk {\"v\":1,\"type\":\"customer_text\",\"text\":\"hi\"}");
	ASSERT_CONTAINS(f.heard, "\"type\":\"take_over\",\"session\":7"); /* $session filled in */
	ASSERT_EQ(hil_report_turns(r), 1);
	ASSERT_EQ(hil_report_turn(r, 0, &t), 0);
	ASSERT_STREQ(t.said, "hi");
	ASSERT(t.first_token_ms >= 0 && t.first_token_ms < 500);
	ASSERT(t.reply_end_ms >= t.first_token_ms);
	ASSERT_EQ(t.handoff_ms, -1);
	ASSERT_EQ(hil_report_turn(r, 1, &t), -ENOENT);
	hil_report_free(r);
}

TEST(a_slow_first_token_fails_with_the_time_it_took)
{
	struct fake f;
	struct hil_report *r;
	struct hil_turn t;
	struct hil_case c;

	ASSERT_EQ(fake_start(&f), 0);
	f.slow_ms = 300;
	ASSERT_EQ(
	    run_fake(&f, "slow",
		     "{\"say\": \"hi\"},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"reply_end\", \"within_ms\": "
		     "2000, \"first_token_within_ms\": 100}}",
		     false, &r),
	    0);
	fake_stop(&f);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_FAIL);
	c = case_at(r, 2);
	ASSERT_EQ(c.result, HIL_CASE_FAIL);
	ASSERT_CONTAINS(c.message, "expected the first token within 100 ms; got the first token "
				   "of turn 1 (\"hi\") came after");
	ASSERT_CONTAINS(c.detail, "first token within 100 ms of the last say");
	ASSERT_EQ(hil_report_turn(r, 0, &t), 0);
	ASSERT_MSG(t.first_token_ms >= 290 && t.first_token_ms < 2000, "first token %lld ms",
		   (long long)t.first_token_ms);
	hil_report_free(r);
}

TEST(a_field_or_pattern_mismatch_says_what_came)
{
	struct fake f;
	struct hil_report *r;
	struct hil_case c;
	uint64_t t0 = (uint64_t)time(NULL);

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(
	    run_fake(&f, "mismatch",
		     "{\"say\": \"I want to cancel\"},"
		     "{\"expect\": {\"socket\": \"staff\", \"type\": \"escalation\", "
		     "\"within_ms\": 300, \"field\": {\"category\": \"billing\"}}},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"handoff\", \"within_ms\": "
		     "300, \"text_matches\": \"(?i)manager\"}},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", \"within_ms\": "
		     "300}}",
		     true, &r),
	    0);
	fake_stop(&f);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_FAIL);
	c = case_at(r, 2);
	ASSERT_EQ(c.result, HIL_CASE_FAIL);
	ASSERT_CONTAINS(c.message, "got 1 \"escalation\" message that did not match; the last: "
				   "field \"category\" is \"cancellation\", expected \"billing\"");
	ASSERT_CONTAINS(c.detail, "expected: a staff \"escalation\" within 300 ms, category = "
				  "\"billing\"");
	ASSERT_CONTAINS(c.detail, "messages on the staff socket");
	c = case_at(r, 3);
	ASSERT_CONTAINS(c.message, "text \"someone is coming\" does not match /(?i)manager/");
	/* keep_going: the greeting (queued before) is still found after the failures */
	ASSERT_EQ(case_at(r, 4).result, HIL_CASE_PASS);
	ASSERT((uint64_t)time(NULL) - t0 < 5);
	hil_report_free(r);
}

TEST(after_a_failure_later_steps_are_skipped_unless_keep_going)
{
	struct fake f;
	struct hil_report *r;
	const char *steps =
	    "{\"expect_absent\": {\"socket\": \"kiosk\", \"type\": \"greeting\", \"for_ms\": 200}},"
	    "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", \"within_ms\": 500}}";

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(run_fake(&f, "skip", steps, false, &r), 0);
	fake_stop(&f);
	ASSERT_EQ(case_at(r, 1).result, HIL_CASE_FAIL);
	ASSERT_CONTAINS(case_at(r, 1).message, "expected no kiosk greeting for 200 ms; got one");
	ASSERT_EQ(case_at(r, 2).result, HIL_CASE_SKIPPED);
	ASSERT_CONTAINS(case_at(r, 2).message, "not run: an earlier step failed");
	hil_report_free(r);

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(run_fake(&f, "keep", steps, true, &r), 0);
	fake_stop(&f);
	ASSERT_EQ(case_at(r, 1).result, HIL_CASE_FAIL);
	ASSERT_EQ(case_at(r, 2).result, HIL_CASE_PASS); /* expect_absent takes nothing */
	hil_report_free(r);

	/* without a greeting, the quiet step holds for its whole time */
	ASSERT_EQ(fake_start(&f), 0);
	f.greet = false;
	ASSERT_EQ(run_fake(&f, "quiet", steps, false, &r), 0);
	fake_stop(&f);
	ASSERT_EQ(case_at(r, 1).result, HIL_CASE_PASS);
	ASSERT_MSG(case_at(r, 1).time_s >= 0.19, "%f", case_at(r, 1).time_s);
	ASSERT_EQ(case_at(r, 2).result, HIL_CASE_FAIL);
	ASSERT_CONTAINS(case_at(r, 2).message, "got no \"greeting\" in 500 ms");
	hil_report_free(r);
}

TEST(a_closed_socket_fails_the_step_at_once_and_garbage_lines_are_skipped)
{
	struct fake f;
	struct hil_report *r;
	struct hil_case c;

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(
	    run_fake(&f, "closed",
		     "{\"say\": \"garbage\"},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"reply_end\", \"within_ms\": "
		     "1000}},"
		     "{\"say\": \"close\"},"
		     "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"reply_end\", \"within_ms\": "
		     "20000}}",
		     false, &r),
	    0);
	fake_stop(&f);
	ASSERT_EQ(case_at(r, 2).result, HIL_CASE_PASS); /* the reply after the bad lines */
	c = case_at(r, 4);
	ASSERT_EQ(c.result, HIL_CASE_FAIL);
	ASSERT_CONTAINS(c.message, "the kiosk socket is closed: the box closed the connection");
	ASSERT_MSG(c.time_s < 5, "waited %f s", c.time_s);
	ASSERT_CONTAINS(c.detail, "(2 lines were not JSON objects and were skipped)");
	hil_report_free(r);
}

TEST(a_socket_with_a_token_needs_one_and_gets_it_from_the_environment)
{
	struct fake f;
	struct hil_report *r;

	ASSERT_EQ(fake_start(&f), 0);
	snprintf(f.token, sizeof(f.token), "s3cret-token");
	unsetenv("EDGEBOX_KIOSK_TOKEN");
	ASSERT_EQ(run_fake(&f, "token",
			   "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", "
			   "\"within_ms\": 1000}}",
			   false, &r),
		  0);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_UNREACHABLE);
	ASSERT_EQ(case_at(r, 0).result, HIL_CASE_ERROR);
	ASSERT_CONTAINS(case_at(r, 0).message, "the kiosk socket needs a token");
	ASSERT_EQ(case_at(r, 1).result, HIL_CASE_SKIPPED);
	hil_report_free(r);
	fake_stop(&f);

	ASSERT_EQ(fake_start(&f), 0);
	snprintf(f.token, sizeof(f.token), "s3cret-token");
	setenv("EDGEBOX_KIOSK_TOKEN", "s3cret-token", 1);
	ASSERT_EQ(run_fake(&f, "token",
			   "{\"expect\": {\"socket\": \"kiosk\", \"type\": \"greeting\", "
			   "\"within_ms\": 1000}}",
			   false, &r),
		  0);
	unsetenv("EDGEBOX_KIOSK_TOKEN");
	fake_stop(&f);
	ASSERT_MSG(hil_report_status(r) == HIL_STATUS_PASS, "%s\n%s", case_at(r, 1).message,
		   case_at(r, 1).detail);
	ASSERT_CONTAINS(f.heard, "\"token\":\"s3cret-token\"");
	hil_report_free(r);
}

TEST(a_box_that_is_not_there_is_unreachable_and_every_step_skipped)
{
	char text[1024];
	struct hil_scenario *s;
	struct hil_report *r;
	struct hil_error err;
	struct hil_options o = {0};

	snprintf(text, sizeof(text),
		 "{\"name\": \"gone\", \"box\": {\"attach\": {\"kiosk\": \"%s/none.sock\", "
		 "\"staff\": \"%s/none2.sock\", \"connect_ms\": 200}}, \"steps\": [{\"wait_ms\": "
		 "10}]}",
		 test_tmpdir(), test_tmpdir());
	ASSERT_EQ(hil_scenario_parse("gone.json", text, strlen(text), &s, &err), 0);
	ASSERT(!hil_scenario_starts_box(s));
	ASSERT_EQ(hil_run(s, &o, &r, &err), 0);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_UNREACHABLE);
	ASSERT_CONTAINS(case_at(r, 0).message, "did not answer within 200 ms");
	ASSERT_EQ(case_at(r, 1).result, HIL_CASE_SKIPPED);
	hil_report_free(r);
	/* options: both sockets or neither */
	o.kiosk = "/tmp/x.sock";
	ASSERT_EQ(hil_run(s, &o, &r, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "both the kiosk and the staff socket");
	hil_scenario_free(s);
}

/* ---- bad scenarios ----------------------------------------------------------- */

static const char *const start_box = "\"box\": {\"start\": {\"config\": \"config/sim.conf\"}}";

struct bad_case {
	const char *text; /* %s: a start box */
	int rc;
	const char *want;
};

TEST(bad_scenarios_are_refused_naming_file_step_and_field)
{
	static const struct bad_case cases[] = {
	    {"{\"name\": \"x\",\n %s, \"steps\": [}", -EINVAL, "bad.json:2:"},
	    {"[1, 2]", -EINVAL,
	     "bad.json: expected a JSON object with name, box and steps, got an "
	     "array"},
	    {"{\"name\": \"x\", \"steps\": [{\"wait_ms\": 1}]}", -EINVAL, "\"box\" is missing"},
	    {"{\"name\": \"x\", %s, \"stepz\": []}", -EINVAL,
	     "bad.json: scenario: unknown key \"stepz\"; expected one of: name, description, box, "
	     "inputs, steps"},
	    {"{\"name\": \"x\", %s, \"steps\": []}", -EINVAL,
	     "\"steps\": expected an array of 1 to "
	     "256 steps"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"wait_ms\": 1}, {\"expct\": {}}]}", -EINVAL,
	     "bad.json: step 2: unknown key \"expct\""},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"say\": \"a\", \"wait_ms\": 5}]}", -EINVAL,
	     "bad.json: step 1: expected exactly one of say, send, expect, expect_absent, wait_ms; "
	     "got 2"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\", \"type\": "
	     "\"greeting\", \"within_ms\": 700000}}]}",
	     -EINVAL,
	     "bad.json: step 1 (expect): \"within_ms\": expected a whole number of milliseconds "
	     "from 1 to 600000, got 700000"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"tablet\", \"type\": "
	     "\"greeting\"}}]}",
	     -EINVAL,
	     "step 1 (expect): \"socket\": expected \"kiosk\" or \"staff\", got \"tablet\""},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\"}}]}", -EINVAL,
	     "step 1 (expect): \"type\" is missing; it is required"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\", \"type\": "
	     "\"Greeting!\"}}]}",
	     -EINVAL, "\"type\": expected a message type like \"reply_end\""},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\", \"type\": "
	     "\"greeting\", \"text_matches\": \"(unclosed\"}}]}",
	     -EINVAL, "step 1 (expect): the pattern /(unclosed/ for \"text\" does not compile"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\", \"type\": "
	     "\"reply_end\", \"first_token_within_ms\": 100}}]}",
	     -EINVAL, "there is none before this one"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect_absent\": {\"socket\": \"kiosk\", "
	     "\"type\": \"greeting\"}}]}",
	     -EINVAL, "step 1 (expect_absent): \"for_ms\" is missing"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"wait_ms\": 0}]}", -EINVAL,
	     "step 1 (wait_ms): expected a whole number of milliseconds from 1 to 600000, got 0"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"say\": \"\"}]}", -EINVAL,
	     "step 1 (say): expected the customer's words"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"send\": {\"socket\": \"staff\", \"message\": "
	     "{\"session\": 1}}}]}",
	     -EINVAL, "step 1 (send): \"message\": expected an object with a \"type\""},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"expect\": {\"socket\": \"kiosk\", \"type\": "
	     "\"greeting\", \"within_ms\": 10, \"for_ms\": 5}}]}",
	     -EINVAL, "step 1 (expect): expect: unknown key \"for_ms\""},
	    {"{\"name\": \"x\", \"box\": {\"start\": {\"config\": \"config/nope.conf\"}}, "
	     "\"steps\": [{\"wait_ms\": 1}]}",
	     -ENOENT,
	     "bad.json: box.start: \"config\": config/nope.conf: No such file or directory"},
	    {"{\"name\": \"x\", \"box\": {\"start\": {\"config\": \"config/sim.conf\", \"set\": "
	     "[\"nodot=1\"]}}, \"steps\": [{\"wait_ms\": 1}]}",
	     -EINVAL, "box.start: \"set\" entry 1: expected \"section.key=value\""},
	    {"{\"name\": \"x\", \"box\": {\"start\": {\"config\": \"config/sim.conf\"}, "
	     "\"attach\": "
	     "{}}, \"steps\": [{\"wait_ms\": 1}]}",
	     -EINVAL, "box: expected exactly one of \"start\""},
	    {"{\"name\": \"x\", \"box\": {\"attach\": {\"kiosk\": \"/a\", \"staff\": \"/b\"}}, "
	     "\"inputs\": {\"ble\": \"tests/fixtures/ble/walk_in.walk\"}, \"steps\": "
	     "[{\"wait_ms\": "
	     "1}]}",
	     -EINVAL, "bad.json: inputs: inputs need \"box\": {\"start\""},
	    {"{\"name\": \"x\", %s, \"inputs\": {\"camera\": \"tests/fixtures/camera/README.md\"}, "
	     "\"steps\": [{\"wait_ms\": 1}]}",
	     -EINVAL, "inputs: \"camera\": "},
	    {"{\"name\": \"x\", %s, \"inputs\": {\"ble_speed\": 2}, \"steps\": [{\"wait_ms\": 1}]}",
	     -EINVAL, "inputs: \"ble_speed\" needs \"ble\""},
	    {"{\"name\": \"x\", %s, \"inputs\": {\"gpio\": []}, \"steps\": [{\"wait_ms\": 1}]}",
	     -EINVAL, "\"gpio\": expected 1 to 256 script lines, got 0"},
	    {"{\"name\": \"\", %s, \"steps\": [{\"wait_ms\": 1}]}", -EINVAL,
	     "\"name\": expected 1 to 127 bytes"},
	    {"{\"name\": \"x\", %s, \"steps\": [{\"wait_ms\": 1}]} trailing", -EINVAL,
	     "not valid JSON"},
	};
	char text[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hil_scenario *s = (struct hil_scenario *)&s;
		struct hil_error err = {{0}};
		int rc;

		snprintf(text, sizeof(text), cases[i].text, start_box);
		rc = hil_scenario_parse("bad.json", text, strlen(text), &s, &err);
		ASSERT_MSG(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc,
			   err.msg);
		ASSERT_MSG(s == NULL, "case %zu: *ret not NULL on error", i);
		ASSERT_MSG(strstr(err.msg, cases[i].want), "case %zu: message \"%s\" lacks \"%s\"",
			   i, err.msg, cases[i].want);
	}
}

TEST(scenario_limits_files_and_a_good_scenario)
{
	struct hil_scenario *s;
	struct hil_error err;
	char path[600], *big;
	size_t off;

	/* 257 steps */
	big = malloc(64 * 1024);
	ASSERT(big);
	off = (size_t)snprintf(big, 64 * 1024, "{\"name\": \"x\", %s, \"steps\": [", start_box);
	for (int i = 0; i < HIL_STEPS_MAX + 1; i++)
		off += (size_t)snprintf(big + off, 64 * 1024 - off, "%s{\"wait_ms\": 1}",
					i ? "," : "");
	snprintf(big + off, 64 * 1024 - off, "]}");
	ASSERT_EQ(hil_scenario_parse("many.json", big, strlen(big), &s, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "257 steps; a scenario may have 256");
	free(big);
	/* too large, checked before parsing */
	ASSERT_EQ(hil_scenario_parse("huge.json", "{}", HIL_FILE_MAX + 1, &s, &err), -EFBIG);
	ASSERT_CONTAINS(err.msg, "huge.json");
	ASSERT_EQ(hil_scenario_load("tests/hil/no_such.json", &s, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "tests/hil/no_such.json: cannot read");
	/* every shipped one loads */
	ASSERT_EQ(hil_scenario_load("tests/hil/handoff.json", &s, &err), 0);
	ASSERT_STREQ(hil_scenario_name(s), "handoff");
	ASSERT(hil_scenario_starts_box(s));
	ASSERT(hil_scenario_steps(s) >= 5);
	hil_scenario_free(s);
	hil_scenario_free(NULL);
	/* NUL inside */
	snprintf(path, sizeof(path), "{\"name\": \"x\"}");
	ASSERT_EQ(hil_scenario_parse("nul.json", path, strlen(path) + 1, &s, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "NUL");
}

/* ---- JUnit ------------------------------------------------------------------- */

TEST(xml_escaping)
{
	char out[256];

	ASSERT_EQ(hil_xml_escape("a<b&c\"d'e>f", out, sizeof(out)), 31);
	ASSERT_STREQ(out, "a&lt;b&amp;c&quot;d&apos;e&gt;f");
	ASSERT(hil_xml_escape("line\nnext\ttab", out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "line&#10;next&#9;tab");
	/* not XML characters, not UTF-8: U+FFFD each */
	ASSERT(hil_xml_escape("bell\x07 ff\xff ok", out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "bell\xEF\xBF\xBD ff\xEF\xBF\xBD ok");
	ASSERT(hil_xml_escape("\xC0\xAF overlong, \xED\xA0\x80 surrogate", out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD overlong, \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD "
			  "surrogate");
	ASSERT(hil_xml_escape("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", out, sizeof(out)) > 0);
	ASSERT_STREQ(out, "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"); /* kept as they are */
	ASSERT_EQ(hil_xml_escape("<<", out, 8), -ENOSPC);
	ASSERT_EQ(hil_xml_escape("<<", out, 9), 8);
	ASSERT_EQ(hil_xml_escape("", out, 1), 0);
}

TEST(junit_report_escapes_names_and_messages_and_parses)
{
	struct fake f;
	struct hil_report *r, *two[2];
	struct hil_error err;
	char path[600], outline[16384], *xml;

	ASSERT_EQ(fake_start(&f), 0);
	ASSERT_EQ(
	    run_fake(&f, "esc <&\\\"'> \\u00e9",
		     "{\"name\": \"a <b> & \\\"c\\\" 'd'\", \"expect\": {\"socket\": \"kiosk\", "
		     "\"type\": \"greeting\", \"within_ms\": 200, \"text_matches\": \"<&>\"}},"
		     "{\"wait_ms\": 1}",
		     false, &r),
	    0);
	fake_stop(&f);
	ASSERT_EQ(hil_report_status(r), HIL_STATUS_FAIL);
	snprintf(path, sizeof(path), "%s/esc.xml", test_tmpdir());
	two[0] = two[1] = r;
	ASSERT_EQ(hil_junit_write((const struct hil_report *const *)two, 2, path, &err), 0);
	xml = slurp(path);
	ASSERT(xml);
	ASSERT_CONTAINS(xml, "<testsuite name=\"esc &lt;&amp;&quot;&apos;&gt; \xC3\xA9\"");
	ASSERT_CONTAINS(xml, "<testsuites name=\"edgebox hil\" tests=\"6\" failures=\"2\"");
	ASSERT(!strstr(xml, "<&>"));
	free(xml);
	ASSERT_EQ(junit_outline(path, outline, sizeof(outline)), 0);
	ASSERT_CONTAINS(outline, "suite esc <&\"'> \xC3\xA9 tests=3 failures=1 errors=0 skipped=1");
	ASSERT_CONTAINS(outline,
			"case 01 a <b> & \"c\" 'd': failure expected kiosk greeting within "
			"200 ms; got 1 \"greeting\" message that did not match; the last: "
			"text \"Welcome in!\" does not match /<&>/");
	ASSERT_CONTAINS(outline, "case 02 wait 1 ms: skipped");
	/* an unwritable place names the file */
	ASSERT(hil_junit_write((const struct hil_report *const *)two, 1, "/nonexistent/dir/j.xml",
			       &err) < 0);
	ASSERT_CONTAINS(err.msg, "/nonexistent/dir/j.xml");
	hil_report_free(r);
}

/* ---- edgeboxctl hil ------------------------------------------------------------- */

TEST(edgeboxctl_hil_exit_codes)
{
	static const char bad_text[] =
	    "{\"name\": \"x\", \"box\": {\"start\": {\"config\": \"config/sim.conf\"}}, "
	    "\"steps\": [{\"wait_ms\": 1}, {\"say\": 42}]}";
	char cmd[2048], out[16384], bad[600], unreach[600], junit[600], outline[8192];
	int rc;

	snprintf(bad, sizeof(bad), "%s/cli_bad.json", test_tmpdir());
	ASSERT_EQ(test_write_file(bad, bad_text, strlen(bad_text)), 0);
	snprintf(unreach, sizeof(unreach), "%s/cli_unreach.json", test_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "{\"name\": \"u\", \"box\": {\"attach\": {\"kiosk\": \"%s/no.sock\", \"staff\": "
		 "\"%s/no2.sock\", \"connect_ms\": 200}}, \"steps\": [{\"wait_ms\": 1}]}",
		 test_tmpdir(), test_tmpdir());
	ASSERT_EQ(test_write_file(unreach, cmd, strlen(cmd)), 0);
	snprintf(junit, sizeof(junit), "%s/cli.xml", test_tmpdir());

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil --help", test_bin_dir());
	rc = run_cmd(cmd, out, sizeof(out));
	ASSERT_MSG(rc == 0, "exit %d: %s (is `hil` in edgeboxctl's table?)", rc, out);
	ASSERT_CONTAINS(out, "edgeboxctl hil run");
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run --help", test_bin_dir());
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 0);
	ASSERT_CONTAINS(out, "--junit FILE");

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil check tests/hil/*.json", test_bin_dir());
	rc = run_cmd(cmd, out, sizeof(out));
	ASSERT_MSG(rc == 0, "exit %d: %s", rc, out);
	ASSERT_CONTAINS(out, "tests/hil/walk_in_greeting.json: ok: walk_in_greeting");

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil check %s", test_bin_dir(), bad);
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
	ASSERT_CONTAINS(out, "cli_bad.json: step 2 (say): expected the customer's words");

	/* one bad scenario: nothing runs */
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run --junit %s %s %s", test_bin_dir(), junit,
		 unreach, bad);
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
	ASSERT(access(junit, F_OK) != 0);

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run --junit %s %s", test_bin_dir(), junit,
		 unreach);
	rc = run_cmd(cmd, out, sizeof(out));
	ASSERT_MSG(rc == 3, "exit %d: %s", rc, out);
	ASSERT_CONTAINS(out, "u: BOX NOT REACHABLE");
	ASSERT_EQ(junit_outline(junit, outline, sizeof(outline)), 0);
	ASSERT_CONTAINS(outline, "errors=1 skipped=1");

	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run --bogus %s", test_bin_dir(), unreach);
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run --set nodot %s", test_bin_dir(), unreach);
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
	ASSERT_CONTAINS(out, "--set nodot: expected section.key=value");
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil frobnicate", test_bin_dir());
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
	snprintf(cmd, sizeof(cmd), "%s/edgeboxctl hil run", test_bin_dir());
	ASSERT_EQ(run_cmd(cmd, out, sizeof(out)), 2);
}
