//! A glob import of the core crate, then method calls on the concrete store: every name the
//! root exports comes in, and no call is ambiguous (the object-safe trait, whose methods share
//! the store trait's names, stays in `dynamic`).

use flametrench_tenancy_core::*;
use flametrench_tenancy_memory::InMemoryTenancyStore;

#[tokio::test]
async fn a_glob_import_then_method_calls_on_the_store() -> Result<()> {
    let store = InMemoryTenancyStore::new();
    let (alice, bob) = (ids::UsrId::new(), ids::UsrId::new());
    store.ensure_user(alice).await?;
    store.ensure_user(bob).await?;
    let created = store.create_org(CreateOrg::new(alice)).await?;
    let member = store
        .add_member(AddMember::new(created.org.id, bob, Role::Member))
        .await?;
    assert_eq!(store.get_membership(member.id, None).await?, member);
    let page = store.list_members(ListMembers::new(created.org.id)).await?;
    assert_eq!(page.data.len(), 2);
    assert_eq!(store.get_org(created.org.id).await?, created.org);
    Ok(())
}
