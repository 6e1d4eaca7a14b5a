//! Random secrets and their stored fingerprints. Only hashes of session and
//! setup tokens are stored, so a copied database cannot be used to log in.

use base64::Engine;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::domain::RegistrationCode;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A broadcast's stream key: 128 random bits in lower-case hex, easy to
/// paste into an encoder and safe in an RTMP URL.
pub fn stream_key() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A household registration code: 10 characters from an alphabet without look-alikes (50 bits).
pub fn registration_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..RegistrationCode::LEN)
        .map(|_| {
            RegistrationCode::ALPHABET[rng.gen_range(0..RegistrationCode::ALPHABET.len())] as char
        })
        .collect()
}

/// Constant-time comparison for tokens a client sends back.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_the_printed_alphabet() {
        let code = registration_code();
        assert_eq!(code.len(), RegistrationCode::LEN);
        assert!(code
            .bytes()
            .all(|b| RegistrationCode::ALPHABET.contains(&b)));
        assert_ne!(registration_code(), code);
    }

    #[test]
    fn compares_tokens() {
        let t = random_token();
        assert!(same(&t, &t.clone()));
        assert!(!same(&t, &random_token()));
        assert!(!same("a", "ab"));
    }
}
