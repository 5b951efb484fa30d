//! A rotation step's error as data. Its variant is the Lambda error's `errorType`
//! ([`ErrorType`]); each variant carries what it reports, and its words are written once, here,
//! beside the type. Messages name the secret, the step, the vendor and what the operator should do
//! next, and never contain key material, the RotationToken or a vendor body.

use std::fmt;
use std::time::Duration;

use lambda_runtime::Diagnostic;

use crate::config::{ConfigError, TAG_KEY_ID};
use crate::error::ErrorType;
use crate::event::{EventFault, Step};
use crate::secret::{MAX_SECRET_BYTES, ValueError};
use crate::store::{MAX_LABELS, Rescue, StoreError};
use crate::vendors::{NoKey, Verdict};

const RECOVERY_CURRENT_REJECTED: &str = "See README.md, section \"Recovery: current key rejected\".";
const RECOVERY_TEST_FAILING: &str = "See README.md, section \"Recovery: test step failing\".";

/// Where an error happened: filled in as the invocation learns more.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub secret: Option<String>,
    pub step: Option<Step>,
    pub vendor: Option<&'static str>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = self.step.map_or("rotation", Step::as_str);
        let secret = self.secret.as_deref().unwrap_or("<unknown secret>");
        write!(f, "{step} for secret {secret}")?;
        if let Some(vendor) = self.vendor {
            write!(f, " (vendor {vendor})")?;
        }
        Ok(())
    }
}

/// An error with its context: what the Lambda returns to Secrets Manager.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {kind}")]
pub struct Error {
    pub context: Context,
    pub kind: ErrorKind,
}

impl Error {
    pub fn error_type(&self) -> &'static str {
        self.kind.name()
    }
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        Diagnostic { error_type: error.error_type().to_owned(), error_message: error.to_string() }
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error(
        "invalid event: {0}. Secrets Manager sends {{Step, SecretId, ClientRequestToken, RotationToken}}; check what invoked this function"
    )]
    InvalidEvent(EventFault),

    #[error("{0}")]
    NotRotatable(#[from] NotRotatable),

    /// `before_rotate`: raised by createSecret, before anything was sent; otherwise by a later step,
    /// with the new key kept in AWSPENDING.
    #[error("configuration error: {problem}. {}", if *before_rotate {
        "Nothing was sent to the vendor; fix the secret's tags or value (or the function's environment) and rotate again"
    } else {
        "Nothing was changed and the pending version is kept; fix the tags and Secrets Manager's retry (or rotate-secret) continues this rotation"
    })]
    Config { problem: Problem, before_rotate: bool },

    #[error("{0}")]
    Timeout(#[from] TimedOut),

    #[error("{0}")]
    VendorRejectedKey(#[from] Rejected),

    #[error("{0} See README.md, section \"Recovery: new key lost\".")]
    KeyLost(#[from] Lost),

    #[error("{0} See README.md, section \"Recovery: rotate outcome unknown\".")]
    OutcomeUnknown(#[from] Unknown),

    #[error("{0} See README.md, section \"Declared vendors\", \"An orphaned key\".")]
    KeyOrphaned(Box<Orphaned>),

    #[error("{0}")]
    Vendor(#[from] VendorFailure),

    /// A failed Secrets Manager call, the state it left, and what happens next (which depends on
    /// whether retrying can help).
    #[error("{error}. {state} {}", if error.transient || *state == State::MoveUnknown {
        "Secrets Manager will retry."
    } else {
        "Retrying will not help: fix the function's permissions or the secret first."
    })]
    Store { error: Box<StoreError>, state: State },
}

impl From<Orphaned> for ErrorKind {
    fn from(orphaned: Orphaned) -> Self {
        ErrorKind::KeyOrphaned(Box::new(orphaned))
    }
}

impl ErrorKind {
    /// A configuration problem found by createSecret, before any vendor call.
    pub fn config(problem: impl Into<Problem>) -> Self {
        ErrorKind::Config { problem: problem.into(), before_rotate: true }
    }

    /// A configuration problem found by a step after createSecret.
    pub fn config_later(problem: impl Into<Problem>) -> Self {
        ErrorKind::Config { problem: problem.into(), before_rotate: false }
    }

    /// A failed Secrets Manager call that left `state`.
    pub fn store(state: State) -> impl FnOnce(StoreError) -> Self {
        move |error| ErrorKind::Store { error: Box::new(error), state }
    }

    /// The kind without its data.
    pub fn error_type(&self) -> ErrorType {
        match self {
            ErrorKind::InvalidEvent(_) => ErrorType::InvalidEvent,
            ErrorKind::NotRotatable(_) => ErrorType::NotRotatable,
            ErrorKind::Config { .. } => ErrorType::Config,
            ErrorKind::Timeout(_) => ErrorType::Timeout,
            ErrorKind::VendorRejectedKey(_) => ErrorType::VendorRejectedKey,
            ErrorKind::KeyLost(_) => ErrorType::KeyLost,
            ErrorKind::OutcomeUnknown(_) => ErrorType::OutcomeUnknown,
            ErrorKind::KeyOrphaned(_) => ErrorType::KeyOrphaned,
            ErrorKind::Vendor(_) => ErrorType::Vendor,
            ErrorKind::Store { .. } => ErrorType::Store,
        }
    }

    pub fn name(&self) -> &'static str {
        self.error_type().as_str()
    }
}

