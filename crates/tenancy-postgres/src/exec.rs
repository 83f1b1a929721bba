//! How an operation reaches the database: pipelined statements, the transaction or savepoint
//! around them, rollback on failure, cancellation safety, and bounded retries with a pool.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flametrench_tenancy_core::{Result, RetryScope, TenancyError};
use futures_util::future::{Either, join_all};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::error::{Phase, connection_failed, map_pg};
use crate::migrate::Layout;

/// One statement with its typed parameters.
#[derive(Clone)]
pub(crate) struct Stmt<'a> {
    pub(crate) sql: &'a str,
    pub(crate) params: Vec<(&'a (dyn ToSql + Sync), Type)>,
    /// Sent as an unnamed statement even where statements are prepared and cached, so that
    /// every call is planned with its parameters' values (a custom plan).
    pub(crate) unnamed: bool,
}

impl<'a> Stmt<'a> {
    /// A statement without parameters.
    pub(crate) fn new(sql: &'a str) -> Self {
        Self {
            sql,
            params: Vec::new(),
            unnamed: false,
        }
    }

    /// A statement always planned for its values: never prepared and cached.
    pub(crate) fn planned_each_call(sql: &'a str) -> Self {
        Self {
            unnamed: true,
            ..Self::new(sql)
        }
    }

    /// Adds a parameter of the given type.
    pub(crate) fn bind(mut self, value: &'a (dyn ToSql + Sync), ty: Type) -> Self {
        self.params.push((value, ty));
        self
    }
}

/// How many times a pool call is tried in all, when it fails with a retryable error.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// The shape of an operation, which decides what surrounds its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Reads in one flight: no `BEGIN` with a pool; a savepoint inside a caller's transaction.
    /// A lost connection is safe to retry.
    Read,
    /// A write done by one statement in autocommit with a pool (a savepoint inside a caller's
    /// transaction). Its flight is its commit: a connection lost while it is in flight leaves
    /// the outcome unknown.
    Single,
    /// Several statements: `BEGIN … COMMIT` around them with a pool, in the same flight; a
    /// savepoint inside a caller's transaction.
    Transaction,
}

/// What surrounds a call's statements on its connection.
enum Mode {
    /// A pool read: the statements alone, in autocommit.
    PoolRead,
    /// A single-statement pool write in autocommit: its flight is its commit.
    PoolAutocommit,
    /// A pool transaction: `BEGIN ISOLATION LEVEL READ COMMITTED`, the transaction's id and
    /// backend (so that a lost commit can be resolved), the statements, `COMMIT`.
    PoolTransaction,
    /// Inside the store's transaction: `SAVEPOINT`, the statements, `RELEASE`.
    Savepoint {
        open: String,
        close: String,
        abort: String,
    },
}

impl Mode {
    /// The statement sent before the call's statements, if any.
    fn open(&self) -> Option<&str> {
        match self {
            Self::PoolRead | Self::PoolAutocommit => None,
            // Pool transactions choose their isolation level rather than inherit the server's
            // `default_transaction_isolation`.
            Self::PoolTransaction => Some("BEGIN ISOLATION LEVEL READ COMMITTED"),
            Self::Savepoint { open, .. } => Some(open),
        }
    }

    /// The statement sent after the call's statements, if any.
    fn close(&self) -> Option<&str> {
        match self {
            Self::PoolRead | Self::PoolAutocommit => None,
            Self::PoolTransaction => Some("COMMIT"),
            Self::Savepoint { close, .. } => Some(close),
        }
    }

    /// The statement that undoes the call's work after a failure, if any.
    fn abort(&self) -> Option<&str> {
        match self {
            Self::PoolRead | Self::PoolAutocommit => None,
            Self::PoolTransaction => Some("ROLLBACK"),
            Self::Savepoint { abort, .. } => Some(abort),
        }
    }

    /// Whether the flight commits: a pool transaction's `COMMIT`, or an autocommit write.
    /// A savepoint's `RELEASE` commits nothing; the caller's transaction does.
    fn commits(&self) -> bool {
        matches!(self, Self::PoolTransaction | Self::PoolAutocommit)
    }

