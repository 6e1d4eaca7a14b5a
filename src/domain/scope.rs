//! Where an account's writ runs. This is the one scope rule: every page,
//! query and capability asks `account.may(permission, place)` or the
//! [`Scope`] methods below, never compares community ids itself.
//!
//! An account tied to no place covers the whole installation; one tied to a
//! community covers that community and its estates; one tied to an estate
//! covers that estate, and takes part in what is shared by its whole
//! community (a community-wide broadcast or notice), but does not govern the
//! community itself (its directory, its accounts, its settings).

use super::account::Account;
use super::ids::{CommunityId, EstateId};
use super::role::Permission;

/// Where something lives: a community, or one estate of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Place {
    pub community: CommunityId,
    /// `None` for what belongs to the whole community.
    pub estate: Option<EstateId>,
}

impl Place {
    pub fn community(community: CommunityId) -> Self {
        Self {
            community,
            estate: None,
        }
    }

    pub fn estate(community: CommunityId, estate: EstateId) -> Self {
        Self {
            community,
            estate: Some(estate),
        }
    }
}

impl From<CommunityId> for Place {
    fn from(community: CommunityId) -> Self {
        Place::community(community)
    }
}

/// The part of the installation an account covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every community (accounts tied to no place).
    Installation,
    Community(CommunityId),
    Estate(CommunityId, EstateId),
}

impl Scope {
    /// The scope an account's community and estate give it. An estate
    /// without its community cannot be stored; it is read as its estate's.
    pub fn of(community: Option<CommunityId>, estate: Option<EstateId>) -> Self {
        match (community, estate) {
            (Some(c), Some(e)) => Scope::Estate(c, e),
            (Some(c), None) => Scope::Community(c),
            // Never stored (the store fills in the community), but never wider
            // than the estate either: a community id that matches nothing.
            (None, Some(e)) => Scope::Estate(CommunityId(i64::MIN), e),
            (None, None) => Scope::Installation,
        }
    }

    /// The community to filter lists by; `None` means every community.
    pub fn community(self) -> Option<CommunityId> {
        match self {
            Scope::Installation => None,
            Scope::Community(c) | Scope::Estate(c, _) => Some(c),
        }
    }

    /// The estate to filter lists by, for accounts tied to one.
    pub fn estate(self) -> Option<EstateId> {
        match self {
            Scope::Estate(_, e) => Some(e),
            _ => None,
        }
    }

    /// May the account work on something in `place`? Things of the whole
    /// community are shared by its estates; an estate's belong to it alone.
    pub fn reaches(self, place: Place) -> bool {
        match self {
            Scope::Installation => true,
            Scope::Community(c) => place.community == c,
            Scope::Estate(c, e) => place.community == c && place.estate.is_none_or(|pe| pe == e),
        }
    }

    /// Does `place` lie wholly inside this scope? What governs a place (its
    /// directory entries, settings and accounts) needs this, not `reaches`.
    pub fn contains(self, place: Place) -> bool {
        match self {
            Scope::Installation => true,
            Scope::Community(c) => place.community == c,
            Scope::Estate(c, e) => place.community == c && place.estate == Some(e),
        }
    }

    /// Does `other` lie wholly inside this scope? An account may manage only
    /// accounts whose scope is inside its own, so nobody can widen their writ.
    pub fn contains_scope(self, other: Scope) -> bool {
        match other {
            Scope::Installation => self == Scope::Installation,
            Scope::Community(c) => self.contains(Place::community(c)),
            Scope::Estate(c, e) => self.contains(Place::estate(c, e)),
        }
    }

    /// The place this scope stands for, if it is not the whole installation.
    pub fn place(self) -> Option<Place> {
        match self {
            Scope::Installation => None,
            Scope::Community(c) => Some(Place::community(c)),
            Scope::Estate(c, e) => Some(Place::estate(c, e)),
        }
    }
}

impl Account {
    pub fn scope(&self) -> Scope {
        Scope::of(self.community_id, self.estate_id)
    }

    /// The authorisation rule: an enabled account whose role grants
    /// `permission`, acting on something within its scope.
    pub fn may(&self, permission: Permission, place: impl Into<Place>) -> bool {
        !self.disabled && self.role.can(permission) && self.scope().reaches(place.into())
    }

    /// Like [`Account::may`], for what governs `place` itself.
    pub fn may_govern(&self, permission: Permission, place: impl Into<Place>) -> bool {
        !self.disabled && self.role.can(permission) && self.scope().contains(place.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: CommunityId = CommunityId(1);
    const B: CommunityId = CommunityId(2);
    const A1: EstateId = EstateId(11);
    const A2: EstateId = EstateId(12);

    fn scopes() -> [Scope; 4] {
        [
            Scope::Installation,
            Scope::Community(A),
            Scope::Estate(A, A1),
            Scope::Community(B),
        ]
    }

    #[test]
    fn the_installation_reaches_and_contains_everything() {
        for scope in scopes() {
            assert!(Scope::Installation.contains_scope(scope));
        }
        assert!(Scope::Installation.reaches(Place::estate(B, A2)));
    }

    #[test]
    fn a_community_stays_in_its_community() {
        let scope = Scope::Community(A);
        assert!(scope.reaches(Place::community(A)));
        assert!(scope.reaches(Place::estate(A, A2)));
        assert!(!scope.reaches(Place::community(B)));
        assert!(scope.contains_scope(Scope::Estate(A, A1)));
        assert!(!scope.contains_scope(Scope::Installation));
        assert!(!scope.contains_scope(Scope::Community(B)));
    }

    #[test]
    fn an_estate_shares_its_community_but_governs_only_itself() {
        let scope = Scope::Estate(A, A1);
        assert!(
            scope.reaches(Place::community(A)),
            "a community-wide broadcast"
        );
        assert!(scope.reaches(Place::estate(A, A1)));
        assert!(!scope.reaches(Place::estate(A, A2)));
        assert!(!scope.contains(Place::community(A)));
        assert!(!scope.contains_scope(Scope::Community(A)));
        assert!(scope.contains_scope(Scope::Estate(A, A1)));
    }

    #[test]
    fn containment_is_a_partial_order() {
        for a in scopes() {
            assert!(a.contains_scope(a), "reflexive: {a:?}");
            for b in scopes() {
                if a != b && a.contains_scope(b) {
                    assert!(!b.contains_scope(a), "antisymmetric: {a:?} {b:?}");
                }
                for c in scopes() {
                    if a.contains_scope(b) && b.contains_scope(c) {
                        assert!(a.contains_scope(c), "transitive: {a:?} {b:?} {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn an_estate_without_its_community_reaches_no_community() {
        let scope = Scope::of(None, Some(A1));
        assert!(!scope.reaches(Place::community(A)));
        assert!(!Scope::Installation.eq(&scope));
    }
}
