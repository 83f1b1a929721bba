//! What a handler takes from a request (the actor, the session's identifier, ids, bodies and
//! queries), each refusing with the spec's error envelope rather than axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use flametrench_tenancy_core::ids::UsrId;
use flametrench_tenancy_core::{Identifier, PreconditionReason, TenancyError};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The header naming the acting user: the stand-in for the adopter's authentication.
pub const ACTOR_HEADER: &str = "x-actor";
/// The header carrying the actor's verified identifier: the stand-in for the email address the
/// adopter's session has verified.
pub const ACTOR_IDENTIFIER_HEADER: &str = "x-actor-identifier";

/// The acting user, from `x-actor`, registered with `ensure_user` on first sight.
pub(crate) struct Actor(pub(crate) UsrId);

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(ACTOR_HEADER) else {
            return Err(ApiError::unauthorized("the x-actor header is missing"));
        };
        let usr_id = value
            .to_str()
            .ok()
            .and_then(|text| text.parse::<UsrId>().ok())
            .ok_or_else(|| ApiError::unauthorized("the x-actor header is not a usr_ id"))?;
        state.register(usr_id).await?;
        Ok(Self(usr_id))
    }
}

/// The actor's verified identifier, from `x-actor-identifier`; `None` when the header is absent.
/// A value that is not a valid identifier is `precondition.invalid_identifier`.
pub(crate) struct ActorIdentifier(pub(crate) Option<Identifier>);

impl<S: Send + Sync> FromRequestParts<S> for ActorIdentifier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(ACTOR_IDENTIFIER_HEADER) else {
            return Ok(Self(None));
        };
        let invalid = || TenancyError::precondition(PreconditionReason::InvalidIdentifier);
        let text = value.to_str().map_err(|_| invalid())?;
        Ok(Self(Some(Identifier::new(text)?)))
    }
}

/// A JSON request body, required. It is read as JSON whatever its content type, so that
/// `curl -d` works without `-H content-type:…`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(Self)
    }
}

/// A JSON request body that may be left out (an empty body reads as `T::default()`), for the
/// routes whose body the OpenAPI makes optional.
pub(crate) struct OptionalJsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        parse_json(&bytes).map(Self)
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::invalid_request(format!("the body is not valid: {error}")))
}

/// A query string, with unknown or ill-typed parameters refused as `invalid_request`.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
        Ok(Self(query))
    }
}
