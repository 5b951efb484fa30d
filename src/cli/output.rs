//! What the commands print: each report as text ([`fmt::Display`]) or JSON, and the exit code it
//! means ([`super::exit_codes`]).

use std::fmt::{self, Write as _};

use super::exit_codes::{PROBLEM, SUCCESS};
use crate::ops::{
    Applied, CheckReport, Plan, Recovered, RepairReport, Status, StatusReport, Told, VendorList, VendorTest,
};

/// `check`'s reports.
pub struct Checks<'a>(pub &'a [CheckReport]);

/// `status`'s reports.
pub struct Statuses<'a>(pub &'a [StatusReport]);

/// `repair`'s report, for the secret as the operator named it.
pub struct Repair<'a> {
    pub report: &'a RepairReport,
    pub secret_id: &'a str,
}

/// What `recover` did.
pub struct Recovery<'a>(pub &'a Recovered);

/// `vendors`' list.
pub struct Vendors<'a>(pub &'a VendorList);

/// What `vendors test` found.
pub struct VendorTested<'a>(pub &'a VendorTest);

impl VendorTested<'_> {
    /// 0 only when the vendor accepts the key.
    pub fn exit_code(&self) -> u8 {
        if self.0.accepted == Some(true) { SUCCESS } else { PROBLEM }
    }
}

impl fmt::Display for VendorTested<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let test = self.0;
        writeln!(
            f,
            "{} ({}), in {}: the key {}",
            test.vendor, test.kind, test.environment, test.fingerprint
        )?;
        writeln!(f, "  verify  {} {}: {}", test.verify.method, test.verify.url, test.verdict)?;
        writeln!(f, "  a rotation would send (the key only in {}):", test.verify.header)?;
        let calls = [("rotate", Some(&test.rotate)), ("revoke", test.revoke.as_ref())];
        for (name, call) in calls.iter().filter_map(|(name, call)| call.map(|call| (name, call))) {
            writeln!(f, "    {name:6}  {} {}", call.method, call.url)?;
            for (header, value) in &call.headers {
                writeln!(f, "            {header}: {value}")?;
            }
            if let Some(body) = &call.body {
                writeln!(f, "            {body}")?;
            }
        }
        for problem in &test.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Vendors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.0;
        writeln!(f, "vendors of {}", list.environment)?;
        let width = list.vendors.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for vendor in &list.vendors {
            let base = vendor.base_url.as_deref().unwrap_or("none: each secret names it (rotation:base-url)");
            writeln!(
                f,
                "  {:width$}  {:12}  {}  ({})",
                vendor.name,
                vendor.kind,
                base,
                vendor.source.as_str()
            )?;
            if let Some(docs) = &vendor.docs {
                writeln!(f, "  {:width$}  {:12}  docs: {docs}", "", "")?;
            }
        }
        Ok(())
    }
}

impl Checks<'_> {
    /// 0 when every secret is ready.
    pub fn exit_code(&self) -> u8 {
        if self.0.iter().all(|r| r.ok) { SUCCESS } else { PROBLEM }
    }
}

impl Statuses<'_> {
    /// 1 only when something could not be read or understood: a pending rotation is a state.
    pub fn exit_code(&self) -> u8 {
        if self.0.iter().all(|r| r.problems.is_empty()) { SUCCESS } else { PROBLEM }
    }
}

impl Repair<'_> {
    /// 0 when there is nothing to do or the plan was carried out; 1 for a plan not carried out, a
    /// move consumers were not told of, and while consumers are locked out, whatever was applied.
    pub fn exit_code(&self) -> u8 {
        if !self.report.lockouts.is_empty()
            || matches!(self.report.told, Some(Told::Untold { .. } | Told::Failed { .. }))
        {
            return PROBLEM;
        }
        match (&self.report.plan, &self.report.applied) {
            // Moved, and consumers not told: someone must tell them.
            (_, Some(Ok(Applied::Finished { not_told: Some(_), .. }))) => PROBLEM,
            (Plan::NothingToDo, _) | (_, Some(Ok(_))) => SUCCESS,
            _ => PROBLEM,
        }
    }
}

impl Recovery<'_> {
    /// 1 when something went wrong after the key was stored (or found stored).
    pub fn exit_code(&self) -> u8 {
        if self.0.problems.is_empty() { SUCCESS } else { PROBLEM }
    }
}

impl fmt::Display for Checks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&check_text(self.0))
    }
}

impl fmt::Display for Statuses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&status_text(self.0))
    }
}

impl fmt::Display for Repair<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repair_text(self.report, self.secret_id))
    }
}

impl fmt::Display for Recovery<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&recover_text(self.0))
    }
}

