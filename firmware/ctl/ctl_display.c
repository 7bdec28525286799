/*
 * edgeboxctl kiosk / edgeboxctl staff — consoles on the daemon's display
 * sockets (docs/display-protocol.md).
 *
 *   kiosk: type as the customer; the agent's reply streams in as it is
 *          written (no newline until reply_end); product cards, suggestions,
 *          consent questions and handoffs are shown readably.
 *   staff: the live staff feed as readable lines (or the raw JSON lines),
 *          with commands typed to take a session over and hand it back.
 *
 * Both read standard input whether or not it is a terminal, so test rigs
 * can script them; one poll() loop serves the socket and the input.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "firmware/ctl/ctl.h"
#include "firmware/display.h"
#include "hal/time.h"

#define SERVER_LINE_MAX ((size_t)DISPLAY_QUEUE_MAX) /* no message is longer than a queue */
#define INPUT_LINE_MAX (DISPLAY_TEXT_MAX + 64)
#define REPLY_WAIT_MS 30000 /* after the input ends: silence allowed while a reply is due */
#define SUGGESTIONS_KEPT DISPLAY_SUGGESTIONS_MAX
#define PRODUCTS_KEPT 8

struct console {
	enum display_role role;
	const char *path;
	int fd;
	bool json;    /* print the raw lines */
	bool tty;     /* standard input is a terminal */
	long wait_ms; /* after the input ends: stop after this much quiet; -1 never */
	bool input_done;
	bool quit;
	bool fatal_seen; /* the server sent a fatal error: it will close */
	char fatal_code[64];
	uint64_t last_msg_ns;
	/* server -> us */
	char *sbuf;
	size_t slen;
	/* input */
	char ibuf[INPUT_LINE_MAX + 1];
	size_t ilen;
	bool ioverlong;
	/* kiosk */
	bool line_open; /* a reply is being printed on the current line */
	bool in_reply;
	int awaiting; /* lines sent that no reply has answered yet */
	char suggestions[SUGGESTIONS_KEPT][DISPLAY_ID_MAX];
	int n_suggestions;
	char products[PRODUCTS_KEPT][DISPLAY_ID_MAX];
	int n_products;
	char consent_kind[DISPLAY_ID_MAX];
	/* staff */
	int64_t session; /* chosen with `session N`, else the latest seen */
	int64_t latest;
};

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool jtrue(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* ---- socket -------------------------------------------------------------- */

static int connect_display(struct console *con)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *role = display_role_name(con->role);
	int fd, e;

	if (strlen(con->path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "edgeboxctl: socket path %s is longer than %zu bytes\n", con->path,
			sizeof(addr.sun_path) - 1);
		return CTL_EXIT_USAGE;
	}
	strcpy(addr.sun_path, con->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "edgeboxctl: socket: %s\n", strerror(errno));
		return CTL_EXIT_FAIL;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
			fprintf(
			    stderr,
			    "edgeboxctl: cannot connect to the %s socket %s: %s\n"
			    "  Is edgeboxd running? `systemctl status edgeboxd`. The path is [%s] "
			    "socket in /etc/edgebox/edgebox.conf; give another with --socket.\n",
			    role, con->path, strerror(e), role);
			return CTL_EXIT_NO_DAEMON;
		}
		fprintf(stderr, "edgeboxctl: cannot connect to the %s socket %s: %s%s\n", role,
			con->path, strerror(e),
			e == EACCES ? "\n  Run as root or as a member of the socket's group "
				      "([kiosk]/[staff] group in the config)."
				    : "");
		return CTL_EXIT_FAIL;
	}
	con->fd = fd;
	return CTL_EXIT_OK;
}

