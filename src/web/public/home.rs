use actix_web::web;
use maud::{html, Markup};

use crate::web::context::Ctx;
use crate::web::error::WebError;
use crate::web::layout::page;
use crate::web::AppState;

pub async fn show(state: web::Data<AppState>, ctx: Ctx) -> Result<Markup, WebError> {
    let communities = state.store.list_communities().await?;
    let mut places = Vec::new();
    for community in communities {
        let estates = state.store.list_estates(community.id).await?;
        places.push((community, estates));
    }
    let body = html! {
        section class="hero" {
            h1 { (ctx.t("home.title")) }
            p class="lead" { (ctx.t("home.lead")) }
            @if ctx.viewer.is_none() {
                p class="actions" {
                    a class="button" href="/login" { (ctx.t("nav.login")) }
                    a class="button secondary" href="/register" { (ctx.t("nav.register")) }
                }
            }
        }
        p { a href="/disclosure" { (ctx.t("disclosure.title")) } }
        section aria-labelledby="places" {
            h2 id="places" { (ctx.t("home.communities")) }
            @if places.is_empty() {
                p class="muted" { (ctx.t("home.no_communities")) }
            }
            @for (community, estates) in &places {
                article class="card" {
                    h3 { (community.name) }
                    @if !estates.is_empty() {
                        ul class="tags" { @for estate in estates { li { (estate.name) } } }
                    }
                }
            }
        }
    };
    Ok(page(&ctx, &ctx.t("home.title"), body))
}
