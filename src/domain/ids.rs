//! Typed row identifiers, so that a building id is never passed where an estate id is meant.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    CommunityId,
    EstateId,
    BuildingId,
    UnitId,
    AccountId,
    RegistrationCodeId,
    RecordId,
    BroadcastId,
    NoticeId,
    ScreenId,
    ScreenGroupId,
    MediaId,
    CommentId
);
