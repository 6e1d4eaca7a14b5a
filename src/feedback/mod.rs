//! Property feedback records: the "5431" SLA engine and, later, the record
//! queue, disclosure figures and Open311.

pub mod records;
pub mod sla;