/* Sends one message built in w. false when the daemon is gone. */
static bool send_msg(struct console *con, struct display_json *w)
{
	int n = display_json_end(w);
	size_t off = 0;

	if (n < 0) {
		fprintf(stderr, "edgeboxctl: message too long, not sent\n");
		return true;
	}
	while (off < (size_t)n) {
		ssize_t k = send(con->fd, w->buf + off, (size_t)n - off, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		off += (size_t)k;
	}
	return true;
}

static void send_hello(struct console *con, const char *name, const char *token)
{
	char buf[512];
	struct display_json w;

	display_json_begin(&w, buf, sizeof(buf), "hello", 0);
	display_json_str(&w, con->role == DISPLAY_ROLE_KIOSK ? "client" : "device", name);
	if (token && *token)
		display_json_str(&w, "token", token);
	send_msg(con, &w);
}

/* ---- kiosk ---------------------------------------------------------------- */

static void end_line(struct console *con)
{
	if (con->line_open) {
		putchar('\n');
		con->line_open = false;
	}
}

static void remember(char list[][DISPLAY_ID_MAX], int *n, int max, const char *id)
{
	if (*n == max) {
		memmove(list[0], list[1], (size_t)(max - 1) * DISPLAY_ID_MAX);
		(*n)--;
	}
	snprintf(list[*n], DISPLAY_ID_MAX, "%s", id);
	(*n)++;
}

static void answered(struct console *con)
{
	if (con->awaiting > 0)
		con->awaiting--;
}

static void kiosk_show(struct console *con, const cJSON *m, const char *type)
{
	const cJSON *it;

	if (strcmp(type, "token") == 0) {
		if (!con->line_open) {
			fputs("agent> ", stdout);
			con->line_open = true;
		}
		fputs(jstr(m, "text"), stdout);
		return;
	}
	if (strcmp(type, "reply_start") == 0) {
		end_line(con);
		fputs("agent> ", stdout);
		con->line_open = true;
		con->in_reply = true;
		return;
	}
	if (strcmp(type, "reply_end") == 0) {
		end_line(con);
		con->in_reply = false;
		answered(con);
		return;
	}
	end_line(con);
	if (strcmp(type, "greeting") == 0) {
		printf("agent> %s\n", jstr(m, "text"));
	} else if (strcmp(type, "reply_fix") == 0) {
		printf("agent (corrected)> %s\n", jstr(m, "text"));
	} else if (strcmp(type, "product_card") == 0) {
		remember(con->products, &con->n_products, PRODUCTS_KEPT, jstr(m, "id"));
		printf("  [product %d] %s", con->n_products, jstr(m, "name"));
		if (*jstr(m, "price"))
			printf("  %s", jstr(m, "price"));
		printf("  (id %s)\n", jstr(m, "id"));
		if (*jstr(m, "summary"))
			printf("    %s\n", jstr(m, "summary"));
		cJSON_ArrayForEach(
		    it, cJSON_GetObjectItemCaseSensitive(m, "highlights")) if (cJSON_IsString(it))
		    printf("    - %s\n", it->valuestring);
	} else if (strcmp(type, "suggestions") == 0) {
		con->n_suggestions = 0;
		printf("  suggestions:");
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "items"))
		{
			if (con->n_suggestions == SUGGESTIONS_KEPT)
				break;
			snprintf(con->suggestions[con->n_suggestions], DISPLAY_ID_MAX, "%s",
				 jstr(it, "id"));
			printf(" [%d] %s", ++con->n_suggestions, jstr(it, "text"));
		}
		printf("   (/tap N)\n");
	} else if (strcmp(type, "handoff") == 0) {
		printf("  [handoff: %s] %s\n", jstr(m, "reason"), jstr(m, "text"));
		answered(con);
	} else if (strcmp(type, "farewell") == 0) {
		printf("agent> %s\n  [farewell]\n", jstr(m, "text"));
		con->awaiting = 0;
	} else if (strcmp(type, "consent_request") == 0) {
		const cJSON *ask = cJSON_GetObjectItemCaseSensitive(m, "ask_name");

		snprintf(con->consent_kind, sizeof(con->consent_kind), "%s", jstr(m, "kind"));
		printf("  [consent: %s] %s   (%s or /no)\n", jstr(m, "kind"), jstr(m, "text"),
		       cJSON_IsTrue(ask) ? "/yes YOUR NAME" : "/yes");
	} else if (strcmp(type, "consent_result") == 0) {
		printf("  [consent: %s %s] %s\n", jstr(m, "kind"),
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "ok")) ? "done"
									       : "not done",
		       jstr(m, "text"));
	}
	/* Other types (newer servers) are not for this console. */
}

