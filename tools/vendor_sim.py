#!/usr/bin/env python3
"""A stateful simulator of the vendors' key-rotation APIs, for tests and the local demo.

We own this contract (shared/reference/vendor-apis.md describes the real services). One server
serves every vendor in VENDORS, each under its own prefix, so a base URL is
`http://HOST:PORT/<prefix>`; each vendor's class below has its routes and answer shapes.

Each account of a single-phase vendor has exactly one live key. Rotating creates a new key and
invalidates the old one at once; a request with a dead or unknown key gets that vendor's 401.
A create-then-revoke vendor (`overlap = True`: DualKey) keeps every key live until it is revoked by
id, whichever key of the account the id names, and holds at most two live keys per account (or
the account's `key_cap`): one more create is refused with 409 until one is revoked. Vendors a deployer would declare in ROTATION_VENDORS carry that declaration
(`declaration`, without its base_url): Acme (single-phase), DualKey (create-then-revoke), and
Ringg and ProjectDiscovery written in that form. Cal.com also enforces its body
rules (apiKeyDaysValid >= 1, not together with apiKeyNeverExpires) and its 120 requests per
minute per key limit.

Control routes (JSON):
* `GET /_sim/vendors` -> {vendor: {"prefix", "env", "declaration"}}: the simulated vendors, their
  base paths here, the function's base-URL variable for each built-in one (null for the others),
  and the ROTATION_VENDORS declaration of each vendor that can be declared (without base_url)
* `POST /_sim/accounts` {"vendor", "key"?, "key_cap"?} -> {"account", "key", "key_id", "base_path"}
  (`key_cap`: a create-then-revoke vendor's most live keys per account, 2 unless given)
* `POST /_sim/accounts/<id>/keys` -> {"key", "key_id"}: another live key of the account (another
  application's), under an id of its own
* `GET /_sim/accounts/<id>` -> the account: live key (the newest), `live_keys` ({key id: key}, every
  key that works), `revoked` (ids revoked, in order), counters, last rotate body, expiry, and
  `rotation_log`, one entry per rotation (a rotate call that made a new key):
    {"rotated_at", "old_key", "new_key",  when (monotonic clock) and what it replaced
     "answer",          what answered: "documented", the fault that shaped it ("odd_rotate_answer",
                        "echo_old_key", "key_in_undocumented_field", "non_json_rotate_answer",
                        "binary_rotate_answer", "empty_after_rotate", "fail_after_rotate"), or
                        "killed" (kill_after_rotate: no answer at all)
     "status", "content_type", "length",  the answer's status, Content-Type and body bytes
     "answered_key",    the key the answer carried: new_key, old_key, or null
     "late_status", "late_body",  seconds waited before the status line, and between headers and body
     "answered_at",     when the answer's first byte went out (null if none did)
     "killed", "kill_error"}  the process id kill_after_rotate signalled, and why that failed
  `rotate_answered` is the last rotation's answered_at (stays as it was when nothing answered).
* `POST /_sim/accounts/<id>/faults` one-shot fault switches, all optional:
    {"fail_before_rotate": n}  answer 500 without rotating, n times
    {"fail_after_rotate": n}   rotate, then answer 500, n times
    {"hang_after_rotate": s}   rotate, then wait s seconds before answering (once)
    {"empty_after_rotate": n}  rotate, then answer 200 without the key, n times
    {"rate_limit": n, "reset_seconds": s}  answer 429 to the next n requests of this account
    {"rate_limit_rotate": n, "reset_seconds": s}  answer 429 to the next n rotate calls only
    {"refuse_verifications": n}  answer 401 to the next n verify calls with the live key
    {"forbid_verifications": n}  answer 403 (a valid key without the right) to the next n verify calls
    {"fail_verifications": n}   answer 500 to the next n verify calls with any of the account's keys,
                                live or dead (an outage of the vendor's read path)
    {"fail_verifications_after_rotate": n}  the next rotation sets fail_verifications to n (the
                                read path fails from the moment the key changed)
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
  The faults below each rotate first (the new key is live, the presented one dead), then answer oddly:
    {"key_in_undocumented_field": n}  answer 200 with the new key under a field the vendor never
                                documented (each vendor's `undocumented`), n times
    {"non_json_rotate_answer": n}  answer 200, text/plain `key=NEW`: not JSON, n times
    {"binary_rotate_answer": n}  answer 200, application/octet-stream, a body that is not UTF-8
                                (b"\\xff\\xfe" + the new key + b"\\x00\\xff"), n times
    {"late_status": s}          wait s seconds before sending anything, status line included (once;
                                hang_after_rotate does the same)
    {"late_body": s}            send the status line and headers (a correct Content-Length), then
                                wait s seconds before the body (once)
    {"echo_old_key": n}         answer 200 in the documented shape, carrying the old (presented,
                                now dead) key, as from a stale cache, n times
    {"kill_after_rotate": pid}  SIGKILL that process (the function, between the vendor's rotation
                                and storing the key), then close the connection without answering
                                (once; a positive process id other than the simulator's, 0 clears)
    {"big_rotate_answer": b}    rotate, then answer 200 text/plain `key=NEW` and b bytes more (once)
    {"no_overlap": n}           (create-then-revoke vendors) the next n creates also invalidate the
                                presented key, as a single-phase vendor does (a misdeclared overlap)
    {"ignore_revoke": n}        answer the next n revokes 204 and revoke nothing
    {"fail_revoke": n}          answer the next n revokes 500 and revoke nothing
    {"reuse_key_id": n}         (create-then-revoke vendors) the next n creates make a key but answer
                                with the presented key's id in place of the new key's
    {"redirect_rotate": n}      answer the next n rotate calls 307 (a redirect) without rotating
    {"see_other_rotate": n}     rotate, then answer 303 (See Other) with a Location and no key, as a
                                server that carried the POST out and points elsewhere does, n times
    {"broken_rotate_answer": n} rotate, then send the documented answer (padded) with its full
                                Content-Length but only its first half, and close the connection
                                (the key is in the half that arrives), n times
  fail_after_rotate, kill_after_rotate and empty_after_rotate answer at once; the waits (hang,
  late_status, late_body) are left for an answer that carries a key, and pad_rotate_answer pads
  the JSON ones.
  One body fault shapes one answer, in the order echo_old_key, key_in_undocumented_field,
  odd_rotate_answer, non_json_rotate_answer, binary_rotate_answer.
* `GET /_sim/calls[?key_sha256=HEX]` -> {"calls": n, "log": [...]}: every request to a vendor path so
  far, routed or not, or only those with a header value (a Bearer value also without its prefix)
  whose SHA-256 starts with the 12 hex digits HEX (the last 100 listed with method, path and the
  fingerprints of their header values)
* `POST /_sim/accounts/<id>/revoke` invalidates the live key without telling anyone
  (a person rotated it in the vendor's dashboard).

Run: python tools/vendor_sim.py [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]
It prints one JSON line, {"endpoint": "http://HOST:PORT"}, once it is listening.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

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
    "fail_verifications",
    "fail_verifications_after_rotate",
    "replica_lag",
    "rate_limit_header",
    "odd_rotate_answer",
    "pad_rotate_answer",
    "same_key_rotate",
    "key_in_undocumented_field",
    "non_json_rotate_answer",
    "binary_rotate_answer",
    "late_status",
    "late_body",
    "echo_old_key",
    "kill_after_rotate",
    "big_rotate_answer",
    "broken_rotate_answer",
    "no_overlap",
    "ignore_revoke",
    "fail_revoke",
    "reuse_key_id",
    "redirect_rotate",
    "see_other_rotate",
)

LOCK = threading.Lock()
ACCOUNTS: dict[str, dict[str, Any]] = {}
# Every vendor call, whether its key is known or not: a key sent to the wrong vendor shows here.
VENDOR_CALLS: list[dict[str, Any]] = []
KEY_OWNER: dict[tuple[str, str], str] = {}  # (vendor, key ever issued) -> account id
CALCOM_WINDOWS: dict[str, list[float]] = {}  # key -> [window start, count]


class SimVendor:
    """One simulated vendor: where it lives under the simulator, the function's variable for its
    base URL, how a request presents the key (a header, and what comes before the key in it), its
    routes, and the shapes of its answers. A new vendor is a subclass and a line in VENDORS; the
    state machine (accounts, keys, faults) in Handler is shared."""

    prefix = ""
    env: str | None = None
    auth = ("", "")
    # A path segment `{id}` matches any one segment (a key id).
    routes: dict[tuple[str, str], str] = {}
    # Create-then-revoke: a rotate call leaves the presented key live.
    overlap = False
    # The ROTATION_VENDORS declaration of this vendor, without base_url (None: built in only).
    declaration: dict[str, Any] | None = None
    # Shipped in the function's catalog (src/vendors/catalog/<name>.json): tests point it here
    # with an override of its base_url.
    catalog = False
    # The status a dead or unknown key gets (Databricks and Vercel answer 403).
    dead_status = 401
    # The status of a successful rotate call.
    created_status = 200
    # Headers and query parameters every call must carry (400 without them).
    required_headers: dict[str, str] = {}
    required_query: dict[str, dict[str, str]] = {}
    # Revoke by body: the JSON field that names the key's id (Databricks).
    revoke_id_field: str | None = None
    # GitLab's reuse detection: a rotate call with a key already rotated away revokes every key.
    reuse_detection = False
    # Cloudflare's roll: the token keeps its id, which the rotate path names (another id: 404).
    keeps_id = False

    def new_key(self, old: str | None) -> str:
        return str(uuid.uuid4())

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        """A successful rotate answer for the key `key` with the id `key_id`."""
        raise NotImplementedError

    def rotated_without_key(self) -> dict[str, Any]:
        return {"message": "ok"}

    def odd(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The key where it belongs, but not the documented shape around it."""
        return dict(answer, message=None, rotated_at=[2026, 11, 24], nested={"deep": {"x": 1}})

    def undocumented(self, key: str) -> dict[str, Any]:
        """A successful rotate answer with the key under a field the vendor never documented."""
        raise NotImplementedError

    def non_json(self, key: str) -> tuple[bytes, str]:
        """A rotate answer that is not JSON but holds the key: the body and its Content-Type."""
        return b"key=" + key.encode(), "text/plain"

    def binary(self, key: str) -> tuple[bytes, str]:
        """A rotate answer that is not UTF-8 at all, the key's bytes inside it."""
        return b"\xff\xfe" + key.encode() + b"\x00\xff", "application/octet-stream"

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        """A successful verify answer."""
        raise NotImplementedError

    def profile_of(self, account: dict[str, Any], key_id: str) -> dict[str, Any]:
        """A successful verify answer for the key whose id is `key_id` (some vendors name it)."""
        return self.profile(account)

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        """The body of a 400, 401, 403 or 500."""
        return {"message": message or {401: "unauthorized", 403: "forbidden"}.get(status, "internal error")}

    def rate_limit(self, seconds: int) -> tuple[dict[str, Any], dict[str, str]]:
        """A 429's body and headers."""
        return {"message": "rate limit exceeded"}, {"Retry-After": str(seconds)}

    def throttled(self, key: str) -> float | None:
        """The vendor's own rate limit: seconds until the key may call again, or None."""
        return None

    def rotate_body(self, raw: bytes, account: dict[str, Any]) -> dict[str, Any]:
        """The rotate call's body as the vendor takes it; raises BadRequest."""
        return {}


