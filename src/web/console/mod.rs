//! The staff console. Every console route is listed in `console_routes()` with
//! the permission it needs; `routes()` wraps each one in `authorize`, so no
//! handler can be reached without the check, and the role-matrix test walks
//! the same list. The `{id}` of a route names a [`Subject`]; a second guard
//! answers 404 when that subject lies outside the viewer's scope, so the
//! scope matrix test walks the same list too.

mod accounts;
mod agenda;
pub mod alerts;
mod api_keys;
mod audit;
mod broadcasts;
mod cap;
mod chat;
mod codes;
mod dashboard;
mod departments;
mod directory;
mod export;
mod media;
mod notice_acks;
mod notices;
mod places;
pub mod records;
mod screens;
mod sla;
pub mod subject;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, Handler, Responder, Route};

use crate::domain::scope::Place;
use crate::domain::{Account, Community, Estate, Permission};

use super::context::{authorize, Ctx};
use super::error::WebError;
use super::AppState;
pub use subject::Subject;

pub struct ConsoleRoute {
    pub path: &'static str,
    pub permission: Permission,
    /// What the path's `{id}` names.
    pub subject: Subject,
    pub methods: Vec<Method>,
    routes: Vec<Box<dyn Fn() -> Route>>,
}

impl ConsoleRoute {
    fn at(path: &'static str, permission: Permission) -> Self {
        Self {
            path,
            permission,
            subject: Subject::of_path(path),
            methods: Vec::new(),
            routes: Vec::new(),
        }
    }

    fn get<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(Method::GET, handler)
    }

    fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.with(Method::POST, handler)
    }

    fn with<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.push(method.clone());
        self.routes.push(Box::new(move || {
            web::method(method.clone()).to(handler.clone())
        }));
        self
    }
}