static void kiosk_help(void)
{
	fputs("  text      said by the customer\n"
	      "  /tap N    tap suggestion N (or /tap ID)\n"
	      "  /product N  tap product card N (or /product ID)\n"
	      "  /yes [NAME] /no  answer the consent question (NAME: what to call you)\n"
	      "  //text    text starting with '/'\n"
	      "  /quit     leave\n",
	      stderr);
}

/* "/tap 2" -> the id of suggestion 2; "/tap x" -> "x". */
static const char *pick(const char *arg, char list[][DISPLAY_ID_MAX], int n)
{
	char *end;
	long i = strtol(arg, &end, 10);

	if (*arg && !*end && i >= 1 && i <= n)
		return list[i - 1];
	return arg;
}

static bool kiosk_input(struct console *con, char *line)
{
	char buf[DISPLAY_MSG_MAX];
	struct display_json w;

	if (line[0] == '/' && line[1] != '/') {
		char *cmd = line + 1, *arg = strchr(cmd, ' ');

		if (arg) {
			*arg++ = '\0';
			while (*arg == ' ')
				arg++;
		} else
			arg = cmd + strlen(cmd);
		if (strcmp(cmd, "quit") == 0) {
			con->quit = true;
			return true;
		}
		if ((strcmp(cmd, "tap") == 0 || strcmp(cmd, "product") == 0) && *arg) {
			bool prod = cmd[0] == 'p';

			display_json_begin(&w, buf, sizeof(buf), "tap", 0);
			display_json_str(&w, prod ? "product_id" : "suggestion_id",
					 prod ? pick(arg, con->products, con->n_products)
					      : pick(arg, con->suggestions, con->n_suggestions));
			con->awaiting++;
			return send_msg(con, &w);
		}
		if (strcmp(cmd, "yes") == 0 || strcmp(cmd, "no") == 0) {
			if (!con->consent_kind[0]) {
				fprintf(stderr, "edgeboxctl: no consent question to answer yet\n");
				return true;
			}
			display_json_begin(&w, buf, sizeof(buf), "consent", 0);
			display_json_str(&w, "kind", con->consent_kind);
			display_json_bool(&w, "granted", cmd[0] == 'y');
			if (cmd[0] == 'y' && *arg)
				display_json_str(&w, "name", arg);
			return send_msg(con, &w);
		}
		fprintf(stderr, "edgeboxctl: unknown command /%s\n", cmd);
		kiosk_help();
		return true;
	}
	if (line[0] == '/')
		line++;
	if (!con->tty && !con->json) {
		/* scripted: the transcript shows both sides */
		end_line(con);
		printf("you> %s\n", line);
		fflush(stdout);
	}
	display_json_begin(&w, buf, sizeof(buf), "customer_text", 0);
	display_json_str(&w, "text", line);
	con->awaiting++;
	return send_msg(con, &w);
}

/* ---- staff ---------------------------------------------------------------- */

static void stamp(const cJSON *m)
{
	time_t t = (time_t)(jnum(m, "ts") / 1000);
	struct tm tm;
	char s[16] = "--:--:--";

	if (t > 0 && localtime_r(&t, &tm))
		strftime(s, sizeof(s), "%H:%M:%S", &tm);
	printf("%s ", s);
}

