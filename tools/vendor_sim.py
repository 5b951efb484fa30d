#!/usr/bin/env python3
"""A stateful simulator of the three vendors' key-rotation APIs, for tests and the local demo.

We own this contract (shared/reference/vendor-apis.md describes the real services). One server
serves all three vendors, each under its own prefix, so a base URL is `http://HOST:PORT/<prefix>`:

| vendor           | prefix                | rotate                            | verify           |
|------------------|-----------------------|-----------------------------------|------------------|
| calcom           | /calcom               | POST /v2/api-keys/refresh         | GET /v2/me       |
| ringg            | /ringg/ca/api/v0      | PATCH /workspace/api-key          | GET /workspace   |
| projectdiscovery | /projectdiscovery     | POST /v1/user/apikey/rotate       | GET /v1/user     |

Each account has exactly one live key. Rotating creates a new key and invalidates the old one at
once; a request with a dead or unknown key gets that vendor's 401. Cal.com also enforces its body
rules (apiKeyDaysValid >= 1, not together with apiKeyNeverExpires) and its 120 requests per
minute per key limit.

Control routes (JSON):
* `GET /_sim/vendors` -> {vendor: {"prefix", "env"}}: the simulated vendors, their base paths here
  and the function's base-URL variable for each
* `POST /_sim/accounts` {"vendor", "key"?} -> {"account", "key", "base_path"}
* `GET /_sim/accounts/<id>` -> the account: live key, counters, last rotate body, expiry
* `POST /_sim/accounts/<id>/faults` one-shot fault switches, all optional:
    {"fail_before_rotate": n}  answer 500 without rotating, n times
    {"fail_after_rotate": n}   rotate, then answer 500, n times
    {"hang_after_rotate": s}   rotate, then wait s seconds before answering (once)
    {"empty_after_rotate": n}  rotate, then answer 200 without the key, n times
    {"rate_limit": n, "reset_seconds": s}  answer 429 to the next n requests of this account
    {"rate_limit_rotate": n, "reset_seconds": s}  answer 429 to the next n rotate calls only
    {"refuse_verifications": n}  answer 401 to the next n verify calls with the live key
    {"forbid_verifications": n}  answer 403 (a valid key without the right) to the next n verify calls
    {"replica_lag": s}          after each rotate, the old key still passes verify for s seconds
                                (a read replica behind the primary); a rotate with it passes the
                                replica's check, makes an orphan key and fails with 500 (Cal.com
                                deletes the presented key after creating the new one)
    {"rate_limit_header": [name, value]}  the 429s above carry only this header (e.g. an absurd
                                Retry-After), instead of the vendor's usual one
    {"odd_rotate_answer": n}    rotate, then answer 200 with the key but an unexpected shape
                                (extra fields; Cal.com's "status" is not "success"), n times
    {"pad_rotate_answer": b}    rotate answers carry an extra field of b bytes (a big answer)
    {"same_key_rotate": n}      answer 200 with the presented key itself, rotating nothing, n times
* `POST /_sim/accounts/<id>/revoke` invalidates the live key without telling anyone
  (a person rotated it in the vendor's dashboard).

Run: python tools/vendor_sim.py [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]
It prints one JSON line, {"endpoint": "http://HOST:PORT"}, once it is listening.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The simulated vendors, the one list of them outside the Rust code (tools/demo.py and
# bench/run.py import it; the Rust tests read it from `GET /_sim/vendors`). Each entry: where the
# vendor lives under the simulator, the function's variable for its base URL, how a request
# presents the key (a header, and what comes before the key in it), and its routes.
VENDORS: dict[str, dict[str, Any]] = {
    "calcom": {
        "prefix": "/calcom",
        "env": "CALCOM_BASE_URL",
        "auth": ("Authorization", "Bearer "),
        "routes": {("POST", "/v2/api-keys/refresh"): "rotate", ("GET", "/v2/me"): "verify"},
    },
    "ringg": {
        "prefix": "/ringg/ca/api/v0",
        "env": "RINGG_BASE_URL",
        "auth": ("X-API-KEY", ""),
        "routes": {("PATCH", "/workspace/api-key"): "rotate", ("GET", "/workspace"): "verify"},
    },
    "projectdiscovery": {
        "prefix": "/projectdiscovery",
        "env": "PROJECTDISCOVERY_BASE_URL",
        "auth": ("X-API-Key", ""),
        "routes": {
            ("POST", "/v1/user/apikey/rotate"): "rotate",
            ("GET", "/v1/user"): "verify",
            ("GET", "/v1/user/apikey"): "read_key",
        },
    },
}


def verify_route(vendor: str) -> tuple[str, str]:
    """The method and path of the vendor's verify call."""
    return next(route for route, action in VENDORS[vendor]["routes"].items() if action == "verify")


