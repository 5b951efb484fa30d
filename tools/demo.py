#!/usr/bin/env python3
"""The local demo: one rotation per vendor through the real Lambda runtime interface, the three
built-ins, two the function has never heard of: Acme, a single-phase vendor, and DualKey, a
create-then-revoke one, both declared in ROTATION_VENDORS (built from the simulator's declarations),
and one catalog vendor of each kind, pointed at the simulator by an override of its base URL:
GitLab (single-phase) and Vercel (create-then-revoke, the starting token's id read from Vercel's
own answer, no rotation:key-id tag). The create-then-revoke vendors are rotated twice: a replaced
key keeps working until the next rotation revokes it.

Starts moto (with AWS's AWSPENDING staging) and the vendor simulator on fixed loopback ports (the
function's environment in Cargo.toml's [package.metadata.lambda.env] points at them), serves the
function with `cargo lambda watch`, creates one tagged secret per vendor, sends each rotation step
with `cargo lambda invoke`, and prints a report per vendor. Keys are shown only as fingerprints.
Exits non-zero on any failure and stops every process it started.

Run it with scripts/demo (or `make demo`), which installs moto and cargo-lambda into .venv first.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3

import vendor_sim  # the one list of vendors on the Python side
from vendor_sim import VENDORS

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "target" / "demo"
# Keep in step with [package.metadata.lambda.env] in Cargo.toml.
MOTO_PORT, SIM_PORT, INVOKE_PORT = 27101, 27102, 27100
MOTO = f"http://127.0.0.1:{MOTO_PORT}"
SIM = f"http://127.0.0.1:{SIM_PORT}"
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]
# One catalog vendor of each kind (the tests rotate every one).
CATALOG = ["gitlab", "vercel"]


class DemoFailure(Exception):
    pass


def fingerprint(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen[Any], name: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not port_free(port):
            return
        if proc.poll() is not None:
            raise DemoFailure(f"{name} exited with {proc.returncode}; see {WORK}")
        time.sleep(0.2)
    raise DemoFailure(f"{name} did not listen on port {port} within {seconds:.0f} s")


def start(name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[Any]:
    log = open(WORK / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stages(sm: Any, arn: str) -> dict[str, list[str]]:
    return sm.describe_secret(SecretId=arn)["VersionIdsToStages"]


def show_stages(versions: dict[str, list[str]]) -> str:
    return ", ".join(f"{vid[:8]}…={'+'.join(st) or '-'}" for vid, st in sorted(versions.items(), key=lambda kv: kv[0]))


def key_accepted(vendor: str, key: str) -> bool:
    method, path = vendor_sim.verify_route(vendor)
    status, _ = http(method, SIM + VENDORS[vendor].prefix + path, headers=vendor_sim.auth_header(vendor, key))
    return status == 200


def invoke(step: str, arn: str, token: str) -> float:
    event = WORK / f"event-{step}.json"
    event.write_text(json.dumps({"Step": step, "SecretId": arn, "ClientRequestToken": token}))
    started = time.perf_counter()
    result = subprocess.run(
        ["cargo", "lambda", "invoke", "-A", "127.0.0.1", "-P", str(INVOKE_PORT), "--data-file", str(event), "api-key-rotator"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise DemoFailure(f"{step} failed (exit {result.returncode}): {result.stdout.strip()} {result.stderr.strip()[-2000:]}")
    return elapsed


def declarations() -> str:
    """ROTATION_VENDORS: every simulated vendor that is not built in, at the simulator; the demo's
    catalog vendors by an override of their base URL (and, to rotate twice in a row, no grace)."""
    declared: dict[str, Any] = {
        name: {"base_url": SIM + spec.prefix, **spec.declaration}
        for name, spec in VENDORS.items()
        if spec.env is None and spec.declaration is not None
    }
    for name in CATALOG:
        declared[name] = {"base_url": SIM + VENDORS[name].prefix}
        if VENDORS[name].overlap:
            declared[name]["overlap"] = {"grace_seconds": 0}
    return json.dumps(declared, separators=(",", ":"))


def demo_vendors() -> list[str]:
    return [name for name, spec in VENDORS.items() if not spec.catalog or name in CATALOG]


def rotate_one(sm: Any, vendor: str) -> None:
    status, account = http("POST", f"{SIM}/_sim/accounts", {"vendor": vendor})
    if status != 200:
        raise DemoFailure(f"the simulator refused to create a {vendor} account")
    old_key = account["key"]
    value = {"api_key": old_key, "owner": "platform-team@example.test", "note": "rotated by api-key-rotator"}
    tags = [{"Key": "rotation:vendor", "Value": vendor}]
    overlap = VENDORS[vendor].overlap
    # Vercel names the presented token itself; any other create-then-revoke vendor needs the tag.
    if overlap and vendor != "vercel":
        tags.append({"Key": "rotation:key-id", "Value": account["key_id"]})
    arn = sm.create_secret(
        Name=f"demo/{vendor}-{os.getpid()}-{int(time.time())}",
        SecretString=json.dumps(value),
        Tags=tags,
    )["ARN"]
    source = "catalog" if VENDORS[vendor].catalog else ("declared" if VENDORS[vendor].env is None else "built in")
    kind = f"create-then-revoke, {source}" if overlap else source
    print(f"\n== {vendor} ({kind}): {arn}")
    first = rotation(sm, vendor, arn, old_key, value, overlap)
    if overlap:
        # The next rotation revokes the key the first one replaced, then makes a new one.
        rotation(sm, vendor, arn, first, value, overlap)
        if key_accepted(vendor, old_key):
            raise DemoFailure(f"{vendor}: the starting key was not revoked by the second rotation")
        print(f"   starting key {fingerprint(old_key)}: revoked by the second rotation")


def rotation(sm: Any, vendor: str, arn: str, old_key: str, value: dict[str, str], overlap: bool) -> str:
    """One rotation of `arn`, whose AWSCURRENT holds `old_key`; returns the new key."""
    status, staged = http("POST", f"{MOTO}/_rotator/begin-rotation", {"SecretId": arn, "AutomaticallyAfterDays": 30})
    if status != 200:
        raise DemoFailure(f"could not stage a rotation for {arn}")
    token = staged["VersionId"]
    before = stages(sm, arn)

    timings = {step: invoke(step, arn, token) for step in STEPS}

    after = stages(sm, arn)
    stored = json.loads(sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
    new_key = stored["api_key"]
    old_accepted, new_accepted = key_accepted(vendor, old_key), key_accepted(vendor, new_key)
    others_kept = {k: v for k, v in stored.items() if k != "api_key"} == {k: v for k, v in value.items() if k != "api_key"}
    # Single-phase: the old key died with the rotation. Overlap: consumers holding it still work.
    old_as_expected = old_accepted == overlap
    old_state = ("still accepted (overlap)" if overlap else "STILL ACCEPTED") if old_accepted else "refused"
    print(f"   versions before: {show_stages(before)}")
    print(f"   versions after:  {show_stages(after)}")
    print(f"   old key {fingerprint(old_key)}: {old_state} by the simulator")
    print(f"   new key {fingerprint(new_key)}: {'accepted' if new_accepted else 'REFUSED'} by the simulator")
    print(f"   other fields kept: {'yes' if others_kept else 'NO'}")
    print("   " + "  ".join(f"{step} {ms:.0f} ms" for step, ms in timings.items()))
    if not (old_as_expected and new_accepted and others_kept and new_key != old_key and "AWSCURRENT" in after.get(token, [])):
        raise DemoFailure(f"{vendor}: the rotation did not end as expected")
    return new_key


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    busy = [port for port in (MOTO_PORT, SIM_PORT, INVOKE_PORT) if not port_free(port)]
    if busy:
        print(f"demo: ports {busy} on 127.0.0.1 are in use; stop whatever holds them", file=sys.stderr)
        return 1
    python = sys.executable
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_REGION": "us-east-1"}
    procs: list[subprocess.Popen[Any]] = []
    try:
        procs.append(start("moto", [python, str(ROOT / "tools/moto_server.py"), "--port", str(MOTO_PORT), "--exit-on-stdin-eof"]))
        procs.append(start("vendor-sim", [python, str(ROOT / "tools/vendor_sim.py"), "--port", str(SIM_PORT), "--exit-on-stdin-eof"]))
        wait_for_port(MOTO_PORT, 30, procs[0], "moto")
        wait_for_port(SIM_PORT, 30, procs[1], "the vendor simulator")
        print("demo: building the function (the first run compiles it)…", flush=True)
        subprocess.run(["cargo", "build", "--locked", "--bin", "api-key-rotator"], cwd=ROOT, check=True)
        watch = start(
            "cargo-lambda-watch",
            ["cargo", "lambda", "watch", "--ignore-changes", "-A", "127.0.0.1", "-P", str(INVOKE_PORT)],
            env={**env, "ROTATION_VENDORS": declarations()},
        )
        procs.append(watch)
        wait_for_port(INVOKE_PORT, 120, watch, "cargo lambda watch")
        print(f"demo: moto {MOTO}, vendor simulator {SIM}, cargo lambda watch on 127.0.0.1:{INVOKE_PORT}")

        sm = boto3.client("secretsmanager", endpoint_url=MOTO, region_name="us-east-1", aws_access_key_id="demo", aws_secret_access_key="demo")
        for vendor in demo_vendors():
            rotate_one(sm, vendor)
        print("\ndemo: every vendor's key rotated; logs in target/demo/")
        return 0
    except (DemoFailure, subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        print(f"\ndemo FAILED: {err}\nlogs in {WORK}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
