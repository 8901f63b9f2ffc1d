//! The one HMAC-SHA256 primitive the signing modules share.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Length of an HMAC-SHA256 tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn tag(key: &[u8], parts: &[&[u8]]) -> [u8; TAG_LEN] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key size");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compares a computed tag with a candidate in constant time (for equal lengths).
pub(crate) fn tags_match(expected: &[u8; TAG_LEN], candidate: &[u8]) -> bool {
    candidate.len() == TAG_LEN && bool::from(expected.as_slice().ct_eq(candidate))
}