class BadRequest(Exception):
    pass


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; raises BadRequest."""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


class CalCom(SimVendor):
    prefix = "/calcom"
    env = "CALCOM_BASE_URL"
    auth = ("Authorization", "Bearer ")
    routes = {("POST", "/v2/api-keys/refresh"): "rotate", ("GET", "/v2/me"): "verify"}
    ERRORS = {
        400: "BadRequestException",
        401: "UnauthorizedException",
        403: "ForbiddenException",
        500: "InternalServerErrorException",
    }
    MESSAGES = {
        401: "ApiAuthStrategy - api key - Your api key is not valid",
        403: "Forbidden resource",
        500: "Internal server error",
    }

    def new_key(self, old: str | None) -> str:
        prefix = old[:-32] if old and len(old) > 32 else "cal_live_"
        return prefix + secrets.token_hex(16)

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"status": "success", "data": {"apiKey": key}}

    def rotated_without_key(self) -> dict[str, Any]:
        return {"status": "success", "data": {}}

    def odd(self, answer: dict[str, Any]) -> dict[str, Any]:
        return {"status": "ok", "data": dict(answer["data"], expiresAt=None, note=7), "meta": [1, 2]}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"status": "success", "data": {"key": key}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "success",
            "data": {"id": 4242, "username": "owner", "email": account["email"], "timeZone": "UTC"},
        }

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {
            "status": "error",
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "path": path,
            "error": {"code": self.ERRORS[status], "message": message or self.MESSAGES[status]},
        }

    def rate_limit(self, seconds: int) -> tuple[dict[str, Any], dict[str, str]]:
        headers = {
            "X-RateLimit-Limit-Default": str(CALCOM_LIMIT_PER_MINUTE),
            "X-RateLimit-Remaining-Default": "0",
            "X-RateLimit-Reset-Default": str(seconds),
        }
        body = {"status": "error", "error": {"code": "ThrottlerException", "message": "Too many requests. Please try again later."}}
        return body, headers

    def throttled(self, key: str) -> float | None:
        now = time.monotonic()
        window = CALCOM_WINDOWS.setdefault(key, [now, 0])
        if now - window[0] >= 60:
            window[0], window[1] = now, 0
        window[1] += 1
        if window[1] > CALCOM_LIMIT_PER_MINUTE:
            return 60 - (now - window[0])
        return None

    def rotate_body(self, raw: bytes, account: dict[str, Any]) -> dict[str, Any]:
        """Cal.com's body rules."""
        body = json_object(raw)
        days, never = body.get("apiKeyDaysValid"), body.get("apiKeyNeverExpires")
        if days is not None and never is not None:
            raise BadRequest("Cannot set both apiKeyDaysValid and apiKeyNeverExpires")
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 1):
            raise BadRequest("apiKeyDaysValid must be an integer not less than 1")
        if never is not None and not isinstance(never, bool):
            raise BadRequest("apiKeyNeverExpires must be a boolean value")
        account["expires_in_days"] = None if never else (days or 30)
        return {k: body[k] for k in ("apiKeyDaysValid", "apiKeyNeverExpires") if k in body}


