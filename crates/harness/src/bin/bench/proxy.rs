//! The bench through the test proxy: round trips and statements per write, and every operation
//! at two distances from the server.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use flametrench_ids::OrgId;
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateOrg, EntityType, ListMembers, ListOrgs, PreTuple, Role,
    TenancyStore, TransferOwnership,
};
use flametrench_tenancy_postgres::PostgresTenancyStore;
use flametrench_tenancy_postgres::testing::{PgProxy, TestDatabase, TestPostgres, pool_for};

use crate::print::print_samples;
use crate::scenarios::{identifier, invitation_input, single_client, user};
use crate::timing::{Floor, Paired, Pairing, Sample, Timing, median, micros, pg_error};
use flametrench_tenancy_core::{ChangeRole, SelfLeave};

/// Round trips and statements of one call of each write, through the proxy.
pub(crate) async fn count_trips(
    server: &TestPostgres,
) -> Result<Vec<(&'static str, u64, u64)>, String> {
    let database = server.fresh_database().await.map_err(|e| e.to_string())?;
    let proxy = PgProxy::start(&database.config())
        .await
        .map_err(|e| e.to_string())?;
    let pool = pool_for(proxy.config_for(&database.config()), 1).map_err(|e| e.to_string())?;
    drop(pool.get().await.map_err(|e| e.to_string())?);
    let store = PostgresTenancyStore::new(pool);
    // The first pass prepares the statements on the pooled connection; the second is counted.
    let _ = trip_pass(&store, &proxy).await?;
    trip_pass(&store, &proxy).await
}

/// One call of each write, its round trips and statements counted by `proxy`.
async fn trip_pass(
    store: &PostgresTenancyStore<'static, 'static>,
    proxy: &PgProxy,
) -> Result<Vec<(&'static str, u64, u64)>, String> {
    let mut out = Vec::new();
    let alice = user(store).await;
    let bob = user(store).await;
    macro_rules! measure {
        ($name:literal, $call:expr) => {{
            proxy.reset();
            let value = $call.await.map_err(|e| e.to_string())?;
            let stats = proxy.stats();
            out.push(($name, stats.round_trips, stats.statements));
            value
        }};
    }
    let created = measure!("create_org", store.create_org(CreateOrg::new(alice)));
    let member = measure!(
        "add_member",
        store.add_member(AddMember::new(created.org.id, bob, Role::Member))
    );
    let member = measure!(
        "change_role",
        store.change_role(ChangeRole::new(member.id, Role::Admin))
    );
    let grant = PreTuple::new("viewer", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")
        .map_err(|e| e.to_string())?;
    let carol = user(store).await;
    let invitation = measure!(
        "create_invitation",
        store.create_invitation(
            invitation_input(created.org.id, alice, &grant).map_err(|e| e.to_string())?
        )
    );
    measure!(
        "accept_invitation",
        store.accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            carol,
            identifier()
        ))
    );
    let moved = measure!(
        "transfer_ownership",
        store.transfer_ownership(TransferOwnership::new(
            created.org.id,
            created.owner_membership.id,
            member.id
        ))
    );
    measure!(
        "self_leave",
        store.self_leave(SelfLeave::new(moved.from_membership.id))
    );
    measure!("get_org", store.get_org(created.org.id));
    measure!(
        "list_members",
        store.list_members(ListMembers::new(created.org.id).limit(50))
    );
    measure!(
        "list_tuples_for_subject",
        store.list_tuples_for_subject(EntityType::usr(), alice.as_uuid())
    );
    measure!("list_orgs", store.list_orgs(ListOrgs::new().limit(50)));
    Ok(out)
}

/// Every operation at two distances from the server, in one run: through the test proxy as
/// it is, and through a proxy that delivers each chunk `rtt_us / 2` after it arrived in each
/// direction. The calls of each operation alternate between the two (a [`Paired`] store), each
/// after a floor time through its own proxy, so both distances are timed in the same seconds.
/// The growth table compares each operation's p50 growth with the floor's: a one-flight call
/// grows like the floor.
pub(crate) async fn distance(
    database: &TestDatabase,
    big_org: OrgId,
    iterations: usize,
    rtt_us: u64,
) -> Result<(), String> {
    let one_ways = [Duration::ZERO, Duration::from_micros(rtt_us / 2)];
    let mut proxies = Vec::new();
    let mut stores = Vec::new();
    let mut floors = Vec::new();
    for one_way in one_ways {
        let proxy = PgProxy::start_with_latency(&database.config(), one_way)
            .await
            .map_err(|e| e.to_string())?;
        let config = proxy.config_for(&database.config());
        stores.push(PostgresTenancyStore::new(
            pool_for(config.clone(), 2).map_err(|e| e.to_string())?,
        ));
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(pg_error)?;
        tokio::spawn(connection);
        floors.push(Floor::new(client).await?);
        proxies.push(proxy);
    }
    let side = AtomicUsize::new(0);
    let (Ok(stores), [near_floor, far_floor]) = (<[_; 2]>::try_from(stores), &floors[..]) else {
        return Err("two sides expected".into());
    };
    let paired = Paired {
        stores,
        side: &side,
    };
    let pairing = Pairing {
        floors: [near_floor, far_floor],
        proxies: [&proxies[0], &proxies[1]],
        side: &side,
    };
    // Each side gets `iterations` calls.
    let samples = single_client(&paired, 2 * iterations, big_org, Timing::paired(pairing)).await;
    let runs: Vec<Vec<Sample>> = (0..2)
        .map(|index| {
            samples
                .iter()
                .filter_map(|sample| sample.side(index))
                .collect()
        })
        .collect();
    for (index, (one_way, run)) in one_ways.iter().zip(&runs).enumerate() {
        // Each operation's round trips and statements per call on this side (the median).
        let counts: Vec<(&'static str, u64, u64)> = samples
            .iter()
            .filter_map(|sample| {
                sample
                    .counts_on(index)
                    .map(|(trips, stmts)| (sample.op, trips, stmts))
            })
            .collect();
        print_samples(
            &format!(
                "postgres with a pool through the proxy, {} µs added per round trip, 1 client \
                 (calls alternating with the other distance)",
                2 * one_way.as_micros()
            ),
            run,
            &counts,
        );
    }
    let (near, far) = (&runs[0], &runs[1]);
    println!(
        "\ngrowth from 0 to {rtt_us} µs added per round trip: each p50's growth over the floor's \
         (one flight grows like the floor: 1.0)"
    );
    println!(
        "  {:<30} {:>12} {:>12} {:>10}",
        "operation", "p50 growth", "floor growth", "ratio"
    );
    for (a, b) in near.iter().zip(far.iter()) {
        let grown = micros(b.percentile(0.5)) - micros(a.percentile(0.5));
        let floor_grown = match (median(&a.floor), median(&b.floor)) {
            (Some(x), Some(y)) => micros(y) - micros(x),
            _ => f64::NAN,
        };
        println!(
            "  {:<30} {:>10.1}µs {:>10.1}µs {:>10.2}",
            a.op,
            grown,
            floor_grown,
            grown / floor_grown
        );
    }
    Ok(())
}
