//! Users and tuples: `ensure_user`, the tuple listings and `check_any`.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{EntityType, Op, Relation, Result, Tuple, rules};
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::first;
use crate::exec::{Shape, Stmt};
use crate::rows::{self, get};
use crate::store::{PostgresTenancyStore, transact};

pub(super) async fn ensure_user(store: &PostgresTenancyStore<'_, '_>, usr_id: UsrId) -> Result<()> {
    let now = store.clock.now();
    let usr = usr_id.as_uuid();
    let sql = &store.sql;
    // Idempotent: a lost answer is resolved by finding the user.
    let probe = Stmt::new(&sql.user_exists).bind(&usr, Type::UUID);
    let found = |rows: &[tokio_postgres::Row]| Ok((!rows.is_empty()).then_some(()));
    transact!(store, Op::EnsureUser, Shape::Single, usr_id, probe: Some((probe, &found)), |tx| {
        tx.finish(&[Stmt::new(&sql.ensure_user)
            .bind(&usr, Type::UUID)
            .bind(&now, Type::TIMESTAMPTZ)])
            .await
            .map(|_| ())
    })
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
    transact!(
        store,
        Op::ListTuplesForSubject,
        Shape::Read,
        subject_id,
        |tx| {
            let flights = tx
                .finish(&[Stmt::new(&sql.tuples_for_subject)
                    .bind(&kind, Type::TEXT)
                    .bind(&subject_id, Type::UUID)])
                .await?;
            tuples_of(&first(flights))
        }
    )
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
    transact!(
        store,
        Op::ListTuplesForObject,
        Shape::Read,
        object_id,
        |tx| {
            let flights = tx
                .finish(&[Stmt::new(&sql.tuples_for_object)
                    .bind(&kind, Type::TEXT)
                    .bind(&object_id, Type::UUID)
                    .bind(&relation, Type::TEXT)])
                .await?;
            tuples_of(&first(flights))
        }
    )
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
    transact!(store, Op::CheckAny, Shape::Read, object_id, |tx| {
        let rows = first(
            tx.finish(&[Stmt::new(&sql.check_any)
                .bind(&subject_kind, Type::TEXT)
                .bind(&subject_id, Type::UUID)
                .bind(&names, Type::TEXT_ARRAY)
                .bind(&object_kind, Type::TEXT)
                .bind(&object_id, Type::UUID)])
                .await?,
        );
        rows.first()
            .map(|row| get::<bool>(row, 0))
            .unwrap_or(Ok(false))
    })
}
