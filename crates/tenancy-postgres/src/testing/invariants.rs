//! The tenancy invariants checked with plain SQL over the tables, written independently of the
//! store's own statements, for tests and stress runs.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Config, IsolationLevel};

use super::cluster::{TestDatabase, TestPostgres, TestSupportError};

/// Each invariant: what a violation means, and the query counting violations.
const CHECKS: &[(&str, &str)] = &[
    (
        "org with active members but no active owner",
        "SELECT count(*) FROM (SELECT org_id FROM mem WHERE status = 'active' GROUP BY org_id \
         HAVING count(*) FILTER (WHERE role = 'owner') = 0) x",
    ),
    (
        "active membership without exactly one tuple",
        "SELECT count(*) FROM mem m WHERE m.status = 'active' AND (SELECT count(*) FROM tup t \
         WHERE t.subject_type = 'usr' AND t.subject_id = m.usr_id AND t.relation = m.role \
         AND t.object_type = 'org' AND t.object_id = m.org_id) <> 1",
    ),
    (
        "membership tuple without an active membership",
        "SELECT count(*) FROM tup t WHERE t.subject_type = 'usr' AND t.object_type = 'org' \
         AND t.relation IN ('owner','admin','member','guest','viewer','editor') AND NOT EXISTS \
         (SELECT 1 FROM mem m WHERE m.status = 'active' AND m.usr_id = t.subject_id \
          AND m.org_id = t.object_id AND m.role = t.relation)",
    ),
    (
        "active membership in a revoked org",
        "SELECT count(*) FROM mem m JOIN org o ON o.id = m.org_id WHERE m.status = 'active' \
         AND o.status = 'revoked'",
    ),
    (
        "pending invitation in a revoked org",
        "SELECT count(*) FROM inv i JOIN org o ON o.id = i.org_id WHERE i.status = 'pending' \
         AND o.status = 'revoked'",
    ),
    (
        "accepted invitation without a membership created when it was accepted",
        "SELECT count(*) FROM inv i WHERE i.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM mem m \
         WHERE m.org_id = i.org_id AND m.usr_id = i.invited_user_id AND m.created_at = i.terminal_at)",
    ),
    (
        "membership replacing no row of its own org",
        "SELECT count(*) FROM mem n WHERE n.replaces IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM mem o WHERE o.org_id = n.org_id AND o.id = n.replaces)",
    ),
    (
        "superseded membership not revoked, or replaced by a row of another user or earlier time",
        "SELECT count(*) FROM mem n JOIN mem o ON o.org_id = n.org_id AND o.id = n.replaces \
         WHERE o.status <> 'revoked' OR o.usr_id <> n.usr_id OR o.created_at > n.created_at",
    ),
    (
        "membership replaced more than once",
        "SELECT count(*) FROM (SELECT replaces FROM mem WHERE replaces IS NOT NULL \
         GROUP BY replaces HAVING count(*) > 1) x",
    ),
    (
        "more than one active membership per user and org",
        "SELECT count(*) FROM (SELECT 1 FROM mem WHERE status = 'active' \
         GROUP BY usr_id, org_id HAVING count(*) > 1) x",
    ),
];

/// How many invariant queries [`violations`] runs: the `after_query` hook of
/// [`InvariantChecker::check_with`] is called with `0..QUERIES`.
pub const INVARIANT_QUERIES: usize = CHECKS.len();

/// Describes every invariant violation in the database `client` is connected to (empty when
/// all hold): an org with active members but no active owner; an active membership without
/// exactly one `(usr, role, org)` tuple, or a membership tuple without its active membership;
/// an active membership or a pending invitation in a revoked org; an accepted invitation
/// without a membership created when it was accepted (an invitation is accepted at most once by
/// its status transition; a role change in the same microsecond may share the timestamp, so
/// rows are not counted); a malformed `replaces` chain; two active memberships of one user in
/// one org. Run it in one REPEATABLE READ transaction for a consistent view while writers are
/// active.
///
/// # Errors
///
/// The first driver error from the queries (a connection cut by a server restart among them);
/// it never panics.
pub async fn violations<C: tokio_postgres::GenericClient>(
    client: &C,
) -> Result<Vec<String>, tokio_postgres::Error> {
    violations_observed(client, |_| async {}).await
}

