//! The floor: the least work one message takes, on one core and split over every core.

use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use crate::device::{Device, expand};
use crate::{BenchError, TAG_LEN};

/// The least work one message takes: parse the receiver's key, generate a key pair, ECDH, the
/// RFC 8291 and RFC 8188 key derivations, one AES-128-GCM seal (salt fixed: drawing 16 random
/// bytes is left out in the floor's favour).
pub(crate) fn floor_message(payload: &[u8], device: &Device) -> Result<usize, BenchError> {
    let sender = agreement::PrivateKey::generate(&ECDH_P256)?;
    let sender_public = sender.compute_public_key()?;
    let ikm: [u8; 32] = agreement::agree(
        &sender,
        UnparsedPublicKey::new(&ECDH_P256, &device.public),
        BenchError::from("ECDH failed"),
        |ecdh| {
            let prk = Salt::new(HKDF_SHA256, &device.auth).extract(ecdh);
            expand(
                &prk,
                &[b"WebPush: info\0", &device.public, sender_public.as_ref()],
            )
        },
    )?;
    let prk = Salt::new(HKDF_SHA256, &[7u8; 16]).extract(&ikm);
    let cek: [u8; 16] = expand(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"])?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);
    let mut record = Vec::with_capacity(payload.len() + 1 + TAG_LEN);
    record.extend_from_slice(payload);
    record.push(0x02);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )?;
    Ok(std::hint::black_box(record).len())
}

pub(crate) fn floor_one_core(payload: &[u8], devices: &[Device]) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for device in devices {
        floor_message(payload, device)?;
    }
    Ok(start.elapsed())
}

pub(crate) fn floor_all_cores(
    payload: &[u8],
    devices: &[Device],
    cores: usize,
) -> Result<Duration, BenchError> {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = devices
            .chunks(devices.len().div_ceil(cores))
            .map(|chunk| scope.spawn(move || floor_one_core(payload, chunk)))
            .collect();
        workers.into_iter().try_for_each(|worker| {
            worker
                .join()
                .map_err(|_| "a floor thread panicked")?
                .map(drop)
        })
    })?;
    Ok(start.elapsed())
}
