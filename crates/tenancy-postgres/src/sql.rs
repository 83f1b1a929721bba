//! Every statement the store sends, qualified with the adopter's schema once, at construction.
//!
//! Locking order, the same in every operation so that SDK calls never deadlock each other:
//! the org row first (`FOR NO KEY UPDATE` by membership and invitation operations, an `UPDATE`
//! by org transitions), then the org's lock row in `ft_org_lock`, then the rows of that org.
//! Every read that a decision depends on runs as its own statement after the lock statement, so
//! it takes a fresh snapshot under READ COMMITTED and sees everything committed before the lock
//! was granted.
//!
//! The lock row is what makes the caller's REPEATABLE READ and SERIALIZABLE transactions safe.
//! Every write to an org leaves a new version of that org's lock row (`{BUMP}`: an upsert that
//! increments its counter). A snapshot-isolated transaction that then takes the lock fails with
//! a serialization failure when any write to the org committed after its snapshot was taken, so
//! no decision rests on a snapshot older than the lock. A lock alone (`FOR NO KEY UPDATE`) would
//! not do that: the later locker gets the lock and decides on its old snapshot. The lock row
//! belongs to the SDK, so the org row is never rewritten for locking and the adopter's triggers
//! on `org` never fire for it.

use crate::migrate::Layout;
use crate::rows::{INV_COLUMNS, MEM_COLUMNS, ORG_COLUMNS, TUP_COLUMNS};

pub(crate) const ASCII_LOWER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

/// Which protections the statements carry. Only [`Protection::Full`] is ever used outside
/// tests; the others exist so that race tests can show what each protection prevents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) enum Protection {
    /// Org row locks and lock-row versions.
    Full,
    /// Org row locks only: the statements as they were before lock-row versions.
    LockOnly,
    /// Neither.
    Unlocked,
    /// Full protection, but every write's guard refuses (`{REFUSE}`): for the test that a
    /// refused flight writes nothing.
    GuardsRefuse,
    /// Full protection, but on the distributed layout no statement is delegated to the org's
    /// worker: for the test that single-org calls run on one worker in one phase.
    Undelegated,
    /// Full protection, delegated to the org's worker, but the delegated statements run there
    /// through Citus's planner rather than on the org's shards: for the test that a delegated
    /// write stays on its worker (Citus copies a CTE's intermediate results to every node).
    ThroughCitusPlanner,
    /// The membership writes' actor read before the org's lock: the lock statements lock
    /// nothing, and the guarded statement takes the lock itself, in a CTE, so that its reads
    /// (the actor's role among them) come from a snapshot taken before the lock was granted.
    /// For the test that an actor-checked write is decided under the lock.
    ActorBeforeLock,
}

/// The lock-row upsert, as a CTE named `bump` reading the locked org from a CTE named `o`.
const BUMP: &str = "bump AS (INSERT INTO {s}.ft_org_lock AS l (org_id, version) SELECT id, 1 FROM o \
    ON CONFLICT (org_id) DO UPDATE SET version = l.version + 1 RETURNING 1)";

/// What a membership write's guard reads, as a CTE `g` over membership `$1` when it belongs to
/// the org `scope` (a parameter, null for any org): the row, its org's status, the org's
/// active-owner count, whether the row's user holds another active membership in the org, and
/// the active role there of the user `actor` (a parameter, or `NULL`). The statement returns
/// the facts (`{GOUT}`), so that a refusal is explained by the rules from exactly what the
/// guard saw, read once. `{GLOCK}` and `{GLOCKED}` are empty but under
/// [`Protection::ActorBeforeLock`].
fn guard_facts(scope: &str, actor: &str) -> String {
    // No actor: no subquery at all. A comparison with a null the planner folds to false would
    // leave a subquery that reads no shard, which Citus cannot join.
    let actor_role = if actor == "NULL" {
        "NULL::text AS actor_role".to_owned()
    } else {
        format!(
            "(SELECT x.role FROM {{s}}.mem x WHERE x.org_id = m.org_id AND x.usr_id = {} \
             AND x.status = 'active') AS actor_role",
            nullable(actor)
        )
    };
    format!(
        "{{GLOCK}}g AS (SELECT {{MEM}}, \
        (SELECT o.status FROM {{s}}.org o WHERE o.id = m.org_id) AS org_status, \
        (SELECT count(*) FROM {{s}}.mem x WHERE x.org_id = m.org_id AND x.status = 'active' AND x.role = 'owner') AS owners, \
        EXISTS (SELECT 1 FROM {{s}}.mem x WHERE x.org_id = m.org_id AND x.usr_id = m.usr_id \
                AND x.status = 'active' AND x.id <> m.id) AS other_active, \
        {actor_role} \
        FROM {{s}}.mem m WHERE m.id = $1 AND ({scope}::uuid IS NULL OR m.org_id = {scope}){{GLOCKED}})"
    )
}

/// The guard of an actor-checked membership write (`spec/decisions/0016-actor-checks.md`),
/// over `g`: no actor (`actor` null), or an active org and an actor who is an owner or
/// admin there, and an owner to act on an owner or to grant `owner` (`grants`, a role
/// expression, or `NULL`).
fn actor_may(actor: &str, grants: &str) -> String {
    format!(
        "({actor}::uuid IS NULL OR (org_status = 'active' AND actor_role IN ('owner', 'admin') \
         AND ((role <> 'owner' AND {grants}::text IS DISTINCT FROM 'owner') OR actor_role = 'owner')))"
    )
}

/// The guard of an actor-checked org write, inside an `UPDATE` of the org (its columns
/// unqualified): no actor (`actor` null), or an actor whose active role in the org is one of
/// `roles` (an SQL list), in an active org when `needs_active`. The flight runs it after the
/// org's lock, in a statement of its own, so the actor's role is read under the lock.
fn org_actor(actor: &str, roles: &str, needs_active: bool) -> String {
    let active = if needs_active {
        "status = 'active' AND "
    } else {
        ""
    };
    format!(
        "({actor}::uuid IS NULL OR ({active}EXISTS (SELECT 1 FROM {{s}}.mem a WHERE a.org_id = $1 \
         AND a.usr_id = {} AND a.status = 'active' AND a.role IN {roles})))",
        nullable(actor)
    )
}

/// The nil uuid, which no user's id is (the id codec refuses it).
const NIL_UUID: &str = "'00000000-0000-0000-0000-000000000000'::uuid";

/// A nullable uuid parameter compared with `=`: null becomes the nil uuid, which matches no
/// row. Written so, a null never lets the planner fold the comparison to false, which would
/// leave a subquery reading no shard, which Citus cannot join; it stays an index condition.
fn nullable(param: &str) -> String {
    format!("coalesce({param}::uuid, {NIL_UUID})")
}

/// Under [`Protection::ActorBeforeLock`], the org's lock taken inside the guarded statement.
const LOCK_IN_GUARD: &str = "lk AS (SELECT 1 FROM {s}.org \
    WHERE id = (SELECT org_id FROM {s}.mem WHERE id = $1) FOR NO KEY UPDATE), ";

/// The facts a guarded membership write returns: the columns of `g`, and the named user's
/// active membership in the same org (`nm`, its columns `named_…`), read in the same snapshot.
const GUARD_OUT: &str = "g.id, g.usr_id, g.org_id, g.role, g.status, g.replaces, g.invited_by, \
    g.removed_by, g.created_at, g.updated_at, org_status, owners, other_active, \
    nm.id AS named_id, nm.usr_id AS named_usr_id, nm.org_id AS named_org_id, nm.role AS named_role, \
    nm.status AS named_status, nm.replaces AS named_replaces, nm.invited_by AS named_invited_by, \
    nm.removed_by AS named_removed_by, nm.created_at AS named_created_at, \
    nm.updated_at AS named_updated_at";

/// The one row a guarded membership write returns, with the facts when the membership exists,
/// and the active membership in its org of the user `named` (a parameter, or `NULL`): the
/// actor of a checked write, the admin of a removal, the successor of a leave.
fn guard_from(named: &str) -> String {
    format!(
        "FROM (SELECT 1) AS one LEFT JOIN g ON true LEFT JOIN {{s}}.mem nm ON nm.org_id = g.org_id \
         AND nm.usr_id = {} AND nm.status = 'active'",
        nullable(named)
    )
}

