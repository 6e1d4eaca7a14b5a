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
        .service(web::resource("/lang").post(lang::switch));
}