class Ringg(SimVendor):
    prefix = "/ringg/ca/api/v0"
    env = "RINGG_BASE_URL"
    auth = ("X-API-KEY", "")
    routes = {("PATCH", "/workspace/api-key"): "rotate", ("GET", "/workspace"): "verify"}
    declaration = {
        "auth": {"header": "X-API-KEY"},
        "rotate": {"method": "PATCH", "path": "/workspace/api-key", "key": "/new_api_key"},
        "verify": {"method": "GET", "path": "/workspace"},
    }

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"new_api_key": key}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"api_key_v2": key}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
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

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        detail = {401: "Invalid or missing API key", 403: "Key is valid but lacks permission"}
        return {"detail": message or detail.get(status, "Internal Server Error")}

    def rate_limit(self, seconds: int) -> tuple[dict[str, Any], dict[str, str]]:
        return {"detail": "Rate limit exceeded"}, {"Retry-After": str(seconds)}


class ProjectDiscovery(SimVendor):
    prefix = "/projectdiscovery"
    env = "PROJECTDISCOVERY_BASE_URL"
    auth = ("X-API-Key", "")
    routes = {
        ("POST", "/v1/user/apikey/rotate"): "rotate",
        ("GET", "/v1/user"): "verify",
        ("GET", "/v1/user/apikey"): "read_key",
    }
    declaration = {
        "auth": {"header": "X-API-Key"},
        "rotate": {"method": "POST", "path": "/v1/user/apikey/rotate", "key": "/api_key"},
        "verify": {"method": "GET", "path": "/v1/user", "vouch": "/email"},
    }

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"message": "API key rotated successfully", "api_key": key}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"message": "API key rotated successfully", "apiKey": key}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"name": "owner", "email": account["email"], "plan": "PRO", "role": "owner"}

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        if status == 401 and not message:
            message = "User is not authorized to perform this action"
        return super().error(status, path, message)

    def rate_limit(self, seconds: int) -> tuple[dict[str, Any], dict[str, str]]:
        return {"message": "rate limit exceeded"}, {"x-ratelimit-reset": str(int(time.time()) + seconds)}


class Acme(SimVendor):
    """A single-phase vendor no release knows, declared by the deployer: the key after a `Token `
    prefix, the new key deep in the answer, a body on the rotate call, and a profile that vouches
    for the key by an account id (a 200 with an empty profile means a dead key)."""

    prefix = "/acme/api"
    auth = ("Authorization", "Token ")
    routes = {("POST", "/v1/keys/rotate"): "rotate", ("GET", "/v1/whoami"): "verify"}
    declaration = {
        "auth": {"header": "Authorization", "prefix": "Token "},
        "rotate": {"method": "POST", "path": "/v1/keys/rotate", "body": {"reason": "scheduled"}, "key": "/data/secret"},
        "verify": {"method": "GET", "path": "/v1/whoami", "refused": [401, 403], "vouch": "/account/id"},
    }

    def new_key(self, old: str | None) -> str:
        return "acme_" + secrets.token_hex(20)

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"data": {"secret": key, "scope": "all"}}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"data": {"token": key}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"account": {"id": account["account"], "plan": "team"}}

    def rotate_body(self, raw: bytes, account: dict[str, Any]) -> dict[str, Any]:
        return json_object(raw)