/// Revoke-and-re-add of the row whose id the CTE `source` holds (none: nothing is written),
/// as CTEs `{name}_old` (the revoked row), `{name}_gone` (its tuple deleted), `{name}_new` (the
/// replacing row, `new_id` with `role`) and `{name}_tup` (its tuple, `tup_id`). `$2` is the
/// time; a row is never stamped before the row it replaces was created. The new row's insert
/// reads the update's `RETURNING`, so the old row has left `mem_unique_active` first; the new
/// tuple's insert waits on the old tuple's delete (a one-time filter on its count), so a
/// rotation that keeps the role replaces its tuple instead of colliding with it. Tuples are
/// found by equalities on their natural key from one-row subqueries, never by a join.
fn rotation(
    name: &str,
    source: &str,
    new_id: &str,
    role: &str,
    tup_id: &str,
    scope: &str,
) -> String {
    format!(
        "{name}_old AS (UPDATE {{s}}.mem SET status = 'revoked', \
              updated_at = greatest($2, created_at), removed_by = NULL \
              WHERE id = (SELECT id FROM {source}){{IN_ORG:{scope}}} \
              RETURNING id, usr_id, org_id, role, invited_by, created_at), \
         {name}_gone AS (DELETE FROM {{s}}.tup WHERE subject_type = 'usr' \
              AND subject_id = (SELECT usr_id FROM {name}_old) AND relation = (SELECT role FROM {name}_old) \
              AND object_type = 'org' AND object_id = (SELECT org_id FROM {name}_old){{IN_OBJ:{scope}}} RETURNING 1), \
         {name}_new AS (INSERT INTO {{s}}.mem \
              (id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at) \
              SELECT {new_id}, usr_id, org_id, {role}, 'active', id, invited_by, NULL, \
                     greatest($2, created_at), greatest($2, created_at) FROM {name}_old \
              RETURNING usr_id, org_id, role, created_at), \
         {name}_tup AS (INSERT INTO {{s}}.tup \
              (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT {tup_id}, 'usr', usr_id, role, 'org', org_id, created_at, NULL FROM {name}_new \
              WHERE (SELECT count(*) FROM {name}_gone) >= 0 ON CONFLICT DO NOTHING RETURNING 1)"
    )
}

/// Ends the row whose id the CTE `source` holds (none: nothing is written) with `status` and
/// `removed_by`, as CTEs `{name}_end` and `{name}_gone` (its tuple deleted). `$2` is the time.
fn ending(name: &str, source: &str, status: &str, removed_by: &str, scope: &str) -> String {
    format!(
        "{name}_end AS (UPDATE {{s}}.mem SET status = {status}, \
              updated_at = greatest($2, created_at), removed_by = {removed_by} \
              WHERE id = (SELECT id FROM {source}){{IN_ORG:{scope}}} RETURNING usr_id, org_id, role), \
         {name}_gone AS (DELETE FROM {{s}}.tup WHERE subject_type = 'usr' \
              AND subject_id = (SELECT usr_id FROM {name}_end) AND relation = (SELECT role FROM {name}_end) \
              AND object_type = 'org' AND object_id = (SELECT org_id FROM {name}_end){{IN_OBJ:{scope}}} RETURNING 1)"
    )
}

/// The rank of a role column, as `Role::rank`: `NULL` for the unranked roles.
fn rank(column: &str) -> String {
    format!(
        "(CASE {column} WHEN 'owner' THEN 4 WHEN 'admin' THEN 3 WHEN 'member' THEN 2 \
         WHEN 'guest' THEN 1 END)"
    )
}

/// The largest uuid: the upper end of an owner's range of ids.
const MAX_ID: &str = "'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid";

/// The text keys of the composite owners of paged reads: each is the first column of an index
/// whose second is `id` (`mem_filter_idx`, `inv_filter_idx` and the three tuple page indexes).
/// A tuple's subject and object are keyed with their type; their indexes are on expressions,
/// so that no equality on the tuple's columns (the natural key's probes of every membership
/// write) can be served by them: PostgreSQL once chose a page index over the natural key for a
/// generic plan's delete, and read the whole org's tuples.
pub(crate) const MEM_FILTER_KEY: &str = "(org_id::text || '/' || status || '/' || role)";
pub(crate) const INV_FILTER_KEY: &str = "(org_id::text || '/' || status)";
pub(crate) const TUP_RELATION_KEY: &str =
    "(object_type || '/' || object_id::text || '/' || relation)";
pub(crate) const TUP_SUBJECT_KEY: &str = "(subject_type || '/' || subject_id::text)";
pub(crate) const TUP_OBJECT_KEY: &str = "(object_type || '/' || object_id::text)";

/// The membership statuses and roles, as SQL literals: the branches of a filtered listing.
const STATUSES: [&str; 3] = ["'active'", "'suspended'", "'revoked'"];
const ROLES: [&str; 6] = [
    "'owner'", "'admin'", "'member'", "'guest'", "'viewer'", "'editor'",
];

/// A page of `table`'s rows whose `owner` column equals `key`, after the id `after`, in id
/// order, `limit` of them (`filter`, empty or `AND …`, applies to the rows read): one ordered range scan of the index on `(owner, id)`, whatever
/// plan PostgreSQL would otherwise pick.
///
/// The range is written as two row comparisons, `(owner, id) > (key, after)` and
/// `(owner, id) <= (key, MAX_ID)`, not as `owner = key`: without an equality the primary key's
/// order is not the requested order (`ORDER BY owner, id`), so a scan of the primary key
/// filtered by owner, which reads every row of a smaller id first, is never a candidate. The
/// key is read through a sub-select, so that a custom plan, like the generic one, cannot see
/// it: the row comparisons are then estimated at a fixed fraction of the table (a ninth), and
/// with `LIMIT` the ordered index range is always cheaper than reading that many rows and
/// sorting them. The scan starts at `(key, after)` and stops at the first row of another
/// owner: the row comparison's first column is what decides there, and it bounds the scan.
///
/// So the owner must be an index's first column. Where it is several columns (an org and a
/// status), the index is on one text key made of them (`MEM_FILTER_KEY`, `INV_FILTER_KEY`,
/// and the tuple keys).
fn owner_range(
    columns: &str,
    table: &str,
    owner: &str,
    key: &str,
    after: &str,
    filter: &str,
    limit: &str,
) -> String {
    format!(
        "SELECT {columns} FROM {{s}}.{table} WHERE ({owner}, id) > ({key}, {after}::uuid) \
         AND ({owner}, id) <= ({key}, {MAX_ID}){filter} ORDER BY {owner}, id LIMIT {limit}"
    )
}

/// A page of an org's memberships filtered by status and role: one branch per pair of
/// `statuses` and `roles` (SQL expressions), each an [`owner_range`] of `mem_filter_idx`
/// (whose key is the org, the status and the role) that stops after `$4` rows; their rows are
/// sorted by id and the first `$4` kept. Rows read and sorted: at most `$4` per branch (six
/// branches for a status filter, three for a role filter, one for both).
fn filtered_members(statuses: &[&str], roles: &[&str]) -> String {
    let branches: Vec<String> = statuses
        .iter()
        .flat_map(|status| {
            roles.iter().map(move |role| {
                let key = format!("(SELECT $1::uuid::text || '/' || {status} || '/' || {role})");
                format!(
                    "({})",
                    owner_range("{MEM}", "mem", MEM_FILTER_KEY, &key, "$2", "", "$4")
                )
            })
        })
        .collect();
    match branches.as_slice() {
        [one] => one.clone(),
        _ => format!(
            "SELECT * FROM ({}) m ORDER BY id LIMIT $4",
            branches.join(" UNION ALL ")
        ),
    }
}

/// $1 org id, $2 name, $3 slug, $4 now, $5 creator, $6 mem id, $7 tup id.
/// The creator's row is read once: the guard and the fact `creator_ok` both come from it.
const CREATE_ORG: &str = "WITH creator AS (SELECT id FROM {s}.usr WHERE id = $5), \
        o AS (INSERT INTO {s}.org (id, status, name, slug, created_at, updated_at) \
              SELECT $1, 'active', $2, $3, $4, $4 FROM creator WHERE true{REFUSE} RETURNING id), \
        m AS (INSERT INTO {s}.mem (id, usr_id, org_id, role, status, created_at, updated_at) \
              SELECT $6, $5, o.id, 'owner', 'active', $4, $4 FROM o RETURNING id), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $7, 'usr', $5, 'owner', 'org', o.id, $4, $5 FROM o RETURNING id) \
        SELECT EXISTS (SELECT 1 FROM creator) AS creator_ok, \
        (SELECT count(*) FROM o) + (SELECT count(*) FROM m) + (SELECT count(*) FROM t) AS written";

