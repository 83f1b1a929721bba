//! Setting up the tenancy tables: idempotent, versioned, safe from several processes at once.

use flametrench_tenancy_core::{Result, TenancyError};
use tokio_postgres::{Client, Transaction};

use crate::sql::{ASCII_LOWER, Sql};

use crate::error::{Phase, map_pg};
use crate::store::check_schema;

/// The DDL of the tenancy tables, unqualified (run it with `search_path` set to your schema).
/// The same text is published as `spec/reference/postgres.sql`.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// The DDL of the distributed layout ([`Layout::Distributed`]) for Citus: the same tables,
/// distributed by org and co-located, with a slug registry (`ft_org_slug`). Unqualified, as
/// [`SCHEMA_SQL`]; [`migrate_with_layout`] runs it.
pub const DISTRIBUTED_SCHEMA_SQL: &str = include_str!("schema_distributed.sql");

/// How the tenancy tables are laid out: on one PostgreSQL, or distributed by org on Citus.
///
/// The layout is chosen when the tables are created ([`migrate_with_layout`]) and given to the
/// store ([`PostgresTenancyStore::with_layout`](crate::PostgresTenancyStore::with_layout)),
/// which sends the statements that layout needs. Both layouts hold the same columns and apply
/// the same schema versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// One PostgreSQL server: the reference schema ([`SCHEMA_SQL`]). The default.
    #[default]
    SingleNode,
    /// Citus: `usr` a reference table; `org` distributed by id; `mem`, `inv` and
    /// `ft_org_lock` by `org_id` and `tup` by `object_id`, co-located with `org`; slugs kept
    /// unique by the registry `ft_org_slug` ([`DISTRIBUTED_SCHEMA_SQL`]). Needs the `citus`
    /// extension in the database. For this SDK only: see `DISTRIBUTED.md`.
    Distributed,
}

/// The schema version this crate writes and expects. Version 2 added the SDK's per-org lock
/// table `ft_org_lock`; version 3 the indexes of the filtered and paged reads
/// ([`PAGE_INDEXES_SQL`]) and, where `pg_trgm` can be had, the org search index.
pub const SCHEMA_VERSION: i32 = 3;

/// The indexes version 3 added, each serving one paged read as a single ordered range (see
/// `spec/postgres.md`, "Plans"). They are part of [`SCHEMA_SQL`]; a schema at an earlier
/// version, or adopted from another SDK, gets them from [`migrate`]. `IF NOT EXISTS` lets an
/// adopter build them beforehand with `CREATE INDEX CONCURRENTLY` (same names and columns), so
/// that `migrate` does not hold the tables' write lock while it builds them.
pub const PAGE_INDEXES_SQL: &str = "\
CREATE INDEX IF NOT EXISTS org_status_idx ON org (status, id);
CREATE INDEX IF NOT EXISTS mem_filter_idx ON mem ((org_id::text || '/' || status || '/' || role), id);
CREATE INDEX IF NOT EXISTS inv_filter_idx ON inv ((org_id::text || '/' || status), id);
CREATE INDEX IF NOT EXISTS tup_subject_page_idx ON tup ((subject_type || '/' || subject_id::text), id);
CREATE INDEX IF NOT EXISTS tup_object_page_idx ON tup ((object_type || '/' || object_id::text), id);
CREATE INDEX IF NOT EXISTS tup_object_relation_page_idx ON tup ((object_type || '/' || object_id::text || '/' || relation), id);
";

/// The name of the optional trigram index behind `list_orgs`' `query`.
pub const SEARCH_INDEX: &str = "org_search_idx";

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
    migrate_with_layout(client, schema, Layout::SingleNode).await
}

