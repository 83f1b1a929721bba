//! The guards held to the rules. Every guarded write states its rule a second time, in SQL;
//! these tests enumerate the combinations of what each write depends on (org status, member
//! statuses, roles and ranks, owner counts, other memberships, invitation status, expiry and
//! identifier binding), build each one with plain SQL, call the write through a pool, and look
//! at what it did:
//!
//! - with the real statements, every call either applies (and writes) or is refused with the
//!   rule's error (and writes nothing): the guard applied exactly when `decide` said yes, since
//!   any disagreement is reported as `storage.retryable_conflict`;
//! - with every guard refusing (`Weakening::GuardsRefuse`), every call the rule allows is that
//!   conflict, and writes nothing: a refused flight commits nothing but the org's lock row,
//!   though its `COMMIT` was in the same flight.

use std::collections::BTreeMap;

use flametrench_ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, Identifier, Role, TenancyError, TenancyStore,
    TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{Weakening, weakened};
use time::{Duration, OffsetDateTime};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::support::{database, server};
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};

const ROLES: [&str; 6] = ["owner", "admin", "member", "guest", "viewer", "editor"];
const STATUSES: [&str; 3] = ["active", "suspended", "revoked"];

fn role(name: &str) -> Role {
    name.parse().expect("a role")
}

/// What one call did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// It succeeded and wrote.
    Applied,
    /// It was refused with this code and wrote nothing.
    Refused(&'static str),
    /// The guard and the rule disagreed (`storage.retryable_conflict`); whether it wrote.
    Disagreed { wrote: bool },
    /// Anything else: a success that wrote nothing, a refusal that wrote.
    Broken(String),
}

/// Builds the rows of each combination with plain SQL, each in an org of its own.
struct Rows<'c> {
    client: &'c Client,
    /// An hour ago: every row is older than the calls.
    then: OffsetDateTime,
}

impl Rows<'_> {
    async fn user(&self) -> UsrId {
        let id = UsrId::new();
        self.client
            .execute(
                "INSERT INTO usr (id, status, created_at, updated_at) VALUES ($1, 'active', $2, $2)",
                &[&id.as_uuid(), &self.then],
            )
            .await
            .expect("user");
        id
    }

    async fn org(&self, status: &str) -> OrgId {
        let id = OrgId::new();
        self.client
            .execute(
                "INSERT INTO org (id, status, created_at, updated_at) VALUES ($1, $2, $3, $3)",
                &[&id.as_uuid(), &status, &self.then],
            )
            .await
            .expect("org");
        id
    }

    /// A membership, with the tuple that mirrors it when it is active.
    async fn member(&self, org: OrgId, usr: UsrId, role: &str, status: &str) -> MemId {
        let id = MemId::new();
        self.client
            .execute(
                "INSERT INTO mem (id, usr_id, org_id, role, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
                &[
                    &id.as_uuid(),
                    &usr.as_uuid(),
                    &org.as_uuid(),
                    &role,
                    &status,
                    &self.then,
                ],
            )
            .await
            .expect("membership");
        if status == "active" {
            self.client
                .execute(
                    "INSERT INTO tup (id, subject_type, subject_id, relation, object_type, \
                     object_id, created_at) VALUES ($1, 'usr', $2, $3, 'org', $4, $5)",
                    &[
                        &flametrench_ids::TupId::new().as_uuid(),
                        &usr.as_uuid(),
                        &role,
                        &org.as_uuid(),
                        &self.then,
                    ],
                )
                .await
                .expect("tuple");
        }
        id
    }

    /// An invitation to `identifier` as `role`; `status` is `pending`, `expired` (pending, but
    /// past its expiry) or a terminal status.
    async fn invitation(&self, org: OrgId, by: UsrId, identifier: &str, status: &str) -> InvId {
        let id = InvId::new();
        let (stored, expires) = match status {
            "expired" => ("pending", self.then + Duration::minutes(1)),
            other => (other, self.then + Duration::days(2)),
        };
        let terminal = (stored != "pending").then_some(self.then + Duration::minutes(1));
        let pre_tuples = serde_json::json!([{
            "relation": "viewer", "object_type": "doc",
            "object_id": Uuid::now_v7().hyphenated().to_string(),
        }]);
        self.client
            .execute(
                "INSERT INTO inv (id, org_id, identifier, role, status, pre_tuples, invited_by, \
                 created_at, expires_at, terminal_at) \
                 VALUES ($1, $2, $3, 'member', $4, $5, $6, $7, $8, $9)",
                &[
                    &id.as_uuid(),
                    &org.as_uuid(),
                    &identifier,
                    &stored,
                    &pre_tuples,
                    &by.as_uuid(),
                    &self.then,
                    &expires,
                    &terminal,
                ],
            )
            .await
            .expect("invitation");
        id
    }

    /// Everything of one org, and the user and tuple counts: what a call may change.
    async fn digest(&self, org: OrgId) -> String {
        let row = self
            .client
            .query_one(
                "SELECT coalesce(md5(string_agg(t, '|' ORDER BY t)), '') || '/' || \
                 (SELECT count(*) FROM usr) || '/' || (SELECT count(*) FROM tup) FROM ( \
                 SELECT x::text t FROM org x WHERE id = $1 \
                 UNION ALL SELECT x::text FROM mem x WHERE org_id = $1 \
                 UNION ALL SELECT x::text FROM inv x WHERE org_id = $1 \
                 UNION ALL SELECT x::text FROM tup x WHERE object_id = $1) s",
                &[&org.as_uuid()],
            )
            .await
            .expect("digest");
        row.get(0)
    }
}