static void staff_show(struct console *con, const cJSON *m, const char *type, const char *raw)
{
	const cJSON *it, *s = cJSON_GetObjectItemCaseSensitive(m, "session");
	long long session = cJSON_IsNumber(s) ? (long long)s->valuedouble : 0;
	const char *sep = "";

	if (session > 0)
		con->latest = session;
	if (strcmp(type, "welcome") == 0)
		return;
	stamp(m);
	if (session > 0)
		printf("session %lld: ", session);
	if (strcmp(type, "visitor_arrived") == 0) {
		const cJSON *last = cJSON_GetObjectItemCaseSensitive(m, "last_visit");

		printf("visitor arrived: ");
		if (jtrue(m, "recognised")) {
			printf("recognised customer");
			if (jnum(m, "customer_id"))
				printf(" #%.0f", jnum(m, "customer_id"));
			if (*jstr(m, "name"))
				printf(" %s", jstr(m, "name"));
		} else
			printf("anonymous visitor");
		printf(jtrue(m, "returning") ? ", returning" : ", first visit");
		if (jnum(m, "visits"))
			printf(" (%.0f earlier visits)", jnum(m, "visits"));
		if (last && *jstr(last, "summary"))
			printf("; last time: %s", jstr(last, "summary"));
		if (*jstr(m, "via"))
			printf(" [via %s]", jstr(m, "via"));
		putchar('\n');
	} else if (strcmp(type, "visitor_left") == 0) {
		printf("visitor left%s%s\n", *jstr(m, "reason") ? ": " : "", jstr(m, "reason"));
	} else if (strcmp(type, "archetype") == 0) {
		printf("archetype %s (tier %.0f): %s\n", jstr(m, "id"), jnum(m, "tier"),
		       jstr(m, "directive"));
	} else if (strcmp(type, "signals") == 0) {
		printf("signals:");
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(m, "list"))
		{
			printf("%s %s \"%s\"", sep, jstr(it, "signal"), jstr(it, "evidence"));
			if (cJSON_GetObjectItemCaseSensitive(it, "confidence"))
				printf(" %.2f", jnum(it, "confidence"));
			sep = ";";
		}
		putchar('\n');
	} else if (strcmp(type, "next_best_action") == 0) {
		printf("next best action: %s\n", jstr(m, "text"));
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
					   m, "talking_points")) if (cJSON_IsString(it))
		    printf("    - %s\n", it->valuestring);
	} else if (strcmp(type, "escalation") == 0) {
		printf("ESCALATION %s (rule %s): %s\n    summary: %s\n", jstr(m, "category"),
		       jstr(m, "rule"), jstr(m, "reason"), jstr(m, "transcript_summary"));
	} else if (strcmp(type, "offline_mode") == 0) {
		printf("offline mode %s%s%s\n", jtrue(m, "on") ? "ON" : "off",
		       *jstr(m, "reason") ? ": " : "", jstr(m, "reason"));
	} else if (strcmp(type, "flagged_figure") == 0) {
		printf("flagged figure \"%s\" (%s): %s\n", jstr(m, "figure"), jstr(m, "action"),
		       jstr(m, "reply_excerpt"));
	} else if (strcmp(type, "transcript") == 0) {
		printf("%s: %s\n", jstr(m, "role"), jstr(m, "text"));
	} else if (strcmp(type, "takeover_state") == 0) {
		if (strcmp(jstr(m, "state"), "staff") == 0)
			printf("taken over by staff (%s)\n",
			       *jstr(m, "device") ? jstr(m, "device") : "?");
		else
			printf("the agent has the conversation\n");
	} else if (strcmp(type, "error") == 0) {
		printf("error from edgeboxd: %s: %s\n", jstr(m, "error"), jstr(m, "detail"));
	} else {
		printf("%s\n", raw); /* a type this console does not know: as it came */
	}
}

static int64_t staff_session(struct console *con, const char *arg)
{
	char *end;
	long long n;

	if (*arg) {
		n = strtoll(arg, &end, 10);
		if (*end || n < 1) {
			fprintf(stderr, "edgeboxctl: '%s' is not a session number\n", arg);
			return 0;
		}
		return n;
	}
	if (con->session)
		return con->session;
	if (!con->latest)
		fprintf(stderr, "edgeboxctl: no session seen yet; give one: take N\n");
	return con->latest;
}