/// What the operator's secret looks like after a step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// createSecret, before the vendor was called.
    NothingSent,
    /// createSecret at a create-then-revoke vendor, before its create: the previous key may have
    /// been revoked already.
    NothingCreated,
    NothingChanged,
    /// Nothing changed, because the secret itself could not be read.
    SecretUnread,
    /// The new key is stored; only its promotion failed (AWSCURRENT was read since).
    KeySafeInPending,
    /// The new key is stored; its promotion answered an error, and reading the secret again
    /// failed too, so whether AWSCURRENT moved is unknown.
    MoveUnknown,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::NothingSent => "Nothing was sent to the vendor.",
            State::NothingCreated => {
                "No new key was made at the vendor (the log says whether the previous key was revoked first)."
            }
            State::NothingChanged => "Nothing was changed.",
            State::SecretUnread => {
                "Nothing was changed. Check that the secret exists and that the function's role may call secretsmanager:DescribeSecret on it."
            }
            State::KeySafeInPending => "The new key is safe in AWSPENDING; AWSCURRENT is unchanged.",
            State::MoveUnknown => {
                "The new key is safe in AWSPENDING; whether AWSCURRENT moved to it is unknown (the secret could not be read again, or Secrets Manager answered that AWSCURRENT had moved since it was read). If it did, the next step tells consumers."
            }
        })
    }
}

/// What is wrong with the secret's tags, its value or the function's environment.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Setting(#[from] ConfigError),

    /// The AWSCURRENT value.
    #[error(transparent)]
    Value(#[from] ValueError),

    #[error("the pending version: {0}")]
    PendingValue(ValueError),

    #[error(
        "the secret carries {labels} staging labels, Secrets Manager's limit is {MAX_LABELS}, and a rotation may add {}; remove labels no version needs (aws secretsmanager update-secret-version-stage --remove-from-version-id)",
        adds.join(", ")
    )]
    NoRoomForLabels { labels: usize, adds: Vec<String> },

    /// Other secrets tagged for the same vendor hold the current key: rotating it would kill theirs.
    #[error(
        "the key in AWSCURRENT is also held by {}, tagged for the same vendor: the vendor would kill it for them the moment it rotates this one. Nothing was sent to the vendor. Give each secret a key of its own (create one in the vendor's dashboard and store it in one of them with `api-key-rotator recover`), then rotate again. See README.md, section \"Shared keys\"",
        others.join(", ")
    )]
    SharedKey { others: Vec<String> },

    /// A key this function did not store (the first rotation here, or a value put by hand), and
    /// secrets of its vendor it could not compare it with.
    #[error(
        "this function did not store the key in AWSCURRENT (this is its first rotation, or the value was put by hand), so another secret may hold it too, and the search for one could not finish: {}. Rotating could kill their key. Nothing was sent to the vendor. Record the fingerprint of each one's key with `api-key-rotator check` on them (or `check --all`), with credentials that may read them, then rotate again. See README.md, section \"Shared keys\"",
        shared_unknown(unread, unfinished.as_deref())
    )]
    SharedUnknown { unread: Vec<String>, unfinished: Option<String> },

    /// Rotate answers kept earlier (each in a version of its own) may hold the only live key:
    /// rotating again would kill it.
    #[error(
        "{}, and one may hold the only live key: rotating now would kill it. Nothing was sent to the vendor. For each: {}; then rotate again. See README.md, section \"Recovery: new key lost\"",
        rescues.iter().map(|r| format!("version {} of this secret, labelled {}, holds a rotate answer kept by an earlier rotation", r.version, r.label)).collect::<Vec<_>>().join("; "),
        rescues.iter().map(|r| r.steps(secret)).collect::<Vec<_>>().join("; ")
    )]
    RescuePending { rescues: Vec<Rescue>, secret: String },

    /// Create-then-revoke: the key AWSPREVIOUS holds is still inside its grace.
    #[error(
        "too soon, the previous key may still be in use until {until} ({grace_seconds} s, the vendor's grace_seconds, after the rotation that replaced it). Nothing was sent to the vendor; the next scheduled rotation after that time goes ahead (rotate less often than the grace, or lower grace_seconds)"
    )]
    TooSoon { until: String, grace_seconds: u64 },

    /// Create-then-revoke: a replica region does not hold the current version, so its readers may
    /// still read the key AWSPREVIOUS holds.
    #[error(
        "a replica region does not hold the current version ({}), and the previous key is revoked only while every one is InSync: consumers there may still read the key AWSPREVIOUS holds, and revoking it now would lock them out. Once every replica is InSync (`api-key-rotator check` shows them; README, Multi-region secrets), rotate again",
        regions.join("; ")
    )]
    ReplicaBehind { regions: Vec<String> },

    /// Create-then-revoke: consumers were never told that AWSCURRENT moved off the key
    /// AWSPREVIOUS holds, so some may still use it.
    #[error(
        "consumers were never told that AWSCURRENT moved to version {version} (the Vendor Key Rotated event failed, or the step that puts it stopped), so some may still use the key AWSPREVIOUS holds, and revoking it now could lock them out. Tell them with `api-key-rotator repair {secret} --apply`; the previous key's grace counts from then, and the next rotation after it goes ahead"
    )]
    NotToldYet { version: String, secret: String },

    /// Create-then-revoke: another secret holds the key AWSPREVIOUS holds.
    #[error(
        "the previous key (id {key_id}, in AWSPREVIOUS) is also the current key of {}, tagged for the same vendor: revoking it would lock that secret's consumers out. Give that secret a key of its own (README.md, section \"Shared keys\"), then rotate again",
        others.join(", ")
    )]
    PreviousShared { key_id: String, others: Vec<String> },

    /// Create-then-revoke: the `rotation:key-id` tag cannot be an id.
    #[error(
        "{TAG_KEY_ID} is not a key id this function can record and send (1 to 128 of A-Z a-z 0-9 . _ ~ : -, not . or .., and not holding the key). Nothing was sent to the vendor; set it to the id the vendor gives the key in AWSCURRENT, or remove it (the starting key is then revoked by hand)"
    )]
    KeyIdTag,

    /// Create-then-revoke: the tag and the vendor's own answer name the starting key differently.
    #[error(
        "{TAG_KEY_ID} is {tag:?}, but the vendor names the key in AWSCURRENT {vendor:?}: one of them is wrong, and revoking by the tag could kill another key. Nothing was created or revoked; remove the tag (the vendor's id is recorded without it) or correct it, then rotate again"
    )]
    KeyIdDisagrees { tag: String, vendor: String },
}

