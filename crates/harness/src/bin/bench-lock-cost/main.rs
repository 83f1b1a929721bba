//! `bench-lock-cost`: what the lock rows cost per write, side by side in one run.
//!
//! Two stores share one database: one with the lock-row upserts left out (the statements as
//! they were before them), one as shipped. For each write, their calls alternate one by one
//! in pairs, the first of each pair alternating between them, each call on fresh rows prepared
//! beforehand, so both are timed in the same seconds on a machine whose speed drifts. A round's
//! cost is the median of its per-pair ratios shipped / lock-only; the reported cost is the
//! median over the rounds, the spread half the range of the rounds' costs, and "beyond" what
//! the cost exceeds the spread by. `decline_invitation` takes no lock row, so both stores send
//! it the same statements: its cost shows the noise.
#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use flametrench_ids::{MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, Op, OrgName, Patch, Role,
    TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};
use flametrench_tenancy_postgres::testing::{TestPostgres, Weakening, weakened};
use flametrench_tenancy_postgres::{PooledTenancyStore, PostgresTenancyStore};
use time::OffsetDateTime;

/// The writes measured: every write of the operation table but those that make new rows
/// without an org to lock (`ensure_user`, `create_org`); see [`call`].
fn writes() -> impl Iterator<Item = Op> {
    Op::ALL
        .iter()
        .copied()
        .filter(|op| op.is_write() && !matches!(op, Op::EnsureUser | Op::CreateOrg))
}

/// Fresh rows for one call.
struct Rows {
    org: OrgId,
    owner: MemId,
    owner_usr: UsrId,
    member: MemId,
    outsider: UsrId,
    invitation: flametrench_ids::InvId,
}

fn identifier() -> Identifier {
    Identifier::new("cost@example.com").unwrap_or_else(|_| unreachable!("a valid identifier"))
}

async fn user(store: &PooledTenancyStore) -> Result<UsrId, String> {
    let id = UsrId::new();
    store.ensure_user(id).await.map_err(|e| e.to_string())?;
    Ok(id)
}

async fn rows(store: &PooledTenancyStore, op: Op) -> Result<Rows, String> {
    let owner_usr = user(store).await?;
    let created = store
        .create_org(CreateOrg::new(owner_usr))
        .await
        .map_err(|e| e.to_string())?;
    let org = created.org.id;
    let member_usr = user(store).await?;
    let member = store
        .add_member(AddMember::new(org, member_usr, Role::Member))
        .await
        .map_err(|e| e.to_string())?
        .id;
    if op == Op::ReinstateMembership {
        store
            .suspend_membership(MemberAction::new(member))
            .await
            .map_err(|e| e.to_string())?;
    }
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier(),
                Role::Member,
                owner_usr,
                OffsetDateTime::now_utc() + time::Duration::days(1),
            )
            .map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?
        .id;
    if op == Op::ReinstateOrg {
        store
            .suspend_org(OrgAction::new(org))
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Rows {
        org,
        owner: created.owner_membership.id,
        owner_usr,
        member,
        outsider: user(store).await?,
        invitation,
    })
}