static void staff_help(void)
{
	fputs("  take [N]     take session N (default: the chosen or latest) over\n"
	      "  back [N]     hand it back to the agent\n"
	      "  say TEXT     speak in the session\n"
	      "  session N    choose the session the commands act on\n"
	      "  quit\n",
	      stderr);
}

static bool staff_input(struct console *con, char *line)
{
	char buf[DISPLAY_MSG_MAX], *arg = strchr(line, ' ');
	struct display_json w;
	int64_t s;

	if (arg) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	} else
		arg = line + strlen(line);
	if (strcmp(line, "quit") == 0) {
		con->quit = true;
		return true;
	}
	if (strcmp(line, "session") == 0) {
		s = staff_session(con, *arg ? arg : "x");
		if (s)
			con->session = s;
		return true;
	}
	if (strcmp(line, "take") == 0 || strcmp(line, "back") == 0) {
		s = staff_session(con, arg);
		if (!s)
			return true;
		display_json_begin(&w, buf, sizeof(buf), line[0] == 't' ? "take_over" : "hand_back",
				   0);
		display_json_int(&w, "session", s);
		return send_msg(con, &w);
	}
	if (strcmp(line, "say") == 0 && *arg) {
		s = staff_session(con, "");
		if (!s)
			return true;
		display_json_begin(&w, buf, sizeof(buf), "staff_text", 0);
		display_json_int(&w, "session", s);
		display_json_str(&w, "text", arg);
		return send_msg(con, &w);
	}
	fprintf(stderr, "edgeboxctl: unknown command '%s'\n", line);
	staff_help();
	return true;
}

/* ---- the loop ------------------------------------------------------------- */

static void server_line(struct console *con, char *line, size_t len)
{
	const cJSON *v;
	const char *type;
	cJSON *m;

	if (len && line[len - 1] == '\r')
		line[--len] = '\0';
	if (!len)
		return;
	con->last_msg_ns = hal_now_ns();
	m = cJSON_ParseWithLength(line, len);
	if (!m || !cJSON_IsObject(m)) {
		end_line(con);
		fprintf(stderr,
			"edgeboxctl: edgeboxd sent a line that is not a JSON object: %.80s\n",
			line);
		cJSON_Delete(m);
		return;
	}
	v = cJSON_GetObjectItemCaseSensitive(m, "v");
	type = jstr(m, "type");
	if (!cJSON_IsNumber(v) || v->valuedouble != DISPLAY_PROTOCOL_VERSION) {
		end_line(con);
		fprintf(stderr,
			"edgeboxctl: edgeboxd speaks protocol version %.0f, this edgeboxctl %d; "
			"install matching versions\n",
			cJSON_IsNumber(v) ? v->valuedouble : 0, DISPLAY_PROTOCOL_VERSION);
		con->fatal_seen = true;
		snprintf(con->fatal_code, sizeof(con->fatal_code), "version");
		con->quit = true;
		cJSON_Delete(m);
		return;
	}
	if (strcmp(type, "error") == 0) {
		if (jtrue(m, "fatal")) {
			con->fatal_seen = true;
			snprintf(con->fatal_code, sizeof(con->fatal_code), "%s", jstr(m, "error"));
		}
		if (!con->json && con->role == DISPLAY_ROLE_KIOSK) {
			end_line(con);
			fprintf(stderr, "edgeboxctl: edgeboxd: %s: %s\n", jstr(m, "error"),
				jstr(m, "detail"));
		}
		answered(con);
	}
	if (con->json) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		if (con->role == DISPLAY_ROLE_KIOSK) {
			/* keep the bookkeeping that decides when a script is done */
			if (strcmp(type, "reply_end") == 0 || strcmp(type, "handoff") == 0)
				answered(con);
			if (strcmp(type, "reply_start") == 0)
				con->in_reply = true;
			if (strcmp(type, "reply_end") == 0)
				con->in_reply = false;
			if (strcmp(type, "farewell") == 0)
				con->awaiting = 0;
		}
	} else if (con->role == DISPLAY_ROLE_KIOSK) {
		if (strcmp(type, "welcome") == 0 && con->tty)
			fprintf(stderr,
				"connected to %s (protocol v%d); type as the customer, /help for "
				"commands\n",
				con->path, DISPLAY_PROTOCOL_VERSION);
		else if (strcmp(type, "error") != 0)
			kiosk_show(con, m, type);
	} else {
		staff_show(con, m, type, line);
	}
	fflush(stdout);
	cJSON_Delete(m);
}

