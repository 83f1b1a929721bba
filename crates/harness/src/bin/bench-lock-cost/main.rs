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
    AcceptInvitation, AddMember, CreateInvitation, CreateOrg, Identifier, OrgName, Patch, Role,
    TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::testing::{TestPostgres, Weakening, weakened};
use flametrench_tenancy_postgres::{PooledTenancyStore, PostgresTenancyStore};
use time::OffsetDateTime;

/// The writes measured.
const WRITES: [&str; 13] = [
    "add_member",
    "change_role",
    "suspend_membership",
    "reinstate_membership",
    "self_leave",
    "admin_remove",
    "transfer_ownership",
    "create_invitation",
    "accept_invitation",
    "decline_invitation",
    "update_org",
    "suspend_org",
    "revoke_org",
];

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

async fn rows(store: &PooledTenancyStore, op: &str) -> Result<Rows, String> {
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
    if op == "reinstate_membership" {
        store
            .suspend_membership(member)
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
    Ok(Rows {
        org,
        owner: created.owner_membership.id,
        owner_usr,
        member,
        outsider: user(store).await?,
        invitation,
    })
}

async fn call<S: TenancyStore>(store: &S, op: &str, rows: &Rows) -> Result<(), String> {
    let done = match op {
        "add_member" => store
            .add_member(AddMember::new(rows.org, rows.outsider, Role::Member))
            .await
            .map(drop),
        "change_role" => store.change_role(rows.member, Role::Admin).await.map(drop),
        "suspend_membership" => store.suspend_membership(rows.member).await.map(drop),
        "reinstate_membership" => store.reinstate_membership(rows.member).await.map(drop),
        "self_leave" => store.self_leave(rows.member, None).await.map(drop),
        "admin_remove" => store
            .admin_remove(rows.member, rows.owner_usr)
            .await
            .map(drop),
        "transfer_ownership" => store
            .transfer_ownership(TransferOwnership::new(rows.org, rows.owner, rows.member))
            .await
            .map(drop),
        "create_invitation" => match CreateInvitation::new(
            rows.org,
            identifier(),
            Role::Guest,
            rows.owner_usr,
            OffsetDateTime::now_utc() + time::Duration::days(1),
        ) {
            Ok(input) => store.create_invitation(input).await.map(drop),
            Err(error) => Err(error),
        },
        "accept_invitation" => store
            .accept_invitation(AcceptInvitation::as_user(
                rows.invitation,
                rows.outsider,
                identifier(),
            ))
            .await
            .map(drop),
        "decline_invitation" => store
            .decline_invitation(rows.invitation, None)
            .await
            .map(drop),
        "update_org" => match OrgName::new("Renamed") {
            Ok(name) => store
                .update_org(UpdateOrg::new(rows.org).name(Patch::Set(name)))
                .await
                .map(drop),
            Err(error) => Err(error),
        },
        "suspend_org" => store.suspend_org(rows.org).await.map(drop),
        "revoke_org" => store.revoke_org(rows.org).await.map(drop),
        other => return Err(format!("no such write: {other}")),
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

/// Measures every write of [`WRITES`] and prints a line for each.
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
    for op in WRITES {
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
            op,
            lock_p50,
            full_p50,
            100.0 * cost,
            100.0 * spread,
            100.0 * (cost - spread).max(0.0)
        );
    }
    Ok(())
}
