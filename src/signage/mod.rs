//! Lobby notice boards: notices and their approval, the playlist each screen
//! resolves to, uploaded pictures and videos, and the screens themselves.

pub mod markdown;
pub mod media;
pub mod playlist;
