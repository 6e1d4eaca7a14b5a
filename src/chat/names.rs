//! The name a comment is shown under, rendered once when it is posted (in
//! the community's language, Chinese; pages show anonymous names in the
//! reader's language from the comment's `anonymous` flag).

use crate::domain::chat::{public_name, NameFacts, PublicName};
use crate::i18n::Lang;
use crate::store::ChatAuthor;

use super::filter;

/// The public name of `author`: see [`public_name`] for the rule. A
/// nickname in which the filters find personal data (a phone number, an
/// e-mail address) falls back to the building like one naming the unit.
pub fn for_author(author: &ChatAuthor, anonymous: bool) -> String {
    let facts = NameFacts {
        role: author.role,
        display_name: &author.display_name,
        unit_label: author.unit_label.as_deref(),
        building: author.building.as_deref(),
    };
    let mut name = public_name(anonymous, facts);
    if let PublicName::Nickname(nickname) = &name {
        if !filter::mask_personal_data(nickname).kinds.is_empty() {
            name = public_name(
                false,
                NameFacts {
                    display_name: "",
                    ..facts
                },
            );
        }
    }
    render(&name, Lang::Zh)
}

pub fn render(name: &PublicName, lang: Lang) -> String {
    match name {
        PublicName::Anonymous => lang.t("chat.name.anonymous").into_owned(),
        PublicName::Nickname(nickname) => nickname.clone(),
        PublicName::BuildingResident(building) => {
            lang.tf("chat.name.building_resident", &[("building", building)])
        }
        PublicName::Resident => lang.t("chat.name.resident").into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, Role};

    fn author(display_name: &str) -> ChatAuthor {
        ChatAuthor {
            id: AccountId(1),
            username: "laozhang".into(),
            display_name: display_name.into(),
            role: Role::Resident,
            estate_id: None,
            estate: Some("阳光花园".into()),
            building_id: None,
            building: Some("3号楼".into()),
            unit_label: Some("301".into()),
        }
    }

    #[test]
    fn names_follow_the_rule_in_chinese() {
        assert_eq!(for_author(&author("老张"), false), "老张");
        assert_eq!(for_author(&author("老张"), true), "匿名住户");
        assert_eq!(for_author(&author("301老张"), false), "3号楼住户");
        assert_eq!(
            render(&PublicName::BuildingResident("1栋".into()), Lang::En),
            "Resident of 1栋"
        );
        assert_eq!(
            render(&PublicName::Anonymous, Lang::En),
            "Anonymous resident"
        );
    }
}