def auth_header(vendor: str, key: str) -> dict[str, str]:
    """The header that presents `key` to the vendor."""
    name, before = VENDORS[vendor]["auth"]
    return {name: before + key}


CALCOM_LIMIT_PER_MINUTE = 120
FAULT_NAMES = (
    "fail_before_rotate",
    "fail_after_rotate",
    "hang_after_rotate",
    "empty_after_rotate",
    "rate_limit",
    "rate_limit_rotate",
    "reset_seconds",
    "refuse_verifications",
    "forbid_verifications",
    "replica_lag",
    "rate_limit_header",
    "odd_rotate_answer",
    "pad_rotate_answer",
    "same_key_rotate",
)

LOCK = threading.Lock()
ACCOUNTS: dict[str, dict[str, Any]] = {}
KEY_OWNER: dict[tuple[str, str], str] = {}  # (vendor, key ever issued) -> account id
CALCOM_WINDOWS: dict[str, list[float]] = {}  # key -> [window start, count]


def new_key(vendor: str, old: str | None = None) -> str:
    if vendor == "calcom":
        prefix = old[:-32] if old and len(old) > 32 else "cal_live_"
        return prefix + secrets.token_hex(16)
    return str(uuid.uuid4())


def create_account(vendor: str, key: str | None) -> dict[str, Any]:
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}")
    account = uuid.uuid4().hex[:12]
    key = key or new_key(vendor)
    ACCOUNTS[account] = {
        "account": account,
        "vendor": vendor,
        "live_key": key,
        "email": f"owner-{account}@example.test",
        "rotate_calls": 0,
        "rotations": 0,
        "verify_calls": 0,
        "requests": 0,
        "last_rotate_body": None,
        "expires_in_days": None,
        "faults": {name: 0 for name in FAULT_NAMES},
        # What a lagging read replica still believes: the key before the last rotation, until when.
        "stale_key": None,
        "stale_until": 0.0,
        "rotate_times": [],
        # Every call with the key of this account, and when the last successful rotate answered,
        # on the system's monotonic clock (comparable with moto_server.py's "At").
        "calls": [],
        "rotate_answered": None,
    }
    KEY_OWNER[(vendor, key)] = account
    return {"account": account, "key": key, "base_path": VENDORS[vendor]["prefix"]}


