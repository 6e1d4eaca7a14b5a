//! Pages for residents and visitors: home, login, registration, the first-admin
//! setup link, the account page (with a copy of one's data and closing the
//! account), the privacy page and the language switch.

pub mod chat_pane;
mod disclosure;
mod disclosure_charts;
mod home;
mod lang;
mod live;
pub use live::WRITE_BUFFER;
pub mod live_chat;
mod login;
mod me;
mod my_data;
pub mod notifications;
mod privacy;
mod records;
mod register;
mod setup;
pub mod whip;

use actix_web::{web, HttpResponse};

use crate::domain::Account;

use super::context::session_cookie;
use super::error::WebError;
use super::forms::see_other;
use super::record_photos;
use super::AppState;

/// Starts a session for `account` and sends the browser on to `location`.
async fn sign_in_and_go(
    state: &AppState,
    account: &Account,
    location: &str,
) -> Result<HttpResponse, WebError> {
    let session = state.accounts.start_session(account).await?;
    let cookie = session_cookie(
        session.token,
        state.settings.secure_cookies(),
        state.settings.auth.session_hours,
    );
    let mut response = see_other(location);
    response
        .add_cookie(&cookie)
        .map_err(|e| WebError::Internal(e.into()))?;
    Ok(response)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(home::show))
        .service(web::resource("/login").get(login::form).post(login::submit))
        .service(web::resource("/logout").post(login::logout))
        .service(
            web::resource("/register")
                .get(register::form)
                .post(register::submit),
        )
        .service(
            web::resource("/setup/{token}")
                .get(setup::form)
                .post(setup::submit),
        )
        .service(web::resource("/me").get(me::show))
        .service(web::resource("/me/password").post(me::change_password))
        .service(
            web::resource("/me/data")
                .get(my_data::show)
                .post(my_data::export),
        )
        .service(web::resource("/me/close").post(my_data::close))
        .service(web::resource("/privacy").get(privacy::show))
        .service(web::resource("/me/records").get(records::mine))
        .service(web::resource("/me/notifications").get(notifications::list))
        .service(web::resource("/me/notifications/seen").post(notifications::mark_all))
        .service(
            web::resource("/me/notifications/{id}")
                .get(notifications::show)
                .post(notifications::open),
        )
        .service(
            web::resource("/me/records/{id}")
                .get(records::my_record)
                .post(records::act),
        )
        .service(
            web::resource("/report")
                .get(records::report_form)
                .post(records::file),
        )
        .service(web::resource("/track/{token}").get(records::track))
        .service(web::resource("/track/{token}/photos/{photo}").get(record_photos::tracked_photo))
        .service(
            web::resource("/track/{token}/photos/{photo}/thumb")
                .get(record_photos::tracked_photo_thumbnail),
        )
        .service(web::resource("/records/{record}/photos/{photo}").get(record_photos::photo))
        .service(
            web::resource("/records/{record}/photos/{photo}/thumb")
                .get(record_photos::photo_thumbnail),
        )
        .service(web::resource("/lang").post(lang::switch))
        .service(web::resource("/disclosure").get(disclosure::show))
        .service(
            web::resource("/kiosk/media/figures/{estate}/{chart}.svg")
                .get(disclosure_charts::lobby_chart),
        )
        .service(web::resource("/live").get(live::index))
        .service(web::resource("/live/{id}").get(live::watch))
        .service(web::resource("/live/{id}/ws").get(live::socket))
        .service(web::resource("/live/{id}/comments").post(live_chat::post))
        .service(web::resource("/live/{id}/comments/{comment}/vote").post(live_chat::vote_http))
        .service(web::resource("/live/{id}/index.m3u8").get(live::multivariant))
        .service(web::resource("/live/{id}/poster.jpg").get(live::poster))
        .service(web::resource("/live/{id}/replay.mp4").get(live::download))
        .service(
            web::resource("/live/{id}/whip")
                .post(whip::offer)
                .route(web::method(actix_web::http::Method::OPTIONS).to(whip::options)),
        )
        .service(
            web::resource("/live/{id}/whip/{session}")
                .delete(whip::end)
                .patch(whip::no_trickle),
        )
        .service(web::resource("/live/{id}/{rendition}/{file}").get(live::media));
}
