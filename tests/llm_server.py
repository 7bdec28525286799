#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat server for the edgebox LLM tests.

    python3 tests/llm_server.py --port 0 --script tests/fixtures/llm

prints the port it bound (127.0.0.1 only) on the first line of stdout, then
serves until its stdin closes when that is a pipe (the test that started it
exited), or --timeout seconds pass.

POST /v1/chat/completions: the request's "model" names the script,
DIR/<model>.json. A script is {"responses": [R1, R2, ...]}: the Nth request
for that script gets R_N (the last one once they run out). A response is a
list of steps, replayed in order with their timing:

  {"expect": {...}}          check the request (see check_expect); on a
                             mismatch the reply is HTTP 400 naming it
  {"status": 500, "headers": {...}, "body": "..."}
                             the status line; with "body" a plain response
                             (Content-Length), without it a chunked stream
                             (default: 200 text/event-stream)
  {"sse": {...}}             data: <json>\\n\\n (a whole chunk object)
  {"content": "text"}        a chat.completion.chunk with that delta content
  {"role": "assistant"}      the opening chunk
  {"tool": {"index", "id", "name", "args"}}
                             a tool_calls delta (any of the keys)
  {"finish": "stop"}         a chunk with an empty delta and finish_reason
  {"usage": {...}}           a chunk with "choices": [] and that usage
  {"done": true}             data: [DONE]\\n\\n
  {"send": "raw text"}, {"send_hex": "e282ac"}
                             exact bytes
  {"stall_ms": N}            wait N ms
  {"close": true}            drop the connection (no chunked terminator)
  {"flood": {"text": "...", "bytes": N}}
                             the text repeated up to N bytes, fast
  {"repeat": N, "steps": [...]}
                             those steps N times (at most 10000)
A "content" text may hold "{mono_ns}": it is sent as CLOCK_MONOTONIC in ns at
the moment of sending (for benchmarks). Any step may carry "delay_ms" (wait before it) and "split": [offsets] with
"split_delay_ms": the step's bytes go out as separate writes cut at those
offsets (to split lines, CRLFs and UTF-8 characters between TCP segments).