def public(account: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in account.items() if k != "faults"} | {"faults": dict(account["faults"])}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vendor-sim/1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle meets the
    # client's delayed ACK and every answer waits ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:  # type: ignore[attr-defined]
            super().log_message(format, *args)

    # -- plumbing -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test): the state change stands

    def dispatch(self, method: str) -> None:
        raw = self.body()
        path = self.path.split("?", 1)[0]
        if path.startswith("/_sim/"):
            return self.control(method, path, raw)
        for vendor, spec in VENDORS.items():
            prefix = spec["prefix"]
            if path.startswith(prefix + "/"):
                action = spec["routes"].get((method, path[len(prefix) :]))
                if action:
                    return self.vendor_call(vendor, action, path, raw)
        self.reply(404, {"message": f"no route {method} {path}"})

    # -- control ----------------------------------------------------------------------------
    def control(self, method: str, path: str, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        parts = path.strip("/").split("/")  # _sim, accounts, id?, action?
        with LOCK:
            if method == "GET" and parts == ["_sim", "health"]:
                return self.reply(200, {"ok": True})
            if method == "GET" and parts == ["_sim", "vendors"]:
                return self.reply(200, {name: {"prefix": v["prefix"], "env": v["env"]} for name, v in VENDORS.items()})
            if method == "POST" and parts == ["_sim", "accounts"]:
                try:
                    return self.reply(200, create_account(body.get("vendor", ""), body.get("key")))
                except ValueError as err:
                    return self.reply(400, {"message": str(err)})
            if len(parts) >= 3 and parts[1] == "accounts" and parts[2] in ACCOUNTS:
                account = ACCOUNTS[parts[2]]
                if method == "GET" and len(parts) == 3:
                    return self.reply(200, public(account))
                if method == "POST" and parts[3:] == ["faults"]:
                    unknown = set(body) - set(FAULT_NAMES)
                    if unknown:
                        return self.reply(400, {"message": f"unknown faults {sorted(unknown)}"})
                    account["faults"].update({k: v for k, v in body.items()})
                    return self.reply(200, public(account))
                if method == "POST" and parts[3:] == ["revoke"]:
                    account["live_key"] = new_key(account["vendor"], account["live_key"])
                    KEY_OWNER[(account["vendor"], account["live_key"])] = account["account"]
                    return self.reply(200, {"revoked": True})
        self.reply(404, {"message": f"no control route {method} {path}"})

    # -- the vendors --------------------------------------------------------------------------
    def presented_key(self, vendor: str) -> str | None:
        name, before = VENDORS[vendor]["auth"]
        value = self.headers.get(name)  # header names are case-insensitive
        if value is None or not value.startswith(before):
            return None
        return value[len(before) :] or None

    def vendor_call(self, vendor: str, action: str, path: str, raw: bytes) -> None:
        key = self.presented_key(vendor)
        hang = 0.0
        with LOCK:
            account = ACCOUNTS.get(KEY_OWNER.get((vendor, key or ""), ""))
            if account is not None:
                account["requests"] += 1
                account["calls"].append({"action": action, "at": time.monotonic()})
                if action == "rotate":
                    account["rotate_calls"] += 1
                    account["rotate_times"].append(time.monotonic())
                if action == "verify":
                    account["verify_calls"] += 1
                faults = account["faults"]
                if faults["rate_limit"] > 0:
                    faults["rate_limit"] -= 1
                    return self.rate_limited(vendor, float(faults["reset_seconds"] or 1), faults["rate_limit_header"])
                if action == "rotate" and faults["rate_limit_rotate"] > 0:
                    faults["rate_limit_rotate"] -= 1
                    return self.rate_limited(vendor, float(faults["reset_seconds"] or 1), faults["rate_limit_header"])
            if vendor == "calcom" and key is not None:
                limited = self.calcom_window(key)
                if limited is not None:
                    return self.rate_limited(vendor, limited)
            stale = (
                account is not None
                and account["live_key"] != key
                and key == account["stale_key"]
                and time.monotonic() < account["stale_until"]
            )
            if account is None or (account["live_key"] != key and not stale):
                return self.unauthorized(vendor, path)
            if stale and action != "verify":
                return self.server_error(vendor, path)
            if action == "verify":
                if faults["forbid_verifications"] > 0:
                    faults["forbid_verifications"] -= 1
                    return self.forbidden(vendor, path)
                if faults["refuse_verifications"] > 0:
                    faults["refuse_verifications"] -= 1
                    return self.unauthorized(vendor, path)
                return self.reply(200, self.profile(vendor, account))
            if action == "read_key":
                return self.reply(200, {"message": "ok", "api_key": account["live_key"]})

            # rotate
            if faults["fail_before_rotate"] > 0:
                faults["fail_before_rotate"] -= 1
                return self.server_error(vendor, path)
            body = self.rotate_body(vendor, raw, path)
            if body is None:
                return
            if faults["same_key_rotate"] > 0:
                faults["same_key_rotate"] -= 1
                return self.reply(200, self.rotated(vendor, key))
            fresh = new_key(vendor, key)
            account["live_key"] = fresh
            account["rotations"] += 1
            account["last_rotate_body"] = body
            if faults["replica_lag"]:
                account["stale_key"], account["stale_until"] = key, time.monotonic() + float(faults["replica_lag"])
            KEY_OWNER[(vendor, fresh)] = account["account"]
            if faults["fail_after_rotate"] > 0:
                faults["fail_after_rotate"] -= 1
                return self.server_error(vendor, path)
            if faults["empty_after_rotate"] > 0:
                faults["empty_after_rotate"] -= 1
                return self.reply(200, {"status": "success", "data": {}} if vendor == "calcom" else {"message": "ok"})
            if faults["hang_after_rotate"]:
                hang, faults["hang_after_rotate"] = float(faults["hang_after_rotate"]), 0
            answer = self.rotated(vendor, fresh)
            if faults["odd_rotate_answer"] > 0:
                faults["odd_rotate_answer"] -= 1
                answer = self.odd(vendor, answer)
            if faults["pad_rotate_answer"]:
                answer["padding"] = "x" * int(faults["pad_rotate_answer"])
        if hang:
            time.sleep(hang)
        with LOCK:
            account["rotate_answered"] = time.monotonic()  # just before: the answer cannot beat it
        self.reply(200, answer)

    def rotate_body(self, vendor: str, raw: bytes, path: str) -> dict[str, Any] | None:
        """Cal.com's body rules; the others take no body. Returns None once it has answered."""
        if vendor != "calcom":
            return {}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.bad_request(path, "request body must be a JSON object")
            return None
        days, never = body.get("apiKeyDaysValid"), body.get("apiKeyNeverExpires")
        if days is not None and never is not None:
            self.bad_request(path, "Cannot set both apiKeyDaysValid and apiKeyNeverExpires")
            return None
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
            self.bad_request(path, "apiKeyDaysValid must be an integer not less than 1")
            return None
        if never is not None and not isinstance(never, bool):
            self.bad_request(path, "apiKeyNeverExpires must be a boolean value")
            return None
        account = ACCOUNTS[KEY_OWNER[(vendor, self.presented_key(vendor) or "")]]
        account["expires_in_days"] = None if never else (days or 30)
        return {k: body[k] for k in ("apiKeyDaysValid", "apiKeyNeverExpires") if k in body}

    def calcom_window(self, key: str) -> float | None:
        now = time.monotonic()
        window = CALCOM_WINDOWS.setdefault(key, [now, 0])
        if now - window[0] >= 60:
            window[0], window[1] = now, 0
        window[1] += 1
        if window[1] > CALCOM_LIMIT_PER_MINUTE:
            return 60 - (now - window[0])
        return None

    # -- vendor-shaped answers ------------------------------------------------------------------
    @staticmethod
    def rotated(vendor: str, key: str) -> dict[str, Any]:
        if vendor == "calcom":
            return {"status": "success", "data": {"apiKey": key}}
        if vendor == "ringg":
            return {"new_api_key": key}
        return {"message": "API key rotated successfully", "api_key": key}

    @staticmethod
    def odd(vendor: str, answer: dict[str, Any]) -> dict[str, Any]:
        """The key where it belongs, but not the documented shape around it."""
        if vendor == "calcom":
            return {"status": "ok", "data": dict(answer["data"], expiresAt=None, note=7), "meta": [1, 2]}
        return dict(answer, message=None, rotated_at=[2026, 11, 24], nested={"deep": {"x": 1}})

    @staticmethod
    def profile(vendor: str, account: dict[str, Any]) -> dict[str, Any]:
        if vendor == "calcom":
            return {
                "status": "success",
                "data": {"id": 4242, "username": "owner", "email": account["email"], "timeZone": "UTC"},
            }
        if vendor == "ringg":
            return {
                "workspace_info": {
                    "id": account["account"],
                    "name": "Simulated workspace",
                    "created_at": "2024-12-16T13:03:29.947147+00:00",
                    "credits": 3025,
                    "locked_credits": 0,
                    "api_key": account["live_key"],
                }
            }
        return {"name": "owner", "email": account["email"], "plan": "PRO", "role": "owner"}

    def calcom_error(self, status: int, code: str, message: str, path: str) -> None:
        self.reply(
            status,
            {
                "status": "error",
                "timestamp": datetime.now(timezone.utc).isoformat(),
                "path": path,
                "error": {"code": code, "message": message},
            },
        )

    def unauthorized(self, vendor: str, path: str) -> None:
        if vendor == "calcom":
            return self.calcom_error(401, "UnauthorizedException", "ApiAuthStrategy - api key - Your api key is not valid", path)
        if vendor == "ringg":
            return self.reply(401, {"detail": "Invalid or missing API key"})
        self.reply(401, {"message": "User is not authorized to perform this action"})

    def forbidden(self, vendor: str, path: str) -> None:
        if vendor == "calcom":
            return self.calcom_error(403, "ForbiddenException", "Forbidden resource", path)
        self.reply(403, {"detail": "Key is valid but lacks permission"} if vendor == "ringg" else {"message": "forbidden"})

    def server_error(self, vendor: str, path: str) -> None:
        if vendor == "calcom":
            return self.calcom_error(500, "InternalServerErrorException", "Internal server error", path)
        self.reply(500, {"detail": "Internal Server Error"} if vendor == "ringg" else {"message": "internal error"})

    def bad_request(self, path: str, message: str) -> None:
        self.calcom_error(400, "BadRequestException", message, path)

    def rate_limited(self, vendor: str, reset: float, header: Any = 0) -> None:
        seconds = max(1, int(reset + 0.999))
        if header:
            name, value = header
            return self.reply(429, {"message": "rate limit exceeded"}, {name: str(value)})
        if vendor == "calcom":
            headers = {
                "X-RateLimit-Limit-Default": str(CALCOM_LIMIT_PER_MINUTE),
                "X-RateLimit-Remaining-Default": "0",
                "X-RateLimit-Reset-Default": str(seconds),
            }
            return self.reply(429, {"status": "error", "error": {"code": "ThrottlerException", "message": "Too many requests. Please try again later."}}, headers)
        if vendor == "ringg":
            return self.reply(429, {"detail": "Rate limit exceeded"}, {"Retry-After": str(seconds)})
        self.reply(429, {"message": "rate limit exceeded"}, {"x-ratelimit-reset": str(int(time.time()) + seconds)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    parser.add_argument("--verbose", action="store_true", help="log every request line")
    args = parser.parse_args()

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.verbose = args.verbose  # type: ignore[attr-defined]
    host, port = server.server_address[:2]
    print(json.dumps({"endpoint": f"http://{host}:{port}"}), flush=True)
    if args.exit_on_stdin_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
