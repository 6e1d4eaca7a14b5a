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

/// The form token as a page carries it: a fresh random pad and the token
/// XOR that pad, base64url. Every response shows a different string for the
/// same secret, so a compressed page cannot leak the secret byte by byte
/// through its length (BREACH) however much of the page an attacker reflects.
pub fn mask(token: &str) -> String {
    let secret = token.as_bytes();
    let mut masked = vec![0u8; secret.len() * 2];
    let (pad, xored) = masked.split_at_mut(secret.len());
    rand::rngs::OsRng.fill_bytes(pad);
    for ((out, p), s) in xored.iter_mut().zip(pad.iter()).zip(secret) {
        *out = p ^ s;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(masked)
}

/// The secret behind a masked token, or `None` if `masked` is not one.
pub fn unmask(masked: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(masked.trim())
        .ok()?;
    if bytes.is_empty() || bytes.len() % 2 != 0 {
        return None;
    }
    let (pad, xored) = bytes.split_at(bytes.len() / 2);
    String::from_utf8(pad.iter().zip(xored).map(|(p, x)| p ^ x).collect()).ok()
}

/// Is `submitted` a masked form of `secret`? Constant time in the secret.
pub fn masked_matches(secret: &str, submitted: &str) -> bool {
    !secret.is_empty() && unmask(submitted).is_some_and(|unmasked| same(secret, &unmasked))
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

    #[test]
    fn masked_tokens_differ_each_time_and_unmask_to_the_secret() {
        let secret = random_token();
        let (a, b) = (mask(&secret), mask(&secret));
        assert_ne!(a, b);
        assert!(!a.contains(&secret));
        assert!(masked_matches(&secret, &a) && masked_matches(&secret, &b));
        assert_eq!(unmask(&a).as_deref(), Some(secret.as_str()));
        // The bare secret, another secret's mask, a flipped byte, junk: refused.
        assert!(!masked_matches(&secret, &secret));
        assert!(!masked_matches(&secret, &mask(&random_token())));
        let mut tampered = a.into_bytes();
        tampered[70] = if tampered[70] == b'A' { b'B' } else { b'A' };
        assert!(!masked_matches(
            &secret,
            &String::from_utf8(tampered).unwrap()
        ));
        assert!(!masked_matches(&secret, "not-the-token"));
        assert!(!masked_matches("", &mask("")));
    }
}
