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

use crate::error::{Phase, map_pg};

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
    /// Several flights: `BEGIN … COMMIT` with a pool; a savepoint inside a caller's transaction.
    Transaction,
}

/// The statements an open transaction or savepoint needs around an operation's work.
pub(crate) struct Tx<'c> {
    client: &'c Client,
    open: Option<String>,
    close: Option<String>,
    abort: Option<String>,
    /// The opening statement was sent, so an abort is due on failure.
    opened: bool,
    /// The closing statement succeeded.
    closed: bool,
    /// The closing statement was sent (its answer may not have arrived).
    close_sent: bool,
    /// A single autocommit write: its last flight commits.
    autocommit_write: bool,
    nested: bool,
    /// Set when a pooled connection must not go back to the pool.
    discard: Option<&'c AtomicBool>,
    /// The pooled connection's statement cache: statements are prepared once per connection
    /// and then sent as Bind/Execute only. `None` sends unnamed statements (`query_typed`).
    cache: Option<&'c deadpool_postgres::ClientWrapper>,
    /// The pool, with a pool: a lost commit is resolved on another of its connections.
    pool: Option<&'c deadpool_postgres::Pool>,
    /// Whether the opening flight asks for the transaction's id and backend (pool
    /// transactions), so that a commit whose answer is lost can be resolved.
    track_xact: bool,
    /// The transaction's id (as text) and its backend's process id, once answered.
    xact: Option<(String, i32)>,
}

/// Asks for the transaction's id (assigning one) and the backend's process id.
const XACT_SQL: &str = "SELECT pg_current_xact_id()::text, pg_backend_pid()";

/// How long a lost commit is looked into before its outcome is reported unknown.
const RESOLVE_BUDGET: Duration = Duration::from_secs(10);

/// What became of a transaction whose `COMMIT` answer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    Committed,
    Aborted,
    Unknown,
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.needs_abort() {
            return;
        }
        // The operation's future was dropped part-way, or its abort failed.
        match self.discard {
            Some(discard) => discard.store(true, Ordering::Relaxed),
            None => self.abort_in_background(),
        }
    }
}

impl<'c> Tx<'c> {
    pub(crate) fn pool(
        client: &'c Client,
        shape: Shape,
        discard: &'c AtomicBool,
        cache: Option<&'c deadpool_postgres::ClientWrapper>,
        pool: &'c deadpool_postgres::Pool,
    ) -> Self {
        let (open, close, abort) = match shape {
            Shape::Read | Shape::Single => (None, None, None),
            Shape::Transaction => (
                // Pool transactions choose their isolation level rather than inherit the
                // server's `default_transaction_isolation`.
                Some("BEGIN ISOLATION LEVEL READ COMMITTED".to_owned()),
                Some("COMMIT".to_owned()),
                Some("ROLLBACK".to_owned()),
            ),
        };
        Self {
            client,
            open,
            close,
            abort,
            opened: false,
            closed: false,
            close_sent: false,
            autocommit_write: shape == Shape::Single,
            nested: false,
            discard: Some(discard),
            cache,
            pool: Some(pool),
            track_xact: shape == Shape::Transaction,
            xact: None,
        }
    }

    pub(crate) fn nested(client: &'c Client, savepoint: &str) -> Self {
        Self {
            client,
            open: Some(format!("SAVEPOINT {savepoint}")),
            close: Some(format!("RELEASE SAVEPOINT {savepoint}")),
            abort: Some(format!(
                "ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}"
            )),
            opened: false,
            closed: false,
            close_sent: false,
            autocommit_write: false,
            nested: true,
            discard: None,
            cache: None,
            pool: None,
            track_xact: false,
            xact: None,
        }
    }

    /// Whether a failure now must be followed by an abort statement.
    pub(crate) fn needs_abort(&self) -> bool {
        self.opened && !self.closed && self.abort.is_some()
    }

