"""template.yaml as SAM deploys it: expanded offline by the SAM translator (aws-sam-translator, the
library the SAM CLI and CloudFormation's transform use), the function's role is the template's own,
with no managed policy attached and nothing SAM's policy templates would add.

Run: .venv/bin/python -m pytest -q tools/test_template.py (scripts/test does).
"""

from __future__ import annotations

import json
import re
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from samtranslator.yaml_helper import yaml_parse  # noqa: E402
from stackset import SOURCE, translate  # noqa: E402


def translated(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template as the translator expands it (the StackSet script's translation: the code's
    location aside, what `sam deploy` creates)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks for a partition
    return translate(template if template is not None else yaml_parse(SOURCE.read_text()))


def roles(plain: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in plain["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def test_the_function_runs_as_the_templates_own_role_with_no_managed_policy() -> None:
    plain = translated()
    assert list(roles(plain)) == ["RotationFunctionRole"], "SAM generated a role of its own"
    function = plain["Resources"]["RotationFunction"]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["Role"] == {"Fn::GetAtt": ["RotationFunctionRole", "Arn"]}
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}
    text = json.dumps(plain)
    for never in ["ManagedPolicyArns", "AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole", "GetRandomPassword", "logs:CreateLogGroup"]:
        assert never not in text, f"the deployed template holds {never}"
    # Inside a VPC too: the VpcConfig property never brings the VPC managed policy.
    assert "VpcConfig" in function["Properties"]


def test_the_check_can_fail_on_a_function_without_a_role_of_its_own() -> None:
    """What the template replaced: SAM's generated role, with the basic (and VPC) managed policies
    and the rotation policy template's GetRandomPassword. The check above would refuse it."""
    sam = yaml_parse(SOURCE.read_text())
    props = sam["Resources"]["RotationFunction"]["Properties"]
    del props["Role"]
    del sam["Resources"]["RotationFunctionRole"]
    props["Policies"] = [{"AWSSecretsManagerRotationPolicy": {"FunctionName": {"Ref": "FunctionName"}}}]
    plain = translated(sam)
    assert "ManagedPolicyArns" in roles(plain)["RotationFunctionRole"]["Properties"]
    text = json.dumps(plain)
    assert "AWSLambdaBasicExecutionRole" in text and "AWSLambdaVPCAccessExecutionRole" in text
    assert "GetRandomPassword" in text


# -- the template's resources and properties, statement by statement ---------------------------

SAM = yaml_parse(SOURCE.read_text())
RESOURCES: dict[str, Any] = SAM["Resources"]
ROOT = SOURCE.parent


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


FUNCTION_ARN = sub("arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}")
SECRETS = sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretNamePrefix}*")


def props(name: str) -> dict[str, Any]:
    return RESOURCES[name]["Properties"]


def policies() -> dict[str, tuple[str | None, list[dict[str, Any]]]]:
    """The role's inline policies by name: the condition that adds it (None: always) and its
    statements."""
    found = {}
    for policy in props("RotationFunctionRole")["Policies"]:
        condition = None
        if "Fn::If" in policy:
            condition, policy, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}, condition
        found[policy["PolicyName"]] = (condition, policy["PolicyDocument"]["Statement"])
    return found


def statement(policy: str, sid: str) -> dict[str, Any]:
    return next(s for s in policies()[policy][1] if s["Sid"] == sid)


def actions(stmt: dict[str, Any]) -> list[str]:
    return stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]