/// What a shared-key search that could not finish missed: the secrets it could not compare (the
/// first ten named), and why the list itself was cut short.
fn shared_unknown(unread: &[String], unfinished: Option<&str>) -> String {
    let mut said = Vec::new();
    if !unread.is_empty() {
        let named: Vec<&str> = unread.iter().take(10).map(String::as_str).collect();
        let more = match unread.len().saturating_sub(named.len()) {
            0 => String::new(),
            more => format!(" and {more} more"),
        };
        said.push(format!(
            "nothing is recorded of the key of {}{more}, tagged for the same vendor, and this function may not read them",
            named.join(", ")
        ));
    }
    if let Some(why) = unfinished {
        said.push(format!(
            "the list of the secrets tagged for the vendor could not be read to its end ({why})"
        ));
    }
    said.join("; ")
}

/// Create-then-revoke: the vendor may hold a key no one has. Each says what the function knows of
/// it (when the create was called, its fingerprint and id when the answer was read) and the
/// runbook ([`crate::store::CreateMark::runbook`]); the key consumers read still works (a refusal
/// of it is a lock-out, reported as such instead).
#[derive(Debug, thiserror::Error)]
pub enum Orphaned {
    /// A retry found the mark an earlier invocation left before its create, and no stored key.
    /// `confirmed`: the vendor accepted the key consumers read just now (else it gave no verdict,
    /// `KeyStateUnknown`).
    #[error(
        "an earlier invocation of this rotation (version {version}) called {vendor}'s create and stopped before a key was stored, so {vendor} may hold a new key no one has (or none: the invocation may have stopped before the call, or the call made nothing). The create was not called again. {} {runbook}",
        current_said(*confirmed)
    )]
    Retried { vendor: &'static str, version: String, confirmed: bool, runbook: String },

    /// This invocation's create answered with an outcome unknown.
    #[error(
        "{vendor}'s create call's outcome is unknown ({reason}); the key consumers read still works, but {vendor} may hold a new key no one has. The create will not be called again for version {version}. {runbook}"
    )]
    Unknown { vendor: &'static str, reason: String, version: String, runbook: String },

    /// The create made a key, and storing it failed.
    #[error(
        "{vendor} created a new key (fingerprint {fingerprint}, {}) and storing it in version {version} failed: {failure}. {} The new key exists only at {vendor}, unless a write cut off at the deadline landed later: check that version first. {}{runbook}",
        id_said(key_id), current_said(*confirmed), revoke_id(key_id, vendor)
    )]
    NotStored {
        vendor: &'static str,
        fingerprint: String,
        key_id: Option<String>,
        version: String,
        failure: Box<StoreError>,
        confirmed: bool,
        runbook: String,
    },

    /// The create answered a 2xx from which no key could be read: the answer is kept.
    #[error(
        "{vendor} answered its create with HTTP {status}, so it made a new key, but no key could be read from the answer ({why}). {} {kept} If no key is in it, the new key exists only at {vendor}. {runbook}",
        current_said(*confirmed)
    )]
    Unreadable { vendor: &'static str, status: u16, why: NoKey, kept: Kept, confirmed: bool, runbook: String },

    /// Two invocations of one rotation both created a key; the other one's is stored.
    #[error(
        "another invocation of this rotation stored a different key in version {version} first, and {vendor} created one for this invocation too (fingerprint {fingerprint}, {}): both stay live. {} {kept} {}{runbook}",
        id_said(key_id), current_said(*confirmed), revoke_id(key_id, vendor)
    )]
    Conflict {
        vendor: &'static str,
        version: String,
        fingerprint: String,
        key_id: Option<String>,
        kept: Kept,
        confirmed: bool,
        runbook: String,
    },
}

