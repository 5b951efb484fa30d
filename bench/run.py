#!/usr/bin/env python3
"""Benchmark of the release binary: cold init, warm full-rotation latency, peak RSS.

* cold init: from spawning the process to its first poll of the Runtime API
  (`GET /2018-06-01/runtime/invocation/next`), over --cold runs.
* warm rotation: one process; the four steps of a rotation, each sent through the Runtime API
  emulator, against moto and the vendor simulator (vendors in turn), over --rotations runs after
  one warm-up rotation. Setting up each secret is not timed.
* peak RSS: VmHWM of the warm process after all rotations.
* for each promotion mode (standard, early): the dead-key window, from the vendor's answer to the
  call that makes AWSCURRENT hold the new key (PutSecretValue with both labels, or finishSecret's
  stage move), in Secrets Manager and vendor calls and in milliseconds; and the calls per rotation.
  The peers stamp every call on the system's monotonic clock, which both processes share.
* after the move (issue 16), for these secrets without replicas: the PutEvents calls per rotation
  (the Vendor Key Rotated event, one), the DescribeSecret calls per rotation (one per step's
  guards; the replica wait adds none without replicas), and the milliseconds from the move to the
  event. `--baseline` with a build before issue 16 shows the cost in step durations.

* the shared-key search (issues 21 and 27): before each rotation createSecret compares the current
  key with the other secrets tagged for its vendor; `--tagged N` first creates N other secrets
  tagged `rotation:vendor` and rotated by the same function, as a steady fleet leaves them (the
  fingerprint of each one's key recorded on its AWSCURRENT version), default 200, and the report
  gives the ListSecrets and BatchGetSecretValue calls per rotation.
* the shared-key search at fleet sizes (issue 27), `--fleet 200,2000`: for each size, that many
  steady secrets of one vendor (Ringg), then `--fleet-rotations` rotations of more of its secrets in
  one warm process of each build: ListSecrets calls, values read (BatchGetSecretValue entries),
  Secrets Manager calls and createSecret's time per rotation, and what the search costs a day for
  a fleet of that size rotating daily, at Secrets Manager's $0.05 per 10,000 API calls (a value
  read counts as one) and KMS's $0.03 per 10,000 requests (one decrypt per value read, with a
  customer-managed key). `--baseline` shows the same for a build before issue 27. Before each
  build's rotations, every Ringg secret's fingerprint is recorded, as `check --all` records it (a
  build before issue 27 leaves the secrets it rotates without one).

Targets (issue 2): cold init <= 25 ms, peak RSS <= 32 MB. This reports numbers; it asserts nothing.
Run it with scripts/bench, which builds the release binary first. `--baseline OTHER_BINARY`
measures another build (say, main's) in the same run: its cold starts interleaved with this one's,
and its warm rotations mode by mode beside this one's (a before/after comparison).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import boto3  # noqa: E402  (installed with moto)
import runtime_api  # noqa: E402

from vendor_sim import VENDORS  # noqa: E402  (the one list of vendors on the Python side)

STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]


def start_peer(script: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / script), "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["endpoint"]


def http(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def declarations(sim: str, copies: int = 0) -> dict[str, Any]:
    """ROTATION_VENDORS: the simulator's vendors that are not built in, or, with `copies`, that
    many declarations (Acme's and DualKey's in turn, under names of their own)."""
    declared = {name: {"base_url": sim + spec.prefix, **spec.declaration} for name, spec in VENDORS.items() if spec.env is None and spec.declaration}
    if not copies:
        return declared
    kinds = list(declared.items())
    return {f"{kinds[i % len(kinds)][0]}-{i}": kinds[i % len(kinds)][1] for i in range(copies)}


def function_env(runtime: str, moto: str, sim: str, declared: dict[str, Any] | None = None) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": runtime,
        "AWS_LAMBDA_FUNCTION_NAME": "api-key-rotator",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": moto,
    }
    for spec in VENDORS.values():
        if spec.env:
            env[spec.env] = sim + spec.prefix
    if declared:
        env["ROTATION_VENDORS"] = json.dumps(declared, separators=(",", ":"))
    return env


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"min {min(values):7.2f}  median {statistics.median(values):7.2f}  "
        f"p95 {percentile(values, 0.95):7.2f}  max {max(values):7.2f}"
    )


SM_OPERATIONS = ["DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"]


def sm_calls(moto: str, arn: str) -> list[tuple[float, str, dict[str, Any]]]:
    """Every Secrets Manager call on the secret `arn`: its arrival, operation and parameters."""
    calls = []
    for operation in SM_OPERATIONS:
        for request in http("GET", f"{moto}/_rotator/requests?Operation={operation}")["Requests"]:
            if request.get("SecretId") == arn:
                calls.append((request["At"], operation, request))
    return calls


def moved_at(calls: list[tuple[float, str, dict[str, Any]]]) -> float:
    """The arrival of the call that made AWSCURRENT hold the new key: finishSecret's stage move,
    or (early promotion) the PutSecretValue with both labels."""
    return min(
        at
        for at, op, r in calls
        if (op == "UpdateSecretVersionStage" and r.get("VersionStage") == "AWSCURRENT")
        or (op == "PutSecretValue" and "AWSCURRENT" in r.get("VersionStages", []))
    )


def dead_key_window(calls: list[tuple[float, str, dict[str, Any]]], sim: str, account: str) -> tuple[int, float, int]:
    """For one finished rotation (`calls`, its Secrets Manager calls): the calls from the vendor's
    answer to AWSCURRENT holding the new key (that call included), the same in milliseconds, and all
    the rotation's calls."""
    state = http("GET", f"{sim}/_sim/accounts/{account}")
    vendor_calls = [(call["at"], call["action"]) for call in state["calls"]]
    answered = state["rotate_answered"]
    moved = moved_at(calls)
    between = [at for at, *_ in calls + vendor_calls if answered < at <= moved]
    return len(between), (moved - answered) * 1000, len(calls) + len(vendor_calls)