def test_the_role_is_the_templates_own_with_a_boundary_when_given() -> None:
    role = RESOURCES["RotationFunctionRole"]
    assert role["Type"] == "AWS::IAM::Role"
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert role["Properties"]["PermissionsBoundary"] == {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundary"}, {"Ref": "AWS::NoValue"}]}
    assert "ManagedPolicyArns" not in role["Properties"]
    assert props("RotationFunction")["Role"] == {"Fn::GetAtt": ["RotationFunctionRole", "Arn"]}
    assert "Policies" not in props("RotationFunction"), "SAM would make a role of its own for them"
    # No policy elsewhere adds to the role behind the template's back.
    assert not [n for n, r in RESOURCES.items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")]
    assert set(policies()) == {"rotation", "vpc-network-interfaces", "secrets-key", "environment-key"}
    # The names of the separate policies earlier templates attached to a role of the same logical
    # id: CloudFormation deletes those after an update writes the inline ones, which would take an
    # inline policy of the same name with them.
    assert not set(policies()) & {"secrets-kms", "environment-kms"}


def test_the_rotation_steps_act_only_on_this_functions_secrets_of_the_prefix() -> None:
    stmt = statement("rotation", "RotateItsOwnSecrets")
    assert policies()["rotation"][0] is None
    assert stmt["Effect"] == "Allow"
    assert sorted(actions(stmt)) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
    assert stmt["Resource"] == SECRETS
    assert stmt["Condition"] == {"StringEquals": {"secretsmanager:resource/AllowRotationLambdaArn": FUNCTION_ARN}}


def test_the_search_and_lambdas_network_interfaces_are_the_only_grants_on_every_resource() -> None:
    stmt = statement("rotation", "SharedKeySearch")
    assert sorted(actions(stmt)) == ["secretsmanager:BatchGetSecretValue", "secretsmanager:ListSecrets"]
    assert stmt["Resource"] == "*" and "Condition" not in stmt
    everywhere = [(p, s["Sid"]) for p, (_, stmts) in policies().items() for s in stmts if s["Resource"] == "*" and s["Effect"] == "Allow"]
    assert everywhere == [("rotation", "SharedKeySearch"), ("vpc-network-interfaces", "LambdaManagesTheNetworkInterfaces")]


def test_logs_go_to_the_functions_own_log_group_only() -> None:
    stmt = statement("rotation", "WriteItsOwnLogs")
    assert sorted(actions(stmt)) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert stmt["Resource"] == sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${FunctionName}:*")
    group = RESOURCES["LogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup" and group["DeletionPolicy"] == "Delete"
    assert group["Properties"] == {
        "LogGroupName": sub("/aws/lambda/${FunctionName}"),
        "RetentionInDays": {"Ref": "LogRetentionDays"},
        "KmsKeyId": {"Fn::If": ["HasEncryptionKey", {"Ref": "EncryptionKeyArn"}, {"Ref": "AWS::NoValue"}]},
    }
    assert SAM["Parameters"]["LogRetentionDays"]["Default"] == 365
    assert props("RotationFunction")["LoggingConfig"]["LogGroup"] == {"Ref": "LogGroup"}


def test_events_are_put_on_the_default_bus_with_the_functions_source_and_type_only() -> None:
    stmt = statement("rotation", "TellConsumers")
    assert actions(stmt) == ["events:PutEvents"]
    assert stmt["Resource"] == sub("arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default")
    source, detail_type = rust_constant("SOURCE"), rust_constant("DETAIL_TYPE")
    assert stmt["Condition"] == {
        "ForAllValues:StringEquals": {"events:source": source, "events:detail-type": detail_type},
        "Null": {"events:source": "false", "events:detail-type": "false"},
    }
    # The rule that tells consumers listens for exactly that.
    pattern = props("KeyRotatedRule")["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == ([source], [detail_type])


def test_network_interface_rights_come_only_inside_a_vpc_and_never_to_the_code() -> None:
    condition, stmts = policies()["vpc-network-interfaces"]
    assert condition == "HasVpc"
    allow = statement("vpc-network-interfaces", "LambdaManagesTheNetworkInterfaces")
    deny = statement("vpc-network-interfaces", "NotFromTheFunctionsCode")
    assert allow["Effect"] == "Allow" and deny["Effect"] == "Deny"
    assert set(actions(allow)) <= set(actions(deny)), "every right Lambda gets is denied to the code"
    assert {"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses", "ec2:DeleteNetworkInterface"} <= set(actions(deny))
    assert deny["Condition"] == {"ArnEquals": {"lambda:SourceFunctionArn": FUNCTION_ARN}}
    assert len(stmts) == 2


def test_kms_grants_come_with_their_keys_through_their_services_only() -> None:
    condition, _ = policies()["secrets-key"]
    stmt = statement("secrets-key", "SecretsKey")
    assert condition == "HasKmsKey" and stmt["Resource"] == {"Ref": "KmsKeyArn"}
    assert sorted(actions(stmt)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert stmt["Condition"] == {
        "StringEquals": {"kms:ViaService": sub("secretsmanager.${AWS::Region}.amazonaws.com")},
        "StringLike": {"kms:EncryptionContext:SecretARN": SECRETS},
    }
    condition, _ = policies()["environment-key"]
    stmt = statement("environment-key", "EnvironmentKey")
    assert condition == "HasEncryptionKey" and stmt["Resource"] == {"Ref": "EncryptionKeyArn"}
    assert actions(stmt) == ["kms:Decrypt"]
    assert stmt["Condition"] == {"StringEquals": {"kms:ViaService": sub("lambda.${AWS::Region}.amazonaws.com")}}


# Every Secrets Manager operation, as the Rust SDK spells the method that calls it.
SECRETS_MANAGER_OPERATIONS = [
    "BatchGetSecretValue", "CancelRotateSecret", "CreateSecret", "DeleteResourcePolicy", "DeleteSecret", "DescribeSecret",
    "GetRandomPassword", "GetResourcePolicy", "GetSecretValue", "ListSecretVersionIds", "ListSecrets", "PutResourcePolicy",
    "PutSecretValue", "RemoveRegionsFromReplication", "ReplicateSecretToRegions", "RestoreSecret", "RotateSecret",
    "StopReplicationToReplica", "TagResource", "UntagResource", "UpdateSecret", "UpdateSecretVersionStage", "ValidateResourcePolicy",
]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_role_grants_exactly_the_secrets_manager_calls_the_code_makes() -> None:
    code = "\n".join(p.read_text() for p in (ROOT / "src").rglob("*.rs"))
    called = {op for op in SECRETS_MANAGER_OPERATIONS if re.search(rf"\.{snake(op)}\(\)", code)}
    granted = {a.split(":", 1)[1] for _, stmts in policies().values() for s in stmts if s["Effect"] == "Allow" for a in actions(s) if a.startswith("secretsmanager:")}
    assert called, "the search for SDK calls found none: it no longer reads the code"
    assert granted == called, f"granted but never called: {granted - called}; called but not granted: {called - granted}"


def test_secrets_manager_invokes_the_function_for_this_account_and_prefix_only() -> None:
    permission = props("SecretsManagerInvokePermission")
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert permission["SourceArn"] == SECRETS
    prefix = SAM["Parameters"]["SecretNamePrefix"]
    assert prefix["Default"] == "" and re.fullmatch(prefix["AllowedPattern"], "vendors/calcom-prod_1+=.@")
    assert not re.fullmatch(prefix["AllowedPattern"], "vendors/*")


def test_the_alert_topic_accepts_the_stacks_alarms_and_rule_only() -> None:
    alarms = sorted(n for n, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm")
    assert len(alarms) == 5, alarms
    stmts = {s["Sid"]: s for s in props("AlertTopicPolicy")["PolicyDocument"]["Statement"]}
    assert set(stmts) == {"CloudWatchAlarms", "EventBridgeRotationEvents"}
    from_alarms = stmts["CloudWatchAlarms"]
    assert from_alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert from_alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    named = sorted(arn["Fn::GetAtt"][0] for arn in from_alarms["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert named == alarms
    assert stmts["EventBridgeRotationEvents"]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RotationEventsRule", "Arn"]}}}
    for alarm in alarms:
        assert props(alarm)["AlarmActions"] == [{"Ref": "AlertTopic"}], alarm


def test_each_rule_target_has_an_encrypted_dead_letter_queue_that_pages() -> None:
    queues = {}
    for rule in ("RotationEventsRule", "KeyRotatedRule"):
        (target,) = props(rule)["Targets"]
        queue = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        queues[rule] = queue
        assert RESOURCES[queue]["Type"] == "AWS::SQS::Queue"
        assert props(queue)["KmsMasterKeyId"] == {"Fn::If": ["HasEncryptionKey", {"Ref": "EncryptionKeyArn"}, {"Ref": "AWS::NoValue"}]}
        assert props(queue)["SqsManagedSseEnabled"] == {"Fn::If": ["HasEncryptionKey", {"Ref": "AWS::NoValue"}, True]}
        (policy,) = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::SQS::QueuePolicy" and r["Properties"]["Queues"] == [{"Ref": queue}]]
        (stmt,) = policy["PolicyDocument"]["Statement"]
        assert (stmt["Principal"], stmt["Action"]) == ({"Service": "events.amazonaws.com"}, "sqs:SendMessage")
        assert stmt["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}
    assert len(set(queues.values())) == 2
    alarm = props("UndeliveredEventsAlarm")
    watched = {m["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for m in alarm["Metrics"] if "MetricStat" in m}
    assert watched == set(queues.values())
    for m in alarm["Metrics"]:
        if "MetricStat" in m:
            assert m["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_code_signing_applies_when_given() -> None:
    assert props("RotationFunction")["CodeSigningConfigArn"] == {"Fn::If": ["HasCodeSigning", {"Ref": "CodeSigningConfigArn"}, {"Ref": "AWS::NoValue"}]}
    pattern = SAM["Parameters"]["CodeSigningConfigArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0")


def rust_constant(name: str) -> str:
    """A `pub const NAME: &str = "..."` of src/notify.rs: the code's own value."""
    text = (ROOT / "src" / "notify.rs").read_text()
    match = re.search(rf'pub const {name}: &str = "([^"]*)";', text)
    assert match, f"src/notify.rs has no {name}"
    return match.group(1)


# -- the README's policies: valid JSON, and the rules above ----------------------------------------


def readme_policies() -> list[dict[str, Any]]:
    """Every JSON block of the README that is a policy document (one with a Statement list)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    docs = []
    for block in blocks:
        # A block in a list item is indented: JSON does not mind.
        try:
            doc = json.loads(block)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("Statement"), list):
            docs.append(doc)
    return docs


def policy_with(sid: str) -> dict[str, dict[str, Any]]:
    (doc,) = [d for d in readme_policies() if any(s.get("Sid") == sid for s in d["Statement"])]
    return {s["Sid"]: s for s in doc["Statement"]}


def test_the_operator_policy_trusts_no_tag_and_acts_on_this_functions_secrets_only() -> None:
    operator = policy_with("RepairRecover")
    assert "aws:ResourceTag" not in json.dumps(operator), "a tag must never grant access to a secret"
    by_rotation = {"StringEquals": {"secretsmanager:resource/AllowRotationLambdaArn": "arn:aws:lambda:REGION:ACCOUNT:function:FUNCTION_NAME"}}
    for sid in ("ReadCheckStatus", "RepairRecover"):
        assert operator[sid]["Condition"] == by_rotation, sid
        assert operator[sid]["Resource"] == "arn:aws:secretsmanager:REGION:ACCOUNT:secret:PREFIX*", sid
    before = operator["CheckBeforeRotation"]
    assert sorted(before["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], "read-only"
    assert before["Condition"] == {"Null": {"secretsmanager:resource/AllowRotationLambdaArn": "true"}}
    for sid, stmt in operator.items():
        if stmt["Resource"] == "*":
            assert sid in ("ListForAll", "SharedKeySearch"), sid
    # PutEvents with the role's own conditions.
    assert operator["TellConsumers"]["Condition"] == statement("rotation", "TellConsumers")["Condition"]
    kms = policy_with("FunctionEnvironmentKey")
    assert kms["SecretsKey"]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.REGION.amazonaws.com"}}
    assert kms["FunctionEnvironmentKey"]["Condition"] == {"StringEquals": {"kms:ViaService": "lambda.REGION.amazonaws.com"}}


def test_the_readme_offers_the_tag_protection_as_an_scp() -> None:
    scp = policy_with("OnlyRotationAdminsSetRotationTags")
    tags = scp["OnlyRotationAdminsSetRotationTags"]
    assert tags["Effect"] == "Deny"
    assert sorted(tags["Action"]) == ["secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource"]
    assert tags["Condition"]["ForAnyValue:StringLike"] == {"aws:TagKeys": ["rotation:*"]}
    enrol = scp["OnlyRotationAdminsEnrolSecrets"]
    assert (enrol["Effect"], enrol["Action"]) == ("Deny", "secretsmanager:RotateSecret")
    assert "OnlyRotationAdminsSetRotationTags" not in policy_with("RepairRecover"), "not part of the operator policy"
    # Where keys go is also the function's environment and code, and what its role may read.
    function = scp["OnlyTheDeployerChangesTheFunction"]
    assert {"lambda:UpdateFunctionConfiguration", "lambda:UpdateFunctionCode", "lambda:DeleteFunctionCodeSigningConfig"} <= set(function["Action"])
    role = scp["OnlyTheDeployerUsesTheFunctionsRole"]
    assert {"iam:PassRole", "iam:PutRolePolicy", "iam:AttachRolePolicy"} <= set(role["Action"])
    assert role["Resource"] == "arn:aws:iam::*:role/STACK-RotationFunctionRole-*"
    assert all(stmt["Effect"] == "Deny" for stmt in scp.values())


def test_the_readmes_key_policy_names_the_stacks_alarms_topics_queues_and_log_group() -> None:
    key = policy_with("TheFunctionsLogGroup")
    for sid, stmt in key.items():
        if sid != "AccountAdmin":
            assert stmt.get("Condition"), f"{sid} names a service principal with no condition"
    def grant(sid: str, principal: str, condition: dict[str, Any]) -> None:
        assert key[sid]["Effect"] == "Allow" and key[sid]["Principal"] == {"Service": principal}, sid
        assert key[sid]["Condition"] == condition, sid

    grant(
        "TheStacksAlarmsPublishToTheAlertTopic",
        "cloudwatch.amazonaws.com",
        {"StringEquals": {"aws:SourceAccount": "ACCOUNT"}, "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:REGION:ACCOUNT:alarm:STACK-*"}},
    )
    grant(
        "TheStacksRulesPublishToItsTopics",
        "events.amazonaws.com",
        {"StringLike": {"kms:EncryptionContext:aws:sns:topicArn": "arn:aws:sns:REGION:ACCOUNT:STACK-*"}},
    )
    grant(
        "TheStacksRulesKeepUndeliveredEvents",
        "events.amazonaws.com",
        {"StringLike": {"kms:EncryptionContext:aws:sqs:arn": "arn:aws:sqs:REGION:ACCOUNT:STACK-*"}},
    )
    grant(
        "TheFunctionsLogGroup",
        "logs.REGION.amazonaws.com",
        {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/lambda/FUNCTION_NAME"}},
    )
    assert set(key) == {"AccountAdmin", "TheStacksAlarmsPublishToTheAlertTopic", "TheStacksRulesPublishToItsTopics", "TheStacksRulesKeepUndeliveredEvents", "TheFunctionsLogGroup"}