async fn call<S: TenancyStore>(store: &S, op: Op, rows: &Rows) -> Result<(), String> {
    let done = match op {
        Op::AddMember => store
            .add_member(AddMember::new(rows.org, rows.outsider, Role::Member))
            .await
            .map(drop),
        Op::ChangeRole => store
            .change_role(ChangeRole::new(rows.member, Role::Admin))
            .await
            .map(drop),
        Op::SuspendMembership => store
            .suspend_membership(MemberAction::new(rows.member))
            .await
            .map(drop),
        Op::ReinstateMembership => store
            .reinstate_membership(MemberAction::new(rows.member))
            .await
            .map(drop),
        Op::SelfLeave => store
            .self_leave(SelfLeave::new(rows.member))
            .await
            .map(drop),
        Op::AdminRemove => store
            .admin_remove(AdminRemove::new(rows.member, rows.owner_usr))
            .await
            .map(drop),
        Op::TransferOwnership => store
            .transfer_ownership(TransferOwnership::new(rows.org, rows.owner, rows.member))
            .await
            .map(drop),
        Op::CreateInvitation => match CreateInvitation::new(
            rows.org,
            identifier(),
            Role::Guest,
            rows.owner_usr,
            OffsetDateTime::now_utc() + time::Duration::days(1),
        ) {
            Ok(input) => store.create_invitation(input).await.map(drop),
            Err(error) => Err(error),
        },
        Op::AcceptInvitation => store
            .accept_invitation(AcceptInvitation::as_user(
                rows.invitation,
                rows.outsider,
                identifier(),
            ))
            .await
            .map(drop),
        Op::DeclineInvitation => store
            .decline_invitation(DeclineInvitation::new(rows.invitation))
            .await
            .map(drop),
        Op::UpdateOrg => match OrgName::new("Renamed") {
            Ok(name) => store
                .update_org(UpdateOrg::new(rows.org).name(Patch::Set(name)))
                .await
                .map(drop),
            Err(error) => Err(error),
        },
        Op::SuspendOrg => store.suspend_org(OrgAction::new(rows.org)).await.map(drop),
        Op::ReinstateOrg => store
            .reinstate_org(OrgAction::new(rows.org))
            .await
            .map(drop),
        Op::RevokeInvitation => store
            .revoke_invitation(RevokeInvitation::new(rows.invitation, rows.owner_usr))
            .await
            .map(drop),
        Op::RevokeOrg => store.revoke_org(OrgAction::new(rows.org)).await.map(drop),
        Op::EnsureUser | Op::CreateOrg => return Err(format!("{op} is not measured")),
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
        | Op::CheckAny => return Err(format!("{op} is a read")),
    };
    done.map_err(|error| format!("{op}: {error}"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64().max(1e-9)
}

/// What the per-org lock rows cost each PostgreSQL write, side by side in one run.
#[derive(Parser)]
struct Cli {
    /// Timed calls per operation, store and round.
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Rounds per operation.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

fn main() -> ExitCode {
    let Cli { iterations, rounds } = Cli::parse();
    flametrench_harness::block_on("bench failed", async move {
        run(iterations, rounds).await.map(|()| true)
    })
}

/// Measures every write of [`writes`] and prints a line for each.
async fn run(iterations: usize, rounds: usize) -> Result<(), String> {
    let server = TestPostgres::start().await.map_err(|e| e.to_string())?;
    let database = server.fresh_database().await.map_err(|e| e.to_string())?;
    let shipped = PostgresTenancyStore::new(database.pool(1).map_err(|e| e.to_string())?);
    let lock_only = weakened(
        PostgresTenancyStore::new(database.pool(1).map_err(|e| e.to_string())?),
        "public",
        Weakening::LockOnly,
    );
    let setup = PostgresTenancyStore::new(database.pool(1).map_err(|e| e.to_string())?);
    println!(
        "\nlock-row cost per write: {rounds} rounds of {iterations} calls per store, alternating \
         one by one, one client each, on fresh rows (decline_invitation sends the same \
         statements to both: its cost is noise)"
    );
    println!(
        "  {:<24} {:>14} {:>14} {:>8} {:>8} {:>8}",
        "operation", "lock-only µs", "shipped µs", "cost", "spread", "beyond"
    );
    for op in writes() {
        // Warm both stores' prepared statements.
        for _ in 0..5 {
            call(&lock_only, op, &rows(&setup, op).await?).await?;
            call(&shipped, op, &rows(&setup, op).await?).await?;
        }
        // Rounds of alternating pairs; the cost of a round is the median of its pairs' ratios.
        let (mut costs, mut lock, mut full) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut prepared = Vec::with_capacity(2 * iterations);
            for _ in 0..2 * iterations {
                prepared.push(rows(&setup, op).await?);
            }
            let mut ratios = Vec::with_capacity(iterations);
            for (index, pair) in prepared.chunks(2).enumerate() {
                // Which store goes first alternates too: the second call of a pair is not
                // timed like the first (measured: about 5 % apart for identical statements).
                let (mut l, mut f) = (0.0, 0.0);
                for shipped_turn in [index % 2 == 1, index % 2 == 0] {
                    let start = Instant::now();
                    if shipped_turn {
                        call(&shipped, op, &pair[1]).await?;
                        f = seconds(start.elapsed());
                    } else {
                        call(&lock_only, op, &pair[0]).await?;
                        l = seconds(start.elapsed());
                    }
                }
                ratios.push(f / l);
                lock.push(l);
                full.push(f);
            }
            costs.push(median(&mut ratios) - 1.0);
        }
        let cost = median(&mut costs.clone());
        let spread = (costs.iter().copied().fold(f64::MIN, f64::max)
            - costs.iter().copied().fold(f64::MAX, f64::min))
            / 2.0;
        let (lock_p50, full_p50) = (median(&mut lock) * 1e6, median(&mut full) * 1e6);
        println!(
            "  {:<24} {:>14.1} {:>14.1} {:>+7.1}% {:>7.1}% {:>7.1}%",
            op.name(),
            lock_p50,
            full_p50,
            100.0 * cost,
            100.0 * spread,
            100.0 * (cost - spread).max(0.0)
        );
    }
    Ok(())
}
