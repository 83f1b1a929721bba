//! The documented imports compile together: both store traits and the handle in scope at once,
//! with calls on the handle (inherent methods win over trait methods) and on a concrete store
//! through the trait a caller names.

use std::sync::Arc;

use flametrench_tenancy_core::dynamic::DynTenancyStore;
use flametrench_tenancy_core::{AddMember, CreateOrg, Role, Tenancy, TenancyError, TenancyStore};
use flametrench_tenancy_memory::InMemoryTenancyStore;

/// Generic code over the trait takes the handle too.
async fn generic<S: TenancyStore>(store: &S) -> Result<usize, TenancyError> {
    let user = flametrench_tenancy_core::ids::UsrId::new();
    store.ensure_user(user).await?;
    let created = store.create_org(CreateOrg::new(user)).await?;
    Ok(store
        .list_members(flametrench_tenancy_core::ListMembers::new(created.org.id))
        .await?
        .data
        .len())
}

#[tokio::test]
async fn both_traits_and_the_handle_in_scope() -> Result<(), TenancyError> {
    let tenancy: Tenancy<'static> = InMemoryTenancyStore::new().into();
    let (alice, bob) = (
        flametrench_tenancy_core::ids::UsrId::new(),
        flametrench_tenancy_core::ids::UsrId::new(),
    );
    // Method calls on the handle: unambiguous with both traits imported.
    tenancy.ensure_user(alice).await?;
    tenancy.ensure_user(bob).await?;
    let created = tenancy.create_org(CreateOrg::new(alice)).await?;
    let clone = tenancy.clone();
    let member = clone
        .add_member(AddMember::new(created.org.id, bob, Role::Member))
        .await?;
    assert_eq!(tenancy.get_membership(member.id, None).await?, member);
    assert_eq!(generic(&tenancy).await?, 1);

    // A concrete store with both traits in scope: name the trait.
    let store = InMemoryTenancyStore::new();
    TenancyStore::ensure_user(&store, alice).await?;
    DynTenancyStore::ensure_user(&store, bob).await?;
    assert_eq!(generic(&store).await?, 1);

    // A shared trait object converts too.
    let shared: Arc<dyn DynTenancyStore> = Arc::new(InMemoryTenancyStore::new());
    let from_shared = Tenancy::from(shared.clone());
    from_shared.ensure_user(alice).await?;
    assert_eq!(generic(&shared).await?, 1);
    Ok(())
}
