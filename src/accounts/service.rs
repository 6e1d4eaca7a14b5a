use std::net::IpAddr;
use std::sync::Arc;

use chrono::{Duration, Utc};
use tokio::sync::OwnedSemaphorePermit;

use super::{tokens, AttemptLimiter, Busy, HashingLimits, PasswordHasher};
use crate::domain::{
    Account, Actor, DisplayName, NewAccount, Password, RegistrationCode, Role, Username,
};
use crate::i18n::Lang;
use crate::settings::AuthSettings;
use crate::store::{PersonalData, Session, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong account name or password")]
    WrongCredentials,
    #[error("too many attempts")]
    TooManyAttempts,
    #[error("every password-hashing slot is busy")]
    Busy,
    #[error("registration code unknown or revoked")]
    InvalidCode,
    #[error("setup link invalid, expired or used")]
    SetupLinkInvalid,
    #[error("account name taken")]
    NameTaken,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => AuthError::NameTaken,
            e => AuthError::Store(e),
        }
    }
}

impl AuthError {
    pub fn message_key(&self) -> &'static str {
        match self {
            AuthError::WrongCredentials => "error.login.wrong",
            AuthError::TooManyAttempts => "error.too_many_attempts",
            AuthError::Busy => "error.hashing_busy",
            AuthError::InvalidCode => "error.register.invalid_code",
            AuthError::SetupLinkInvalid => "error.setup.invalid_link",
            AuthError::NameTaken => "error.account.name_taken",
            AuthError::Store(_) | AuthError::Internal(_) => "error.internal",
        }
    }

    /// For refusals that pass with time: how long to wait before trying again.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AuthError::TooManyAttempts => Some(std::time::Duration::from_secs(60)),
            AuthError::Busy => Some(std::time::Duration::from_secs(5)),
            _ => None,
        }
    }
}

impl From<Busy> for AuthError {
    fn from(_: Busy) -> Self {
        AuthError::Busy
    }
}