class DualKey(SimVendor):
    """A create-then-revoke vendor: POST /v2/keys makes a second key and leaves the presented one
    live; DELETE /v2/keys/<id> revokes a key by id; at most two live keys per account."""

    prefix = "/dualkey"
    auth = ("X-Dual-Key", "")
    overlap = True
    routes = {
        ("POST", "/v2/keys"): "rotate",
        ("GET", "/v2/me"): "verify",
        ("DELETE", "/v2/keys/{id}"): "revoke",
    }
    declaration = {
        "auth": {"header": "X-Dual-Key"},
        "rotate": {"method": "POST", "path": "/v2/keys", "body": {"name": "rotated"}, "key": "/key/secret"},
        "verify": {"method": "GET", "path": "/v2/me", "vouch": "/user/id"},
        "overlap": {
            "key_id": "/key/id",
            "revoke": {"method": "DELETE", "path": "/v2/keys/{key_id}"},
            "grace_seconds": 0,
        },
    }

    def new_key(self, old: str | None) -> str:
        return "dk_" + secrets.token_urlsafe(24)

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"key": {"id": key_id, "secret": key, "name": "rotated"}}

    def rotated_without_key(self) -> dict[str, Any]:
        return {"key": {"name": "rotated"}}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"key": {"token": key}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"user": {"id": account["account"], "keys": len(account["live_keys"])}}


def nest(pointer: str, value: Any) -> dict[str, Any]:
    """`value` at the JSON pointer `pointer` of an otherwise empty object."""
    out: Any = value
    for part in reversed(pointer.strip("/").split("/")):
        out = {part: out}
    return out


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for name, value in part.items():
            out[name] = merged(out[name], value) if isinstance(out.get(name), dict) and isinstance(value, dict) else value
    return out


def future(seconds: float, what: str, at_most: float | None = None) -> None:
    """Raises BadRequest unless `seconds` from now is in the future (and within `at_most`)."""
    if seconds <= 60:
        raise BadRequest(f"{what} must be in the future")
    if at_most is not None and seconds > at_most:
        raise BadRequest(f"{what} is further than the vendor allows")


class CatalogVendor(SimVendor):
    """A vendor of the function's catalog, as its documentation describes it: where its key and
    the key's id are in a create answer, what a verify call answers, its dead-key status, and what
    its create call insists on (each subclass's `check_body`)."""

    catalog = True
    key_at = "/token"
    id_at: str | None = None
    key_prefix = ""

    def new_key(self, old: str | None) -> str:
        return self.key_prefix + secrets.token_hex(20)

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return merged(self.extra(), nest(self.key_at, key), nest(self.id_at, key_id) if self.id_at else {})

    def rotated_without_key(self) -> dict[str, Any]:
        return self.extra()

    def undocumented(self, key: str) -> dict[str, Any]:
        return merged(self.extra(), {"secret": key})

    def extra(self) -> dict[str, Any]:
        """What a create answer holds besides the key and its id."""
        return {"created_at": int(time.time())}

    def rotate_body(self, raw: bytes, account: dict[str, Any]) -> dict[str, Any]:
        body = json_object(raw) if raw else {}
        self.check_body(body)
        return body

    def check_body(self, body: dict[str, Any]) -> None:
        pass


class GitLab(CatalogVendor):
    """GitLab personal access tokens, self-rotate: the old token dies, the new one gets the
    `expires_at` date sent (one week without it, at most 365 days), and a rotate call with a token
    already rotated away revokes the whole family (reuse detection)."""

    prefix = "/gitlab/api/v4"
    auth = ("PRIVATE-TOKEN", "")
    routes = {("POST", "/personal_access_tokens/self/rotate"): "rotate", ("GET", "/personal_access_tokens/self"): "verify"}
    key_prefix = "glpat-"
    reuse_detection = True

    def new_key(self, old: str | None) -> str:
        return "glpat-" + secrets.token_urlsafe(15)[:20]

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"id": int(key_id[2:], 16), "name": "rotator", "revoked": False, "active": True, "scopes": ["api"], "token": key}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"id": 4242, "name": "rotator", "active": True, "revoked": False, "scopes": ["api"]}

    def check_body(self, body: dict[str, Any]) -> None:
        text = body.get("expires_at")
        if not isinstance(text, str):
            raise BadRequest("expires_at is missing: the token would expire in a week")
        try:
            date = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise BadRequest("expires_at is not a date (YYYY-MM-DD)")
        today = datetime.now(timezone.utc).date()
        days = (date - today).days
        if days <= 0 or days > 365:
            raise BadRequest("expires_at must be in the future and at most 365 days away")


class Vercel(CatalogVendor):
    """Vercel user tokens: a create leaves the presented token live; the token metadata call names
    the presented token's id; a dead token gets 403; `expiresAt` is epoch milliseconds."""

    prefix = "/vercel"
    auth = ("Authorization", "Bearer ")
    overlap = True
    dead_status = 403
    routes = {("POST", "/v3/user/tokens"): "rotate", ("GET", "/v5/user/tokens/current"): "verify", ("DELETE", "/v3/user/tokens/{id}"): "revoke"}
    key_at, id_at = "/bearerToken", "/token/id"

    def new_key(self, old: str | None) -> str:
        return secrets.token_urlsafe(18)[:24]

    def extra(self) -> dict[str, Any]:
        return {"token": {"name": "api-key-rotator", "type": "oauth2-token", "origin": "manual"}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"token": {"name": "api-key-rotator"}}

    def profile_of(self, account: dict[str, Any], key_id: str) -> dict[str, Any]:
        return {"token": {"id": key_id, "name": "api-key-rotator", "type": "oauth2-token"}}

    def check_body(self, body: dict[str, Any]) -> None:
        if not isinstance(body.get("name"), str):
            raise BadRequest("name is required")
        expires = body.get("expiresAt")
        if expires is not None:
            if not isinstance(expires, int):
                raise BadRequest("expiresAt must be a number")
            future(expires / 1000 - time.time(), "expiresAt (milliseconds)")

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"error": {"code": {403: "forbidden", 401: "unauthorized"}.get(status, "bad_request"), "message": message or "Not authorized", "invalidToken": status == 403}}


