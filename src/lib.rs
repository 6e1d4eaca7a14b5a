//! Pavilion (社区议事厅): live Q&A broadcasts, lobby notice boards and feedback
//! records for a residential community.
//!
//! Dependencies point one way: `web` → capabilities (`accounts`, …) → `store` → `domain`.

rust_i18n::i18n!("assets/i18n", fallback = "zh-CN");

// Makes cargo rebuild when the catalogue changes (the macro above reads it
// without telling cargo).
const _CATALOGUE: &str = include_str!("../assets/i18n/app.yml");

pub mod accounts;
pub mod chat;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod feedback;
pub mod files;
pub mod i18n;
pub mod live;
pub mod media;
pub mod settings;
pub mod signage;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
