//! The PostgreSQL store: a pool from `DATABASE_URL` (or a throwaway cluster when it is unset),
//! migration, and a walk-through over the pool and inside a caller's transaction.
#![allow(clippy::print_stdout)] // An example prints what it does.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    AcceptInvitation, CreateInvitation, CreateOrg, Identifier, ListMembers, Role, Slug,
    TenancyStore,
};
use flametrench_tenancy_core::{ChangeRole, SelfLeave};
use flametrench_tenancy_postgres::testing::TestPostgres;
use flametrench_tenancy_postgres::{PostgresTenancyStore, migrate};
use time::{Duration, OffsetDateTime};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With DATABASE_URL this uses that (disposable) server; otherwise it starts a cluster.
    let server = TestPostgres::start().await?;
    let database = server.empty_database().await?;
    let pool = database.pool(4)?;
    let mut connection = pool.get().await?;
    println!(
        "1. migrated: {:?}",
        migrate(&mut connection, "public").await?
    );
    println!("   again: {:?}", migrate(&mut connection, "public").await?);
    drop(connection);

    let store = PostgresTenancyStore::new(pool.clone());
    let (alice, bob) = (UsrId::new(), UsrId::new());
    store.ensure_user(alice).await?;
    store.ensure_user(bob).await?;
    let created = store
        .create_org(CreateOrg::new(alice).slug(Slug::new("acme")?))
        .await?;
    println!("2. alice created {} over the pool", created.org.id);

    let identifier = Identifier::new("bob@example.com")?;
    let invitation = store
        .create_invitation(CreateInvitation::new(
            created.org.id,
            identifier.clone(),
            Role::Member,
            alice,
            OffsetDateTime::now_utc() + Duration::days(7),
        )?)
        .await?;
    let accepted = store
        .accept_invitation(AcceptInvitation::as_user(invitation.id, bob, identifier))
        .await?;
    println!("3. bob accepted: {}", accepted.membership.id);

    // Inside the caller's transaction: both calls and the caller's own write commit together.
    let mut client = pool.get().await?;
    let mut tx = client.transaction().await?;
    {
        let nested = PostgresTenancyStore::in_transaction(&mut tx);
        let promoted = nested
            .change_role(ChangeRole::new(accepted.membership.id, Role::Admin))
            .await?;
        nested
            .self_leave(SelfLeave::new(created.owner_membership.id).transfer_to(bob))
            .await
            .map(drop)?;
        println!(
            "4. in one transaction: bob promoted to {} then handed ownership",
            promoted.role
        );
    }
    let marker = tx
        .query_one("SELECT count(*) FROM mem", &[])
        .await?
        .get::<_, i64>(0);
    println!("5. the caller's own query sees {marker} membership rows before commit");
    let before = store.list_members(ListMembers::new(created.org.id)).await?;
    println!("6. other connections still see {} rows", before.data.len());
    tx.commit().await?;
    let after = store.list_members(ListMembers::new(created.org.id)).await?;
    println!("7. after the commit they see {}", after.data.len());
    Ok(())
}
