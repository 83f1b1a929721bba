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

use crate::rows::{INV_COLUMNS, MEM_COLUMNS, ORG_COLUMNS, TUP_COLUMNS};

const ASCII_LOWER: &str = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'";

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
}

/// The lock-row upsert, as a CTE named `bump` reading the locked org from a CTE named `o`.
const BUMP: &str = "bump AS (INSERT INTO {s}.ft_org_lock AS l (org_id, version) SELECT id, 1 FROM o \
    ON CONFLICT (org_id) DO UPDATE SET version = l.version + 1 RETURNING 1)";

macro_rules! statements {
    ($($(#[$doc:meta])* $name:ident = $template:expr;)*) => {
        /// The store's statements, with the schema filled in.
        #[derive(Debug)]
        pub(crate) struct Sql {
            $($(#[$doc])* pub(crate) $name: String,)*
        }

        impl Sql {
            pub(crate) fn new(schema: &str) -> Self {
                Self::with_protection(schema, Protection::Full)
            }

            pub(crate) fn with_protection(schema: &str, protection: Protection) -> Self {
                let quoted = format!("\"{schema}\"");
                let (lock, bump) = match protection {
                    Protection::Full => (" FOR NO KEY UPDATE", BUMP),
                    Protection::LockOnly => (" FOR NO KEY UPDATE", "bump AS (SELECT 1 FROM o)"),
                    Protection::Unlocked => ("", "bump AS (SELECT 1 FROM o)"),
                };
                let fill = |template: &str| {
                    template
                        .replace("{BUMP}", bump)
                        .replace("{LOCK}", lock)
                        .replace("{s}", &quoted)
                        .replace("{ORG}", ORG_COLUMNS)
                        .replace("{MEM}", MEM_COLUMNS)
                        .replace("{INV}", INV_COLUMNS)
                        .replace("{TUP}", TUP_COLUMNS)
                        .replace("{LOWER}", ASCII_LOWER)
                };
                Self { $($name: fill(&$template),)* }
            }
        }
    };
}

statements! {
    ensure_user = "INSERT INTO {s}.usr (id, status, created_at, updated_at) \
        VALUES ($1, 'active', $2, $2) ON CONFLICT (id) DO NOTHING";

    /// $1 org id, $2 name, $3 slug, $4 now, $5 creator, $6 mem id, $7 tup id.
    create_org = "WITH creator AS (SELECT id FROM {s}.usr WHERE id = $5), \
        o AS (INSERT INTO {s}.org (id, status, name, slug, created_at, updated_at) \
              SELECT $1, 'active', $2, $3, $4, $4 FROM creator RETURNING id), \
        m AS (INSERT INTO {s}.mem (id, usr_id, org_id, role, status, created_at, updated_at) \
              SELECT $6, $5, o.id, 'owner', 'active', $4, $4 FROM o RETURNING id), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $7, 'usr', $5, 'owner', 'org', o.id, $4, $5 FROM o RETURNING id) \
        SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM m) + (SELECT count(*) FROM t)";

    get_org = "SELECT {ORG} FROM {s}.org WHERE id = $1";
    org_status = "SELECT status FROM {s}.org WHERE id = $1";

    /// $1 org, $2 set name?, $3 name, $4 set slug?, $5 slug, $6 now.
    update_org = "WITH o AS (UPDATE {s}.org SET \
        name = CASE WHEN $2 THEN $3 ELSE name END, \
        slug = CASE WHEN $4 THEN $5 ELSE slug END, \
        updated_at = $6 \
        WHERE id = $1 AND status <> 'revoked' RETURNING {ORG}), {BUMP} \
        SELECT {ORG}, (SELECT count(*) FROM bump) FROM o";

    /// $1 after, $2 status, $3 folded query, $4 limit.
    list_orgs = "SELECT {ORG} FROM {s}.org \
        WHERE id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AND ($2::text IS NULL OR status = $2) \
        AND ($3::text IS NULL OR strpos(translate(name, {LOWER}), $3) > 0 \
             OR strpos(translate(slug, {LOWER}), $3) > 0) \
        ORDER BY id LIMIT $4";

    /// $1 org, $2 new status, $3 now, $4 required current status.
    set_org_status = "WITH o AS (UPDATE {s}.org SET status = $2, updated_at = $3 \
        WHERE id = $1 AND status = $4 RETURNING {ORG}), {BUMP} \
        SELECT {ORG}, (SELECT count(*) FROM bump) FROM o";

    /// $1 org, $2 now. Takes the org lock.
    revoke_org = "WITH o AS (UPDATE {s}.org SET status = 'revoked', updated_at = $2 \
        WHERE id = $1 AND status <> 'revoked' RETURNING {ORG}), {BUMP} \
        SELECT {ORG}, (SELECT count(*) FROM bump) FROM o";
    revoke_org_memberships = "UPDATE {s}.mem SET status = 'revoked', updated_at = $2 \
        WHERE org_id = $1 AND status IN ('active', 'suspended')";
    revoke_org_tuples = "DELETE FROM {s}.tup WHERE object_type = 'org' AND object_id = $1";
    revoke_org_invitations = "UPDATE {s}.inv SET status = 'revoked', terminal_at = $2 \
        WHERE org_id = $1 AND status = 'pending'";

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

    /// $1 membership: the row, its org's active-owner count, and whether its user has another
    /// active membership in the org.
    membership_context = "SELECT {MEM}, \
        (SELECT count(*) FROM {s}.mem o WHERE o.org_id = m.org_id AND o.status = 'active' AND o.role = 'owner'), \
        EXISTS (SELECT 1 FROM {s}.mem o WHERE o.org_id = m.org_id AND o.usr_id = m.usr_id \
                AND o.status = 'active' AND o.id <> m.id) \
        FROM {s}.mem m WHERE m.id = $1";
    /// $1 membership, $2 user: that user's active membership in the membership's org.
    active_membership_beside = "SELECT {MEM} FROM {s}.mem WHERE usr_id = $2 AND status = 'active' \
        AND org_id = (SELECT org_id FROM {s}.mem WHERE id = $1)";
    get_membership = "SELECT {MEM} FROM {s}.mem WHERE id = $1";
    memberships_by_ids = "SELECT {MEM} FROM {s}.mem WHERE id = ANY($1)";

    /// $1 membership, $2 now, $3 removed_by, $4 new status (`suspended` or `revoked`), $5 its
    /// user, $6 its org, $7 its role: ends an active membership and deletes the tuple that
    /// mirrors it, in one statement. The tuple is found by an equality on its natural key from
    /// bound values, never by a join, whose generic plan could scan a table that was small when
    /// the statement was prepared.
    end_membership = "WITH ended AS (UPDATE {s}.mem SET status = $4, updated_at = $2, removed_by = $3 \
              WHERE id = $1) \
        DELETE FROM {s}.tup WHERE subject_type = 'usr' AND subject_id = $5 \
        AND relation = $7 AND object_type = 'org' AND object_id = $6";
    /// $1 old membership, $2 now, $3 new id, $4 new role, $5 the new row's time, $6 tup id,
    /// $7 user, $8 org, $9 old role: revoke-and-re-add in one statement. The new row's insert
    /// reads the update's `RETURNING`, so the old row has left `mem_unique_active` before the
    /// new active row enters it; the new tuple's insert waits on the old tuple's delete (a
    /// one-time filter on its count), so a rotation that keeps the role (a co-owner promoted to
    /// owner) replaces its tuple instead of colliding with it. As in `end_membership`, the old
    /// tuple is found from bound values.
    rotate_membership = "WITH old AS (UPDATE {s}.mem SET status = 'revoked', updated_at = $2, removed_by = NULL \
              WHERE id = $1 RETURNING id, usr_id, org_id, invited_by), \
        gone AS (DELETE FROM {s}.tup WHERE subject_type = 'usr' AND subject_id = $7 \
              AND relation = $9 AND object_type = 'org' AND object_id = $8 RETURNING 1), \
        new AS (INSERT INTO {s}.mem \
              (id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at) \
              SELECT $3, usr_id, org_id, $4, 'active', id, invited_by, NULL, $5, $5 FROM old \
              RETURNING usr_id, org_id) \
        INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
        SELECT $6, 'usr', usr_id, $4, 'org', org_id, $5, NULL FROM new WHERE (SELECT count(*) FROM gone) >= 0 \
        ON CONFLICT DO NOTHING";
    /// $1 membership, $2 now, $3 tup id: reactivates a suspended membership and writes the tuple
    /// that mirrors it, in one statement.
    reactivate_membership = "WITH back AS (UPDATE {s}.mem SET status = 'active', updated_at = $2 \
              WHERE id = $1 RETURNING usr_id, org_id, role) \
        INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
        SELECT $3, 'usr', usr_id, role, 'org', org_id, $2, NULL FROM back ON CONFLICT DO NOTHING";

    /// $1 org, $2 usr, $3 invited_by (nullable), $4 role, $5 mem id, $6 tup id, $7 now.
    /// Inserts only when the org exists and is active and both users exist; a duplicate active
    /// membership fails on `mem_unique_active`. Reports what it found.
    add_member = "WITH o AS (SELECT id, status FROM {s}.org WHERE id = $1{LOCK}), {BUMP}, \
        flags AS (SELECT (SELECT status FROM o) AS org_status, \
                         EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2) AS usr_ok, \
                         ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $3)) AS inviter_ok), \
        go AS (SELECT 1 FROM flags WHERE org_status = 'active' AND usr_ok AND inviter_ok), \
        m AS (INSERT INTO {s}.mem (id, usr_id, org_id, role, status, invited_by, created_at, updated_at) \
              SELECT $5, $2, $1, $4, 'active', $3, $7, $7 FROM go RETURNING id), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $6, 'usr', $2, $4, 'org', $1, $7, $3 FROM go \
              ON CONFLICT DO NOTHING RETURNING id) \
        SELECT org_status, usr_ok, inviter_ok, (SELECT count(*) FROM m) FROM flags";

    /// $1 org, $2 after, $3 status, $4 limit, $5 role.
    list_members = "SELECT {MEM} FROM {s}.mem WHERE org_id = $1 \
        AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AND ($3::text IS NULL OR status = $3) \
        AND ($5::text IS NULL OR role = $5) ORDER BY id LIMIT $4";
    /// $1 user, $2 after, $3 status, $4 limit, $5 role.
    list_memberships_for_user = "SELECT {MEM} FROM {s}.mem WHERE usr_id = $1 \
        AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AND ($3::text IS NULL OR status = $3) \
        AND ($5::text IS NULL OR role = $5) ORDER BY id LIMIT $4";
    /// $1 org, $2 user: the user's active membership there (`mem_unique_active`).
    active_membership = "SELECT {MEM} FROM {s}.mem WHERE usr_id = $2 AND org_id = $1 AND status = 'active'";
    /// $1 subject type, $2 subject id, $3 relations, $4 object type, $5 object id: whether any
    /// of those tuples exists (the natural-key unique index, one probe per relation).
    check_any = "SELECT EXISTS (SELECT 1 FROM {s}.tup WHERE subject_type = $1 AND subject_id = $2 \
        AND relation = ANY($3) AND object_type = $4 AND object_id = $5)";
    org_exists = "SELECT 1 FROM {s}.org WHERE id = $1";
    mem_exists = "SELECT 1 FROM {s}.mem WHERE id = $1";
    inv_exists = "SELECT 1 FROM {s}.inv WHERE id = $1";
    user_exists = "SELECT 1 FROM {s}.usr WHERE id = $1";

    /// $1 inv id, $2 org, $3 identifier, $4 role, $5 pre_tuples, $6 invited_by, $7 now,
    /// $8 expires_at, $9 expiry valid?. Runs after `lock_org` in the same transaction, so its
    /// reads are fresh: inserts only when the org is active, the inviter exists and holds
    /// invitation authority on the org (the guard of `rules::check_inviter`), and reports what
    /// it found.
    create_invitation = "WITH flags AS (SELECT (SELECT status FROM {s}.org WHERE id = $2) AS org_status, \
                         EXISTS (SELECT 1 FROM {s}.usr WHERE id = $6) AS inviter_ok, \
                         (SELECT role FROM {s}.mem WHERE org_id = $2 AND usr_id = $6 AND status = 'active') AS inviter_role), \
        i AS (INSERT INTO {s}.inv (id, org_id, identifier, role, status, pre_tuples, invited_by, created_at, expires_at) \
              SELECT $1, $2, $3, $4, 'pending', $5, $6, $7, $8 FROM flags \
              WHERE org_status = 'active' AND inviter_ok AND $9 \
              AND inviter_role IN ('owner', 'admin') AND ($4 <> 'owner' OR inviter_role = 'owner') RETURNING id) \
        SELECT org_status, inviter_ok, inviter_role, (SELECT count(*) FROM i) FROM flags";
    get_invitation = "SELECT {INV} FROM {s}.inv WHERE id = $1";
    list_invitations = "SELECT {INV} FROM {s}.inv WHERE org_id = $1 \
        AND id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000'::uuid) AND ($3::text IS NULL OR status = $3) ORDER BY id LIMIT $4";

    /// $1 inv, $2 accepting user (nullable): the invitation (row-locked, after its org: a
    /// concurrent decline or revoke waits), its org's status, whether the user exists and
    /// whether the user already has an active membership in the org.
    accept_context = "SELECT {INV}, \
        (SELECT status FROM {s}.org WHERE id = i.org_id), \
        ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2)), \
        ($2::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id \
             AND m.usr_id = $2 AND m.status = 'active')) \
        FROM {s}.inv i WHERE i.id = $1 FOR UPDATE OF i";
    /// The writes of an acceptance, in one statement. $1 inv, $2 subject, $3 now, $4 create the
    /// subject user?, $5 mem id, $6 role, $7 inviter, $8 membership tuple id, then the
    /// pre-tuples: $9 ids, $10 relations, $11 object types, $12 object ids; $13 the org.
    /// Returns the accepted invitation and the ids of the pre-tuples it inserted (one already
    /// present is kept and not reported). The membership's tuple is written before the pre-tuples (their insert
    /// waits on its count), so a pre-tuple equal to it is the one skipped.
    accept_writes = "WITH u AS (INSERT INTO {s}.usr (id, status, created_at, updated_at) \
              SELECT $2, 'active', $3, $3 WHERE $4 ON CONFLICT (id) DO NOTHING), \
        m AS (INSERT INTO {s}.mem \
              (id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at) \
              VALUES ($5, $2, $13, $6, 'active', NULL, $7, NULL, $3, $3) RETURNING org_id), \
        t AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT $8, 'usr', $2, $6, 'org', org_id, $3, $7 FROM m ON CONFLICT DO NOTHING RETURNING id), \
        p AS (INSERT INTO {s}.tup (id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by) \
              SELECT x.id, 'usr', $2, x.relation, x.object_type, x.object_id, $3, $7 \
              FROM unnest($9::uuid[], $10::text[], $11::text[], $12::uuid[]) AS x(id, relation, object_type, object_id) \
              WHERE (SELECT count(*) FROM t) >= 0 \
              ON CONFLICT DO NOTHING RETURNING id), \
        a AS (UPDATE {s}.inv SET status = 'accepted', invited_user_id = $2, terminal_by = $2, terminal_at = $3 \
              WHERE id = $1 AND status = 'pending' AND (SELECT count(*) FROM m) = 1 RETURNING *) \
        SELECT {INV}, ARRAY(SELECT id FROM p) FROM a";
    /// $1 inv, $2 new status, $3 now, $4 actor (nullable), $5 whether the actor needs
    /// invitation authority on the org (the guard of `rules::check_revoke_invitation`).
    end_invitation = "UPDATE {s}.inv AS i SET status = $2, terminal_at = $3, terminal_by = $4 \
        WHERE i.id = $1 AND i.status = 'pending' \
        AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $4)) \
        AND (NOT $5 OR EXISTS (SELECT 1 FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = $4 \
             AND m.status = 'active' AND m.role IN ('owner', 'admin'))) RETURNING {INV}";
    /// $1 inv, $2 actor (nullable): what an unsuccessful `end_invitation` found.
    end_invitation_context = "SELECT i.status, \
        ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM {s}.usr WHERE id = $2)), \
        (SELECT m.role FROM {s}.mem m WHERE m.org_id = i.org_id AND m.usr_id = $2 AND m.status = 'active') \
        FROM {s}.inv i WHERE i.id = $1";

    /// $1 tuple ids: those of them that exist.
    tuple_ids_among = "SELECT id FROM {s}.tup WHERE id = ANY($1)";
    tuples_for_subject = "SELECT {TUP} FROM {s}.tup WHERE subject_type = $1 AND subject_id = $2 ORDER BY id";
    tuples_for_object = "SELECT {TUP} FROM {s}.tup WHERE object_type = $1 AND object_id = $2 \
        AND ($3::text IS NULL OR relation = $3) ORDER BY id";
}
