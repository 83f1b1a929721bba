//! Maps driver and pool failures onto the SDK's typed errors. Never parses message text.

use flametrench_tenancy_core::{ConflictKind, Entity, RetryScope, TenancyError};
use tokio_postgres::error::SqlState;

/// Where in a transaction a failure happened, which decides what a lost connection means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing that commits was in flight: a lost connection means no effect.
    BeforeCommit,
    /// A `COMMIT` was in flight: a lost connection leaves the outcome unknown.
    Commit,
}

/// A constraint's name without the shard suffix Citus gives it on a worker
/// (`mem_unique_active_102008` is `mem_unique_active`).
fn unsharded(name: &str) -> &str {
    match name.rsplit_once('_') {
        Some((base, shard))
            if !shard.is_empty() && shard.bytes().all(|byte| byte.is_ascii_digit()) =>
        {
            base
        }
        _ => name,
    }
}

/// The constraint a violation's message names, for an error relayed from a Citus worker, which
/// leaves the constraint field out: `... violates unique constraint "name"`.
fn quoted_constraint(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once(" constraint \"")?;
    rest.split_once('"').map(|(name, _)| name)
}

/// The entity a foreign key points at, from its constraint name (the names PostgreSQL gives
/// the reference schema's inline `REFERENCES`).
fn fk_entity(constraint: &str) -> Option<Entity> {
    match constraint {
        "mem_org_id_fkey" | "inv_org_id_fkey" => Some(Entity::Org),
        "mem_replaces_fkey" => Some(Entity::Membership),
        "mem_usr_id_fkey"
        | "mem_invited_by_fkey"
        | "mem_removed_by_fkey"
        | "inv_invited_by_fkey"
        | "inv_invited_user_id_fkey"
        | "inv_terminal_by_fkey"
        | "tup_created_by_fkey" => Some(Entity::User),
        _ => None,
    }
}

/// The SDK's error for a failure of the application's own statement: the same classification
/// the store gives its own (SQLSTATE and constraint to [`ErrorKind`], a deadlock, a
/// serialization failure, a lock or statement timeout as `storage.retryable_conflict`, a broken
/// connection as `storage.connection_lost`, the reference schema's constraints as the SDK's
/// conflicts), so one error type and one retry rule serve both.
///
/// A retryable conflict is given [`RetryScope::Transaction`]: an error inside a transaction
/// aborts it, so what may be run again is the whole transaction (the unit of work); in
/// autocommit, that is the statement itself.
///
/// ```
/// use flametrench_tenancy_postgres::{classify, tokio_postgres};
///
/// # async fn demo(client: &tokio_postgres::Client) -> Result<(), flametrench_tenancy_core::TenancyError> {
/// client
///     .execute("INSERT INTO audit_log (what) VALUES ($1)", &[&"org created"])
///     .await
///     .map_err(classify)?;
/// # Ok(()) }
/// ```
///
/// [`ErrorKind`]: flametrench_tenancy_core::ErrorKind
pub fn classify(error: tokio_postgres::Error) -> TenancyError {
    transaction_scoped(map_pg(error, Phase::BeforeCommit))
}

/// A retryable conflict, scoped to the transaction it ended; any other error as it is.
pub(crate) fn transaction_scoped(error: TenancyError) -> TenancyError {
    match error {
        TenancyError::RetryableConflict { kind, source, .. } => TenancyError::RetryableConflict {
            kind,
            scope: RetryScope::Transaction,
            source,
        },
        other => other,
    }
}

/// As [`classify`], for an error of a `COMMIT` the application sent itself: a connection that
/// broke with the `COMMIT` in flight is `storage.commit_outcome_unknown` (it may have
/// committed), not `storage.connection_lost`.
pub fn classify_commit(error: tokio_postgres::Error) -> TenancyError {
    transaction_scoped(map_pg(error, Phase::Commit))
}