/* Reads what the socket has. false when it closed. */
static bool read_server(struct console *con)
{
	ssize_t n = recv(con->fd, con->sbuf + con->slen, SERVER_LINE_MAX - con->slen, 0);
	size_t start = 0, i;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	for (i = con->slen; i < con->slen + (size_t)n; i++)
		if (con->sbuf[i] == '\n') {
			con->sbuf[i] = '\0';
			server_line(con, con->sbuf + start, i - start);
			start = i + 1;
		}
	con->slen += (size_t)n;
	memmove(con->sbuf, con->sbuf + start, con->slen - start);
	con->slen -= start;
	if (con->slen == SERVER_LINE_MAX) {
		fprintf(stderr, "edgeboxctl: edgeboxd sent a line longer than %zu bytes\n",
			SERVER_LINE_MAX);
		return false;
	}
	return true;
}

static bool input_line(struct console *con, char *line)
{
	if (!*line)
		return true;
	if (strcmp(line, "/help") == 0 || strcmp(line, "help") == 0) {
		if (con->role == DISPLAY_ROLE_KIOSK)
			kiosk_help();
		else
			staff_help();
		return true;
	}
	return con->role == DISPLAY_ROLE_KIOSK ? kiosk_input(con, line) : staff_input(con, line);
}

/* Reads what standard input has. false when the daemon is gone. */
static bool read_input(struct console *con)
{
	ssize_t n = read(0, con->ibuf + con->ilen, INPUT_LINE_MAX - con->ilen);
	size_t start = 0, i;
	bool ok = true;

	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		con->input_done = true;
		/* A last line without a newline still counts. */
		if (con->ilen && !con->ioverlong) {
			con->ibuf[con->ilen] = '\0';
			ok = input_line(con, con->ibuf);
		}
		con->ilen = 0;
		return ok;
	}
	for (i = con->ilen; ok && i < con->ilen + (size_t)n; i++)
		if (con->ibuf[i] == '\n') {
			con->ibuf[i] = '\0';
			if (i > start && con->ibuf[i - 1] == '\r')
				con->ibuf[i - 1] = '\0';
			if (con->ioverlong)
				con->ioverlong = false; /* the tail of a long line: skipped */
			else
				ok = input_line(con, con->ibuf + start);
			start = i + 1;
		}
	con->ilen += (size_t)n;
	memmove(con->ibuf, con->ibuf + start, con->ilen - start);
	con->ilen -= start;
	if (con->ilen == INPUT_LINE_MAX) {
		fprintf(stderr, "edgeboxctl: a line longer than %d bytes is not sent\n",
			INPUT_LINE_MAX);
		con->ilen = 0;
		con->ioverlong = true;
	}
	return ok;
}

/* After the input ended: is there nothing more to wait for? */
static bool done_waiting(const struct console *con)
{
	uint64_t quiet_ms = (hal_now_ns() - con->last_msg_ns) / 1000000;
	long limit = con->wait_ms;

	if (limit < 0)
		return false;
	if (con->in_reply || con->awaiting > 0)
		limit = limit > REPLY_WAIT_MS ? limit : REPLY_WAIT_MS;
	return quiet_ms >= (uint64_t)limit;
}

