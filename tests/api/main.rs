//! Integration tests: each starts the real server on port 0 with a fresh
//! temporary SQLite database and talks to it over HTTP.

mod audit;
mod auth;
mod browser;
mod cli;
mod csrf;
mod directory;
mod helpers;
mod i18n;
mod kiosk_browser;
mod live;
mod low_latency;
mod open311;
mod publisher;
mod records;
mod registration;
mod roles;
mod screens_console;
mod signage;
mod system;
mod uploads;
