//! The departments a community escalates records to (街道城管科, 住建局 …), on
//! its SLA settings page: add, rename, retire and bring back. A department is
//! never deleted, because escalation events name it; a retired one keeps its
//! records but is no longer offered as a target, and category rules that
//! still name it send breaches to the joint meeting instead.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use super::sla::{configurable, refuse};
use crate::store::{Department, StoreError};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::form_token;
use crate::web::AppState;

/// The departments section of the settings page; `base` is the community's
/// console path.
pub fn panel(ctx: &Ctx, base: &str, departments: &[Department]) -> Markup {
    html! {
        section class="panel" aria-labelledby="departments" {
            h2 id="departments" { (ctx.t("departments.title")) }
            @if departments.is_empty() { p class="muted" { (ctx.t("departments.none")) } }
            ul class="departments" {
                @for d in departments {
                    li class=[d.retired.then_some("retired")] {
                        form method="post" action={(base) "/departments/" (d.id)} class="inline-form" {
                            (form_token(ctx))
                            label for={"department-" (d.id)} class="visually-hidden" { (ctx.t("departments.name")) }
                            input id={"department-" (d.id)} name="name" type="text" required maxlength="40" value=(d.name);
                            button type="submit" name="action" value="rename" class="secondary" { (ctx.t("departments.rename")) }
                            @if d.retired {
                                span class="badge muted" { (ctx.t("departments.retired")) }
                                button type="submit" name="action" value="restore" class="link" { (ctx.t("departments.restore")) }
                            } @else {
                                button type="submit" name="action" value="retire" class="link" { (ctx.t("departments.retire")) }
                            }
                        }
                    }
                }
            }
            form method="post" action={(base) "/departments"} class="inline-form" {
                (form_token(ctx))
                label for="department" { (ctx.t("departments.name")) }
                input id="department" name="name" type="text" required maxlength="40";
                button type="submit" class="secondary" { (ctx.t("departments.add")) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct DepartmentForm {
    #[serde(default)]
    name: String,
}

fn back_to_list(community: crate::domain::CommunityId) -> HttpResponse {
    see_other(&format!(
        "/console/communities/{community}/sla?done=updated#departments"
    ))
}

pub async fn add(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<DepartmentForm>,
) -> Result<HttpResponse, WebError> {
    let community = configurable(&state, *id).await?;
    let name = match crate::domain::text::clean_line(&form.data.name, 2, 40) {
        Ok(name) => name,
        Err(e) => return refuse(&state, &staff, &community, e.message_key()).await,
    };
    match state
        .store
        .add_department(&staff.actor(), community.id, &name, Utc::now())
        .await
    {
        Ok(_) => Ok(back_to_list(community.id)),
        Err(StoreError::Conflict) => {
            refuse(&state, &staff, &community, "departments.error.exists").await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    name: String,
    /// `rename`, `retire` or `restore`.
    #[serde(default)]
    action: String,
}

/// Renames, retires or brings back one department of the community.
pub async fn change(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(i64, i64)>,
    form: CheckedForm<ChangeForm>,
) -> Result<HttpResponse, WebError> {
    let (community_id, department) = path.into_inner();
    let community = configurable(&state, community_id).await?;
    let actor = staff.actor();
    let done = match form.data.action.as_str() {
        "rename" => {
            let name = match crate::domain::text::clean_line(&form.data.name, 2, 40) {
                Ok(name) => name,
                Err(e) => return refuse(&state, &staff, &community, e.message_key()).await,
            };
            state
                .store
                .rename_department(&actor, community.id, department, &name)
                .await
        }
        "retire" | "restore" => {
            let retired = form.data.action == "retire";
            state
                .store
                .set_department_retired(&actor, community.id, department, retired, Utc::now())
                .await
        }
        _ => {
            return Err(WebError::BadInput {
                key: "error.bad_request",
            })
        }
    };
    match done {
        Ok(_) => Ok(back_to_list(community.id)),
        Err(StoreError::Conflict) => {
            refuse(&state, &staff, &community, "departments.error.exists").await
        }
        Err(e) => Err(e.into()),
    }
}
