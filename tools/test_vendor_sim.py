"""Tests of tools/vendor_sim.py's rotate faults, against the simulator run as a process.

Run: .venv/bin/python -m pytest -q tools/test_vendor_sim.py
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from conftest import serve

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vendor_sim  # noqa: E402  (the vendors' routes, auth headers and answer shapes)
from vendor_sim import VENDORS  # noqa: E402


UNDOCUMENTED = {
    "calcom": lambda key: {"status": "success", "data": {"key": key}},
    "ringg": lambda key: {"api_key_v2": key},
    "projectdiscovery": lambda key: {"message": "API key rotated successfully", "apiKey": key},
    "acme": lambda key: {"data": {"token": key}},
}
# The fault switches are tested on the vendors the simulator had before the catalog; the catalog's
# own behaviour has tests of its own below.
SINGLE_PHASE = sorted(name for name, vendor in VENDORS.items() if not vendor.overlap and not vendor.catalog)


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    yield from serve("vendor_sim.py")


def control(sim: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(sim + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def account(sim: str, vendor: str, **faults: Any) -> tuple[str, str]:
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": vendor})
    assert status == 200, created
    if faults:
        status, answer = control(sim, "POST", f"/_sim/accounts/{created['account']}/faults", faults)
        assert status == 200, answer
    return created["account"], created["key"]


def state(sim: str, account_id: str) -> dict[str, Any]:
    status, answer = control(sim, "GET", f"/_sim/accounts/{account_id}")
    assert status == 200, answer
    return answer


def rotate_request(sim: str, vendor: str, key: str) -> http.client.HTTPConnection:
    """Sends the vendor's rotate call; the caller reads the answer."""
    method, path = next(route for route, action in VENDORS[vendor].routes.items() if action == "rotate")
    url = urlsplit(sim)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = b"{}" if vendor in ("calcom", "acme", "dualkey") else None
    headers = vendor_sim.auth_header(vendor, key) | ({"Content-Type": "application/json"} if body else {})
    conn.request(method, VENDORS[vendor].prefix + path, body=body, headers=headers)
    return conn


