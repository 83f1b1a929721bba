//! [`Tenancy`]: a cloneable handle on any store, with the operations as inherent methods.

use std::sync::Arc;

use crate::dynamic::DynTenancyStore;
use crate::error::Result;
use crate::store::TenancyStore;

macro_rules! define_handle {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// A cloneable handle on any store (`Arc<dyn DynTenancyStore + 'a>` inside), for
        /// application state: each clone is the same store.
        ///
        /// Its operations are inherent methods, so they never clash with the store traits:
        /// with both [`TenancyStore`] and [`DynTenancyStore`] imported (the latter lives in
        /// [`dynamic`](crate::dynamic), out of the crate root, so that a glob import of the
        /// root brings in only [`TenancyStore`]), a method call on a concrete store is
        /// ambiguous, while one on the handle is not. Every store converts
        /// into it (`Tenancy::new(store)`, or `store.into()` where the store crate provides the
        /// conversion), and it implements [`TenancyStore`] itself, so generic code takes it.
        ///
        /// ```
        /// use flametrench_tenancy_core::dynamic::DynTenancyStore;
        /// use flametrench_tenancy_core::{CreateOrg, Tenancy, TenancyStore};
        ///
        /// async fn handler(tenancy: Tenancy<'_>, creator: flametrench_tenancy_core::ids::UsrId)
        ///     -> flametrench_tenancy_core::Result<()> {
        ///     tenancy.ensure_user(creator).await?;
        ///     tenancy.create_org(CreateOrg::new(creator)).await?;
        ///     Ok(())
        /// }
        /// ```
        #[derive(Clone)]
        pub struct Tenancy<'a> {
            store: Arc<dyn DynTenancyStore + 'a>,
        }

        impl std::fmt::Debug for Tenancy<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("Tenancy")
            }
        }

        impl<'a> Tenancy<'a> {
            /// A handle on `store`.
            pub fn new<S: TenancyStore + 'a>(store: S) -> Self {
                Self {
                    store: Arc::new(store),
                }
            }

            /// A handle on a store already shared as a trait object.
            pub fn from_shared(store: Arc<dyn DynTenancyStore + 'a>) -> Self {
                Self { store }
            }

            /// The store as a trait object.
            pub fn as_dyn(&self) -> &(dyn DynTenancyStore + 'a) {
                &*self.store
            }

            $(
                $(#[$doc])*
                pub async fn $name(&self, $($arg: $ty),*) -> Result<$ret> {
                    DynTenancyStore::$name(&*self.store, $($arg),*).await
                }
            )*
        }

        impl TenancyStore for Tenancy<'_> {
            $(
                fn $name(&self, $($arg: $ty),*) -> impl std::future::Future<Output = Result<$ret>> + Send {
                    DynTenancyStore::$name(&*self.store, $($arg),*)
                }
            )*

            fn begin_unit(&self) -> impl std::future::Future<Output = Result<crate::Unit>> + Send {
                DynTenancyStore::begin_unit(&*self.store)
            }
        }
    };
}

crate::tenancy_operations!(define_handle);

impl<'a> From<Arc<dyn DynTenancyStore + 'a>> for Tenancy<'a> {
    fn from(store: Arc<dyn DynTenancyStore + 'a>) -> Self {
        Self::from_shared(store)
    }
}
