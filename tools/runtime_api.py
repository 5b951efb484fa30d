#!/usr/bin/env python3
"""A minimal AWS Lambda Runtime API, to run the real bootstrap binary locally (tests, benchmark).

It implements what a custom runtime talks to (`/2018-06-01/runtime/invocation/next`, `.../response`,
`.../error`, `/runtime/init/error`) and adds control routes for the caller:

* `POST /_emu/invoke` {"event": {...}, "timeout_ms": 60000} queues one invocation, waits for the
  function's answer and returns {"ok", "response" | "error", "duration_ms"}.
* `GET /_emu/stats` -> {"first_poll_at": <time.time() of the first /next poll or null>, "polls": n}.

Run: python tools/runtime_api.py [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]
It prints one JSON line, {"endpoint": "http://HOST:PORT", "runtime_api": "HOST:PORT"}.
Give the function AWS_LAMBDA_RUNTIME_API=<runtime_api>.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator"


class State:
    def __init__(self) -> None:
        self.pending: queue.Queue[dict[str, Any]] = queue.Queue()
        self.results: dict[str, queue.Queue[dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.first_poll_at: float | None = None
        self.polls = 0
        self.init_error: Any = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle meets the
    # client's delayed ACK and every answer waits ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        state = self.state
        if self.path == f"{PREFIX}/invocation/next":
            with state.lock:
                state.polls += 1
                if state.first_poll_at is None:
                    state.first_poll_at = time.time()
            job = state.pending.get()
            deadline_ms = int((time.time() + job["timeout_ms"] / 1000) * 1000)
            return self.reply(
                200,
                job["event"],
                {
                    "Lambda-Runtime-Aws-Request-Id": job["id"],
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                },
            )
        if self.path == "/_emu/stats":
            with state.lock:
                return self.reply(200, {"first_poll_at": state.first_poll_at, "polls": state.polls, "init_error": state.init_error})
        self.reply(404, {"message": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        state = self.state
        raw = self.body()
        if self.path == "/_emu/invoke":
            request = json.loads(raw or b"{}")
            job = {"id": str(uuid.uuid4()), "event": request["event"], "timeout_ms": int(request.get("timeout_ms", 60000))}
            answer: queue.Queue[dict[str, Any]] = queue.Queue()
            with state.lock:
                state.results[job["id"]] = answer
            started = time.perf_counter()
            state.pending.put(job)
            try:
                result = answer.get(timeout=job["timeout_ms"] / 1000 + 5)
            except queue.Empty:
                result = {"ok": False, "error": {"errorType": "EmulatorTimeout", "errorMessage": "no answer from the function"}}
            result["duration_ms"] = (time.perf_counter() - started) * 1000
            return self.reply(200, result)
        if self.path == f"{PREFIX}/init/error":
            with state.lock:
                state.init_error = json.loads(raw or b"null")
            return self.reply(202, {"status": "OK"})
        parts = self.path[len(PREFIX) :].strip("/").split("/") if self.path.startswith(PREFIX) else []
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            with state.lock:
                answer = state.results.pop(parts[1], None)
            if answer is None:
                return self.reply(400, {"message": "unknown request id"})
            payload = json.loads(raw) if raw else None
            answer.put({"ok": True, "response": payload} if parts[2] == "response" else {"ok": False, "error": payload})
            return self.reply(202, {"status": "OK"})
        self.reply(404, {"message": f"no route POST {self.path}"})


def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, State]:
    """Starts the emulator on a background thread; returns the server and its state."""
    state = State()
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    args = parser.parse_args()
    server, _ = serve(args.host, args.port)
    host, port = server.server_address[:2]
    print(json.dumps({"endpoint": f"http://{host}:{port}", "runtime_api": f"{host}:{port}"}), flush=True)
    try:
        if args.exit_on_stdin_eof:
            sys.stdin.read()
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()


if __name__ == "__main__":
    main()
