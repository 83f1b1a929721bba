//! Failures as responses: every refusal answers with the spec's error envelope.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flametrench_tenancy_core::TenancyError;
use serde::Serialize;

/// The code of a body, query or path that is not of the shape the route expects, where the SDK
/// has no typed error for it (malformed JSON, a missing field, a number where a string belongs,
/// an unknown field or parameter, a `limit` that is not a number).
pub const INVALID_REQUEST: &str = "invalid_request";
/// The code of a request without a usable credential.
pub const UNAUTHORIZED: &str = "unauthorized";
/// The code of a path the service does not serve.
pub const ROUTE_NOT_FOUND: &str = "route_not_found";
/// The code of a method a served path does not take.
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// The code of an operation of the API the service does not offer.
pub const NOT_IMPLEMENTED: &str = "not_implemented";

/// The `Retry-After` of a retryable error (`storage.retryable_conflict`,
/// `storage.connection_lost`, …), in seconds: the conflicts and lost connections it answers
/// clear within moments.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request failed, as a response: an error of the SDK, or a failure the SDK has no error
/// for.
///
/// An SDK error answers with its kind's status ([`ErrorKind::http_status`]) and its envelope
/// ([`TenancyError::body`]); a retryable one (503) adds `Retry-After`. A server error (500,
/// 503) is written to standard error with its chain of causes, which the body never carries
/// (they may quote SQL or a connection string).
///
/// ```
/// use axum::response::IntoResponse;
/// use flametrench_tenancy_axum::ApiError;
/// use flametrench_tenancy_core::{Entity, TenancyError};
///
/// let response = ApiError::from(TenancyError::not_found(Entity::Membership)).into_response();
/// assert_eq!(response.status(), 404);
/// let response = ApiError::invalid_request("limit: not a whole number").into_response();
/// assert_eq!(response.status(), 400);
/// ```
///
/// [`ErrorKind::http_status`]: flametrench_tenancy_core::ErrorKind::http_status
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// An error of the SDK, whether an operation returned it or the service chose it.
    Tenancy(TenancyError),
    /// An error of the SDK answered with its `code` and `message` only, for an operation whose
    /// error schema allows no `details` (the v0.2 additions' `updateOrg`, whose `Error` has
    /// `additionalProperties: false` and no `details`). Made by
    /// [`without_details`](Self::without_details).
    Brief(TenancyError),
    /// A failure the SDK has no error for, answered with the same envelope shape.
    Request {
        /// The HTTP status.
        status: StatusCode,
        /// The code: one of this crate's ([`INVALID_REQUEST`], …) or the service's own.
        code: &'static str,
        /// What was wrong, for a person reading the response.
        message: String,
    },
}

impl ApiError {
    /// A 400 [`INVALID_REQUEST`].
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::Request {
            status: StatusCode::BAD_REQUEST,
            code: INVALID_REQUEST,
            message: message.into(),
        }
    }

    /// A 401 [`UNAUTHORIZED`]: answer it to a request without a usable credential.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Request {
            status: StatusCode::UNAUTHORIZED,
            code: UNAUTHORIZED,
            message: message.into(),
        }
    }

    /// A 501 [`NOT_IMPLEMENTED`]: an operation of the API the service does not offer.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::Request {
            status: StatusCode::NOT_IMPLEMENTED,
            code: NOT_IMPLEMENTED,
            message: message.into(),
        }
    }

    /// The same error answered without the envelope's `details`: for the operations whose
    /// error schema has none (see [`ApiError::Brief`]). Other errors are returned unchanged.
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use flametrench_tenancy_axum::ApiError;
    /// use flametrench_tenancy_core::{Entity, TenancyError};
    ///
    /// let error = ApiError::from(TenancyError::not_found(Entity::Org)).without_details();
    /// assert_eq!(error.into_response().status(), 404);
    /// ```
    #[must_use]
    pub fn without_details(self) -> Self {
        match self {
            Self::Tenancy(error) => Self::Brief(error),
            other => other,
        }
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Tenancy(error) | Self::Brief(error) => {
                StatusCode::from_u16(error.kind().http_status())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Request { status, .. } => *status,
        }
    }
}

impl From<TenancyError> for ApiError {
    fn from(error: TenancyError) -> Self {
        Self::Tenancy(error)
    }
}

/// The envelope of a code of this crate or the service: the OpenAPI `Error` schema without
/// `details`.
#[derive(Serialize)]
struct Envelope<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let brief = matches!(self, Self::Brief(_));
        match self {
            Self::Tenancy(error) | Self::Brief(error) => {
                if status.is_server_error() {
                    log_server_error(&error);
                }
                let body = error.body();
                let mut response = if brief {
                    let envelope = Envelope {
                        code: body.code(),
                        message: body.message(),
                    };
                    (status, axum::Json(envelope)).into_response()
                } else {
                    (status, axum::Json(body)).into_response()
                };
                if error.is_retryable() || error.needs_transaction_restart() {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
                }
                response
            }
            Self::Request { code, message, .. } => (
                status,
                axum::Json(Envelope {
                    code,
                    message: &message,
                }),
            )
                .into_response(),
        }
    }
}

/// Writes a server-side failure and its chain of sources to standard error.
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

/// A fallback for unknown paths: 404 [`ROUTE_NOT_FOUND`] in the envelope
/// (`Router::fallback(route_not_found)`).
pub async fn route_not_found() -> ApiError {
    ApiError::Request {
        status: StatusCode::NOT_FOUND,
        code: ROUTE_NOT_FOUND,
        message: "no such route".to_owned(),
    }
}

/// A fallback for served paths called with another method: 405 [`METHOD_NOT_ALLOWED`] in the
/// envelope (`Router::method_not_allowed_fallback(method_not_allowed)`).
pub async fn method_not_allowed() -> ApiError {
    ApiError::Request {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: METHOD_NOT_ALLOWED,
        message: "this path does not take that method".to_owned(),
    }
}
