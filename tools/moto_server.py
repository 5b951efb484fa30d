#!/usr/bin/env python3
"""Secrets Manager for tests and the demo: moto's real server, plus what AWS does that moto cannot.

moto (`moto[server]`) answers every Secrets Manager call. This wrapper adds six things on
routes under `/_rotator/` (AWS's JSON protocol always posts to `/`, so they cannot collide):

* `POST /_rotator/begin-rotation` stages a rotation the way AWS does before it invokes
  createSecret: rotation enabled with its rules, and a new version id carrying AWSPENDING with
  no value. moto's own RotateSecret cannot do this without a Lambda (it moves AWSCURRENT at once).
  Body: {"SecretId", "ClientRequestToken"?, "RotationLambdaARN"?, "AutomaticallyAfterDays"?,
  "ScheduleExpression"?, "RotateImmediately"?}. With RotateImmediately = false the pending
  version carries the current value, as AWS does when it only runs testSecret.
* `POST /_rotator/faults` queues failures for one operation: {"Operation": "PutSecretValue",
  "Count": 4, "Status": 500, "Code": "InternalServiceError", "SecretId"?, "After"?, "Skip"?}.
  Each matching call consumes one; with "SecretId" only calls naming exactly that secret id
  match; "Skip": n lets the next n matching calls through before the failures start;
  "Clear": true drops what is still queued for that operation and secret id; "Delay": s holds
  the call that long first, and with "Pass": true it is then carried out as usual (a slow call,
  not a failed one).
  "Operation": "GetFunctionConfiguration" fails Lambda's call of that name instead, with
  "SecretId" naming the function (as the call names it: a name or an ARN).
  With "After": true the call is carried out first and only its answer is replaced by the
  failure (a write that landed while its answer was lost). With "Body": "..." the answer is that
  text, as it is, with the status given (a garbled answer: say, a 200 whose JSON breaks off).
* `POST /_rotator/rotation-function` names a secret's rotation function without turning rotation
  on (as AWS shows a secret whose rotation was turned off): {"SecretId", "RotationLambdaARN"}.
* `POST /_rotator/replica` sets a replica's ReplicationStatus: {"SecretId", "ReplicaRegion",
  "Status", "StatusMessage"?, "Seconds"?}; with "Seconds" it is InSync again after that long
  (moto itself reports every replica InSync at once).
* `POST /_rotator/function` creates a Lambda function the way a deployed rotation function looks
  to GetFunctionConfiguration: {"FunctionName", "Variables"?, "Timeout"?, "MemorySize"?}
  (defaults 90 s and 256 MB, the template's). It creates the IAM role moto requires; nothing is
  ever invoked. Deploying a function again replaces its configuration in place.
* `GET /_rotator/requests?Operation=PutSecretValue` lists the parameters of every such call
  (SecretString and SecretBinary left out), so tests can see ClientRequestToken and RotationToken,
  with "At", the call's arrival on the system's monotonic clock (as the simulator's times).
  EventBridge's PutEvents is logged too (`Operation=PutEvents`), its "SecretId" being the first
  entry's first resource (the rotation names its secret there), which is also what its faults
  match.

EventBridge's PutEvents is checked as AWS checks it before moto answers: the SigV4 signature is
recomputed with botocore (AWS's own signer) and a mismatch is refused with 403
InvalidSignatureException, as is a credential scoped to another service than `events`, or
temporary credentials (an `ASIA` access key, as in Lambda) without a signed X-Amz-Security-Token.
The secret access key of every caller is its access key id (the suite's `testing`, the demo's
`demo`).

It also patches moto's Secrets Manager (models, at import) where moto 5.2.5 departs from AWS's documented
behaviour (shared/reference/aws-behaviour.md, beside the repository, lists the rules):

* `FakeSecret.default_version_id` is read from the labels: the version carrying AWSCURRENT. moto kept
  it as a pointer that UpdateSecretVersionStage never moved, so GetSecretValue without a stage or
  version id returned the old value after AWSCURRENT had moved.
* `SecretsManagerBackend.put_secret_value` is replaced:
  - a version's value is bound once: the same ClientRequestToken with another SecretString or
    SecretBinary fails with ResourceExistsException whatever the version's labels (moto overwrote
    AWSPENDING versions), the same value again is a no-op success (labels untouched), and a
    placeholder version with no value (begin-rotation's AWSPENDING) can be filled once;
  - labels named in VersionStages move to the new version, AWSPREVIOUS moves to the version
    AWSCURRENT left, and every other label stays where it is (moto reset the old current version to
    AWSPREVIOUS alone, and dropped the placeholder's own labels when filling it);
  - a secret scheduled for deletion refuses it (InvalidRequestException; moto accepted it);
  - at most 20 distinct staging labels per secret (LimitExceededException).
* `SecretsManagerBackend.update_secret_version_stage` first refuses a secret scheduled for deletion
  and a move that would exceed the 20 labels, then runs moto's own.
* PutSecretValue, UpdateSecretVersionStage and GetSecretValue take the wrapper's lock (moto's server
  is threaded), so a reader never sees AWSCURRENT on no version halfway through a move.

Run: python tools/moto_server.py [--host 127.0.0.1] [--port 0] [--exit-on-stdin-eof]
It prints one JSON line, {"endpoint": "http://HOST:PORT"}, once it is listening.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time
import uuid
from typing import Any, Callable, Iterable
import re
from urllib.parse import parse_qs, unquote

from moto.backends import get_backend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.secretsmanager.exceptions import (
    InvalidRequestException,
    OperationNotPermittedOnReplica,
    ResourceExistsException,
    SecretNotFoundException,
    SecretsManagerClientError,
)
from moto.secretsmanager.models import FakeSecret, ReplicaSecret, SecretsManagerBackend
from werkzeug.serving import make_server

ACCOUNT = "123456789012"
# Lambda's GetFunctionConfiguration: GET /2015-03-31/functions/{name or ARN}/configuration
LAMBDA_CONFIGURATION = re.compile(r"^/2015-03-31/functions/([^/]+)/configuration$")
LOCK = threading.Lock()
# Each replica's last /_rotator/replica call, so that a timer set by an earlier one cannot undo it.
REPLICA_GENERATION: dict[tuple[str, str], int] = {}
FAULTS: dict[tuple[str, str | None], list[dict[str, Any]]] = {}  # (operation, SecretId or None)
REQUESTS: dict[str, list[dict[str, Any]]] = {}

# moto reports RotationRules from AutomaticallyAfterDays alone; AWS also reports a
# ScheduleExpression when the rotation was configured with one.
_original_to_dict = FakeSecret.to_dict


def _to_dict_with_schedule(self: FakeSecret) -> dict[str, Any]:
    dct = _original_to_dict(self)
    rules = getattr(self, "rotator_rules", None)
    if rules is not None and "RotationRules" in dct:
        dct["RotationRules"] = rules
    return dct


FakeSecret.to_dict = _to_dict_with_schedule  # type: ignore[method-assign]


# Where moto's Secrets Manager departs from AWS's documented rules (see the module docstring).
MAX_STAGING_LABELS = 20  # distinct labels across all versions of one secret


class LimitExceededException(SecretsManagerClientError):
    def __init__(self, message: str):
        super().__init__("LimitExceededException", message)


def _current_version_id(self: FakeSecret) -> str | None:
    return next((vid for vid, v in self.versions.items() if "AWSCURRENT" in v["version_stages"]), None)


# moto assigns default_version_id in several places; the labels alone decide it here.
FakeSecret.default_version_id = property(_current_version_id, lambda self, value: None)  # type: ignore[assignment]


def _refuse_if_deleted(secret: FakeSecret | ReplicaSecret) -> None:
    if secret.is_deleted():
        raise InvalidRequestException(
            "You can't perform this operation on the secret because it was marked for deletion."
        )


def _check_label_limit(secret: FakeSecret | ReplicaSecret, added: Iterable[str]) -> None:
    labels = {label for version in secret.versions.values() for label in version["version_stages"]}
    if len(labels | set(added)) > MAX_STAGING_LABELS:
        raise LimitExceededException(
            f"A secret can have at most {MAX_STAGING_LABELS} staging labels across its versions."
        )


def _put_secret_value(
    self: SecretsManagerBackend,
    secret_id: str,
    secret_string: str | None,
    secret_binary: str | None,
    client_request_token: str | None,
    version_stages: list[str],
) -> str:
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    if isinstance(secret, ReplicaSecret):
        raise OperationNotPermittedOnReplica()
    _refuse_if_deleted(secret)
    version_id = self._from_client_request_token(client_request_token)
    with LOCK:  # one writer at a time (begin-rotation takes it too)
        return _put_version(secret, version_id, secret_string, secret_binary, version_stages)


def _put_version(
    secret: FakeSecret,
    version_id: str,
    secret_string: str | None,
    secret_binary: str | None,
    version_stages: list[str],
) -> str:
    old = secret.versions.get(version_id)
    if old is not None and ("secret_string" in old or "secret_binary" in old):
        if old.get("secret_string") == secret_string and old.get("secret_binary") == secret_binary:
            return secret.to_short_dict(include_version_stages=True, version_id=version_id)
        raise ResourceExistsException(
            f"You can't use ClientRequestToken {version_id} because that value is already in use "
            f"for a version of secret {secret.arn}."
        )

    named = list(dict.fromkeys(version_stages))
    if not secret.versions and "AWSCURRENT" not in named:
        named.append("AWSCURRENT")  # the first version is current, whatever was named
    old_current = secret.default_version_id
    moves_current = "AWSCURRENT" in named and old_current not in (None, version_id)
    moved = set(named) | ({"AWSPREVIOUS"} if moves_current else set())
    _check_label_limit(secret, moved)

    kept = {vid: [s for s in v["version_stages"] if s not in moved] for vid, v in secret.versions.items()}
    if moves_current:
        kept[old_current].append("AWSPREVIOUS")
    new: dict[str, Any] = {
        "createdate": int(time.time()),
        "version_id": version_id,
        "version_stages": kept.pop(version_id, []) + named,
    }
    if secret_string is not None:
        new["secret_string"] = secret_string
    if secret_binary is not None:
        new["secret_binary"] = secret_binary
    secret.versions[version_id] = new
    for vid, labels in kept.items():
        secret.versions[vid]["version_stages"] = labels
    secret.last_changed_date = int(time.time())
    return secret.to_short_dict(include_version_stages=True, version_id=version_id)


SecretsManagerBackend.put_secret_value = _put_secret_value  # type: ignore[method-assign,assignment]

_original_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage


def _update_secret_version_stage(
    self: SecretsManagerBackend,
    secret_id: str,
    version_stage: str,
    remove_from_version_id: str | None,
    move_to_version_id: str | None,
) -> tuple[str, str]:
    with LOCK:
        if secret_id in self.secrets:
            secret = self.secrets[secret_id]
            _refuse_if_deleted(secret)
            if move_to_version_id:
                moves_current = version_stage == "AWSCURRENT" and remove_from_version_id
                _check_label_limit(secret, [version_stage] + (["AWSPREVIOUS"] if moves_current else []))
        return _original_update_secret_version_stage(
            self, secret_id, version_stage, remove_from_version_id, move_to_version_id
        )


SecretsManagerBackend.update_secret_version_stage = _update_secret_version_stage  # type: ignore[method-assign]

_original_get_secret_value = SecretsManagerBackend.get_secret_value


def _get_secret_value(self: SecretsManagerBackend, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with LOCK:  # never halfway through a move of AWSCURRENT, which moto does remove-first
        return _original_get_secret_value(self, *args, **kwargs)


SecretsManagerBackend.get_secret_value = _get_secret_value  # type: ignore[method-assign]


class HelperError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _secret(region: str, secret_id: str) -> FakeSecret:
    backend = get_backend("secretsmanager")[ACCOUNT][region]
    if not backend._is_valid_identifier(secret_id):
        raise HelperError(400, "ResourceNotFoundException", f"no secret {secret_id}")
    return backend.secrets[secret_id]


def begin_rotation(region: str, body: dict[str, Any]) -> dict[str, Any]:
    secret = _secret(region, body["SecretId"])
    token = body.get("ClientRequestToken") or str(uuid.uuid4())
    current = next(
        (vid for vid, v in secret.versions.items() if "AWSCURRENT" in v["version_stages"]),
        None,
    )
    if current is None:
        raise HelperError(400, "InvalidRequestException", "secret has no AWSCURRENT version")
    for vid, version in secret.versions.items():
        stages = version["version_stages"]
        if "AWSPENDING" in stages and vid != current:
            raise HelperError(
                400,
                "InvalidRequestException",
                "A previous rotation isn't complete. That rotation will be reattempted.",
            )
        if "AWSPENDING" in stages:
            stages.remove("AWSPENDING")

    pending: dict[str, Any] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    if body.get("RotateImmediately") is False:
        for field in ("secret_string", "secret_binary"):
            if field in secret.versions[current]:
                pending[field] = secret.versions[current][field]
    secret.versions[token] = pending

    rules: dict[str, Any] = {}
    if "AutomaticallyAfterDays" in body:
        rules["AutomaticallyAfterDays"] = int(body["AutomaticallyAfterDays"])
    if "ScheduleExpression" in body:
        rules["ScheduleExpression"] = body["ScheduleExpression"]
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = body.get(
        "RotationLambdaARN",
        f"arn:aws:lambda:{region}:{ACCOUNT}:function:api-key-rotator",
    )
    secret.auto_rotate_after_days = rules.get("AutomaticallyAfterDays", 0)
    secret.rotator_rules = rules  # type: ignore[attr-defined]
    return {"ARN": secret.arn, "VersionId": token}


def rotation_function(region: str, body: dict[str, Any]) -> dict[str, Any]:
    """Names a secret's rotation function without turning rotation on, as AWS shows a secret whose
    rotation was turned off (CancelRotateSecret keeps the function): {"SecretId", "RotationLambdaARN"}.
    Called with LOCK held."""
    secret = _secret(region, body["SecretId"])
    secret.rotation_requested = True
    secret.rotation_lambda_arn = body["RotationLambdaARN"]
    return {"ARN": secret.arn, "RotationLambdaARN": secret.rotation_lambda_arn}


def replica_state(region: str, body: dict[str, Any]) -> dict[str, Any]:
    """Sets a replica region's ReplicationStatus, as AWS reports it while it copies a new version.

    moto reports every replica InSync at once; AWS takes a while, and a replica can fail (no KMS
    key in that region, say). With "Seconds" the status holds that long, then the replica is
    InSync again, unless another call has set it meanwhile. Called with LOCK held.
    """
    secret = _secret(region, body["SecretId"])
    replicas = getattr(secret, "replicas", None)
    if replicas is None:
        raise HelperError(400, "InvalidRequestException", "name the primary secret, not a replica")
    replica = next((r for r in replicas if r.region == body["ReplicaRegion"]), None)
    if replica is None:
        raise HelperError(400, "InvalidRequestException", f"no replica in {body['ReplicaRegion']}")
    status = body["Status"]
    default = {"InSync": "Replication succeeded", "Failed": "Replication failed"}.get(status, "Replication in progress")
    key = (secret.arn, replica.region)
    REPLICA_GENERATION[key] = generation = REPLICA_GENERATION.get(key, 0) + 1
    replica.config.update({"Status": status, "StatusMessage": body.get("StatusMessage", default)})
    if body.get("Seconds"):

        def in_sync() -> None:
            with LOCK:
                if REPLICA_GENERATION.get(key) == generation:  # not set again meanwhile
                    replica.config.update({"Status": "InSync", "StatusMessage": "Replication succeeded"})

        timer = threading.Timer(float(body["Seconds"]), in_sync)
        timer.daemon = True
        timer.start()
    return {"ReplicaRegion": replica.region, "Status": status}


def create_function(region: str, body: dict[str, Any]) -> dict[str, Any]:
    """A rotation function as a deployer leaves it: its name, environment, timeout and memory.

    moto's own CreateFunction needs an IAM role that exists and a zip; this creates both, so that
    GetFunctionConfiguration (moto's, over HTTP) answers as Lambda does. Nothing is ever invoked.
    """
    import base64
    import zipfile

    iam = get_backend("iam")[ACCOUNT]["global"]
    role_name = "api-key-rotator-test"
    try:
        role = iam.get_role(role_name)
    except Exception:  # noqa: BLE001 - moto raises its own IAMNotFoundException
        role = iam.create_role(role_name, "{}", "/", None, "", [], None)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("bootstrap", "not run")
    spec = {
        "FunctionName": body["FunctionName"],
        "Runtime": "provided.al2023",
        "Handler": "bootstrap",
        "Role": role.arn,
        "Code": {"ZipFile": base64.b64encode(code.getvalue()).decode()},
        "Environment": {"Variables": dict(body.get("Variables") or {})},
        "Timeout": int(body.get("Timeout", 90)),
        "MemorySize": int(body.get("MemorySize", 256)),
    }
    backend = get_backend("lambda")[ACCOUNT][region]
    try:
        fn = backend.get_function(body["FunctionName"])
    except Exception:  # noqa: BLE001 - moto raises its own UnknownFunctionException
        fn = backend.create_function(spec)
    # Deployed again: the same function, its configuration replaced in place (never missing).
    fn.environment_vars = spec["Environment"]["Variables"]
    fn.timeout = spec["Timeout"]
    fn.memory_size = spec["MemorySize"]
    return {"FunctionArn": fn.function_arn}


def _json_response(start_response: Callable, status: int, payload: Any) -> list[bytes]:
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
    )
    return [data]


SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)


def _signature_problem(environ: dict[str, Any], raw: bytes) -> str | None:
    """Why the request's SigV4 signature is not the one botocore computes for it, or None."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = SIGV4.match(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return "no SigV4 Authorization header"
    access_key, day, region, service, signed, signature = match.groups()
    if service != "events":
        return f"Credential should be scoped to correct service: 'events', not {service!r}"
    if access_key.startswith("ASIA") and "x-amz-security-token" not in signed.split(";"):
        return "temporary credentials need a signed X-Amz-Security-Token"
    stamp = environ.get("HTTP_X_AMZ_DATE", "")
    if not stamp.startswith(day):
        return "X-Amz-Date does not match the credential scope"
    headers = {}
    for name in signed.split(";"):
        key = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}.get(
            name, "HTTP_" + name.upper().replace("-", "_")
        )
        if key not in environ:
            return f"signed header {name} is missing"
        headers[name] = environ[key]
    if "host" not in headers:
        return "the host header is not signed"
    url = f"http://{headers['host']}{environ.get('PATH_INFO') or '/'}"
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "POST"), url=url, data=raw, headers=headers)
    request.context["timestamp"] = stamp
    token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
    signer = SigV4Auth(Credentials(access_key, access_key, token), service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if expected != signature:
        return "The request signature we calculated does not match the signature you provided."
    return None


def _region_of(environ: dict[str, Any]) -> str:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    # Credential=AKID/20240101/us-east-1/secretsmanager/aws4_request
    if "Credential=" in auth:
        parts = auth.split("Credential=", 1)[1].split("/")
        if len(parts) > 2:
            return parts[2]
    return "us-east-1"


class Helper:
    def __init__(self, app: Callable):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        path = environ.get("PATH_INFO", "")
        try:
            if path.startswith("/_rotator/"):
                return self.control(environ, start_response, path, raw)
            function = LAMBDA_CONFIGURATION.match(path) if environ.get("REQUEST_METHOD") == "GET" else None
            if function is not None:
                # Lambda's REST route: faults queued for "GetFunctionConfiguration", by function.
                fault = self.take("GetFunctionConfiguration", unquote(function.group(1)))
                if fault is not None:
                    return _json_response(
                        start_response,
                        fault["Status"],
                        {"__type": fault["Code"], "message": "injected by tools/moto_server.py"},
                    )
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target.startswith("AWSEvents."):
                problem = _signature_problem(environ, raw)
                if problem is not None:
                    return _json_response(start_response, 403, {"__type": "InvalidSignatureException", "message": problem})
            if target.startswith(("secretsmanager.", "AWSEvents.")):
                fault = self.record(target.split(".", 1)[1], raw)
                if fault is not None and fault["Delay"]:
                    time.sleep(fault["Delay"])
                if fault is not None and fault["Pass"]:
                    fault = None
                if fault is not None and fault["After"]:
                    for _ in self.app(environ, lambda *args, **kwargs: None):
                        pass
                if fault is not None and fault["Body"] is not None:
                    data = fault["Body"].encode()
                    start_response(
                        f"{fault['Status']} Injected",
                        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
                    )
                    return [data]
                if fault is not None:
                    return _json_response(
                        start_response,
                        fault["Status"],
                        {"__type": fault["Code"], "message": "injected by tools/moto_server.py"},
                    )
        except HelperError as err:
            return _json_response(start_response, err.status, {"__type": err.code, "message": err.message})
        return self.app(environ, start_response)

    def take(self, operation: str, subject: str) -> dict[str, Any] | None:
        """The next fault queued for `operation` on `subject` (or on any), if any."""
        with LOCK:
            queue = FAULTS.get((operation, subject)) or FAULTS.get((operation, None)) or []
            return queue.pop(0) if queue else None

    def record(self, operation: str, raw: bytes) -> dict[str, Any] | None:
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            params = {}
        params.pop("SecretString", None)
        params.pop("SecretBinary", None)
        if operation == "PutEvents":
            entries = params.get("Entries") or [{}]
            params["SecretId"] = (entries[0].get("Resources") or [None])[0]
        params["At"] = time.monotonic()  # comparable with the vendor simulator's times
        fault = self.take(operation, params.get("SecretId"))
        with LOCK:
            params["InjectedFault"] = fault["Code"] if fault else None
            REQUESTS.setdefault(operation, []).append(params)
        return fault

    def control(self, environ: dict[str, Any], start_response: Callable, path: str, raw: bytes) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        body = json.loads(raw or b"{}")
        if method == "POST" and path == "/_rotator/begin-rotation":
            with LOCK:
                return _json_response(start_response, 200, begin_rotation(body.get("Region") or _region_of(environ), body))
        if method == "POST" and path == "/_rotator/faults":
            fault = {
                "Status": int(body.get("Status", 500)),
                "Code": body.get("Code", "InternalServiceError"),
                "After": bool(body.get("After", False)),
                "Body": body.get("Body"),
                "Delay": float(body.get("Delay", 0)),
                "Pass": bool(body.get("Pass", False)),
            }
            with LOCK:
                key = (body["Operation"], body.get("SecretId"))
                if body.get("Clear"):
                    FAULTS.pop(key, None)
                    return _json_response(start_response, 200, {"queued": 0})
                # "Skip": n lets the next n matching calls through first (None is no fault).
                FAULTS.setdefault(key, []).extend([None] * int(body.get("Skip", 0)) + [fault] * int(body.get("Count", 1)))
            return _json_response(start_response, 200, {"queued": int(body.get("Count", 1))})
        if method == "POST" and path == "/_rotator/rotation-function":
            with LOCK:
                return _json_response(start_response, 200, rotation_function(body.get("Region") or _region_of(environ), body))
        if method == "POST" and path == "/_rotator/replica":
            with LOCK:
                return _json_response(start_response, 200, replica_state(body.get("Region") or _region_of(environ), body))
        if method == "POST" and path == "/_rotator/function":
            with LOCK:
                return _json_response(start_response, 200, create_function(body.get("Region") or _region_of(environ), body))
        if method == "GET" and path == "/_rotator/requests":
            operation = parse_qs(environ.get("QUERY_STRING", "")).get("Operation", [""])[0]
            with LOCK:
                return _json_response(start_response, 200, {"Requests": list(REQUESTS.get(operation, []))})
        raise HelperError(404, "NotFound", f"no helper route {method} {path}")


class QuietHandler(MotoRequestHandler):
    disable_nagle_algorithm = True  # see vendor_sim.py: avoids ~40 ms stalls per answer
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102 - per-request lines are noise
        pass


class VerboseHandler(MotoRequestHandler):
    disable_nagle_algorithm = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args()

    app = Helper(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=VerboseHandler if args.verbose else QuietHandler)
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
