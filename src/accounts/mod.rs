//! Who is who: password hashing, sessions, the first-admin setup link,
//! resident registration with household codes, and login throttling.

mod limiter;
mod password;
mod service;
pub mod tokens;

pub use limiter::AttemptLimiter;
pub use password::{Busy, HashingLimits, PasswordHasher};
pub use service::{Accounts, AuthError, NewSession};