/// [`migrate`] with the tables laid out as `layout` says. The distributed layout needs the
/// `citus` extension and is created on the coordinator; a schema already laid out the other
/// way is refused, never converted (`DISTRIBUTED.md` says how to move a deployment).
///
/// # Errors
///
/// As [`migrate`]; `storage.not_supported` for the distributed layout where Citus is not
/// installed; `storage.not_migrated` when the tables exist in the other layout.
pub async fn migrate_with_layout(
    client: &mut Client,
    schema: &str,
    layout: Layout,
) -> Result<Migration> {
    check_schema(schema)?;
    let pg = |error| map_pg(error, Phase::BeforeCommit);
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    // A schema that exists is not created again: `CREATE SCHEMA IF NOT EXISTS` would ask for
    // `CREATE` on the database, which the owner of an existing schema may not have.
    let schema_exists: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(pg)?
        .get(0);
    if !schema_exists {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .await
            .map_err(pg)?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".{VERSION_TABLE} (\
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
    let citus = citus_installed(&tx).await?;
    if layout == Layout::Distributed {
        if !citus {
            return Err(TenancyError::NotSupported {
                what: "the distributed layout without the citus extension in the database",
            });
        }
        // Citus runs a transaction's DDL on distributed tables one shard connection at a time
        // once it mixes them with other statements; say so from the start.
        tx.batch_execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
            .await
            .map_err(pg)?;
    }
    if citus {
        check_layout(&tx, schema, layout).await?;
    }
    let outcome = match current {
        Some(version) => upgrade(&tx, schema, version).await?,
        None => create_or_adopt(&tx, schema, layout).await?,
    };
    // The search index is optional: added whenever the extension can be had, on any run.
    let searchable = ensure_search_index(&tx, schema).await?;
    // The functions of this version of the store, added beside those of other versions.
    let delegated = match layout {
        Layout::Distributed => install_delegated(&tx, schema).await?,
        Layout::SingleNode => false,
    };
    tx.commit()
        .await
        .map_err(|error| map_pg(error, Phase::Commit))?;
    Ok(match outcome {
        Migration::UpToDate if searchable || delegated => Migration::Upgraded,
        outcome => outcome,
    })
}

/// Brings a schema recorded at `version` to [`SCHEMA_VERSION`].
async fn upgrade(tx: &Transaction<'_>, schema: &str, version: i32) -> Result<Migration> {
    let pg = |error| map_pg(error, Phase::BeforeCommit);
    if version > SCHEMA_VERSION {
        return Err(TenancyError::NotMigrated {
            detail: format!(
                "the database is at tenancy schema version {version}, newer than this \
                 library's {SCHEMA_VERSION}"
            ),
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(Migration::UpToDate);
    }
    // An earlier version of this crate's schema: add what came later.
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO \"{schema}\"; {LOCK_TABLE_SQL}; {PAGE_INDEXES_SQL}"
    ))
    .await
    .map_err(pg)?;
    tx.execute(
        &format!("INSERT INTO \"{schema}\".{VERSION_TABLE} (version, how) VALUES ($1, 'upgraded')"),
        &[&SCHEMA_VERSION],
    )
    .await
    .map_err(pg)?;
    Ok(Migration::Upgraded)
}

/// Creates the tables in an empty schema, or adopts the tables another SDK made.
async fn create_or_adopt(tx: &Transaction<'_>, schema: &str, layout: Layout) -> Result<Migration> {
    let pg = |error| map_pg(error, Phase::BeforeCommit);
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
            tx.batch_execute(&format!("SET LOCAL search_path TO \"{schema}\""))
                .await
                .map_err(pg)?;
            match layout {
                Layout::SingleNode => tx.batch_execute(SCHEMA_SQL).await.map_err(pg)?,
                // One statement at a time: Citus passes some DDL to the workers as the text of
                // the query it came in, which must then hold that statement alone.
                Layout::Distributed => {
                    for statement in DISTRIBUTED_SCHEMA_SQL.split(";\n") {
                        if statement
                            .lines()
                            .any(|line| !line.trim().is_empty() && !line.trim().starts_with("--"))
                        {
                            tx.batch_execute(statement).await.map_err(pg)?;
                        }
                    }
                }
            }
            Migration::Created
        }
        n if n == TABLES.len() => {
            tx.batch_execute(&format!(
                "SET LOCAL search_path TO \"{schema}\"; {LOCK_TABLE_SQL}; {PAGE_INDEXES_SQL}"
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
    Ok(outcome)
}

/// Creates the trigram index of `list_orgs`' `query` when `pg_trgm` is installed in any
/// schema of the database (its operator class is then named with that schema), or can be
/// created (in `schema`; PostgreSQL lets a role with `CREATE` on the database create this
/// trusted extension). Where neither holds, nothing is created and the store matches queries
/// by reading orgs in id order (`spec/postgres.md`, "Plans"). Whether the index was created
/// now.
///
/// The index is kept without GIN's pending list (`fastupdate = off`): an org write updates it
/// at once, and a search reads only the entries of its trigrams and their candidate rows,
/// never a list of recent entries to scan in full.
///
/// The index is built in the migration's transaction: writes to `org` (`create_org`,
/// `update_org` and the org transitions) wait for the build; membership and invitation writes
/// do not (their row locks on `org` do not conflict with the build's `SHARE` lock).
async fn ensure_search_index(tx: &Transaction<'_>, schema: &str) -> Result<bool> {
    let pg = |error| map_pg(error, Phase::BeforeCommit);
    let present = tx
        .query_one(
            "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
            &[&schema, &SEARCH_INDEX],
        )
        .await
        .map_err(pg)?
        .get::<_, bool>(0);
    if present {
        return Ok(false);
    }
    let mut home = trigram_schema(tx).await?;
    if home.is_none() {
        // Optional: a refusal (no privilege, extension not installed on the server) leaves
        // the store without the index, and is undone by the savepoint.
        tx.batch_execute("SAVEPOINT ft_trgm").await.map_err(pg)?;
        match tx
            .batch_execute(&format!(
                "CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA \"{schema}\""
            ))
            .await
        {
            Ok(()) => tx.batch_execute("RELEASE SAVEPOINT ft_trgm").await,
            Err(error) => {
                tracing::info!(%error, "pg_trgm is not available: list_orgs queries read orgs in id order");
                tx.batch_execute("ROLLBACK TO SAVEPOINT ft_trgm; RELEASE SAVEPOINT ft_trgm")
                    .await
            }
        }
        .map_err(pg)?;
        home = trigram_schema(tx).await?;
    }
    let Some(home) = home else {
        return Ok(false);
    };
    let opclass = format!("\"{}\".gin_trgm_ops", home.replace('"', "\"\""));
    tx.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON \"{schema}\".org USING gin \
         (translate(name, {ASCII_LOWER}) {opclass}, slug {opclass}) WITH (fastupdate = off)"
    ))
    .await
    .map_err(pg)?;
    Ok(true)
}

/// Creates the functions through which the distributed layout's store runs its single-org
/// statements on the org's worker (`sql::Delegated`), where they are missing, and has Citus
/// delegate each call to the node of its org argument. Each function is named by its body, so
/// the functions of another version of the store stay for the stores that call them. Whether
/// any was created.
pub(crate) async fn install_delegated(tx: &Transaction<'_>, schema: &str) -> Result<bool> {
    install_functions(tx, &Sql::new(schema, Layout::Distributed)).await
}

/// Creates the functions of `sql`'s delegated statements that are missing; whether any was.
pub(crate) async fn install_functions(tx: &Transaction<'_>, sql: &Sql) -> Result<bool> {
    let pg = |error| map_pg(error, Phase::BeforeCommit);
    let schema = sql.schema.as_str();
    let mut created = false;
    for delegated in &sql.delegated {
        let exists: bool = tx
            .query_one(
                "SELECT to_regproc(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
                &[&schema, &delegated.function],
            )
            .await
            .map_err(pg)?
            .get(0);
        if exists {
            continue;
        }
        // The server says what the statement takes and returns.
        let statement = tx.prepare(&delegated.body).await.map_err(pg)?;
        let params: Vec<&str> = statement.params().iter().map(|ty| ty.name()).collect();
        let columns: Vec<String> = statement
            .columns()
            .iter()
            .map(|column| {
                format!(
                    "\"{}\" {}",
                    column.name().replace('"', "\"\""),
                    column.type_().name()
                )
            })
            .collect();
        let signature = format!("\"{schema}\".{}({})", delegated.function, params.join(", "));
        tx.batch_execute(&format!(
            "CREATE FUNCTION {signature} RETURNS TABLE ({}) LANGUAGE plpgsql AS $ft$ {} $ft$",
            columns.join(", "),
            delegated_body(
                schema,
                delegated,
                &params,
                &statement
                    .columns()
                    .iter()
                    .map(|column| column.name())
                    .collect::<Vec<_>>()
            )
        ))
        .await
        .map_err(pg)?;
        tx.execute(
            "SELECT create_distributed_function($1::text::regprocedure, $2, \
             colocate_with := $3, force_delegation := true)",
            &[
                &signature,
                &format!("${}", delegated.org_param),
                &format!("\"{schema}\".org"),
            ],
        )
        .await
        .map_err(pg)?;
        created = true;
    }
    Ok(created)
}

/// The tables a delegated statement may name: the org's co-located tables, by the org, and the
/// `usr` reference table (a copy on every node).
const ORG_TABLES: [&str; 5] = ["org", "mem", "inv", "tup", "ft_org_lock"];

/// The PL/pgSQL body of a delegated statement's function. Where the org's shards are on this
/// node (Citus delegated the call to it), the statement runs against them (and the local copy of
/// `usr`) as a plain PostgreSQL statement: Citus plans a statement with `INSERT` in a CTE as
/// several steps whose intermediate results it copies to every node, which would take the call
/// off the org's worker again. Elsewhere (the call was not delegated) it runs against the
/// distributed tables, through Citus.
///
/// Before it writes the shards it takes the lock that Citus's own executor takes on a shard it
/// writes (`lock_shard_metadata`, share mode), which a shard move takes exclusively before it
/// moves the org's shards, and then checks that the org's shard is still placed on this node;
/// Citus lets only the tables' owner take that lock, so a role that does not own them writes
/// without it (`DISTRIBUTED.md`).
///
/// The statement on a shard is prepared once per session (`PREPARE <function>_<shard>`, marked
/// by the session setting `ft_prepared.<name>`), as the store prepares its statements on one
/// node: a call then plans nothing. Prepared statements outlive a rolled-back transaction, the
/// setting does not: without it the session's prepared statements are looked up.
fn delegated_body(
    schema: &str,
    delegated: &crate::sql::Delegated,
    params: &[&str],
    columns: &[&str],
) -> String {
    let org = format!("${}", delegated.org_param);
    let table = |name: &str| format!("\"{schema}\".{name}");
    let lock = delegated.lock.as_deref().unwrap_or_default();
    // The tables the statement (or its lock) names, each a `format()` argument of the shard
    // version, whose name the function looks up: `%1$s` is the first's shard, and so on.
    let tables: Vec<&str> = ORG_TABLES
        .iter()
        .chain(["usr"].iter())
        .copied()
        .filter(|name| {
            let named =
                |text: &str| shard_template(text, schema, &[name]) != text.replace('%', "%%");
            named(&delegated.body) || named(lock)
        })
        .collect();
    let mut steps = String::new();
    let mut shards = Vec::new();
    let mut names = Vec::new();
    for (index, name) in tables.iter().enumerate() {
        let id = if *name == "usr" {
            format!(
                "get_shard_id_for_distribution_column('{}'::regclass)",
                table(name)
            )
        } else {
            let id = format!(
                "get_shard_id_for_distribution_column('{}'::regclass, {org})",
                table(name)
            );
            shards.push(id.clone());
            id
        };
        // `shard_name` leaves out a schema on the search path (`public`): qualified here.
        steps.push_str(&format!(
            "shard{index} := shard_name('{}'::regclass, {id}); \
             IF strpos(shard{index}, '.') = 0 THEN shard{index} := '\"{schema}\".' || shard{index}; END IF; \
             here := here AND to_regclass(shard{index}) IS NOT NULL; ",
            table(name)
        ));
        names.push(format!("shard{index}"));
    }
    let declared: String = names.iter().map(|name| format!("{name} text; ")).collect();
    let arguments = names.join(", ");
    let direct_template = shard_template(&delegated.body, schema, &tables);
    let lock_template = shard_template(lock, schema, &tables);
    let using: Vec<String> = (1..=delegated.params).map(|n| format!("${n}")).collect();
    let using = using.join(", ");
    // The org's lock, a statement of its own before the statement (none: an empty string).
    let (lock_now, prepare_lock, lock_prepared) = if lock.is_empty() {
        (String::new(), String::new(), String::new())
    } else {
        (
            format!("EXECUTE lock USING {org}; "),
            "IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements ps WHERE ps.name = prepared || '_l') THEN \
               EXECUTE format('PREPARE %I (uuid) AS %s', prepared || '_l', direct_lock); \
             END IF; "
                .to_owned(),
            format!("EXECUTE format('EXECUTE %I(%L)', prepared || '_l', {org}); "),
        )
    };
    if !delegated.direct {
        return format!(
            "DECLARE statement text := $q${}$q$; lock text := $q${lock}$q$; \
             BEGIN {lock_now}RETURN QUERY EXECUTE statement USING {using}; END",
            delegated.body
        );
    }
    // The prepared statement's arguments, as literals of their parameters' types.
    let literals = vec!["%L"; delegated.params].join(", ");
    let into: Vec<String> = columns
        .iter()
        .map(|column| format!("\"{}\"", column.replace('"', "\"\"")))
        .collect();
    format!(
        "#variable_conflict use_column\n DECLARE statement text := $q${body}$q$; lock text := $q${lock}$q$; \
         org_shard bigint := get_shard_id_for_distribution_column('{org_table}'::regclass, {org}); \
         prepared text := '{function}_' || org_shard; \
         direct text; direct_lock text; {declared}here boolean; n bigint; \
         BEGIN \
         here := to_regclass(shard_name('{org_table}'::regclass, org_shard)) IS NOT NULL; \
         IF here THEN \
           IF pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = '{org_table}'::regclass), 'USAGE') THEN \
             PERFORM lock_shard_metadata(5, ARRAY[{shards}]::bigint[]); \
           END IF; \
           here := EXISTS (SELECT 1 FROM pg_dist_placement p, pg_dist_local_group g \
                           WHERE p.shardid = org_shard AND p.groupid = g.groupid); \
         END IF; \
         IF here AND current_setting('ft_prepared.' || prepared, true) IS DISTINCT FROM 'y' THEN \
           {steps}\
           IF here THEN \
             direct := format($t${direct_template}$t$, {arguments}); \
             direct_lock := format($t${lock_template}$t$, {arguments}); \
             {prepare_lock}\
             IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements ps WHERE ps.name = prepared) THEN \
               EXECUTE format('PREPARE %I ({types}) AS %s', prepared, direct); \
             END IF; \
             PERFORM set_config('ft_prepared.' || prepared, 'y', false); \
           END IF; \
         END IF; \
         IF here THEN \
           {lock_prepared}\
           EXECUTE format('EXECUTE %I({literals})', prepared, {using}) INTO {into}; \
           GET DIAGNOSTICS n = ROW_COUNT; \
           IF n > 0 THEN RETURN NEXT; END IF; \
         ELSE \
           {lock_now}RETURN QUERY EXECUTE statement USING {using}; \
         END IF; END",
        body = delegated.body,
        shards = shards.join(", "),
        org_table = table("org"),
        function = delegated.function,
        types = params.join(", "),
        into = into.join(", "),
    )
}

/// `text` made a `format()` template: each `"schema".table` whose table is one of `tables` (the
/// whole name) becomes `%<n>$s`, `n` its place in `tables` from 1, and every other `%` is
/// doubled.
fn shard_template(text: &str, schema: &str, tables: &[&str]) -> String {
    let prefix = format!("\"{schema}\".");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix(&prefix) {
            let end = after
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if let Some(place) = tables.iter().position(|table| *table == name) {
                out.push_str(&format!("%{}$s", place + 1));
                rest = &after[end..];
                continue;
            }
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether the `citus` extension is installed in the database.
async fn citus_installed(tx: &Transaction<'_>) -> Result<bool> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
            &[],
        )
        .await
        .map_err(|error| map_pg(error, Phase::BeforeCommit))?;
    Ok(row.get(0))
}

/// Refuses `layout` where the tables of `schema` exist laid out the other way: `org`
/// distributed (Citus's `pg_dist_partition`) is the distributed layout.
async fn check_layout(tx: &Transaction<'_>, schema: &str, layout: Layout) -> Result<()> {
    let row = tx
        .query_one(
            "SELECT to_regclass(format('%I.org', $1::text)) IS NOT NULL, \
             EXISTS (SELECT 1 FROM pg_dist_partition \
                     WHERE logicalrelid = to_regclass(format('%I.org', $1::text)))",
            &[&schema],
        )
        .await
        .map_err(|error| map_pg(error, Phase::BeforeCommit))?;
    let (exists, distributed): (bool, bool) = (row.get(0), row.get(1));
    let found = if distributed {
        Layout::Distributed
    } else {
        Layout::SingleNode
    };
    if exists && found != layout {
        return Err(TenancyError::NotMigrated {
            detail: format!(
                "the tenancy tables of schema \"{schema}\" are laid out {found:?}, not \
                 {layout:?}; a migration never converts them (see DISTRIBUTED.md)"
            ),
        });
    }
    Ok(())
}

/// The schema `pg_trgm` is installed in, if it is.
async fn trigram_schema(tx: &Transaction<'_>) -> Result<Option<String>> {
    let rows = tx
        .query(
            "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n \
             ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'",
            &[],
        )
        .await
        .map_err(|error| map_pg(error, Phase::BeforeCommit))?;
    Ok(rows.first().map(|row| row.get(0)))
}

#[cfg(test)]
mod shard_template_tests {
    use super::{delegated_body, shard_template};
    use crate::sql::Delegated;

    /// The functions are named by their statement and `sql::FUNCTION_FORM`, not by the
    /// PL/pgSQL around it: a change to that code must come with a new form, or schemas migrated
    /// before would keep the old functions under the same names. This pins the code.
    #[test]
    fn the_functions_form_is_pinned() {
        let delegated = Delegated {
            function: "ft_x_0".to_owned(),
            body: "SELECT 1 AS a FROM \"s\".org WHERE id = $1 AND $2".to_owned(),
            params: 2,
            org_param: 1,
            direct: true,
            lock: Some("SELECT 1 FROM \"s\".ft_org_lock WHERE org_id = $1".to_owned()),
        };
        let form = delegated_body("s", &delegated, &["uuid", "bool"], &["a"]);
        let hash = form.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        assert_eq!(
            format!("{hash:016x}"),
            "4d0e9a6599089b98",
            "the functions' PL/pgSQL changed: give sql::FUNCTION_FORM a new value, then pin \
             this hash"
        );
    }

    #[test]
    fn only_whole_table_names_of_the_schema_become_arguments() {
        let text = "SELECT 1 FROM \"s\".org o, \"s\".ft_org_lock l, \"s\".org_x, \"t\".org \
                    WHERE x LIKE '5%' AND \"s\".mem.id = 1 AND \"s\".org)";
        assert_eq!(
            shard_template(text, "s", &["mem", "org"]),
            "SELECT 1 FROM %2$s o, \"s\".ft_org_lock l, \"s\".org_x, \"t\".org \
             WHERE x LIKE '5%%' AND %1$s.id = 1 AND %2$s)"
        );
        assert_eq!(
            shard_template("no tables 100%", "s", &["org"]),
            "no tables 100%%"
        );
    }
}