/// What an orphan's error knows of the key consumers read: the vendor accepted it just after, or
/// gave no verdict (then the step pages as `KeyStateUnknown`).
fn current_said(confirmed: bool) -> &'static str {
    if confirmed {
        "The key consumers read still works (the vendor accepted it just now)."
    } else {
        "The vendor gave no verdict on the key consumers read just now: a create-then-revoke vendor leaves it live, unless its overlap is misdeclared; `api-key-rotator repair` asks it again."
    }
}

/// A new key's id, as an orphan's error says it.
fn id_said(key_id: &Option<String>) -> String {
    match key_id {
        Some(id) => format!("id {id}"),
        None => "no id read from the answer".to_owned(),
    }
}

/// The direct way out when the orphan's id is known.
fn revoke_id(key_id: &Option<String>, vendor: &str) -> String {
    match key_id {
        Some(id) => {
            format!("Its id is {id}: revoke that id at {vendor}, after checking that no secret names it. ")
        }
        None => String::new(),
    }
}

/// The event or the secret is not one this step can work on.
#[derive(Debug, thiserror::Error)]
pub enum NotRotatable {
    #[error(
        "rotation is not enabled for this secret. Turn it on with `aws secretsmanager rotate-secret` and this function's ARN; nothing was changed"
    )]
    Disabled,

    #[error(
        "version {version} is not a version of this secret, so this event does not belong to a rotation Secrets Manager started. Nothing was changed"
    )]
    NotAVersion { version: String },

    #[error(
        "version {version} is not AWSPENDING: this rotation was abandoned or superseded (for example by a manual PutSecretValue). Nothing was changed; start a new rotation if one is still needed"
    )]
    NotPending { version: String },

    #[error(
        "the pending version {version} has no value: createSecret has not stored a key for this rotation. Nothing was changed"
    )]
    NoPendingValue { version: String },

    #[error("the secret has no AWSCURRENT value. {state}")]
    NoCurrentValue { state: State },

    #[error(
        "the pending version {version} holds the key that is in AWSCURRENT: a copy of the current value, not a new key, so the vendor's key was never rotated. {} Nothing was changed. Clear it with `api-key-rotator repair {secret} --apply`, then rotate again",
        State::NothingSent
    )]
    CopyOfCurrent { version: String, secret: String },
}

/// Too little time: before the vendor was called, or a step cut short.
#[derive(Debug, thiserror::Error)]
pub enum TimedOut {
    /// The step did not finish, and had not called rotate.
    #[error(
        "the step did not finish before the Lambda deadline (Secrets Manager or the vendor was too slow). Secrets Manager will retry; check the function's timeout (above {} s) and its network path",
        create_budget.as_secs()
    )]
    Deadline { create_budget: Duration },

    /// createSecret's budget did not fit: what it is made of.
    #[error(
        "only {:.1} s were left before the Lambda deadline, and starting a rotation needs {} s: the check of the current key ({} s), one rotate call ({} s), a probe if its answer is unclear ({} s) and storing the new key ({} s). {} Give the function a timeout above {} s",
        left.as_secs_f64(), needed.as_secs(), precheck.as_secs(), rotate.as_secs(), probe.as_secs(),
        store.as_secs(), State::NothingSent, needed.as_secs()
    )]
    NoRoomToStart {
        left: Duration,
        needed: Duration,
        precheck: Duration,
        rotate: Duration,
        probe: Duration,
        store: Duration,
    },

    #[error(
        "checking the current key left too little time before the Lambda deadline for a rotate call ({} s) and storing its key. rotate was not called and nothing changed; Secrets Manager will retry",
        vendor_timeout.as_secs()
    )]
    NoRoomToRotate { vendor_timeout: Duration },
}

/// Which key a step asked the vendor about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tested {
    Pending,
    Current,
}

impl Tested {
    pub fn as_str(self) -> &'static str {
        match self {
            Tested::Pending => "pending",
            Tested::Current => "current",
        }
    }

    fn recovery(self) -> &'static str {
        match self {
            Tested::Pending => RECOVERY_TEST_FAILING,
            Tested::Current => RECOVERY_CURRENT_REJECTED,
        }
    }
}

impl fmt::Display for Tested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The vendor refuses a key.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// createSecret's check: rotate was not called.
    #[error(
        "the vendor refuses the current key (HTTP {status}), so rotate was not called. Either the key was revoked or rotated outside this function, or an earlier rotation's new key was lost. {RECOVERY_CURRENT_REJECTED}"
    )]
    BeforeRotate { status: u16 },

    /// createSecret at a create-then-revoke vendor, retried after an earlier invocation called
    /// the create and stored no key (its mark `label`, put at about `at`).
    #[error(
        "the vendor refuses the current key (HTTP {status}), and an earlier invocation of this rotation called the create at about {at} and stored no key (its mark: {label}): consumers are locked out, and the key that create made, if any, may be the only live one (is overlap declared right?). The create was not called again. Give consumers a working key: create one in the vendor's dashboard and store it with `api-key-rotator recover {secret}` (revoke nothing made at about {at} until a secret holds a working key); then take the mark off: `aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage {label} --remove-from-version-id {on}`. {RECOVERY_CURRENT_REJECTED}"
    )]
    AfterCreate { status: u16, at: String, label: String, on: String, secret: String },

    /// createSecret at a create-then-revoke vendor, right after it revoked the previous key.
    #[error(
        "the vendor refuses the current key (HTTP {status}) right after the previous key (id {key_id}) was revoked: the revoke may have killed it (check the revoke path and key_id pointer declared in ROTATION_VENDORS). No new key was made. {RECOVERY_CURRENT_REJECTED}"
    )]
    AfterRevoke { status: u16, key_id: String },

    /// testSecret.
    #[error(
        "the vendor refuses the {which} key (fingerprint {fingerprint}, HTTP {status}) after {tries} tries over {:.0} s. Nothing was changed: AWSPENDING and AWSCURRENT are as they were{}. {}",
        took.as_secs_f64(),
        if *promoted_early { " (promoted early: AWSCURRENT already holds this key)" } else { "" },
        which.recovery()
    )]
    Tested {
        which: Tested,
        fingerprint: String,
        status: u16,
        tries: u32,
        took: Duration,
        promoted_early: bool,
    },
}