def rotate(sim: str, vendor: str, key: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = rotate_request(sim, vendor, key)
    try:
        answer = conn.getresponse()
        body = answer.read()
        assert int(answer.headers["Content-Length"]) == len(body)
        return answer.status, answer.headers, body
    finally:
        conn.close()


def rotated_to(sim: str, account_id: str, old: str) -> str:
    """The live key, after checking that a rotation replaced `old` with it."""
    now = state(sim, account_id)
    assert now["live_key"] != old
    entry = now["rotation_log"][-1]
    assert (entry["old_key"], entry["new_key"]) == (old, now["live_key"])
    return now["live_key"]


@pytest.mark.parametrize("vendor", SINGLE_PHASE)
def test_key_in_undocumented_field(sim: str, vendor: str) -> None:
    account_id, key = account(sim, vendor, key_in_undocumented_field=2)
    for _ in range(2):
        status, headers, body = rotate(sim, vendor, key)
        fresh = rotated_to(sim, account_id, key)
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == UNDOCUMENTED[vendor](fresh)
        assert json.loads(body) != VENDORS[vendor].rotated(fresh, "")
        key = fresh
    status, _, body = rotate(sim, vendor, key)  # spent: the documented shape again
    assert (status, json.loads(body)) == (200, VENDORS[vendor].rotated(rotated_to(sim, account_id, key), ""))
    final = state(sim, account_id)
    assert final["faults"]["key_in_undocumented_field"] == 0
    assert [e["answer"] for e in final["rotation_log"]] == ["key_in_undocumented_field"] * 2 + ["documented"]


def test_non_json_rotate_answer(sim: str) -> None:
    account_id, key = account(sim, "ringg", non_json_rotate_answer=1)
    status, headers, body = rotate(sim, "ringg", key)
    fresh = rotated_to(sim, account_id, key)
    assert (status, headers["Content-Type"], body) == (200, "text/plain", b"key=" + fresh.encode())
    with pytest.raises(ValueError):
        json.loads(body)
    entry = state(sim, account_id)["rotation_log"][-1]
    assert (entry["answer"], entry["answered_key"], entry["length"]) == ("non_json_rotate_answer", fresh, len(body))
    status, headers, body = rotate(sim, "ringg", fresh)  # once: JSON again
    assert (status, headers["Content-Type"]) == (200, "application/json")


def test_binary_rotate_answer(sim: str) -> None:
    account_id, key = account(sim, "projectdiscovery", binary_rotate_answer=1)
    status, headers, body = rotate(sim, "projectdiscovery", key)
    fresh = rotated_to(sim, account_id, key)
    assert (status, headers["Content-Type"]) == (200, "application/octet-stream")
    assert body == b"\xff\xfe" + fresh.encode() + b"\x00\xff"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert state(sim, account_id)["faults"]["binary_rotate_answer"] == 0


def test_big_rotate_answer(sim: str) -> None:
    account_id, key = account(sim, "ringg", big_rotate_answer=100_000)
    status, headers, body = rotate(sim, "ringg", key)
    fresh = rotated_to(sim, account_id, key)
    assert (status, headers["Content-Type"]) == (200, "text/plain")
    assert body.startswith(b"key=" + fresh.encode()) and len(body) == len(b"key=\n") + len(fresh) + 100_000
    status, headers, _ = rotate(sim, "ringg", fresh)  # once
    assert headers["Content-Type"] == "application/json"


def test_broken_rotate_answer(sim: str) -> None:
    account_id, key = account(sim, "ringg", broken_rotate_answer=1)
    conn = rotate_request(sim, "ringg", key)
    answer = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as broken:
        answer.read()
    conn.close()
    fresh = rotated_to(sim, account_id, key)
    # Half of what the Content-Length promised, the key in it.
    assert len(broken.value.partial) == int(answer.headers["Content-Length"]) // 2
    assert fresh.encode() in broken.value.partial


def test_late_status(sim: str) -> None:
    wait = 0.8
    account_id, key = account(sim, "calcom", late_status=wait)
    started = time.monotonic()
    conn = rotate_request(sim, "calcom", key)
    time.sleep(wait / 3)
    during = state(sim, account_id)  # rotated already, nothing answered yet
    assert during["live_key"] != key
    assert during["rotation_log"][-1]["answered_at"] is None
    assert during["rotate_answered"] is None
    answer = conn.getresponse()
    status_at = time.monotonic()
    body = answer.read()
    conn.close()
    assert status_at - started >= wait
    fresh = rotated_to(sim, account_id, key)
    assert (answer.status, json.loads(body)) == (200, VENDORS["calcom"].rotated(fresh, ""))
    after = state(sim, account_id)
    entry = after["rotation_log"][-1]
    assert entry["answered_at"] - entry["rotated_at"] >= wait
    assert after["rotate_answered"] == entry["answered_at"]
    assert entry["late_status"] == wait and after["faults"]["late_status"] == 0
    started = time.monotonic()  # once
    assert rotate(sim, "calcom", fresh)[0] == 200
    assert time.monotonic() - started < wait


def test_late_body(sim: str) -> None:
    wait = 0.8
    account_id, key = account(sim, "ringg", late_body=wait)
    started = time.monotonic()
    conn = rotate_request(sim, "ringg", key)
    answer = conn.getresponse()  # the status line and headers only
    headers_at = time.monotonic()
    body = answer.read()
    body_at = time.monotonic()
    conn.close()
    assert headers_at - started < wait / 2, "the headers waited too"
    assert body_at - headers_at >= wait - 0.05  # the slack: headers_at is after the headers came
    fresh = rotated_to(sim, account_id, key)
    assert int(answer.headers["Content-Length"]) == len(body)
    assert (answer.status, json.loads(body)) == (200, VENDORS["ringg"].rotated(fresh, ""))
    after = state(sim, account_id)
    entry = after["rotation_log"][-1]
    assert entry["late_body"] == wait and after["faults"]["late_body"] == 0
    assert entry["answered_at"] - entry["rotated_at"] < wait  # stamped before the headers went out


def test_echo_old_key(sim: str) -> None:
    account_id, key = account(sim, "calcom", echo_old_key=2)
    for _ in range(2):
        status, _, body = rotate(sim, "calcom", key)
        fresh = rotated_to(sim, account_id, key)
        assert (status, json.loads(body)) == (200, VENDORS["calcom"].rotated(key, ""))  # the old key
        assert rotate(sim, "calcom", key)[0] == 401  # which is dead
        entry = state(sim, account_id)["rotation_log"][-1]
        assert (entry["answer"], entry["answered_key"]) == ("echo_old_key", key)
        key = fresh
    status, _, body = rotate(sim, "calcom", key)
    assert json.loads(body) == VENDORS["calcom"].rotated(rotated_to(sim, account_id, key), "")


def test_kill_after_rotate(sim: str) -> None:
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        account_id, key = account(sim, "projectdiscovery", kill_after_rotate=victim.pid)
        conn = rotate_request(sim, "projectdiscovery", key)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
        conn.close()
        assert victim.wait(timeout=10) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    fresh = rotated_to(sim, account_id, key)
    after = state(sim, account_id)
    entry = after["rotation_log"][-1]
    assert (entry["answer"], entry["killed"], entry["kill_error"]) == ("killed", victim.pid, None)
    assert entry["answered_at"] is None and after["rotate_answered"] is None
    assert after["faults"]["kill_after_rotate"] == 0
    status, _, body = rotate(sim, "projectdiscovery", fresh)  # once
    assert (status, json.loads(body)) == (200, VENDORS["projectdiscovery"].rotated(rotated_to(sim, account_id, fresh), ""))


@pytest.mark.parametrize("pid", [-1, True, "1234", 1.5])
def test_kill_after_rotate_takes_only_a_process_id(sim: str, pid: Any) -> None:
    account_id, _ = account(sim, "calcom")
    status, _ = control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"kill_after_rotate": pid})
    assert status == 400


