//! Round trips per operation, counted by the proxy: one per operation with a pool once the
//! connection has prepared its statements, on success and on a precondition failure, and no
//! more inside a caller's transaction when the call succeeds.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Cursor, EntityType, Identifier,
    ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs, ListTuplesByObject,
    ListTuplesBySubject, Op, OrgName, Patch, PreTuple, Relation, Role, TenancyStore,
    TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::PgProxy;
use time::{Duration, OffsetDateTime};

use crate::support::{database, server};
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};

/// Which forms of the calls a pass measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forms {
    /// Unscoped, authorized by the caller.
    Plain,
    /// Scoped to the org (`in_org`, the scoped reads) and actor-checked (`by`) wherever the
    /// operation takes it: the org and the actor are decided in the same flight.
    ScopedChecked,
}

/// One operation's call as the proxy saw it.
struct Seen {
    op: &'static str,
    round_trips: u64,
    sql: Vec<String>,
}

/// Runs every operation once, in `forms`, recording the round trips and statements of each.
#[allow(clippy::too_many_lines)]
async fn measure<S: TenancyStore>(store: &S, proxy: &PgProxy, forms: Forms) -> Vec<Seen> {
    let mut seen = Vec::new();
    macro_rules! count {
        ($name:literal, $call:expr) => {{
            proxy.reset();
            let value = $call.await.expect($name);
            let stats = proxy.stats();
            seen.push(Seen {
                op: $name,
                round_trips: stats.round_trips,
                sql: stats.sql,
            });
            value
        }};
    }
    let (alice, bob, carol) = (UsrId::new(), UsrId::new(), UsrId::new());
    count!("ensure_user", store.ensure_user(alice));
    store.ensure_user(bob).await.expect("bob");
    store.ensure_user(carol).await.expect("carol");
    let created = count!("create_org", store.create_org(CreateOrg::new(alice)));
    let org = created.org.id;
    let checked = forms == Forms::ScopedChecked;
    let scope = checked.then_some(org);
    // The org-scoped and actor-checked forms, when measured.
    let member_action = |mem, actor| {
        let action = MemberAction::new(mem);
        if checked {
            action.in_org(org).by(actor)
        } else {
            action
        }
    };
    let org_action = |actor| {
        if checked {
            OrgAction::new(org).by(actor)
        } else {
            OrgAction::new(org)
        }
    };
    count!("get_org", store.get_org(org));
    count!(
        "update_org",
        store.update_org({
            let update = UpdateOrg::new(org).name(Patch::Set(OrgName::new("Acme").expect("name")));
            if checked { update.by(alice) } else { update }
        })
    );
    count!("list_orgs", store.list_orgs(ListOrgs::new()));
    let bob_mem = count!(
        "add_member",
        store.add_member({
            let add = AddMember::new(org, bob, Role::Member);
            if checked { add.by(alice) } else { add }
        })
    );
    count!("get_membership", store.get_membership(bob_mem.id, scope));
    count!("active_membership", store.active_membership(org, bob));
    count!("org_access", store.org_access(org, bob));
    count!(
        "check_any",
        store.check_any(
            EntityType::usr(),
            bob.as_uuid(),
            vec![
                Relation::new("owner").expect("relation"),
                Relation::new("member").expect("relation"),
            ],
            EntityType::org(),
            org.as_uuid(),
        )
    );
    count!(
        "list_memberships_for_user",
        store.list_memberships_for_user(ListMembershipsForUser::new(bob))
    );
    count!(
        "list_members",
        store.list_members(
            ListMembers::new(org).cursor(Some(Cursor::after(created.owner_membership.id)))
        )
    );
    let bob_mem = count!(
        "change_role",
        store.change_role({
            let change = ChangeRole::new(bob_mem.id, Role::Admin);
            if checked {
                change.in_org(org).by(alice)
            } else {
                change
            }
        })
    );
    count!(
        "suspend_membership",
        store.suspend_membership(member_action(bob_mem.id, alice))
    );
    count!(
        "reinstate_membership",
        store.reinstate_membership(member_action(bob_mem.id, alice))
    );
    let expires = OffsetDateTime::now_utc() + Duration::days(1);
    let identifier = Identifier::new("carol@example.com").expect("identifier");
    let invitation = count!(
        "create_invitation",
        store.create_invitation(
            CreateInvitation::new(org, identifier.clone(), Role::Member, alice, expires)
                .expect("invitation input")
                .pre_tuples([PreTuple::new(
                    "editor",
                    "proj",
                    "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"
                )
                .expect("pre")])
                .expect("pre_tuples"),
        )
    );
    count!("get_invitation", store.get_invitation(invitation.id, scope));
    count!(
        "list_invitations",
        store.list_invitations(ListInvitations::new(org))
    );
    let accepted = count!(
        "accept_invitation",
        store.accept_invitation({
            let accept = AcceptInvitation::as_user(invitation.id, carol, identifier.clone());
            if checked { accept.in_org(org) } else { accept }
        })
    );
    count!(
        "list_tuples_for_subject",
        store.list_tuples_for_subject(EntityType::usr(), carol.as_uuid())
    );
    count!(
        "list_tuples_for_object",
        store.list_tuples_for_object(EntityType::org(), org.as_uuid(), None)
    );
    count!(
        "list_tuples_by_subject",
        store.list_tuples_by_subject(
            ListTuplesBySubject::new(EntityType::usr(), carol.as_uuid()).limit(1)
        )
    );
    count!(
        "list_tuples_by_object",
        store.list_tuples_by_object(
            ListTuplesByObject::new(EntityType::org(), org.as_uuid())
                .relation(Relation::new("member").expect("relation"))
        )
    );
    count!(
        "admin_remove",
        store.admin_remove({
            let remove = AdminRemove::new(accepted.membership.id, bob);
            if checked { remove.in_org(org) } else { remove }
        })
    );
    let moved = count!(
        "transfer_ownership",
        store.transfer_ownership({
            let transfer = TransferOwnership::new(org, created.owner_membership.id, bob_mem.id);
            if checked {
                transfer.by(alice)
            } else {
                transfer
            }
        })
    );
    count!(
        "self_leave",
        store.self_leave({
            let leave = SelfLeave::new(moved.from_membership.id);
            if checked {
                leave.in_org(org).by(alice)
            } else {
                leave
            }
        })
    );
    // After the transfer, bob owns the org and holds invitation authority.
    let declined = store
        .create_invitation(
            CreateInvitation::new(org, identifier.clone(), Role::Member, bob, expires)
                .expect("invitation input"),
        )
        .await
        .expect("invite");
    count!(
        "decline_invitation",
        store.decline_invitation({
            let decline = DeclineInvitation::new(declined.id);
            if checked {
                decline.in_org(org).by(carol).bound_to(identifier.clone())
            } else {
                decline
            }
        })
    );
    let revoked = store
        .create_invitation(
            CreateInvitation::new(org, identifier, Role::Member, bob, expires)
                .expect("invitation input"),
        )
        .await
        .expect("invite");
    count!(
        "revoke_invitation",
        store.revoke_invitation({
            let revoke = RevokeInvitation::new(revoked.id, bob);
            if checked { revoke.in_org(org) } else { revoke }
        })
    );
    // After the transfer, bob owns the org.
    count!("suspend_org", store.suspend_org(org_action(bob)));
    count!("reinstate_org", store.reinstate_org(org_action(bob)));
    count!("revoke_org", store.revoke_org(org_action(bob)));
    seen
}