fn seen<T>(result: Result<T, TenancyError>, wrote: bool) -> Seen {
    match (result, wrote) {
        (Ok(_), true) => Seen::Applied,
        (Err(TenancyError::RetryableConflict { .. }), wrote) => Seen::Disagreed { wrote },
        (Err(error), false) => Seen::Refused(error.code()),
        (Ok(_), false) => Seen::Broken("succeeded but wrote nothing".into()),
        (Err(error), true) => Seen::Broken(format!("refused with {} but wrote", error.code())),
    }
}

/// Every combination of every guarded write, and what each call did, by operation.
async fn enumerate(store: &PostgresTenancyStore<'_, '_>, client: &Client) -> Vec<(String, Seen)> {
    let rows = Rows {
        client,
        then: OffsetDateTime::now_utc() - Duration::hours(1),
    };
    let mut out = Vec::new();
    macro_rules! call {
        ($org:expr, $case:expr, $call:expr) => {{
            let before = rows.digest($org).await;
            let result = $call.await;
            let wrote = rows.digest($org).await != before;
            out.push(($case, seen(result, wrote)));
        }};
    }
    for org_status in ["active", "suspended"] {
        for status in STATUSES {
            for target_role in ROLES {
                for second_owner in [false, true] {
                    // change_role, suspend_membership, self_leave: owners, status, role.
                    for new_role in ROLES {
                        let org = rows.org(org_status).await;
                        let usr = rows.user().await;
                        let mem = rows.member(org, usr, target_role, status).await;
                        if second_owner {
                            let other = rows.user().await;
                            rows.member(org, other, "owner", "active").await;
                        }
                        let case = format!(
                            "change_role {org_status} org, {status} {target_role}, second owner \
                             {second_owner}, to {new_role}"
                        );
                        call!(
                            org,
                            case,
                            store.change_role(ChangeRole::new(mem, role(new_role)))
                        );
                    }
                    let org = rows.org(org_status).await;
                    let usr = rows.user().await;
                    let mem = rows.member(org, usr, target_role, status).await;
                    if second_owner {
                        let other = rows.user().await;
                        rows.member(org, other, "owner", "active").await;
                    }
                    let case = format!(
                        "suspend_membership {org_status} org, {status} {target_role}, second \
                         owner {second_owner}"
                    );
                    call!(org, case, store.suspend_membership(MemberAction::new(mem)));
                    for heir in ["none", "self", "member", "suspended member", "stranger"] {
                        let org = rows.org(org_status).await;
                        let usr = rows.user().await;
                        let mem = rows.member(org, usr, target_role, status).await;
                        if second_owner {
                            let other = rows.user().await;
                            rows.member(org, other, "owner", "active").await;
                        }
                        let transfer_to = match heir {
                            "none" => None,
                            "self" => Some(usr),
                            "member" | "suspended member" => {
                                let heir_usr = rows.user().await;
                                let heir_status = if heir == "member" {
                                    "active"
                                } else {
                                    "suspended"
                                };
                                rows.member(org, heir_usr, "member", heir_status).await;
                                Some(heir_usr)
                            }
                            _ => Some(rows.user().await),
                        };
                        let case = format!(
                            "self_leave {org_status} org, {status} {target_role}, second owner \
                             {second_owner}, transfer to {heir}"
                        );
                        call!(
                            org,
                            case,
                            store.self_leave(SelfLeave::new(mem).transfer_to(transfer_to))
                        );
                    }
                }
                // reinstate_membership: org status, status, another active membership.
                for other_active in [false, true] {
                    if other_active && status == "active" {
                        continue;
                    }
                    let org = rows.org(org_status).await;
                    let usr = rows.user().await;
                    let mem = rows.member(org, usr, target_role, status).await;
                    if other_active {
                        rows.member(org, usr, "member", "active").await;
                    }
                    let case = format!(
                        "reinstate_membership {org_status} org, {status} {target_role}, other \
                         active {other_active}"
                    );
                    call!(
                        org,
                        case,
                        store.reinstate_membership(MemberAction::new(mem))
                    );
                }
                // admin_remove: the actor's role and status against the target's.
                for actor in ROLES
                    .iter()
                    .map(|role| (*role, "active"))
                    .chain([("admin", "suspended"), ("none", "none")])
                {
                    let org = rows.org(org_status).await;
                    let usr = rows.user().await;
                    let mem = rows.member(org, usr, target_role, status).await;
                    let admin = rows.user().await;
                    if actor.0 != "none" {
                        rows.member(org, admin, actor.0, actor.1).await;
                    }
                    let case = format!(
                        "admin_remove {org_status} org, {status} {target_role} by {} {}",
                        actor.1, actor.0
                    );
                    call!(org, case, store.admin_remove(AdminRemove::new(mem, admin)));
                }
            }
        }
        // transfer_ownership: both statuses, the from role, the same user, another org.
        for from_status in STATUSES {
            for from_role in ["owner", "admin"] {
                for to_status in STATUSES {
                    for to in ["member", "co-owner", "same user", "other org"] {
                        if to == "same user" && from_status == "active" && to_status == "active" {
                            // Two active memberships of one user in one org cannot exist.
                            continue;
                        }
                        let org = rows.org(org_status).await;
                        let usr = rows.user().await;
                        let from = rows.member(org, usr, from_role, from_status).await;
                        let to_mem = match to {
                            "same user" => rows.member(org, usr, "member", to_status).await,
                            "other org" => {
                                let elsewhere = rows.org("active").await;
                                let other = rows.user().await;
                                rows.member(elsewhere, other, "member", to_status).await
                            }
                            _ => {
                                let other = rows.user().await;
                                let to_role = if to == "co-owner" { "owner" } else { "member" };
                                rows.member(org, other, to_role, to_status).await
                            }
                        };
                        let case = format!(
                            "transfer_ownership {org_status} org, from {from_status} \
                             {from_role}, to {to_status} {to}"
                        );
                        call!(
                            org,
                            case,
                            store.transfer_ownership(TransferOwnership::new(org, from, to_mem))
                        );
                    }
                }
            }
        }
        // accept_invitation: its status and expiry, the binding, membership, org status.
        for inv_status in ["pending", "expired", "accepted", "declined", "revoked"] {
            for acceptor in [
                "new user",
                "matching",
                "mismatching",
                "no identifier",
                "member",
                "unknown",
            ] {
                let org = rows.org(org_status).await;
                let owner = rows.user().await;
                rows.member(org, owner, "owner", "active").await;
                let inv = rows
                    .invitation(org, owner, "pat@example.com", inv_status)
                    .await;
                let input = match acceptor {
                    "new user" => AcceptInvitation::new_user(inv),
                    "unknown" => AcceptInvitation::as_user(
                        inv,
                        UsrId::new(),
                        Identifier::new("pat@example.com").expect("identifier"),
                    ),
                    _ => {
                        let usr = rows.user().await;
                        if acceptor == "member" {
                            rows.member(org, usr, "member", "active").await;
                        }
                        let identifier = if acceptor == "mismatching" {
                            "sam@example.com"
                        } else {
                            "pat@example.com"
                        };
                        let mut input = AcceptInvitation::as_user(
                            inv,
                            usr,
                            Identifier::new(identifier).expect("identifier"),
                        );
                        if acceptor == "no identifier" {
                            input.accepting_identifier = None;
                        }
                        input
                    }
                };
                let case = format!("accept_invitation {org_status} org, {inv_status}, {acceptor}");
                call!(org, case, store.accept_invitation(input));
            }
        }
        // revoke_invitation and decline_invitation: status, the actor's authority.
        for inv_status in ["pending", "accepted", "declined", "revoked"] {
            for actor in ROLES.iter().copied().chain(["none", "unknown"]) {
                let org = rows.org(org_status).await;
                let owner = rows.user().await;
                rows.member(org, owner, "owner", "active").await;
                let inv = rows
                    .invitation(org, owner, "pat@example.com", inv_status)
                    .await;
                let usr = match actor {
                    "unknown" => UsrId::new(),
                    "none" => rows.user().await,
                    role => {
                        let usr = rows.user().await;
                        rows.member(org, usr, role, "active").await;
                        usr
                    }
                };
                let case = format!("revoke_invitation {org_status} org, {inv_status}, by {actor}");
                call!(
                    org,
                    case,
                    store.revoke_invitation(RevokeInvitation::new(inv, usr))
                );
                let inv = rows
                    .invitation(org, owner, "pat@example.com", inv_status)
                    .await;
                let case = format!("decline_invitation {org_status} org, {inv_status}, by {actor}");
                call!(
                    org,
                    case,
                    store.decline_invitation(DeclineInvitation::new(inv).as_user(usr))
                );
            }
        }
    }
    for org_status in STATUSES {
        // create_invitation: org status, the inviter's role, the invited role, expiry.
        for inviter in ROLES.iter().copied().chain(["none"]) {
            for invited in ROLES {
                for future in [true, false] {
                    let org = rows.org(org_status).await;
                    let usr = rows.user().await;
                    if inviter != "none" {
                        rows.member(org, usr, inviter, "active").await;
                    }
                    let expires = if future {
                        OffsetDateTime::now_utc() + Duration::days(1)
                    } else {
                        OffsetDateTime::now_utc() - Duration::minutes(1)
                    };
                    let input = CreateInvitation::new(
                        org,
                        Identifier::new("pat@example.com").expect("identifier"),
                        role(invited),
                        usr,
                        expires,
                    )
                    .expect("input");
                    let case = format!(
                        "create_invitation {org_status} org, by {inviter}, as {invited}, future \
                         {future}"
                    );
                    call!(org, case, store.create_invitation(input));
                }
            }
        }
        // add_member: org status, the user, a duplicate.
        for user in ["known", "unknown", "member"] {
            let org = rows.org(org_status).await;
            let usr = if user == "unknown" {
                UsrId::new()
            } else {
                rows.user().await
            };
            if user == "member" {
                rows.member(org, usr, "member", "active").await;
            }
            let case = format!("add_member {org_status} org, {user} user");
            call!(
                org,
                case,
                store.add_member(AddMember::new(org, usr, Role::Member))
            );
        }
        // The org's own writes.
        let org = rows.org(org_status).await;
        call!(
            org,
            format!("suspend_org {org_status}"),
            store.suspend_org(OrgAction::new(org))
        );
        let org = rows.org(org_status).await;
        call!(
            org,
            format!("reinstate_org {org_status}"),
            store.reinstate_org(OrgAction::new(org))
        );
        let org = rows.org(org_status).await;
        let owner = rows.user().await;
        rows.member(org, owner, "owner", "active").await;
        rows.invitation(org, owner, "pat@example.com", "pending")
            .await;
        call!(
            org,
            format!("revoke_org {org_status}"),
            store.revoke_org(OrgAction::new(org))
        );
        let org = rows.org(org_status).await;
        call!(
            org,
            format!("update_org {org_status}"),
            store.update_org(UpdateOrg::new(org).name(flametrench_tenancy_core::Patch::Clear))
        );
    }
    out
}

