//! Argon2id password hashes. Hashing is deliberately slow, so it runs on the
//! blocking thread pool, never on the async workers.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Verified against when the account does not exist, so that unknown and
    /// known names take the same time.
    decoy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let mut hasher = Self {
            params,
            decoy_hash: String::new(),
        };
        hasher.decoy_hash = hasher.hash_blocking("decoy password, never used")?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon2()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string())
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let this = self.clone();
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    /// True if `password` matches `hash`; with `None` it checks the decoy and returns false.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> bool {
        let this = self.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| this.decoy_hash.clone());
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            // Verify with the parameters stored in the hash, so old hashes keep working.
            let ok = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            ok && known
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hasher = PasswordHasher::new(64, 1).unwrap();
        let hash = hasher
            .hash(&Password::parse("正确的密码123".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify("正确的密码123", Some(hash.clone())).await);
        assert!(!hasher.verify("wrong password", Some(hash)).await);
        assert!(!hasher.verify("decoy password, never used", None).await);
    }
}
