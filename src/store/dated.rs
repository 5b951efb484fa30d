//! When AWSCURRENT moved to its version, at a create-then-revoke vendor: the key it replaced stays
//! live for the vendor's grace, counted from that move. Every move the product makes dates the
//! version it made current with `ROTATION_CURRENT_SINCE.<Unix seconds>.<the version it replaced>`,
//! and takes every other date off. A date is trusted only while it still describes the secret: on
//! AWSCURRENT's version, naming the version AWSPREVIOUS now labels. A move by hand changes that
//! pair (or leaves the version undated), and the grace then restarts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AWSCURRENT, AWSPREVIOUS, ROTATION_CURRENT_SINCE, SecretMeta, SecretStore, StoreError};

/// The label dating a move, made at `at`, of AWSCURRENT from `replaced` (none: the first version).
pub fn since_label(at: SystemTime, replaced: Option<&str>) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match replaced {
        Some(replaced) => format!("{ROTATION_CURRENT_SINCE}{seconds}.{replaced}"),
        None => format!("{ROTATION_CURRENT_SINCE}{seconds}"),
    }
}

/// A date label read back: when, and the version the move replaced.
fn read(label: &str) -> Option<(SystemTime, Option<&str>)> {
    let rest = label.strip_prefix(ROTATION_CURRENT_SINCE)?;
    let (seconds, replaced) = match rest.split_once('.') {
        Some((seconds, replaced)) => (seconds, Some(replaced)),
        None => (rest, None),
    };
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(seconds.parse().ok()?))?;
    Some((at, replaced))
}

impl SecretMeta {
    /// Since when AWSCURRENT holds its version, as the product dated the move there: `None` when
    /// the move was not dated, or the date was written for another move (it names another version
    /// than AWSPREVIOUS's as replaced, or none: a move by hand came since, or a date from before
    /// dates named the version they replaced).
    pub fn current_since(&self) -> Option<SystemTime> {
        let current = self.version_with(AWSCURRENT)?;
        let previous = self.version_with(AWSPREVIOUS).filter(|previous| *previous != current);
        let dates = self.labels(current).iter().filter_map(|label| read(label));
        dates.filter(|(_, replaced)| previous.is_some() && *replaced == previous).map(|(at, _)| at).max()
    }

    /// This view of the secret after [`date_move`] put `label` on `version`.
    pub fn record_date(&mut self, version: &str, label: &str) {
        for labels in self.versions.values_mut() {
            labels.retain(|old| !old.starts_with(ROTATION_CURRENT_SINCE));
        }
        self.versions.entry(version.to_owned()).or_default().push(label.to_owned());
    }

    /// Whether any version carries a date.
    pub fn dated(&self) -> bool {
        self.labels_with_prefix(ROTATION_CURRENT_SINCE).next().is_some()
    }
}

/// Dates the move of AWSCURRENT to `version`, from `replaced`, as now; then every other date
/// comes off (a date left on another version would be trusted again after a move back by hand).
/// The new date goes on first: stopped in between, the latest date is the one trusted. Returns the
/// label written; `Err` when it was not (an old date may then still stand).
pub async fn date_move<S: SecretStore>(
    store: &S,
    meta: &SecretMeta,
    version: &str,
    replaced: Option<&str>,
) -> Result<String, StoreError> {
    let label = since_label(SystemTime::now(), replaced);
    // The same label (the same second) may already be on another version: a label is on one.
    let holder = meta.labels_with_prefix(&label).find(|(on, old)| *old == label && *on != version);
    store.move_label(&meta.arn, &label, version, holder.map(|(on, _)| on)).await?;
    for (on, old) in meta.labels_with_prefix(ROTATION_CURRENT_SINCE) {
        if (on, old) != (version, label.as_str()) {
            store.remove_label(&meta.arn, old, on).await?;
        }
    }
    Ok(label)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn a_date_is_trusted_only_while_it_describes_the_move() {
        let at = UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        let meta = |labels: &[(&str, &[&str])]| SecretMeta {
            versions: labels
                .iter()
                .map(|(v, l)| (v.to_string(), l.iter().map(|l| l.to_string()).collect()))
                .collect::<HashMap<_, _>>(),
            ..SecretMeta::default()
        };
        let dated = since_label(at, Some("v1"));
        assert_eq!(dated, "ROTATION_CURRENT_SINCE.1765000000.v1");
        let moved = meta(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT", &dated])]);
        assert_eq!(moved.current_since(), Some(at));
        assert!(moved.dated());
        // Rolled back by hand: the date is on AWSPREVIOUS's version now.
        let rolled_back = meta(&[("v1", &["AWSCURRENT"]), ("v2", &["AWSPREVIOUS", &dated])]);
        assert_eq!(rolled_back.current_since(), None);
        // Moved by hand to a third version and back: the pair differs.
        let again = meta(&[("v3", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT", &dated]), ("v1", &[])]);
        assert_eq!(again.current_since(), None);
        // A date from before dates named the replaced version: the clock restarts.
        let old =
            meta(&[("v1", &["AWSPREVIOUS"]), ("v2", &["AWSCURRENT", "ROTATION_CURRENT_SINCE.1765000000"])]);
        assert_eq!(old.current_since(), None);
        assert_eq!(read("ROTATION_CURRENT_SINCE.x.v1"), None);
        assert_eq!(read("ROTATION_CURRENT_SINCE.99999999999999999999.v1"), None);
    }
}