/// [`violations`], awaiting `after_query(i)` after the `i`-th query: fault tests use it to
/// break the connection in the middle of a check.
async fn violations_observed<C, F, Fut>(
    client: &C,
    mut after_query: F,
) -> Result<Vec<String>, tokio_postgres::Error>
where
    C: tokio_postgres::GenericClient,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut found = Vec::new();
    for (index, (what, sql)) in CHECKS.iter().enumerate() {
        let count: i64 = client.query_one(*sql, &[]).await?.try_get(0)?;
        if count > 0 {
            found.push(format!("{what}: {count}"));
        }
        after_query(index).await;
    }
    Ok(found)
}

/// What a completed check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Every violation found (empty when all invariants hold).
    pub violations: Vec<String>,
    /// How many attempts the check took (more than one when a connection broke).
    pub attempts: u32,
}

/// Runs [`violations`] over its own connection to a test database, in one read-only
/// REPEATABLE READ transaction, and survives faults: when the connection breaks (a server
/// restart, a terminated backend), it reconnects and checks again from the start, until
/// its retry budget is spent.
#[derive(Debug)]
pub struct InvariantChecker {
    config: Config,
    client: Option<Client>,
    budget: Duration,
}

impl InvariantChecker {
    /// A checker for `database` that keeps retrying for up to 30 seconds per check.
    pub fn new(database: TestDatabase) -> Self {
        Self::connecting(database.config())
    }

    /// A checker that connects with `config` (a Citus schema's, say, whose `search_path` names
    /// the schema), retrying for up to 30 seconds per check.
    pub fn connecting(config: Config) -> Self {
        Self {
            config,
            client: None,
            budget: Duration::from_secs(30),
        }
    }

    /// Sets how long one check keeps retrying before it fails.
    #[must_use]
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Checks every invariant.
    ///
    /// # Errors
    ///
    /// When no attempt completed within the budget; the error names the last cause.
    pub async fn check(&mut self) -> Result<Checked, TestSupportError> {
        self.check_with(|_, _| async {}).await
    }

    /// [`check`](Self::check), awaiting `after_query(attempt, i)` after the `i`-th query of
    /// attempt `attempt` (from 1), so a test can force a fault in the middle of a check.
    ///
    /// # Errors
    ///
    /// When no attempt completed within the budget; the error names the last cause.
    pub async fn check_with<F, Fut>(
        &mut self,
        mut after_query: F,
    ) -> Result<Checked, TestSupportError>
    where
        F: FnMut(u32, usize) -> Fut,
        Fut: Future<Output = ()>,
    {
        let deadline = Instant::now() + self.budget;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = self.attempt(|index| after_query(attempts, index)).await;
            match outcome {
                Ok(violations) => {
                    return Ok(Checked {
                        violations,
                        attempts,
                    });
                }
                Err(cause) => {
                    // The connection may be broken even when the client has not noticed yet.
                    self.client = None;
                    if Instant::now() >= deadline {
                        return Err(TestSupportError(format!(
                            "invariant check failed after {attempts} attempts over {:?}: {cause}",
                            self.budget
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn attempt<F, Fut>(&mut self, after_query: F) -> Result<Vec<String>, String>
    where
        F: FnMut(usize) -> Fut,
        Fut: Future<Output = ()>,
    {
        let client = match &mut self.client {
            Some(client) if !client.is_closed() => client,
            slot => slot.insert(
                TestPostgres::connect(&self.config)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
        };
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| format!("begin: {e}"))?;
        let found = violations_observed(&tx, after_query)
            .await
            .map_err(|e| format!("invariant query: {e}"))?;
        tx.commit().await.map_err(|e| format!("commit: {e}"))?;
        Ok(found)
    }
}