/// The operation a case names (its first word).
fn op_of(case: &str) -> &str {
    case.split(' ').next().unwrap_or(case)
}

#[tokio::test]
async fn every_guard_applies_exactly_when_its_rule_allows() {
    let server = server().await;
    let db = database(&server).await;
    let client = db.connect().await.expect("client");
    let store = PostgresTenancyStore::new(db.pool(2).expect("pool"));
    let seen = enumerate(&store, &client).await;
    let wrong: Vec<&(String, Seen)> = seen
        .iter()
        .filter(|(_, seen)| !matches!(seen, Seen::Applied | Seen::Refused(_)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases: {wrong:#?}",
        wrong.len(),
        seen.len()
    );
    // Every operation was seen both applying and refusing, so neither side is vacuous.
    let mut by_op: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (case, seen) in &seen {
        let entry = by_op.entry(op_of(case)).or_default();
        match seen {
            Seen::Applied => entry.0 += 1,
            _ => entry.1 += 1,
        }
    }
    println!(
        "{} cases; applied and refused by operation: {by_op:?}",
        seen.len()
    );
    assert_eq!(by_op.len(), 15, "{by_op:?}");
    for (op, (applied, refused)) in &by_op {
        assert!(
            *applied > 0 && *refused > 0,
            "{op}: {applied} applied, {refused} refused"
        );
    }
}

/// With every guard refusing, each call its rule allows is reported as a conflict, never as a
/// success, and its flight (with its `COMMIT`) wrote nothing; the enumeration above would
/// catch such a guard.
#[tokio::test]
async fn a_refused_flight_writes_nothing() {
    let server = server().await;
    let db = database(&server).await;
    let client = db.connect().await.expect("client");
    let store = weakened(
        PostgresTenancyStore::new(db.pool(2).expect("pool")),
        "public",
        Weakening::GuardsRefuse,
    );
    let seen = enumerate(&store, &client).await;
    let mut disagreed: BTreeMap<&str, usize> = BTreeMap::new();
    for (case, seen) in &seen {
        match seen {
            Seen::Refused(_) => {}
            Seen::Disagreed { wrote: false } => *disagreed.entry(op_of(case)).or_default() += 1,
            other => panic!("{case}: {other:?}"),
        }
    }
    println!("conflicts by operation: {disagreed:?}");
    assert_eq!(disagreed.len(), 15, "{disagreed:?}");
}

/// `AddMember` built checked with no inviter (its fields are public) is refused as the rule
/// refuses it, `forbidden`, and writes nothing: the guard is the rule's, whatever the input.
#[tokio::test]
async fn a_checked_add_member_without_an_inviter_is_refused_and_writes_nothing() {
    let server = server().await;
    let db = database(&server).await;
    let store = PostgresTenancyStore::new(db.pool(1).expect("pool"));
    let (alice, bob) = (UsrId::new(), UsrId::new());
    store.ensure_user(alice).await.expect("alice");
    store.ensure_user(bob).await.expect("bob");
    let org = store
        .create_org(flametrench_tenancy_core::CreateOrg::new(alice))
        .await
        .expect("org")
        .org
        .id;
    let mut input = flametrench_tenancy_core::AddMember::new(org, bob, Role::Member);
    input.checked = true;
    let error = store
        .add_member(input)
        .await
        .expect_err("unchecked inviter");
    assert_eq!(error.code(), "forbidden");
    assert_eq!(
        store.active_membership(org, bob).await.expect("read"),
        None,
        "nothing was written"
    );
}