/// Converts a driver error into the SDK's error.
pub(crate) fn map_pg(error: tokio_postgres::Error, phase: Phase) -> TenancyError {
    let Some(state) = error.code() else {
        // No SQLSTATE: the connection broke, or a protocol or encoding problem.
        if error.is_closed() || is_io(&error) {
            return lost(Box::new(error), phase);
        }
        return TenancyError::Backend {
            source: Box::new(error),
        };
    };
    let constraint = error
        .as_db_error()
        .and_then(|db| db.constraint().or_else(|| quoted_constraint(db.message())))
        .map(unsharded)
        .unwrap_or_default()
        .to_owned();
    let conflict = match state {
        s if *s == SqlState::T_R_DEADLOCK_DETECTED => Some(ConflictKind::Deadlock),
        s if *s == SqlState::T_R_SERIALIZATION_FAILURE => Some(ConflictKind::SerializationFailure),
        s if *s == SqlState::LOCK_NOT_AVAILABLE => Some(ConflictKind::LockTimeout),
        s if *s == SqlState::QUERY_CANCELED => Some(ConflictKind::StatementTimeout),
        _ => None,
    };
    if let Some(kind) = conflict {
        // The nested path widens the scope to the caller's transaction where its isolation
        // level needs it (`run::run`).
        return TenancyError::RetryableConflict {
            kind,
            scope: RetryScope::Call,
            source: Box::new(error),
        };
    }
    match state {
        s if *s == SqlState::IN_FAILED_SQL_TRANSACTION => TenancyError::TransactionAborted,
        s if *s == SqlState::READ_ONLY_SQL_TRANSACTION => TenancyError::ReadOnlyTransaction,
        s if *s == SqlState::UNIQUE_VIOLATION => match constraint.as_str() {
            "org_slug_unique" => TenancyError::OrgSlugConflict,
            "mem_unique_active" => TenancyError::DuplicateMembership,
            _ => backend(error),
        },
        s if *s == SqlState::FOREIGN_KEY_VIOLATION => match fk_entity(&constraint) {
            Some(entity) => TenancyError::not_found(entity),
            None => backend(error),
        },
        s if *s == SqlState::UNDEFINED_TABLE
            || *s == SqlState::UNDEFINED_COLUMN
            || *s == SqlState::INVALID_SCHEMA_NAME =>
        {
            TenancyError::NotMigrated {
                detail: error
                    .as_db_error()
                    .map(|db| db.message().to_owned())
                    .unwrap_or_else(|| "tenancy tables are missing".to_owned()),
            }
        }
        // The distributed layout's functions of this version of the store are created by the
        // migration (`sql::Delegated`): missing, the schema is behind the store.
        s if *s == SqlState::UNDEFINED_FUNCTION
            && error.as_db_error().is_some_and(|db| {
                db.message().contains(".ft_") || db.message().starts_with("function ft_")
            }) =>
        {
            TenancyError::NotMigrated {
                detail: format!(
                    "{}: run migrate_with_layout(.., Layout::Distributed) with this version of \
                     the store",
                    error
                        .as_db_error()
                        .map(|db| db.message())
                        .unwrap_or_default()
                ),
            }
        }
        s if connection_state(s) => lost(Box::new(error), phase),
        s if *s == SqlState::INTERNAL_ERROR
            && error
                .as_db_error()
                .is_some_and(|db| worker_connection_lost(db.message())) =>
        {
            lost(Box::new(error), phase)
        }
        _ => backend(error),
    }
}

/// Whether `error` is a Citus coordinator's relay of a lost connection to a worker.
pub(crate) fn relayed_worker_loss(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::INTERNAL_ERROR && worker_connection_lost(db.message())
    })
}

/// Whether a Citus coordinator's internal error (SQLSTATE XX000) says that its connection to a
/// worker failed or was cut: the distributed transaction then ends without committing before
/// `COMMIT`, and with an unknown outcome at it, as when the store's own connection breaks.
fn worker_connection_lost(message: &str) -> bool {
    // A worker that refuses the coordinator (authentication, a missing role or database) is a
    // configuration error, not a lost connection: it stays an error that is not retried.
    const REFUSED: [&str; 4] = [
        "authentication failed",
        "no pg_hba.conf entry",
        "does not exist",
        "permission denied",
    ];
    if REFUSED.iter().any(|refused| message.contains(refused)) {
        return false;
    }
    const LOST: [&str; 8] = [
        // A worker's one-phase COMMIT that failed, which aborts the coordinator's: whether the
        // worker committed before its connection failed is unknown (a write's probe reads it).
        "could not commit transaction for shard",
        "failure on connection marked as essential",
        "connection to the remote node",
        "terminating connection due to administrator command",
        "server closed the connection unexpectedly",
        "connection not open",
        "could not establish any connections to the node",
        "lost connection",
    ];
    LOST.iter().any(|lost| message.contains(lost))
}