GET /requests returns every request received since the last reset (model,
body, headers, connection number, response index). POST /reset forgets them
and restarts every script at its first response. GET /health answers ok.
"""

import argparse
import json
import os
import socket
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 << 20
MAX_RECORDS = 1000
MAX_FLOOD = 256 << 20
MAX_STALL_MS = 60000
FLOOD_CHUNK = 16384
MAX_REPEAT = 10000


class State:
    def __init__(self, script_dir):
        self.dir = script_dir
        self.lock = threading.Lock()
        self.counts = {}
        self.requests = []
        self.next_conn = 0

    def load(self, name):
        if not name or "/" in name or name.startswith("."):
            return None
        path = os.path.join(self.dir, name + ".json")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def take(self, name, n_responses):
        with self.lock:
            i = self.counts.get(name, 0)
            self.counts[name] = i + 1
        return min(i, n_responses - 1)

    def record(self, rec):
        with self.lock:
            if len(self.requests) < MAX_RECORDS:
                self.requests.append(rec)

    def conn_id(self):
        with self.lock:
            self.next_conn += 1
            return self.next_conn

    def reset(self):
        with self.lock:
            self.counts = {}
            self.requests = []


def chunk(delta=None, finish=None, choices=True, usage=None):
    obj = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "scripted",
    }
    if choices:
        obj["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    else:
        obj["choices"] = []
    if usage is not None:
        obj["usage"] = usage
    return obj


def sse_bytes(obj):
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n\n"


def step_bytes(step):
    """The bytes one step sends, or None when it sends nothing."""
    if "sse" in step:
        return sse_bytes(step["sse"])
    if "content" in step:
        # "{mono_ns}" becomes CLOCK_MONOTONIC now, in ns (Linux: the same
        # clock C reads), so a benchmark can time each token's way
        return sse_bytes(chunk({"content": step["content"].replace(
            "{mono_ns}", str(time.monotonic_ns()))}))
    if "role" in step:
        return sse_bytes(chunk({"role": step["role"], "content": ""}))
    if "tool" in step:
        t = step["tool"]
        call = {"index": t.get("index", 0)}
        if "id" in t:
            call["id"] = t["id"]
            call["type"] = "function"
        fn = {}
        if "name" in t:
            fn["name"] = t["name"]
        if "args" in t:
            fn["arguments"] = t["args"]
        if fn:
            call["function"] = fn
        return sse_bytes(chunk({"tool_calls": [call]}))
    if "finish" in step:
        return sse_bytes(chunk({}, finish=step["finish"]))
    if "usage" in step:
        return sse_bytes(chunk(choices=False, usage=step["usage"]))
    if step.get("done"):
        return b"data: [DONE]\n\n"
    if "send" in step:
        return step["send"].encode("utf-8")
    if "send_hex" in step:
        return bytes.fromhex(step["send_hex"])
    return None


def flatten(steps, depth=0):
    """Expands "repeat" steps."""
    out = []
    for s in steps:
        if "repeat" in s and depth < 4:
            inner = flatten(s.get("steps", []), depth + 1)
            for _ in range(min(int(s["repeat"]), MAX_REPEAT)):
                out.extend(inner)
        else:
            out.append(s)
    return out


def check_expect(exp, body):
    """None when body meets every expectation, else what failed."""
    msgs = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(msgs, list):
        return "the request has no messages array"
    if "messages_len" in exp and len(msgs) != exp["messages_len"]:
        return "expected %d messages, got %d" % (exp["messages_len"], len(msgs))
    for key, want in exp.get("body", {}).items():
        if body.get(key) != want:
            return "expected body[%r] == %r, got %r" % (key, want, body.get(key))
    if exp.get("has_tools") and not body.get("tools"):
        return "expected tools in the request"
    # "messages": {"-1": {"role": "tool", "tool_call_id": "call_1"}, ...}:
    # the message at that index has those fields; a string value ending in
    # "*" is a prefix, one starting with "*" a substring.
    for idx, fields in exp.get("messages", {}).items():
        i = int(idx)
        if i >= len(msgs) or i < -len(msgs):
            return "no message %d" % i
        m = msgs[i]
        for k, want in fields.items():
            got = m.get(k)
            if k == "tool_calls":
                got = [(c.get("id"), c["function"]["name"], json.loads(c["function"]["arguments"]))
                       for c in (got or [])]
                want = [(c[0], c[1], c[2]) for c in want]
                if got != want:
                    return "message %d: expected tool_calls %r, got %r" % (i, want, got)
                continue
            if isinstance(want, str) and want.startswith("*"):
                ok = isinstance(got, str) and want[1:] in got
            elif isinstance(want, str) and want.endswith("*"):
                ok = isinstance(got, str) and got.startswith(want[:-1])
            else:
                ok = got == want
            if not ok:
                return "message %d: expected %s = %r, got %r" % (i, k, want, got)
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llm-test-server/1"

    def setup(self):
        super().setup()
        self.conn = self.server.state.conn_id()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("llm_server: " + fmt % args + "\n")

    def plain(self, status, obj, ctype="application/json"):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/requests":
            with self.server.state.lock:
                data = list(self.server.state.requests)
            self.plain(200, data)
        elif self.path == "/health":
            self.plain(200, {"ok": True})
        else:
            self.plain(404, {"error": {"message": "no such path " + self.path}})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def do_POST(self):
        if self.path == "/reset":
            self.read_body()
            self.server.state.reset()
            self.plain(200, {"ok": True})
            return
        if self.path != "/v1/chat/completions":
            self.read_body()
            self.plain(404, {"error": {"message": "no such path " + self.path}})
            return
        raw = self.read_body()
        if raw is None:
            self.close_connection = True
            self.plain(413, {"error": {"message": "request body over %d bytes" % MAX_BODY}})
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError as e:
            body = None
            err = str(e)
        state = self.server.state
        rec = {
            "conn": self.conn,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body if body is not None else raw.decode("utf-8", "replace"),
        }
        if body is None:
            state.record(rec)
            self.plain(400, {"error": {"message": "request is not JSON: " + err}})
            return
        name = body.get("model") if isinstance(body, dict) else None
        script = state.load(name) if isinstance(name, str) else None
        if script is None:
            state.record(rec)
            # As Ollama answers an unknown model.
            self.plain(404, {"error": {"message": "model %r not found" % (name,)}})
            return
        responses = script["responses"]
        idx = state.take(name, len(responses))
        rec["script"] = name
        rec["response"] = idx
        state.record(rec)
        try:
            self.replay(flatten(responses[idx]), body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def replay(self, steps, body):
        for step in steps:
            if "expect" in step:
                why = check_expect(step["expect"], body)
                if why:
                    self.plain(400, {"error": {"message": "expectation failed: " + why}})
                    return
        head = next((s for s in steps if "status" in s), {"status": 200})
        status = head["status"]
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        headers.update(head.get("headers", {}))
        if "body" in head:
            data = head["body"].encode("utf-8")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for step in steps:
            if "delay_ms" in step:
                time.sleep(min(step["delay_ms"], MAX_STALL_MS) / 1000.0)
            if "stall_ms" in step:
                time.sleep(min(step["stall_ms"], MAX_STALL_MS) / 1000.0)
                continue
            if step.get("close"):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if "flood" in step:
                f = step["flood"]
                pattern = f["text"].encode("utf-8")
                total = min(int(f["bytes"]), MAX_FLOOD)
                block = pattern * max(1, FLOOD_CHUNK // max(1, len(pattern)))
                sent = 0
                while sent < total:
                    piece = block[: total - sent]
                    self.write_chunk(piece)
                    sent += len(piece)
                continue
            data = step_bytes(step)
            if data is None:
                continue
            cuts = [c for c in step.get("split", []) if 0 < c < len(data)]
            start = 0
            for c in sorted(cuts) + [len(data)]:
                if c > start:
                    self.write_chunk(data[start:c])
                    if c < len(data):
                        time.sleep(step.get("split_delay_ms", 5) / 1000.0)
                start = c
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up (the tests cancel and time out on purpose)
        # is normal here; anything else is a bug worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main():
    ap = argparse.ArgumentParser(description="scripted OpenAI-compatible test server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", required=True, help="folder of <model>.json scripts")
    ap.add_argument("--timeout", type=float, default=300.0, help="exit after this many seconds")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(args.script):
        sys.stderr.write("llm_server: --script %s: no such folder\n" % args.script)
        return 2
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args.script)
    server.verbose = args.verbose
    print(server.server_address[1], flush=True)
    # Started by a test, stdin is a pipe from it: its end is the test's end.
    # From a shell (a terminal or /dev/null) only --timeout and ^C stop it.
    if stat.S_ISFIFO(os.fstat(0).st_mode):
        threading.Thread(target=watch_stdin, daemon=True).start()
    timer = threading.Timer(args.timeout, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
