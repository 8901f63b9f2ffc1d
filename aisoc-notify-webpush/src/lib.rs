//! Web Push adapter for aisoc-notify.
//!
//! This crate will hold VAPID (RFC 8292) signing, `aes128gcm` payload encryption (RFC 8291 and
//! RFC 8188), RFC 8030 delivery, the push subscription stores and tenant/user/topic fan-out.
//!
//! Status: the crate boundary exists so the workspace shows the architecture; its contents land
//! with the Web Push issue. It depends on [`aisoc_notify_core`] only.
