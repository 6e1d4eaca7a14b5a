//! Property feedback records: the "5431" SLA engine and, later, the record
//! queue, disclosure figures and Open311.

pub mod disclosure;
pub mod escalation;
pub mod notifications;
pub mod photos;
pub mod records;
pub mod sla;

use crate::domain::record::RecordClass;

/// The categories residents choose from; the code is also the Open311 service code.
/// Each has a default class that staff may override when filing a phone call.
pub const CATEGORIES: &[(&str, RecordClass)] = &[
    ("repairs", RecordClass::General),
    ("elevator", RecordClass::Major),
    ("water_power", RecordClass::Major),
    ("safety", RecordClass::Urgent),
    ("parking", RecordClass::General),
    ("rubbish", RecordClass::General),
    ("greenery", RecordClass::General),
    ("noise", RecordClass::General),
    ("renovation", RecordClass::Complex),
    ("fees", RecordClass::Complex),
    ("other", RecordClass::General),
];

/// The default class of a category, if the category exists.
pub fn category_class(code: &str) -> Option<RecordClass> {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, class)| *class)
}
