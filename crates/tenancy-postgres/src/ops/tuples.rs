//! Users and tuples: `ensure_user`, the tuple listings and `check_any`.

use flametrench_ids::{TupId, UsrId};
use flametrench_tenancy_core::backend::rules;
use flametrench_tenancy_core::{
    Cursor, EntityType, ListTuplesByObject, ListTuplesBySubject, Op, Page, Relation, Result, Tuple,
};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::first;
use crate::exec::{Shape, Stmt};
use crate::rows;
use crate::run::{Call, run};
use crate::store::PostgresTenancyStore;

pub(super) async fn ensure_user(store: &PostgresTenancyStore<'_, '_>, usr_id: UsrId) -> Result<()> {
    let now = store.clock.now();
    let usr = usr_id.as_uuid();
    let sql = &store.sql;
    // Idempotent: a lost answer is resolved by finding the user.
    let probe = Stmt::new(&sql.user_exists).bind(&usr, Type::UUID);
    let found = |rows: &[tokio_postgres::Row]| Ok((!rows.is_empty()).then_some(()));
    let stmts = [Stmt::new(&sql.ensure_user)
        .bind(&usr, Type::UUID)
        .bind(&now, Type::TIMESTAMPTZ)];
    run(
        store,
        Call::write(Op::EnsureUser, Shape::Single).probe(probe, &found),
        usr_id,
        &stmts,
        |_| Ok(()),
    )
    .await
}

/// The tuples a listing statement returned.
fn tuples_of(rows: &[tokio_postgres::Row]) -> Result<Vec<Tuple>> {
    rows.iter().map(rows::tuple).collect()
}

pub(super) async fn for_subject(
    store: &PostgresTenancyStore<'_, '_>,
    subject_type: EntityType,
    subject_id: Uuid,
) -> Result<Vec<Tuple>> {
    let kind = subject_type.as_str();
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.tuples_for_subject)
        .bind(&kind, Type::TEXT)
        .bind(&subject_id, Type::UUID)];
    run(
        store,
        Call::read(Op::ListTuplesForSubject),
        subject_id,
        &stmts,
        |flights| tuples_of(&first(flights)),
    )
    .await
}

pub(super) async fn for_object(
    store: &PostgresTenancyStore<'_, '_>,
    object_type: EntityType,
    object_id: Uuid,
    relation: Option<Relation>,
) -> Result<Vec<Tuple>> {
    let kind = object_type.as_str();
    let relation = relation.as_ref().map(Relation::as_str);
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.tuples_for_object)
        .bind(&kind, Type::TEXT)
        .bind(&object_id, Type::UUID)
        .bind(&relation, Type::TEXT)];
    run(
        store,
        Call::read(Op::ListTuplesForObject),
        object_id,
        &stmts,
        |flights| tuples_of(&first(flights)),
    )
    .await
}

/// The keyset of a tuple page.
struct Keyset {
    /// The id to continue after: the nil uuid, below every tuple id, for the first page.
    after: Uuid,
    /// The page size.
    limit: usize,
    /// How many rows to fetch: one more than the page, to tell whether another follows.
    fetch: i64,
}

impl Keyset {
    fn new(cursor: Option<&Cursor>, limit: Option<u32>) -> Result<Self> {
        let after = rules::cursor_position::<TupId>(cursor)?.map_or(Uuid::nil(), |id| id.as_uuid());
        let limit = rules::page_limit(limit);
        Ok(Self {
            after,
            limit,
            fetch: (limit + 1) as i64,
        })
    }
}

pub(super) async fn page_for_subject(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListTuplesBySubject,
) -> Result<Page<Tuple>> {
    let Keyset {
        after,
        limit,
        fetch,
    } = Keyset::new(input.cursor.as_ref(), input.limit)?;
    let kind = input.subject_type.as_str();
    let subject_id = input.subject_id;
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.tuples_page_for_subject)
        .bind(&kind, Type::TEXT)
        .bind(&subject_id, Type::UUID)
        .bind(&after, Type::UUID)
        .bind(&fetch, Type::INT8)];
    run(
        store,
        Call::read(Op::ListTuplesBySubject),
        subject_id,
        &stmts,
        |flights| {
            Ok(rules::paginate(
                tuples_of(&first(flights))?,
                limit,
                |tuple| tuple.id,
            ))
        },
    )
    .await
}

pub(super) async fn page_for_object(
    store: &PostgresTenancyStore<'_, '_>,
    input: ListTuplesByObject,
) -> Result<Page<Tuple>> {
    let Keyset {
        after,
        limit,
        fetch,
    } = Keyset::new(input.cursor.as_ref(), input.limit)?;
    let kind = input.object_type.as_str();
    let object_id = input.object_id;
    let relation = input.relation.as_ref().map(Relation::as_str);
    let sql = &store.sql;
    // Two statements rather than one with an optional relation: each shape has one
    // sort-free plan, an ordered range scan of its index.
    let statement = match &relation {
        None => Stmt::new(&sql.tuples_page_for_object)
            .bind(&kind, Type::TEXT)
            .bind(&object_id, Type::UUID)
            .bind(&after, Type::UUID)
            .bind(&fetch, Type::INT8),
        Some(relation) => Stmt::new(&sql.tuples_page_for_object_relation)
            .bind(&kind, Type::TEXT)
            .bind(&object_id, Type::UUID)
            .bind(relation, Type::TEXT)
            .bind(&after, Type::UUID)
            .bind(&fetch, Type::INT8),
    };
    let stmts = [statement];
    run(
        store,
        Call::read(Op::ListTuplesByObject),
        object_id,
        &stmts,
        |flights| {
            Ok(rules::paginate(
                tuples_of(&first(flights))?,
                limit,
                |tuple| tuple.id,
            ))
        },
    )
    .await
}

pub(super) async fn check_any(
    store: &PostgresTenancyStore<'_, '_>,
    (subject_type, subject_id): (EntityType, Uuid),
    relations: Vec<Relation>,
    (object_type, object_id): (EntityType, Uuid),
) -> Result<bool> {
    let relations = rules::check_relations(relations)?;
    let names: Vec<&str> = relations.iter().map(Relation::as_str).collect();
    let (subject_kind, object_kind) = (subject_type.as_str(), object_type.as_str());
    let sql = &store.sql;
    let stmts = [Stmt::new(&sql.check_any)
        .bind(&subject_kind, Type::TEXT)
        .bind(&subject_id, Type::UUID)
        .bind(&names, Type::TEXT_ARRAY)
        .bind(&object_kind, Type::TEXT)
        .bind(&object_id, Type::UUID)];
    run(
        store,
        Call::read(Op::CheckAny),
        object_id,
        &stmts,
        |flights| {
            let rows = first(flights);
            rows.first()
                .map(|row| rows::named::<bool>(row, "found"))
                .unwrap_or(Ok(false))
        },
    )
    .await
}
