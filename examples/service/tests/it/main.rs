//! The example service over HTTP: its scenario on both stores, cross-tenant requests refused
//! in one round trip on PostgreSQL, and the demotion window refused through the service.

// Test code: a failed request or a body of the wrong shape should panic with the value at
// hand, which `unwrap` does.
#![allow(clippy::unwrap_used)]

mod auth;
mod baseline;
mod cross_tenant;
mod scenario;
mod support;
mod tuples;
mod window;
mod wire;