/// Whether the server's `state` says the connection is gone: its backend shut down or was
/// terminated (class 57P), or a connection exception (class 08).
fn connection_state(state: &SqlState) -> bool {
    *state == SqlState::ADMIN_SHUTDOWN
        || *state == SqlState::CRASH_SHUTDOWN
        || *state == SqlState::CANNOT_CONNECT_NOW
        || state.code().starts_with("08")
}

/// Whether `error` means that this connection failed (it closed, broke, or its backend was
/// shut down or terminated) rather than that the server refused the statement: another
/// connection may then still answer.
pub(crate) fn connection_failed(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => error.is_closed() || is_io(error),
        Some(state) => connection_state(state),
    }
}

fn backend(error: tokio_postgres::Error) -> TenancyError {
    TenancyError::Backend {
        source: Box::new(error),
    }
}

fn lost(source: flametrench_tenancy_core::BoxError, phase: Phase) -> TenancyError {
    match phase {
        Phase::BeforeCommit => TenancyError::ConnectionLost { source },
        Phase::Commit => TenancyError::CommitOutcomeUnknown { source },
    }
}

fn is_io(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

/// Converts a pool failure (no connection could be had) into the SDK's error.
pub(crate) fn map_pool(error: deadpool_postgres::PoolError) -> TenancyError {
    match error {
        deadpool_postgres::PoolError::Backend(inner) => map_pg(inner, Phase::BeforeCommit),
        other => TenancyError::ConnectionLost {
            source: Box::new(other),
        },
    }
}

/// A row read from the database did not have the shape the schema promises.
pub(crate) fn corrupt(what: &str) -> TenancyError {
    TenancyError::Backend {
        source: Box::new(std::io::Error::other(format!(
            "unexpected data in the tenancy tables: {what}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use tokio_postgres::error::SqlState;

    use super::{connection_state, quoted_constraint, unsharded, worker_connection_lost};

    #[test]
    fn a_lost_worker_connection_is_told_from_other_internal_errors() {
        for message in [
            "failure on connection marked as essential: 127.0.0.1:45069",
            "could not commit transaction for shard 102017 on at least one active node",
            "terminating connection due to administrator command",
            "connection to the remote node 127.0.0.1:9701 failed with the following error: \
             server closed the connection unexpectedly",
        ] {
            assert!(worker_connection_lost(message), "{message}");
        }
        for message in [
            "could not open relation with OID 12",
            "cache lookup failed",
            "connection to the remote node 127.0.0.1:9701 failed with the following error: \
             FATAL:  password authentication failed for user \"app\"",
            "connection to the remote node 127.0.0.1:9701 failed with the following error: \
             FATAL:  database \"tenancy\" does not exist",
        ] {
            assert!(!worker_connection_lost(message), "{message}");
        }
    }

    #[test]
    fn a_relayed_violation_names_its_constraint_in_the_message() {
        let message = "duplicate key value violates unique constraint \"mem_unique_active_103795\"";
        assert_eq!(quoted_constraint(message), Some("mem_unique_active_103795"));
        assert_eq!(quoted_constraint("deadlock detected"), None);
    }

    #[test]
    fn a_shard_suffix_is_left_off_a_constraint_name() {
        assert_eq!(unsharded("mem_unique_active_102008"), "mem_unique_active");
        assert_eq!(unsharded("mem_unique_active"), "mem_unique_active");
        assert_eq!(unsharded("org_slug_unique_7"), "org_slug_unique");
        assert_eq!(unsharded("tup_created_by_fkey"), "tup_created_by_fkey");
        assert_eq!(unsharded("x_"), "x_");
    }

    /// A side connection whose backend was terminated or shut down gives way to another; a
    /// refusal by the server does not.
    #[test]
    fn terminated_backends_and_connection_exceptions_are_connection_failures() {
        for state in [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::CONNECTION_FAILURE,
            SqlState::CONNECTION_EXCEPTION,
        ] {
            assert!(connection_state(&state), "{}", state.code());
        }
        for state in [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::UNDEFINED_FUNCTION,
            SqlState::INVALID_TEXT_REPRESENTATION,
        ] {
            assert!(!connection_state(&state), "{}", state.code());
        }
    }
}
