//! Races between parties at different isolation levels: pool calls, and calls inside caller
//! transactions at READ COMMITTED, REPEATABLE READ and SERIALIZABLE, in every pairing.
//!
//! Each scenario runs in two ways. Released together: both parties open their transactions and
//! take their snapshots, then make their calls at once. In a fixed order: one party takes its
//! snapshot, the other party's call commits, and only then does the first party call. The fixed
//! order shows the hole without luck: with the lock rows left out (the statements as they were
//! before them), every pairing with a snapshot-isolated holder breaks an invariant, and the test
//! asserts that it does. After every round every invariant holds and every error is typed.

use deadpool_postgres::Pool;
use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, RetryScope, Role,
    TenancyError, TenancyStore, TransferOwnership,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{TestDatabase, Weakening, violations, weakened};
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;
use tokio_postgres::IsolationLevel;

use crate::support::{database, server};
use flametrench_tenancy_core::{AdminRemove, ChangeRole, MemberAction, OrgAction, SelfLeave};

/// Who makes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    /// A pool call: its own READ COMMITTED transaction.
    Pool,
    /// Inside a caller's transaction at this level.
    Caller(Level),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Level {
    fn driver(self) -> IsolationLevel {
        match self {
            Self::ReadCommitted => IsolationLevel::ReadCommitted,
            Self::RepeatableRead => IsolationLevel::RepeatableRead,
            Self::Serializable => IsolationLevel::Serializable,
        }
    }

    fn snapshot_isolated(self) -> bool {
        self != Self::ReadCommitted
    }
}

const PARTIES: [Party; 4] = [
    Party::Pool,
    Party::Caller(Level::ReadCommitted),
    Party::Caller(Level::RepeatableRead),
    Party::Caller(Level::Serializable),
];

/// One SDK call of a scenario.
#[derive(Debug, Clone)]
enum Call {
    SelfLeave(MemId),
    AddMember(OrgId, UsrId),
    RevokeOrg(OrgId),
    CreateInvitation(OrgId, UsrId),
    Transfer(OrgId, MemId, MemId),
    Accept(InvId, UsrId),
}

fn identifier() -> Identifier {
    Identifier::new("iso@example.com").expect("identifier")
}