/// The vendor could not be asked, or did not rotate: nothing was lost.
#[derive(Debug, thiserror::Error)]
pub enum VendorFailure {
    #[error(
        "could not verify the {which} key after {tries} tries ({verdict}). Nothing was changed; Secrets Manager will retry"
    )]
    Unverified { which: Tested, tries: u32, verdict: Verdict },

    #[error(
        "could not confirm the current key with the vendor after {tries} tries ({verdict}), so rotate was not called and nothing changed. Secrets Manager will retry"
    )]
    CurrentUnconfirmed { tries: u32, verdict: Verdict },

    #[error(
        "the vendor refused the rotate call with HTTP {status}, so this call rotated nothing. {hint} The next attempt checks the current key first and never rotates with one the vendor refuses"
    )]
    RotateRefused { status: u16, hint: &'static str },

    #[error(
        "the vendor is rate limiting this key (HTTP 429, reset in {:.0} s, later than this invocation can wait), so nothing was rotated. Secrets Manager will retry",
        wait.as_secs_f64()
    )]
    RateLimited { wait: Duration },

    #[error(
        "{attempts} rotate attempt(s) never reached the vendor or were rate limited, the last with: {last_failure}. Nothing was rotated; Secrets Manager will retry"
    )]
    NothingRotated { attempts: u32, last_failure: String },

    /// Create-then-revoke: the previous key's revoke did not take.
    #[error(
        "revoking the previous key (id {key_id}) at the vendor failed: {why}. No new key was made, and the previous key may still be live. Secrets Manager will retry; if it keeps failing, revoke id {key_id} at the vendor by hand, then rotate again"
    )]
    RevokeFailed { key_id: String, why: String },

    /// Create-then-revoke: the vendor answered success to revoking the previous key's recorded id,
    /// and still accepted the previous key after: the revoke killed some other key, or has not
    /// been applied yet. It pages (`WrongKeyRevoked`).
    #[error(
        "the vendor answered HTTP {status} to revoking id {key_id}, recorded as the previous key's, yet it still accepted the previous key {:.0} s later: either the revoke killed another key, whichever key id {key_id} is (a mistyped rotation:key-id, or an id recorded for another key), or the vendor has not applied it yet. No new key was made, and the label recording id {key_id} stays. If the previous key is still accepted, find which key id {key_id} was at the vendor and give whoever held it a working key (for a secret, `api-key-rotator recover`); then take that label off the previous version, revoke the previous key by hand, and rotate again",
        over.as_secs_f64()
    )]
    WrongKeyRevoked { key_id: String, status: u16, over: Duration },

    /// Create-then-revoke: the vendor does not know the previous key's recorded id (404), and
    /// still accepts the previous key: the id is not its id. Retrying cannot help.
    #[error(
        "the vendor does not know id {key_id}, recorded as the previous key's (HTTP {status}), and still accepts the previous key (fingerprint {fingerprint}): the id recorded for it is not its id (an earlier revoke of that id may have killed another key, whoever read it: this pages). No new key was made; a retry meets the same. Find the previous key's own id at the vendor by its fingerprint, revoke it there by hand, take the ROTATION_KEY_ID label off the previous version, and rotate again"
    )]
    NotItsId { key_id: String, status: u16, fingerprint: String },

    /// Create-then-revoke: a revoke of the previous key was attempted, then the current one got
    /// no verdict. It pages (`KeyStateUnknown`).
    #[error(
        "a revoke of the previous key (id {key_id}) was attempted (the vendor answered: {answered}), then the vendor gave no verdict on the current key ({verdict}): whether consumers still hold a working key is unknown, so no new key was made. Secrets Manager will retry; `api-key-rotator repair` asks the vendor about the current key"
    )]
    CurrentUnconfirmedAfterRevoke { key_id: String, answered: String, verdict: Verdict },

    /// A vendor that names the presented key did not name the current one's id.
    #[error(
        "the vendor's verify answer did not name the current key's id ({why}), which this vendor's rotation needs (to name the key in its rotate call, or to revoke it later), so nothing was rotated. Secrets Manager will retry. At a create-then-revoke vendor, a {TAG_KEY_ID} tag gives the id when the vendor does not (on a first rotation)"
    )]
    KeyIdUnread { why: String },
}

