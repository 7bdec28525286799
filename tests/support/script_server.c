#include "tests/support/script_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t pid;
static int stdin_fd = -1;
static int port;

static void stop(void)
{
	if (pid > 0) {
		close(stdin_fd);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		pid = 0;
	}
}

int script_server_start(void)
{
	int in[2], out[2];
	char line[32];
	size_t got = 0;

	if (pid > 0)
		return port;
	if (pipe(in) < 0 || pipe(out) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("python3", "python3", "tests/llm_server.py", "--port", "0", "--script",
		       "tests/fixtures/llm", "--timeout", "120", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	stdin_fd = in[1];
	atexit(stop);
	/* the server prints its port on its first line */
	while (got < sizeof(line) - 1 && read(out[0], line + got, 1) == 1 && line[got] != '\n')
		got++;
	line[got] = '\0';
	close(out[0]);
	port = atoi(line);
	return port > 0 ? port : -1;
}

const char *script_server_url(void)
{
	static char url[96];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1/chat/completions", port);
	return url;
}