async fn make<S: TenancyStore>(store: &S, call: &Call) -> Result<(), TenancyError> {
    match call {
        Call::SelfLeave(mem) => store.self_leave(SelfLeave::new(*mem)).await.map(drop),
        Call::AddMember(org, usr) => store
            .add_member(AddMember::new(*org, *usr, Role::Member))
            .await
            .map(drop),
        Call::RevokeOrg(org) => store.revoke_org(OrgAction::new(*org)).await.map(drop),
        Call::CreateInvitation(org, inviter) => store
            .create_invitation(
                CreateInvitation::new(
                    *org,
                    identifier(),
                    Role::Member,
                    *inviter,
                    OffsetDateTime::now_utc() + Duration::days(1),
                )
                .expect("invitation input"),
            )
            .await
            .map(drop),
        Call::Transfer(org, from, to) => store
            .transfer_ownership(TransferOwnership::new(*org, *from, *to))
            .await
            .map(drop),
        Call::Accept(inv, usr) => store
            .accept_invitation(AcceptInvitation::as_user(*inv, *usr, identifier()))
            .await
            .map(drop),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    TwoOwnersLeave,
    AddDuringRevoke,
    InviteDuringRevoke,
    OppositeTransfers,
    AcceptDuringRevoke,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::TwoOwnersLeave,
    Scenario::AddDuringRevoke,
    Scenario::InviteDuringRevoke,
    Scenario::OppositeTransfers,
    Scenario::AcceptDuringRevoke,
];

async fn user(store: &PostgresTenancyStore<'static, 'static>) -> UsrId {
    let id = UsrId::new();
    store.ensure_user(id).await.expect("ensure_user");
    id
}

/// Sets up a fresh org for `scenario` and returns its two calls.
async fn setup(store: &PostgresTenancyStore<'static, 'static>, scenario: Scenario) -> [Call; 2] {
    let alice = user(store).await;
    let created = store.create_org(CreateOrg::new(alice)).await.expect("org");
    let (org, owner) = (created.org.id, created.owner_membership.id);
    match scenario {
        Scenario::TwoOwnersLeave | Scenario::OppositeTransfers => {
            let bob = user(store).await;
            let second = store
                .add_member(AddMember::new(org, bob, Role::Owner))
                .await
                .expect("second owner")
                .id;
            if scenario == Scenario::OppositeTransfers {
                return [
                    Call::Transfer(org, owner, second),
                    Call::Transfer(org, second, owner),
                ];
            }
            let carol = user(store).await;
            store
                .add_member(AddMember::new(org, carol, Role::Member))
                .await
                .expect("member");
            [Call::SelfLeave(owner), Call::SelfLeave(second)]
        }
        Scenario::AddDuringRevoke => [
            Call::AddMember(org, user(store).await),
            Call::RevokeOrg(org),
        ],
        Scenario::InviteDuringRevoke => [Call::CreateInvitation(org, alice), Call::RevokeOrg(org)],
        Scenario::AcceptDuringRevoke => {
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
            [
                Call::Accept(invitation, user(store).await),
                Call::RevokeOrg(org),
            ]
        }
    }
}

/// What a party's call gave, with what the party was.
struct Outcome {
    party: Party,
    result: Result<(), TenancyError>,
}

/// Checks that an error is a typed SDK error, and that a conflict names the scope the party
/// must retry.
fn assert_typed(outcome: &Outcome, context: &str) {
    let Err(error) = &outcome.result else {
        return;
    };
    assert_ne!(
        error.code(),
        "storage.backend",
        "{context}: untyped error {error:?}"
    );
    assert!(
        !matches!(
            error.code(),
            "storage.connection_lost" | "storage.commit_outcome_unknown"
        ),
        "{context}: {error:?}"
    );
    if let TenancyError::RetryableConflict { scope, .. } = error {
        let expected = match outcome.party {
            Party::Caller(level) if level.snapshot_isolated() => RetryScope::Transaction,
            _ => RetryScope::Call,
        };
        assert_eq!(*scope, expected, "{context}: {error:?}");
    }
}

/// The stores a round uses: a pool store, and raw connections for caller transactions.
struct Rig {
    store: PostgresTenancyStore<'static, 'static>,
    clients: Pool,
    weakening: Option<Weakening>,
}

impl Rig {
    fn new(db: &TestDatabase, weakening: Option<Weakening>) -> Self {
        let store = PostgresTenancyStore::new(db.pool(4).expect("pool"));
        let store = match weakening {
            Some(weakening) => weakened(store, "public", weakening),
            None => store,
        };
        Self {
            store,
            clients: db.pool(4).expect("client pool"),
            weakening,
        }
    }
}

/// A party's whole turn: open its transaction and take its snapshot, wait for `go`, make the
/// call, then finish its transaction (commit after success, roll back after an error; a
/// SERIALIZABLE commit may itself fail, which rolls back and is the caller's to retry).
async fn turn(rig: &Rig, party: Party, call: &Call, snapshot: &Barrier, go: &Barrier) -> Outcome {
    let Party::Caller(level) = party else {
        snapshot.wait().await;
        go.wait().await;
        let result = make(&rig.store, call).await;
        return Outcome { party, result };
    };
    let mut client = rig.clients.get().await.expect("connection");
    let mut tx = client
        .build_transaction()
        .isolation_level(level.driver())
        .start()
        .await
        .expect("begin");
    // The handler's own read: at REPEATABLE READ and SERIALIZABLE it fixes the snapshot.
    tx.query_one("SELECT count(*) FROM org", &[])
        .await
        .expect("snapshot");
    snapshot.wait().await;
    go.wait().await;
    let result = {
        let store = PostgresTenancyStore::in_transaction(&mut tx);
        let store = match rig.weakening {
            Some(weakening) => weakened(store, "public", weakening),
            None => store,
        };
        make(&store, call).await
    };
    match &result {
        Ok(()) => {
            // A serializable commit may fail: the transaction is then rolled back.
            let _ = tx.commit().await;
        }
        Err(_) => tx.rollback().await.expect("rollback"),
    }
    Outcome { party, result }
}

/// Released together: both parties take their snapshots, then call at once.
async fn together(rig: &Rig, parties: [Party; 2], calls: &[Call; 2]) -> [Outcome; 2] {
    let snapshot = Barrier::new(2);
    let go = Barrier::new(2);
    let (left, right) = tokio::join!(
        turn(rig, parties[0], &calls[0], &snapshot, &go),
        turn(rig, parties[1], &calls[1], &snapshot, &go),
    );
    [left, right]
}

/// In a fixed order: `parties[0]` takes its snapshot, `parties[1]`'s call commits, then
/// `parties[0]` calls.
async fn fixed(rig: &Rig, parties: [Party; 2], calls: &[Call; 2]) -> [Outcome; 2] {
    let snapshot = Barrier::new(2);
    let go = Barrier::new(2);
    let holder = turn(rig, parties[0], &calls[0], &snapshot, &go);
    let other = async {
        snapshot.wait().await;
        let outcome = turn(
            rig,
            parties[1],
            &calls[1],
            &Barrier::new(1),
            &Barrier::new(1),
        )
        .await;
        go.wait().await;
        outcome
    };
    let (first, second) = tokio::join!(holder, other);
    [first, second]
}

fn context(scenario: Scenario, parties: [Party; 2], how: &str) -> String {
    format!("{scenario:?} {how}, {:?} ∥ {:?}", parties[0], parties[1])
}

async fn check_round(observer: &tokio_postgres::Client, outcomes: &[Outcome; 2], context: &str) {
    for outcome in outcomes {
        assert_typed(outcome, context);
    }
    assert_eq!(
        violations(observer).await.expect("invariant queries"),
        Vec::<String>::new(),
        "{context}: {:?}",
        outcomes
            .iter()
            .map(|o| o.result.as_ref().map_err(|e| e.code()))
            .collect::<Vec<_>>()
    );
}

fn trials() -> usize {
    std::env::var("ISOLATION_TRIALS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pairing_keeps_every_invariant_released_together() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let rig = Rig::new(&db, None);
    for scenario in SCENARIOS {
        for left in PARTIES {
            for right in PARTIES {
                for _ in 0..trials() {
                    let calls = setup(&rig.store, scenario).await;
                    let outcomes = together(&rig, [left, right], &calls).await;
                    check_round(
                        &observer,
                        &outcomes,
                        &context(scenario, [left, right], "together"),
                    )
                    .await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pairing_keeps_every_invariant_in_a_fixed_order() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    let rig = Rig::new(&db, None);
    for scenario in SCENARIOS {
        for holder in PARTIES {
            for other in PARTIES {
                // Each call of the scenario takes its turn as the holder of the old snapshot.
                for flip in [false, true] {
                    let [a, b] = setup(&rig.store, scenario).await;
                    let calls = if flip { [b, a] } else { [a, b] };
                    let outcomes = fixed(&rig, [holder, other], &calls).await;
                    let how = format!("fixed order, holder calls {:?}", calls[0]);
                    check_round(
                        &observer,
                        &outcomes,
                        &context(scenario, [holder, other], &how),
                    )
                    .await;
                    // The other party committed first on a current view: it never conflicts.
                    assert!(
                        !matches!(
                            outcomes[1].result,
                            Err(TenancyError::RetryableConflict { .. })
                        ),
                        "{how}: {:?}",
                        outcomes[1].result
                    );
                    // A snapshot-isolated holder whose snapshot missed a write to the org
                    // is told to restart its transaction, or was refused by a rule.
                    if let (Party::Caller(level), Ok(())) = (holder, &outcomes[1].result) {
                        if level.snapshot_isolated() {
                            assert!(
                                outcomes[0].result.is_err(),
                                "{}: the holder decided on a snapshot older than the other \
                                 party's commit",
                                context(scenario, [holder, other], &how)
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The fixed-order cases the lock-only statements break: a snapshot-isolated holder makes the
/// call whose decision depends on what the other party wrote.
fn breaking_cases() -> Vec<(Scenario, bool)> {
    vec![
        (Scenario::TwoOwnersLeave, false),
        (Scenario::TwoOwnersLeave, true),
        // The holder revokes the org after the other party added or invited. (After an
        // acceptance, the holder's cascade updates the accepted invitation's row, which was
        // changed after its snapshot, so the server refuses it even without lock rows; and
        // opposite transfers both rewrite the same membership rows.)
        (Scenario::AddDuringRevoke, true),
        (Scenario::InviteDuringRevoke, true),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lock_only_statements_the_fixed_order_breaks_invariants() {
    let server = server().await;
    for (scenario, flip) in breaking_cases() {
        for holder in [Level::RepeatableRead, Level::Serializable] {
            for other in [Party::Pool, Party::Caller(Level::ReadCommitted)] {
                // A database per case, so each violation is this case's.
                let db = database(&server).await;
                let observer = db.connect().await.expect("observer");
                let rig = Rig::new(&db, Some(Weakening::LockOnly));
                let [a, b] = setup(&rig.store, scenario).await;
                let calls = if flip { [b, a] } else { [a, b] };
                let parties = [Party::Caller(holder), other];
                let outcomes = fixed(&rig, parties, &calls).await;
                let found = violations(&observer).await.expect("invariant queries");
                assert!(
                    !found.is_empty(),
                    "{}: lock-only statements should break an invariant here; outcomes {:?}",
                    context(scenario, parties, "fixed order"),
                    outcomes
                        .iter()
                        .map(|o| o.result.as_ref().map_err(|e| e.code()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

async fn org_row(observer: &tokio_postgres::Client, org: OrgId) -> String {
    observer
        .query_one(
            "SELECT row_to_json(o)::text FROM org o WHERE id = $1",
            &[&org.as_uuid()],
        )
        .await
        .expect("org row")
        .get(0)
}

/// An adopted schema may rewrite `org.updated_at` on every update of `org`. The lock rows live
/// in the SDK's own table, so no membership or invitation write updates `org`: every column of
/// the org row stays as it was, while the org's lock row counts each write.
#[tokio::test]
async fn lock_rows_leave_the_org_row_and_its_triggers_alone() {
    let server = server().await;
    let db = database(&server).await;
    let observer = db.connect().await.expect("observer");
    observer
        .batch_execute(
            "CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$; \
             CREATE TRIGGER org_touch BEFORE UPDATE ON org \
             FOR EACH ROW EXECUTE FUNCTION touch_updated_at();",
        )
        .await
        .expect("an adopter's trigger");
    let store = PostgresTenancyStore::new(db.pool(2).expect("pool"));
    let alice = user(&store).await;
    let created = store.create_org(CreateOrg::new(alice)).await.expect("org");
    let org = created.org.id;
    let before = org_row(&observer, org).await;
    let (bob, carol, dave) = (user(&store).await, user(&store).await, user(&store).await);
    let bob_mem = store
        .add_member(AddMember::new(org, bob, Role::Member))
        .await
        .expect("add")
        .id;
    let bob_mem = store
        .change_role(ChangeRole::new(bob_mem, Role::Admin))
        .await
        .expect("change_role")
        .id;
    let bob_mem = store
        .suspend_membership(MemberAction::new(bob_mem))
        .await
        .expect("suspend")
        .id;
    let bob_mem = store
        .reinstate_membership(MemberAction::new(bob_mem))
        .await
        .expect("reinstate")
        .id;
    let transferred = store
        .transfer_ownership(TransferOwnership::new(
            org,
            created.owner_membership.id,
            bob_mem,
        ))
        .await
        .expect("transfer");
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier(),
                Role::Member,
                bob,
                OffsetDateTime::now_utc() + Duration::days(1),
            )
            .expect("invitation input"),
        )
        .await
        .expect("invite")
        .id;
    let accepted = store
        .accept_invitation(AcceptInvitation::as_user(invitation, carol, identifier()))
        .await
        .expect("accept");
    store
        .admin_remove(AdminRemove::new(accepted.membership.id, bob))
        .await
        .expect("admin_remove");
    store
        .add_member(AddMember::new(org, dave, Role::Member))
        .await
        .expect("add");
    store
        .self_leave(SelfLeave::new(transferred.from_membership.id))
        .await
        .expect("self_leave");
    assert_eq!(
        org_row(&observer, org).await,
        before,
        "the org row was rewritten"
    );
    let version: i64 = observer
        .query_one(
            "SELECT version FROM ft_org_lock WHERE org_id = $1",
            &[&org.as_uuid()],
        )
        .await
        .expect("the org's lock row")
        .get(0);
    assert_eq!(version, 10, "one lock-row version per write");
    // The org's own writes do update the row, and the adopter's trigger sees them.
    store
        .suspend_org(OrgAction::new(org))
        .await
        .expect("suspend_org");
    assert_ne!(org_row(&observer, org).await, before);
}
