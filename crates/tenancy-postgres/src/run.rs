//! The run of one call: its flight sent over a pooled connection (with bounded retries and
//! lost-commit resolution) or inside a savepoint of the caller's transaction, and its rows
//! read by the call's own function.
//!
//! Every operation is a [`Call`]: which operation it is, its [`Shape`], the statements of its
//! one flight, and, for a write whose answer can be lost, the [`Probe`] that reads the marks it
//! leaves. [`run`] takes it with the function that turns the flight's rows into the call's
//! value, and does the rest:
//!
//! - **With a pool**, each attempt takes a connection, sends the flight (inside `BEGIN` …
//!   `COMMIT` for a [`Shape::Transaction`]) and reads its rows; a failed attempt is rolled
//!   back. An attempt whose commit answer was lost is settled by [`settle_lost`] from what the
//!   probe finds. A retryable failure is tried again after a pause, up to
//!   [`MAX_ATTEMPTS`](crate::exec::MAX_ATTEMPTS) attempts in all ([`should_retry`]).
//! - **Inside a transaction** (the caller's, or one [`begin`](crate::PostgresTenancyStore::begin)
//!   opened), the flight runs inside a savepoint named after the operation; a failure rolls the
//!   savepoint back, and a conflict's retry scope is widened to the caller's transaction where
//!   its isolation level needs it. Nothing is retried: the caller decides.

use std::fmt::Display;

use flametrench_tenancy_core::{Op, Result, TenancyError};
use tokio_postgres::Row;
use tracing::Instrument;

use crate::error::corrupt;
use crate::exec::{
    Shape, Stmt, Tx, backoff, probe as read_marks, savepoint_name, scope_nested_conflict,
    should_retry,
};
use crate::store::{PooledConnection, PostgresTenancyStore, Source};

/// What a write's rows say after its answer was lost: the call's value when they carry the
/// call's marks, `None` when they do not.
pub(crate) type ReadMarks<'p, T> = dyn Fn(&[Row]) -> Result<Option<T>> + Sync + 'p;

/// For a write whose answer can be lost: the read of the marks it leaves (its new rows by the
/// ids the store chose, or the status, actor and time it stamped), and what they say.
pub(crate) struct Probe<'p, 's, T> {
    stmt: Stmt<'s>,
    read: &'p ReadMarks<'p, T>,
}

/// One call: the operation, its shape, and (for a write) its probe.
pub(crate) struct Call<'p, 's, T> {
    op: Op,
    shape: Shape,
    probe: Option<Probe<'p, 's, T>>,
}

impl<'p, 's, T> Call<'p, 's, T> {
    /// A read: one flight, no transaction with a pool, safe to repeat.
    pub(crate) fn read(op: Op) -> Self {
        Self {
            op,
            shape: Shape::Read,
            probe: None,
        }
    }

    /// A write of the given shape, without a probe (its answer, if lost, stays unknown).
    pub(crate) fn write(op: Op, shape: Shape) -> Self {
        Self {
            op,
            shape,
            probe: None,
        }
    }

    /// Adds the probe that settles a lost answer: `stmt` reads the write's marks, `read` says
    /// what they mean.
    pub(crate) fn probe(mut self, stmt: Stmt<'s>, read: &'p ReadMarks<'p, T>) -> Self {
        self.probe = Some(Probe { stmt, read });
        self
    }
}

