//! Failures as responses: every refusal answers with the spec's error envelope.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flametrench_tenancy_core::TenancyError;
use serde::Serialize;

/// The code of a body, query or header value that is not of the shape the route expects, where
/// the SDK has no typed error for the value (malformed JSON, a missing field, a number where a
/// string belongs, an unknown field, a `limit` that is not a number).
pub(crate) const INVALID_REQUEST: &str = "invalid_request";
/// The code of a request without a usable `x-actor` header.
pub(crate) const UNAUTHORIZED: &str = "unauthorized";
/// The code of a path the service does not serve.
pub(crate) const ROUTE_NOT_FOUND: &str = "route_not_found";
/// The code of a method a served path does not take.
pub(crate) const METHOD_NOT_ALLOWED: &str = "method_not_allowed";

/// Why a request failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// An error of the SDK, whether an operation returned it or the service chose it (an input
    /// that failed validation, a `forbidden` from the service's own authorization read): its
    /// kind chooses the status and its envelope is the body.
    Tenancy(TenancyError),
    /// A failure the SDK has no error for, answered with the same envelope shape.
    Request {
        /// The HTTP status.
        status: StatusCode,
        /// One of the service's own codes above.
        code: &'static str,
        /// What was wrong, for a person reading the response.
        message: String,
    },
}

impl ApiError {
    /// A 400 `invalid_request`.
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::Request {
            status: StatusCode::BAD_REQUEST,
            code: INVALID_REQUEST,
            message: message.into(),
        }
    }

    /// A 401 `unauthorized`.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::Request {
            status: StatusCode::UNAUTHORIZED,
            code: UNAUTHORIZED,
            message: message.into(),
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(error: TenancyError) -> Self {
        Self::Tenancy(error)
    }
}

/// The envelope of the service's own codes: the OpenAPI `Error` schema without `details`.
#[derive(Serialize)]
struct Envelope<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Tenancy(error) => {
                let status = StatusCode::from_u16(error.kind().http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                if status.is_server_error() {
                    // The body never carries the source (it may quote SQL or a connection
                    // string), so the operator's log is the only place it shows.
                    log_server_error(&error);
                }
                (status, Json(error.body())).into_response()
            }
            Self::Request {
                status,
                code,
                message,
            } => (
                status,
                Json(Envelope {
                    code,
                    message: &message,
                }),
            )
                .into_response(),
        }
    }
}

/// Writes a storage failure and its chain of sources to standard error.
fn log_server_error(error: &TenancyError) {
    let mut line = format!("{}: {error}", error.code());
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    eprintln!("{line}");
}

/// The fallback of unknown paths: 404 `route_not_found`.
pub(crate) async fn route_not_found() -> ApiError {
    ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: ROUTE_NOT_FOUND,
        message: "no such route".to_owned(),
    }
}

/// The fallback of known paths called with another method: 405 `method_not_allowed`.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::Request {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: METHOD_NOT_ALLOWED,
        message: "this path does not take that method".to_owned(),
    }
}