def after_move(moto: str, arn: str, calls: list[tuple[float, str, dict[str, Any]]]) -> tuple[int, int, float]:
    """For one finished rotation of a secret without replicas, what follows the move of AWSCURRENT:
    the PutEvents calls (the Vendor Key Rotated event), the rotation's DescribeSecret calls (one per
    step's guards; the replica wait would add its polls), and the milliseconds from the move's
    arrival to the event's."""
    moved = moved_at(calls)
    puts = [r["At"] for r in http("GET", f"{moto}/_rotator/requests?Operation=PutEvents")["Requests"] if r.get("SecretId") == arn]
    describes = [at for at, op, _ in calls if op == "DescribeSecret"]
    return len(puts), len(describes), ((min(puts) - moved) * 1000 if puts else float("nan"))


SCAN_OPERATIONS = ["ListSecrets", "BatchGetSecretValue"]


def scan_calls(moto: str) -> int:
    """Every ListSecrets and BatchGetSecretValue call so far (they name no one secret)."""
    return sum(len(http("GET", f"{moto}/_rotator/requests?Operation={op}")["Requests"]) for op in SCAN_OPERATIONS)


def fingerprint_label(key: str, issued: bool = False) -> str:
    """The label the function writes with a key it stored (issued: with when the vendor answered),
    or `check` records on a key it read: ROTATION_FINGERPRINT.<first 12 hex digits of its SHA-256>."""
    label = "ROTATION_FINGERPRINT." + hashlib.sha256(key.encode()).hexdigest()[:12]
    return label + (f".{int(time.time() * 1000)}" if issued else "")


def tagged_others(moto: str, sm: Any, count: int, prefix: str = "other") -> list[str]:
    """`count` secrets tagged rotation:vendor=ringg, each with its own key, rotated by the function
    begin-rotation names (as the bench's own secrets are), each as a rotation by this function
    leaves it: the fingerprint of its key recorded on its AWSCURRENT version."""
    arns = []
    for i in range(count):
        key = f"{prefix}_{os.getpid()}_{i:05d}_0123456789abcdef"
        created = sm.create_secret(
            Name=f"bench-{prefix}-{os.getpid()}-{i}",
            SecretString=json.dumps({"api_key": key, "note": "bench"}),
            Tags=[{"Key": "rotation:vendor", "Value": "ringg"}],
        )
        label = fingerprint_label(key, issued=True)
        sm.update_secret_version_stage(SecretId=created["ARN"], VersionStage=label, MoveToVersionId=created["VersionId"])
        http("POST", f"{moto}/_rotator/begin-rotation", {"SecretId": created["ARN"], "AutomaticallyAfterDays": 30})
        arns.append(created["ARN"])
    return arns


def onboarded(sm: Any, name: str, key: str, tags: list[dict[str, str]]) -> str:
    """A new secret holding `key`, its fingerprint recorded as `check` records it at onboarding."""
    created = sm.create_secret(Name=name, SecretString=json.dumps({"api_key": key, "note": "bench"}), Tags=tags)
    sm.update_secret_version_stage(SecretId=created["ARN"], VersionStage=fingerprint_label(key), MoveToVersionId=created["VersionId"])
    return created["ARN"]