static int run(struct console *con, const char *name, const char *token)
{
	int rc;

	rc = connect_display(con);
	if (rc != CTL_EXIT_OK)
		return rc;
	con->sbuf = malloc(SERVER_LINE_MAX + 1);
	if (!con->sbuf) {
		close(con->fd);
		fprintf(stderr, "edgeboxctl: out of memory\n");
		return CTL_EXIT_FAIL;
	}
	con->tty = isatty(0);
	con->last_msg_ns = hal_now_ns();
	send_hello(con, name, token);
	rc = -1;
	while (rc < 0) {
		struct pollfd pf[2] = {
		    {.fd = con->fd, .events = POLLIN},
		    {.fd = con->input_done ? -1 : 0, .events = POLLIN},
		};
		int n;

		if (con->quit) {
			rc = con->fatal_seen ? CTL_EXIT_FAIL : CTL_EXIT_OK;
			break;
		}
		if (con->input_done && done_waiting(con)) {
			rc = CTL_EXIT_OK;
			break;
		}
		n = poll(pf, 2, con->input_done ? 50 : -1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "edgeboxctl: poll: %s\n", strerror(errno));
			rc = CTL_EXIT_FAIL;
			break;
		}
		if (n <= 0)
			continue;
		if (pf[0].revents && !read_server(con)) {
			end_line(con);
			fflush(stdout);
			if (con->fatal_seen && strcmp(con->fatal_code, "shutdown") != 0) {
				fprintf(stderr, "edgeboxctl: edgeboxd closed the connection (%s)\n",
					con->fatal_code);
				rc = CTL_EXIT_FAIL;
			} else {
				fprintf(stderr, "edgeboxctl: edgeboxd closed the connection%s\n",
					con->fatal_seen ? ": it is stopping" : "");
				rc = CTL_EXIT_NO_DAEMON;
			}
			break;
		}
		if (pf[1].revents && !read_input(con)) {
			fprintf(stderr, "edgeboxctl: edgeboxd closed the connection\n");
			rc = CTL_EXIT_NO_DAEMON;
		}
	}
	end_line(con);
	fflush(stdout);
	close(con->fd);
	free(con->sbuf);
	return rc;
}

static int parse_wait(const char *s, long *ret)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < -1 || v > 86400000) {
		fprintf(stderr, "edgeboxctl: --wait %s: expected milliseconds (or -1: forever)\n",
			s);
		return -1;
	}
	*ret = v;
	return 0;
}

/* ---- entry points --------------------------------------------------------- */

int ctl_kiosk(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"name", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"wait", required_argument, NULL, 'w'},
	    {0},
	};
	struct console *con;
	const char *name = "edgeboxctl";
	int c, rc;

	if (wants_help(argc, argv)) {
		printf(
		    "Usage: edgeboxctl kiosk [--socket PATH] [--name NAME] [--json] [--wait MS]\n"
		    "Be the customer at the kiosk: each line typed is sent as the customer's\n"
		    "words, and the agent's reply streams in as it is written. Product cards,\n"
		    "suggestions, consent questions and handoffs are shown as they come.\n"
		    "  /tap N, /product N   tap suggestion or product card N (or give its id)\n"
		    "  /yes, /no            answer the consent question\n"
		    "  //text               send text that starts with '/'\n"
		    "  /quit                leave\n"
		    "Standard input may be a file or a pipe (scripted use; each line is echoed\n"
		    "as \"you> ...\"): after it ends, the console waits for the replies still\n"
		    "due (up to %d s of silence), then MS of quiet (default 1000; -1 forever).\n"
		    "  --socket PATH  default /run/edgebox/kiosk.sock ([kiosk] socket)\n"
		    "  --name NAME    how this console introduces itself (hello)\n"
		    "  --json         print the daemon's messages as the raw JSON lines\n"
		    "Exit status: 0 ok, 1 refused or dropped by edgeboxd, 2 usage error,\n"
		    "3 edgeboxd not running (no socket, or it closed the connection).\n",
		    REPLY_WAIT_MS / 1000);
		return CTL_EXIT_OK;
	}
	con = calloc(1, sizeof(*con));
	if (!con)
		return CTL_EXIT_FAIL;
	con->role = DISPLAY_ROLE_KIOSK;
	con->path = "/run/edgebox/kiosk.sock";
	con->wait_ms = 1000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			con->path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'j':
			con->json = true;
			break;
		case 'w':
			if (parse_wait(optarg, &con->wait_ms) == 0)
				break;
			/* fall through */
		default:
			free(con);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edgeboxctl kiosk: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		free(con);
		return CTL_EXIT_USAGE;
	}
	rc = run(con, name, getenv("EDGEBOX_KIOSK_TOKEN"));
	free(con);
	return rc;
}

