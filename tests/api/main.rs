//! Integration tests: each starts the real server on port 0 with a fresh
//! temporary SQLite database and talks to it over HTTP.

mod audit;
mod auth;
mod browser;
mod chat;
mod chat_browser;
mod chat_service;
mod cli;
mod csrf;
mod directory;
mod disclosure_screens;
mod escalation;
mod helpers;
mod i18n;
mod kiosk_browser;
mod live;
mod low_latency;
mod notices_console;
mod notifications;
mod open311;
mod publisher;
mod record_photos;
mod record_queue;
mod records;
mod records_browser;
mod registration;
mod roles;
mod screens_console;
mod security_browser;
mod signage;
mod sla_settings;
mod system;
mod uploads;