class Databricks(CatalogVendor):
    """Databricks personal access tokens: the workspace URL is the base URL, a dead token gets 403,
    and a token is revoked by a POST whose body names it."""

    prefix = "/databricks"
    auth = ("Authorization", "Bearer ")
    overlap = True
    dead_status = 403
    revoke_id_field = "token_id"
    routes = {("POST", "/api/2.0/token/create"): "rotate", ("GET", "/api/2.0/token/list"): "verify", ("POST", "/api/2.0/token/delete"): "revoke"}
    key_at, id_at = "/token_value", "/token_info/token_id"
    key_prefix = "dapi"

    def extra(self) -> dict[str, Any]:
        return {"token_info": {"comment": "api-key-rotator", "creation_time": int(time.time() * 1000)}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"token_infos": [{"token_id": i, "comment": "api-key-rotator"} for i in account["live_keys"]]}

    def check_body(self, body: dict[str, Any]) -> None:
        lifetime = body.get("lifetime_seconds")
        if lifetime is not None and (not isinstance(lifetime, int) or lifetime <= 0):
            raise BadRequest("lifetime_seconds must be a positive whole number")

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        if status == 403:
            return {"error_code": "403", "message": "Invalid access token."}
        return {"error_code": "INVALID_PARAMETER_VALUE", "message": message or "error"}


class Linode(CatalogVendor):
    """Linode (Akamai) personal access tokens: `expiry` a date-time, ids are integers."""

    prefix = "/linode/v4"
    auth = ("Authorization", "Bearer ")
    overlap = True
    routes = {("POST", "/profile/tokens"): "rotate", ("GET", "/profile"): "verify", ("DELETE", "/profile/tokens/{id}"): "revoke"}
    key_at, id_at = "/token", "/id"

    def extra(self) -> dict[str, Any]:
        return {"label": "api-key-rotator", "scopes": "*", "created": "2026-12-08T00:00:00"}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"username": f"user-{account['account']}", "email": account["email"]}

    def check_body(self, body: dict[str, Any]) -> None:
        label = body.get("label")
        if not isinstance(label, str) or not 1 <= len(label) <= 100:
            raise BadRequest("label must be 1 to 100 characters")
        expiry = body.get("expiry")
        if expiry is not None:
            try:
                at = datetime.fromisoformat(str(expiry).replace("Z", "+00:00"))
            except ValueError:
                raise BadRequest("expiry is not a date-time")
            future(at.timestamp() - time.time(), "expiry")

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"errors": [{"reason": message or {401: "Invalid Token"}.get(status, "error")}]}


class OpenAIAdmin(CatalogVendor):
    """OpenAI admin API keys: a key's value is shown once, in the create answer."""

    prefix = "/openai-admin/v1"
    auth = ("Authorization", "Bearer ")
    overlap = True
    routes = {("POST", "/organization/admin_api_keys"): "rotate", ("GET", "/organization/admin_api_keys"): "verify", ("DELETE", "/organization/admin_api_keys/{id}"): "revoke"}
    required_query = {"verify": {"limit": "1"}}
    key_at, id_at = "/value", "/id"
    key_prefix = "sk-admin-"

    def extra(self) -> dict[str, Any]:
        return {"object": "organization.admin_api_key", "name": "api-key-rotator", "redacted_value": "sk-admin...xyz"}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"object": "list", "data": [{"object": "organization.admin_api_key", "id": next(iter(account["live_keys"]))}], "has_more": True}

    def check_body(self, body: dict[str, Any]) -> None:
        if not isinstance(body.get("name"), str):
            raise BadRequest("name is required")

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"error": {"message": message or "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key" if status == 401 else None}}


class ElasticCloud(CatalogVendor):
    """Elastic Cloud API keys: `Authorization: ApiKey …`, 201 on create."""

    prefix = "/elastic-cloud/api/v1"
    auth = ("Authorization", "ApiKey ")
    overlap = True
    created_status = 201
    routes = {("POST", "/users/auth/keys"): "rotate", ("GET", "/account"): "verify", ("DELETE", "/users/auth/keys/{id}"): "revoke"}
    key_at, id_at = "/key", "/id"

    def new_key(self, old: str | None) -> str:
        return base64.b64encode(secrets.token_bytes(30)).decode()

    def extra(self) -> dict[str, Any]:
        return {"description": "api-key-rotator", "creation_date": "2026-12-08T00:00:00Z"}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"id": account["account"], "trust": {"trust_all": True}}

    def check_body(self, body: dict[str, Any]) -> None:
        if not isinstance(body.get("description"), str):
            raise BadRequest("description is required")

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"errors": [{"code": "root.unauthenticated" if status == 401 else "root.error", "message": message or "The supplied authentication is invalid"}]}


class Ngrok(CatalogVendor):
    """ngrok API keys: every call must carry `Ngrok-Version: 2`; 201 on create, 204 on delete."""

    prefix = "/ngrok"
    auth = ("Authorization", "Bearer ")
    overlap = True
    created_status = 201
    required_headers = {"Ngrok-Version": "2"}
    required_query = {"verify": {"limit": "1"}}
    routes = {("POST", "/api_keys"): "rotate", ("GET", "/api_keys"): "verify", ("DELETE", "/api_keys/{id}"): "revoke"}
    key_at, id_at = "/token", "/id"

    def extra(self) -> dict[str, Any]:
        return {"uri": "https://api.ngrok.com/api_keys/ak_x", "description": "api-key-rotator"}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"keys": [{"id": next(iter(account["live_keys"]))}], "uri": "https://api.ngrok.com/api_keys", "next_page_uri": None}

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"error_code": "ERR_NGROK_203" if status == 401 else "ERR_NGROK_100", "status_code": status, "msg": message or "The authentication you specified is not valid."}


