//! HTTP: routes and maud views, grouped by audience. Handlers parse input into
//! domain types, call a capability or the store, and render a page.

pub mod api;
pub mod assets;
pub mod browser_policy;
pub mod charts;
pub mod console;
pub mod context;
pub mod error;
pub mod feeds;
pub mod forms;
pub mod kiosk;
pub mod layout;
pub mod multipart;
pub mod observability;
pub mod open311;
pub mod open311_place;
pub mod public;
pub mod record_photos;
pub mod record_view;
pub mod request_log;
pub mod spreadsheet;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::middleware::ErrorHandlers;
use actix_web::web;

use crate::accounts::Accounts;
use crate::settings::Settings;
use crate::store::Store;

/// Shared by every handler.
pub struct AppState {
    pub settings: Settings,
    pub store: Arc<dyn Store>,
    pub accounts: Accounts,
    pub records: crate::feedback::records::Records,
    pub live: crate::live::Live,
    pub signage: Arc<crate::signage::Signage>,
    pub chat: crate::chat::Chat,
    /// The port the RTMP ingest listens on (known only after binding).
    pub rtmp_port: u16,
    pub metrics: observability::Metrics,
    /// Caps the uploaded pictures decoded at once.
    pub pictures: Arc<crate::media::picture::DecodeSlots>,
}

/// All routes of the application.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(api::extractor_configs)
        .route("/healthz", web::get().to(observability::health))
        .route("/metrics", web::get().to(observability::metrics))
        .route("/api/openapi.json", web::get().to(api::openapi_json))
        .route("/static/{file:.*}", web::get().to(assets::serve))
        .service(web::scope("/api/v1").configure(api::routes))
        .configure(kiosk::routes)
        .configure(open311::routes)
        .configure(console::routes)
        .configure(feeds::routes)
        .configure(public::routes)
        .default_service(web::to(not_found));
}

/// Middleware every response passes through, outermost last.
pub fn error_pages<B: actix_web::body::MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(error::render_error_page)
}

pub use context::ensure_form_token;

/// Unknown routes. Loading the context first lets the error page show the
/// visitor's account links and language switch.
async fn not_found(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, error::WebError> {
    // A documented API path asked with a method it does not answer: say so,
    // and which methods it does.
    if let Some(methods) = api::documented_methods(req.path()) {
        if !methods.contains(req.method()) {
            let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
            return Ok(actix_web::HttpResponse::MethodNotAllowed()
                .insert_header((actix_web::http::header::ALLOW, allow.join(", ")))
                .finish());
        }
    }
    let _ = context::Ctx::load(&req).await;
    Err(error::WebError::NotFound)
}
