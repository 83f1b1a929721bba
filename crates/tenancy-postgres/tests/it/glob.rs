//! A glob import of the core crate, then method calls on the PostgreSQL store: no call is
//! ambiguous (the object-safe trait, whose methods share the store trait's names, stays in
//! `flametrench_tenancy_core::dynamic`).

use flametrench_tenancy_core::*;
use flametrench_tenancy_postgres::PostgresTenancyStore;

use crate::support::{database, server};

#[tokio::test]
async fn a_glob_import_then_method_calls_on_the_store() -> Result<()> {
    let server = server().await;
    let db = database(&server).await;
    let store = PostgresTenancyStore::new(db.pool(2).expect("pool"));
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
    Ok(())
}
