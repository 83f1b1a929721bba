//! An object-safe form of [`TenancyStore`], so an application can hold any store as
//! `Arc<dyn DynTenancyStore>` (one boxed future per call).
//!
//! Most applications want the [`Tenancy`](crate::Tenancy) handle instead: it wraps the trait
//! object and offers every operation as an inherent method, so importing both traits never
//! makes a call ambiguous.
//!
//! The trait is not re-exported at the crate root: its methods have the names of
//! [`TenancyStore`]'s, and with both traits in scope a method call on a concrete store is
//! ambiguous (E0034). Kept here, a glob import of the root (`use flametrench_tenancy_core::*`)
//! brings in [`TenancyStore`] alone, and method calls on any store compile.
//!
//! ```
//! use std::sync::Arc;
//! use flametrench_tenancy_core::dynamic::DynTenancyStore;
//! use flametrench_tenancy_core::{Tenancy, TenancyStore};
//!
//! fn into_state<S: TenancyStore + 'static>(store: S) -> Tenancy<'static> {
//!     let shared: Arc<dyn DynTenancyStore> = Arc::new(store);
//!     Tenancy::from(shared)
//! }
//! ```
//!
//! `Arc<dyn DynTenancyStore>` implements [`TenancyStore`] again, so generic code accepts it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::Result;
use crate::store::TenancyStore;

/// A boxed, sendable future, as the object-safe trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

macro_rules! define_dyn_store {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// [`TenancyStore`] with boxed futures, usable as a trait object. Every method has the
        /// meaning and errors of its [`TenancyStore`] namesake. Implemented for every
        /// `TenancyStore`.
        pub trait DynTenancyStore: Send + Sync {
            $(
                #[doc = concat!("See [`TenancyStore::", stringify!($name), "`].")]
                fn $name(&self, $($arg: $ty),*) -> BoxFuture<'_, Result<$ret>>;
            )*

            /// See [`TenancyStore::begin_unit`].
            fn begin_unit(&self) -> BoxFuture<'_, Result<crate::Unit>>;
        }

        impl<S: TenancyStore> DynTenancyStore for S {
            $(
                fn $name(&self, $($arg: $ty),*) -> BoxFuture<'_, Result<$ret>> {
                    Box::pin(TenancyStore::$name(self, $($arg),*))
                }
            )*

            fn begin_unit(&self) -> BoxFuture<'_, Result<crate::Unit>> {
                Box::pin(TenancyStore::begin_unit(self))
            }
        }

        impl TenancyStore for Arc<dyn DynTenancyStore> {
            $(
                fn $name(&self, $($arg: $ty),*) -> impl Future<Output = Result<$ret>> + Send {
                    DynTenancyStore::$name(&**self, $($arg),*)
                }
            )*

            fn begin_unit(&self) -> impl Future<Output = Result<crate::Unit>> + Send {
                DynTenancyStore::begin_unit(&**self)
            }
        }
    };
}

crate::tenancy_operations!(define_dyn_store);
