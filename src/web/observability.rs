//! `/healthz`, Prometheus `/metrics`, and the middleware that counts requests
//! and names the node that answered.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use serde::Serialize;
use tracing_actix_web::RequestId;

use super::AppState;
use crate::store::HealthStore;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    /// Plays screens reported that were not stored (implausible or a flood).
    pub plays_dropped: IntCounter,
    /// `/disclosure` figures worked out, not found in the cache.
    pub disclosure_computed: IntCounter,
    /// Nodes listening on the shared database at the last look.
    district_nodes: IntGauge,
    /// Times this node's signal listener lost its connection and got it back.
    signal_reconnects: IntGauge,
}

impl Metrics {
    /// Every series carries `node` (this server's `node.name`), so that the
    /// nodes of a district can be told apart once their figures are gathered.
    pub fn new(node: &str) -> anyhow::Result<Self> {
        let labels = HashMap::from([("node".to_owned(), node.to_owned())]);
        let registry = Registry::new_custom(Some("pavilion".into()), Some(labels))?;
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
        let district_nodes = IntGauge::new(
            "district_nodes",
            "Nodes listening for signals on the shared database at the last look (1 on SQLite)",
        )?;
        let signal_reconnects = IntGauge::new(
            "signal_listener_reconnects",
            "Times this node's signal listener lost its database connection and got it back",
        )?;
        registry.register(Box::new(district_nodes.clone()))?;
        registry.register(Box::new(signal_reconnects.clone()))?;
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
            district_nodes,
            signal_reconnects,
        })
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}

/// Counts every request by its route pattern (not its raw path, to keep label
/// sets small), returns the request id that the logs carry as `X-Request-Id`
/// and names the node that answered in `X-Pavilion-Node` (behind a load
/// balancer, operators and tests see which one it was).
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
        if let Some(node) = state.settings.node.header_value() {
            res.headers_mut()
                .insert(HeaderName::from_static("x-pavilion-node"), node);
        }
        let route = super::request_log::route_pattern(res.request());
        let route = route.as_deref().unwrap_or("unmatched");
        let status = res.status().as_u16().to_string();
        state
            .metrics
            .requests
            .with_label_values(&[method.as_str(), route, status.as_str()])
            .inc();
        state
            .metrics
            .latency
            .with_label_values(&[route])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` when this node cannot serve (its database is unreachable).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The node that answered (its `node.name`).
    #[schema(example = "node-1")]
    pub node: String,
    /// `ok`, or `unreachable` when the database did not answer in time.
    #[schema(example = "ok")]
    pub database: &'static str,
}

/// How long `/healthz` waits for the database.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// Whether the database answers within `limit`.
async fn database_answers<S: HealthStore + ?Sized>(store: &S, limit: Duration) -> bool {
    match tokio::time::timeout(limit, store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the database did not answer");
            false
        }
        Err(_) => {
            tracing::warn!(wait = ?limit, "health check: the database did not answer in time");
            false
        }
    }
}

/// Readiness of this node: it answers, and its database answers (within 2 s).
#[utoipa::path(get, path = "/healthz", tag = "system", responses(
    (status = 200, description = "The server is up and reaches its database", body = Health),
    (status = 503, description = "The server is up but its database is unreachable", body = Health),
))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let node = state.settings.node.name.clone();
    if database_answers(state.store.as_ref(), DATABASE_WAIT).await {
        HttpResponse::Ok().json(Health {
            status: "ok",
            node,
            database: "ok",
        })
    } else {
        HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            node,
            database: "unreachable",
        })
    }
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let signals = state.store.signals();
    let metrics = &state.metrics;
    metrics
        .district_nodes
        .set(i64::try_from(signals.listening_nodes()).unwrap_or(i64::MAX));
    metrics
        .signal_reconnects
        .set(i64::try_from(signals.reconnects()).unwrap_or(i64::MAX));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreResult;

    struct Stuck;

    #[async_trait::async_trait]
    impl HealthStore for Stuck {
        async fn ping(&self) -> StoreResult<()> {
            std::future::pending().await
        }
    }

    struct Answers;

    #[async_trait::async_trait]
    impl HealthStore for Answers {
        async fn ping(&self) -> StoreResult<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_database_that_does_not_answer_is_given_up_on_in_time() {
        let started = Instant::now();
        assert!(!database_answers(&Stuck, Duration::from_millis(50)).await);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(database_answers(&Answers, Duration::from_millis(50)).await);
    }
}