def test_hang_after_rotate_still_waits_before_the_status(sim: str) -> None:
    wait = 0.5
    account_id, key = account(sim, "ringg", hang_after_rotate=wait)
    started = time.monotonic()
    status, _, body = rotate(sim, "ringg", key)
    assert time.monotonic() - started >= wait
    assert (status, json.loads(body)) == (200, VENDORS["ringg"].rotated(rotated_to(sim, account_id, key), ""))
    assert state(sim, account_id)["faults"]["hang_after_rotate"] == 0


def verify(sim: str, vendor: str, key: str) -> int:
    method, path = next(route for route, action in VENDORS[vendor].routes.items() if action == "verify")
    request = urllib.request.Request(sim + VENDORS[vendor].prefix + path, method=method)
    for name, value in vendor_sim.auth_header(vendor, key).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.parametrize("vendor", SINGLE_PHASE)
def test_fail_verifications_answers_500_for_live_and_dead_keys(sim: str, vendor: str) -> None:
    account_id, key = account(sim, vendor)
    assert rotate(sim, vendor, key)[0] in (200, 201)
    live = rotated_to(sim, account_id, key)
    assert (verify(sim, vendor, key), verify(sim, vendor, live)) == (401, 200)
    control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"fail_verifications": 2})
    assert (verify(sim, vendor, key), verify(sim, vendor, live)) == (500, 500)
    assert (verify(sim, vendor, key), verify(sim, vendor, live)) == (401, 200)
    control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"fail_verifications_after_rotate": 1})
    assert verify(sim, vendor, live) == 200  # armed only by the next rotation
    assert rotate(sim, vendor, live)[0] in (200, 201)
    fresh = rotated_to(sim, account_id, live)
    assert (verify(sim, vendor, fresh), verify(sim, vendor, fresh)) == (500, 200)


def vendor_request(sim: str, vendor: str, method: str, path: str, key: str) -> tuple[int, Any]:
    url = urlsplit(sim)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        conn.request(method, VENDORS[vendor].prefix + path, body=body, headers=vendor_sim.auth_header(vendor, key))
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, json.loads(data) if data else None
    finally:
        conn.close()


def test_dualkey_creates_beside_the_presented_key_and_revokes_by_id(sim: str) -> None:
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey"})
    assert status == 200
    account_id, first, first_id = created["account"], created["key"], created["key_id"]
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    assert status == 200, answer
    second, second_id = answer["key"]["secret"], answer["key"]["id"]
    # Both keys work; a third create is refused until one is revoked.
    for key in (first, second):
        assert vendor_request(sim, "dualkey", "GET", "/v2/me", key)[0] == 200
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", second)
    assert status == 409, answer
    assert state(sim, account_id)["live_keys"] == {first_id: first, second_id: second}
    # Revoked by id with the other key: 204, then the id is unknown (404) and the key dead (401).
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{first_id}", second)[0] == 204
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{first_id}", second)[0] == 404
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", first)[0] == 401
    now = state(sim, account_id)
    assert (now["live_keys"], now["revoked"], now["live_key"]) == ({second_id: second}, [first_id], second)
    assert vendor_request(sim, "dualkey", "POST", "/v2/keys", second)[0] == 200


