//! `/healthz`, Prometheus `/metrics`, and the middleware that counts requests.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use serde::Serialize;
use tracing_actix_web::RequestId;

use super::AppState;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Plays screens reported that were not stored (implausible or a flood).
    pub plays_dropped: IntCounter,
    /// `/disclosure` figures worked out, not found in the cache.
    pub disclosure_computed: IntCounter,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("pavilion".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route"],
        )?;
        let plays_dropped = IntCounter::new(
            "kiosk_plays_dropped_total",
            "Plays reported by screens and not stored: not given to that screen, at an implausible time, or a flood",
        )?;
        registry.register(Box::new(plays_dropped.clone()))?;
        let disclosure_computed = IntCounter::new(
            "disclosure_computed_total",
            "Public disclosure figures worked out because the cache had none for their facts",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(disclosure_computed.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Self {
            registry,
            requests,
            latency,
            plays_dropped,
            disclosure_computed,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Counts every request by its route pattern (not its raw path, to keep label
/// sets small) and returns the request id that the logs carry as `X-Request-Id`.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().to_string();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), id);
    }
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        let status = res.status().as_u16().to_string();
        state
            .metrics
            .requests
            .with_label_values(&[method.as_str(), route.as_str(), status.as_str()])
            .inc();
        state
            .metrics
            .latency
            .with_label_values(&[route.as_str()])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness check.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, description = "The server is up", body = Health)))]
pub async fn health() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let mut buffer = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&state.metrics.registry().gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok()
            .content_type(encoder.format_type())
            .body(buffer),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