pub fn console_routes() -> Vec<ConsoleRoute> {
    use Permission::*;
    vec![
        ConsoleRoute::at("/console", UseConsole).get(dashboard::show),
        ConsoleRoute::at("/console/communities", ManageDirectory)
            .get(directory::communities)
            .post(directory::create_community),
        ConsoleRoute::at("/console/communities/{id}", ManageDirectory).get(directory::community),
        ConsoleRoute::at("/console/communities/{id}/cap-feeds", WriteNotices)
            .get(cap::show)
            .post(cap::add),
        ConsoleRoute::at("/console/communities/{id}/cap-feeds/remove", WriteNotices)
            .post(cap::remove),
        ConsoleRoute::at("/console/communities/{id}/cap-feeds/poll", WriteNotices)
            .post(cap::poll_now),
        ConsoleRoute::at(
            "/console/communities/{id}/cap-feeds/local-line",
            WriteNotices,
        )
        .post(cap::set_local_line),
        ConsoleRoute::at("/console/communities/{id}/rename", ManageDirectory)
            .post(directory::rename_community),
        ConsoleRoute::at("/console/communities/{id}/estates", ManageDirectory)
            .post(directory::create_estate),
        ConsoleRoute::at("/console/estates/{id}", ManageDirectory).get(directory::estate),
        ConsoleRoute::at("/console/estates/{id}/rename", ManageDirectory)
            .post(directory::rename_estate),
        ConsoleRoute::at("/console/estates/{id}/buildings", ManageDirectory)
            .post(directory::create_building),
        ConsoleRoute::at("/console/estates/{id}/place", PlaceEstates)
            .get(places::show)
            .post(places::save),
        ConsoleRoute::at("/console/buildings/{id}", ManageDirectory).get(directory::building),
        ConsoleRoute::at("/console/buildings/{id}/rename", ManageDirectory)
            .post(directory::rename_building),
        ConsoleRoute::at("/console/buildings/{id}/units", ManageDirectory)
            .post(directory::add_units),
        ConsoleRoute::at("/console/codes", ManageRegistrationCodes).get(codes::index),
        ConsoleRoute::at("/console/buildings/{id}/codes", ManageRegistrationCodes)
            .get(codes::building)
            .post(codes::issue_missing),
        ConsoleRoute::at(
            "/console/buildings/{id}/codes/sheet",
            ManageRegistrationCodes,
        )
        .get(codes::sheet),
        ConsoleRoute::at("/console/units/{id}/code", ManageRegistrationCodes).post(codes::reissue),
        ConsoleRoute::at("/console/codes/{id}/revoke", ManageRegistrationCodes).post(codes::revoke),
        ConsoleRoute::at("/console/accounts", ManageAccounts)
            .get(accounts::list)
            .post(accounts::create),
        ConsoleRoute::at("/console/accounts/{id}", ManageAccounts)
            .get(accounts::show)
            .post(accounts::update),
        ConsoleRoute::at("/console/accounts/{id}/password", ManageAccounts)
            .post(accounts::reset_password),
        ConsoleRoute::at("/console/audit", ReadAuditLog).get(audit::show),
        ConsoleRoute::at("/console/api-keys", ManageAccounts)
            .get(api_keys::list)
            .post(api_keys::create),
        ConsoleRoute::at("/console/api-keys/{id}/revoke", ManageAccounts).post(api_keys::revoke),
        ConsoleRoute::at("/console/broadcasts", ManageReplays)
            .get(broadcasts::list)
            .post(broadcasts::create),
        ConsoleRoute::at("/console/broadcasts/{id}", ManageReplays)
            .get(broadcasts::show)
            .post(broadcasts::update),
        ConsoleRoute::at("/console/broadcasts/{id}/key", RunBroadcasts)
            .post(broadcasts::rotate_key),
        ConsoleRoute::at("/console/broadcasts/{id}/end", ManageReplays).post(broadcasts::end),
        ConsoleRoute::at("/console/broadcasts/{id}/replay", ManageReplays).post(broadcasts::replay),
        ConsoleRoute::at("/console/broadcasts/{id}/moderate", ModerateChat)
            .get(chat::moderate)
            .post(chat::moderate_act),
        ConsoleRoute::at("/console/broadcasts/{id}/moderate/settings", ModerateChat)
            .post(chat::save_settings),
        ConsoleRoute::at("/console/broadcasts/{id}/moderate/record", WorkRecords)
            .post(chat::to_record),
        ConsoleRoute::at("/console/broadcasts/{id}/answer", AnswerQuestions)
            .get(chat::answer)
            .post(chat::answer_act),
        ConsoleRoute::at("/console/moderation", ModerateChat).get(chat::index),
        ConsoleRoute::at("/console/chat/words", ModerateChat)
            .get(chat::words)
            .post(chat::save_words),
        ConsoleRoute::at("/console/notices", WriteNotices)
            .get(notices::list)
            .post(notices::create),
        ConsoleRoute::at("/console/notices/new", WriteNotices).get(notices::new_form),
        ConsoleRoute::at("/console/notices/{id}", WriteNotices)
            .get(notices::show)
            .post(notices::update),
        ConsoleRoute::at("/console/notices/{id}/submit", WriteNotices).post(notices::submit),
        ConsoleRoute::at("/console/notices/{id}/withdraw", WriteNotices).post(notices::withdraw),
        ConsoleRoute::at("/console/notices/{id}/approve", ApproveNotices).post(notices::approve),
        ConsoleRoute::at("/console/notices/{id}/reject", ApproveNotices).post(notices::reject),
        ConsoleRoute::at("/console/notices/{id}/acks.json", WriteNotices)
            .get(notice_acks::acks_json),
        ConsoleRoute::at("/console/communities/{id}/joint-meetings.ics", ReadRecords)
            .get(crate::web::feeds::calendar::joint_meetings),
        ConsoleRoute::at("/console/media", WriteNotices).post(media::upload),
        ConsoleRoute::at("/console/screens", ManageScreens)
            .get(screens::list)
            .post(screens::pair),
        ConsoleRoute::at("/console/screens/groups", ManageScreens).post(screens::create_group),
        // Before `/console/screens/{id}`, which would otherwise take it.
        ConsoleRoute::at("/console/screens/plays.csv", ManageScreens).get(screens::plays_csv),
        ConsoleRoute::at("/console/screens/{id}", ManageScreens)
            .get(screens::show)
            .post(screens::update),
        ConsoleRoute::at("/console/screens/{id}/revoke", ManageScreens).post(screens::revoke),
        ConsoleRoute::at("/console/records", ReadRecords).get(records::queue),
        ConsoleRoute::at("/console/agenda", ReadRecords).get(agenda::show),
        ConsoleRoute::at("/console/alerts", UseConsole).get(alerts::inbox),
        ConsoleRoute::at("/console/alerts/seen", UseConsole).post(alerts::mark_seen),
        ConsoleRoute::at("/console/sla", ConfigureRecords).get(sla::index),
        ConsoleRoute::at("/console/communities/{id}/sla", ConfigureRecords)
            .get(sla::show)
            .post(sla::save),
        ConsoleRoute::at("/console/communities/{id}/departments", ConfigureRecords)
            .post(departments::add),
        ConsoleRoute::at(
            "/console/communities/{id}/departments/{department}",
            ConfigureRecords,
        )
        .post(departments::change),
        ConsoleRoute::at("/console/communities/{id}/screen-figures", ConfigureRecords)
            .post(sla::set_screen_figures),
        ConsoleRoute::at("/console/communities/{id}/leads", ConfigureRecords).post(sla::set_lead),
        ConsoleRoute::at("/console/communities/{id}/meetings", ConfigureRecords)
            .post(sla::add_meeting),
        ConsoleRoute::at("/console/export/records.csv", ReadRecords).get(export::records),
        ConsoleRoute::at("/console/export/events.csv", ReadRecords).get(export::events),
        ConsoleRoute::at("/console/records/new", WorkRecords)
            .get(records::new_form)
            .post(records::file_phone),
        ConsoleRoute::at("/console/records/{id}", ReadRecords).get(records::show),
        ConsoleRoute::at("/console/records/{id}/act", WorkRecords).post(records::act),
        ConsoleRoute::at("/console/records/{id}/discussed", WorkRecords).post(agenda::discussed),
    ]
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    for route in console_routes() {
        let permission = route.permission;
        let subject = route.subject;
        let mut resource = web::resource(route.path);
        for make in &route.routes {
            resource = resource.route(make());
        }
        let guard = move |req: ServiceRequest, next: Next<BoxBody>| async move {
            // The badges of the console navigation.
            let badges = alerts::badges_of(&req).await;
            alerts::with_badges(badges, authorize(permission, req, next)).await
        };
        let in_scope = move |req: ServiceRequest, next: Next<BoxBody>| async move {
            require_scope(subject, req, next).await
        };
        // The last `wrap` runs first: the role, then the scope, then the handler.
        cfg.service(resource.wrap(from_fn(in_scope)).wrap(from_fn(guard)));
    }
}

