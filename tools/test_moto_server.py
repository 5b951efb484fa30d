"""Tests of tools/moto_server.py: moto patched to follow AWS's documented Secrets Manager rules, and the
wrapper's helper routes. Run: .venv/bin/python -m pytest -q tools/test_moto_server.py

Each rule's test fails against unpatched moto 5.2.5 (see the wrapper's docstring for what it patches).
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import serve


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from serve("moto_server.py")


def client(endpoint: str, service: str, key: str = "testing", secret: str | None = None, token: str | None = None) -> Any:
    """A boto3 client of moto's `service`, signed with `key` (the secret key is the key itself
    unless given) and `token`. One attempt per call: injected failures are not retried."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret or key,
        aws_session_token=token,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def sm(endpoint: str) -> Any:
    return client(endpoint, "secretsmanager")


def token() -> str:
    return str(uuid.uuid4())


def new_secret(sm: Any, value: str = "one") -> tuple[str, str]:
    """A fresh secret with one version (AWSCURRENT); returns its name and that version's id."""
    name = f"test-{uuid.uuid4()}"
    version = token()
    sm.create_secret(Name=name, SecretString=value, ClientRequestToken=version)
    return name, version


def helper(endpoint: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(endpoint + path, data=data)) as response:
        return json.loads(response.read())


def begin_rotation(endpoint: str, name: str, **body: Any) -> str:
    return helper(endpoint, "/_rotator/begin-rotation", {"SecretId": name, **body})["VersionId"]


def stages(sm: Any, name: str) -> dict[str, set[str]]:
    return {vid: set(labels) for vid, labels in sm.describe_secret(SecretId=name)["VersionIdsToStages"].items()}


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return info.value.response["Error"]["Code"]


# Rule 1: a version's value is bound once.
def test_a_version_value_is_bound_once(sm: Any, endpoint: str) -> None:
    name, current = new_secret(sm)
    pending = begin_rotation(endpoint, name)
    put = dict(SecretId=name, ClientRequestToken=pending)

    sm.put_secret_value(**put, SecretString="two", VersionStages=["AWSPENDING"])  # fills the placeholder
    assert error_code(sm.put_secret_value, **put, SecretString="other", VersionStages=["AWSPENDING"]) == (
        "ResourceExistsException"
    )
    assert error_code(sm.put_secret_value, **put, SecretBinary=b"two", VersionStages=["AWSPENDING"]) == (
        "ResourceExistsException"
    )
    again = sm.put_secret_value(**put, SecretString="two", VersionStages=["AWSCURRENT"])  # a no-op
    assert set(again["VersionStages"]) == {"AWSPENDING"}
    assert error_code(sm.put_secret_value, SecretId=name, ClientRequestToken=current, SecretString="x") == (
        "ResourceExistsException"
    )
    assert sm.get_secret_value(SecretId=name, VersionId=pending)["SecretString"] == "two"
    assert stages(sm, name) == {current: {"AWSCURRENT"}, pending: {"AWSPENDING"}}


# Rule 2: naming AWSCURRENT moves AWSPREVIOUS and the named labels, nothing else.
def test_put_with_awscurrent_moves_only_named_labels_and_awsprevious(sm: Any, endpoint: str) -> None:
    name, v1 = new_secret(sm)
    v2 = token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=v2, SecretString="two")  # v1 is AWSPREVIOUS
    sm.update_secret_version_stage(SecretId=name, VersionStage="OLD", MoveToVersionId=v1)
    sm.update_secret_version_stage(SecretId=name, VersionStage="KEEP", MoveToVersionId=v2)
    pending = begin_rotation(endpoint, name)

    v3 = token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=v3, SecretString="three", VersionStages=["AWSCURRENT", "OLD"])

    assert stages(sm, name) == {
        v1: set(),
        v2: {"KEEP", "AWSPREVIOUS"},
        pending: {"AWSPENDING"},
        v3: {"AWSCURRENT", "OLD"},
    }
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "three"


# Rule 3: GetSecretValue without a stage or version id follows AWSCURRENT.
def test_get_secret_value_follows_awscurrent_moved_by_update_secret_version_stage(sm: Any) -> None:
    name, v1 = new_secret(sm)
    v2 = token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=v2, SecretString="two", VersionStages=["AWSPENDING"])
    sm.update_secret_version_stage(
        SecretId=name, VersionStage="AWSCURRENT", RemoveFromVersionId=v1, MoveToVersionId=v2
    )

    got = sm.get_secret_value(SecretId=name)
    assert (got["VersionId"], got["SecretString"]) == (v2, "two")
    assert stages(sm, name) == {v1: {"AWSPREVIOUS"}, v2: {"AWSPENDING", "AWSCURRENT"}}


