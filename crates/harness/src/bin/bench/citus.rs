//! `bench --store citus`: every operation on the PostgreSQL store in the distributed layout on
//! Citus (a coordinator and two workers on this machine) beside the same operation on one node,
//! in one run. Each operation's calls alternate between the two stores call by call (which goes
//! first alternates too), each store with its own org and users, and each call goes through a
//! proxy of its own that counts its round trips and may add a round-trip time. Calls are
//! written as an adopter with the org at hand writes them: scoped to their org (`in_org`) and
//! checked against their actor (`by`) where the operation takes it.

use std::time::{Duration, Instant};

use flametrench_ids::{OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, AdminRemove, ChangeRole, CreateInvitation, CreateOrg,
    DeclineInvitation, EntityType, ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs,
    MemberAction, OrgAction, OrgName, Patch, PreTuple, Relation, RevokeInvitation, Role, SelfLeave,
    Slug, TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_postgres::testing::{PgProxy, TestCitus, TestPostgres, pool_for};
use flametrench_tenancy_postgres::{Layout, PostgresTenancyStore};

use crate::scenarios::{expires, identifier, user};
use crate::timing::median;

/// One store of the comparison: the store, the proxy its connections go through, and the org
/// (owned by `owner`) the single-org calls act on.
struct Side {
    store: PostgresTenancyStore<'static, 'static>,
    proxy: PgProxy,
    owner: UsrId,
    org: OrgId,
}

/// One operation's calls on both stores: latencies and round trips, one-node side first.
struct Row {
    op: &'static str,
    times: [Vec<Duration>; 2],
    trips: [Vec<u64>; 2],
}

/// Runs the comparison at loopback and, when `rtt_us` is above zero, with that round-trip time
/// added between the client and each server.
pub(crate) async fn run(iterations: usize, rtt_us: u64) -> Result<(), String> {
    let single = TestPostgres::start().await.map_err(|e| e.to_string())?;
    let database = single.fresh_database().await.map_err(|e| e.to_string())?;
    let cluster = TestCitus::start_measured()
        .await
        .map_err(|e| e.to_string())?;
    let schema = cluster.fresh_schema().await.map_err(|e| e.to_string())?;
    println!(
        "\nCitus: a coordinator and {} workers on this machine, {} shards per table; one node: \
         PostgreSQL on the same machine",
        cluster.ports().len().saturating_sub(1),
        shard_count(&cluster).await?
    );
    let mut distances = vec![0];
    if rtt_us > 0 {
        distances.push(rtt_us);
    }
    for rtt in distances {
        let one_way = Duration::from_micros(rtt / 2);
        let mut sides = Vec::new();
        for (config, layout) in [
            (database.config(), Layout::SingleNode),
            (schema.config(), Layout::Distributed),
        ] {
            let proxy = PgProxy::start_with_latency(&config, one_way)
                .await
                .map_err(|e| e.to_string())?;
            let pool = pool_for(proxy.config_for(&config), 1).map_err(|e| e.to_string())?;
            let mut store = PostgresTenancyStore::new(pool);
            if layout == Layout::Distributed {
                store = store
                    .with_schema(schema.name())
                    .map_err(|e| e.to_string())?
                    .with_layout(layout);
            }
            let owner = user(&store).await;
            let org = store
                .create_org(CreateOrg::new(owner))
                .await
                .map_err(|e| e.to_string())?
                .org
                .id;
            sides.push(Side {
                store,
                proxy,
                owner,
                org,
            });
        }
        let sides: [Side; 2] = sides
            .try_into()
            .map_err(|_| "two sides expected".to_owned())?;
        // A first pass prepares each statement on the pooled connections; the second is timed.
        let _ = compare(&sides, 3).await?;
        let nodes = statement_stats(&cluster).await?;
        let rows = compare(&sides, iterations).await?;
        report(rtt, &rows);
        if rtt == 0 {
            where_the_time_goes(&cluster, &nodes, iterations).await?;
        }
    }
    Ok(())
}

/// A connection to each node of the cluster, with `pg_stat_statements` there and its counts
/// reset (the cluster's nodes load it).
async fn statement_stats(cluster: &TestCitus) -> Result<Vec<tokio_postgres::Client>, String> {
    let mut nodes = Vec::new();
    for (index, config) in cluster.node_configs().iter().enumerate() {
        let client = TestPostgres::connect(config)
            .await
            .map_err(|e| e.to_string())?;
        // Made on the coordinator, which makes it on the workers too.
        if index == 0 {
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                .await
                .map_err(|e| format!("pg_stat_statements: {e:?}"))?;
        }
        client
            .batch_execute("SELECT pg_stat_statements_reset()")
            .await
            .map_err(|e| format!("pg_stat_statements: {e:?}"))?;
        nodes.push(client);
    }
    Ok(nodes)
}

/// Where a Citus call's time goes, at loopback: on each node, the statements that ran at
/// least once per call of an operation (the store's, those Citus sent the workers, and the
/// statements the delegated functions ran there), by total time.
async fn where_the_time_goes(
    cluster: &TestCitus,
    nodes: &[tokio_postgres::Client],
    iterations: usize,
) -> Result<(), String> {
    let ports = cluster.ports();
    for (index, node) in nodes.iter().enumerate() {
        let role = if index == 0 { "coordinator" } else { "worker" };
        let port = ports.get(index).copied().unwrap_or_default();
        println!(
            "
{role} {port}: statements run at least {iterations} times in the timed pass, by              total time (mean and total in µs)"
        );
        let rows = node
            .query(
                "SELECT calls, mean_exec_time * 1000, total_exec_time * 1000,                  left(regexp_replace(query, '\\s+', ' ', 'g'), 110)                  FROM pg_stat_statements WHERE calls >= $1 ORDER BY total_exec_time DESC LIMIT 24",
                &[&i64::try_from(iterations).unwrap_or(i64::MAX)],
            )
            .await
            .map_err(|e| e.to_string())?;
        println!("  {:>7} {:>9} {:>11}  statement", "calls", "mean", "total");
        for row in rows {
            let (calls, mean, total, text): (i64, f64, f64, String) =
                (row.get(0), row.get(1), row.get(2), row.get(3));
            println!("  {calls:>7} {mean:>9.0} {total:>11.0}  {text}");
        }
    }
    Ok(())
}

/// The shards of each distributed table.
async fn shard_count(cluster: &TestCitus) -> Result<i64, String> {
    let client = cluster.connect().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("SHOW citus.shard_count", &[])
        .await
        .map_err(|e| e.to_string())?;
    row.get::<_, String>(0)
        .parse()
        .map_err(|_| "a count".into())
}

/// Times `$call` on both sides, `iterations` calls each, alternating: `$prepare` (untimed)
/// makes the call's input on the side, then the call is timed and its round trips counted.
macro_rules! compare_op {
    ($rows:ident, $sides:ident, $iterations:ident, $name:literal,
     |$side:ident| $prepare:expr, |$input:ident| $call:expr) => {{
        let mut times = [Vec::new(), Vec::new()];
        let mut trips = [Vec::new(), Vec::new()];
        for i in 0..$iterations {
            for k in 0..2 {
                let which = if i % 2 == 0 { k } else { 1 - k };
                let $side = &$sides[which];
                let $input = $prepare;
                $side.proxy.reset();
                let start = Instant::now();
                let result = $call.await;
                let elapsed = start.elapsed();
                let counted = $side.proxy.stats().round_trips;
                result.map_err(|e| format!("{} ({}): {e}", $name, which))?;
                times[which].push(elapsed);
                trips[which].push(counted);
            }
        }
        $rows.push(Row {
            op: $name,
            times,
            trips,
        });
    }};
}

/// What an untimed setup call returns, or the bench's error.
fn done<T>(result: flametrench_tenancy_core::Result<T>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}

/// A fresh org owned by a fresh user, on `side`, with `members` members: the org, its owner
/// and owner membership, and the members' users and memberships.
async fn team(
    side: &Side,
    members: usize,
) -> Result<
    (
        OrgId,
        UsrId,
        flametrench_ids::MemId,
        Vec<(UsrId, flametrench_ids::MemId)>,
    ),
    String,
> {
    let store = &side.store;
    let owner = user(store).await;
    let created = done(store.create_org(CreateOrg::new(owner)).await)?;
    let mut added = Vec::new();
    for _ in 0..members {
        let member = user(store).await;
        let membership = done(
            store
                .add_member(AddMember::new(created.org.id, member, Role::Member))
                .await,
        )?;
        added.push((member, membership.id));
    }
    Ok((created.org.id, owner, created.owner_membership.id, added))
}

/// A fresh user made a member of `side`'s org: the user and the membership.
async fn member(side: &Side) -> Result<(UsrId, flametrench_ids::MemId), String> {
    let member = user(&side.store).await;
    let added = done(
        side.store
            .add_member(AddMember::new(side.org, member, Role::Member))
            .await,
    )?;
    Ok((member, added.id))
}

/// An invitation into `side`'s org for `identifier()`, by its owner, with `pre_tuples`.
async fn invite(side: &Side, pre_tuples: &[PreTuple]) -> Result<flametrench_ids::InvId, String> {
    let input = done(
        CreateInvitation::new(side.org, identifier(), Role::Member, side.owner, expires())
            .and_then(|input| input.pre_tuples(pre_tuples.iter().cloned())),
    )?;
    Ok(done(side.store.create_invitation(input).await)?.id)
}

/// Every operation, compared.
#[allow(clippy::too_many_lines)]
async fn compare(sides: &[Side; 2], iterations: usize) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let elsewhere = done(PreTuple::new(
        "viewer",
        "proj",
        "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa",
    ))?;
    compare_op!(
        rows,
        sides,
        iterations,
        "ensure_user",
        |side| UsrId::new(),
        |id| side.store.ensure_user(id)
    );
    compare_op!(rows, sides, iterations, "create_org", |side| (), |_unit| {
        side.store.create_org(CreateOrg::new(side.owner))
    });
    compare_op!(
        rows,
        sides,
        iterations,
        "create_org (slug)",
        |side| done(Slug::new(format!("s{}", UsrId::new().as_uuid().simple())))?,
        |slug| side.store.create_org(CreateOrg::new(side.owner).slug(slug))
    );
    compare_op!(rows, sides, iterations, "get_org", |side| (), |_unit| side
        .store
        .get_org(side.org));
    compare_op!(
        rows,
        sides,
        iterations,
        "update_org (name)",
        |side| done(OrgName::new("Acme"))?,
        |name| side.store.update_org(
            UpdateOrg::new(side.org)
                .name(Patch::Set(name))
                .by(side.owner)
        )
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "add_member",
        |side| user(&side.store).await,
        |member| side
            .store
            .add_member(AddMember::new(side.org, member, Role::Member).by(side.owner))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "change_role",
        |side| { member(side).await?.1 },
        |mem| side.store.change_role(
            ChangeRole::new(mem, Role::Admin)
                .in_org(side.org)
                .by(side.owner)
        )
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "suspend_membership",
        |side| { member(side).await?.1 },
        |mem| side
            .store
            .suspend_membership(MemberAction::new(mem).in_org(side.org).by(side.owner))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "reinstate_membership",
        |side| {
            let (_, mem) = member(side).await?;
            done(
                side.store
                    .suspend_membership(MemberAction::new(mem).in_org(side.org))
                    .await,
            )?;
            mem
        },
        |mem| side
            .store
            .reinstate_membership(MemberAction::new(mem).in_org(side.org).by(side.owner))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "admin_remove",
        |side| { member(side).await?.1 },
        |mem| side
            .store
            .admin_remove(AdminRemove::new(mem, side.owner).in_org(side.org))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "self_leave",
        |side| {
            let (member, mem) = member(side).await?;
            (mem, member)
        },
        |leaving| side
            .store
            .self_leave(SelfLeave::new(leaving.0).in_org(side.org).by(leaving.1))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "transfer_ownership",
        |side| {
            let (org, owner, from, members) = team(side, 1).await?;
            (org, owner, from, members[0].1)
        },
        |t| side
            .store
            .transfer_ownership(TransferOwnership::new(t.0, t.2, t.3).by(t.1))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "create_invitation",
        |side| done(CreateInvitation::new(
            side.org,
            identifier(),
            Role::Member,
            side.owner,
            expires()
        ))?,
        |input| side.store.create_invitation(input)
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "accept_invitation",
        |side| (invite(side, &[]).await?, user(&side.store).await),
        |ready| side.store.accept_invitation(
            AcceptInvitation::as_user(ready.0, ready.1, identifier()).in_org(side.org)
        )
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "accept_invitation (pre-tuple elsewhere)",
        |side| (
            invite(side, std::slice::from_ref(&elsewhere)).await?,
            user(&side.store).await
        ),
        |ready| side.store.accept_invitation(
            AcceptInvitation::as_user(ready.0, ready.1, identifier()).in_org(side.org)
        )
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "decline_invitation",
        |side| invite(side, &[]).await?,
        |inv| side
            .store
            .decline_invitation(DeclineInvitation::new(inv).in_org(side.org))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "revoke_invitation",
        |side| invite(side, &[]).await?,
        |inv| side
            .store
            .revoke_invitation(RevokeInvitation::new(inv, side.owner).in_org(side.org))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "suspend_org",
        |side| team(side, 0).await?,
        |t| side.store.suspend_org(OrgAction::new(t.0).by(t.1))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "reinstate_org",
        |side| {
            let t = team(side, 0).await?;
            done(side.store.suspend_org(OrgAction::new(t.0)).await)?;
            t
        },
        |t| side.store.reinstate_org(OrgAction::new(t.0).by(t.1))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "revoke_org (3 members)",
        |side| team(side, 3).await?,
        |t| side.store.revoke_org(OrgAction::new(t.0).by(t.1))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "get_membership (scoped)",
        |side| done(side.store.active_membership(side.org, side.owner).await)?
            .map(|m| m.id)
            .ok_or("the owner's membership")?,
        |mem| side.store.get_membership(mem, Some(side.org))
    );
    compare_op!(rows, sides, iterations, "org_access", |side| (), |_unit| {
        side.store.org_access(side.org, side.owner)
    });
    compare_op!(
        rows,
        sides,
        iterations,
        "check_any (owner, admin)",
        |side| vec![done(Relation::new("owner"))?, done(Relation::new("admin"))?],
        |relations| side.store.check_any(
            EntityType::usr(),
            side.owner.as_uuid(),
            relations,
            EntityType::org(),
            side.org.as_uuid()
        )
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "list_members (50)",
        |side| (),
        |_unit| side
            .store
            .list_members(ListMembers::new(side.org).limit(50))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "list_invitations (50)",
        |side| (),
        |_unit| side
            .store
            .list_invitations(ListInvitations::new(side.org).limit(50))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "list_memberships_for_user",
        |side| (),
        |_unit| side
            .store
            .list_memberships_for_user(ListMembershipsForUser::new(side.owner))
    );
    compare_op!(
        rows,
        sides,
        iterations,
        "list_tuples_for_subject",
        |side| (),
        |_unit| side
            .store
            .list_tuples_for_subject(EntityType::usr(), side.owner.as_uuid())
    );
    let few = iterations.min(100);
    compare_op!(rows, sides, few, "list_orgs (50)", |side| (), |_unit| side
        .store
        .list_orgs(ListOrgs::new().limit(50)));
    Ok(rows)
}

/// The comparison's table: each operation's p50 on both, their ratio, and round trips.
fn report(rtt: u64, rows: &[Row]) {
    println!(
        "\nCitus against one node, {rtt} µs added per round trip between the client and the \
         server (the coordinator), calls alternating; p50 in µs, round trips per call (median)"
    );
    println!(
        "  {:<42} {:>10} {:>10} {:>7} {:>6} {:>6}",
        "operation", "one node", "Citus", "ratio", "trips", "trips"
    );
    for row in rows {
        let p50 = |side: usize| median(&row.times[side]).map_or(f64::NAN, micros);
        let trips = |side: usize| {
            let mut counted = row.trips[side].clone();
            counted.sort_unstable();
            counted.get(counted.len() / 2).copied().unwrap_or_default()
        };
        let (single, citus) = (p50(0), p50(1));
        println!(
            "  {:<42} {:>10.0} {:>10.0} {:>7.2} {:>6} {:>6}",
            row.op,
            single,
            citus,
            citus / single,
            trips(0),
            trips(1)
        );
    }
}

/// A duration in microseconds.
fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
