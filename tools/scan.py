"""Runs checkov on each template given and judges its report: no failed check, no parsing error,
and every skipped check with a reason (checkov's `comment` in the template's Metadata skip).

Run: scripts/scan (it installs checkov into .venv-scan first).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

# What checkov writes for a skip that carries no comment.
NO_REASON = {"", "No comment provided"}


def scan(template: str) -> dict[str, Any]:
    checkov = Path(sys.executable).with_name("checkov")
    # Not --quiet: it leaves the skipped checks, and so their reasons, out of the report.
    args = [str(checkov), "-f", template, "--framework", "cloudformation", "--skip-download", "-o", "json", "--compact"]
    out = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        report = json.loads(out.stdout)
    except ValueError:
        raise SystemExit(f"scan: checkov wrote no JSON report for {template} (exit {out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    if isinstance(report, list):  # several frameworks: one report each
        report = next(r for r in report if r.get("check_type") == "cloudformation")
    return report


def judge(template: str, report: dict[str, Any]) -> list[str]:
    summary = report.get("summary", {})
    results = report.get("results", {})
    if report.get("check_type") != "cloudformation" or not summary.get("resource_count"):
        # checkov reports nothing for a file it did not read as CloudFormation: never a pass.
        return [f"{template}: checkov did not scan it as a CloudFormation template (no resources in its report)"]
    problems = []
    for check in results.get("failed_checks", []):
        problems.append(f"{template}: {check['check_id']} failed on {check['resource']}: {check['check_name']}")
    if summary.get("parsing_errors", 0):
        problems.append(f"{template}: {summary['parsing_errors']} parsing error(s)")
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result", {}).get("suppress_comment") or "").strip()
        if reason in NO_REASON:
            problems.append(f"{template}: {check['check_id']} on {check['resource']} is skipped without a reason")
    print(
        f"scan: {template}: {summary.get('passed', 0)} passed, {summary.get('failed', 0)} failed, "
        f"{summary.get('skipped', 0)} skipped, {summary.get('parsing_errors', 0)} parsing errors"
    )
    return problems


def main() -> int:
    problems = []
    for template in sys.argv[1:]:
        problems += judge(template, scan(template))
    for problem in problems:
        print(f"scan: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
