//! The tenancy invariants checked with plain SQL over the tables, written independently of the
//! store's own statements, for tests and stress runs.

/// Describes every invariant violation in the database `client` is connected to (empty when
/// all hold): an org with active members but no active owner; an active membership without
/// exactly one `(usr, role, org)` tuple, or a membership tuple without its active membership;
/// an active membership in a revoked org; an accepted invitation without a membership created when
/// it was accepted (an invitation is accepted at most once by its status transition; a role
/// change in the same microsecond may share the timestamp, so rows are not counted). Run it in one REPEATABLE READ transaction for a consistent
/// view while writers are active.
///
/// # Errors
///
/// A driver error from the queries.
pub async fn violations<C: tokio_postgres::GenericClient>(
    client: &C,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let checks = [
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
            "accepted invitation without a membership created when it was accepted",
            "SELECT count(*) FROM inv i WHERE i.status = 'accepted' AND NOT EXISTS (SELECT 1 FROM mem m \
          WHERE m.org_id = i.org_id AND m.usr_id = i.invited_user_id AND m.created_at = i.terminal_at)",
        ),
        (
            "superseded membership not revoked, or replaced by a row of another user, org or earlier time",
            "SELECT count(*) FROM mem n JOIN mem o ON o.id = n.replaces WHERE o.status <> 'revoked' \
             OR o.usr_id <> n.usr_id OR o.org_id <> n.org_id OR o.created_at > n.created_at",
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
    let mut found = Vec::new();
    for (what, sql) in checks {
        let count: i64 = client
            .query_one(sql, &[])
            .await
            .expect("invariant query")
            .get(0);
        if count > 0 {
            found.push(format!("{what}: {count}"));
        }
    }
    Ok(found)
}
