//! An install bootstrap in one outer transaction: the adopter's own account row, the SDK's org
//! and invitation, and the adopter's marker row commit together. A second run fails half-way
//! (the slug is taken) and keeps nothing.
#![allow(clippy::print_stdout)] // An example prints what it does.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    CreateInvitation, CreateOrg, Identifier, Role, Slug, TenancyError, TenancyStore,
};
use flametrench_tenancy_postgres::testing::TestPostgres;
use flametrench_tenancy_postgres::{PostgresTenancyStore, migrate};
use time::{Duration, OffsetDateTime};

async fn bootstrap(client: &mut tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = client.transaction().await?;
    let admin = UsrId::new();
    tx.execute(
        "INSERT INTO app_account (usr_id, email) VALUES ($1, $2)",
        &[&admin.as_uuid(), &"admin@example.com"],
    )
    .await?;
    {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        store.ensure_user(admin).await?;
        let org = store
            .create_org(CreateOrg::new(admin).slug(Slug::new("main")?))
            .await?
            .org;
        store
            .create_invitation(CreateInvitation::new(
                org.id,
                Identifier::new("first-colleague@example.com")?,
                Role::Admin,
                admin,
                OffsetDateTime::now_utc() + Duration::days(7),
            )?)
            .await?;
    }
    tx.execute("INSERT INTO app_marker (note) VALUES ('bootstrapped')", &[])
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn counts(client: &tokio_postgres::Client) -> Result<Vec<i64>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for table in ["app_account", "org", "inv", "app_marker"] {
        out.push(
            client
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await?
                .get(0),
        );
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestPostgres::start().await?;
    let database = server.empty_database().await?;
    let mut client = database.connect().await?;
    migrate(&mut client, "public").await?;
    client
        .batch_execute(
            "CREATE TABLE app_account (usr_id uuid PRIMARY KEY, email text NOT NULL);
             CREATE TABLE app_marker (note text NOT NULL)",
        )
        .await?;

    bootstrap(&mut client).await?;
    println!(
        "first run committed: account, org, invitation, marker = {:?}",
        counts(&client).await?
    );

    match bootstrap(&mut client).await {
        Ok(()) => return Err("the second run should have failed".into()),
        Err(error) => {
            let code = error.downcast_ref::<TenancyError>().map(TenancyError::code);
            println!("second run failed half-way: {error} ({code:?})");
        }
    }
    let after = counts(&client).await?;
    println!("after the failed run: account, org, invitation, marker = {after:?}");
    if after != vec![1, 1, 1, 1] {
        return Err("the failed run kept something".into());
    }
    Ok(())
}