/// A freshly started session: the cookie value and the form token that goes with it.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    /// Logins per account name and address: guessing one account's password.
    login_attempts: AttemptLimiter,
    /// Logins per address whatever the name: spraying one password over many
    /// accounts. Checked first, so a throttled spray costs no hash.
    address_attempts: AttemptLimiter,
    code_attempts: AttemptLimiter,
    /// A copy of one's data costs a read of everything: once a minute per account.
    exports: AttemptLimiter,
    session_length: Duration,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            hasher: PasswordHasher::new(
                settings.argon2_memory_kib,
                settings.argon2_iterations,
                HashingLimits {
                    concurrent: settings.hashing_slots(),
                    wait: std::time::Duration::from_millis(settings.password_hash_wait_millis),
                },
            )?,
            login_attempts: AttemptLimiter::per_minute(settings.login_attempts_per_minute),
            address_attempts: AttemptLimiter::per_minute(
                settings.login_attempts_per_address_per_minute,
            ),
            code_attempts: AttemptLimiter::per_minute(10),
            exports: AttemptLimiter::per_minute(1),
            session_length: Duration::hours(settings.session_hours),
        })
    }

    /// Hashes a new password (registration, setup, password changes, staff
    /// accounts); `Busy` when every hashing slot stayed taken.
    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        Ok(self.hasher.hash(password).await??)
    }

    /// Waits for a hashing slot like a hash would, and keeps it until the
    /// permit is dropped: lets tests and benchmarks play a server whose
    /// hashing slots are all taken.
    pub async fn occupy_hashing_slot(&self) -> Result<OwnedSemaphorePermit, AuthError> {
        Ok(self.hasher.slot().await?)
    }

    /// Checks a login. `client` is the caller's address, for throttling.
    pub async fn login(
        &self,
        client: &str,
        username: &str,
        password: &str,
    ) -> Result<Account, AuthError> {
        let address = address_key(client);
        if !self.address_attempts.try_attempt(&address) {
            tracing::warn!(client, "logins from this address throttled");
            return Err(AuthError::TooManyAttempts);
        }
        let username = Username::parse(username).map_err(|_| AuthError::WrongCredentials)?;
        if !self
            .login_attempts
            .try_attempt(&format!("{client} {}", username.as_str()))
        {
            tracing::warn!(client, username = username.as_str(), "login throttled");
            return Err(AuthError::TooManyAttempts);
        }
        let found = self.store.credentials(&username).await?;
        let (account, hash) = match found {
            Some((account, hash)) if !account.disabled => (Some(account), Some(hash)),
            _ => (None, None),
        };
        if self.hasher.verify(password, hash).await? {
            if let Some(account) = account {
                // A resident's own login is no guess: it does not use up the
                // allowance of everyone behind the same address.
                self.address_attempts.refund(&address);
                return Ok(account);
            }
        }
        tracing::info!(client, username = username.as_str(), "login failed");
        Err(AuthError::WrongCredentials)
    }

    pub async fn start_session(&self, account: &Account) -> Result<NewSession, AuthError> {
        let token = tokens::random_token();
        let session = Session {
            account_id: account.id,
            csrf_token: tokens::random_token(),
            expires_at: Utc::now() + self.session_length,
        };
        self.store
            .create_session(&tokens::fingerprint(&token), &session)
            .await?;
        Ok(NewSession {
            token,
            csrf_token: session.csrf_token,
        })
    }

    pub async fn session(&self, token: &str) -> Result<Option<(Session, Account)>, AuthError> {
        Ok(self
            .store
            .session(&tokens::fingerprint(token), Utc::now())
            .await?)
    }

    pub async fn end_session(&self, token: &str) -> Result<(), AuthError> {
        Ok(self
            .store
            .delete_session(&tokens::fingerprint(token))
            .await?)
    }

    /// With no admin yet, makes a new one-time setup token (valid 24 hours) and returns it.
    pub async fn setup_token_if_needed(&self) -> Result<Option<String>, AuthError> {
        if self.store.count_admins().await? > 0 {
            return Ok(None);
        }
        let token = tokens::random_token();
        self.store
            .replace_setup_token(
                &tokens::fingerprint(&token),
                Utc::now() + Duration::hours(24),
            )
            .await?;
        Ok(Some(token))
    }

    pub async fn setup_token_valid(&self, token: &str) -> Result<bool, AuthError> {
        Ok(self
            .store
            .setup_token_valid(&tokens::fingerprint(token), Utc::now())
            .await?)
    }

    pub async fn complete_setup(
        &self,
        token: &str,
        username: Username,
        display_name: DisplayName,
        password: &Password,
    ) -> Result<Account, AuthError> {
        let admin = NewAccount {
            username,
            display_name,
            password_hash: self.hash(password).await?,
            role: Role::Admin,
            community_id: None,
            estate_id: None,
            unit_id: None,
        };
        match self
            .store
            .complete_setup(&tokens::fingerprint(token), Utc::now(), admin)
            .await
        {
            Err(StoreError::Rejected(_)) => Err(AuthError::SetupLinkInvalid),
            other => Ok(other?),
        }
    }

    /// Registers a resident with a household code; throttled per client address.
    pub async fn register(
        &self,
        client: &str,
        code: &str,
        username: Username,
        display_name: DisplayName,
        password: &Password,
    ) -> Result<Account, AuthError> {
        if !self.code_attempts.try_attempt(client) {
            tracing::warn!(client, "registration throttled");
            return Err(AuthError::TooManyAttempts);
        }
        let code = RegistrationCode::normalise_input(code);
        if code.len() != RegistrationCode::LEN {
            return Err(AuthError::InvalidCode);
        }
        let hash = self.hash(password).await?;
        match self
            .store
            .register_resident(&code, username, display_name, hash)
            .await
        {
            Err(StoreError::Rejected(_)) => {
                tracing::info!(client, "registration with unknown or revoked code");
                Err(AuthError::InvalidCode)
            }
            other => Ok(other?),
        }
    }

    /// Everything kept about `account`, for its owner to download; at most
    /// once a minute per account. Audited as `account.export`.
    pub async fn export_personal_data(&self, account: &Account) -> Result<PersonalData, AuthError> {
        if !self.exports.try_attempt(&account.id.0.to_string()) {
            return Err(AuthError::TooManyAttempts);
        }
        let actor = Actor {
            id: Some(account.id),
            name: account.username.clone(),
        };
        Ok(self.store.export_personal_data(&actor, account.id).await?)
    }

    /// Closes a resident's own account for good once they have typed their
    /// password again (throttled like a login). Their name is replaced by
    /// "已注销住户 #<id>", in the community's language like the names comments
    /// are posted under. Audited as `account.close`.
    pub async fn close_account(&self, account: &Account, password: &str) -> Result<(), AuthError> {
        let client = format!("account {}", account.id);
        self.login(&client, &account.username, password).await?;
        let label = closed_label(account);
        self.store.close_account(account.id, &label).await?;
        tracing::info!(account = account.id.0, "account closed by its owner");
        Ok(())
    }
}

/// The name a closed account is shown under everywhere from then on.
pub fn closed_label(account: &Account) -> String {
    Lang::Zh.tf("account.closed_label", &[("n", &account.id.0)])
}

/// The key an address is throttled by. IPv6 clients usually hold a whole /64,
/// so they are counted by it; anything else (an IPv4 address, a label such as
/// `account 7`) is its own key.
fn address_key(client: &str) -> String {
    match client.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => client.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            address_key("2001:db8:1:2:bbbb::9"),
            address_key("2001:db8:1:2:aaaa::1")
        );
        assert_eq!(address_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(address_key("account 7"), "account 7");
    }
}
