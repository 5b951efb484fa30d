//! createSecret's last resort: a 2xx rotate answer (the vendor rotated, and killed the key
//! consumers read) from which no key could be read is stored as it came, in a version of its own
//! labelled `ROTATION_RESCUE.<version>`, before the step fails with `KeyLost` naming where.

use tracing::{error, info, warn};

use sha2::{Digest, Sha256};

use super::create_secret::Presented;
use super::error::{ErrorKind, Form, Kept, Lost, Orphaned};
use super::write::put_pending;
use super::{Invocation, Observed, Rotator};
use crate::notify::Notifier;
use crate::secret::MAX_SECRET_BYTES;
use crate::sensitive::{Sensitive, SensitiveBytes};
use crate::store::{Payload, PendingWrite, Rescue, SecretStore};
use crate::timing::before;
use crate::vendors::{NoKey, RawAnswer, VendorApi};

impl<S: SecretStore, V: VendorApi, N: Notifier> Rotator<S, V, N> {
    /// A 2xx answer (the vendor rotated, and killed the current key) from which no key could be
    /// read: the answer is kept first ([`Rotator::keep_answer`]), and the step fails with KeyLost
    /// naming where. No probe: a 2xx already says the vendor rotated.
    pub(super) async fn rescue(
        &self,
        call: Invocation<'_>,
        presented: Presented<'_>,
        answer: RawAnswer,
        observed: &mut Observed,
    ) -> ErrorKind {
        let (status, why) = (answer.status, answer.why);
        let kept = self.keep_answer(call, answer).await;
        // At a create-then-revoke vendor the key consumers read stays live: an orphan, not a
        // lock-out, unless the vendor now refuses it.
        if let Some((confirmed, runbook)) = self.orphan(call, presented, observed).await {
            let vendor = presented.target.vendor.name();
            return Orphaned::Unreadable { vendor, status, why, kept, confirmed, runbook }.into();
        }
        observed.current_key_rejected = Some(true);
        Lost::Unreadable { status, why, kept }.into()
    }

    /// Stores a 2xx rotate answer before anything else happens to it: in a version of its own
    /// (token from [`rescue_token`]) labelled only with its own rescue label, as text or binary, cut to
    /// Secrets Manager's limit, with the same retries and read-back as a key.
    pub(super) async fn keep_answer(&self, call: Invocation<'_>, answer: RawAnswer) -> Kept {
        let RawAnswer { status, body, why } = answer;
        let received = body.len();
        let broken_off = matches!(why, NoKey::TooLarge | NoKey::BrokenOff | NoKey::TimedOut);
        let (value, cut) = rescue_payload(body, broken_off);
        if value.is_empty() {
            error!(http_status = status, reason = %why, "the rotate answer had no body: nothing to keep");
            return Kept::Empty;
        }
        warn!(
            http_status = status, reason = %why, received_bytes = received, stored_bytes = value.len(), cut,
            "a 2xx rotate answer without a usable key: storing the answer before anything else"
        );
        self.keep(call, value, cut).await
    }

    /// Stores `value` (a rotate answer, or a secret value holding a key that has nowhere else to
    /// go) in a version of its own labelled only with its own rescue label (two rescues never take
    /// a label from each other), with the same retries and read-back as a key. `cut`: only the
    /// start of the answer fitted.
    pub(super) async fn keep(&self, call: Invocation<'_>, value: Payload, cut: bool) -> Kept {
        let Invocation { event, deadline, .. } = call;
        let token = rescue_token(&event.token, &value);
        let label = Rescue::new(&token).label;
        let form = if matches!(value, Payload::Text(_)) { Form::Text } else { Form::Binary };
        let write = PendingWrite {
            secret_id: &event.secret_id,
            token: &token,
            value: &value,
            rotation_token: event.rotation_token.as_ref(),
            stages: &[label.as_str()],
        };
        let timing = &self.settings.timing;
        match put_pending(&self.store, &write, before(deadline, timing.safety_margin), timing).await {
            Ok(_) => {
                if cut {
                    error!(rescue_version = %token, label, stored_bytes = MAX_SECRET_BYTES, "only the start of the rotate answer is stored: the rest did not fit, and the new key is lost if it was there");
                } else {
                    info!(rescue_version = %token, label, "stored in a version of its own");
                }
                Kept::Stored { secret: event.secret_id.clone(), token, form, cut }
            }
            Err(failure) => {
                error!(rescue_version = %token, label, error = %failure, "could not be stored in a version of its own");
                Kept::Lost { token, failure: Box::new(failure) }
            }
        }
    }
}

/// What to store of a rescued answer: text when it is UTF-8, binary otherwise, at most Secrets
/// Manager's limit (a character that the cut, or a body that `broken_off`, split in two at the end
/// is dropped); and whether it had to be cut.
pub(super) fn rescue_payload(body: SensitiveBytes, broken_off: bool) -> (Payload, bool) {
    let mut bytes = body.into_inner();
    let cut = bytes.len() > MAX_SECRET_BYTES;
    bytes.truncate(MAX_SECRET_BYTES);
    let text_end = match std::str::from_utf8(&bytes) {
        Ok(_) => Some(bytes.len()),
        // Only an end that was cut, or that broke off, split a character: the rest is text.
        Err(e) if (cut || broken_off) && e.error_len().is_none() => Some(e.valid_up_to()),
        Err(_) => None,
    };
    match text_end {
        Some(end) if end > 0 => {
            bytes.truncate(end);
            (Payload::Text(Sensitive::new(String::from_utf8(bytes).unwrap_or_default())), cut)
        }
        _ => (Payload::Binary(SensitiveBytes::new(bytes)), cut),
    }
}

/// The rescue version's ClientRequestToken: derived from the rotation's token and the answer, so
/// that retrying the write is idempotent and another answer gets a version of its own.
fn rescue_token(rotation: &str, value: &Payload) -> String {
    let mut digest = Sha256::new();
    digest.update(rotation.as_bytes());
    match value {
        Payload::Text(text) => digest.update(text.expose().as_bytes()),
        Payload::Binary(bytes) => digest.update(bytes.expose()),
    }
    let hex: String = digest.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("rescue-{hex}")
}
