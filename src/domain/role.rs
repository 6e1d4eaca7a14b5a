//! Roles and what each may do. This table is the single source of truth for
//! authorisation: the web layer asks `role.can(permission)` and nothing else.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Secretary,
    Moderator,
    Staff,
    Observer,
    Resident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Open the staff console at all.
    UseConsole,
    /// Communities, estates, buildings and units.
    ManageDirectory,
    /// Where estates and buildings are: locations and outlines (Open311
    /// filing by coordinates and alert areas match against them).
    PlaceEstates,
    /// Issue, print and revoke household registration codes.
    ManageRegistrationCodes,
    /// Create accounts and change roles.
    ManageAccounts,
    /// Read the audit log.
    ReadAuditLog,
    /// See the feedback record queue (observers: their estate only).
    ReadRecords,
    /// Change feedback records: accept, dispatch, resolve, file phone calls.
    WorkRecords,
    /// Schedule broadcasts and go live with their stream keys.
    RunBroadcasts,
    /// See, unpublish and delete replays; end a broadcast that is stuck.
    ManageReplays,
    /// Write lobby notices and withdraw them at once (an emergency cannot wait).
    WriteNotices,
    /// Approve or reject notices before they reach the screens.
    ApproveNotices,
    /// Pair, place and revoke lobby screens; read their proof-of-play.
    ManageScreens,
    /// Work a broadcast's comment queue: approve, reject, redact, merge,
    /// hide, time out and ban residents, edit the blocked words.
    ModerateChat,
    /// Answer questions live: highlight one, mark it answered, restore it.
    AnswerQuestions,
    /// Set a community's SLA durations, business calendar, departments,
    /// estate leads and joint-meeting dates.
    ConfigureRecords,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Secretary,
        Role::Moderator,
        Role::Staff,
        Role::Observer,
        Role::Resident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Secretary => "secretary",
            Role::Moderator => "moderator",
            Role::Staff => "staff",
            Role::Observer => "observer",
            Role::Resident => "resident",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_staff(self) -> bool {
        self != Role::Resident
    }

    pub fn can(self, permission: Permission) -> bool {
        use Permission::*;
        match permission {
            UseConsole => self.is_staff(),
            // Whoever keeps the directory also says where its places are.
            ManageDirectory | PlaceEstates | ManageAccounts | ReadAuditLog => self == Role::Admin,
            // Codes are printed and handed out by the property office.
            ManageRegistrationCodes => matches!(self, Role::Admin | Role::Staff),
            ReadRecords => self.is_staff(),
            WorkRecords => matches!(
                self,
                Role::Admin | Role::Secretary | Role::Moderator | Role::Staff
            ),
            RunBroadcasts => matches!(self, Role::Admin | Role::Secretary),
            ManageReplays => matches!(self, Role::Admin | Role::Secretary | Role::Staff),
            WriteNotices => matches!(self, Role::Admin | Role::Secretary | Role::Staff),
            ApproveNotices => matches!(self, Role::Admin | Role::Secretary),
            ManageScreens => self == Role::Admin,
            ModerateChat => matches!(self, Role::Admin | Role::Secretary | Role::Moderator),
            // The one in front of the camera.
            AnswerQuestions => matches!(self, Role::Admin | Role::Secretary),
            ConfigureRecords => matches!(self, Role::Admin | Role::Secretary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn residents_never_reach_the_console() {
        assert!(!Role::Resident.can(Permission::UseConsole));
        assert!(!Role::Resident.can(Permission::ManageRegistrationCodes));
        assert!(Role::Observer.can(Permission::UseConsole));
        assert!(!Role::Observer.can(Permission::ManageDirectory));
    }

    #[test]
    fn places_are_set_by_those_who_keep_the_directory() {
        for role in Role::ALL {
            assert_eq!(
                role.can(Permission::PlaceEstates),
                role.can(Permission::ManageDirectory),
                "{role:?}"
            );
        }
    }

    #[test]
    fn property_staff_issue_codes_but_do_not_manage_accounts() {
        assert!(Role::Staff.can(Permission::ManageRegistrationCodes));
        assert!(!Role::Staff.can(Permission::ManageAccounts));
        assert!(Role::Admin.can(Permission::ManageAccounts));
    }

    #[test]
    fn moderators_work_the_queue_and_the_secretary_answers() {
        let moderators: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.can(Permission::ModerateChat))
            .collect();
        assert_eq!(moderators, [Role::Admin, Role::Secretary, Role::Moderator]);
        let answerers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.can(Permission::AnswerQuestions))
            .collect();
        assert_eq!(answerers, [Role::Admin, Role::Secretary]);
        assert!(!Role::Staff.can(Permission::ModerateChat));
        assert!(!Role::Resident.can(Permission::ModerateChat));
        assert!(!Role::Observer.can(Permission::AnswerQuestions));
    }
}
