//! Setting up the tenancy tables: idempotent, versioned, safe from several processes at once.

use flametrench_tenancy_core::{Result, TenancyError};
use tokio_postgres::Client;

use crate::error::{Phase, map_pg};
use crate::store::check_schema;

/// The DDL of the tenancy tables, unqualified (run it with `search_path` set to your schema).
/// The same text is published as `spec/reference/postgres.sql`.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// The schema version this crate writes and expects. Version 2 added the SDK's per-org lock
/// table `ft_org_lock`.
pub const SCHEMA_VERSION: i32 = 2;

/// The DDL of the SDK's own lock table, applied to schemas created at version 1 or adopted
/// from another SDK (it is part of [`SCHEMA_SQL`] too).
const LOCK_TABLE_SQL: &str =
    "CREATE TABLE IF NOT EXISTS ft_org_lock (org_id uuid PRIMARY KEY, version bigint NOT NULL)";

/// The table, in the chosen schema, that records which versions were applied.
pub const VERSION_TABLE: &str = "flametrench_tenancy_schema_version";

const TABLES: [&str; 5] = ["usr", "org", "mem", "inv", "tup"];

/// Key of the advisory lock that serializes migrations across processes.
const MIGRATION_LOCK: i64 = 0x0046_5452_454e_4348;

/// What [`migrate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Migration {
    /// The tables were created.
    Created,
    /// The tables already existed without a version row (set up by another Flametrench SDK or
    /// by hand) and were recorded as the baseline.
    Adopted,
    /// The schema was already at [`SCHEMA_VERSION`].
    UpToDate,
    /// The schema was at an earlier version and was brought to [`SCHEMA_VERSION`].
    Upgraded,
}

/// Creates or adopts the tenancy tables in `schema` (created if missing) and records
/// [`SCHEMA_VERSION`], in one transaction under an advisory lock, so it is safe to call on
/// every start and from several processes at once. Run it as a role that may create tables;
/// the store itself needs only row privileges (see `spec/postgres.md`).
///
/// # Errors
///
/// `storage.invalid_schema` for an invalid schema name; `storage.not_migrated` when only some
/// of the tables exist or the recorded version is newer than this crate knows;
/// `storage.backend` for a database error.
pub async fn migrate(client: &mut Client, schema: &str) -> Result<Migration> {
    check_schema(schema)?;
    let pg = |error| map_pg(error, Phase::BeforeCommit);
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; \
         CREATE TABLE IF NOT EXISTS \"{schema}\".{VERSION_TABLE} (\
             version integer PRIMARY KEY, \
             applied_at timestamptz NOT NULL DEFAULT now(), \
             how text NOT NULL)"
    ))
    .await
    .map_err(pg)?;
    let current: Option<i32> = tx
        .query_one(
            &format!("SELECT max(version) FROM \"{schema}\".{VERSION_TABLE}"),
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    if let Some(version) = current {
        if version > SCHEMA_VERSION {
            return Err(TenancyError::NotMigrated {
                detail: format!(
                    "the database is at tenancy schema version {version}, newer than this \
                     library's {SCHEMA_VERSION}"
                ),
            });
        }
        if version == SCHEMA_VERSION {
            tx.commit().await.map_err(pg)?;
            return Ok(Migration::UpToDate);
        }
    }
    if current.is_some() {
        // An earlier version of this crate's schema: add what came later.
        tx.batch_execute(&format!(
            "SET LOCAL search_path TO \"{schema}\"; {LOCK_TABLE_SQL}"
        ))
        .await
        .map_err(pg)?;
        tx.execute(
            &format!(
                "INSERT INTO \"{schema}\".{VERSION_TABLE} (version, how) VALUES ($1, 'upgraded')"
            ),
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(pg)?;
        tx.commit()
            .await
            .map_err(|error| map_pg(error, Phase::Commit))?;
        return Ok(Migration::Upgraded);
    }
    let mut present = 0;
    for table in TABLES {
        let row = tx
            .query_one(
                "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                &[&schema, &table],
            )
            .await
            .map_err(pg)?;
        if row.get::<_, bool>(0) {
            present += 1;
        }
    }
    let outcome = match present {
        0 => {
            tx.batch_execute(&format!(
                "SET LOCAL search_path TO \"{schema}\"; {SCHEMA_SQL}"
            ))
            .await
            .map_err(pg)?;
            Migration::Created
        }
        n if n == TABLES.len() => {
            tx.batch_execute(&format!(
                "SET LOCAL search_path TO \"{schema}\"; {LOCK_TABLE_SQL}"
            ))
            .await
            .map_err(pg)?;
            Migration::Adopted
        }
        _ => {
            return Err(TenancyError::NotMigrated {
                detail: format!(
                    "schema \"{schema}\" holds only some of the tenancy tables (usr, org, mem, \
                     inv, tup)"
                ),
            });
        }
    };
    let how = match outcome {
        Migration::Created => "created",
        _ => "adopted",
    };
    tx.execute(
        &format!("INSERT INTO \"{schema}\".{VERSION_TABLE} (version, how) VALUES ($1, $2)"),
        &[&SCHEMA_VERSION, &how],
    )
    .await
    .map_err(pg)?;
    tx.commit()
        .await
        .map_err(|error| map_pg(error, Phase::Commit))?;
    Ok(outcome)
}
