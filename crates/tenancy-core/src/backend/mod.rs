//! For store implementers: what every store calls so that all stores decide alike, and the
//! snapshot the conformance suite checks invariants on.
//!
//! An application using a store needs none of this: the operations are methods of
//! [`TenancyStore`](crate::TenancyStore) (or of the [`Tenancy`](crate::Tenancy) handle), and
//! their inputs, results and errors are at the crate root. A crate that implements
//! [`TenancyStore`](crate::TenancyStore) gathers each write's facts, asks its [`decide`]
//! function for the plan or the spec's error, and pages its listings with the helpers of
//! [`rules`]; it hands a [`Snapshot`] of its rows to the conformance runner.
//!
//! These items follow the stores, not the spec's surface: they change when a store needs them
//! to, and are not part of what an application should build on.

pub mod decide;
pub mod rules;
mod snapshot;

pub use snapshot::Snapshot;
