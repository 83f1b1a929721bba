//! In-memory store for the Flametrench tenancy model.
//!
//! [`InMemoryTenancyStore`] implements every operation of
//! [`TenancyStore`](flametrench_tenancy_core::TenancyStore) with the same semantics as the
//! PostgreSQL store: sole-owner protection on every path, the membership/tuple duality,
//! revoke-and-re-add role changes, atomic invitation acceptance, lazy expiry, and the revoked-org
//! cascade. All state sits behind one mutex, so every operation is atomic with respect to every
//! other; lookups and list pages use ordered indexes (`list_orgs` with a text query scans the
//! orgs). Membership tuples are derived from active memberships, so the duality holds by
//! construction.
//!
//! ```
//! use flametrench_ids::UsrId;
//! use flametrench_tenancy_core::{CreateOrg, Role, TenancyStore, AddMember};
//! use flametrench_tenancy_memory::InMemoryTenancyStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = InMemoryTenancyStore::new();
//! let (alice, bob) = (UsrId::new(), UsrId::new());
//! store.ensure_user(alice).await?;
//! store.ensure_user(bob).await?;
//! let created = store.create_org(CreateOrg::new(alice)).await?;
//! let member = store.add_member(AddMember::new(created.org.id, bob, Role::Member)).await?;
//! assert_eq!(member.role, Role::Member);
//! assert!(store.snapshot().check_invariants().is_empty());
//! # Ok::<(), flametrench_tenancy_core::TenancyError>(())
//! # }).unwrap();
//! ```

mod sorted;
mod state;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod unit;

pub use store::InMemoryTenancyStore;
pub use unit::InMemoryUnit;

/// The workspace README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
