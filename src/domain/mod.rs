//! Types shared by every capability. The domain knows no database and no HTTP:
//! a value that has one of these types has already been checked.

pub mod account;
pub mod audit;
pub mod broadcast;
pub mod cap;
pub mod chat;
pub mod directory;
pub mod geo;
pub mod ids;
pub mod notice;
pub mod personal_data;
pub mod record;
pub mod role;
pub mod scope;
pub mod screen;
pub mod text;

pub use account::{Account, NewAccount, Password, Username};
pub use audit::{Actor, AuditEntry, AuditFilter, NewAuditEntry};
pub use directory::{
    Building, Community, CommunityCode, Estate, PlaceName, RegistrationCode, Unit, UnitLabel,
};
pub use ids::{
    AccountId, BroadcastId, BuildingId, CommentId, CommunityId, EstateId, MediaId, NoticeId,
    RecordId, RegistrationCodeId, ScreenGroupId, ScreenId, UnitId,
};
pub use role::{Permission, Role};
pub use scope::Scope;
pub use text::{DisplayName, TextError};
