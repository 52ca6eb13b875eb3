//! Medulla's HTTP service: the API under `/api/v1` (routing, authentication and JSON over
//! the application layer, [`medulla_app::Service`]; no domain logic here) and the web
//! application's pages (`medulla-web`), on one listener. The OpenAPI document is
//! generated from the same route registrations that build the router, so every API route
//! is in it.

mod error;
mod routes;
pub mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use medulla_app::Service;

pub use error::ApiError;
pub use medulla_web::WebConfig;
pub use tls::serve_tls;

/// The router of every route, and the OpenAPI document describing them.
pub fn app(service: Arc<Service>) -> (Router, utoipa::openapi::OpenApi) {
    app_with(service, WebConfig::default())
}

/// [`app`] with the web layer's configuration (secure cookies, trusted proxies).
pub fn app_with(service: Arc<Service>, web: WebConfig) -> (Router, utoipa::openapi::OpenApi) {
    let (router, api) = routes::api();
    let router = router
        .merge(medulla_web::router())
        .layer(axum::Extension(web))
        .route_layer(axum::middleware::from_fn(log_request))
        .layer(axum::extract::DefaultBodyLimit::max(routes::JSON_LIMIT))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(service);
    (router, api)
}

/// One line per request: method, route template (never a donor id, a query or a token),
/// status and time.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("-".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let res = next.run(req).await;
    if std::env::var_os("MEDULLA_QUIET").is_none() {
        eprintln!(
            "{method} {route} {} {:.1} ms",
            res.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    res
}

/// Serve until `shutdown` resolves; requests under way finish first.
pub async fn serve(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(service, listener, WebConfig::default(), shutdown).await
}

/// [`serve`] with the web layer's configuration. Each request knows the address of the
/// socket it came on (login throttling counts per source address).
pub async fn serve_with(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
    web: WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, _) = app_with(service, web);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
