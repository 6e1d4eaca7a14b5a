//! What a console route's `{id}` names, and the check that it lies in the
//! viewer's scope. The route guard runs it before any handler, so a handler
//! never sees a subject outside the viewer's scope: for them it does not
//! exist (404, so that ids of other communities reveal nothing).

use crate::domain::scope::Place;
use crate::domain::{
    Account, AccountId, BroadcastId, BuildingId, CommunityId, EstateId, NoticeId, RecordId,
    RegistrationCodeId, ScreenId, UnitId,
};
use crate::store::{Store, StoreError};

/// The kind of thing a route is about, read from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Lists and forms; their handlers filter by the viewer's scope.
    Nothing,
    Community,
    Estate,
    Building,
    Unit,
    Code,
    Account,
    ApiKey,
    Broadcast,
    Notice,
    Screen,
    Record,
}

impl Subject {
    /// `/console/estates/{id}/…` is about an estate; `/console/notices/new` is
    /// about nothing in particular.
    pub fn of_path(path: &str) -> Subject {
        let mut segments = path.trim_start_matches("/console/").split('/');
        let (Some(kind), Some("{id}")) = (segments.next(), segments.next()) else {
            return Subject::Nothing;
        };
        match kind {
            "communities" => Subject::Community,
            "estates" => Subject::Estate,
            "buildings" => Subject::Building,
            "units" => Subject::Unit,
            "codes" => Subject::Code,
            "accounts" => Subject::Account,
            "api-keys" => Subject::ApiKey,
            "broadcasts" => Subject::Broadcast,
            "notices" => Subject::Notice,
            "screens" => Subject::Screen,
            "records" => Subject::Record,
            other => panic!("console route /console/{other}/{{id}} names no known subject"),
        }
    }

    /// Whether `viewer` may reach the subject numbered `id`. What governs a
    /// place (its directory entries, settings, accounts) must lie wholly in
    /// the viewer's scope; what is worked on (broadcasts, notices, screens,
    /// records) must be within reach. An unknown id passes, so that the
    /// handler answers its own 404.
    pub async fn in_scope(
        self,
        store: &dyn Store,
        viewer: &Account,
        id: i64,
    ) -> Result<bool, StoreError> {
        let scope = viewer.scope();
        let found = match self {
            Subject::Nothing => return Ok(true),
            Subject::Account => store
                .account(AccountId(id))
                .await
                .map(|account| scope.contains_scope(account.scope())),
            Subject::ApiKey => store
                .api_key_by_id(id)
                .await
                .map(|key| scope.contains_scope(key.scope())),
            Subject::Community => store
                .community(CommunityId(id))
                .await
                .map(|c| scope.contains(Place::community(c.id))),
            Subject::Estate => estate_place(store, EstateId(id))
                .await
                .map(|p| scope.contains(p)),
            Subject::Building => building_place(store, BuildingId(id))
                .await
                .map(|p| scope.contains(p)),
            Subject::Unit => unit_place(store, UnitId(id))
                .await
                .map(|p| scope.contains(p)),
            Subject::Code => match store.code_unit(RegistrationCodeId(id)).await {
                Ok(unit) => unit_place(store, unit).await.map(|p| scope.contains(p)),
                Err(e) => Err(e),
            },
            Subject::Broadcast => store
                .broadcast(BroadcastId(id))
                .await
                .map(|b| scope.reaches(b.community_id.into())),
            Subject::Notice => store
                .notice(NoticeId(id))
                .await
                .map(|n| scope.reaches(n.community_id.into())),
            Subject::Screen => store
                .screen(ScreenId(id))
                .await
                .map(|s| scope.reaches(Place::estate(s.place.community_id, s.place.estate_id))),
            Subject::Record => store
                .record(RecordId(id))
                .await
                .map(|r| scope.reaches(r.place())),
        };
        match found {
            Ok(inside) => Ok(inside),
            Err(StoreError::NotFound) => Ok(true),
            Err(e) => Err(e),
        }
    }
}

async fn estate_place(store: &dyn Store, id: EstateId) -> Result<Place, StoreError> {
    let estate = store.estate(id).await?;
    Ok(Place::estate(estate.community_id, estate.id))
}

async fn building_place(store: &dyn Store, id: BuildingId) -> Result<Place, StoreError> {
    estate_place(store, store.building(id).await?.estate_id).await
}

async fn unit_place(store: &dyn Store, id: UnitId) -> Result<Place, StoreError> {
    building_place(store, store.unit(id).await?.building_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subject_from_the_path() {
        assert_eq!(Subject::of_path("/console/accounts"), Subject::Nothing);
        assert_eq!(Subject::of_path("/console/accounts/{id}"), Subject::Account);
        assert_eq!(
            Subject::of_path("/console/communities/{id}/departments/{department}"),
            Subject::Community
        );
        assert_eq!(Subject::of_path("/console/notices/new"), Subject::Nothing);
        assert_eq!(
            Subject::of_path("/console/screens/plays.csv"),
            Subject::Nothing
        );
    }

    #[test]
    fn every_console_route_names_a_known_subject() {
        for route in super::super::console_routes() {
            Subject::of_path(route.path);
        }
    }
}
