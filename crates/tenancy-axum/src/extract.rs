//! Extractors that refuse in the spec's error envelope ([`ApiError`]) rather than axum's plain
//! text: JSON bodies, query strings and the typed ids of a path.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use flametrench_tenancy_core::TenancyError;
use flametrench_tenancy_core::ids::{InvId, MemId, OrgId, TupId, TypedId, UsrId};
use flametrench_tenancy_core::request::parse_id;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body, required, refused as [`INVALID_REQUEST`](crate::INVALID_REQUEST) in
/// the envelope when it is not valid JSON of `T`'s shape (the SDK's request types refuse
/// unknown fields). It is read as JSON whatever its content type, so that `curl -d` works
/// without `-H content-type:…`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(Self)
    }
}

/// A JSON request body that may be left out: an empty (or blank) body reads as
/// `T::default()`, for the routes whose body the OpenAPI makes optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
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

/// A query string of `T`'s shape; a parameter `T` does not know (with
/// `#[serde(deny_unknown_fields)]`, as [`ListMembersQuery`](crate::ListMembersQuery) has) or
/// of the wrong type is refused as [`INVALID_REQUEST`](crate::INVALID_REQUEST).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(query) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
        Ok(Self(query))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// An id type a path may carry, and the name of its path parameter (`org_id`, …).
pub trait PathId: TypedId + sealed::Sealed {
    /// The path parameter's name, and the field an `invalid_id` error names.
    const FIELD: &'static str;
}

macro_rules! path_id {
    ($($id:ty => $field:literal),*) => {
        $(
            impl sealed::Sealed for $id {}
            impl PathId for $id {
                const FIELD: &'static str = $field;
            }
        )*
    };
}

path_id!(OrgId => "org_id", MemId => "mem_id", InvId => "inv_id", UsrId => "usr_id", TupId => "tup_id");

/// What [`Ids`] reads from a path: one id, or a pair.
pub trait PathIds: Sized {
    /// Reads the ids from the path's parameters (name, value), each from the parameter named
    /// after its type (`org_id` for an [`OrgId`], …).
    ///
    /// # Errors
    ///
    /// `invalid_id` naming the field for a value that is not a well-formed id of its type
    /// (another type's prefix included); `None` when a parameter is missing.
    fn from_params(params: &[(&str, &str)]) -> Option<Result<Self, TenancyError>>;
}

fn one<I: PathId>(params: &[(&str, &str)]) -> Option<Result<I, TenancyError>> {
    let (_, value) = params.iter().find(|(name, _)| *name == I::FIELD)?;
    Some(parse_id(I::FIELD, value))
}

impl<A: PathId> PathIds for A {
    fn from_params(params: &[(&str, &str)]) -> Option<Result<Self, TenancyError>> {
        one(params)
    }
}

impl<A: PathId, B: PathId> PathIds for (A, B) {
    fn from_params(params: &[(&str, &str)]) -> Option<Result<Self, TenancyError>> {
        let (a, b) = (one::<A>(params)?, one::<B>(params)?);
        Some(a.and_then(|a| b.map(|b| (a, b))))
    }
}

/// The typed ids of a path: `Ids<OrgId>` for `/orgs/{org_id}`, `Ids<(OrgId, MemId)>` for
/// `/orgs/{org_id}/members/{mem_id}` (each id from the parameter named after its type). A value
/// that is not a well-formed id of its type answers 400 `invalid_id` in the envelope, naming
/// the field, as [`parse_id`] does; a route without the parameter is a programming error,
/// answered 500.
#[derive(Debug, Clone, Copy)]
pub struct Ids<T>(pub T);

impl<T: PathIds, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid_request(rejection.body_text()))?;
        let params: Vec<(&str, &str)> = raw.iter().collect();
        match T::from_params(&params) {
            Some(ids) => Ok(Self(ids?)),
            None => Err(ApiError::Request {
                status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                code: "route_without_id",
                message: "the route does not name the ids its handler reads".to_owned(),
            }),
        }
    }
}