/// The vendor rotated, and the new key did not reach Secrets Manager.
#[derive(Debug, thiserror::Error)]
pub enum Lost {
    #[error(
        "the vendor rotated the key and invalidated the old one, but storing the new key (fingerprint {fingerprint}) failed, and reading version {version} back did not find it: {failure}. The new key existed only in this invocation and is lost, unless a write cut off at the deadline landed later: check that version first."
    )]
    NotStored { fingerprint: String, version: String, failure: Box<StoreError> },

    /// Two invocations of one rotation each got a key; the other stored its key first.
    #[error(
        "another invocation of this rotation stored a different key in version {version} first, and the vendor also rotated for this one, so one of the two keys is dead and consumers may read it. testSecret tells which: if the vendor refuses the key in version {version}, the live key is this one (fingerprint {fingerprint}). {kept}"
    )]
    Conflict { fingerprint: String, version: String, kept: Kept },

    /// An unclear rotate answer (`reason`), after which the vendor refuses the previous key.
    #[error(
        "the rotate call failed ({reason}), and the vendor now refuses the previous key (HTTP {status}): it rotated, and the new key never reached this function, so it is lost. Do not retry the rotation: the vendor would refuse the old key again. {}",
        Kept::or_nothing(kept)
    )]
    OldKeyRefused { reason: String, status: u16, kept: Option<Kept> },

    /// A 2xx (the vendor rotated) from which no key could be read.
    #[error(
        "the vendor answered the rotate call with HTTP {status}, which means it rotated and invalidated the old key, but no key could be read from its answer ({why}). {kept}{}",
        if matches!(kept, Kept::Stored { .. }) { "" } else { " The new key never reached Secrets Manager and is lost." }
    )]
    Unreadable { status: u16, why: NoKey, kept: Kept },
}

/// A rotate call whose outcome is not known (`reason`), and rotate not called again.
#[derive(Debug, thiserror::Error)]
pub enum Unknown {
    #[error(
        "the step was cut short by the Lambda deadline after the vendor's rotate endpoint was called, so whether the vendor rotated, and whether the new key reached version {version}, is unknown. Check that version first (a value there means the key is safe), then the AWSCURRENT key against the vendor."
    )]
    CutShort { version: String },

    /// Another invocation of this rotation stored a key meanwhile.
    #[error(
        "the rotate call failed ({reason}), so whether the vendor rotated is unknown, and rotate was not called again. Meanwhile another invocation of this rotation stored a key in version {version}; testSecret verifies it. If the vendor refuses that key, this call's rotation replaced it and its key is lost. {}",
        Kept::or_nothing(kept)
    )]
    StoredElsewhere { reason: String, version: String, kept: Option<Kept> },

    #[error(
        "the rotate call failed ({reason}), so whether the vendor rotated is unknown, and rotate was not called again. The vendor still accepted the previous key {accepts} time(s) over {:.0} s, which usually means nothing rotated; but vendors read keys through replicas that can lag, and if it did rotate, the new key is lost. {NEXT_ATTEMPT_TELLS} {}",
        over.as_secs_f64(), Kept::or_nothing(kept)
    )]
    OldKeyAccepted { reason: String, accepts: u32, over: Duration, kept: Option<Kept> },

    #[error(
        "the rotate call failed ({reason}), so whether the vendor rotated is unknown, and rotate was not called again. The vendor could not then say whether the previous key still works ({why}). If it rotated, the new key is lost. {NEXT_ATTEMPT_TELLS} {}",
        Kept::or_nothing(kept)
    )]
    NoVerdict { reason: String, why: String, kept: Option<Kept> },
}

const NEXT_ATTEMPT_TELLS: &str = "The next attempt tells: it checks the current key first, and if the vendor refuses it, fails with VendorRejectedKey instead of rotating.";

/// What became of a rotate answer that had to be kept (in a version labelled `ROTATION_RESCUE.<version>`).
#[derive(Debug)]
pub enum Kept {
    Stored {
        secret: String,
        token: String,
        form: Form,
        cut: bool,
    },
    /// The answer brought no body.
    Empty,
    Lost {
        token: String,
        failure: Box<StoreError>,
    },
}

/// How a kept answer is stored: as text when it is UTF-8, else as binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Text,
    Binary,
}

