//! For every mutating operation, over a pool and inside a caller's transaction: the connection
//! is cut after the k-th client message for every k the operation sends (learned from a dry
//! run). Over a pool, every cut of a write that creates a row or runs in a transaction ends in a
//! definite outcome that matches the database (a lost commit is resolved on another connection,
//! then returned or retried); the in-place updates done in autocommit may end in
//! `storage.commit_outcome_unknown`. Each time the database holds all of the operation's effect
//! or none of it, the invariants hold, and the pool serves the next call.

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Op, OrgName, Patch,
    Result, Role, TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{PgProxy, TestDatabase, violations};
use time::{Duration, OffsetDateTime};

use crate::support::server;
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};

/// The rows every operation starts from.
struct Setup {
    users: Vec<uuid::Uuid>,
    fresh: UsrId,
    alice: UsrId,
    carol: UsrId,
    org: OrgId,
    suspended_org: OrgId,
    owner: MemId,
    bob: MemId,
    dave_suspended: MemId,
    invitation: InvId,
}

fn identifier() -> Identifier {
    Identifier::new("carol@example.com").expect("identifier")
}

async fn setup<S: TenancyStore>(store: &S) -> Setup {
    let [alice, bob, carol, dave] = [UsrId::new(), UsrId::new(), UsrId::new(), UsrId::new()];
    for user in [alice, bob, carol, dave] {
        store.ensure_user(user).await.expect("user");
    }
    let created = store.create_org(CreateOrg::new(alice)).await.expect("org");
    let suspended_org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    store
        .suspend_org(OrgAction::new(suspended_org))
        .await
        .expect("suspend");
    let org = created.org.id;
    let bob = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("bob")
        .id;
    let dave = store
        .add_member(AddMember::new(org, dave, Role::Guest))
        .await
        .expect("dave")
        .id;
    store
        .suspend_membership(MemberAction::new(dave))
        .await
        .expect("suspend dave");
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier(),
                Role::Member,
                alice,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation input"),
        )
        .await
        .expect("invitation")
        .id;
    let fresh = UsrId::new();
    let users = [alice, carol, fresh]
        .iter()
        .map(|user| user.as_uuid())
        .collect();
    Setup {
        users,
        fresh,
        alice,
        carol,
        org,
        suspended_org,
        owner: created.owner_membership.id,
        bob,
        dave_suspended: dave,
        invitation,
    }
}

async fn run_op<S: TenancyStore>(store: &S, setup: &Setup, op: Op) -> Result<()> {
    let expires = OffsetDateTime::now_utc() + Duration::days(1);
    match op {
        Op::EnsureUser => store.ensure_user(setup.fresh).await,
        Op::CreateOrg => store
            .create_org(CreateOrg::new(setup.alice))
            .await
            .map(drop),
        Op::UpdateOrg => store
            .update_org(
                UpdateOrg::new(setup.org).name(Patch::Set(OrgName::new("Renamed").expect("name"))),
            )
            .await
            .map(drop),
        Op::SuspendOrg => store.suspend_org(OrgAction::new(setup.org)).await.map(drop),
        Op::ReinstateOrg => store
            .reinstate_org(OrgAction::new(setup.suspended_org))
            .await
            .map(drop),
        Op::RevokeOrg => store.revoke_org(OrgAction::new(setup.org)).await.map(drop),
        Op::AddMember => store
            .add_member(AddMember::new(setup.org, setup.carol, Role::Admin))
            .await
            .map(drop),
        Op::ChangeRole => store
            .change_role(ChangeRole::new(setup.bob, Role::Admin))
            .await
            .map(drop),
        Op::SuspendMembership => store
            .suspend_membership(MemberAction::new(setup.bob))
            .await
            .map(drop),
        Op::ReinstateMembership => store
            .reinstate_membership(MemberAction::new(setup.dave_suspended))
            .await
            .map(drop),
        Op::SelfLeave => store.self_leave(SelfLeave::new(setup.bob)).await.map(drop),
        Op::AdminRemove => store
            .admin_remove(AdminRemove::new(setup.bob, setup.alice))
            .await
            .map(drop),
        Op::TransferOwnership => store
            .transfer_ownership(TransferOwnership::new(setup.org, setup.owner, setup.bob))
            .await
            .map(drop),
        Op::CreateInvitation => store
            .create_invitation(
                CreateInvitation::new(setup.org, identifier(), Role::Guest, setup.alice, expires)
                    .expect("invitation input"),
            )
            .await
            .map(drop),
        Op::AcceptInvitation => store
            .accept_invitation(AcceptInvitation::as_user(
                setup.invitation,
                setup.carol,
                identifier(),
            ))
            .await
            .map(drop),
        Op::DeclineInvitation => store
            .decline_invitation(DeclineInvitation::new(setup.invitation).as_user(setup.carol))
            .await
            .map(drop),
        Op::RevokeInvitation => store
            .revoke_invitation(RevokeInvitation::new(setup.invitation, setup.alice))
            .await
            .map(drop),
        Op::GetOrg
        | Op::ListOrgs
        | Op::GetMembership
        | Op::ListMembers
        | Op::ListMembershipsForUser
        | Op::GetInvitation
        | Op::ListInvitations
        | Op::ListTuplesForSubject
        | Op::ListTuplesForObject
        | Op::ListTuplesBySubject
        | Op::ListTuplesByObject
        | Op::ActiveMembership
        | Op::OrgAccess
        | Op::CheckAny => {
            unreachable!("{op} is a read: the matrix cuts writes")
        }
    }
}