/// `end_invitation`: $1 inv, $2 new status, $3 now, $4 actor (nullable), $5 whether the actor
/// needs invitation authority on the org (the guard of `rules::check_revoke_invitation`), $6 the
/// org the call is scoped to (nullable), $7 whether a decline is checked, $8 the decliner's
/// identifier (nullable), $9 whether the decliner's authority may allow it: a checked decline
/// is the invitee's (the identifier is the invitation's) or, `$9`, an owner's or admin's
/// (`rules::check_decliner`).
const END_INVITATION: &str = "UPDATE {s}.inv AS i SET status = $2, terminal_at = $3, terminal_by = $4 \
    WHERE i.id = $1 AND ($6::uuid IS NULL OR i.org_id = $6) AND i.status = 'pending'{ACTOR_KNOWN} \
    AND (NOT $5 OR EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = {NIL4} \
         AND m.status = 'active' AND m.role IN ('owner', 'admin'))) \
    AND (NOT $7 OR ($8::text IS NOT NULL AND $8 = i.identifier) \
         OR $9 AND EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = {NIL4} \
         AND m.status = 'active' AND m.role IN ('owner', 'admin'))){REFUSE} RETURNING {INV}";

/// The guard of [`END_INVITATION`] that the actor is a user (`{ACTOR_KNOWN}`), on one node.
const ACTOR_KNOWN: &str = " AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $4))";

/// An invitation's ending (`write`, [`END_INVITATION`]) returning, beside the invitation it
/// ended (its columns null when it ended none), what `end_invitation_context` reads after it,
/// read in the guard's snapshot: the invitation's status as the guard saw it (`seen_status`,
/// null when the org has no such invitation), the actor's active role in the org, and whether
/// the decliner's identifier is the invitation's. It names the org by `$6`, which the
/// distributed layout always has (`ops::scope`); its function takes the org's lock first
/// (`LOCKING`), so the call is one command to the org's worker.
///
/// It reads no user: a statement that joins the `usr` reference table to the org's rows is not
/// one that Citus lets a delegated function run through its planner (the function's way where
/// the org's shards are not local). The flight reads the actor apart (`user_exists`, a read of
/// the reference table), and the write needs no guard for it: `terminal_by`'s foreign key
/// refuses an unknown actor (`not_found`, as the rules answer), and users are never deleted.
fn end_invitation_facts(write: &str) -> String {
    let write = write.replace("{ACTOR_KNOWN}", "");
    let invitation = "FROM {s}.inv x WHERE x.id = $1 AND x.org_id = $6";
    format!(
        "WITH w AS ({write}) \
         SELECT w.*, (SELECT x.status {invitation}) AS seen_status, \
         (SELECT m.role FROM {{s}}.mem m WHERE m.org_id = $6 AND m.usr_id = {{NIL4}} \
          AND m.status = 'active') AS actor_role, \
         CASE WHEN $8::text IS NULL THEN NULL ELSE (SELECT $8 = x.identifier {invitation}) END \
         AS identifier_matches \
         FROM (SELECT 1) AS one LEFT JOIN w ON true"
    )
}

/// $1 org, $2 set name?, $3 name, $4 set slug?, $5 slug, $6 now, $7 the actor (nullable:
/// unchecked; when given, the flight locks the org first, so the actor is read under it).
fn update_org() -> String {
    format!(
        "WITH o AS (UPDATE {{s}}.org SET \
        name = CASE WHEN $2 THEN $3 ELSE name END, \
        slug = CASE WHEN $4 THEN $5 ELSE slug END, \
        updated_at = $6 \
        WHERE id = $1 AND status <> 'revoked' AND {}{{REFUSE}} RETURNING {{ORG}}), {{BUMP}} \
        SELECT {{ORG}}, (SELECT count(*) FROM bump) FROM o",
        org_actor("$7", "('owner', 'admin')", true)
    )
}

/// The acceptance statement (`accept_invitation`).
const ACCEPT_INVITATION: &str = "WITH i AS (SELECT id, org_id, role, invited_by, pre_tuples FROM {s}.inv \
              WHERE id = $1 AND ($11::uuid IS NULL OR org_id = $11) AND status = 'pending' AND $3 <= expires_at \
              AND (NOT $9 OR ($10::text IS NOT NULL AND $10 = identifier))), \
        uk AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2) AS known), \
        go AS (SELECT i.* FROM i WHERE (SELECT o.status FROM {s}.org o WHERE o.id = i.org_id) = 'active' \
              AND (NOT $9 OR (SELECT known FROM uk)) \
              AND NOT EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = $2 \
                              AND m.status = 'active'){REFUSE}), \
        u AS (INSERT INTO {s}.usr (id, status, created_at, updated_at) \
              SELECT $2, 'active', $3, $3 FROM go WHERE $4 ON CONFLICT (id) DO NOTHING), \
        m AS (INSERT INTO {s}.mem \
              (id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at) \
              SELECT $5, $2, org_id, role, 'active', NULL, invited_by, NULL, $3, $3 FROM go \
              RETURNING org_id, role, invited_by), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $6, 'usr', $2, role, 'org', org_id, $3, invited_by FROM m ON CONFLICT DO NOTHING RETURNING id), \
        x AS (SELECT ($7::text || lpad(to_hex($8::bigint + e.n), 12, '0'))::uuid AS id, \
              e.v->>'relation' AS relation, e.v->>'object_type' AS object_type, \
              regexp_replace(e.v->>'object_id', '^[a-z]+_', '')::uuid AS object_id \
              FROM m, go, jsonb_array_elements(go.pre_tuples) WITH ORDINALITY AS e(v, n)), \
        p AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT x.id, 'usr', $2, x.relation, x.object_type, x.object_id, $3, (SELECT invited_by FROM m) \
              FROM x WHERE (SELECT count(*) FROM t) >= 0 \
              ON CONFLICT DO NOTHING RETURNING id), \
        a AS (UPDATE {s}.inv SET status = 'accepted', invited_user_id = $2, terminal_by = $2, terminal_at = $3 \
              WHERE id = (SELECT id FROM go){IN_ORG:$11} AND (SELECT count(*) FROM m) = 1 RETURNING *) \
        SELECT {INV}, ARRAY(SELECT id FROM p) AS inserted FROM a";

/// $1 org, $2 new status, $3 now, $4 required current status, $5 the actor.
fn set_org_status() -> String {
    format!(
        "WITH o AS (UPDATE {{s}}.org SET status = $2, updated_at = $3 \
        WHERE id = $1 AND status = $4 AND {}{{REFUSE}} RETURNING {{ORG}}), {{BUMP}} \
        SELECT {{ORG}}, (SELECT count(*) FROM bump) FROM o",
        org_actor("$5", "('owner')", false)
    )
}

/// $1 org, $2 now, $3 the actor: the org revoked with its rows.
fn revoke_org() -> String {
    format!(
        "WITH o AS (UPDATE {{s}}.org SET status = 'revoked', updated_at = $2 \
              WHERE id = $1 AND status <> 'revoked' AND {}{{REFUSE}} RETURNING {{ORG}}), \
        ms AS (UPDATE {{s}}.mem SET status = 'revoked', updated_at = greatest($2, created_at) \
              WHERE org_id = $1 AND status IN ('active', 'suspended') AND EXISTS (SELECT 1 FROM o) RETURNING 1), \
        ts AS (DELETE FROM {{s}}.tup WHERE (object_type || '/' || object_id::text) = 'org/' || $1::text{{IN_OBJ:$1}} \
              AND EXISTS (SELECT 1 FROM o) RETURNING 1), \
        iv AS (UPDATE {{s}}.inv SET status = 'revoked', terminal_at = $2 \
              WHERE org_id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM o) RETURNING 1) \
        SELECT {{ORG}} FROM o",
        org_actor("$3", "('owner')", false)
    )
}

/// An org write (`update_org`, `set_org_status`, `revoke_org`) that returns one row whatever it
/// did: the org it wrote (its columns null when it wrote nothing), the org's status as its guard
/// saw it (`seen_status`, null when there is no such org) and the active role there of the
/// actor `actor` (`actor_role`), read in the guard's snapshot. On the distributed layout its
/// function takes the org's lock first (`LOCKING`), so the call is one command to the org's
/// worker: the flight's own lock, actor read and status read are not sent.
fn org_facts(write: &str, actor: &str) -> String {
    let tail = write.rfind(" SELECT {ORG}").unwrap_or(write.len());
    format!(
        "{} SELECT o.id, o.name, o.slug, o.status, o.created_at, o.updated_at, \
         (SELECT x.status FROM {{s}}.org x WHERE x.id = $1) AS seen_status, \
         (SELECT a.role FROM {{s}}.mem a WHERE a.org_id = $1 AND a.usr_id = {} \
          AND a.status = 'active') AS actor_role \
         FROM (SELECT 1) AS one LEFT JOIN o ON true",
        &write[..tail],
        nullable(actor)
    )
}

macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident = $template:expr;)*) => {
        /// The store's statements, with the schema filled in.
        #[derive(Debug)]
        pub(crate) struct Sql {
            /// The schema the statements name.
            pub(crate) schema: String,
            /// The layout they are written for.
            pub(crate) layout: Layout,
            /// The distributed layout's functions that run a statement on the org's worker
            /// (empty on the single-node layout).
            pub(crate) delegated: Vec<Delegated>,
            /// Whether the functions of [`LOCKING`]'s statements take the org's lock: a flight
            /// then sends no lock statement of its own before them.
            pub(crate) locks_in_functions: bool,
            $($(#[$doc])* pub(crate) $name: String,)*
        }

        impl Sql {
            pub(crate) fn new(schema: &str, layout: Layout) -> Self {
                Self::with_protection(schema, layout, Protection::Full)
            }

            pub(crate) fn with_protection(schema: &str, layout: Layout, protection: Protection) -> Self {
                let quoted = format!("\"{schema}\"");
                let refuse = if protection == Protection::GuardsRefuse { " AND false" } else { "" };
                let (lock, bump) = match protection {
                    Protection::Full
                    | Protection::Undelegated
                    | Protection::ThroughCitusPlanner
                    | Protection::GuardsRefuse => (" FOR NO KEY UPDATE", BUMP),
                    Protection::LockOnly => (" FOR NO KEY UPDATE", "bump AS (SELECT 1 FROM o)"),
                    Protection::Unlocked | Protection::ActorBeforeLock => ("", "bump AS (SELECT 1 FROM o)"),
                };
                let (guard_lock, guard_locked) = match protection {
                    Protection::ActorBeforeLock => (LOCK_IN_GUARD, " AND EXISTS (SELECT 1 FROM lk)"),
                    _ => ("", ""),
                };
                let fill = |template: &str| {
                    let mut template = template.to_owned();
                    // `{IN_ORG:$n}` and `{IN_OBJ:$n}`: the scope `$n` of a write on a row of
                    // the org (a membership or invitation; a tuple, by its object), which
                    // Citus needs to route the write to the org's shard alone.
                    for param in (1..=12).rev() {
                        let (org, obj) = match layout {
                            Layout::SingleNode => (String::new(), String::new()),
                            Layout::Distributed => (
                                format!(" AND org_id = ${param}"),
                                format!(" AND object_id = ${param}"),
                            ),
                        };
                        template = template
                            .replace(&format!("{{IN_ORG:${param}}}"), &org)
                            .replace(&format!("{{IN_OBJ:${param}}}"), &obj);
                    }
                    template
                        .replace("{GLOCK}", guard_lock)
                        .replace("{GLOCKED}", guard_locked)
                        .replace("{GOUT}", GUARD_OUT)
                        .replace("{ACTOR_KNOWN}", ACTOR_KNOWN)
                        .replace("{REFUSE}", refuse)
                        .replace("{BUMP}", bump)
                        .replace("{LOCK}", lock)
                        .replace("{s}", &quoted)
                        .replace("{ORG}", ORG_COLUMNS)
                        .replace("{MEM}", MEM_COLUMNS)
                        .replace("{INV}", INV_COLUMNS)
                        .replace("{TUP}", TUP_COLUMNS)
                        .replace("{LOWER}", ASCII_LOWER)
                        .replace("{NIL2}", &nullable("$2"))
                        .replace("{NIL3}", &nullable("$3"))
                        .replace("{NIL4}", &nullable("$4"))
                        .replace("{NIL9}", &nullable("$9"))
                };
                let mut sql = Self {
                    schema: schema.to_owned(),
                    layout,
                    delegated: Vec::new(),
                    locks_in_functions: false,
                    $($name: fill(AsRef::<str>::as_ref(&$template)),)*
                };
                if layout == Layout::Distributed {
                    sql.distribute();
                    match protection {
                        Protection::Full => sql.delegate(true),
                        Protection::ThroughCitusPlanner => sql.delegate(false),
                        _ => {}
                    }
                }
                sql
            }

            /// Every statement's text.
            fn each_mut(&mut self, mut change: impl FnMut(&mut String)) {
                $(change(&mut self.$name);)*
            }

            /// A statement's text by its field name, to rewrite it.
            fn named_mut(&mut self, name: &str) -> Option<&mut String> {
                match name {
                    $(stringify!($name) => Some(&mut self.$name),)*
                    _ => None,
                }
            }

            /// A statement's text by its field name, for the plan tests.
            #[cfg_attr(not(feature = "testing"), allow(dead_code))]
            pub(crate) fn named(&self, name: &str) -> Option<&str> {
                match name {
                    $(stringify!($name) => Some(&self.$name),)*
                    _ => None,
                }
            }
        }
    };
}

statements! {
    ensure_user = "INSERT INTO {s}.usr (id, status, created_at, updated_at) \
        VALUES ($1, 'active', $2, $2) ON CONFLICT (id) DO NOTHING";

    /// $1 org id, $2 name, $3 slug, $4 now, $5 creator, $6 mem id, $7 tup id.
    /// The creator's row is read once: the guard and the fact `creator_ok` both come from it.
    create_org = CREATE_ORG;


    /// `create_org` for an org with a slug: on the distributed layout it also writes the
    /// slug registry, on another shard (the same statement on one node).
    create_org_slug = CREATE_ORG;

    get_org = "SELECT {ORG} FROM {s}.org WHERE id = $1";
    org_status = "SELECT status FROM {s}.org WHERE id = $1";

    update_org = update_org();
    /// `update_org` that sets the slug: on the distributed layout it also moves the slug's
    /// registry row (the same statement on one node).
    update_org_slug = update_org();
    /// `update_org` returning its facts (`org_facts`), on the distributed layout.
    update_org_facts = org_facts(&update_org(), "$7");

    /// $1 after (the nil uuid for the first page), $2 limit: the primary key's range.
    list_orgs = "SELECT {ORG} FROM {s}.org WHERE id > $1 ORDER BY id LIMIT $2";
    /// $1 after, $2 limit, $3 status: one range of `org_status_idx` (see [`owner_range`]).
    list_orgs_by_status = owner_range("{ORG}", "org", "status", "(SELECT $3::text)", "$1", "", "$2");
    /// $1 after, $2 limit, $3 status (nullable), $4 the `LIKE` pattern of the folded query,
    /// escaped: the pattern may use the trigram index `org_search_idx` when it exists. Sent
    /// unnamed, so that every call is planned with its pattern: a rare match reads the
    /// index's candidates, a common one the primary key in order until the page is full.
    list_orgs_matching = "SELECT {ORG} FROM {s}.org WHERE id > $1 \
        AND ($3::text IS NULL OR status = $3) \
        AND (translate(name, {LOWER}) LIKE $4 ESCAPE '\\' OR slug LIKE $4 ESCAPE '\\') \
        ORDER BY id LIMIT $2";

    /// $1 org, $2 new status, $3 now, $4 required current status, $5 the actor (nullable, as
    /// for `update_org`).
    set_org_status = set_org_status();
    /// `set_org_status` returning its facts (`org_facts`), on the distributed layout.
    set_org_status_facts = org_facts(&set_org_status(), "$5");

    /// $1 org, $2 now, $3 the actor (nullable). Runs after `lock_org`, in its own statement,
    /// so that its snapshot holds every membership committed before the lock was granted.
    /// Revokes the org and, gated on that update, its memberships, its tuples and its pending
    /// invitations.
    revoke_org = revoke_org();
    /// `revoke_org` returning its facts (`org_facts`), on the distributed layout.
    revoke_org_facts = org_facts(&revoke_org(), "$3");

    /// $1 org. Locks the org row and its lock row; returns the org's status.
    lock_org = "WITH o AS (SELECT id, status FROM {s}.org WHERE id = $1{LOCK}), {BUMP} \
        SELECT status, (SELECT count(*) FROM bump) FROM o";
    /// $1 membership. Locks the membership's org row and its lock row.
    lock_org_of_mem = "WITH o AS (SELECT id, status FROM {s}.org \
        WHERE id = (SELECT org_id FROM {s}.mem WHERE id = $1){LOCK}), {BUMP} \
        SELECT status, (SELECT count(*) FROM bump) FROM o";
    /// $1 invitation. Locks the invitation's org row and its lock row.
    lock_org_of_inv = "WITH o AS (SELECT id, status FROM {s}.org \
        WHERE id = (SELECT org_id FROM {s}.inv WHERE id = $1){LOCK}), {BUMP} \
        SELECT status, (SELECT count(*) FROM bump) FROM o";

    /// $1 membership: its org (the distributed layout reads it before an unscoped write).
    org_of_mem = "SELECT org_id FROM {s}.mem WHERE id = $1";
    /// $1 invitation: its org (as `org_of_mem`).
    org_of_inv = "SELECT org_id FROM {s}.inv WHERE id = $1";

    get_membership = "SELECT {MEM} FROM {s}.mem WHERE id = $1";
    /// $1 membership, $2 org: the membership when it belongs to the org.
    get_membership_in = "SELECT {MEM} FROM {s}.mem WHERE id = $1 AND org_id = $2";
    memberships_by_ids = "SELECT {MEM} FROM {s}.mem WHERE id = ANY($1)";
    /// $1 memberships, $2 org: those of them in the org (one shard on the distributed layout).
    memberships_by_ids_in = "SELECT {MEM} FROM {s}.mem WHERE id = ANY($1) AND org_id = $2";

    // The guarded membership writes. Each runs after the org lock, reads its facts
    // (`GUARD_FACTS`), writes only when its guard (the conditions of its `decide` function)
    // holds, and returns one row: the facts (the membership's columns null when it does not
    // exist) and `written`, the membership rows it wrote. Every write of a statement is gated
    // on its guard or on an earlier write's effect, so a refused guard writes nothing. $1 is
    // the membership, $2 the time.

    /// $3 new id, $4 new role, $5 tuple id, $6 scope, $7 actor.
    change_role = format!("WITH {}, \
        go AS (SELECT id FROM g WHERE status = 'active' AND {} \
              AND ($4 = 'owner' OR role <> 'owner' OR owners > 1){{REFUSE}}), {} \
        SELECT {{GOUT}}, (SELECT count(*) FROM r_old) + (SELECT count(*) FROM r_new) AS written {}",
        guard_facts("$6", "$7"), actor_may("$7", "$4"), rotation("r", "go", "$3", "$4", "$5", "$6"), guard_from("$7"));
    /// $3 scope, $4 actor.
    suspend_membership = format!("WITH {}, \
        go AS (SELECT id FROM g WHERE status = 'active' AND {} \
              AND (role <> 'owner' OR owners > 1){{REFUSE}}), {} \
        SELECT {{GOUT}}, (SELECT count(*) FROM e_end) AS written {}",
        guard_facts("$3", "$4"), actor_may("$4", "NULL"), ending("e", "go", "'suspended'", "NULL", "$3"), guard_from("$4"));
    /// $3 tuple id, $4 scope, $5 actor.
    reinstate_membership = format!("WITH {}, \
        go AS (SELECT id FROM g WHERE status = 'suspended' AND org_status = 'active' AND {} \
              AND NOT other_active{{REFUSE}}), \
        b AS (UPDATE {{s}}.mem SET status = 'active', updated_at = greatest($2, created_at) \
              WHERE id = (SELECT id FROM go){{IN_ORG:$4}} RETURNING usr_id, org_id, role, updated_at), \
        bt AS (INSERT INTO {{s}}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $3, 'usr', usr_id, role, 'org', org_id, updated_at, NULL FROM b ON CONFLICT DO NOTHING RETURNING 1) \
        SELECT {{GOUT}}, (SELECT count(*) FROM b) AS written {}",
        guard_facts("$4", "$5"), actor_may("$5", "NULL"), guard_from("$5"));
    /// $3 the admin, $4 scope.
    admin_remove = format!("WITH {}, \
        a AS (SELECT g.id, g.role AS target_role, (SELECT x.role FROM {{s}}.mem x WHERE x.org_id = g.org_id \
              AND x.usr_id = $3 AND x.status = 'active') AS actor_role FROM g WHERE g.status = 'active'), \
        go AS (SELECT id FROM a WHERE actor_role IN ('owner', 'admin') AND target_role <> 'owner' \
              AND {} >= {}{{REFUSE}}), {} \
        SELECT {{GOUT}}, (SELECT count(*) FROM e_end) AS written {}",
        guard_facts("$4", "NULL"), rank("actor_role"), rank("target_role"),
        ending("e", "go", "'revoked'", "$3", "$4"), guard_from("$3"));
    /// Leaving without naming an heir: no promotion can follow (the last owner is refused).
    /// $3 scope, $4 actor (nullable: when given, it must be the member).
    self_leave_alone = format!("WITH {}, \
        go AS (SELECT id FROM g WHERE status = 'active' AND ($4::uuid IS NULL OR usr_id = $4) \
              AND (role <> 'owner' OR owners > 1){{REFUSE}}), {} \
        SELECT {{GOUT}}, (SELECT count(*) FROM e_end) AS written {}",
        guard_facts("$3", "NULL"), ending("e", "go", "'revoked'", "NULL", "$3"), guard_from("NULL"));
    /// $3 transfer_to, $4 the heir's new id, $5 its tuple id, $6 scope, $7 actor (nullable: when
    /// given, it must be the member).
    self_leave = format!("WITH {}, \
        l AS (SELECT g.id, (g.role = 'owner' AND g.owners <= 1) AS last_owner, \
              (SELECT x.id FROM {{s}}.mem x WHERE x.org_id = g.org_id AND x.usr_id = {{NIL3}} \
               AND x.status = 'active') AS heir_id \
              FROM g WHERE g.status = 'active' AND ($7::uuid IS NULL OR g.usr_id = $7) \
              AND ($3::uuid IS NULL OR $3 <> g.usr_id)), \
        go AS (SELECT id FROM l WHERE (NOT last_owner OR heir_id IS NOT NULL){{REFUSE}}), \
        h AS (SELECT heir_id AS id FROM l WHERE last_owner AND EXISTS (SELECT 1 FROM go)), {}, {} \
        SELECT {{GOUT}}, (SELECT count(*) FROM r_old) + (SELECT count(*) FROM r_new) \
        + (SELECT count(*) FROM e_end) AS written {}",
        guard_facts("$6", "NULL"), rotation("r", "h", "$4", "'owner'", "$5", "$6"),
        ending("e", "go", "'revoked'", "NULL", "$6"), guard_from("$3"));
    /// $1 org, $2 now, $3 from, $4 to, $5 to's new id, $6 its tuple, $7 from's new id, $8 its
    /// tuple, $9 the actor (nullable; an active owner of the active org when given): promotes
    /// `to` to owner, then demotes `from` to member.
    transfer_ownership = format!("WITH f AS (SELECT id, usr_id, org_id, role, status FROM {{s}}.mem WHERE id = $3), \
        t AS (SELECT id, usr_id, org_id, role, status FROM {{s}}.mem WHERE id = $4), \
        go AS (SELECT 1 FROM f, t WHERE EXISTS (SELECT 1 FROM {{s}}.org WHERE id = $1 \
              AND ($9::uuid IS NULL OR (status = 'active' AND EXISTS (SELECT 1 FROM {{s}}.mem a \
              WHERE a.org_id = $1 AND a.usr_id = {{NIL9}} AND a.status = 'active' AND a.role = 'owner')))) \
              AND f.status = 'active' AND t.status = 'active' AND f.org_id = $1 AND t.org_id = $1 \
              AND f.role = 'owner' AND f.usr_id <> t.usr_id{{REFUSE}}), \
        pt AS (SELECT id FROM t WHERE EXISTS (SELECT 1 FROM go)), \
        pf AS (SELECT id FROM f WHERE EXISTS (SELECT 1 FROM go)), {}, {} \
        SELECT (SELECT count(*) FROM p_old) + (SELECT count(*) FROM p_new) \
        + (SELECT count(*) FROM d_old) + (SELECT count(*) FROM d_new) AS written",
        rotation("p", "pt", "$5", "'owner'", "$6", "$1"), rotation("d", "pf", "$7", "'member'", "$8", "$1"));

    /// $1 org, $2 usr, $3 invited_by (nullable), $4 role, $5 mem id, $6 tup id, $7 now, $8
    /// whether `invited_by`'s authority is checked (then the flight locks the org first, with
    /// `lock_org`, so the role is read under the lock, not in this statement's snapshot).
    /// Inserts only when the org exists and is active, both users exist and, checked, the
    /// inviter may add the role (`rules::check_inviter`); a duplicate active membership fails
    /// on `mem_unique_active`. Reports what it found. The users are read in a CTE of their own
    /// (`u`): on the distributed layout a part that joins the `usr` reference table to the
    /// org's rows loses Citus's routing by org, which a statement delegated to the org's worker
    /// needs.
    add_member = "WITH o AS (SELECT id, status FROM {s}.org WHERE id = $1{LOCK}), {BUMP}, \
        u AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2) AS usr_ok, \
                         ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $3)) AS inviter_ok), \
        flags AS (SELECT (SELECT status FROM o) AS org_status, \
                         (SELECT usr_ok FROM u) AS usr_ok, (SELECT inviter_ok FROM u) AS inviter_ok, \
                         CASE WHEN $8 THEN (SELECT role FROM {s}.mem WHERE org_id = $1 AND usr_id = {NIL3} AND status = 'active') END AS inviter_role), \
        go AS (SELECT 1 FROM flags WHERE org_status = 'active' AND usr_ok AND inviter_ok \
              AND (NOT $8 OR (inviter_role IN ('owner', 'admin') AND ($4 <> 'owner' OR inviter_role = 'owner'))){REFUSE}), \
        m AS (INSERT INTO {s}.mem (id, usr_id, org_id, role, status, invited_by, created_at, updated_at) \
              SELECT $5, $2, $1, $4, 'active', $3, $7, $7 FROM go RETURNING id), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $6, 'usr', $2, $4, 'org', $1, $7, $3 FROM go \
              ON CONFLICT DO NOTHING RETURNING id) \
        SELECT org_status, usr_ok, inviter_ok, inviter_role, (SELECT count(*) FROM m) AS written FROM flags";

    // The paged reads. $1 is the owner (org or user), $2 the cursor's id (the nil uuid for
    // the first page), $3 the status and $5 the role filter (nullable, unused by the
    // statements that do not filter), $4 the number of rows to fetch. Which statement is sent
    // depends on the filters given; see `owner_range` and `filtered_members`.

    list_members = owner_range("{MEM}", "mem", "org_id", "(SELECT $1::uuid)", "$2", "", "$4");
    list_members_by_status = filtered_members(&["(SELECT $3::text)"], &ROLES);
    list_members_by_role = filtered_members(&STATUSES, &["(SELECT $5::text)"]);
    list_members_by_status_role = filtered_members(&["(SELECT $3::text)"], &["(SELECT $5::text)"]);
    /// A user's memberships: one range of `mem_usr_idx`; a status filter reads the rest of
    /// the user's memberships after the cursor until the page is full (a user's memberships
    /// are few: one per org joined and its history).
    list_memberships_for_user = owner_range("{MEM}", "mem", "usr_id", "(SELECT $1::uuid)", "$2",
        " AND ($3::text IS NULL OR status = $3)", "$4");
    /// $1 org, $2 user: the user's active membership there (`mem_unique_active`).
    active_membership = "SELECT {MEM} FROM {s}.mem WHERE usr_id = $2 AND org_id = $1 AND status = 'active'";
    /// $1 org, $2 user: the org's status (null when there is no such org) and the user's
    /// active membership there (its columns null when none), in one row.
    org_access = "SELECT o.status AS org_status, m.* FROM (SELECT 1) AS one \
        LEFT JOIN {s}.org o ON o.id = $1 \
        LEFT JOIN (SELECT {MEM} FROM {s}.mem WHERE usr_id = $2 AND org_id = $1 AND status = 'active') m ON true";
    /// $1 subject type, $2 subject id, $3 relations, $4 object type, $5 object id: whether any
    /// of those tuples exists (the natural-key unique index, one probe per relation).
    check_any = "SELECT EXISTS (SELECT 1 FROM {s}.tup WHERE subject_type = $1 AND subject_id = $2 \
        AND relation = ANY($3) AND object_type = $4 AND object_id = $5) AS found";
    org_exists = "SELECT 1 FROM {s}.org WHERE id = $1";
    mem_exists = "SELECT 1 FROM {s}.mem WHERE id = $1";
    inv_exists = "SELECT 1 FROM {s}.inv WHERE id = $1";
    user_exists = "SELECT 1 FROM {s}.usr WHERE id = $1";

    /// $1 inv id, $2 org, $3 identifier, $4 role, $5 pre_tuples, $6 invited_by, $7 now,
    /// $8 expires_at, $9 expiry valid?. Runs after `lock_org` in the same transaction, so its
    /// reads are fresh: inserts only when the org is active, the inviter exists and holds
    /// invitation authority on the org (the guard of `rules::check_inviter`), and reports what
    /// it found.
    create_invitation = "WITH u AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM {s}.usr WHERE id = $6) AS inviter_ok), \
        flags AS (SELECT (SELECT status FROM {s}.org WHERE id = $2) AS org_status, \
                         (SELECT inviter_ok FROM u) AS inviter_ok, \
                         (SELECT role FROM {s}.mem WHERE org_id = $2 AND usr_id = $6 AND status = 'active') AS inviter_role), \
        i AS (INSERT INTO {s}.inv (id, org_id, identifier, role, status, pre_tuples, invited_by, created_at, expires_at) \
              SELECT $1, $2, $3, $4, 'pending', $5, $6, $7, $8 FROM flags \
              WHERE org_status = 'active' AND inviter_ok AND $9 \
              AND inviter_role IN ('owner', 'admin') AND ($4 <> 'owner' OR inviter_role = 'owner'){REFUSE} RETURNING id) \
        SELECT org_status, inviter_ok, inviter_role, (SELECT count(*) FROM i) AS written FROM flags";
    get_invitation = "SELECT {INV} FROM {s}.inv WHERE id = $1";
    /// $1 invitation, $2 org: the invitation when it belongs to the org.
    get_invitation_in = "SELECT {INV} FROM {s}.inv WHERE id = $1 AND org_id = $2";
    /// $1 org, $2 after, $4 fetch: one range of `inv_org_idx`.
    list_invitations = owner_range("{INV}", "inv", "org_id", "(SELECT $1::uuid)", "$2", "", "$4");
    /// $1 org, $2 after, $3 status, $4 fetch: one range of `inv_filter_idx`.
    list_invitations_by_status = owner_range("{INV}", "inv", INV_FILTER_KEY,
        "(SELECT $1::uuid::text || '/' || $3::text)", "$2", "", "$4");

    /// $1 inv, $2 accepting user (nullable): the invitation (row-locked, after its org: a
    /// concurrent decline or revoke waits), its org's status, whether the user exists and
    /// whether the user already has an active membership in the org.
    accept_context = "SELECT {INV}, \
        (SELECT status FROM {s}.org WHERE id = i.org_id) AS org_status, \
        ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2)) AS user_exists, \
        ($2::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id \
             AND m.usr_id = $2 AND m.status = 'active')) AS already_member \
        FROM {s}.inv i WHERE i.id = $1 AND ($3::uuid IS NULL OR i.org_id = $3) FOR UPDATE OF i";
    /// An acceptance, guarded, in one statement. $1 inv, $2 subject, $3 now, $4 create the
    /// subject user?, $5 mem id, $6 membership tuple id, $7 and $8 the pre-tuples' ids (the
    /// first 24 characters of a fresh tuple id, and a start for its last 48 bits: the n-th
    /// pre-tuple's id ends with `$8 + n` in hex), $9 accepting as an existing user?, $10 the
    /// accepting identifier, $11 the org the call is scoped to (nullable). The guard is
    /// `decide::accept_invitation`'s. Writes the user (when
    /// minted), the membership and its tuple, the pre-tuples, and the invitation's acceptance;
    /// returns the accepted invitation and the pre-tuples it inserted (one already present is
    /// kept and not reported). The membership's tuple is written before the pre-tuples (their
    /// insert waits on its count), so a pre-tuple equal to it is the one skipped.
    accept_invitation = ACCEPT_INVITATION;
    /// `accept_invitation` as an existing user, on the org's worker: on the distributed layout
    /// it writes no user and accepts only an invitation whose pre-tuples are all on the org's
    /// shard (`DISTRIBUTED.md`); the same statement on one node, where it is not used.
    accept_invitation_local = ACCEPT_INVITATION;
    /// $1 inv, $2 and $3 the bounds of an acceptance's pre-tuple ids: the invitation, and the
    /// ids of the tuples in that range (read after an acceptance lost its answer).
    accept_probe = "SELECT {INV}, ARRAY(SELECT t.id FROM {s}.tup t WHERE t.id > $2 AND t.id <= $3 \
        ORDER BY t.id) AS inserted FROM {s}.inv WHERE id = $1";
    /// [`END_INVITATION`].
    end_invitation = END_INVITATION;
    /// `end_invitation` returning what its guard saw (`end_invitation_facts`), on the
    /// distributed layout.
    end_invitation_facts = end_invitation_facts(END_INVITATION);
    /// $1 inv, $2 actor (nullable), $3 scope (nullable), $4 a decliner's identifier
    /// (nullable): what an unsuccessful `end_invitation` found.
    end_invitation_context = "SELECT i.status, \
        ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2)) AS actor_exists, \
        (SELECT m.role FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = {NIL2} AND m.status = 'active') AS actor_role, \
        CASE WHEN $4::text IS NULL THEN NULL ELSE $4 = i.identifier END AS identifier_matches \
        FROM {s}.inv i WHERE i.id = $1 AND ($3::uuid IS NULL OR i.org_id = $3)";

    tuples_for_subject = "SELECT {TUP} FROM {s}.tup WHERE subject_type = $1 AND subject_id = $2 ORDER BY id";
    /// Through `tup_object_page_idx` (the object's key): every tuple of the object.
    tuples_for_object = "SELECT {TUP} FROM {s}.tup \
        WHERE (object_type || '/' || object_id::text) = $1::text || '/' || $2::uuid::text \
        AND ($3::text IS NULL OR relation = $3) ORDER BY id";
    /// $1 subject type, $2 subject id, $3 after (the nil uuid for the first page), $4 limit.
    tuples_page_for_subject = owner_range("{TUP}", "tup", TUP_SUBJECT_KEY,
        "(SELECT $1::text || '/' || $2::uuid::text)", "$3", "", "$4");
    /// $1 object type, $2 object id, $3 after, $4 limit.
    tuples_page_for_object = owner_range("{TUP}", "tup", TUP_OBJECT_KEY,
        "(SELECT $1::text || '/' || $2::uuid::text)", "$3", "", "$4");
    /// $1 object type, $2 object id, $3 relation, $4 after, $5 limit.
    tuples_page_for_object_relation = owner_range("{TUP}", "tup", TUP_RELATION_KEY,
        "(SELECT $1::text || '/' || $2::uuid::text || '/' || $3::text)", "$4", "", "$5");
}

impl Sql {
    /// The statements of the distributed layout that differ from the single-node ones
    /// (`DISTRIBUTED.md`): Citus locks a row only where the statement names its distribution
    /// column, and keeps slugs unique through the registry `ft_org_slug`.
    fn distribute(&mut self) {
        // The writes are always scoped on this layout (`ops::scope`): the org is a plain
        // equality, which Citus prunes to the org's shard under any plan, and the only way it
        // locks a row `FOR UPDATE`.
        self.each_mut(|text| {
            for param in 1..=12 {
                for alias in ["", "m.", "i."] {
                    let optional = format!("(${param}::uuid IS NULL OR {alias}org_id = ${param})");
                    *text = text.replace(&optional, &format!("{alias}org_id = ${param}"));
                }
            }
        });
        // A subquery that reaches the org through a row of the outer query (or of a CTE)
        // names the scope instead: Citus locks rows only, and joins a CTE only, without such
        // a correlation. The row's org is the scope on this layout, so the answer is the same.
        let by_scope = |text: &mut String, outer: &str, scope: &str| {
            *text = text.replace(&format!("= {outer}.org_id"), &format!("= {scope}"));
        };
        by_scope(&mut self.accept_context, "i", "$3");
        by_scope(&mut self.accept_invitation, "i", "$11");
        by_scope(&mut self.accept_invitation_local, "i", "$11");
        by_scope(&mut self.end_invitation, "i", "$6");
        by_scope(&mut self.end_invitation_facts, "i", "$6");
        by_scope(&mut self.end_invitation_context, "i", "$3");
        by_scope(&mut self.admin_remove, "g", "$4");
        by_scope(&mut self.self_leave, "g", "$6");
        by_scope(&mut self.change_role, "g", "$6");
        by_scope(&mut self.suspend_membership, "g", "$3");
        by_scope(&mut self.reinstate_membership, "g", "$4");
        by_scope(&mut self.self_leave_alone, "g", "$3");
        // A page of one org's rows names the org by an equality too: the range alone (read
        // through a sub-select, for the single-node plans) leaves Citus no shard to prune to,
        // and it reads every shard. On the org's shard the primary key `(org_id, id)` serves
        // the range in order.
        let schema = self.schema.clone();
        for text in [
            &mut self.list_members,
            &mut self.list_members_by_status,
            &mut self.list_members_by_role,
            &mut self.list_members_by_status_role,
            &mut self.list_invitations,
            &mut self.list_invitations_by_status,
        ] {
            for table in ["mem", "inv"] {
                *text = text.replace(
                    &format!("FROM \"{schema}\".{table} WHERE "),
                    &format!("FROM \"{schema}\".{table} WHERE org_id = $1 AND "),
                );
            }
        }
        // An acceptance's probe reads the tuples of its id range apart (a subquery on `tup` in
        // a query on `inv` is a join Citus refuses).
        self.accept_probe = format!(
            "WITH p AS (SELECT coalesce(array_agg(t.id ORDER BY t.id), '{{}}') AS inserted \
             FROM \"{}\".tup t WHERE t.id > $2 AND t.id <= $3) \
             SELECT {INV_COLUMNS}, (SELECT inserted FROM p) AS inserted FROM \"{}\".inv WHERE id = $1",
            self.schema, self.schema
        );
        // Slugs stay unique across the deployment through the registry `ft_org_slug`, whose
        // primary key `org_slug_unique` refuses a slug held by another org, whatever its
        // status: written with the org's insert, and moved by an update that sets the slug.
        let registry = format!("\"{}\".ft_org_slug", self.schema);
        self.create_org_slug = self.create_org_slug.replacen(
            ", m AS (",
            &format!(
                ", sl AS (INSERT INTO {registry} (slug, org_id) SELECT $3, id FROM o \
                 WHERE $3::text IS NOT NULL RETURNING 1), m AS ("
            ),
            1,
        );
        let org = format!("\"{}\".org", self.schema);
        self.update_org_slug = self
            .update_org_slug
            .replacen(
                "WITH o AS (",
                &format!("WITH old AS (SELECT slug FROM {org} WHERE id = $1), o AS ("),
                1,
            )
            .replacen(
                ", bump AS (",
                &format!(
                    ", moved AS (SELECT o.id, o.slug FROM o, old WHERE $4 \
                               AND o.slug IS DISTINCT FROM old.slug), \
                     sd AS (DELETE FROM {registry} WHERE slug = (SELECT old.slug FROM old, moved) \
                            RETURNING 1), \
                     si AS (INSERT INTO {registry} (slug, org_id) SELECT slug, id FROM moved \
                            WHERE slug IS NOT NULL RETURNING 1), bump AS ("
                ),
                1,
            );
    }
}

/// A statement of the distributed layout that runs on the worker of its org: the store calls a
/// function (`SELECT * FROM ft_…($1, …)`) that Citus delegates to the node holding the shard of
/// the org argument (`create_distributed_function(…, force_delegation := true)`), where the
/// statement runs against that node's shards alone. Citus plans a statement with `INSERT` in a
/// CTE through the coordinator, as several worker statements committed in two phases; on the
/// worker the same statement stays local, and the coordinator commits the one connection it
/// used in one phase (`DISTRIBUTED.md`, "What it costs").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delegated {
    /// The function's name, without schema: `ft_<statement>_<hash of the body>`, so that a
    /// store calls exactly the body it was built with, and an SDK upgrade adds functions
    /// beside the ones older stores still call.
    pub(crate) function: String,
    /// The statement the function returns the rows of, its parameters the function's.
    pub(crate) body: String,
    /// How many parameters the statement takes.
    pub(crate) params: usize,
    /// The parameter that holds the org (1-based): Citus routes the call by it.
    pub(crate) org_param: usize,
    /// Whether the function runs the statement on the org's shards where they are local (only
    /// a weakened store's functions do not).
    pub(crate) direct: bool,
    /// The org's lock statement (`lock_org`, its `$1` the org parameter), which the function
    /// runs first, as a statement of its own, where the statement is one of [`LOCKING`]: the
    /// statement's reads then come after the lock, as when the lock is a statement of the
    /// flight, and the flight needs no statement (no trip to the worker) for it.
    pub(crate) lock: Option<String>,
}

