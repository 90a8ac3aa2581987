//! Serving placements with axum (feature `axum`).
//!
//! The route reads the query string and the form body (at most the app's
//! [`EventLimits::max_bytes`](crate::events::EventLimits::max_bytes), within
//! [`READ_TIMEOUT`]), verifies them with [`App::open`], and hands the [`Opened`] placement to
//! the page function, whose response (an HTML page for the frame) goes back to the browser. A
//! request that fails verification gets the status of [`EventError::status`] and a message that
//! names fields, never values, before any call to a portal.
//!
//! ```no_run
//! # async fn run(app: bitrix24::app::App) -> std::io::Result<()> {
//! use axum::response::Html;
//! use bitrix24::app::placement::{Opened, PlacementOptions};
//!
//! let page = |opened: Opened| async move {
//!     match opened.placement.options {
//!         PlacementOptions::CrmObject { id, .. } => Html(format!("<p>object {id}</p>")),
//!         _ => Html("<p>hello</p>".to_owned()),
//!     }
//! };
//! let router = axum::Router::new().route("/widget", bitrix24::app::placement::axum::post(app, page));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, router).await
//! # }
//! ```

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::Opened;
use crate::app::App;
use crate::events::EventError;

/// How long a placement's body may take to arrive (the portal's browser posts a few KiB).
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A POST route that verifies each placement request and answers with `page`'s response.
pub fn post<P, F, R>(app: App, page: P) -> MethodRouter
where
    P: Fn(Opened) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = R> + Send + 'static,
    R: IntoResponse + 'static,
{
    axum::routing::post(move |RawQuery(query): RawQuery, body: Body| {
        let (app, page) = (app.clone(), page.clone());
        async move {
            let limit = app.inner.config.limits.max_bytes;
            let body = match tokio::time::timeout(READ_TIMEOUT, axum::body::to_bytes(body, limit))
                .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(_)) => {
                    return refuse(&EventError::TooLarge {
                        size: limit + 1,
                        limit,
                    });
                }
                Err(_) => return (StatusCode::REQUEST_TIMEOUT, "body too slow").into_response(),
            };
            match app.open(query.as_deref(), &body).await {
                Ok(opened) => page(opened).await.into_response(),
                Err(e) => refuse(&e),
            }
        }
    })
}

fn refuse(e: &EventError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::warn!("placement request failed: {e}");
        (status, "the request could not be handled").into_response()
    } else {
        tracing::info!(status = status.as_u16(), "placement request refused: {e}");
        (status, e.to_string()).into_response()
    }
}
