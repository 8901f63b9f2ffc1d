//! Tenant ids as they enter the system: one validator every route that takes a tenant uses, so
//! a tenant id that reaches a store, a NATS subject, a Redis key or a row-level-security
//! setting has one known shape.
//!
//! A tenant id is 1-64 characters from `A-Z a-z 0-9 . _ -`, starting with a letter or a digit.
//! That excludes whitespace, `:` and `/` (key and path separators), `*` and `>` (NATS
//! wildcards) and anything non-ASCII (look-alike characters), while keeping the ids hosts
//! already use (`acme`, `eu.acme`, `acme_prod`). Validation is not an encoding: `a.b` and `a_b`
//! are both valid and distinct, so places that embed a tenant in a larger string still escape
//! it injectively (the inbox's NATS subjects, length-prefixed idempotency keys).
//!
//! ```
//! use aisoc_notify_core::tenant::{validate_tenant_id, TenantIdError};
//!
//! assert_eq!(validate_tenant_id("acme"), Ok("acme"));
//! assert_eq!(validate_tenant_id("eu.acme_prod-2"), Ok("eu.acme_prod-2"));
//! assert_eq!(validate_tenant_id(""), Err(TenantIdError::Empty));
//! assert!(matches!(validate_tenant_id("acme:ops"), Err(TenantIdError::Character { .. })));
//! assert_eq!(
//!     validate_tenant_id("acme:ops").unwrap_err().to_string(),
//!     "tenant_id may only contain A-Z a-z 0-9 . _ - (found ':' at position 4)"
//! );
//! ```

/// The longest tenant id accepted, in characters.
pub const MAX_TENANT_ID_LEN: usize = 64;

/// Why a tenant id was refused. The text names the field (`tenant_id`) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIdError {
    /// The id is empty.
    #[error("tenant_id must not be empty")]
    Empty,
    /// The id is longer than [`MAX_TENANT_ID_LEN`].
    #[error("tenant_id must be at most {max} characters (got {got})")]
    TooLong {
        /// The limit.
        max: usize,
        /// The id's length in characters.
        got: usize,
    },
    /// The id holds a character outside the allowed set (or starts with `.`, `_` or `-`).
    #[error(
        "tenant_id may only contain A-Z a-z 0-9 . _ - (found {found:?} at position {position})"
    )]
    Character {
        /// The offending character.
        found: char,
        /// Its zero-based character position.
        position: usize,
    },
    /// The id starts with `.`, `_` or `-`.
    #[error("tenant_id must start with a letter or a digit")]
    Start,
}

/// Checks `tenant_id` against the rules in the module docs and returns it unchanged.
pub fn validate_tenant_id(tenant_id: &str) -> Result<&str, TenantIdError> {
    if tenant_id.is_empty() {
        return Err(TenantIdError::Empty);
    }
    for (position, found) in tenant_id.chars().enumerate() {
        if position >= MAX_TENANT_ID_LEN {
            return Err(TenantIdError::TooLong {
                max: MAX_TENANT_ID_LEN,
                got: tenant_id.chars().count(),
            });
        }
        if !(found.is_ascii_alphanumeric() || matches!(found, '.' | '_' | '-')) {
            return Err(TenantIdError::Character { found, position });
        }
    }
    if !tenant_id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(TenantIdError::Start);
    }
    Ok(tenant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_use_are_accepted() {
        for id in ["acme", "contoso", "a.b", "a_b", "eu-west.acme_2", "7"] {
            assert_eq!(validate_tenant_id(id), Ok(id));
        }
        let longest = "a".repeat(MAX_TENANT_ID_LEN);
        assert!(validate_tenant_id(&longest).is_ok());
    }

    #[test]
    fn separators_wildcards_whitespace_and_non_ascii_are_refused() {
        for (id, found, position) in [
            ("acme:ops", ':', 4),
            ("acme/ops", '/', 4),
            ("acme.*", '*', 5),
            ("acme.>", '>', 5),
            ("ac me", ' ', 2),
            ("acm\u{435}", '\u{435}', 3),
            ("acme\n", '\n', 4),
        ] {
            assert_eq!(
                validate_tenant_id(id),
                Err(TenantIdError::Character { found, position }),
                "{id:?}"
            );
        }
    }

    #[test]
    fn empty_overlong_and_punctuation_first_ids_are_refused() {
        assert_eq!(validate_tenant_id(""), Err(TenantIdError::Empty));
        assert_eq!(
            validate_tenant_id(&"a".repeat(MAX_TENANT_ID_LEN + 1)),
            Err(TenantIdError::TooLong {
                max: MAX_TENANT_ID_LEN,
                got: MAX_TENANT_ID_LEN + 1
            })
        );
        for id in [".acme", "_acme", "-acme"] {
            assert_eq!(validate_tenant_id(id), Err(TenantIdError::Start), "{id}");
        }
    }
}