def index_all(sm: Any) -> int:
    """Records the fingerprint of every Ringg secret's current key that has none, as `check --all`
    does at onboarding (a build before issue 27 leaves the secrets it rotates without one): a steady
    fleet. Returns how many it recorded."""
    recorded = 0
    for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "tag-value", "Values": ["ringg"]}]):
        for entry in page["SecretList"]:
            versions = entry.get("SecretVersionsToStages") or {}
            current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
            if current is None or any(s.startswith("ROTATION_FINGERPRINT.") for s in versions[current]):
                continue
            key = json.loads(sm.get_secret_value(SecretId=entry["ARN"])["SecretString"])["api_key"]
            sm.update_secret_version_stage(SecretId=entry["ARN"], VersionStage=fingerprint_label(key), MoveToVersionId=current)
            recorded += 1
    return recorded


def requests_of(moto: str, operation: str) -> list[dict[str, Any]]:
    return http("GET", f"{moto}/_rotator/requests?Operation={operation}")["Requests"]


def fleet(binary: Path, rotations: int, moto: str, sim: str, sm: Any, env_for: Any, size: int) -> dict[str, list[float]]:
    """The shared-key search in a steady fleet of `size` (already created): `rotations` rotations of
    new Ringg secrets in one warm process of `binary`, after one to warm it up. Per rotation: the
    ListSecrets calls, the values read, the Secrets Manager calls in all, createSecret's time."""
    server, state = runtime_api.serve()
    host, port = server.server_address[:2]
    emulator = f"http://{host}:{port}"
    proc = subprocess.Popen([str(binary)], env=env_for(f"{host}:{port}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict[str, list[float]] = {"lists": [], "reads": [], "calls": [], "create_ms": []}
    for i in range(rotations + 1):
        account = http("POST", f"{sim}/_sim/accounts", {"vendor": "ringg"})
        arn = onboarded(sm, f"bench-fleet-{os.getpid()}-{binary.stat().st_ino}-{size}-{i}", account["key"], [{"Key": "rotation:vendor", "Value": "ringg"}, {"Key": "rotation:promote", "Value": "standard"}])
        token = http("POST", f"{moto}/_rotator/begin-rotation", {"SecretId": arn, "AutomaticallyAfterDays": 30})["VersionId"]
        lists, batches = len(requests_of(moto, "ListSecrets")), requests_of(moto, "BatchGetSecretValue")
        on_secret = len(sm_calls(moto, arn))
        create_ms = 0.0
        for step in STEPS:
            answer = http("POST", f"{emulator}/_emu/invoke", {"event": {"Step": step, "SecretId": arn, "ClientRequestToken": token}, "timeout_ms": 90000})
            if not answer.get("ok"):
                raise SystemExit(f"{binary} fleet {size} {step} failed: {answer.get('error')}")
            if step == "createSecret":
                create_ms = answer["duration_ms"]
        if i == 0:
            continue
        listed = len(requests_of(moto, "ListSecrets")) - lists
        read_now = requests_of(moto, "BatchGetSecretValue")[len(batches):]
        reads = sum(len(request.get("SecretIdList") or []) for request in read_now)
        out["lists"].append(listed)
        out["reads"].append(reads)
        out["calls"].append(len(sm_calls(moto, arn)) - on_secret + listed + len(read_now))
        out["create_ms"].append(create_ms)
    proc.kill()
    proc.wait()
    server.shutdown()
    return out


def daily_cost(size: int, lists: float, reads: float) -> float:
    """Dollars a day the search costs a fleet of `size` secrets rotating daily: API calls at $0.05 per
    10,000 (a value read counts as one), and one KMS decrypt per value read at $0.03 per 10,000."""
    return size * (lists * 0.05 / 10_000 + reads * (0.05 + 0.03) / 10_000)


def zipped(binary: Path) -> int:
    """The binary's size zipped as scripts/package zips the deployable one (deflate, level 9)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(binary, "bootstrap")
    return len(buffer.getvalue())


def cold_init(binary: Path, env_for: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        server, state = runtime_api.serve()
        host, port = server.server_address[:2]
        started = time.time()
        proc = subprocess.Popen([str(binary)], env=env_for(f"{host}:{port}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while state.first_poll_at is None:
            if proc.poll() is not None:
                raise SystemExit(f"the function exited with {proc.returncode} before polling")
            time.sleep(0.0002)
        times.append((state.first_poll_at - started) * 1000)
        proc.kill()
        proc.wait()
        server.shutdown()
    return times


def warm(binary: Path, mode: str, rotations: int, moto: str, sim: str, sm: Any, env_for: Any) -> tuple[dict[str, Any], int]:
    """One warm process of `binary`: a warm-up rotation, then `rotations` timed ones in `mode`.
    Returns the measurements and the process's peak RSS in KiB."""
    server, state = runtime_api.serve()
    host, port = server.server_address[:2]
    emulator = f"http://{host}:{port}"
    proc = subprocess.Popen([str(binary)], env=env_for(f"{host}:{port}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Single-phase vendors, built in and declared (a create-then-revoke vendor has no dead-key
    # window to measure; the catalog's are measured by the cold start, which parses them, and
    # tested in tests/catalog.rs: a baseline build before the catalog does not know them).
    vendors = [name for name, spec in VENDORS.items() if not spec.overlap and not spec.catalog]
    totals: list[float] = []
    per_step: dict[str, list[float]] = {step: [] for step in STEPS}
    window_calls: list[int] = []
    window_ms: list[float] = []
    calls: list[int] = []
    events: list[int] = []
    describes: list[int] = []
    to_event_ms: list[float] = []
    scans: list[int] = []
    for i in range(rotations + 1):
        vendor = vendors[i % len(vendors)]
        account = http("POST", f"{sim}/_sim/accounts", {"vendor": vendor})
        arn = sm.create_secret(
            Name=f"bench-{os.getpid()}-{binary.stat().st_ino}-{mode}-{i}",
            SecretString=json.dumps({"api_key": account["key"], "note": "bench"}),
            Tags=[{"Key": "rotation:vendor", "Value": vendor}, {"Key": "rotation:promote", "Value": mode}],
        )["ARN"]
        token = http("POST", f"{moto}/_rotator/begin-rotation", {"SecretId": arn, "AutomaticallyAfterDays": 30})["VersionId"]
        total = 0.0
        scans_before = scan_calls(moto)
        for step in STEPS:
            answer = http("POST", f"{emulator}/_emu/invoke", {"event": {"Step": step, "SecretId": arn, "ClientRequestToken": token}, "timeout_ms": 90000})
            if not answer.get("ok"):
                raise SystemExit(f"{binary} {mode} {step} failed: {answer.get('error')}")
            if i > 0:  # the first rotation warms the process up
                per_step[step].append(answer["duration_ms"])
            total += answer["duration_ms"]
        if i > 0:
            scans.append(scan_calls(moto) - scans_before)
            totals.append(total)
            calls_of_arn = sm_calls(moto, arn)
            n, ms, all_calls = dead_key_window(calls_of_arn, sim, account["account"])
            window_calls.append(n)
            window_ms.append(ms)
            calls.append(all_calls)
            n_events, n_describes, ms = after_move(moto, arn, calls_of_arn)
            events.append(n_events)
            describes.append(n_describes)
            to_event_ms.append(ms)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    proc.kill()
    proc.wait()
    server.shutdown()
    result = {
        "totals": totals,
        "per_step": per_step,
        "window_calls": window_calls,
        "window_ms": window_ms,
        "calls": calls,
        "events": events,
        "describes": describes,
        "to_event_ms": to_event_ms,
        "scans": scans,
    }
    return result, peak_kb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--binary", default=str(ROOT / "target/release/api-key-rotator"))
    parser.add_argument("--cold", type=int, default=30, help="cold starts to time")
    parser.add_argument("--rotations", type=int, default=30, help="warm rotations to time")
    parser.add_argument("--baseline", help="another build of the binary (say, main's), measured in the same run: its cold starts interleaved with --binary's in rounds of 10, its warm rotations beside --binary's, mode by mode")
    parser.add_argument("--tagged", type=int, default=200, help="other secrets tagged rotation:vendor and rotated by the same function, created before the warm rotations, as a steady fleet leaves them")
    parser.add_argument("--fleet", default="200,2000", help="fleet sizes at which to measure the shared-key search (comma-separated; empty: none)")
    parser.add_argument("--fleet-rotations", type=int, default=5, help="rotations timed at each fleet size, per build")
    args = parser.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run scripts/bench (it builds the release binary)")

    moto_proc, moto = start_peer("moto_server.py")
    sim_proc, sim = start_peer("vendor_sim.py")
    sm = boto3.client("secretsmanager", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    env_for = lambda runtime: function_env(runtime, moto, sim, declarations(sim))  # noqa: E731
    bare_env = lambda runtime: function_env(runtime, moto, sim)  # noqa: E731
    ten = declarations(sim, 10)
    ten_env = lambda runtime: function_env(runtime, moto, sim, ten)  # noqa: E731

    cold: list[float] = []
    cold_ten: list[float] = []
    baseline: list[float] = []
    # Rounds of 10, interleaved: no declarations, ten declarations (and the baseline build).
    rounds = max(1, args.cold // 10)
    for _ in range(rounds):
        cold += cold_init(binary, bare_env, args.cold // rounds)
        cold_ten += cold_init(binary, ten_env, args.cold // rounds)
        if args.baseline:
            baseline += cold_init(Path(args.baseline), bare_env, args.cold // rounds)

    tagged_others(moto, sm, args.tagged)
    # The warm measurements, each mode in turn, alternating the builds so that both see the same
    # machine and the same peers.
    builds = [binary] + ([Path(args.baseline)] if args.baseline else [])
    results: dict[Path, dict[str, dict[str, Any]]] = {build: {} for build in builds}
    peak_kb: dict[Path, int] = {}
    for mode in ("standard", "early"):
        for build in builds:
            results[build][mode], peak_kb[build] = warm(build, mode, args.rotations, moto, sim, sm, env_for)
    # The shared-key search at fleet sizes: the fleet grows to each size in turn (the secrets above
    # count towards it), and every build rotates in it.
    sizes = [int(size) for size in args.fleet.split(",") if size.strip()]
    fleets: dict[int, dict[Path, dict[str, list[float]]]] = {}
    present = args.tagged
    for size in sizes:
        if size > present:
            tagged_others(moto, sm, size - present, prefix=f"fleet{size}")
            present = size
        fleets[size] = {}
        for build in builds:
            index_all(sm)
            fleets[size][build] = fleet(build, args.fleet_rotations, moto, sim, sm, env_for, size)
    for peer in (moto_proc, sim_proc):
        assert peer.stdin is not None
        peer.stdin.close()
        peer.wait(timeout=10)

    for build in builds:
        name = "this build" if build == binary else "baseline"
        print(f"{name}: {build}: {build.stat().st_size:,} bytes, zipped as scripts/package zips it {zipped(build):,} bytes (this machine's architecture; scripts/package reports the arm64 one)")
    print(f"cold init, spawn to first Runtime API poll, ms ({len(cold)} runs): {summary(cold)}   target <= 25")
    ten_bytes = len(json.dumps(ten, separators=(",", ":")))
    print(f"  with ROTATION_VENDORS holding 10 declarations ({ten_bytes} bytes), interleaved ({len(cold_ten)} runs): {summary(cold_ten)}")
    if baseline:
        print(f"  baseline {args.baseline}, interleaved ({len(baseline)} runs): {summary(baseline)}")
    for build in builds:
        print(f"{'this build' if build == binary else 'baseline'}: {build}")
        for mode, result in results[build].items():
            print(f"  {mode} promotion:")
            print(f"    warm full rotation (4 steps), ms ({args.rotations} runs):      {summary(result['totals'])}")
            for step in STEPS:
                print(f"      {step:<13} ms: {summary(result['per_step'][step])}")
            print(f"    dead-key window, Secrets Manager and vendor calls: {summary([float(n) for n in result['window_calls']])}")
            print(f"    dead-key window, ms:                               {summary(result['window_ms'])}")
            print(f"    calls per rotation (Secrets Manager and vendor):   {summary([float(n) for n in result['calls']])}")
            print(f"    after the move, no replicas: PutEvents calls:      {summary([float(n) for n in result['events']])}")
            print(f"    DescribeSecret calls per rotation (4 = the guards): {summary([float(n) for n in result['describes']])}")
            print(f"    after the move, ms from the move to the event:     {summary(result['to_event_ms'])}")
            print(f"    shared-key search, ListSecrets + BatchGetSecretValue calls per rotation ({args.tagged}+ other tagged secrets): {summary([float(n) for n in result['scans']])}")
        print(f"  peak RSS (VmHWM) of the warm process: {peak_kb[build] / 1024:.1f} MiB   target <= 32 MB")
    for size, by_build in fleets.items():
        print(f"shared-key search, a steady fleet of {size}+ Ringg secrets rotated by one function ({args.fleet_rotations} standard rotations per build, medians):")
        for build, result in by_build.items():
            name = "this build" if build == binary else "baseline"
            lists, reads = statistics.median(result["lists"]), statistics.median(result["reads"])
            print(
                f"  {name:<10}  ListSecrets calls {lists:6.1f}  values read {reads:7.1f}  Secrets Manager calls {statistics.median(result['calls']):7.1f}"
                f"  createSecret ms {statistics.median(result['create_ms']):8.2f}  search cost for {size} secrets rotating daily: ${daily_cost(size, lists, reads):.4f} a day"
            )

if __name__ == "__main__":
    main()
