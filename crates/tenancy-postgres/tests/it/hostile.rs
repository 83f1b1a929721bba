//! Hostile strings through every string input, on both stores: the same outcome (the same
//! error code, or success) for the same input, no panic, and nothing stored by a rejected call.

use std::sync::Arc;

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    CreateInvitation, CreateOrg, Cursor, Identifier, ListOrgs, OrgName, OrgQuery, PreTuple, Role,
    Slug, TenancyError, TenancyStore,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::PostgresTenancyStore;
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

use crate::support::{database, server};

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::string::string_regex("[a-zA-Z0-9_%\\\\'\";\\- \u{0}é中а]{0,80}").expect("regex"),
        proptest::string::string_regex("[a-z0-9-]{0,70}").expect("regex"),
        Just(String::new()),
        Just("x".repeat(2000)),
    ]
}

fn outcome<T>(result: &Result<T, TenancyError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(error) => error.code().into(),
    }
}

async fn org_count<S: TenancyStore>(store: &S) -> usize {
    store
        .list_orgs(ListOrgs::new().limit(200))
        .await
        .expect("list")
        .data
        .len()
}

/// Runs one hostile case on a store; returns the outcome of each call.
async fn case<S: TenancyStore>(store: &S, creator: UsrId, text: &str, other: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let before = org_count(store).await;
    let name = OrgName::new(text);
    let slug = Slug::new(other);
    seen.push(outcome(&name));
    seen.push(outcome(&slug));
    let mut input = CreateOrg::new(creator);
    if let Ok(name) = name {
        input = input.name(name);
    }
    if let Ok(slug) = slug {
        input = input.slug(slug);
    }
    let created = store.create_org(input).await;
    seen.push(outcome(&created));
    let after = org_count(store).await;
    assert_eq!(
        after,
        before + usize::from(created.is_ok()),
        "a rejected create_org stored nothing"
    );
    let query = OrgQuery::new(text);
    seen.push(outcome(&query));
    if let Ok(query) = query {
        let listed = store
            .list_orgs(ListOrgs::new().query(query).limit(200))
            .await;
        seen.push(
            listed
                .map(|page| page.data.len().to_string())
                .unwrap_or_else(|e| e.code().into()),
        );
    }
    seen.push(outcome(
        &store
            .list_orgs(ListOrgs::new().cursor(Some(Cursor::new(text))))
            .await,
    ));
    seen.push(outcome(&PreTuple::new(text, other, text)));
    if let Ok(created) = created {
        // Stored and read back verbatim.
        let read = store.get_org(created.org.id).await.expect("get_org");
        seen.push(format!(
            "{:?}",
            read.name.as_ref().map(|name| name.as_str() == text)
        ));
        let identifier = Identifier::new(text);
        seen.push(outcome(&identifier));
        if let Ok(identifier) = identifier {
            let invited = store
                .create_invitation(
                    CreateInvitation::new(
                        created.org.id,
                        identifier,
                        Role::Member,
                        creator,
                        OffsetDateTime::now_utc() + Duration::days(1),
                    )
                    .expect("invitation input"),
                )
                .await
                .map(|invitation| invitation.identifier.as_str() == text);
            seen.push(format!("{:?}", invited.map_err(|e| e.code())));
        }
    }
    seen
}

#[test]
fn both_stores_agree_on_hostile_strings() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (postgres, memory, creator, _server) = runtime.block_on(async {
        let server = server().await;
        let db = database(&server).await;
        let postgres = Arc::new(PostgresTenancyStore::new(db.pool(2).expect("pool")));
        let memory = Arc::new(InMemoryTenancyStore::new());
        let creator = UsrId::new();
        postgres.ensure_user(creator).await.expect("user");
        memory.ensure_user(creator).await.expect("user");
        (postgres, memory, creator, server)
    });
    let config = ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    };
    proptest!(config, |(text in hostile(), other in hostile())| {
        let (on_postgres, on_memory) = runtime.block_on(async {
            (case(&*postgres, creator, &text, &other).await, case(&*memory, creator, &text, &other).await)
        });
        prop_assert_eq!(on_postgres, on_memory, "text {:?}, other {:?}", text, other);
    });
}