class Cloudflare(CatalogVendor):
    """Cloudflare user API tokens, rolled: `PUT /user/tokens/<id>/value` with the presented token's
    own id (from `GET /user/tokens/verify`), the old secret dies, the id stays."""

    prefix = "/cloudflare/client/v4"
    auth = ("Authorization", "Bearer ")
    keeps_id = True
    routes = {("PUT", "/user/tokens/{id}/value"): "rotate", ("GET", "/user/tokens/verify"): "verify"}
    key_at = "/result"

    def new_key(self, old: str | None) -> str:
        return secrets.token_urlsafe(30)[:40]

    def rotated(self, key: str, key_id: str) -> dict[str, Any]:
        return {"success": True, "errors": [], "messages": [], "result": key}

    def undocumented(self, key: str) -> dict[str, Any]:
        return {"success": True, "errors": [], "result": {"value": key}}

    def profile_of(self, account: dict[str, Any], key_id: str) -> dict[str, Any]:
        return {"success": True, "errors": [], "result": {"id": key_id, "status": "active"}}

    def profile(self, account: dict[str, Any]) -> dict[str, Any]:
        return {"success": True, "errors": [], "result": {"status": "active"}}

    def error(self, status: int, path: str, message: str = "") -> dict[str, Any]:
        return {"success": False, "errors": [{"code": 1000 if status == 401 else 7003, "message": message or "Invalid API Token"}], "result": None}


# The simulated vendors: the one list of them outside the Rust code (tools/demo.py and
# bench/run.py import it; the Rust tests read it from `GET /_sim/vendors`).
VENDORS: dict[str, SimVendor] = {
    "calcom": CalCom(),
    "ringg": Ringg(),
    "projectdiscovery": ProjectDiscovery(),
    "acme": Acme(),
    "dualkey": DualKey(),
    "gitlab": GitLab(),
    "vercel": Vercel(),
    "databricks": Databricks(),
    "linode": Linode(),
    "openai-admin": OpenAIAdmin(),
    "elastic-cloud": ElasticCloud(),
    "ngrok": Ngrok(),
    "cloudflare": Cloudflare(),
}


def new_key_id() -> str:
    return "k-" + secrets.token_hex(6)


def is_live(account: dict[str, Any], key: str | None) -> bool:
    return key is not None and key in account["live_keys"].values()


def route(spec: SimVendor, method: str, rest: str) -> tuple[str | None, str | None]:
    """The action for `method rest` at the vendor, and the id a `{id}` segment matched."""
    parts = rest.split("/")
    for (route_method, pattern), action in spec.routes.items():
        wanted = pattern.split("/")
        if route_method != method or len(wanted) != len(parts):
            continue
        matched = None
        for want, got in zip(wanted, parts):
            if want == "{id}" and got:
                matched = got
            elif want != got:
                break
        else:
            return action, matched
    return None, None


def verify_route(vendor: str) -> tuple[str, str]:
    """The method and path of the vendor's verify call."""
    return next(route for route, action in VENDORS[vendor].routes.items() if action == "verify")


def auth_header(vendor: str, key: str) -> dict[str, str]:
    """The header that presents `key` to the vendor."""
    name, before = VENDORS[vendor].auth
    return {name: before + key}