/// Every operation is one flight with a pool.
fn budget(_op: &str) -> u64 {
    1
}

/// Runs each single-org write once where a precondition refuses it, recording the round
/// trips of each refusal.
async fn measure_refusals<S: TenancyStore>(store: &S, proxy: &PgProxy) -> Vec<(&'static str, u64)> {
    let mut seen = Vec::new();
    macro_rules! refused {
        ($name:literal, $code:literal, $call:expr) => {{
            proxy.reset();
            let error = $call.await.expect_err($name);
            assert_eq!(error.code(), $code, "{}: {error:?}", $name);
            seen.push(($name, proxy.stats().round_trips));
        }};
    }
    let (alice, bob, stranger) = (UsrId::new(), UsrId::new(), UsrId::new());
    store.ensure_user(alice).await.expect("alice");
    store.ensure_user(bob).await.expect("bob");
    let created = store.create_org(CreateOrg::new(alice)).await.expect("org");
    let (org, owner) = (created.org.id, created.owner_membership.id);
    let bob_mem = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("bob");
    refused!(
        "create_org",
        "not_found",
        store.create_org(CreateOrg::new(stranger))
    );
    refused!(
        "change_role",
        "forbidden.sole_owner",
        store.change_role(ChangeRole::new(owner, Role::Member))
    );
    refused!(
        "suspend_membership",
        "forbidden.sole_owner",
        store.suspend_membership(MemberAction::new(owner))
    );
    refused!(
        "reinstate_membership",
        "precondition.invalid_transition",
        store.reinstate_membership(MemberAction::new(bob_mem.id))
    );
    refused!(
        "self_leave",
        "forbidden.sole_owner",
        store.self_leave(SelfLeave::new(owner))
    );
    refused!(
        "admin_remove",
        "forbidden",
        store.admin_remove(AdminRemove::new(owner, bob))
    );
    // Scoped to another org: not found, in the same single flight.
    let other = store
        .create_org(CreateOrg::new(bob))
        .await
        .expect("org")
        .org
        .id;
    refused!(
        "change_role",
        "not_found",
        store.change_role(
            ChangeRole::new(bob_mem.id, Role::Admin)
                .in_org(other)
                .by(bob)
        )
    );
    refused!(
        "suspend_membership",
        "not_found",
        store.suspend_membership(MemberAction::new(bob_mem.id).in_org(other))
    );
    refused!(
        "self_leave",
        "not_found",
        store.self_leave(SelfLeave::new(bob_mem.id).in_org(other))
    );
    refused!(
        "admin_remove",
        "not_found",
        store.admin_remove(AdminRemove::new(bob_mem.id, alice).in_org(other))
    );
    refused!(
        "get_membership",
        "not_found",
        store.get_membership(bob_mem.id, Some(other))
    );
    // Checked, by an actor without the authority: forbidden, in the same single flight.
    let dave = UsrId::new();
    store.ensure_user(dave).await.expect("dave");
    refused!(
        "change_role",
        "forbidden",
        store.change_role(ChangeRole::new(owner, Role::Member).in_org(org).by(bob))
    );
    refused!(
        "suspend_membership",
        "forbidden",
        store.suspend_membership(MemberAction::new(owner).by(bob))
    );
    refused!(
        "add_member",
        "forbidden",
        store.add_member(AddMember::new(org, dave, Role::Member).by(bob))
    );
    refused!(
        "update_org",
        "forbidden",
        store.update_org(UpdateOrg::new(org).by(bob))
    );
    refused!(
        "suspend_org",
        "forbidden",
        store.suspend_org(OrgAction::new(org).by(bob))
    );
    refused!(
        "revoke_org",
        "forbidden",
        store.revoke_org(OrgAction::new(org).by(bob))
    );
    refused!(
        "transfer_ownership",
        "forbidden",
        store.transfer_ownership(TransferOwnership::new(org, owner, bob_mem.id).by(bob))
    );
    refused!(
        "transfer_ownership",
        "precondition.from_not_owner",
        store.transfer_ownership(TransferOwnership::new(org, bob_mem.id, owner))
    );
    refused!(
        "create_invitation",
        "forbidden",
        store.create_invitation(
            CreateInvitation::new(
                org,
                Identifier::new("x@example.com").expect("identifier"),
                Role::Member,
                bob,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation")
        )
    );
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org,
                Identifier::new("y@example.com").expect("identifier"),
                Role::Member,
                alice,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation"),
        )
        .await
        .expect("invite");
    refused!(
        "revoke_invitation",
        "forbidden",
        store.revoke_invitation(RevokeInvitation::new(invitation.id, bob))
    );
    refused!(
        "accept_invitation",
        "precondition.identifier_mismatch",
        store.accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            bob,
            Identifier::new("z@example.com").expect("identifier"),
        ))
    );
    store
        .decline_invitation(DeclineInvitation::new(invitation.id))
        .await
        .expect("decline");
    refused!(
        "decline_invitation",
        "conflict.invitation_not_pending",
        store.decline_invitation(DeclineInvitation::new(invitation.id))
    );
    store
        .suspend_org(OrgAction::new(org))
        .await
        .expect("suspend org");
    refused!(
        "suspend_org",
        "precondition.invalid_transition",
        store.suspend_org(OrgAction::new(org))
    );
    refused!(
        "add_member",
        "precondition.org_not_active",
        store.add_member(AddMember::new(org, alice, Role::Member))
    );
    store
        .revoke_org(OrgAction::new(org))
        .await
        .expect("revoke org");
    refused!(
        "reinstate_org",
        "already_terminal",
        store.reinstate_org(OrgAction::new(org))
    );
    refused!(
        "revoke_org",
        "already_terminal",
        store.revoke_org(OrgAction::new(org))
    );
    refused!(
        "update_org",
        "already_terminal",
        store.update_org(UpdateOrg::new(org).name(Patch::Clear))
    );
    seen
}