/// The delegated statements whose function takes the org's lock first (see
/// [`Delegated::lock`]): the guarded membership writes, `add_member`, `create_invitation`, and
/// the facts forms of the org writes and of the invitation endings, whose flights are
/// otherwise the lock and the statement.
const LOCKING: [&str; 12] = [
    "change_role",
    "suspend_membership",
    "reinstate_membership",
    "admin_remove",
    "self_leave_alone",
    "self_leave",
    "add_member",
    "create_invitation",
    "update_org_facts",
    "set_org_status_facts",
    "revoke_org_facts",
    "end_invitation_facts",
];

/// The statements delegated to the org's worker, with the parameter that holds their org.
const DELEGATED: [(&str, usize); 19] = [
    ("lock_org", 1),
    ("create_org", 1),
    ("update_org", 1),
    ("set_org_status", 1),
    ("revoke_org", 1),
    ("change_role", 6),
    ("suspend_membership", 3),
    ("reinstate_membership", 4),
    ("admin_remove", 4),
    ("self_leave_alone", 3),
    ("self_leave", 6),
    ("transfer_ownership", 1),
    ("add_member", 1),
    ("create_invitation", 2),
    ("accept_invitation_local", 11),
    ("update_org_facts", 1),
    ("set_org_status_facts", 1),
    ("revoke_org_facts", 1),
    ("end_invitation_facts", 6),
];

