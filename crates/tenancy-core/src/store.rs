//! The [`TenancyStore`] trait: every tenancy operation, implemented by each backend. Its
//! methods come from the operation table ([`crate::operations`]).

use std::future::Future;

use crate::error::Result;

macro_rules! define_store_trait {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// A store of orgs, memberships, invitations and their authorization tuples.
        ///
        /// Every method is atomic: it either takes full effect or none, and concurrent calls on
        /// one store behave as if run one after another. Every store keeps the invariants of
        /// the spec: an org with active members has an active owner; every active membership is
        /// mirrored by exactly one `(usr, role, org)` tuple and every such tuple by an active
        /// membership; a user has at most one active membership per org; a revoked org has no
        /// active membership and no pending invitation.
        ///
        /// Errors are [`TenancyError`](crate::TenancyError)s; each method's `# Errors` lists
        /// the codes it returns besides the storage codes (`storage.*`) any backend may return.
        pub trait TenancyStore: Send + Sync {
            $(
                $(#[$doc])*
                fn $name(&self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send;
            )*

            /// Opens a unit of work ([`Unit`](crate::Unit)): calls made through it commit or
            /// roll back as one. Most callers want
            /// [`Tenancy::begin`](crate::Tenancy::begin) or
            /// [`Tenancy::in_unit`](crate::Tenancy::in_unit).
            ///
            /// # Errors
            ///
            /// `storage.not_supported` by default, for a store without units of work.
            fn begin_unit(&self) -> impl Future<Output = Result<crate::Unit>> + Send {
                std::future::ready(Err(crate::TenancyError::NotSupported {
                    what: "units of work on this store",
                }))
            }
        }
    };
}

crate::tenancy_operations!(define_store_trait);

macro_rules! define_ref_store {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// A borrowed store is a store: `Tenancy::new(&store)` keeps the store where it is (a
        /// transaction to commit afterwards, say).
        impl<S: TenancyStore + ?Sized> TenancyStore for &S {
            $(
                fn $name(&self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send {
                    S::$name(*self, $($arg),*)
                }
            )*

            fn begin_unit(&self) -> impl Future<Output = Result<crate::Unit>> + Send {
                S::begin_unit(*self)
            }
        }
    };
}

crate::tenancy_operations!(define_ref_store);