/// The communities the account's scope reaches: every one for the
/// installation's staff, else its own. Lists and choices start here.
pub(crate) async fn communities_in_scope(
    state: &AppState,
    account: &Account,
) -> Result<Vec<Community>, WebError> {
    let scope = account.scope();
    let mut communities = state.store.list_communities().await?;
    communities.retain(|c| scope.reaches(c.id.into()));
    Ok(communities)
}

/// The estates the account's scope reaches, by community.
pub(crate) async fn estates_in_scope(
    state: &AppState,
    account: &Account,
) -> Result<Vec<(Community, Vec<Estate>)>, WebError> {
    let scope = account.scope();
    let mut places = Vec::new();
    for community in communities_in_scope(state, account).await? {
        let mut estates = state.store.list_estates(community.id).await?;
        estates.retain(|e| scope.reaches(Place::estate(community.id, e.id)));
        places.push((community, estates));
    }
    Ok(places)
}

/// Answers 404 when the route's subject lies outside the viewer's scope.
/// Runs after `authorize`, so there is a viewer with the route's permission.
async fn require_scope(
    subject: Subject,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req
        .match_info()
        .get("id")
        .and_then(|id| id.parse::<i64>().ok());
    let (Some(id), Some(state)) = (id, req.app_data::<web::Data<AppState>>().cloned()) else {
        return next.call(req).await;
    };
    let viewer = match Ctx::load(req.request()).await {
        Ok(ctx) => ctx.viewer,
        Err(e) => return Ok(req.error_response(e)),
    };
    let Some(viewer) = viewer else {
        return next.call(req).await;
    };
    match subject.in_scope(state.store.as_ref(), &viewer, id).await {
        Ok(true) => next.call(req).await,
        Ok(false) => {
            tracing::info!(
                account = viewer.username,
                ?subject,
                id,
                path = req.path(),
                "outside the account's scope"
            );
            Ok(req.error_response(WebError::NotFound))
        }
        Err(e) => Ok(req.error_response(WebError::from(e))),
    }
}
