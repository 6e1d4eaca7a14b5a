//! The page frame shared by every page: head, header with language switch and
//! account links, and the staff console's navigation.

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest};
use maud::{html, Markup, DOCTYPE};

use crate::domain::Permission;
use crate::i18n::Lang;

use super::assets::asset_url;
use super::context::{Ctx, Staff};

/// A complete page for residents and visitors.
pub fn page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    frame(
        ctx.lang,
        title,
        header(Some(ctx)),
        html! { main id="main" class="page" { (body) } },
    )
}

/// A staff console page with the console navigation.
pub fn console_page(staff: &Staff, title: &str, body: Markup) -> Markup {
    let ctx = &staff.ctx;
    let role = staff.account.role;
    let links = [
        ("/console", "nav.dashboard", Permission::UseConsole),
        (
            "/console/communities",
            "nav.directory",
            Permission::ManageDirectory,
        ),
        (
            "/console/codes",
            "nav.codes",
            Permission::ManageRegistrationCodes,
        ),
        (
            "/console/accounts",
            "nav.accounts",
            Permission::ManageAccounts,
        ),
        (
            "/console/broadcasts",
            "nav.broadcasts",
            Permission::ManageReplays,
        ),
        (
            "/console/moderation",
            "nav.moderation",
            Permission::ModerateChat,
        ),
        ("/console/records", "nav.records", Permission::ReadRecords),
        ("/console/agenda", "nav.agenda", Permission::ReadRecords),
        ("/console/alerts", "nav.alerts", Permission::UseConsole),
        ("/console/sla", "nav.sla", Permission::ConfigureRecords),
        ("/console/notices", "nav.notices", Permission::WriteNotices),
        ("/console/screens", "nav.screens", Permission::ManageScreens),
        ("/console/audit", "nav.audit", Permission::ReadAuditLog),
        (
            "/console/api-keys",
            "nav.api_keys",
            Permission::ManageAccounts,
        ),
    ];
    let badges = super::console::alerts::badges();
    let nav = html! {
        nav class="console-nav" aria-label=(ctx.t("nav.console")) {
            ul {
                @for (href, key, permission) in links {
                    @if role.can(permission) {
                        @let current = ctx.here == href || (href != "/console" && ctx.here.starts_with(href));
                        li {
                            a href=(href) aria-current=[current.then_some("page")] {
                                (ctx.t(key))
                                @if href == "/console/alerts" && badges.unseen_alerts > 0 {
                                    " " span class="count-badge" aria-label=(ctx.lang.tf("alerts.unseen", &[("n", &badges.unseen_alerts)])) { (badges.unseen_alerts) }
                                }
                                @if href == "/console/screens" && badges.offline_screens > 0 {
                                    " " span class="count-badge" data-offline-badge=(badges.offline_screens) aria-label=(ctx.lang.tf("screens.offline_badge", &[("n", &badges.offline_screens)])) { (badges.offline_screens) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    frame(
        ctx.lang,
        title,
        header(Some(ctx)),
        html! { div class="console" { (nav) main id="main" class="page" { (body) } } },
    )
}

/// The page for an error response; the request may have no loaded context.
pub fn error_page(req: &HttpRequest, lang: Lang, status: StatusCode, message: &str) -> Markup {
    let ctx = req.extensions().get::<Ctx>().cloned();
    let body = html! {
        main id="main" class="page" {
            h1 { (lang.t("error.title")) }
            p class="alert alert-error" role="alert" { (message) }
            p class="muted" { (status.as_u16()) }
            p { a href="/" { (lang.t("nav.home")) } }
        }
    };
    frame(lang, &lang.t("error.title"), header(ctx.as_ref()), body)
}

fn frame(lang: Lang, title: &str, header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (lang.t("app.name")) }
                link rel="icon" href=(asset_url("icons/favicon.svg")) type="image/svg+xml";
                link rel="stylesheet" href=(asset_url("css/app.css"));
            }
            body {
                a class="skip-link" href="#main" { (lang.t("nav.skip")) }
                (header)
                (body)
                footer class="site-footer" {
                    p { (lang.t("app.motto")) }
                    p { a href="/privacy" { (lang.t("privacy.link")) } }
                }
            }
        }
    }
}

fn header(ctx: Option<&Ctx>) -> Markup {
    let lang = ctx.map(|c| c.lang).unwrap_or_default();
    html! {
        header class="site-header" {
            a class="brand" href="/" {
                img src=(asset_url("icons/favicon.svg")) alt="" width="32" height="32";
                span { (lang.t("app.name")) }
            }
            nav class="account-nav" aria-label=(lang.t("nav.account")) {
                a href="/live" { (lang.t("nav.live")) }
                @if let Some(ctx) = ctx {
                    @match &ctx.viewer {
                        Some(account) => {
                            @if account.role.is_staff() {
                                a href="/console" { (lang.t("nav.console")) }
                            }
                            @if !account.role.is_staff() {
                                (my_records_link(ctx))
                            }
                            a href="/me" { (account.display_name) }
                            form method="post" action="/logout" class="inline" {
                                input type="hidden" name="csrf_token" value=(ctx.form_token());
                                button type="submit" class="link" { (lang.t("nav.logout")) }
                            }
                        }
                        None => {
                            a href="/login" { (lang.t("nav.login")) }
                            a href="/register" { (lang.t("nav.register")) }
                        }
                    }
                    (language_switch(ctx))
                }
            }
        }
    }
}

/// "我的诉求" with a badge counting the resident's records that have news
/// for them (`Ctx::unread_records`). While there is news the link leads
/// straight to it, one tap from any page.
fn my_records_link(ctx: &Ctx) -> Markup {
    let unread = ctx.unread_records;
    html! {
        @if unread > 0 {
            a href="/me/notifications" class="my-records" {
                (ctx.t("nav.my_records")) " "
                // The number is for the eye; screen readers read the sentence.
                span class="count-badge" aria-hidden="true" { (unread) }
                span class="visually-hidden" { (ctx.lang.tf("notifications.badge", &[("n", &unread)])) }
            }
        } @else {
            a href="/me/records" class="my-records" { (ctx.t("nav.my_records")) }
        }
    }
}

fn language_switch(ctx: &Ctx) -> Markup {
    html! {
        form method="post" action="/lang" class="inline lang-switch" {
            input type="hidden" name="csrf_token" value=(ctx.form_token());
            input type="hidden" name="next" value=(ctx.here);
            @for lang in Lang::ALL {
                @if lang != ctx.lang {
                    button type="submit" name="lang" value=(lang.code()) class="link" lang=(lang.code()) {
                        (lang.native_name())
                    }
                }
            }
        }
    }
}

/// A success note shown after a form redirect (`?done=key`); unknown keys show nothing.
pub fn flash(ctx: &Ctx, done: Option<&str>) -> Markup {
    const KNOWN: &[&str] = &[
        "created",
        "renamed",
        "updated",
        "units_added",
        "codes_issued",
        "code_reissued",
        "code_revoked",
        "password_changed",
        "account_created",
        "key_rotated",
        "ended",
        "uploaded",
        "paired",
        "revoked",
    ];
    html! {
        @if let Some(key) = done.filter(|k| KNOWN.contains(k)) {
            p class="alert alert-ok" role="status" { (ctx.t(&format!("flash.{key}"))) }
        }
    }
}

/// An error note above a form that was sent back; `message` is already translated.
pub fn form_error(message: Option<&str>) -> Markup {
    html! {
        @if let Some(message) = message {
            p class="alert alert-error" role="alert" id="form-error" { (message) }
        }
    }
}

/// The hidden form-token field every form carries.
pub fn form_token(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(ctx.form_token()); }
}