def test_dualkey_faults_no_overlap_ignore_and_fail_revoke(sim: str) -> None:
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey"})
    account_id, first, first_id = created["account"], created["key"], created["key_id"]
    control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"no_overlap": 1, "ignore_revoke": 1, "fail_revoke": 1})
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    second, second_id = answer["key"]["secret"], answer["key"]["id"]
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", first)[0] == 401, "no_overlap: the presented key died"
    third = vendor_request(sim, "dualkey", "POST", "/v2/keys", second)[1]["key"]
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{second_id}", third["secret"])[0] == 500
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{second_id}", third["secret"])[0] == 204
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", second)[0] == 200, "ignore_revoke: still live"
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{second_id}", third["secret"])[0] == 204
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", second)[0] == 401
    assert state(sim, account_id)["revoked"] == [second_id]
    assert first_id not in state(sim, account_id)["live_keys"]


def test_every_declarable_vendor_is_listed_with_its_declaration(sim: str) -> None:
    status, vendors = control(sim, "GET", "/_sim/vendors")
    assert status == 200
    assert vendors["calcom"]["declaration"] is None and vendors["calcom"]["env"] == "CALCOM_BASE_URL"
    assert vendors["acme"]["env"] is None and vendors["acme"]["declaration"]["rotate"]["key"] == "/data/secret"
    assert vendors["dualkey"]["declaration"]["overlap"]["revoke"]["path"] == "/v2/keys/{key_id}"
    assert vendors["ringg"]["declaration"]["rotate"]["path"] == "/workspace/api-key"


def test_dualkey_key_cap_other_keys_and_a_revoke_by_another_keys_id(sim: str) -> None:
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey", "key_cap": 3})
    assert status == 200
    account_id, first, first_id = created["account"], created["key"], created["key_id"]
    # Another application's key in the same account.
    status, other = control(sim, "POST", f"/_sim/accounts/{account_id}/keys")
    assert status == 200 and other["key_id"] not in (first_id,)
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", other["key"])[0] == 200
    # A cap of three: one more create fits, the next is refused.
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    assert status == 200, answer
    assert vendor_request(sim, "dualkey", "POST", "/v2/keys", first)[0] == 409
    # A revoke names an id, whichever key it is: the other application's key dies, the first lives.
    assert vendor_request(sim, "dualkey", "DELETE", f"/v2/keys/{other['key_id']}", first)[0] == 204
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", other["key"])[0] == 401
    assert vendor_request(sim, "dualkey", "GET", "/v2/me", first)[0] == 200
    assert control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey", "key_cap": 1})[0] == 400


def test_reuse_key_id_redirect_rotate_and_see_other(sim: str) -> None:
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey"})
    account_id, first, first_id = created["account"], created["key"], created["key_id"]
    control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"reuse_key_id": 1, "redirect_rotate": 1})
    # A redirect rotates nothing.
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    assert status == 307 and state(sim, account_id)["rotations"] == 0
    # The next create makes a key but names the presented key's id.
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    assert status == 200 and answer["key"]["id"] == first_id
    live = state(sim, account_id)["live_keys"]
    assert len(live) == 2 and live[first_id] == first and answer["key"]["secret"] in live.values()
    # A 303 carried the create out: a key no answer names.
    status, created = control(sim, "POST", "/_sim/accounts", {"vendor": "dualkey"})
    account_id, first = created["account"], created["key"]
    control(sim, "POST", f"/_sim/accounts/{account_id}/faults", {"see_other_rotate": 1})
    status, answer = vendor_request(sim, "dualkey", "POST", "/v2/keys", first)
    after = state(sim, account_id)
    assert status == 303 and "key" not in answer
    assert after["rotations"] == 1 and len(after["live_keys"]) == 2


# -- the catalog's vendors, as their documentation describes them ---------------------------------