/// Runs `call`: sends `stmts` in one flight and returns what `read` makes of their rows (one
/// `Vec<Row>` per statement, in order). `id`, the operation's main id, names the tracing span
/// with the operation; never an invitation identifier.
pub(crate) async fn run<T>(
    store: &PostgresTenancyStore<'_, '_>,
    call: Call<'_, '_, T>,
    id: impl Display,
    stmts: &[Stmt<'_>],
    read: impl Fn(Vec<Vec<Row>>) -> Result<T> + Sync,
) -> Result<T> {
    let span = tracing::debug_span!("flametrench.tenancy", op = call.op.name(), id = %id);
    async {
        match &store.source {
            Source::Pool(pool) => pooled(store, pool, &call, stmts, &read).await,
            Source::Nested(_) | Source::Owned(_) => nested(store, call.op, stmts, &read).await,
        }
    }
    .instrument(span)
    .await
}

/// A call over the pool: attempts until one settles or the retries run out.
async fn pooled<T>(
    store: &PostgresTenancyStore<'_, '_>,
    pool: &deadpool_postgres::Pool,
    call: &Call<'_, '_, T>,
    stmts: &[Stmt<'_>],
    read: &(impl Fn(Vec<Vec<Row>>) -> Result<T> + Sync),
) -> Result<T> {
    // An earlier attempt's commit answer was lost: its marks are looked for after every
    // later failure too, since that attempt may still have committed.
    let mut lost_commit = false;
    let mut attempt: u32 = 0;
    loop {
        let result = match (
            attempt_once(store, pool, call.shape, stmts, read).await,
            &call.probe,
        ) {
            (Err(error), Some(probe))
                if lost_commit || matches!(error, TenancyError::CommitOutcomeUnknown { .. }) =>
            {
                let found = read_marks(pool, &probe.stmt, store.resolve_budget, store.sql.layout)
                    .await
                    .map(|rows| (probe.read)(&rows));
                let settled = settle_lost(error, found);
                lost_commit |= settled.lost_commit;
                settled.result
            }
            (result, _) => result,
        };
        match result {
            Err(error) if should_retry(&error, attempt) => {
                tracing::debug!(attempt, code = error.code(), "retrying");
                backoff(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One attempt over the pool: a connection, the flight, its rows read; rolled back on
/// failure.
async fn attempt_once<T>(
    store: &PostgresTenancyStore<'_, '_>,
    pool: &deadpool_postgres::Pool,
    shape: Shape,
    stmts: &[Stmt<'_>],
    read: &(impl Fn(Vec<Vec<Row>>) -> Result<T> + Sync),
) -> Result<T> {
    let connection = PooledConnection::get(pool).await?;
    let Some(client) = connection.client() else {
        return Err(corrupt("pooled connection missing"));
    };
    let cache = if store.prepared {
        connection.wrapper()
    } else {
        None
    };
    let mut tx = Tx::pool(
        client,
        shape,
        &connection.discard,
        cache,
        (pool, store.resolve_budget, store.sql.layout),
    );
    let result = tx.finish(stmts).await.and_then(read);
    if result.is_err() {
        tx.abort().await;
    }
    result
}

/// A call inside the store's transaction: one savepoint, no retry.
async fn nested<T>(
    store: &PostgresTenancyStore<'_, '_>,
    op: Op,
    stmts: &[Stmt<'_>],
    read: &(impl Fn(Vec<Vec<Row>>) -> Result<T> + Sync),
) -> Result<T> {
    let guard = store.nested_guard().await?;
    let name = savepoint_name(op.name());
    let mut tx = Tx::nested(guard.client(), &name, store.sql.layout);
    match tx.finish(stmts).await.and_then(read) {
        Ok(value) => Ok(value),
        Err(error) => {
            tx.abort().await;
            Err(scope_nested_conflict(guard.client(), error).await)
        }
    }
}

/// A lost answer settled by the write's marks.
#[derive(Debug)]
pub(crate) struct Settled<T> {
    /// The call's result.
    pub(crate) result: Result<T>,
    /// Whether this attempt's commit answer was lost with no marks found: the attempt may
    /// still commit, so later attempts look for its marks too.
    pub(crate) lost_commit: bool,
}

/// What a write whose answer was lost (`error`) comes to, from what its probe found: `None`
/// when no connection could tell, else the probe's reading of the marks.
///
/// - Marks found: the work is done, and the call succeeds with the value they carry.
/// - No marks after an unknown commit outcome: the attempt wrote nothing that committed yet,
///   so the call is made again (as `storage.connection_lost`, which is retried) with the same
///   ids and time. Should the lost attempt still commit, the guard of one of the two refuses
///   (or its insert fails on the row's key), and the marks are then found: the work is done
///   exactly once.
/// - No marks after another failure: that failure stands.
/// - The probe failed to read or could not be made: its failure, or the original one.
pub(crate) fn settle_lost<T>(error: TenancyError, found: Option<Result<Option<T>>>) -> Settled<T> {
    let result = match found {
        Some(Ok(Some(value))) => Ok(value),
        Some(Ok(None)) => match error {
            TenancyError::CommitOutcomeUnknown { source } => {
                return Settled {
                    result: Err(TenancyError::ConnectionLost { source }),
                    lost_commit: true,
                };
            }
            other => Err(other),
        },
        Some(Err(read_error)) => Err(read_error),
        None => Err(error),
    };
    Settled {
        result,
        lost_commit: false,
    }
}

#[cfg(test)]
mod tests {
    use flametrench_tenancy_core::{ConflictKind, RetryScope};

    use super::*;
    use crate::exec::MAX_ATTEMPTS;

    fn unknown() -> TenancyError {
        TenancyError::CommitOutcomeUnknown {
            source: Box::new(std::io::Error::other("commit answer lost")),
        }
    }

    fn conflict() -> TenancyError {
        TenancyError::RetryableConflict {
            kind: ConflictKind::SerializationFailure,
            scope: RetryScope::Call,
            source: Box::new(std::io::Error::other("conflict")),
        }
    }

    #[test]
    fn marks_found_make_the_call_succeed_whatever_the_failure() {
        for error in [unknown(), conflict(), corrupt("x")] {
            let settled = settle_lost(error, Some(Ok(Some(7))));
            assert_eq!(settled.result.ok(), Some(7));
            assert!(!settled.lost_commit);
        }
    }

    #[test]
    fn no_marks_after_an_unknown_commit_is_a_lost_connection_to_retry() {
        let settled = settle_lost::<()>(unknown(), Some(Ok(None)));
        let error = settled.result.expect_err("not done");
        assert_eq!(error.code(), "storage.connection_lost");
        assert!(should_retry(&error, 0), "a lost connection is tried again");
        assert!(settled.lost_commit, "later attempts look for the marks too");
    }

    #[test]
    fn no_marks_after_another_failure_leave_it_standing() {
        let settled = settle_lost::<()>(conflict(), Some(Ok(None)));
        assert_eq!(
            settled.result.expect_err("failed").code(),
            "storage.retryable_conflict"
        );
        assert!(!settled.lost_commit);
    }

    #[test]
    fn a_probe_that_cannot_tell_leaves_the_outcome_unknown() {
        let settled = settle_lost::<()>(unknown(), None);
        assert_eq!(
            settled.result.expect_err("unknown").code(),
            "storage.commit_outcome_unknown"
        );
        assert!(!settled.lost_commit);
        let read_failed = settle_lost::<()>(unknown(), Some(Err(corrupt("a bad row"))));
        assert_eq!(
            read_failed.result.expect_err("read failed").code(),
            "storage.backend"
        );
    }

    #[test]
    fn retries_stop_after_the_last_attempt_and_never_for_a_final_error() {
        let retried: Vec<bool> = (0..MAX_ATTEMPTS)
            .map(|attempt| should_retry(&conflict(), attempt))
            .collect();
        assert!(retried[..retried.len() - 1].iter().all(|&retry| retry));
        assert!(!retried[retried.len() - 1]);
        assert!(
            !should_retry(&unknown(), 0),
            "an unknown outcome is settled, not retried"
        );
        assert!(!should_retry(&corrupt("x"), 0));
    }
}
