/*
 * The whole deterministic turn (scope guard, signals, archetype, skills,
 * prompt assembly) through agent_session_plan, the same code a real turn
 * runs, over the labelled corpus of realistic kiosk messages.
 * Goal (issue "conversation brain"): p99 under 1 ms. The reference printed
 * beside it is that budget; the measured breakdown by path follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"

#define MAX_MSGS 4096
#define ROUNDS 20

static char *msgs[MAX_MSGS];
static size_t nmsgs;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void load(const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "bench_turn: cannot open %s\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) && nmsgs < MAX_MSGS) {
		char *tab = strchr(line, '\t');

		if (line[0] == '#' || !tab)
			continue;
		tab[strcspn(tab, "\n")] = '\0';
		msgs[nmsgs++] = strdup(tab + 1);
	}
	fclose(f);
}

int main(void)
{
	static uint64_t t[MAX_MSGS * ROUNDS];
	struct agent_paths paths = {.base = "."};
	struct agent_turn_report *rep = malloc(sizeof(*rep));
	struct agent_session *s = NULL;
	struct agent *a;
	char err[AGENT_ERROR_MAX];
	size_t n = 0, escalated = 0;
	uint64_t p50, p99;

	load("tests/fixtures/guard/messages.tsv");
	if (agent_new_paths(&paths, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_turn: %s\n", err);
		return 1;
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (size_t i = 0; i < nmsgs; i++) {
			uint64_t t0;

			/* a fresh session every few messages, as visitors come and go */
			if (i % 6 == 0) {
				agent_session_end(s, AGENT_END_SHUTDOWN);
				agent_session_begin(a, NULL, NULL, &s);
			}
			t0 = now_ns();
			agent_session_plan(s, msgs[i], strlen(msgs[i]), rep);
			t[n++] = now_ns() - t0;
			escalated += rep->escalated && r == 0;
		}
	}
	agent_session_end(s, AGENT_END_SHUTDOWN);
	qsort(t, n, sizeof(t[0]), cmp);
	p50 = t[n / 2];
	p99 = t[n * 99 / 100];
	printf("    %zu messages (%zu escalated by the guard) x %d rounds\n", nmsgs, escalated,
	       ROUNDS);
	printf("bench turn.deterministic_p50 ours=%llu ref=1000000 unit=ns ratio=%.1f goal=none\n",
	       (unsigned long long)p50, 1e6 / (double)p50);
	printf(
	    "bench turn.deterministic_p99 ours=%llu ref=1000000 unit=ns ratio=%.1f goal>=1.00 %s\n",
	    (unsigned long long)p99, 1e6 / (double)p99, p99 <= 1000000 ? "PASS" : "MISS");
	agent_free(a);
	free(rep);
	for (size_t i = 0; i < nmsgs; i++)
		free(msgs[i]);
	return 0;
}