# Rule 4: a secret scheduled for deletion refuses writes.
def test_a_secret_scheduled_for_deletion_refuses_writes(sm: Any) -> None:
    name, v1 = new_secret(sm)
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)

    assert error_code(sm.put_secret_value, SecretId=name, ClientRequestToken=token(), SecretString="two") == (
        "InvalidRequestException"
    )
    assert error_code(sm.update_secret_version_stage, SecretId=name, VersionStage="X", MoveToVersionId=v1) == (
        "InvalidRequestException"
    )
    sm.restore_secret(SecretId=name)
    sm.put_secret_value(SecretId=name, ClientRequestToken=token(), SecretString="two")


# Rule 5: at most 20 distinct staging labels per secret.
def test_at_most_20_staging_labels_per_secret(sm: Any) -> None:
    name, v1 = new_secret(sm)  # AWSCURRENT is the first label
    for n in range(19):
        sm.update_secret_version_stage(SecretId=name, VersionStage=f"L{n}", MoveToVersionId=v1)

    assert error_code(sm.update_secret_version_stage, SecretId=name, VersionStage="L19", MoveToVersionId=v1) == (
        "LimitExceededException"
    )
    assert error_code(
        sm.put_secret_value, SecretId=name, ClientRequestToken=token(), SecretString="x", VersionStages=["L19"]
    ) == "LimitExceededException"
    # Moving labels the secret already has stays within the limit.
    v2 = token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=v2, SecretString="two", VersionStages=["L0", "L1"])
    assert stages(sm, name)[v2] == {"L0", "L1"}


# What the rotator writes: versions whose only label is custom, and custom labels on AWSPENDING.
def test_a_version_whose_only_label_is_custom(sm: Any) -> None:
    name, v1 = new_secret(sm)
    rescue = token()
    sm.put_secret_value(
        SecretId=name, ClientRequestToken=rescue, SecretBinary=b"\x00\xffkey", VersionStages=["ROTATION_RESCUE"]
    )

    got = sm.get_secret_value(SecretId=name, VersionStage="ROTATION_RESCUE")
    assert (got["VersionId"], got["SecretBinary"], got["VersionStages"]) == (rescue, b"\x00\xffkey", ["ROTATION_RESCUE"])
    assert "SecretString" not in got
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "one"

    again = token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=again, SecretString="s", VersionStages=["ROTATION_RESCUE"])
    assert stages(sm, name) == {v1: {"AWSCURRENT"}, rescue: set(), again: {"ROTATION_RESCUE"}}


def test_a_custom_label_on_the_pending_placeholder_survives_filling_it(sm: Any, endpoint: str) -> None:
    name, v1 = new_secret(sm)
    pending = begin_rotation(endpoint, name)
    sm.update_secret_version_stage(SecretId=name, VersionStage="ROTATION_RESCUE", MoveToVersionId=pending)

    sm.put_secret_value(SecretId=name, ClientRequestToken=pending, SecretString="two", VersionStages=["AWSPENDING"])

    assert stages(sm, name) == {v1: {"AWSCURRENT"}, pending: {"AWSPENDING", "ROTATION_RESCUE"}}
    assert sm.get_secret_value(SecretId=name, VersionStage="ROTATION_RESCUE")["SecretString"] == "two"


# The helper routes.
def test_begin_rotation_stages_a_pending_version(sm: Any, endpoint: str) -> None:
    name, v1 = new_secret(sm)
    pending = begin_rotation(endpoint, name, ScheduleExpression="rate(10 days)", AutomaticallyAfterDays=10)

    described = sm.describe_secret(SecretId=name)
    assert described["RotationEnabled"] is True
    assert described["RotationRules"] == {"AutomaticallyAfterDays": 10, "ScheduleExpression": "rate(10 days)"}
    assert stages(sm, name) == {v1: {"AWSCURRENT"}, pending: {"AWSPENDING"}}
    with pytest.raises(ClientError) as info:  # a placeholder: no value yet
        sm.get_secret_value(SecretId=name, VersionStage="AWSPENDING")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"

    # A second rotation while this one is in progress is refused.
    with pytest.raises(urllib.error.HTTPError) as refused:
        begin_rotation(endpoint, name)
    assert json.loads(refused.value.read())["__type"] == "InvalidRequestException"

    # RotateImmediately = false: the pending version carries the current value.
    name, _ = new_secret(sm, "kept")
    pending = begin_rotation(endpoint, name, RotateImmediately=False)
    assert sm.get_secret_value(SecretId=name, VersionId=pending)["SecretString"] == "kept"