#[tokio::test]
async fn pool_and_nested_round_trips_within_budget() {
    let server = server().await;
    let db = database(&server).await;
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    let config = proxy.config_for(&db.config());
    let pool = flametrench_tenancy_postgres::testing::pool_for(config.clone(), 1).expect("pool");
    drop(pool.get().await.expect("warm the pool"));
    let store = PostgresTenancyStore::new(pool);
    // The first pass prepares each statement once on the connection (one extra round trip per
    // flight the first time an operation runs on it); the budget holds from then on.
    let cold = measure(&store, &proxy, Forms::Plain).await;
    // Every operation of the table is measured.
    let mut measured: Vec<&str> = cold.iter().map(|seen| seen.op).collect();
    measured.sort_unstable();
    let mut all: Vec<&str> = Op::ALL.iter().map(|op| op.name()).collect();
    all.sort_unstable();
    assert_eq!(measured, all);
    for Seen {
        op,
        round_trips: trips,
        ..
    } in &cold
    {
        assert!(
            *trips <= 2 * budget(op),
            "{op} took {trips} round trips on a cold connection"
        );
    }
    // The scoped and checked forms prepare their own statements once, then hold the budget too.
    measure(&store, &proxy, Forms::ScopedChecked).await;
    let mut pooled = measure(&store, &proxy, Forms::Plain).await;
    pooled.extend(measure(&store, &proxy, Forms::ScopedChecked).await);
    let summary: Vec<(&str, u64)> = pooled.iter().map(|s| (s.op, s.round_trips)).collect();
    println!("pool round trips: {summary:?}");
    for Seen {
        op,
        round_trips: trips,
        ..
    } in &pooled
    {
        assert!(
            *trips <= budget(op),
            "{op} took {trips} round trips with a pool"
        );
        assert!(*trips >= 1, "{op} was not counted");
    }
    // A precondition failure costs the same single flight: its guard refused, and the facts
    // read in that flight say why. The first pass prepares the statements it has not met.
    measure_refusals(&store, &proxy).await;
    let refusals = measure_refusals(&store, &proxy).await;
    println!("pool round trips of refusals: {refusals:?}");
    for (op, trips) in &refusals {
        assert_eq!(
            *trips, 1,
            "{op} took {trips} round trips to refuse with a pool"
        );
    }

    let (mut client, connection) = config.connect(tokio_postgres::NoTls).await.expect("client");
    tokio::spawn(connection);
    let mut tx = client.transaction().await.expect("begin");
    let nested = {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let mut nested = measure(&store, &proxy, Forms::Plain).await;
        nested.extend(measure(&store, &proxy, Forms::ScopedChecked).await);
        nested
    };
    tx.rollback().await.expect("rollback");
    let summary: Vec<(&str, u64)> = nested.iter().map(|s| (s.op, s.round_trips)).collect();
    println!("nested round trips: {summary:?}");
    for Seen {
        op,
        round_trips: trips,
        sql,
    } in &nested
    {
        assert!(
            *trips <= budget(op),
            "{op} took {trips} round trips inside a transaction"
        );
        // Each call nests in one savepoint named after its method: `ft_<method>_<8 hex>`.
        let savepoints: Vec<&String> = sql
            .iter()
            .filter(|text| text.starts_with("SAVEPOINT "))
            .collect();
        assert_eq!(savepoints.len(), 1, "{op}: {sql:?}");
        let name = savepoints[0].trim_start_matches("SAVEPOINT ");
        let hex = name
            .strip_prefix(&format!("ft_{op}_"))
            .unwrap_or_else(|| panic!("{op} ran in savepoint {name}"));
        assert!(
            hex.len() == 8
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{op} ran in savepoint {name}"
        );
        assert!(
            sql.iter()
                .any(|text| text == &format!("RELEASE SAVEPOINT {name}")),
            "{op}: {sql:?}"
        );
    }
}

