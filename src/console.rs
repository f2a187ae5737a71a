//! The HTTP console: a small live page at `/` and the same figures as JSON at `/api/stats`.
//!
//! It runs on the control plane (tokio). The data plane never builds strings: it publishes
//! plain counters, and the console turns them into JSON when asked.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};

/// Something that can describe the appliance's state as JSON, on demand.
pub trait StatsSource: Send + Sync + 'static {
    /// The current figures.
    fn stats(&self) -> serde_json::Value;
}

impl<F> StatsSource for F
where
    F: Fn() -> serde_json::Value + Send + Sync + 'static,
{
    fn stats(&self) -> serde_json::Value {
        self()
    }
}

/// Builds the console's routes.
pub fn router(source: Arc<dyn StatsSource>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/stats", get(stats))
        .with_state(source)
}

/// Binds `addr` and serves the console until the process ends.
pub async fn serve(addr: SocketAddr, source: Arc<dyn StatsSource>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("console cannot listen on {addr}: {e}"))
    })?;
    axum::serve(listener, router(source)).await
}

/// Serves the console on an already-bound listener until the process ends.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    source: Arc<dyn StatsSource>,
) -> std::io::Result<()> {
    axum::serve(listener, router(source)).await
}

async fn stats(State(source): State<Arc<dyn StatsSource>>) -> Json<serde_json::Value> {
    Json(source.stats())
}

async fn page() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Html(include_str!("console.html")),
    )
}
