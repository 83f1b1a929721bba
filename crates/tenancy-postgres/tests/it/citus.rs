//! The store on Citus, in the distributed layout: the migration (idempotent, safe from several
//! processes, never converting a layout), slugs unique across the deployment under concurrent
//! creates and updates, and the races of `races.rs` over a pool and inside callers'
//! transactions, with every invariant holding.

use std::sync::Arc;

use flametrench_tenancy_core::{
    AddMember, CreateOrg, OrgAction, Patch, Role, Slug, TenancyStore, UpdateOrg,
};
use flametrench_tenancy_postgres::testing::violations;
use flametrench_tenancy_postgres::{
    Layout, Migration, PostgresTenancyStore, migrate, migrate_with_layout,
};

use crate::races::{all_races, interleaved_scenario};
use crate::support::{citus, citus_schema, database, server, users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_distributed_layout_is_created_once_co_located_by_org() {
    let Some(cluster) = citus().await else {
        return;
    };
    let schema = format!("ft_layout_{}", std::process::id());
    // Several processes migrate at once: one creates, the others find it done.
    let mut outcomes = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let cluster = cluster.clone();
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = cluster.connect().await.expect("a connection");
            migrate_with_layout(&mut client, &schema, Layout::Distributed).await
        }));
    }
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("migrate"));
    }
    outcomes.sort_by_key(|outcome| format!("{outcome:?}"));
    assert_eq!(
        outcomes,
        [Migration::Created, Migration::UpToDate, Migration::UpToDate]
    );
    let client = cluster.connect().await.expect("a connection");
    let rows = client
        .query(
            "SELECT c.relname::text, p.partmethod::text, p.colocationid \
             FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .expect("pg_dist_partition");
    let tables: Vec<(String, String, i32)> = rows
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let names: Vec<&str> = tables.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ft_org_lock",
            "ft_org_slug",
            "inv",
            "mem",
            "org",
            "tup",
            "usr"
        ]
    );
    let org_group = tables
        .iter()
        .find(|(name, _, _)| name == "org")
        .map(|(_, _, group)| *group);
    for (name, method, group) in &tables {
        match name.as_str() {
            // A reference table: a copy on every node.
            "usr" => assert_eq!(method, "n"),
            // Distributed by slug, in a group of its own.
            "ft_org_slug" => assert!(method == "h" && Some(*group) != org_group),
            // Hash-distributed and co-located with org.
            _ => assert!(method == "h" && Some(*group) == org_group, "{name}"),
        }
    }
    // The single-node migration does not touch a distributed schema, and says why.
    let mut client = cluster.connect().await.expect("a connection");
    let refused = migrate(&mut client, &schema)
        .await
        .expect_err("the other layout");
    assert_eq!(refused.code(), "storage.not_migrated");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layout_is_never_converted_and_needs_citus() {
    // On a server without Citus the distributed layout is not supported.
    let server = server().await;
    let db = database(&server).await;
    let mut client = db.connect().await.expect("a connection");
    let refused = migrate_with_layout(&mut client, "elsewhere", Layout::Distributed)
        .await
        .expect_err("no citus");
    assert_eq!(refused.code(), "storage.not_supported");
    let Some(cluster) = citus().await else {
        return;
    };
    // A single-node schema on a Citus coordinator is not distributed by a later migration.
    let schema = format!("ft_single_{}", std::process::id());
    let mut client = cluster.connect().await.expect("a connection");
    assert_eq!(
        migrate(&mut client, &schema).await.expect("single node"),
        Migration::Created
    );
    let refused = migrate_with_layout(&mut client, &schema, Layout::Distributed)
        .await
        .expect_err("the other layout");
    assert_eq!(refused.code(), "storage.not_migrated");
    client
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .expect("drop");
}

