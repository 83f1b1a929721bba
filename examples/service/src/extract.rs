//! What a handler takes from a request that is the application's own: the actor and the
//! session's identifier (bodies, queries and path ids come from `flametrench_tenancy_axum`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use flametrench_tenancy_core::ids::UsrId;
use flametrench_tenancy_core::{Identifier, PreconditionReason, TenancyError};

use crate::state::AppState;
use flametrench_tenancy_axum::ApiError;

/// The header carrying the credential: `Authorization: Bearer <token>`, as the OpenAPI's
/// `bearerAuth` scheme has it. A stand-in for a real identity layer: the token is the user's
/// `usr_` id, or, when the service was given a token table ([`AppState::with_tokens`]), a token
/// of that table.
///
/// [`AppState::with_tokens`]: crate::AppState::with_tokens
pub const ACTOR_HEADER: &str = "authorization";
/// The header carrying the actor's verified identifier: the stand-in for the email address the
/// adopter's session has verified.
pub const ACTOR_IDENTIFIER_HEADER: &str = "x-actor-identifier";

/// The acting user, from the bearer token, registered with `ensure_user` on first sight; a
/// missing, malformed or unknown token is 401 `unauthorized`.
pub(crate) struct Actor(pub(crate) UsrId);

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(usr_id) => Ok(Self(usr_id)),
            Caller::System => Err(ApiError::unauthorized(
                "the system token names no user; this route needs one",
            )),
        }
    }
}

/// Who calls: the system (the configured system token) or a user (as [`Actor`]).
pub(crate) enum Caller {
    System,
    User(UsrId),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(ACTOR_HEADER) else {
            return Err(ApiError::unauthorized("a bearer token is required"));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|text| text.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("the authorization is not a bearer token"))?;
        if state.is_system(token) {
            return Ok(Self::System);
        }
        let usr_id = state
            .user_of(token)
            .ok_or_else(|| ApiError::unauthorized("unknown bearer token"))?;
        state.register(usr_id).await?;
        Ok(Self::User(usr_id))
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