/// Reports as a JSON array (`--json`).
pub fn to_json<T: serde::Serialize + ?Sized>(reports: &T) -> String {
    let mut text = serde_json::to_string_pretty(reports).unwrap_or_else(|e| format!("\"{e}\""));
    text.push('\n');
    text
}

fn check_text(reports: &[CheckReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let vendor = report.vendor.map(|v| format!(" ({v})")).unwrap_or_default();
        let _ = writeln!(out, "{}{vendor}", report.arn);
        for check in &report.checks {
            let status = match check.status {
                Status::Ok => "ok",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
                Status::Note => "note",
            };
            let _ = writeln!(out, "  {status:<5} {:<9} {}", check.check, check.detail);
            if let Some(fix) = &check.fix {
                let _ = writeln!(out, "  {:<15} fix: {fix}", "");
            }
        }
        let _ = writeln!(out, "  => {}", if report.ok { "ready" } else { "not ready" });
    }
    out
}

fn status_text(reports: &[StatusReport]) -> String {
    let mut out = String::new();
    let or = |value: &Option<String>, none: &str| value.clone().unwrap_or_else(|| none.to_owned());
    for r in reports {
        let _ = writeln!(out, "{}", r.arn);
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "  {label:<14} {value}");
        };
        line("vendor", r.vendor.unwrap_or("none").to_owned());
        line(
            "rotation",
            match (r.rotation_enabled, &r.rotation_function) {
                (true, Some(function)) => {
                    format!("enabled, {}, by {function}", or(&r.schedule, "no schedule"))
                }
                (true, None) => "enabled, with no rotation function".into(),
                (false, _) => "not enabled".into(),
            },
        );
        line("last rotated", or(&r.last_rotated, "never"));
        line("next rotation", or(&r.next_rotation, "not scheduled"));
        line(
            "current",
            match (&r.current_version, &r.current_fingerprint) {
                (Some(version), Some(fp)) => format!("version {version}, key {fp}"),
                (Some(version), None) => format!("version {version}, no readable key"),
                (None, _) => "none".into(),
            },
        );
        line(
            "pending",
            match (r.pending, &r.pending_version, &r.pending_fingerprint) {
                (Some("stored"), Some(version), Some(fp)) => format!("stored: version {version}, key {fp}"),
                (Some(state), Some(version), _) => format!("{state}: version {version}"),
                (Some(state), None, _) => state.to_owned(),
                (None, _, _) => "unknown (could not be read)".into(),
            },
        );
        for version in &r.rescue_versions {
            line(
                "rescue",
                format!(
                    "version {version} keeps a vendor answer with no readable key (README, Recovery: new key lost)"
                ),
            );
        }
        for replica in &r.replicas {
            line("replica", replica.to_string());
        }
        if let Some(environment) = &r.environment {
            line("environment", environment.clone());
        }
        for problem in &r.problems {
            line("problem", problem.clone());
        }
    }
    out
}

fn repair_text(report: &RepairReport, secret_id: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "secret   {}", report.arn);
    // The worst first.
    for lockout in &report.lockouts {
        let _ = writeln!(out, "LOCKOUT  {lockout}");
    }
    if let Some(told) = &report.told {
        let _ = writeln!(out, "told     {told}");
    }
    for (subject, finding) in &report.findings {
        let _ = writeln!(out, "{subject:<8} {finding}");
    }
    let _ = writeln!(out, "plan     {}", report.plan.describe());
    match &report.applied {
        Some(Ok(done)) => {
            let _ = writeln!(out, "applied  {done}");
        }
        Some(Err(failed)) => {
            let _ = writeln!(out, "failed   {failed}");
        }
        None if report.plan.changes() => {
            let _ = writeln!(
                out,
                "Nothing was changed. To carry out the plan: api-key-rotator repair {secret_id} --apply"
            );
        }
        None => {}
    }
    out
}

fn recover_text(recovered: &Recovered) -> String {
    let Recovered { fingerprint, stored, previous, cleared, problems, environment } = recovered;
    let mut out = match stored {
        Some(version) => format!("stored: version {version} is AWSCURRENT, key {fingerprint}\n"),
        None => format!(
            "the vendor accepts the key ({fingerprint}) and AWSCURRENT already holds it: nothing was stored\n"
        ),
    };
    if let Some(previous) = previous {
        let _ = writeln!(out, "previous: version {previous} is AWSPREVIOUS");
    }
    for version in cleared {
        let _ = writeln!(out, "cleared: AWSPENDING removed from version {version}");
    }
    for problem in problems {
        let _ = writeln!(out, "problem: {problem}");
    }
    let _ = writeln!(out, "judged in: {environment}");
    out
}