    /// Whether the opening flight asks for the transaction's id and backend.
    fn tracks_xact(&self) -> bool {
        matches!(self, Self::PoolTransaction)
    }
}

/// How far a call's transaction or savepoint has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Nothing sent yet.
    Fresh,
    /// The flight was sent, its opening and closing statements with it; its outcome is not
    /// known to have ended the transaction or savepoint.
    Sent,
    /// The transaction or savepoint is over: committed, released, rolled back, or found
    /// ended by the server.
    Ended,
}

/// One call's flight on a connection, with what its mode puts around it.
pub(crate) struct Tx<'c> {
    client: &'c Client,
    mode: Mode,
    progress: Progress,
    /// Set when a pooled connection must not go back to the pool.
    discard: Option<&'c AtomicBool>,
    /// The pooled connection's statement cache: statements are prepared once per connection
    /// and then sent as Bind/Execute only. `None` sends unnamed statements (`query_typed`).
    cache: Option<&'c deadpool_postgres::ClientWrapper>,
    /// The pool, with a pool: a lost commit is resolved on another of its connections.
    pool: Option<&'c deadpool_postgres::Pool>,
    /// The transaction's id (as text) and its backend's process id, once answered.
    xact: Option<(String, i32)>,
    /// How long a lost commit is looked into.
    budget: Duration,
    /// The layout, which decides how a lost commit is looked into.
    layout: Layout,
    /// A statement sent before the mode's opening one, at the transaction's level.
    prelude: Option<&'static str>,
}

/// Sent first in every flight inside a transaction on the distributed layout: Citus refuses to
/// write a reference table (`usr`) in a transaction after a multi-shard statement ran there in
/// parallel (an unscoped call's read of its org, a list across orgs, the caller's own), unless
/// the transaction runs its multi-shard statements over one connection per node. It lasts until
/// the transaction ends.
const CITUS_SEQUENTIAL: &str = "SET LOCAL citus.multi_shard_modify_mode TO 'sequential'";

/// Asks for the transaction's id (assigning one) and the backend's process id.
const XACT_SQL: &str = "SELECT pg_current_xact_id()::text, pg_backend_pid()";

/// How long a lost commit is looked into before its outcome is reported unknown, unless the
/// store is given another budget (`PostgresTenancyStore::with_resolve_budget`).
pub(crate) const RESOLVE_BUDGET: Duration = Duration::from_secs(10);

