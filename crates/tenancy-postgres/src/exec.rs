//! How an operation reaches the database: pipelined statements, the transaction or savepoint
//! around them, rollback on failure, cancellation safety, and bounded retries with a pool.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flametrench_tenancy_core::{Result, RetryScope, TenancyError};
use futures_util::future::join_all;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::error::{Phase, map_pg};

/// One statement with its typed parameters.
pub(crate) struct Stmt<'a> {
    pub(crate) sql: &'a str,
    pub(crate) params: Vec<(&'a (dyn ToSql + Sync), Type)>,
}

impl<'a> Stmt<'a> {
    /// A statement without parameters.
    pub(crate) fn new(sql: &'a str) -> Self {
        Self {
            sql,
            params: Vec::new(),
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
        }
    }

    /// Whether a failure now must be followed by an abort statement.
    pub(crate) fn needs_abort(&self) -> bool {
        self.opened && !self.closed && self.abort.is_some()
    }

    /// Runs `stmts` in one round trip, preceded by the opening statement if not yet sent.
    pub(crate) async fn run(&mut self, stmts: &[Stmt<'_>]) -> Result<Vec<Vec<Row>>> {
        self.flight(stmts, false).await
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
        let mut all: Vec<(&str, Params<'_>)> = Vec::with_capacity(stmts.len() + 2);
        if let (true, Some(sql)) = (send_open, self.open.as_deref()) {
            all.push((sql, &[]));
        }
        all.extend(stmts.iter().map(|stmt| (stmt.sql, stmt.params.as_slice())));
        if let (true, Some(sql)) = (send_close, self.close.as_deref()) {
            all.push((sql, &[]));
        }
        let results = match self.cache {
            None => {
                join_all(
                    all.iter()
                        .map(|(sql, params)| self.client.query_typed(sql, params)),
                )
                .await
            }
            Some(cache) => {
                // Cached statements resolve at once; missing ones are prepared together, in
                // one extra round trip the first time a connection meets them.
                let types: Vec<Vec<Type>> = all
                    .iter()
                    .map(|(_, params)| params.iter().map(|(_, ty)| ty.clone()).collect())
                    .collect();
                let prepared = join_all(
                    all.iter()
                        .zip(&types)
                        .map(|((sql, _), types)| cache.prepare_typed_cached(sql, types)),
                )
                .await;
                let mut statements = Vec::with_capacity(prepared.len());
                for statement in prepared {
                    statements.push(statement.map_err(|error| map_pg(error, Phase::BeforeCommit))?);
                }
                let values: Vec<Vec<&(dyn ToSql + Sync)>> = all
                    .iter()
                    .map(|(_, params)| params.iter().map(|(value, _)| *value).collect())
                    .collect();
                join_all(
                    statements
                        .iter()
                        .zip(&values)
                        .map(|(statement, values)| self.client.query(statement, values)),
                )
                .await
            }
        };
        let mut rows = Vec::with_capacity(stmts.len());
        let mut first_error = None;
        for (index, result) in results.into_iter().enumerate() {
            match result {
                Ok(found) => {
                    let is_open = send_open && index == 0;
                    let is_close = send_close && index == all.len() - 1;
                    if !is_open && !is_close {
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
                Err(map_pg(error, phase))
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
fn send_without_waiting(future: impl Future) {
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