impl Form {
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Text => "text",
            Form::Binary => "binary",
        }
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Kept {
    /// The sentence for an optional kept answer: nothing when there was none.
    fn or_nothing(kept: &Option<Kept>) -> String {
        kept.as_ref().map(Kept::to_string).unwrap_or_default()
    }
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kept::Stored { secret, token, form, cut } => {
                let rescue = Rescue::new(token);
                if *cut {
                    write!(
                        f,
                        "The answer was larger than Secrets Manager's limit: only its first {MAX_SECRET_BYTES} bytes are stored, as {form} in version {token} of this secret, labelled {} and nothing else; the rest is gone, and with it the new key if it was there.",
                        rescue.label
                    )?;
                } else {
                    write!(
                        f,
                        "The answer is kept as {form} in version {token} of this secret, labelled {} and nothing else.",
                        rescue.label
                    )?;
                }
                let steps = rescue.steps(secret);
                write!(f, " {}{}.", steps[..1].to_uppercase(), &steps[1..])
            }
            Kept::Empty => f.write_str("The answer brought no body, so there was nothing to keep."),
            Kept::Lost { token, failure } => write!(
                f,
                "Storing the answer as version {token} (label {}) failed too ({failure}): it is gone unless that write landed later; check that version first.",
                Rescue::new(token).label
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_variant_and_the_context() {
        let error = Error {
            context: Context {
                secret: Some("arn:aws:secretsmanager:eu-west-1:1:secret:cal".into()),
                step: Some(Step::CreateSecret),
                vendor: Some("calcom"),
            },
            kind: ErrorKind::config(ConfigError::NoVendor { known: crate::vendors::names() }),
        };
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "Config");
        assert!(diagnostic.error_message.starts_with(
            "createSecret for secret arn:aws:secretsmanager:eu-west-1:1:secret:cal (vendor calcom): configuration error: the secret has no rotation:vendor tag; set it to one of calcom, ringg, projectdiscovery."
        ));
    }

    /// Every variant, from fixed inputs, byte for byte (tests/golden/error_variants.txt): the
    /// ones the scenarios of tests/golden/errors.txt do not reach are here too.
    #[test]
    fn every_variant_renders_as_the_golden_text() {
        use std::time::Duration;

        use crate::store::StoreError;

        const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:memory";
        let version = || "token-0001".to_owned();
        let reason = || "HTTP 500".to_owned();
        let store =
            |transient| Box::new(StoreError::new("PutSecretValue", "InternalServiceError", transient));
        let stored =
            || Kept::Stored { secret: ARN.into(), token: "rescue-0123".into(), form: Form::Text, cut: false };
        let cut =
            Kept::Stored { secret: ARN.into(), token: "rescue-0123".into(), form: Form::Binary, cut: true };
        let lost = || Kept::Lost { token: "rescue-0123".into(), failure: store(true) };
        let runbook = || {
            let mark = crate::store::CreateMark {
                rotation: version(),
                at: Some(std::time::UNIX_EPOCH + Duration::from_secs(1_765_000_000)),
                label: "ROTATION_CREATING.token-0001.1765000000".into(),
                on: "v1".into(),
            };
            mark.runbook(ARN, "dualkey")
        };
        let kinds: Vec<ErrorKind> = vec![
            ErrorKind::InvalidEvent(EventFault::NotAnObject),
            NotRotatable::Disabled.into(),
            NotRotatable::NotAVersion { version: version() }.into(),
            NotRotatable::NotPending { version: version() }.into(),
            NotRotatable::NoPendingValue { version: version() }.into(),
            NotRotatable::NoCurrentValue { state: State::NothingSent }.into(),
            NotRotatable::CopyOfCurrent { version: version(), secret: ARN.into() }.into(),
            ErrorKind::config(ConfigError::NoVendor { known: crate::vendors::names() }),
            ErrorKind::config_later(Problem::PendingValue(ValueError::EmptyKeyField)),
            ErrorKind::config(Problem::NoRoomForLabels {
                labels: 18,
                adds: vec![
                    "AWSPREVIOUS".into(),
                    Rescue::new("<version>").label,
                    "ROTATION_TARGET.calcom.a.b".into(),
                ],
            }),
            ErrorKind::config(Problem::RescuePending {
                rescues: vec![Rescue::new("rescue-0123"), Rescue::new("rescue-4567")],
                secret: ARN.into(),
            }),
            ErrorKind::config(Problem::SharedKey {
                others: vec![
                    format!("{ARN}-other"),
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:third".into(),
                ],
            }),
            ErrorKind::config(Problem::SharedUnknown {
                unread: (1..=12).map(|n| format!("{ARN}-{n:02}")).collect(),
                unfinished: Some("no time was left to list them all".into()),
            }),
            ErrorKind::config(Problem::SharedUnknown {
                unread: vec![format!("{ARN}-other")],
                unfinished: None,
            }),
            ErrorKind::config(ValueError::NotInPlace),
            TimedOut::Deadline { create_budget: Duration::from_secs(60) }.into(),
            TimedOut::NoRoomToStart {
                left: Duration::from_millis(30_050),
                needed: Duration::from_secs(60),
                precheck: Duration::from_secs(14),
                rotate: Duration::from_secs(10),
                probe: Duration::from_secs(15),
                store: Duration::from_secs(20),
            }
            .into(),
            TimedOut::NoRoomToRotate { vendor_timeout: Duration::from_secs(10) }.into(),
            Rejected::BeforeRotate { status: 401 }.into(),
            Rejected::AfterRevoke { status: 401, key_id: "k-0123".into() }.into(),
            VendorFailure::RevokeFailed {
                key_id: "k-0123".into(),
                why: "the vendor still accepts the key".into(),
            }
            .into(),
            VendorFailure::CurrentUnconfirmedAfterRevoke {
                key_id: "k-0123".into(),
                answered: "HTTP 204".into(),
                verdict: Verdict::Unavailable("HTTP 503".into()),
            }
            .into(),
            ErrorKind::config(Problem::TooSoon { until: "2026-12-05T07:00:00Z".into(), grace_seconds: 3600 }),
            ErrorKind::config(Problem::KeyIdTag),
            ErrorKind::config(Problem::KeyIdDisagrees { tag: "k-0123".into(), vendor: "k-0456".into() }),
            VendorFailure::KeyIdUnread { why: "the verify call answered HTTP 503".into() }.into(),
            ErrorKind::store(State::NothingCreated)(StoreError::new(
                "UpdateSecretVersionStage",
                "Throttling",
                true,
            )),
            Orphaned::Retried { vendor: "dualkey", version: version(), confirmed: true, runbook: runbook() }
                .into(),
            Orphaned::Retried { vendor: "dualkey", version: version(), confirmed: false, runbook: runbook() }
                .into(),
            Rejected::AfterCreate {
                status: 401,
                at: "2025-12-06T05:46:40Z".into(),
                label: "ROTATION_CREATING.token-0001.1765000000".into(),
                on: "v1".into(),
                secret: ARN.into(),
            }
            .into(),
            Orphaned::Unknown { vendor: "dualkey", reason: reason(), version: version(), runbook: runbook() }
                .into(),
            Orphaned::NotStored {
                vendor: "dualkey",
                fingerprint: "sha256:0123456789ab".into(),
                key_id: Some("k-0456".into()),
                version: version(),
                failure: store(true),
                confirmed: true,
                runbook: runbook(),
            }
            .into(),
            Orphaned::Unreadable {
                vendor: "dualkey",
                status: 201,
                why: NoKey::NoKeyField,
                kept: stored(),
                confirmed: false,
                runbook: runbook(),
            }
            .into(),
            Orphaned::Conflict {
                vendor: "dualkey",
                version: version(),
                fingerprint: "sha256:0123456789ab".into(),
                key_id: None,
                kept: stored(),
                confirmed: true,
                runbook: runbook(),
            }
            .into(),
            VendorFailure::WrongKeyRevoked {
                key_id: "k-0123".into(),
                status: 204,
                over: Duration::from_secs(15),
            }
            .into(),
            VendorFailure::NotItsId {
                key_id: "k-0123".into(),
                status: 404,
                fingerprint: "sha256:0123456789ab".into(),
            }
            .into(),
            ErrorKind::config(Problem::NotToldYet { version: version(), secret: ARN.into() }),
            ErrorKind::config(Problem::PreviousShared {
                key_id: "k-0123".into(),
                others: vec![format!("{ARN}-other")],
            }),
            ErrorKind::config(Problem::ReplicaBehind {
                regions: vec![
                    "eu-west-1: Failed (no KMS key in this region)".into(),
                    "ap-south-1: InProgress".into(),
                ],
            }),
            Rejected::Tested {
                which: Tested::Current,
                fingerprint: "sha256:0123456789ab".into(),
                status: 403,
                tries: 3,
                took: Duration::from_millis(4_600),
                promoted_early: true,
            }
            .into(),
            VendorFailure::Unverified {
                which: Tested::Pending,
                tries: 2,
                verdict: Verdict::Unavailable("HTTP 503".into()),
            }
            .into(),
            VendorFailure::CurrentUnconfirmed {
                tries: 1,
                verdict: Verdict::RateLimited(Duration::from_secs(60)),
            }
            .into(),
            VendorFailure::RotateRefused {
                status: 403,
                hint: "The key may lack the right to manage API keys.",
            }
            .into(),
            VendorFailure::RateLimited { wait: Duration::from_secs(61) }.into(),
            VendorFailure::NothingRotated { attempts: 3, last_failure: "connection refused".into() }.into(),
            Lost::NotStored {
                fingerprint: "sha256:0123456789ab".into(),
                version: version(),
                failure: store(false),
            }
            .into(),
            Lost::Conflict { fingerprint: "sha256:0123456789ab".into(), version: version(), kept: stored() }
                .into(),
            Lost::Conflict { fingerprint: "sha256:0123456789ab".into(), version: version(), kept: lost() }
                .into(),
            Lost::OldKeyRefused { reason: reason(), status: 401, kept: None }.into(),
            Lost::OldKeyRefused { reason: reason(), status: 401, kept: Some(stored()) }.into(),
            Lost::Unreadable { status: 200, why: NoKey::NotJson, kept: cut }.into(),
            Lost::Unreadable { status: 200, why: NoKey::BrokenOff, kept: Kept::Empty }.into(),
            Lost::Unreadable { status: 201, why: NoKey::TooLarge, kept: lost() }.into(),
            Unknown::CutShort { version: version() }.into(),
            Unknown::StoredElsewhere { reason: reason(), version: version(), kept: None }.into(),
            Unknown::OldKeyAccepted {
                reason: reason(),
                accepts: 3,
                over: Duration::from_millis(4_400),
                kept: Some(lost()),
            }
            .into(),
            Unknown::NoVerdict { reason: reason(), why: "HTTP 503".into(), kept: None }.into(),
            ErrorKind::store(State::SecretUnread)(StoreError::new(
                "DescribeSecret",
                "AccessDeniedException",
                false,
            )),
            ErrorKind::store(State::KeySafeInPending)(StoreError::new(
                "UpdateSecretVersionStage",
                "Throttling",
                true,
            )),
            ErrorKind::store(State::NothingChanged)(*store(true)),
            ErrorKind::store(State::MoveUnknown)(StoreError::new(
                "UpdateSecretVersionStage",
                "InvalidParameterException",
                false,
            )),
        ];
        let text: String = kinds.iter().map(|kind| format!("{}: {kind}\n", kind.name())).collect();
        crate::golden::compare("error_variants.txt", &text);
    }
}
