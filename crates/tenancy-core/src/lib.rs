//! The Flametrench tenancy model, independent of storage.
//!
//! To store it, pick a store crate: `flametrench-tenancy-memory` (`InMemoryTenancyStore`: tests
//! and single-process services) or `flametrench-tenancy-postgres` (`PostgresTenancyStore`, over
//! a pool or inside your own transaction). Hold either as a [`Tenancy`] handle in application
//! state. The workspace README's quick start runs the whole walk-through on the memory store:
//! `cargo run --example quickstart`.
//!
//! This crate defines the entities of the tenancy layer (organizations, memberships,
//! invitations and the authorization tuples that mirror memberships), the validated inputs of
//! every operation, the [`TenancyStore`] trait each backend implements, the one error type
//! [`TenancyError`], the [`Clock`] every store takes its time from, and the [`rules`] every
//! store calls so that all backends decide alike. It does no I/O and pulls in no runtime.
//!
//! ```
//! use flametrench_tenancy_core::{CreateOrg, OrgName, Slug, TenancyError, rules};
//! use flametrench_ids::UsrId;
//!
//! let input = CreateOrg::new(UsrId::new())
//!     .name(OrgName::new("Acme Corp")?)
//!     .slug(Slug::new("acme")?);
//! assert_eq!(input.slug.as_ref().map(Slug::as_str), Some("acme"));
//!
//! // Strings the spec constrains are refused when the input is built.
//! let error = Slug::new("Not A Slug").unwrap_err();
//! assert_eq!(error.code(), "precondition.org_slug_format");
//! assert_eq!(rules::page_limit(Some(1_000)), 200);
//! # Ok::<(), TenancyError>(())
//! ```

pub mod clock;
pub mod decide;
pub mod dynamic;
pub mod error;
pub mod handle;
pub mod input;
pub mod model;
pub mod operations;
pub mod request;
pub mod rules;
pub mod snapshot;
pub mod store;
pub mod text;

pub use clock::{
    Clock, MAX_TIMESTAMP, MIN_TIMESTAMP, ManualClock, SharedClock, SystemClock, clamp_timestamp,
    normalize_timestamp, system_clock, truncate_to_micros,
};
pub use error::{
    BoxError, ConflictKind, Entity, ErrorBody, ErrorDetails, ErrorKind, PreconditionReason, Result,
    RetryScope, TenancyError,
};
pub use flametrench_ids as ids;
pub use handle::Tenancy;
pub use input::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, ListInvitations, ListMembers,
    ListMembershipsForUser, ListOrgs, ListTuplesByObject, ListTuplesBySubject, Patch,
    TransferOwnership, UpdateOrg,
};
pub use model::{
    AcceptInvitationResult, CreateOrgResult, Cursor, Invitation, InvitationStatus, Membership,
    MembershipStatus, OrgStatus, Organization, Page, PreTuple, Role, TransferOwnershipResult,
    Tuple, parse_object_id,
};
pub use operations::Op;
pub use snapshot::Snapshot;
pub use store::TenancyStore;
pub use text::{EntityType, Identifier, OrgName, OrgQuery, Relation, Slug};
pub use time;
pub use uuid;