static int read_token(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f) {
		fprintf(stderr, "edgeboxctl: --token-file %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(out, 1, cap - 1, f);
	fclose(f);
	out[n] = '\0';
	while (n && strchr("\r\n ", out[n - 1]))
		out[--n] = '\0';
	if (!n) {
		fprintf(stderr, "edgeboxctl: --token-file %s is empty\n", path);
		return -1;
	}
	return 0;
}

int ctl_staff(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},	  {"device", required_argument, NULL, 'd'},
	    {"token-file", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
	    {"wait", required_argument, NULL, 'w'},	  {0},
	};
	char token[DISPLAY_TOKEN_MAX] = "";
	const char *device = "edgeboxctl", *env;
	struct console *con;
	int c, rc;

	if (wants_help(argc, argv)) {
		printf("Usage: edgeboxctl staff [--socket PATH] [--json] [--device NAME]\n"
		       "                        [--token-file FILE] [--wait MS]\n"
		       "The live staff feed: visitors, archetypes, signals, next best actions,\n"
		       "escalations, offline mode, flagged figures, the transcript; one readable\n"
		       "line each, or the raw JSON lines with --json. Commands typed meanwhile:\n"
		       "  take [N]      take session N over from the agent (default: the session\n"
		       "                chosen with `session N`, else the latest in the feed)\n"
		       "  back [N]      hand it back to the agent\n"
		       "  say TEXT      speak to the customer in that session\n"
		       "  session N     choose the session the commands act on\n"
		       "  quit          leave\n"
		       "  --socket PATH     default /run/edgebox/staff.sock ([staff] socket)\n"
		       "  --device NAME     how this console introduces itself (hello)\n"
		       "  --token-file FILE the staff token when the socket needs one (or set\n"
		       "                    EDGEBOX_STAFF_TOKEN)\n"
		       "  --wait MS         after standard input ends, stop after MS without a\n"
		       "                    message (default -1: keep showing the feed)\n"
		       "Exit status: 0 ok, 1 refused or dropped by edgeboxd, 2 usage error,\n"
		       "3 edgeboxd not running (no socket, or it closed the connection).\n");
		return CTL_EXIT_OK;
	}
	con = calloc(1, sizeof(*con));
	if (!con)
		return CTL_EXIT_FAIL;
	con->role = DISPLAY_ROLE_STAFF;
	con->path = "/run/edgebox/staff.sock";
	con->wait_ms = -1;
	env = getenv("EDGEBOX_STAFF_TOKEN");
	if (env)
		snprintf(token, sizeof(token), "%s", env);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			con->path = optarg;
			break;
		case 'd':
			device = optarg;
			break;
		case 't':
			if (read_token(optarg, token, sizeof(token)) < 0) {
				free(con);
				return CTL_EXIT_USAGE;
			}
			break;
		case 'j':
			con->json = true;
			break;
		case 'w':
			if (parse_wait(optarg, &con->wait_ms) == 0)
				break;
			/* fall through */
		default:
			free(con);
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "edgeboxctl staff: unexpected argument '%s' (see --help)\n",
			argv[optind]);
		free(con);
		return CTL_EXIT_USAGE;
	}
	rc = run(con, device, token);
	free(con);
	return rc;
}