/// Pool transactions name their isolation level instead of inheriting the server's default:
/// here the database defaults to SERIALIZABLE, and every transaction the pool store opens says
/// READ COMMITTED on the wire (the proxy logs each statement's text when it is parsed).
#[tokio::test]
async fn pool_transactions_choose_read_committed() {
    let server = server().await;
    let db = database(&server).await;
    let admin = db.connect().await.expect("admin");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_isolation = 'serializable'",
            db.name()
        ))
        .await
        .expect("default isolation");
    let proxy = PgProxy::start(&db.config()).await.expect("proxy");
    let pool = flametrench_tenancy_postgres::testing::pool_for(proxy.config_for(&db.config()), 1)
        .expect("pool");
    let store = PostgresTenancyStore::new(pool);
    let (alice, bob) = (UsrId::new(), UsrId::new());
    store.ensure_user(alice).await.expect("alice");
    store.ensure_user(bob).await.expect("bob");
    let org = store
        .create_org(CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    let member = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("add");
    proxy.reset();
    let member = store
        .change_role(ChangeRole::new(member.id, Role::Admin))
        .await
        .expect("change_role");
    store
        .suspend_membership(MemberAction::new(member.id))
        .await
        .expect("suspend");
    store
        .revoke_org(OrgAction::new(org))
        .await
        .expect("revoke_org");
    let sql = proxy.stats().sql;
    let begins: Vec<&String> = sql
        .iter()
        .filter(|text| text.trim_start().to_ascii_uppercase().starts_with("BEGIN"))
        .collect();
    // The proxy logs each statement's text when it is parsed, once per connection.
    assert!(!begins.is_empty(), "{sql:?}");
    for begin in begins {
        assert_eq!(begin.trim(), "BEGIN ISOLATION LEVEL READ COMMITTED");
    }
}