def test_faults_fail_matching_calls_once_each(sm: Any, endpoint: str) -> None:
    name, _ = new_secret(sm)
    other, _ = new_secret(sm)
    helper(endpoint, "/_rotator/faults", {"Operation": "GetSecretValue", "SecretId": name, "Count": 2, "Status": 500})

    sm.get_secret_value(SecretId=other)  # another secret id does not match
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            sm.get_secret_value(SecretId=name)
        assert info.value.response["Error"]["Code"] == "InternalServiceError"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "one"

    # "After": the write lands, only its answer is lost.
    helper(endpoint, "/_rotator/faults", {"Operation": "PutSecretValue", "SecretId": name, "After": True})
    lost = token()
    with pytest.raises(ClientError):
        sm.put_secret_value(SecretId=name, ClientRequestToken=lost, SecretString="two")
    assert sm.get_secret_value(SecretId=name)["VersionId"] == lost

    # "Body": the answer as given, here a 200 whose JSON breaks off.
    helper(endpoint, "/_rotator/faults", {"Operation": "GetSecretValue", "SecretId": name, "Status": 200, "Body": '{"SecretString": "x'})
    request = urllib.request.Request(
        endpoint + "/",
        data=json.dumps({"SecretId": name}).encode(),
        headers={"X-Amz-Target": "secretsmanager.GetSecretValue", "Content-Type": "application/x-amz-json-1.1"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert (answer.status, answer.read()) == (200, b'{"SecretString": "x')
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "two"

    # "Skip": the next calls go through, then the failures start.
    helper(endpoint, "/_rotator/faults", {"Operation": "DescribeSecret", "SecretId": name, "Skip": 2, "Count": 1})
    sm.describe_secret(SecretId=name)
    sm.describe_secret(SecretId=name)
    with pytest.raises(ClientError):
        sm.describe_secret(SecretId=name)
    sm.describe_secret(SecretId=name)
    # "Clear": what is still queued is dropped.
    helper(endpoint, "/_rotator/faults", {"Operation": "DescribeSecret", "SecretId": name, "Count": 5})
    helper(endpoint, "/_rotator/faults", {"Operation": "DescribeSecret", "SecretId": name, "Clear": True})
    sm.describe_secret(SecretId=name)
    # "Delay" with "Pass": the call waits, then is carried out as usual.
    helper(endpoint, "/_rotator/faults", {"Operation": "DescribeSecret", "SecretId": name, "Delay": 0.3, "Pass": True})
    started = time.monotonic()
    assert sm.describe_secret(SecretId=name)["Name"] == name
    assert time.monotonic() - started >= 0.3


def test_rotation_function_names_the_function_without_turning_rotation_on(sm: Any, endpoint: str) -> None:
    name, _ = new_secret(sm)
    function = "arn:aws:lambda:us-east-1:123456789012:function:api-key-rotator"
    helper(endpoint, "/_rotator/rotation-function", {"SecretId": name, "RotationLambdaARN": function})
    described = sm.describe_secret(SecretId=name)
    assert described["RotationLambdaARN"] == function and not described.get("RotationEnabled")
    listed = [s for s in sm.list_secrets()["SecretList"] if s["Name"] == name]
    assert listed[0]["RotationLambdaARN"] == function


def test_requests_lists_calls_without_their_values(sm: Any, endpoint: str) -> None:
    name, _ = new_secret(sm)
    version, rotation = token(), token()
    sm.put_secret_value(SecretId=name, ClientRequestToken=version, SecretString="two", RotationToken=rotation)

    calls = helper(endpoint, "/_rotator/requests?Operation=PutSecretValue")["Requests"]
    mine = [call for call in calls if call.get("SecretId") == name]
    assert len(mine) == 1
    assert mine[0]["ClientRequestToken"] == version and mine[0]["RotationToken"] == rotation
    assert mine[0]["InjectedFault"] is None and isinstance(mine[0]["At"], float)
    assert "SecretString" not in mine[0] and "SecretBinary" not in mine[0]


def test_function_creates_a_rotation_function_that_lambda_describes(endpoint: str) -> None:
    name = f"rotator-{uuid.uuid4().hex[:8]}"
    variables = {"CALCOM_BASE_URL": "http://127.0.0.1:9/calcom", "ROTATION_PROMOTE": "early"}
    arn = helper(endpoint, "/_rotator/function", {"FunctionName": name, "Variables": variables, "Timeout": 30})[
        "FunctionArn"
    ]
    assert arn.endswith(f":function:{name}")
    lam = client(endpoint, "lambda")
    config = lam.get_function_configuration(FunctionName=arn)
    assert config["Environment"]["Variables"] == variables
    assert (config["Timeout"], config["MemorySize"]) == (30, 256)
    with pytest.raises(ClientError) as info:
        lam.get_function_configuration(FunctionName="no-such-function")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # A fault queued for the function fails its next read once, as a denied caller would see it.
    fault = {"Operation": "GetFunctionConfiguration", "SecretId": arn, "Status": 403, "Code": "AccessDeniedException"}
    helper(endpoint, "/_rotator/faults", fault)
    with pytest.raises(ClientError) as info:
        lam.get_function_configuration(FunctionName=arn)
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    assert lam.get_function_configuration(FunctionName=arn)["Timeout"] == 30


def test_replica_holds_a_status_for_a_while_or_fails(sm: Any, endpoint: str) -> None:
    import time
    import urllib.error

    name = f"test-{uuid.uuid4()}"
    sm.create_secret(Name=name, SecretString="one", AddReplicaRegions=[{"Region": "eu-west-1"}, {"Region": "ap-south-1"}])

    def replicas() -> dict[str, tuple[str, str]]:
        status = sm.describe_secret(SecretId=name)["ReplicationStatus"]
        return {r["Region"]: (r["Status"], r.get("StatusMessage")) for r in status}

    def state(region: str, status: str, **more: Any) -> None:
        helper(endpoint, "/_rotator/replica", {"SecretId": name, "ReplicaRegion": region, "Status": status, **more})

    assert replicas() == {"eu-west-1": ("InSync", "Replication succeeded"), "ap-south-1": ("InSync", "Replication succeeded")}
    state("eu-west-1", "InProgress", Seconds=1)
    state("ap-south-1", "InProgress", Seconds=1)
    state("ap-south-1", "Failed", StatusMessage="no KMS key")  # set again: its timer must not undo this
    assert replicas() == {"eu-west-1": ("InProgress", "Replication in progress"), "ap-south-1": ("Failed", "no KMS key")}
    deadline = time.monotonic() + 10
    while replicas()["eu-west-1"][0] != "InSync":
        assert time.monotonic() < deadline, "the replica never came back InSync"
        time.sleep(0.2)
    time.sleep(1.5)  # past ap-south-1's first timer
    assert replicas() == {"eu-west-1": ("InSync", "Replication succeeded"), "ap-south-1": ("Failed", "no KMS key")}
    with pytest.raises(urllib.error.HTTPError) as info:
        state("us-west-2", "Failed")
    assert info.value.code == 400


def test_put_events_is_signature_checked_logged_and_delivered(endpoint: str) -> None:
    events, sqs = client(endpoint, "events"), client(endpoint, "sqs")
    queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"r-{uuid.uuid4().hex[:8]}"
    secret = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{rule}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["api-key-rotator"], "resources": [secret]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    entry = {"Source": "api-key-rotator", "DetailType": "Vendor Key Rotated", "Detail": '{"vendor":"calcom"}', "Resources": [secret]}

    # botocore signs as AWS expects: accepted, logged under the secret, delivered through the rule.
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    logged = [r for r in helper(endpoint, "/_rotator/requests?Operation=PutEvents")["Requests"] if r["SecretId"] == secret]
    assert [r["Entries"][0]["DetailType"] for r in logged] == ["Vendor Key Rotated"]
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]
    assert json.loads(message["Body"])["detail"] == {"vendor": "calcom"}

    # Signed with the wrong secret key: refused as AWS refuses it, and nothing is delivered.
    with pytest.raises(ClientError) as info:
        client(endpoint, "events", secret="wrong").put_events(Entries=[entry])
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0)

    # Temporary credentials (Lambda's): the session token must be signed too.
    temporary = client(endpoint, "events", key="ASIATEMP", token="session")
    assert temporary.put_events(Entries=[entry])["FailedEntryCount"] == 0
    sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)
    with pytest.raises(ClientError) as info:
        client(endpoint, "events", key="ASIATEMP").put_events(Entries=[entry])
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"

    # A fault queued for the secret's events fails the next one.
    helper(endpoint, "/_rotator/faults", {"Operation": "PutEvents", "SecretId": secret, "Status": 500, "Code": "InternalException"})
    with pytest.raises(ClientError) as info:
        events.put_events(Entries=[entry])
    assert info.value.response["Error"]["Code"] == "InternalException"
