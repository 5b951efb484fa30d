"""Writes target/stackset/template.yaml: template.yaml as plain CloudFormation, for a
service-managed StackSet (which refuses a template with a Transform, such as SAM's).

The SAM translator (aws-sam-translator, the library `sam deploy` and CloudFormation itself use)
expands every AWS::Serverless resource offline, without an AWS account. The function's code, which
`sam build` and `sam package` would upload, becomes two parameters, CodeBucket and CodeKey: the S3
location of the packaged bootstrap.zip. Every other parameter is kept as it is.

Run: scripts/stackset (it installs aws-sam-translator into .venv, then runs cfn-lint on the output).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "template.yaml"
OUTPUT = ROOT / "target" / "stackset" / "template.yaml"
CODE_PARAMETERS = {
    "CodeBucket": "S3 bucket holding the packaged function (bootstrap.zip), in the stack's region and readable by every target account (README, \"Many accounts: StackSets\").",
    "CodeKey": "S3 key of the packaged function, for example api-key-rotator/0.1.0/bootstrap.zip.",
}


class NoManagedPolicies(ManagedPolicyLoader):
    """The function has a role of the template's own, with no AWS managed policy (proved by
    tools/test_template.py), so nothing needs to be looked up in IAM."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    sam = json.loads(json.dumps(sam))  # a deep copy with plain types
    sam.get("Metadata", {}).pop("AWS::ServerlessRepo::Application", None)
    if not sam.get("Metadata"):
        sam.pop("Metadata", None)
    functions = {name: r for name, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    # The scanners' skips, each with its reason, go on with the function the translator makes.
    scanners = {name: f.get("Metadata", {}).get("checkov") for name, f in functions.items()}
    for function in functions.values():
        function.pop("Metadata", None)  # BuildMethod: for sam build only
        function["Properties"]["CodeUri"] = {"Bucket": {"Ref": "CodeBucket"}, "Key": {"Ref": "CodeKey"}}
    for name, description in CODE_PARAMETERS.items():
        sam["Parameters"][name] = {"Type": "String", "MinLength": 1, "Description": description}
    plain = transform(sam, {}, NoManagedPolicies())
    for name, skips in scanners.items():
        if skips:
            plain["Resources"][name].setdefault("Metadata", {})["checkov"] = skips
    if "Transform" in plain:
        raise SystemExit("the translated template still has a Transform")
    return plain


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator asks for a partition
    sam = yaml_parse(SOURCE.read_text())
    plain = translate(sam)
    missing = set(sam["Parameters"]) - set(plain["Parameters"])
    if missing:
        raise SystemExit(f"the translation dropped parameters: {sorted(missing)}")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: CloudFormation and cfn-lint read it under either name.
    OUTPUT.write_text(json.dumps(plain, indent=2) + "\n")
    print(f"stackset: wrote {OUTPUT.relative_to(ROOT)} ({len(plain['Resources'])} resources, no Transform)")


if __name__ == "__main__":
    sys.exit(main())