    /// Runs the last `stmts` in one round trip, followed by the closing statement.
    pub(crate) async fn finish(&mut self, stmts: &[Stmt<'_>]) -> Result<Vec<Vec<Row>>> {
        self.flight(stmts, true).await
    }

    async fn flight(&mut self, stmts: &[Stmt<'_>], last: bool) -> Result<Vec<Vec<Row>>> {
        let send_open = !self.opened && self.open.is_some();
        let send_close = last && self.close.is_some();
        self.opened = true;
        self.close_sent |= send_close;
        let commits = (send_close && !self.nested) || (last && self.autocommit_write);
        let phase = if commits {
            Phase::Commit
        } else {
            Phase::BeforeCommit
        };
        // The flight as (sql, typed parameters), borrowing everything: nothing is copied.
        type Params<'p> = &'p [(&'p (dyn ToSql + Sync), Type)];
        let mut all: Vec<(&str, Params<'_>, bool)> = Vec::with_capacity(stmts.len() + 2);
        if let (true, Some(sql)) = (send_open, self.open.as_deref()) {
            all.push((sql, &[], false));
        }
        let send_xact = send_open && self.track_xact;
        if send_xact {
            all.push((XACT_SQL, &[], false));
        }
        all.extend(
            stmts
                .iter()
                .map(|stmt| (stmt.sql, stmt.params.as_slice(), stmt.unnamed)),
        );
        if let (true, Some(sql)) = (send_close, self.close.as_deref()) {
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
        let xact_index = usize::from(send_open && self.open.is_some());
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(found) => {
                    let is_open = send_open && self.open.is_some() && index == 0;
                    let is_xact = send_xact && index == xact_index;
                    let is_close = send_close && index == all.len() - 1;
                    if is_xact {
                        self.xact = found.first().and_then(|row| {
                            Some((row.try_get::<_, String>(0).ok()?, row.try_get(1).ok()?))
                        });
                    } else if !is_open && !is_close {
                        rows.push(found);
                    }
                }
                Err(error) => {
                    if first_error.is_none() {
                        first_error = Some(error);
                    }
                }
            }
        }
        match first_error {
            None => {
                self.closed |= send_close;
                Ok(rows)
            }
            Some(error) => {
                // With a pool, a failed COMMIT flight already ended the transaction.
                if send_close && !self.nested && error.code().is_some() {
                    self.closed = true;
                }
                let error = map_pg(error, phase);
                if !matches!(error, TenancyError::CommitOutcomeUnknown { .. }) {
                    return Err(error);
                }
                // The connection broke while the COMMIT was in flight. The transaction's id
                // came back in the first flight: ask another connection what became of it.
                let (Some(pool), Some((xid, pid))) = (self.pool, self.xact.clone()) else {
                    return Err(error);
                };
                match resolve(pool, &xid, pid).await {
                    Resolution::Committed => {
                        // Its rows are lost with the answer: the write's probe reads the marks
                        // it left (`transact!`), as for a commit whose id never came back.
                        self.closed = true;
                        tracing::debug!("a lost commit was found committed");
                        Err(error)
                    }
                    Resolution::Aborted => {
                        self.closed = true;
                        tracing::debug!("a lost commit was found rolled back");
                        let TenancyError::CommitOutcomeUnknown { source } = error else {
                            return Err(error);
                        };
                        Err(TenancyError::ConnectionLost { source })
                    }
                    Resolution::Unknown => Err(error),
                }
            }
        }
    }

    /// Undoes the operation's work after a failure: `ROLLBACK` with a pool, or rolls back
    /// to and releases the savepoint inside a caller's transaction. Returns false if the
    /// connection could not run it (a pooled connection is then discarded).
    pub(crate) async fn abort(&mut self) -> bool {
        if !self.needs_abort() {
            return true;
        }
        let Some(sql) = self.abort.clone() else {
            return true;
        };
        let done = self.client.batch_execute(&sql).await.is_ok();
        if !done {
            if let Some(discard) = self.discard {
                discard.store(true, Ordering::Relaxed);
            }
        }
        self.closed = true;
        done
    }

    /// Sends the abort statement without waiting for its answer; used when the operation's
    /// future is dropped part-way. The server runs it after whatever was already sent.
    pub(crate) fn abort_in_background(&mut self) {
        // Once the closing statement is on its way the work is either whole (it succeeded) or
        // already void (a statement failed); a rollback to a released savepoint would abort
        // the caller's transaction, so nothing more is sent.
        if !self.needs_abort() || self.close_sent {
            return;
        }
        if let Some(sql) = self.abort.clone() {
            send_without_waiting(self.client.batch_execute(&sql));
        }
        self.closed = true;
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
/// within [`RESOLVE_BUDGET`]. No answer (NULL: the id is too old to know; an error: an id "in
/// the future", from another server) is [`Resolution::Unknown`], as is a server that stays
/// unreachable.
pub(crate) async fn resolve(pool: &deadpool_postgres::Pool, xid: &str, pid: i32) -> Resolution {
    let deadline = std::time::Instant::now() + RESOLVE_BUDGET;
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
                    // The server answered with an error: it cannot tell.
                    Err(error) if error.code().is_some() => return Resolution::Unknown,
                    // This connection broke too: try another.
                    Err(_) => {}
                }
            }
        }
        if std::time::Instant::now() >= deadline {
            return Resolution::Unknown;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// After a write lost its answer without its transaction's id: the rows of `probe`, the read
/// of the marks the write leaves (its new rows by the ids the SDK chose, or the status, actor
/// and time it stamped). `None` when no connection could tell.
pub(crate) async fn probe(pool: &deadpool_postgres::Pool, probe: &Stmt<'_>) -> Option<Vec<Row>> {
    let deadline = std::time::Instant::now() + RESOLVE_BUDGET;
    loop {
        if let Some(client) = side_connection(pool).await {
            match client.query_typed(probe.sql, &probe.params).await {
                Ok(rows) => return Some(rows),
                Err(error) if error.code().is_some() => return None,
                Err(_) => {}
            }
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
