"""Tests of tools/scan.py's judgement of a checkov report (no checkov needed).

Run: .venv/bin/python -m pytest -q tools/test_scan.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scan import judge  # noqa: E402


def report(failed: int = 0, skipped: list[str] | None = None, parsing_errors: int = 0) -> dict[str, Any]:
    skips = [
        {"check_id": f"CKV_AWS_{i}", "resource": "AWS::SNS::Topic.T", "check_result": {"result": "SKIPPED", "suppress_comment": reason}}
        for i, reason in enumerate(skipped or [])
    ]
    fails = [{"check_id": "CKV_AWS_26", "resource": "AWS::SNS::Topic.T", "check_name": "encrypted"}] * failed
    return {
        "check_type": "cloudformation",
        "summary": {"passed": 3, "failed": failed, "skipped": len(skips), "parsing_errors": parsing_errors, "resource_count": 4},
        "results": {"failed_checks": fails, "skipped_checks": skips},
    }


def test_a_clean_report_with_reasoned_skips_passes() -> None:
    assert judge("t.yaml", report(skipped=["the topic carries no key"])) == []


def test_a_failed_check_a_parsing_error_and_a_skip_without_a_reason_each_fail() -> None:
    assert judge("t.yaml", report(failed=1)) == ["t.yaml: CKV_AWS_26 failed on AWS::SNS::Topic.T: encrypted"]
    assert judge("t.yaml", report(parsing_errors=2)) == ["t.yaml: 2 parsing error(s)"]
    for reason in ["No comment provided", "", "  "]:
        problems = judge("t.yaml", report(skipped=[reason]))
        assert problems == ["t.yaml: CKV_AWS_0 on AWS::SNS::Topic.T is skipped without a reason"], reason


def test_a_report_of_nothing_scanned_fails() -> None:
    for empty in [{}, {"summary": {"passed": 0, "failed": 0}}, dict(report(), summary={"resource_count": 0})]:
        assert judge("t.yaml", empty) == ["t.yaml: checkov did not scan it as a CloudFormation template (no resources in its report)"]
