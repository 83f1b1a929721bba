//! Turns result rows into entities; a row that breaks the schema's promises is a typed error.

use std::str::FromStr;

use flametrench_ids::{TypedId, UsrId};
use flametrench_tenancy_core::{
    EntityType, Identifier, Invitation, Membership, OrgName, Organization, PreTuple, Relation,
    Result, Slug, Tuple,
};
use serde::Deserialize;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;
use uuid::Uuid;

use crate::error::corrupt;

/// Columns of `org`, as [`organization`] reads them (by name).
pub(crate) const ORG_COLUMNS: &str = "id, name, slug, status, created_at, updated_at";
/// Columns of `mem`, as [`membership`] reads them (by name).
pub(crate) const MEM_COLUMNS: &str =
    "id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at";
/// Columns of `inv`, as [`invitation`] reads them (by name).
pub(crate) const INV_COLUMNS: &str = "id, org_id, identifier, role, status, pre_tuples, invited_by, \
     invited_user_id, created_at, expires_at, terminal_at, terminal_by";
/// Columns of `tup`, as [`tuple`] reads them (by name).
pub(crate) const TUP_COLUMNS: &str =
    "id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by";

/// Reads the column named `column`: the facts a statement returns are read by name.
pub(crate) fn named<'r, T: FromSql<'r>>(row: &'r Row, column: &str) -> Result<T> {
    row.try_get(column)
        .map_err(|_| corrupt("a column missing or of an unexpected type"))
}

fn id<I: TypedId>(row: &Row, column: &str) -> Result<I> {
    let uuid: Uuid = named(row, column)?;
    I::try_from_uuid(uuid).map_err(|_| corrupt("an id whose uuid has no wire form"))
}

fn opt_id<I: TypedId>(row: &Row, column: &str) -> Result<Option<I>> {
    let uuid: Option<Uuid> = named(row, column)?;
    uuid.map(|uuid| {
        I::try_from_uuid(uuid).map_err(|_| corrupt("an id whose uuid has no wire form"))
    })
    .transpose()
}

fn parsed<T: FromStr>(row: &Row, column: &str) -> Result<T> {
    let text: &str = named(row, column)?;
    text.parse()
        .map_err(|_| corrupt("an unknown role or status"))
}

/// Reads an org from the columns of `row` named as in [`ORG_COLUMNS`].
pub(crate) fn organization(row: &Row) -> Result<Organization> {
    let name: Option<String> = named(row, "name")?;
    let slug: Option<String> = named(row, "slug")?;
    Ok(Organization {
        id: id(row, "id")?,
        // Names and slugs written by other tools are kept as they are when they break our
        // limits, rather than failing every read of the org.
        name: name
            .map(|name| OrgName::new(name).map_err(|_| corrupt("an org name")))
            .transpose()?,
        slug: slug
            .map(|slug| Slug::new(slug).map_err(|_| corrupt("an org slug")))
            .transpose()?,
        status: parsed(row, "status")?,
        created_at: named(row, "created_at")?,
        updated_at: named(row, "updated_at")?,
    })
}

/// Reads a membership from the columns of `row` named as in [`MEM_COLUMNS`].
pub(crate) fn membership(row: &Row) -> Result<Membership> {
    membership_named(row, "")
}

/// Reads a membership from the columns of `row` named as in [`MEM_COLUMNS`] after `prefix`.
pub(crate) fn membership_named(row: &Row, prefix: &str) -> Result<Membership> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(Membership {
        id: id(row, &column("id"))?,
        usr_id: id(row, &column("usr_id"))?,
        org_id: id(row, &column("org_id"))?,
        role: parsed(row, &column("role"))?,
        status: parsed(row, &column("status"))?,
        replaces: opt_id(row, &column("replaces"))?,
        invited_by: opt_id(row, &column("invited_by"))?,
        removed_by: opt_id(row, &column("removed_by"))?,
        created_at: named(row, &column("created_at"))?,
        updated_at: named(row, &column("updated_at"))?,
    })
}

#[derive(Deserialize)]
struct StoredPreTuple {
    relation: String,
    object_type: String,
    object_id: String,
}

/// Reads an invitation from the columns of `row` named as in [`INV_COLUMNS`].
pub(crate) fn invitation(row: &Row) -> Result<Invitation> {
    let identifier: String = named(row, "identifier")?;
    let pre_tuples: serde_json::Value = named(row, "pre_tuples")?;
    let stored: Vec<StoredPreTuple> =
        serde_json::from_value(pre_tuples).map_err(|_| corrupt("invitation pre_tuples"))?;
    let pre_tuples = stored
        .iter()
        .map(|pre| {
            PreTuple::new(&pre.relation, &pre.object_type, &pre.object_id)
                .map_err(|_| corrupt("invitation pre_tuples"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Invitation {
        id: id(row, "id")?,
        org_id: id(row, "org_id")?,
        identifier: Identifier::new(identifier).map_err(|_| corrupt("an invitation identifier"))?,
        role: parsed(row, "role")?,
        status: parsed(row, "status")?,
        pre_tuples,
        invited_by: id(row, "invited_by")?,
        invited_user_id: opt_id(row, "invited_user_id")?,
        created_at: named(row, "created_at")?,
        expires_at: named(row, "expires_at")?,
        terminal_at: named(row, "terminal_at")?,
        terminal_by: opt_id::<UsrId>(row, "terminal_by")?,
    })
}

/// Reads a tuple from the columns of `row` named as in [`TUP_COLUMNS`].
pub(crate) fn tuple(row: &Row) -> Result<Tuple> {
    let subject_type: String = named(row, "subject_type")?;
    let relation: String = named(row, "relation")?;
    let object_type: String = named(row, "object_type")?;
    Ok(Tuple {
        id: id(row, "id")?,
        subject_type: EntityType::new(subject_type).map_err(|_| corrupt("a tuple subject type"))?,
        subject_id: named(row, "subject_id")?,
        relation: Relation::new(relation).map_err(|_| corrupt("a tuple relation"))?,
        object_type: EntityType::new(object_type).map_err(|_| corrupt("a tuple object type"))?,
        object_id: named(row, "object_id")?,
        created_at: named(row, "created_at")?,
        created_by: opt_id(row, "created_by")?,
    })
}

/// The pre-tuples of an invitation as stored in `inv.pre_tuples`.
pub(crate) fn pre_tuples_json(pre_tuples: &[PreTuple]) -> serde_json::Value {
    serde_json::Value::Array(
        pre_tuples
            .iter()
            .map(|pre| {
                serde_json::json!({
                    "relation": pre.relation.as_str(),
                    "object_type": pre.object_type.as_str(),
                    "object_id": pre.object_id.hyphenated().to_string(),
                })
            })
            .collect(),
    )
}
