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
//! [`TenancyError`], and the [`Clock`] every store takes its time from. It does no I/O and
//! pulls in no runtime.
//!
//! Everything an application uses is at the crate root. Two modules hold more specialised
//! parts: [`request`], the OpenAPI's request bodies and their conversion into inputs (for an
//! HTTP service), and [`dynamic`], the object-safe form of the store trait (most applications
//! want the [`Tenancy`] handle instead). [`backend`] is for store implementers only: the
//! `decide` functions and rules every store calls so that all stores decide alike, and the
//! [`Snapshot`](backend::Snapshot) the conformance suite checks.
//!
//! ```
//! use flametrench_tenancy_core::{CreateOrg, ListMembers, OrgName, Slug, TenancyError};
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
//! let page = ListMembers::new(flametrench_ids::OrgId::new()).limit(50);
//! assert_eq!(page.limit, Some(50));
//! # Ok::<(), TenancyError>(())
//! ```

pub mod backend;
mod clock;
pub mod dynamic;
mod error;
mod handle;
mod input;
mod model;
mod operations;
pub mod request;
mod store;
mod text;
mod unit;

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
    AcceptInvitation, AddMember, AdminRemove, ChangeRole, CreateInvitation, CreateOrg,
    DeclineInvitation, ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs,
    ListTuplesByObject, ListTuplesBySubject, MemberAction, OrgAction, Patch, RevokeInvitation,
    SelfLeave, TransferOwnership, UpdateOrg,
};
pub use model::{
    AcceptInvitationResult, CreateOrgResult, Cursor, Invitation, InvitationStatus, Membership,
    MembershipStatus, OrgAccess, OrgStatus, Organization, Page, PreTuple, Role,
    TransferOwnershipResult, Tuple, parse_object_id,
};
pub use operations::Op;
pub use store::TenancyStore;
pub use text::{EntityType, Identifier, OrgName, OrgQuery, Relation, Slug};
pub use time;
pub use unit::{UNIT_ATTEMPTS, Unit, UnitOfWork, unit_may_run_again};
pub use uuid;
