use std::sync::Arc;

use chrono::{Duration, Utc};

use super::{tokens, AttemptLimiter, PasswordHasher};
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
            AuthError::InvalidCode => "error.register.invalid_code",
            AuthError::SetupLinkInvalid => "error.setup.invalid_link",
            AuthError::NameTaken => "error.account.name_taken",
            AuthError::Store(_) | AuthError::Internal(_) => "error.internal",
        }
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
    login_attempts: AttemptLimiter,
    code_attempts: AttemptLimiter,
    /// A copy of one's data costs a read of everything: once a minute per account.
    exports: AttemptLimiter,
    session_length: Duration,
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, settings: &AuthSettings) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            hasher: PasswordHasher::new(settings.argon2_memory_kib, settings.argon2_iterations)?,
            login_attempts: AttemptLimiter::per_minute(settings.login_attempts_per_minute),
            code_attempts: AttemptLimiter::per_minute(10),
            exports: AttemptLimiter::per_minute(1),
            session_length: Duration::hours(settings.session_hours),
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        Ok(self.hasher.hash(password).await?)
    }

    /// Checks a login. `client` is the caller's address, for throttling.
    pub async fn login(
        &self,
        client: &str,
        username: &str,
        password: &str,
    ) -> Result<Account, AuthError> {
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
        if self.hasher.verify(password, hash).await {
            if let Some(account) = account {
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