/// The functions through which single-org writes run on the org's worker belong to the schema:
/// a store whose functions are missing (a schema migrated by another version of the store) is
/// told to migrate, and the migration adds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_its_functions_is_told_to_migrate() {
    let Some(cluster) = citus().await else {
        return;
    };
    let target = citus_schema(&cluster).await;
    let store = target.adapt(PostgresTenancyStore::new(target.pool(2)));
    let people = users(&store, 2).await;
    let (alice, bob) = (people[0], people[1]);
    let org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("an org")
        .org
        .id;
    let mut client = target.connect().await;
    let dropped: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT 1 FROM pg_proc \
             WHERE pronamespace = $1::text::regnamespace AND proname LIKE 'ft\\_add\\_member\\_%') f",
            &[&format!("\"{}\"", target.schema())],
        )
        .await
        .expect("the function")
        .get(0);
    assert_eq!(dropped, 1);
    client
        .batch_execute(&format!(
            "DO $$ DECLARE f regprocedure; BEGIN SELECT p.oid::regprocedure INTO f FROM pg_proc p \
             WHERE p.pronamespace = '\"{0}\"'::regnamespace AND p.proname LIKE 'ft\\_add\\_member\\_%'; \
             EXECUTE 'DROP FUNCTION ' || f::text; END $$",
            target.schema()
        ))
        .await
        .expect("drop the function");
    let refused = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect_err("no function");
    assert_eq!(refused.code(), "storage.not_migrated", "{refused}");
    assert_eq!(
        migrate_with_layout(&mut client, target.schema(), Layout::Distributed)
            .await
            .expect("migrate"),
        Migration::Upgraded
    );
    assert_eq!(
        migrate_with_layout(&mut client, target.schema(), Layout::Distributed)
            .await
            .expect("migrate"),
        Migration::UpToDate
    );
    store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("added once migrated");
    // Made again as it was: distributed by its org argument, its calls delegated.
    let delegated: bool = client
        .query_one(
            "SELECT d.force_delegation AND d.distribution_argument_index = 0 \
             FROM pg_dist_object d JOIN pg_proc p ON p.oid = d.objid \
             WHERE p.pronamespace = $1::text::regnamespace AND p.proname LIKE 'ft\\_add\\_member\\_%'",
            &[&format!("\"{}\"", target.schema())],
        )
        .await
        .expect("the function's distribution")
        .get(0);
    assert!(delegated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slugs_stay_unique_across_the_cluster_under_concurrent_creates_and_updates() {
    let Some(cluster) = citus().await else {
        return;
    };
    let target = citus_schema(&cluster).await;
    let store = Arc::new(target.adapt(PostgresTenancyStore::new(target.pool(8))));
    for round in 0..5 {
        let owners = users(&*store, 6).await;
        let slug = Slug::new(format!("contested-{round}")).expect("a slug");
        // Three create with the slug, three others move their org to it.
        let mut renamed = Vec::new();
        for owner in &owners[3..] {
            renamed.push(
                store
                    .create_org(CreateOrg::new(*owner))
                    .await
                    .expect("create")
                    .org
                    .id,
            );
        }
        let mut tasks = Vec::new();
        for owner in owners[..3].iter().copied() {
            let (store, slug) = (store.clone(), slug.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .create_org(CreateOrg::new(owner).slug(slug))
                    .await
                    .map(|created| created.org.id)
            }));
        }
        for org in renamed {
            let (store, slug) = (store.clone(), slug.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .update_org(UpdateOrg::new(org).slug(Patch::Set(slug)))
                    .await
                    .map(|updated| updated.id)
            }));
        }
        let mut holders = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                Ok(org) => holders.push(org),
                Err(error) => assert_eq!(error.code(), "conflict.org_slug", "{error:?}"),
            }
        }
        assert_eq!(holders.len(), 1, "round {round}: one org holds the slug");
        // The holder keeps it through revocation.
        store
            .revoke_org(OrgAction::new(holders[0]))
            .await
            .expect("revoke");
        let late = store
            .create_org(CreateOrg::new(owners[0]).slug(slug))
            .await
            .expect_err("still held");
        assert_eq!(late.code(), "conflict.org_slug");
    }
    // The registry holds exactly the orgs' slugs (read apart: the two tables are not
    // co-located, and Citus joins only co-located tables).
    let client = target.connect().await;
    let mut slugs: Vec<(String, uuid::Uuid)> = client
        .query("SELECT slug, id FROM org WHERE slug IS NOT NULL", &[])
        .await
        .expect("orgs")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut registry: Vec<(String, uuid::Uuid)> = client
        .query("SELECT slug, org_id FROM ft_org_slug", &[])
        .await
        .expect("registry")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    slugs.sort();
    registry.sort();
    assert_eq!(slugs.len(), 5);
    assert_eq!(slugs, registry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_slug_changes_of_one_org_keep_the_registry_in_step() {
    let Some(cluster) = citus().await else {
        return;
    };
    let target = citus_schema(&cluster).await;
    let store = Arc::new(target.adapt(PostgresTenancyStore::new(target.pool(8))));
    let owners = users(&*store, 2).await;
    let keep = Slug::new("keep").expect("a slug");
    let org = store
        .create_org(CreateOrg::new(owners[0]).slug(keep.clone()))
        .await
        .expect("create")
        .org
        .id;
    for round in 0..20 {
        // Unchecked updates of the one org, at once: each moves the registry row it read.
        let mut tasks = Vec::new();
        for slug in [format!("away-{round}"), "keep".to_owned()] {
            let store = store.clone();
            let slug = Slug::new(slug).expect("a slug");
            tasks.push(tokio::spawn(async move {
                store
                    .update_org(UpdateOrg::new(org).slug(Patch::Set(slug)))
                    .await
            }));
        }
        for task in tasks {
            task.await.expect("task").expect("update");
        }
        let held = store.get_org(org).await.expect("org").slug;
        if held.as_ref() == Some(&keep) {
            let taken = store
                .create_org(CreateOrg::new(owners[1]).slug(keep.clone()))
                .await
                .expect_err("the slug is held");
            assert_eq!(taken.code(), "conflict.org_slug", "round {round}");
        } else {
            store
                .update_org(UpdateOrg::new(org).slug(Patch::Set(keep.clone())))
                .await
                .expect("back to keep");
        }
    }
    // The registry holds the org's one slug, and nothing it left behind.
    let client = target.connect().await;
    let rows = client
        .query(
            "SELECT slug FROM ft_org_slug WHERE org_id = $1",
            &[&org.as_uuid()],
        )
        .await
        .expect("registry");
    let slugs: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    let held = store.get_org(org).await.expect("org").slug;
    assert_eq!(
        slugs,
        held.iter()
            .map(|slug| slug.as_str().to_owned())
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_over_a_pool_keep_every_invariant_on_citus() {
    let Some(cluster) = citus().await else {
        return;
    };
    let target = citus_schema(&cluster).await;
    let store = Arc::new(target.adapt(PostgresTenancyStore::new(target.pool(8))));
    all_races(store).await;
    let client = target.connect().await;
    assert_eq!(
        violations(&client).await.expect("invariant queries"),
        Vec::<String>::new()
    );
}

/// Every call in a transaction of its own that the store did not open for it: a unit
/// (`PostgresTenancyStore::begin`), whose calls nest in savepoints as inside a caller's
/// transaction, committed after the call (rolled back after a failure).
struct CallInTransaction(PostgresTenancyStore<'static, 'static>);

macro_rules! call_in_transaction {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl TenancyStore for CallInTransaction {
            $(
                async fn $name(&self, $($arg: $ty),*) -> flametrench_tenancy_core::Result<$ret> {
                    let unit = self.0.begin().await?;
                    match TenancyStore::$name(&unit, $($arg),*).await {
                        Ok(value) => {
                            unit.commit().await?;
                            Ok(value)
                        }
                        Err(error) => {
                            let _ = unit.rollback().await;
                            Err(error)
                        }
                    }
                }
            )*
        }
    };
}

flametrench_tenancy_core::tenancy_operations!(call_in_transaction);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races_in_transactions_keep_every_invariant_on_citus() {
    let Some(cluster) = citus().await else {
        return;
    };
    let target = citus_schema(&cluster).await;
    let store = target.adapt(PostgresTenancyStore::new(target.pool(8)));
    all_races(Arc::new(CallInTransaction(store))).await;
    let client = target.connect().await;
    assert_eq!(
        violations(&client).await.expect("invariant queries"),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_callers_transactions_keep_invariants_only_with_the_org_locks_on_citus() {
    let Some(cluster) = citus().await else {
        return;
    };
    for scenario in [0, 1] {
        let db = citus_schema(&cluster).await;
        let fresh = citus_schema(&cluster).await;
        // A call that waits where it should not (Citus locks a whole shard for a write it
        // cannot route to one) would hang the unlocked run: bound it.
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            interleaved_scenario(db, fresh, scenario),
        )
        .await
        .expect("the scenario ends");
    }
}