def create_account(vendor: str, key: str | None, key_cap: int = 2) -> dict[str, Any]:
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}")
    if not isinstance(key_cap, int) or isinstance(key_cap, bool) or key_cap < 2:
        raise ValueError("key_cap is a whole number of keys, at least 2")
    account = uuid.uuid4().hex[:12]
    key = key or VENDORS[vendor].new_key(None)
    key_id = new_key_id()
    ACCOUNTS[account] = {
        "account": account,
        "vendor": vendor,
        "live_key": key,
        "live_keys": {key_id: key},
        "revoked": [],
        "revoke_calls": 0,
        "key_cap": key_cap,
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
        # Every call with the key of this account, every rotation and its answer, and when the
        # last rotation's answer began to go out, on the system's monotonic clock (comparable
        # with moto_server.py's "At").
        "calls": [],
        "rotation_log": [],
        "rotate_answered": None,
    }
    KEY_OWNER[(vendor, key)] = account
    return {"account": account, "key": key, "key_id": key_id, "base_path": VENDORS[vendor].prefix}


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

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.reply_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def reply_raw(
        self,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        body_delay: float = 0.0,
        truncate: int | None = None,
    ) -> None:
        """Any body as it is; with body_delay, the status line and headers go out first, then the
        body that many seconds later; with truncate, only that many bytes of it, and the connection
        closes short of its Content-Length."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()  # writes the headers to the socket (wfile is unbuffered)
            if body_delay:
                self.wfile.flush()
                time.sleep(body_delay)
            if truncate is not None:
                self.wfile.write(data[:truncate])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test): the state change stands

    def dispatch(self, method: str) -> None:
        raw = self.body()
        path = self.path.split("?", 1)[0]
        if path.startswith("/_sim/"):
            return self.control(method, path, raw)
        self.log_call(method, path)
        for vendor, spec in VENDORS.items():
            prefix = spec.prefix
            if path.startswith(prefix + "/"):
                action, key_id = route(spec, method, path[len(prefix) :])
                if action:
                    if not self.carries_what(spec, action):
                        return self.reply(400, spec.error(400, path, "a required header or query parameter is missing"))
                    if action == "revoke" and spec.revoke_id_field:
                        try:
                            key_id = str(json_object(raw).get(spec.revoke_id_field) or "")
                        except BadRequest as refused:
                            return self.reply(400, spec.error(400, path, str(refused)))
                    return self.vendor_call(vendor, action, path, raw, key_id)
        self.reply(404, {"message": f"no route {method} {path}"})

    def carries_what(self, spec: SimVendor, action: str) -> bool:
        """Whether the request carries the headers and query parameters the vendor requires."""
        query = parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "")
        wanted = spec.required_query.get(action, {})
        return all(self.headers.get(name) == value for name, value in spec.required_headers.items()) and all(
            query.get(name) == [value] for name, value in wanted.items()
        )

    def log_call(self, method: str, path: str) -> None:
        """Every request to a vendor path, routed or not, with the fingerprint of every header value
        (a Bearer value also without its prefix): a key sent anywhere here is seen."""
        values = [value for _, value in self.headers.items()]
        # A value with a scheme before the key (`Bearer `, `ApiKey `, `Token `) also without it.
        values += [value.split(" ", 1)[1] for value in values if " " in value]
        fingerprints = sorted({hashlib.sha256(value.encode()).hexdigest()[:12] for value in values})
        with LOCK:
            VENDOR_CALLS.append({"method": method, "path": path, "key_sha256": fingerprints})

    # -- control ----------------------------------------------------------------------------
    def control(self, method: str, path: str, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        parts = path.strip("/").split("/")  # _sim, accounts, id?, action?
        with LOCK:
            if method == "GET" and parts == ["_sim", "calls"]:
                wanted = parse_qs(self.path.split("?", 1)[1] if "?" in self.path else "").get("key_sha256", [None])[0]
                calls = [call for call in VENDOR_CALLS if wanted is None or wanted in call["key_sha256"]]
                return self.reply(200, {"calls": len(calls), "log": calls[-100:]})
            if method == "GET" and parts == ["_sim", "health"]:
                return self.reply(200, {"ok": True})
            if method == "GET" and parts == ["_sim", "vendors"]:
                vendors = {
                    name: {"prefix": v.prefix, "env": v.env, "declaration": v.declaration, "catalog": v.catalog, "overlap": v.overlap}
                    for name, v in VENDORS.items()
                }
                return self.reply(200, vendors)
            if method == "POST" and parts == ["_sim", "accounts"]:
                try:
                    return self.reply(200, create_account(body.get("vendor", ""), body.get("key"), body.get("key_cap", 2)))
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
                    pid = body.get("kill_after_rotate", 0)
                    if not isinstance(pid, int) or isinstance(pid, bool) or pid < 0 or pid == os.getpid():
                        message = "kill_after_rotate takes a positive process id other than the simulator's, or 0"
                        return self.reply(400, {"message": message})
                    account["faults"].update({k: v for k, v in body.items()})
                    return self.reply(200, public(account))
                if method == "POST" and parts[3:] == ["keys"]:
                    # Another live key of the account (another application's, say): a new id.
                    key, key_id = VENDORS[account["vendor"]].new_key(None), new_key_id()
                    account["live_keys"][key_id] = key
                    KEY_OWNER[(account["vendor"], key)] = account["account"]
                    return self.reply(200, {"key": key, "key_id": key_id})
                if method == "POST" and parts[3:] == ["revoke"]:
                    old = account["live_key"]
                    account["live_key"] = VENDORS[account["vendor"]].new_key(old)
                    account["live_keys"] = {i: k for i, k in account["live_keys"].items() if k != old}
                    account["live_keys"][new_key_id()] = account["live_key"]
                    KEY_OWNER[(account["vendor"], account["live_key"])] = account["account"]
                    return self.reply(200, {"revoked": True})
        self.reply(404, {"message": f"no control route {method} {path}"})

    # -- the vendors --------------------------------------------------------------------------
    def presented_key(self, vendor: str) -> str | None:
        name, before = VENDORS[vendor].auth
        value = self.headers.get(name)  # header names are case-insensitive
        if value is None or not value.startswith(before):
            return None
        return value[len(before) :] or None

    def vendor_call(self, vendor: str, action: str, path: str, raw: bytes, key_id: str | None = None) -> None:
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
                if action == "verify" and faults["fail_verifications"] > 0:
                    faults["fail_verifications"] -= 1
                    return self.server_error(vendor, path)
            if key is not None:
                limited = VENDORS[vendor].throttled(key)
                if limited is not None:
                    return self.rate_limited(vendor, limited)
            stale = (
                account is not None
                and not is_live(account, key)
                and key == account["stale_key"]
                and time.monotonic() < account["stale_until"]
            )
            if account is not None and action == "rotate" and VENDORS[vendor].reuse_detection and not is_live(account, key):
                # A token already rotated away, presented again: the whole family is revoked.
                account["live_keys"].clear()
                return self.unauthorized(vendor, path)
            if account is None or (not is_live(account, key) and not stale):
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
                return self.reply(200, VENDORS[vendor].profile_of(account, self.id_of(account, key or "")))
            if action == "read_key":
                return self.reply(200, {"message": "ok", "api_key": account["live_key"]})
            if action == "revoke":
                return self.revoke_key(vendor, path, account, key_id or "")

            # rotate
            if faults["fail_before_rotate"] > 0:
                faults["fail_before_rotate"] -= 1
                return self.server_error(vendor, path)
            if faults["redirect_rotate"] > 0:
                faults["redirect_rotate"] -= 1
                return self.reply(307, {"message": "moved"}, {"Location": "https://elsewhere.invalid/keys"})
            try:
                body = VENDORS[vendor].rotate_body(raw, account)
            except BadRequest as refused:
                return self.reply(400, VENDORS[vendor].error(400, path, str(refused)))
            spec = VENDORS[vendor]
            if faults["same_key_rotate"] > 0:
                faults["same_key_rotate"] -= 1
                return self.reply(200, spec.rotated(key, self.id_of(account, key)))
            if spec.overlap and len(account["live_keys"]) >= account["key_cap"]:
                cap = account["key_cap"]
                return self.reply(409, spec.error(409, path, f"an account holds at most {cap} live keys: revoke one first"))
            if spec.keeps_id and key_id != self.id_of(account, key):
                return self.reply(404, spec.error(404, path, "no such token"))
            fresh, fresh_id = spec.new_key(key), (self.id_of(account, key) if spec.keeps_id else new_key_id())
            keep_presented = spec.overlap and not (faults["no_overlap"] > 0)
            if faults["no_overlap"] > 0:
                faults["no_overlap"] -= 1
            if not keep_presented:
                account["live_keys"] = {i: k for i, k in account["live_keys"].items() if k != key}
            account["live_keys"][fresh_id] = fresh
            account["live_key"] = fresh
            account["rotations"] += 1
            account["last_rotate_body"] = body
            if faults["fail_verifications_after_rotate"]:
                faults["fail_verifications"] = faults["fail_verifications_after_rotate"]
                faults["fail_verifications_after_rotate"] = 0
            if faults["replica_lag"]:
                account["stale_key"], account["stale_until"] = key, time.monotonic() + float(faults["replica_lag"])
            KEY_OWNER[(vendor, fresh)] = account["account"]
            rotation: dict[str, Any] = {
                "rotated_at": time.monotonic(),
                "old_key": key,
                "new_key": fresh,
                "answer": None,
                "status": None,
                "content_type": None,
                "length": None,
                "answered_key": None,
                "late_status": 0.0,
                "late_body": 0.0,
                "answered_at": None,
                "killed": None,
                "kill_error": None,
            }
            account["rotation_log"].append(rotation)
            if faults["kill_after_rotate"]:
                pid, faults["kill_after_rotate"] = int(faults["kill_after_rotate"]), 0
                rotation.update(answer="killed", killed=pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError as err:
                    rotation["kill_error"] = str(err)
                self.close_connection = True  # and no answer: the connection just closes
                return None
            if faults["see_other_rotate"] > 0:
                faults["see_other_rotate"] -= 1
                rotation.update(answer="see_other", status=303)
                return self.reply(303, {"message": "created"}, {"Location": f"https://elsewhere.invalid/keys/{fresh_id}"})
            answered_id = fresh_id
            if spec.overlap and faults["reuse_key_id"] > 0:
                faults["reuse_key_id"] -= 1
                answered_id = self.id_of(account, key)
            status, data, content_type, shape, carried = self.rotate_answer(
                vendor, path, faults, (key, self.id_of(account, key)), (fresh, answered_id)
            )
            late_status = late_body = 0.0
            if 200 <= status < 300 and carried is not None:
                # hang_after_rotate and late_status are the same wait; both are consumed.
                late_status = float(faults["hang_after_rotate"] or 0) + float(faults["late_status"] or 0)
                late_body = float(faults["late_body"] or 0)
                faults["hang_after_rotate"] = faults["late_status"] = faults["late_body"] = 0
            rotation.update(
                answer=shape,
                status=status,
                content_type=content_type,
                length=len(data),
                answered_key=carried,
                late_status=late_status,
                late_body=late_body,
            )
        if late_status:
            time.sleep(late_status)
        with LOCK:
            # Just before the first byte: the answer cannot beat it.
            rotation["answered_at"] = account["rotate_answered"] = time.monotonic()
        self.reply_raw(
            status,
            data,
            content_type,
            body_delay=late_body,
            truncate=len(data) // 2 if shape == "broken_rotate_answer" else None,
        )

    @staticmethod
    def id_of(account: dict[str, Any], key: str) -> str:
        return next((i for i, k in account["live_keys"].items() if k == key), "")

    def revoke_key(self, vendor: str, path: str, account: dict[str, Any], key_id: str) -> None:
        """DELETE /keys/<id>: 204 once the key is revoked, 404 for an id that is not live."""
        faults = account["faults"]
        account["revoke_calls"] += 1
        if faults["fail_revoke"] > 0:
            faults["fail_revoke"] -= 1
            return self.server_error(vendor, path)
        if key_id not in account["live_keys"]:
            return self.reply(404, VENDORS[vendor].error(404, path, "no such key"))
        if faults["ignore_revoke"] > 0:
            faults["ignore_revoke"] -= 1
        else:
            del account["live_keys"][key_id]
            account["revoked"].append(key_id)
        self.reply_raw(204, b"", "application/json")

    def rotate_answer(
        self,
        vendor: str,
        path: str,
        faults: dict[str, Any],
        old_with_id: tuple[str, str],
        fresh_with_id: tuple[str, str],
    ) -> tuple[int, bytes, str, str, str | None]:
        """After a rotation, what the vendor answers, consuming the fault that shapes it: status,
        body, Content-Type, what shaped it (a fault's name or "documented"), and the key it carries."""
        spec = VENDORS[vendor]
        (old, old_id), (fresh, fresh_id) = old_with_id, fresh_with_id

        def take(name: str) -> bool:
            if faults[name] > 0:
                faults[name] -= 1
                return True
            return False

        def as_json(payload: dict[str, Any]) -> tuple[bytes, str]:
            return json.dumps(payload).encode(), "application/json"

        if take("fail_after_rotate"):
            return 500, *as_json(spec.error(500, path)), "fail_after_rotate", None
        if take("empty_after_rotate"):
            return 200, *as_json(spec.rotated_without_key()), "empty_after_rotate", None
        shape, carried = "documented", fresh
        answer = spec.rotated(fresh, fresh_id)
        if take("echo_old_key"):
            shape, carried, answer = "echo_old_key", old, spec.rotated(old, old_id)
        elif take("key_in_undocumented_field"):
            shape, answer = "key_in_undocumented_field", spec.undocumented(fresh)
        elif take("odd_rotate_answer"):
            shape, answer = "odd_rotate_answer", spec.odd(answer)
        elif take("non_json_rotate_answer"):
            return 200, *spec.non_json(fresh), "non_json_rotate_answer", fresh
        elif take("binary_rotate_answer"):
            return 200, *spec.binary(fresh), "binary_rotate_answer", fresh
        elif faults["big_rotate_answer"]:
            size, faults["big_rotate_answer"] = int(faults["big_rotate_answer"]), 0
            return 200, f"key={fresh}\n".encode() + b"x" * size, "text/plain", "big_rotate_answer", fresh
        elif take("broken_rotate_answer"):
            return 200, *as_json(dict(answer, padding="x" * 4096)), "broken_rotate_answer", fresh
        if faults["pad_rotate_answer"]:
            answer["padding"] = "x" * int(faults["pad_rotate_answer"])
        return spec.created_status, *as_json(answer), shape, carried

    def unauthorized(self, vendor: str, path: str) -> None:
        status = VENDORS[vendor].dead_status
        self.reply(status, VENDORS[vendor].error(status, path))

    def forbidden(self, vendor: str, path: str) -> None:
        self.reply(403, VENDORS[vendor].error(403, path))

    def server_error(self, vendor: str, path: str) -> None:
        self.reply(500, VENDORS[vendor].error(500, path))

    def rate_limited(self, vendor: str, reset: float, header: Any = 0) -> None:
        seconds = max(1, int(reset + 0.999))
        if header:
            name, value = header
            return self.reply(429, {"message": "rate limit exceeded"}, {name: str(value)})
        body, headers = VENDORS[vendor].rate_limit(seconds)
        self.reply(429, body, headers)


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
