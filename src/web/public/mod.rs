//! Pages for residents and visitors: home, login, registration, the first-admin
//! setup link, the account page and the language switch.

mod home;
mod lang;
mod login;
mod me;
mod register;
mod setup;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::show))
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/register", web::get().to(register::form))
        .route("/register", web::post().to(register::submit))
        .route("/setup/{token}", web::get().to(setup::form))
        .route("/setup/{token}", web::post().to(setup::submit))
        .route("/me", web::get().to(me::show))
        .route("/me/password", web::post().to(me::change_password))
        .route("/lang", web::post().to(lang::switch));
}