/// What became of a transaction whose `COMMIT` answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    Committed,
    Aborted,
    Unknown,
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        // The call's future was dropped while its flight was out, or its abort failed. A
        // pooled connection is then discarded: closing it makes the server roll back whatever
        // was open. Inside the store's transaction nothing more is sent: the flight carried its
        // `RELEASE`, so the work is either whole (it succeeded) or already void (a statement
        // failed, and the caller's transaction reports it aborted), and a rollback to a
        // released savepoint would abort the caller's transaction.
        if let (true, Some(discard)) = (self.needs_abort(), self.discard) {
            discard.store(true, Ordering::Relaxed);
        }
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn pool(
        client: &'c Client,
        shape: Shape,
        discard: &'c AtomicBool,
        cache: Option<&'c deadpool_postgres::ClientWrapper>,
        (pool, budget, layout): (&'c deadpool_postgres::Pool, Duration, Layout),
    ) -> Self {
        Self {
            client,
            mode: match shape {
                Shape::Read => Mode::PoolRead,
                Shape::Single => Mode::PoolAutocommit,
                Shape::Transaction => Mode::PoolTransaction,
            },
            progress: Progress::Fresh,
            discard: Some(discard),
            cache,
            pool: Some(pool),
            xact: None,
            budget,
            layout,
            prelude: None,
        }
    }

    pub(crate) fn nested(client: &'c Client, savepoint: &str, layout: Layout) -> Self {
        Self {
            client,
            mode: Mode::Savepoint {
                open: format!("SAVEPOINT {savepoint}"),
                close: format!("RELEASE SAVEPOINT {savepoint}"),
                abort: format!("ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}"),
            },
            progress: Progress::Fresh,
            discard: None,
            cache: None,
            pool: None,
            xact: None,
            budget: RESOLVE_BUDGET,
            layout: Layout::SingleNode,
            prelude: (layout == Layout::Distributed).then_some(CITUS_SEQUENTIAL),
        }
    }

    /// Whether a failure now must be followed by the mode's abort statement.
    fn needs_abort(&self) -> bool {
        self.progress == Progress::Sent && self.mode.abort().is_some()
    }

    /// Sends `stmts` in one round trip, between the mode's opening and closing statements,
    /// and returns their rows (one `Vec` per statement). A `Tx` sends one flight.
    pub(crate) async fn finish(&mut self, stmts: &[Stmt<'_>]) -> Result<Vec<Vec<Row>>> {
        if self.progress != Progress::Fresh {
            return Err(crate::error::corrupt("a second flight on one transaction"));
        }
        self.progress = Progress::Sent;
        let (open, close) = (self.mode.open(), self.mode.close());
        let phase = if self.mode.commits() {
            Phase::Commit
        } else {
            Phase::BeforeCommit
        };
        // The flight as (sql, typed parameters), borrowing everything: nothing is copied.
        type Params<'p> = &'p [(&'p (dyn ToSql + Sync), Type)];
        let mut all: Vec<(&str, Params<'_>, bool)> = Vec::with_capacity(stmts.len() + 4);
        if let Some(sql) = self.prelude {
            all.push((sql, &[], false));
        }
        if let Some(sql) = open {
            all.push((sql, &[], false));
        }
        let send_xact = self.mode.tracks_xact();
        if send_xact {
            all.push((XACT_SQL, &[], false));
        }
        let first_stmt = all.len();
        all.extend(
            stmts
                .iter()
                .map(|stmt| (stmt.sql, stmt.params.as_slice(), stmt.unnamed)),
        );
        let after_stmts = all.len();
        if let Some(sql) = close {
            all.push((sql, &[], false));
        }
        let results = match self.cache {
            None => {
                join_all(
                    all.iter()
                        .map(|(sql, params, _)| self.client.query_typed(sql, params)),
                )
                .await
            }
            Some(cache) => {
                // Cached statements resolve at once; missing ones are prepared together, in
                // one extra round trip the first time a connection meets them. Statements
                // planned each call are sent unnamed, in the same flight.
                let types: Vec<Vec<Type>> = all
                    .iter()
                    .map(|(_, params, _)| params.iter().map(|(_, ty)| ty.clone()).collect())
                    .collect();
                let prepared = join_all(
                    all.iter()
                        .zip(&types)
                        .filter(|((_, _, unnamed), _)| !unnamed)
                        .map(|((sql, _, _), types)| cache.prepare_typed_cached(sql, types)),
                )
                .await;
                let mut statements = Vec::with_capacity(prepared.len());
                for statement in prepared {
                    statements.push(statement.map_err(|error| map_pg(error, Phase::BeforeCommit))?);
                }
                let values: Vec<Vec<&(dyn ToSql + Sync)>> = all
                    .iter()
                    .map(|(_, params, _)| params.iter().map(|(value, _)| *value).collect())
                    .collect();
                let mut statements = statements.iter();
                let queries: Vec<_> = all
                    .iter()
                    .zip(&values)
                    .map(|((sql, params, unnamed), values)| {
                        // One prepared statement per named entry, in order.
                        match (!unnamed).then(|| statements.next()).flatten() {
                            Some(statement) => Either::Left(self.client.query(statement, values)),
                            None => Either::Right(self.client.query_typed(sql, params)),
                        }
                    })
                    .collect();
                join_all(queries).await
            }
        };
        let mut rows = Vec::with_capacity(stmts.len());
        let mut first_error = None;
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(found) if send_xact && index == first_stmt - 1 => {
                    self.xact = found.first().and_then(|row| {
                        Some((row.try_get::<_, String>(0).ok()?, row.try_get(1).ok()?))
                    });
                }
                Ok(found) if (first_stmt..after_stmts).contains(&index) => rows.push(found),
                Ok(_) => {}
                Err(error) => {
                    if first_error.is_none() {
                        first_error = Some(error);
                    }
                }
            }
        }
        let Some(error) = first_error else {
            if close.is_some() {
                self.progress = Progress::Ended;
            }
            return Ok(rows);
        };
        // With a pool, a COMMIT flight that failed with the server's error already ended the
        // transaction.
        if self.mode.commits() && close.is_some() && error.code().is_some() {
            self.progress = Progress::Ended;
        }
        let error = map_pg(error, phase);
        if !matches!(error, TenancyError::CommitOutcomeUnknown { .. }) {
            return Err(error);
        }
        // The connection broke while the COMMIT was in flight. The transaction's id came back
        // in the same flight when it was sent before the break: ask another connection what
        // became of it. On Citus a COMMIT the coordinator answered with a worker's lost
        // connection ended a transaction whose coordinator backend lives on: nothing is left to
        // wait for, and the write's probe decides.
        let answered = error_answered(&error);
        let (Some(pool), Some((xid, pid))) = (self.pool, self.xact.clone()) else {
            return Err(error);
        };
        if self.layout == Layout::Distributed && answered {
            return Err(error);
        }
        match resolve(pool, &xid, pid, self.budget, self.layout).await {
            Resolution::Committed => {
                // Its rows are lost with the answer: the write's probe reads the marks it left
                // (`run`), as for a commit whose id never came back.
                self.progress = Progress::Ended;
                tracing::debug!("a lost commit was found committed");
                Err(error)
            }
            Resolution::Aborted => {
                self.progress = Progress::Ended;
                tracing::debug!("a lost commit was found rolled back");
                let TenancyError::CommitOutcomeUnknown { source } = error else {
                    return Err(error);
                };
                Err(TenancyError::ConnectionLost { source })
            }
            Resolution::Unknown => Err(error),
        }
    }

    /// Undoes the call's work after a failure: `ROLLBACK` with a pool, or rolls back to and
    /// releases the savepoint inside a transaction. Returns false if the connection could not
    /// run it (a pooled connection is then discarded).
    pub(crate) async fn abort(&mut self) -> bool {
        let Some(sql) = self.mode.abort().filter(|_| self.needs_abort()) else {
            return true;
        };
        let done = self.client.batch_execute(sql).await.is_ok();
        if !done {
            if let Some(discard) = self.discard {
                discard.store(true, Ordering::Relaxed);
            }
        }
        self.progress = Progress::Ended;
        done
    }
}

/// Polls a driver future once so that its request is written to the connection's queue,
/// then drops it: tokio-postgres sends a request on first poll and discards answers nobody
/// waits for.
pub(crate) fn send_without_waiting(future: impl Future) {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    let _ = matches!(future.as_mut().poll(&mut context), Poll::Ready(_));
}

/// A short, growing pause before retrying a transient conflict.
pub(crate) async fn backoff(attempt: u32) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_fields().0 % 4);
    let millis = (1_u64 << attempt.min(6)) + jitter;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// Whether a pool call that failed with `error` should be tried again.
pub(crate) fn should_retry(error: &TenancyError, attempt: u32) -> bool {
    error.is_retryable() && attempt + 1 < MAX_ATTEMPTS
}

/// A savepoint name `ft_<method>_<8 lowercase hex>`, unique in practice within a connection.
pub(crate) fn savepoint_name(method: &str) -> String {
    let random = uuid::Uuid::new_v4().as_u128() as u32;
    format!("ft_{method}_{random:08x}")
}

/// Inside a caller's transaction, a conflict met at REPEATABLE READ or SERIALIZABLE can only
/// be cured by a new snapshot, so its scope becomes the caller's whole transaction. Asks the
/// server for the level (one round trip, only on this error path); when even that fails, the
/// safe answer is the transaction.
pub(crate) async fn scope_nested_conflict(client: &Client, error: TenancyError) -> TenancyError {
    let TenancyError::RetryableConflict { kind, source, .. } = error else {
        return error;
    };
    let level = client
        .query_one("SELECT current_setting('transaction_isolation')", &[])
        .await
        .ok()
        .and_then(|row| row.try_get::<_, String>(0).ok());
    let scope = match level.as_deref() {
        Some("read committed" | "read uncommitted") => RetryScope::Call,
        _ => RetryScope::Transaction,
    };
    TenancyError::RetryableConflict {
        kind,
        scope,
        source,
    }
}

/// A new connection made by `pool`'s manager, outside the pool: a call that lost its
/// connection still holds that pool slot, and the pool may have no other.
async fn side_connection(
    pool: &deadpool_postgres::Pool,
) -> Option<deadpool_postgres::ClientWrapper> {
    deadpool::managed::Manager::create(pool.manager())
        .await
        .ok()
}

/// Finds out, on a new connection made by `pool`'s manager, whether the transaction `xid` (run by backend
/// `pid`) committed: polls `pg_xact_status` through "in progress" until the transaction ends,
/// within `budget`. No answer (NULL: the id is too old to know; an error: an id "in
/// the future", from another server) is [`Resolution::Unknown`], as is a server that stays
/// unreachable.
pub(crate) async fn resolve(
    pool: &deadpool_postgres::Pool,
    xid: &str,
    pid: i32,
    budget: Duration,
    layout: Layout,
) -> Resolution {
    if layout == Layout::Distributed {
        return resolve_distributed(pool, xid, pid, budget).await;
    }
    let deadline = std::time::Instant::now() + budget;
    loop {
        if let Some(client) = side_connection(pool).await {
            {
                let asked = client
                    .query_typed(
                        "SELECT pg_xact_status($1::text::xid8), \
                         EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $2)",
                        &[(&xid, Type::TEXT), (&pid, Type::INT4)],
                    )
                    .await;
                match asked {
                    Ok(rows) => {
                        let status: Option<String> =
                            rows.first().and_then(|row| row.try_get(0).ok());
                        match status.as_deref() {
                            Some("committed") => return Resolution::Committed,
                            Some("aborted") => return Resolution::Aborted,
                            // The backend has not yet seen its connection go; wait for it.
                            Some("in progress") => {}
                            _ => return Resolution::Unknown,
                        }
                    }
                    // This connection failed too (it broke, or its backend was terminated):
                    // try another.
                    Err(error) if connection_failed(&error) => {}
                    // The server refused the question: it cannot tell.
                    Err(_) => return Resolution::Unknown,
                }
            }
        }
        if std::time::Instant::now() >= deadline {
            return Resolution::Unknown;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a lost-commit error carries the server's own answer (a SQLSTATE), rather than a
/// broken connection.
fn error_answered(error: &TenancyError) -> bool {
    let TenancyError::CommitOutcomeUnknown { source } = error else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .is_some_and(|error| error.code().is_some())
}

/// Whether any backend of the distributed transaction run by the coordinator's backend `pid`
/// is still alive on any node (Citus tags a worker's connections with the coordinator
/// backend's global pid, the coordinator's node id times 10^10 plus its pid; a coordinator not
/// in `pg_dist_node` counts as node 99999999, as Citus counts it), and the coordinator's view of
/// transaction `xid`.
const DISTRIBUTED_STATUS_SQL: &str = "SELECT pg_xact_status($1::text::xid8), \
    EXISTS (SELECT 1 FROM citus_stat_activity WHERE global_pid = \
        coalesce((SELECT nodeid FROM pg_dist_node WHERE groupid = 0 ORDER BY nodeid LIMIT 1), \
                 99999999)::bigint * 10000000000 + $2)";

/// [`resolve`] on Citus, where the coordinator's `pg_xact_status` is not an answer on its own:
/// a transaction that wrote on one worker commits there in one phase before the coordinator's
/// own commit (so "aborted" or "in progress" on the coordinator may be a committed write, while
/// "committed" means every worker committed: a worker's failed commit aborts the coordinator),
/// and a two-phase one may leave prepared transactions on the workers for Citus's recovery to
/// finish. So: wait until no backend of the transaction is alive on any node, finish any
/// two-phase commit Citus left in doubt (`recover_prepared_transactions()`), and then believe
/// only "committed". Anything else is [`Resolution::Unknown`], and the write's probe reads its
/// marks.
async fn resolve_distributed(
    pool: &deadpool_postgres::Pool,
    xid: &str,
    pid: i32,
    budget: Duration,
) -> Resolution {
    let deadline = std::time::Instant::now() + budget;
    loop {
        if let Some(client) = side_connection(pool).await {
            let asked = client
                .query_typed(
                    DISTRIBUTED_STATUS_SQL,
                    &[(&xid, Type::TEXT), (&pid, Type::INT4)],
                )
                .await;
            match asked {
                Ok(rows) => {
                    let alive = rows
                        .first()
                        .and_then(|row| row.try_get::<_, bool>(1).ok())
                        .unwrap_or(true);
                    if !alive {
                        match recover_in_doubt(&client).await {
                            Recovery::Done => {}
                            // This connection (or one of its own to a worker) failed: try
                            // another, within the budget.
                            Recovery::ConnectionFailed => {
                                if std::time::Instant::now() >= deadline {
                                    return Resolution::Unknown;
                                }
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        }
                        let status: Option<String> = client
                            .query_typed(
                                "SELECT pg_xact_status($1::text::xid8)",
                                &[(&xid, Type::TEXT)],
                            )
                            .await
                            .ok()
                            .and_then(|rows| rows.first().and_then(|row| row.try_get(0).ok()));
                        return match status.as_deref() {
                            Some("committed") => Resolution::Committed,
                            _ => Resolution::Unknown,
                        };
                    }
                }
                Err(error) if side_failed(&error) => {}
                Err(_) => return Resolution::Unknown,
            }
        }
        if std::time::Instant::now() >= deadline {
            return Resolution::Unknown;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What [`recover_in_doubt`] came to.
enum Recovery {
    /// Done, or not allowed (the store's role may not run it: Citus's maintenance daemon then
    /// finishes the in-doubt commits on its own schedule, and the probe may read them late).
    Done,
    /// The connection, or one of its own to a worker, failed: try another.
    ConnectionFailed,
}

/// Whether a side connection's statement failed because a connection did (its own, or, on
/// Citus, one of its connections to a worker): another may still answer.
fn side_failed(error: &tokio_postgres::Error) -> bool {
    connection_failed(error) || crate::error::relayed_worker_loss(error)
}

/// Finishes the two-phase commits Citus left in doubt on the workers (committed where the
/// coordinator recorded the commit, rolled back elsewhere), so that a probe reads what the
/// transaction came to.
async fn recover_in_doubt(client: &Client) -> Recovery {
    match client
        .batch_execute("SELECT recover_prepared_transactions()")
        .await
    {
        Ok(()) => Recovery::Done,
        Err(error) if side_failed(&error) => Recovery::ConnectionFailed,
        Err(error) => {
            tracing::debug!(%error, "in-doubt two-phase commits not finished");
            Recovery::Done
        }
    }
}

/// After a write lost its answer without its transaction's id: the rows of `probe`, the read
/// of the marks the write leaves (its new rows by the ids the SDK chose, or the status, actor
/// and time it stamped). `None` when no connection could tell within `budget`.
pub(crate) async fn probe(
    pool: &deadpool_postgres::Pool,
    probe: &Stmt<'_>,
    budget: Duration,
    layout: Layout,
) -> Option<Vec<Row>> {
    let deadline = std::time::Instant::now() + budget;
    loop {
        if let Some(client) = side_connection(pool).await {
            // On Citus, a two-phase commit left in doubt is finished first, so that the marks
            // of a write that committed are there to read.
            let recovered = match layout {
                Layout::SingleNode => Recovery::Done,
                Layout::Distributed => recover_in_doubt(&client).await,
            };
            let read = match recovered {
                Recovery::Done => Some(client.query_typed(probe.sql, &probe.params).await),
                Recovery::ConnectionFailed => None,
            };
            match read {
                Some(Ok(rows)) => return Some(rows),
                // This connection failed too: try another.
                None => {}
                Some(Err(error)) if side_failed(&error) => {}
                Some(Err(_)) => return None,
            }
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
