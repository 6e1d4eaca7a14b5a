//! Argon2id password hashes. Hashing is deliberately slow (and takes
//! `argon2_memory_kib` of memory), so it runs on a few threads of its own,
//! never on the async workers, and only a few at once: a hash waits a short
//! while for a free slot, then is refused as `Busy` rather than queued without
//! end. One thread per slot means each hash's memory is taken and given back
//! on the same few threads and reused, where the blocking pool's many threads
//! would each leave the allocator holding a copy.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

/// Every hashing slot stayed taken for the whole wait.
#[derive(Debug, thiserror::Error)]
#[error("every password-hashing slot is busy")]
pub struct Busy;

/// How many hashes may run at once and how long one waits for its turn.
#[derive(Debug, Clone, Copy)]
pub struct HashingLimits {
    pub concurrent: usize,
    pub wait: Duration,
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads; they end when the last hasher using them is dropped.
struct Workers {
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl Workers {
    fn start(threads: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
        }
        Ok(Self {
            jobs: Mutex::new(jobs),
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| anyhow::anyhow!("the password-hashing threads are gone"))?;
        Ok(result.await?)
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    workers: Arc<Workers>,
    slots: Arc<Semaphore>,
    wait: Duration,
    /// Verified against when the account does not exist, so that unknown and
    /// known names take the same time.
    decoy_hash: String,
}

impl PasswordHasher {
    pub fn new(memory_kib: u32, iterations: u32, limits: HashingLimits) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let mut hasher = Self {
            params,
            workers: Arc::new(Workers::start(limits.concurrent.max(1))?),
            slots: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            wait: limits.wait,
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

    /// Waits (at most the configured wait) for a hashing slot; the slot is
    /// free again when the returned permit is dropped.
    pub async fn slot(&self) -> Result<OwnedSemaphorePermit, Busy> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy),
        }
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<Result<String, Busy>> {
        let Ok(slot) = self.slot().await else {
            return Ok(Err(Busy));
        };
        let this = self.clone();
        let password = password.expose().to_owned();
        // The slot moves into the job: it is held until the hash is done,
        // even if the request that wanted it has gone.
        let hash = self
            .workers
            .run(move || {
                let _slot = slot;
                this.hash_blocking(&password)
            })
            .await??;
        Ok(Ok(hash))
    }

    /// True if `password` matches `hash`; with `None` it checks the decoy and returns false.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, Busy> {
        let slot = self.slot().await?;
        let this = self.clone();
        let password = password.to_owned();
        Ok(self
            .workers
            .run(move || {
                let _slot = slot;
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
            .unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrent: usize, wait_millis: u64) -> HashingLimits {
        HashingLimits {
            concurrent,
            wait: Duration::from_millis(wait_millis),
        }
    }

    #[tokio::test]
    async fn verifies_only_the_right_password() {
        let hasher = PasswordHasher::new(64, 1, limits(2, 1000)).unwrap();
        let hash = hasher
            .hash(&Password::parse("正确的密码123".into()).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher
            .verify("正确的密码123", Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher.verify("wrong password", Some(hash)).await.unwrap());
        assert!(!hasher
            .verify("decoy password, never used", None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_hash_waits_briefly_for_a_slot_then_is_refused() {
        let hasher = PasswordHasher::new(64, 1, limits(1, 20)).unwrap();
        let password = Password::parse("正确的密码123".into()).unwrap();
        let held = hasher.slot().await.unwrap();
        assert!(hasher.hash(&password).await.unwrap().is_err());
        assert!(hasher.verify("anything", None).await.is_err());
        drop(held);
        assert!(hasher.hash(&password).await.unwrap().is_ok());
    }
}
