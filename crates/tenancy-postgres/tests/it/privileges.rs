//! Least privilege: the store runs as a role with only row privileges on its five tables;
//! `migrate` needs the owner.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Role, TenancyStore,
};
use flametrench_tenancy_postgres::testing::TestPostgres;
use flametrench_tenancy_postgres::{PostgresTenancyStore, migrate};
use time::{Duration, OffsetDateTime};

use crate::support::{database, server};
use flametrench_tenancy_core::{ChangeRole, OrgAction};

#[tokio::test]
async fn the_store_needs_only_row_privileges() {
    let server = server().await;
    let db = database(&server).await;
    let role = format!("ft_app_{:08x}", uuid::Uuid::new_v4().as_u128() as u32);
    let owner = db.connect().await.expect("owner connection");
    owner
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON usr, org, mem, inv, tup TO {role};
             GRANT SELECT, INSERT, UPDATE ON ft_org_lock TO {role};"
        ))
        .await
        .expect("role and grants");
    let mut config = db.config();
    config.user(&role);
    let mut app = TestPostgres::connect(&config)
        .await
        .expect("connect as the app role");
    let is_superuser: bool = app
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .expect("role flags")
        .get(0);
    assert!(!is_superuser);

    let store = PostgresTenancyStore::new(
        flametrench_tenancy_postgres::testing::pool_for(config.clone(), 2).expect("pool"),
    );
    let (alice, bob, carol) = (UsrId::new(), UsrId::new(), UsrId::new());
    for user in [alice, bob, carol] {
        store
            .ensure_user(user)
            .await
            .expect("ensure_user as the app role");
    }
    let created = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("create_org");
    let member = store
        .add_member(AddMember::new(created.org.id, bob, Role::Member))
        .await
        .expect("add_member");
    store
        .change_role(ChangeRole::new(member.id, Role::Admin))
        .await
        .expect("change_role");
    let identifier = Identifier::new("carol@example.com").expect("identifier");
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                created.org.id,
                identifier.clone(),
                Role::Guest,
                alice,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation input"),
        )
        .await
        .expect("create_invitation");
    store
        .accept_invitation(AcceptInvitation::as_user(invitation.id, carol, identifier))
        .await
        .expect("accept");
    store
        .revoke_org(OrgAction::new(created.org.id))
        .await
        .expect("revoke_org");

    // The app role cannot run DDL, so migrations need the owner.
    let refused = migrate(&mut app, "public")
        .await
        .expect_err("migrate needs DDL rights");
    assert!(refused.is_storage(), "{refused:?}");
}
