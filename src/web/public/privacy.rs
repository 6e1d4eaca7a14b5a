//! The privacy page: what Pavilion keeps about residents, for how long, who
//! sees it, and how to get a copy or close the account. Every statement here
//! describes what the code does; change it together with the code.

use actix_web::web;
use maud::{html, Markup};

use crate::web::context::Ctx;
use crate::web::layout::page;
use crate::web::AppState;

pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Markup {
    let hours = state.settings.auth.session_hours;
    let section = |key: &str, items: &[&str]| {
        html! {
            section aria-labelledby=(format!("{key}-title")) {
                h2 id=(format!("{key}-title")) { (ctx.t(&format!("privacy.{key}.title"))) }
                ul {
                    @for item in items {
                        li { (ctx.t(&format!("privacy.{key}.{item}"))) }
                    }
                }
            }
        }
    };
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("privacy.title")) }
            p { (ctx.t("privacy.lead")) }
            (section("kept", &["account", "records", "comments", "screens", "audit"]))
            section aria-labelledby="how-long-title" {
                h2 id="how-long-title" { (ctx.t("privacy.how_long.title")) }
                ul {
                    li { (ctx.lang.tf("privacy.how_long.sessions", &[("hours", &hours)])) }
                    li { (ctx.t("privacy.how_long.records")) }
                    li { (ctx.t("privacy.how_long.comments")) }
                    li { (ctx.t("privacy.how_long.closed")) }
                }
            }
            (section("who", &["residents", "staff", "public"]))
            section aria-labelledby="rights-title" {
                h2 id="rights-title" { (ctx.t("privacy.rights.title")) }
                p { (ctx.t("privacy.rights.copy")) }
                p { (ctx.t("privacy.rights.close")) }
                p { a href="/me/data" { (ctx.t("my_data.title")) } }
            }
            section aria-labelledby="contact-title" {
                h2 id="contact-title" { (ctx.t("privacy.contact.title")) }
                p { (ctx.t("privacy.contact.text")) }
            }
        }
    };
    page(&ctx, &ctx.t("privacy.title"), body)
}