/// The shape of this setup's data: counts per table, status and role over its users and the
/// orgs they belong to (ids and times differ run to run; other setups share the database).
async fn signature(client: &tokio_postgres::Client, setup: &Setup) -> Vec<String> {
    let rows = client
        .query(
            "WITH orgs AS (SELECT DISTINCT org_id AS id FROM mem WHERE usr_id = ANY($1))
             SELECT 'usr', status, '', count(*) FROM usr WHERE id = ANY($1) GROUP BY status
             UNION ALL SELECT 'org', status, coalesce(name, ''), count(*) FROM org
                 WHERE id IN (SELECT id FROM orgs) GROUP BY status, name
             UNION ALL SELECT 'mem', status, role, count(*) FROM mem
                 WHERE org_id IN (SELECT id FROM orgs) GROUP BY status, role
             UNION ALL SELECT 'inv', status, role, count(*) FROM inv
                 WHERE org_id IN (SELECT id FROM orgs) GROUP BY status, role
             UNION ALL SELECT 'tup', object_type, relation, count(*) FROM tup
                 WHERE subject_id = ANY($1) GROUP BY object_type, relation",
            &[&setup.users],
        )
        .await
        .expect("signature");
    let mut out: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "{} {} {} {}",
                row.get::<_, &str>(0),
                row.get::<_, &str>(1),
                row.get::<_, &str>(2),
                row.get::<_, i64>(3)
            )
        })
        .collect();
    out.sort();
    out
}

fn proxied_pool(proxy: &PgProxy, db: &TestDatabase) -> deadpool_postgres::Pool {
    flametrench_tenancy_postgres::testing::pool_for(proxy.config_for(&db.config()), 1)
        .expect("pool")
}

/// New setup rows in the shared database, and their signature before the operation.
async fn prepared(
    direct: &PostgresTenancyStore<'static, 'static>,
    observer: &tokio_postgres::Client,
) -> (Setup, Vec<String>) {
    let setup = setup(direct).await;
    let before = signature(observer, &setup).await;
    (setup, before)
}

#[tokio::test]
async fn every_cut_is_all_or_nothing() {
    let server = server().await;
    let db = server.fresh_database().await.expect("database");
    let observer = db.connect().await.expect("observer");
    let direct = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    // Every write of the operation table.
    for &op in Op::ALL.iter().filter(|op| op.is_write()) {
        // Dry run, over a pool: the messages the operation sends and the state it leaves.
        let (setup, _) = prepared(&direct, &observer).await;
        let pool = proxied_pool(&proxy, &db);
        drop(pool.get().await.expect("connect"));
        let store = PostgresTenancyStore::new(pool);
        proxy.reset();
        run_op(&store, &setup, op)
            .await
            .unwrap_or_else(|error| panic!("dry run of {op}: {error:?}"));
        let messages = proxy.stats().messages;
        let after = signature(&observer, &setup).await;

        for k in 0..messages {
            // Over a pool. `after` was measured on another setup: compare shapes, not ids.
            let (setup, before) = prepared(&direct, &observer).await;
            let pool = proxied_pool(&proxy, &db);
            drop(pool.get().await.expect("connect"));
            let store = PostgresTenancyStore::new(pool);
            proxy.cut_after_client_messages(Some(k));
            let result = run_op(&store, &setup, op).await;
            proxy.cut_after_client_messages(None);
            let now = signature(&observer, &setup).await;
            // Every lost commit is resolved: by the transaction's id when it came back, else
            // by the marks the write leaves (its new rows, or the status, actor and time it
            // stamped), repeating the call when they are absent.
            assert!(result.is_ok(), "{op} cut at {k}: a cut ended in {result:?}");
            match &result {
                Ok(()) => assert_eq!(
                    now, after,
                    "{op} cut at {k} succeeded but the effect is not whole"
                ),
                Err(error) => {
                    assert!(
                        matches!(
                            error.code(),
                            "storage.connection_lost" | "storage.commit_outcome_unknown"
                        ),
                        "{op} cut at {k}: {error:?}"
                    );
                    if error.code() == "storage.connection_lost" {
                        assert_eq!(
                            now, before,
                            "{op} cut at {k} reported no effect but left some"
                        );
                    } else {
                        assert!(
                            now == before || now == after,
                            "{op} cut at {k}: partial effect"
                        );
                    }
                }
            }
            assert_eq!(
                violations(&observer).await.expect("invariants"),
                Vec::<String>::new(),
                "{op} cut at {k}"
            );
            store
                .get_org(setup.org)
                .await
                .unwrap_or_else(|error| panic!("{op} cut at {k}: next call failed: {error:?}"));

            // Inside a caller's transaction on a proxied connection.
            let (setup, before) = prepared(&direct, &observer).await;
            let (mut client, connection) = proxy
                .config_for(&db.config())
                .connect(tokio_postgres::NoTls)
                .await
                .expect("client");
            tokio::spawn(connection);
            let mut tx = client.transaction().await.expect("begin");
            proxy.cut_after_client_messages(Some(k));
            let result = {
                let nested = PostgresTenancyStore::in_transaction(&mut tx);
                run_op(&nested, &setup, op).await
            };
            let committed = tx.commit().await.is_ok();
            proxy.cut_after_client_messages(None);
            if let Err(error) = &result {
                assert!(error.is_storage(), "nested {op} cut at {k}: {error:?}");
            }
            let now = signature(&observer, &setup).await;
            if committed && result.is_ok() {
                assert_eq!(
                    now, after,
                    "nested {op} cut at {k}: committed a partial effect"
                );
            } else {
                assert_eq!(
                    now, before,
                    "nested {op} cut at {k}: effect without a commit"
                );
            }
            assert_eq!(
                violations(&observer).await.expect("invariants"),
                Vec::<String>::new()
            );
        }
    }
}