def call(sim: str, vendor: str, method: str, path: str, key: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    all_headers = vendor_sim.auth_header(vendor, key) | (headers or {}) | ({"Content-Type": "application/json"} if data else {})
    request = urllib.request.Request(sim + VENDORS[vendor].prefix + path, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def test_gitlab_wants_a_near_expiry_date_and_revokes_the_family_on_reuse(sim: str) -> None:
    account_id, key = account(sim, "gitlab")
    rotate_path = "/personal_access_tokens/self/rotate"
    for refused in [None, {"expires_at": "2020-01-01"}, {"expires_at": "2999-01-01"}, {"expires_at": 1234}]:
        status, _ = call(sim, "gitlab", "POST", rotate_path, key, refused or {})
        assert status == 400, refused
    soon = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    status, answer = call(sim, "gitlab", "POST", rotate_path, key, {"expires_at": soon})
    assert status == 200 and answer["token"].startswith("glpat-")
    new = answer["token"]
    # The old token again: 401, and the new one dies with it (GitLab's reuse detection).
    assert call(sim, "gitlab", "POST", rotate_path, key, {"expires_at": soon})[0] == 401
    assert call(sim, "gitlab", "GET", "/personal_access_tokens/self", new)[0] == 401
    assert state(sim, account_id)["live_keys"] == {}


def test_vercel_names_the_presented_token_and_refuses_a_dead_one_with_403(sim: str) -> None:
    created = control(sim, "POST", "/_sim/accounts", {"vendor": "vercel"})[1]
    status, answer = call(sim, "vercel", "GET", "/v5/user/tokens/current", created["key"])
    assert status == 200 and answer["token"]["id"] == created["key_id"]
    seconds = int(time.time()) + 30 * 86400  # seconds where milliseconds belong: already past
    assert call(sim, "vercel", "POST", "/v3/user/tokens", created["key"], {"name": "r", "expiresAt": seconds})[0] == 400
    status, answer = call(sim, "vercel", "POST", "/v3/user/tokens", created["key"], {"name": "r", "expiresAt": seconds * 1000})
    assert status == 200 and answer["bearerToken"] and answer["token"]["id"]
    assert call(sim, "vercel", "GET", "/v5/user/tokens/current", "not-a-token")[0] == 403


def test_databricks_revokes_by_body_and_answers_403_to_a_dead_token(sim: str) -> None:
    account_id, key = account(sim, "databricks")
    status, answer = call(sim, "databricks", "POST", "/api/2.0/token/create", key, {"comment": "c", "lifetime_seconds": 86400})
    assert status == 200 and answer["token_value"].startswith("dapi")
    new_id = answer["token_info"]["token_id"]
    assert call(sim, "databricks", "POST", "/api/2.0/token/delete", key, {"token_id": new_id})[0] == 204
    assert new_id in state(sim, account_id)["revoked"]
    assert call(sim, "databricks", "GET", "/api/2.0/token/list", answer["token_value"])[0] == 403


def test_ngrok_needs_its_version_header_and_openai_its_query(sim: str) -> None:
    _, key = account(sim, "ngrok")
    assert call(sim, "ngrok", "GET", "/api_keys?limit=1", key)[0] == 400
    assert call(sim, "ngrok", "GET", "/api_keys?limit=1", key, headers={"Ngrok-Version": "2"})[0] == 200
    assert call(sim, "ngrok", "GET", "/api_keys", key, headers={"Ngrok-Version": "2"})[0] == 400
    _, key = account(sim, "openai-admin")
    assert call(sim, "openai-admin", "GET", "/organization/admin_api_keys", key)[0] == 400
    assert call(sim, "openai-admin", "GET", "/organization/admin_api_keys?limit=1", key)[0] == 200


def test_cloudflare_rolls_a_token_by_its_own_id_which_stays(sim: str) -> None:
    created = control(sim, "POST", "/_sim/accounts", {"vendor": "cloudflare"})[1]
    key, key_id = created["key"], created["key_id"]
    status, answer = call(sim, "cloudflare", "GET", "/user/tokens/verify", key)
    assert status == 200 and answer["result"]["id"] == key_id
    assert call(sim, "cloudflare", "PUT", "/user/tokens/k-000000000000/value", key, {})[0] == 404
    status, answer = call(sim, "cloudflare", "PUT", f"/user/tokens/{key_id}/value", key, {})
    assert status == 200 and answer["result"] != key
    assert call(sim, "cloudflare", "GET", "/user/tokens/verify", key)[0] == 401
    status, again = call(sim, "cloudflare", "GET", "/user/tokens/verify", answer["result"])
    assert status == 200 and again["result"]["id"] == key_id, "the id survives the roll"
