//! Keys a replica set shares.
//!
//! A gateway alone may generate its keys at start-up: the admin token and the VAPID key are
//! printed, and answer links and resume signatures only have to outlive the process. Once it
//! keeps its state in PostgreSQL (`DATABASE_URL`) it is one replica of a set — or one that will
//! restart onto the same database — and a generated key breaks the set quietly: an answer link
//! minted by one replica fails on the next, the browser subscriptions made under one VAPID key
//! are refused by push services for another, the orchestrator cannot check resumes signed by a
//! key it never saw, and the admin token works on one replica only. So with `DATABASE_URL` set,
//! each of [`SHARED_KEYS`] must be configured (the same value on every replica) and the gateway
//! refuses to start otherwise, naming every setting to add.

use aisoc_notify_core::ConfigError;

/// The settings every replica must share, with what each one keys.
pub const SHARED_KEYS: [(&str, &str); 4] = [
    ("AISOC_ADMIN_TOKEN", "the admin API"),
    (
        "AISOC_CHATOPS_HMAC_SECRET",
        "answer links and callback tokens",
    ),
    ("AISOC_PLAYBOOK_RESUME_SECRET", "playbook-resume signatures"),
    ("VAPID_PRIVATE_KEY", "Web Push subscriptions"),
];

/// Refuses generated keys where state is shared: `Ok` when `shared_state` is false or every
/// one of [`SHARED_KEYS`] is `configured`; otherwise the error names the missing settings.
///
/// ```
/// use aisoc_gateway::replica::require_shared_keys;
///
/// assert!(require_shared_keys(false, |_| false).is_ok());
/// assert!(require_shared_keys(true, |_| true).is_ok());
/// let refused = require_shared_keys(true, |name| name != "VAPID_PRIVATE_KEY").unwrap_err();
/// assert_eq!(refused.field(), "VAPID_PRIVATE_KEY");
/// assert!(refused.to_string().contains("DATABASE_URL"));
/// ```
pub fn require_shared_keys(
    shared_state: bool,
    configured: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    if !shared_state {
        return Ok(());
    }
    let missing: Vec<(&str, &str)> = SHARED_KEYS
        .iter()
        .copied()
        .filter(|(name, _)| !configured(name))
        .collect();
    let Some((first, _)) = missing.first() else {
        return Ok(());
    };
    let list = missing
        .iter()
        .map(|(name, keys)| format!("{name} ({keys})"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(ConfigError::new(
        *first,
        format!(
            "DATABASE_URL shares this gateway's state with its replicas and restarts, so its keys \
             cannot be generated per process; set {list} to the same value on every replica \
             (each can come from a file: the variable with _FILE appended)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_missing_key_is_named_once() {
        let refused = require_shared_keys(true, |_| false).unwrap_err();
        let message = refused.to_string();
        for (name, keys) in SHARED_KEYS {
            assert!(
                message.contains(&format!("{name} ({keys})")),
                "{name} in {message}"
            );
        }
        assert_eq!(refused.field(), "AISOC_ADMIN_TOKEN");
    }

    #[test]
    fn a_gateway_without_shared_state_may_generate_its_keys() {
        assert!(require_shared_keys(false, |_| false).is_ok());
    }
}
