/*
 * The scripted OpenAI-compatible server (tests/llm_server.py, a test-only
 * simulator) run as a child process for a test binary: the request's model
 * name picks tests/fixtures/llm/<model>.json.
 */
#ifndef TESTS_SUPPORT_SCRIPT_SERVER_H
#define TESTS_SUPPORT_SCRIPT_SERVER_H

/* Starts it once per process (stopped at exit); its port, or -1. */
int script_server_start(void);

/* "http://127.0.0.1:PORT/v1/chat/completions" (static buffer). */
const char *script_server_url(void);

#endif
