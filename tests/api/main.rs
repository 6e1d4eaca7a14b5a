//! Integration tests: each starts the real server on port 0 with a fresh
//! database and talks to it over HTTP. The database is a temporary SQLite
//! file, or with `PAVILION_TEST_DATABASE=postgres` a database of its own on a
//! scratch PostgreSQL cluster (see `helpers::backend`).

mod audit;
mod auth;
mod browser;
mod cap_alerts;
mod chat;
mod chat_browser;
mod chat_service;
mod cli;
mod cross_node;
mod csrf;
mod data_rights;
mod db_copy;
mod directory;
mod disclosure_charts;
mod disclosure_screens;
mod district;
mod enhanced_rtmp;
mod escalation;
mod feeds;
mod geo;
mod gstreamer;
mod helpers;
mod i18n;
mod kiosk_browser;
mod live;
mod low_latency;
mod nodes;
mod notices_console;
mod notifications;
mod open311;
mod openapi;
mod privacy_public;
mod publisher;
mod record_photos;
mod record_queue;
mod records;
mod records_browser;
mod registration;
mod roles;
mod scope;
mod screens_console;
mod security_auth;
mod security_browser;
mod security_costs;
mod security_sockets;
mod serving;
mod signage;
mod sla_settings;
mod system;
mod uploads;
mod whip;