/// The version of the functions' PL/pgSQL (`migrate::delegated_body`), hashed into their names.
pub(crate) const FUNCTION_FORM: &str = "form 3: prepared per shard, format() templates; ";

/// The highest `$n` a statement names.
fn param_count(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut highest = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if *byte == b'$' {
            let digits: String = bytes[at + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| char::from(*b))
                .collect();
            highest = highest.max(digits.parse().unwrap_or(0));
        }
    }
    highest
}

/// FNV-1a, 64 bits: a stable name for a function body (not a security measure).
fn body_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Sql {
    /// Replaces each statement of [`DELEGATED`] with a call of its function, and keeps the
    /// statement as the function's body. Every table the body reads or writes is reached
    /// through the org parameter (a correlation through a row becomes the parameter), so that
    /// on the worker each of its parts prunes to the org's shard.
    fn delegate(&mut self, direct: bool) {
        let schema = self.schema.clone();
        let lock_body = self.lock_org.clone();
        self.locks_in_functions = true;
        for (name, org_param) in DELEGATED {
            let Some(text) = self.named_mut(name) else {
                continue;
            };
            let scope = format!("${org_param}");
            let mut body = text.replace("= m.org_id", &format!("= {scope}"));
            if name == "accept_invitation_local" {
                // No user is minted (a write to every node), and pre-tuples on other objects
                // (other shards) are left to the coordinator's statement: the guard refuses
                // them, and the store runs `accept_invitation` instead.
                let mint = format!(
                    "u AS (INSERT INTO \"{schema}\".usr (id, status, created_at, updated_at) \
                     SELECT $2, 'active', $3, $3 FROM go WHERE $4 ON CONFLICT (id) DO NOTHING), "
                );
                body = body.replace(&mint, "").replace(
                    "AND m.status = 'active')), ",
                    "AND m.status = 'active') AND NOT $4 \
                     AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(i.pre_tuples) AS c(v) \
                     WHERE regexp_replace(c.v->>'object_id', '^[a-z]+_', '')::uuid <> i.org_id)), ",
                );
            }
            if name == "transfer_ownership" {
                // The two memberships are read in the org only: one of another org is then
                // not read at all, and the guard refuses as it would for its org.
                for param in ["$3", "$4"] {
                    body = body.replace(
                        &format!("FROM \"{schema}\".mem WHERE id = {param})"),
                        &format!("FROM \"{schema}\".mem WHERE id = {param} AND org_id = $1)"),
                    );
                }
            }
            let params = param_count(&body);
            let lock = LOCKING.contains(&name).then(|| lock_body.clone());
            // The function's form (`migrate::delegated_body`) is part of its name too: a later
            // form is a new function, never a changed one.
            let marked = format!(
                "{FUNCTION_FORM}org ${org_param}; {}{}{body}",
                if direct { "" } else { "planned " },
                lock.as_deref()
                    .map_or(String::new(), |lock| format!("{lock}; "))
            );
            let function = format!("ft_{name}_{:016x}", body_hash(&marked));
            let args: Vec<String> = (1..=params).map(|n| format!("${n}")).collect();
            *text = format!("SELECT * FROM \"{schema}\".{function}({})", args.join(", "));
            self.delegated.push(Delegated {
                function,
                body,
                params,
                org_param,
                direct,
                lock,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rewrite of the distributed layout found its text: a pattern that stopped matching
    /// would leave a statement Citus refuses, or one that skips the slug registry.
    #[test]
    fn the_distributed_statements_are_rewritten_whole() {
        let mut sql = Sql::new("tenancy", Layout::Distributed);
        let mut texts = Vec::new();
        sql.each_mut(|text| texts.push(text.clone()));
        assert!(!texts.is_empty());
        for text in &texts {
            // No placeholder is left: `{s}`, `{ORG}`, `{IN_ORG:$n}`, `{NIL3}`, … (the only
            // braces left are the empty array literal `'{}'`).
            assert!(!text.replace("'{}'", "").contains('{'), "{text}");
            assert!(!text.contains("IS NULL OR org_id"), "{text}");
            assert!(!text.contains("IS NULL OR m.org_id"), "{text}");
            assert!(!text.contains("IS NULL OR i.org_id"), "{text}");
        }
        for text in [&sql.create_org_slug, &sql.update_org_slug] {
            assert!(text.contains("\"tenancy\".ft_org_slug"), "{text}");
        }
        // Every statement of `DELEGATED` is a call; its body is the statement, scoped.
        assert_eq!(sql.delegated.len(), DELEGATED.len());
        let body = |name: &str| {
            let function = format!("ft_{name}_");
            let call = sql.named(name).expect("a statement");
            let delegated = sql
                .delegated
                .iter()
                .find(|delegated| {
                    delegated.function.starts_with(&function)
                        && delegated.function.len() == function.len() + 16
                })
                .expect("a function");
            assert!(call.starts_with("SELECT * FROM \"tenancy\".ft_"), "{call}");
            assert!(call.contains(&delegated.function), "{call}");
            assert_eq!(param_count(call), delegated.params, "{call}");
            delegated.body.clone()
        };
        for (name, _) in DELEGATED {
            let body = body(name);
            assert!(!body.contains("= m.org_id"), "{body}");
            assert!(!body.contains("ft_org_slug"), "{body}");
            assert!(!body.contains(".usr (id"), "{body}");
        }
        // The ending's facts form reads no user (Citus refuses a delegated statement that
        // joins the reference table to the org's rows when it plans it), and its function
        // takes the org's lock: the ending is decided under it.
        let ending = body("end_invitation_facts");
        assert!(!ending.contains("\"tenancy\".usr"), "{ending}");
        assert!(sql.end_invitation.contains("\"tenancy\".usr WHERE id = $4"));
        let locked = |prefix: &str| {
            sql.delegated
                .iter()
                .find(|delegated| delegated.function.starts_with(prefix))
                .is_some_and(|delegated| delegated.lock.is_some())
        };
        assert!(locked("ft_end_invitation_facts_"));
        assert!(!locked("ft_create_org_"));
        let accept = body("accept_invitation_local");
        assert!(accept.contains("AND NOT $4 AND NOT EXISTS"), "{accept}");
        assert!(sql.accept_invitation.contains(".usr (id"));
        for (text, scope) in [
            (sql.accept_context.clone(), "= $3"),
            (body("admin_remove"), "x.org_id = $4"),
            (body("self_leave"), "x.org_id = $6"),
            (sql.end_invitation.clone(), "m.org_id = $6"),
            (body("change_role"), "AND org_id = $6"),
            (body("change_role"), "x.org_id = $6"),
            (body("revoke_org"), "AND object_id = $1"),
            (body("transfer_ownership"), "WHERE id = $3 AND org_id = $1"),
            (body("transfer_ownership"), "WHERE id = $4 AND org_id = $1"),
        ] {
            assert!(text.contains(scope), "{scope}: {text}");
        }
        for text in [
            sql.accept_context.clone(),
            sql.accept_invitation.clone(),
            accept,
            body("admin_remove"),
        ] {
            assert!(!text.contains(".org_id = i.org_id"), "{text}");
            assert!(!text.contains(".org_id = g.org_id"), "{text}");
        }
        // Weakened statements are not delegated (their functions are never created).
        let undelegated =
            Sql::with_protection("tenancy", Layout::Distributed, Protection::Undelegated);
        assert!(undelegated.delegated.is_empty());
        assert!(undelegated.change_role.starts_with("WITH "));
        assert!(sql.accept_probe.starts_with("WITH p AS"));
        for text in [
            &sql.list_members,
            &sql.list_members_by_role,
            &sql.list_invitations_by_status,
        ] {
            assert!(text.contains("WHERE org_id = $1 AND ("), "{text}");
        }
        assert_eq!(
            sql.list_members_by_role
                .matches("WHERE org_id = $1 AND")
                .count(),
            3
        );
        // The single-node statements keep their text: no registry, no scope placeholders.
        let single = Sql::new("tenancy", Layout::SingleNode);
        assert!(!single.create_org.contains("ft_org_slug"));
        assert!(!single.change_role.contains("{IN_ORG"));
        assert!(!single.change_role.contains("AND org_id = $6"));
        assert!(single.delegated.is_empty());
        assert_eq!(single.create_org, single.create_org_slug);
        assert_eq!(single.accept_invitation, single.accept_invitation_local);
    }
}
