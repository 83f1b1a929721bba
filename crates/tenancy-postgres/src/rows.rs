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

/// Columns of `org`, in the order [`organization`] reads them.
pub(crate) const ORG_COLUMNS: &str = "id, name, slug, status, created_at, updated_at";
/// Columns of `mem`, in the order [`membership`] reads them.
pub(crate) const MEM_COLUMNS: &str =
    "id, usr_id, org_id, role, status, replaces, invited_by, removed_by, created_at, updated_at";
/// Columns of `inv`, in the order [`invitation`] reads them.
pub(crate) const INV_COLUMNS: &str = "id, org_id, identifier, role, status, pre_tuples, invited_by, \
     invited_user_id, created_at, expires_at, terminal_at, terminal_by";
/// Columns of `tup`, in the order [`tuple`] reads them.
pub(crate) const TUP_COLUMNS: &str =
    "id, subject_type, subject_id, relation, object_type, object_id, created_at, created_by";

/// Reads the column named `column`: the facts a statement returns are read by name.
pub(crate) fn named<'r, T: FromSql<'r>>(row: &'r Row, column: &str) -> Result<T> {
    row.try_get(column)
        .map_err(|_| corrupt("a column missing or of an unexpected type"))
}

pub(crate) fn get<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> Result<T> {
    row.try_get(index)
        .map_err(|_| corrupt("a column of an unexpected type"))
}

fn id<I: TypedId>(row: &Row, index: usize) -> Result<I> {
    let uuid: Uuid = get(row, index)?;
    I::try_from_uuid(uuid).map_err(|_| corrupt("an id whose uuid has no wire form"))
}

fn opt_id<I: TypedId>(row: &Row, index: usize) -> Result<Option<I>> {
    let uuid: Option<Uuid> = get(row, index)?;
    uuid.map(|uuid| {
        I::try_from_uuid(uuid).map_err(|_| corrupt("an id whose uuid has no wire form"))
    })
    .transpose()
}

fn parsed<T: FromStr>(row: &Row, index: usize) -> Result<T> {
    let text: &str = get(row, index)?;
    text.parse()
        .map_err(|_| corrupt("an unknown role or status"))
}

/// Reads an org from `row`, starting at column `at`.
pub(crate) fn organization(row: &Row, at: usize) -> Result<Organization> {
    let name: Option<String> = get(row, at + 1)?;
    let slug: Option<String> = get(row, at + 2)?;
    Ok(Organization {
        id: id(row, at)?,
        // Names and slugs written by other tools are kept as they are when they break our
        // limits, rather than failing every read of the org.
        name: name
            .map(|name| OrgName::new(name).map_err(|_| corrupt("an org name")))
            .transpose()?,
        slug: slug
            .map(|slug| Slug::new(slug).map_err(|_| corrupt("an org slug")))
            .transpose()?,
        status: parsed(row, at + 3)?,
        created_at: get(row, at + 4)?,
        updated_at: get(row, at + 5)?,
    })
}

/// Reads a membership from `row`, starting at column `at`.
pub(crate) fn membership(row: &Row, at: usize) -> Result<Membership> {
    Ok(Membership {
        id: id(row, at)?,
        usr_id: id(row, at + 1)?,
        org_id: id(row, at + 2)?,
        role: parsed(row, at + 3)?,
        status: parsed(row, at + 4)?,
        replaces: opt_id(row, at + 5)?,
        invited_by: opt_id(row, at + 6)?,
        removed_by: opt_id(row, at + 7)?,
        created_at: get(row, at + 8)?,
        updated_at: get(row, at + 9)?,
    })
}

#[derive(Deserialize)]
struct StoredPreTuple {
    relation: String,
    object_type: String,
    object_id: String,
}

/// Reads an invitation from `row`, starting at column `at`.
pub(crate) fn invitation(row: &Row, at: usize) -> Result<Invitation> {
    let identifier: String = get(row, at + 2)?;
    let pre_tuples: serde_json::Value = get(row, at + 5)?;
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
        id: id(row, at)?,
        org_id: id(row, at + 1)?,
        identifier: Identifier::new(identifier).map_err(|_| corrupt("an invitation identifier"))?,
        role: parsed(row, at + 3)?,
        status: parsed(row, at + 4)?,
        pre_tuples,
        invited_by: id(row, at + 6)?,
        invited_user_id: opt_id(row, at + 7)?,
        created_at: get(row, at + 8)?,
        expires_at: get(row, at + 9)?,
        terminal_at: get(row, at + 10)?,
        terminal_by: opt_id::<UsrId>(row, at + 11)?,
    })
}

/// Reads a tuple from `row`, starting at column `at`.
pub(crate) fn tuple(row: &Row, at: usize) -> Result<Tuple> {
    let subject_type: String = get(row, at + 1)?;
    let relation: String = get(row, at + 3)?;
    let object_type: String = get(row, at + 4)?;
    Ok(Tuple {
        id: id(row, at)?,
        subject_type: EntityType::new(subject_type).map_err(|_| corrupt("a tuple subject type"))?,
        subject_id: get(row, at + 2)?,
        relation: Relation::new(relation).map_err(|_| corrupt("a tuple relation"))?,
        object_type: EntityType::new(object_type).map_err(|_| corrupt("a tuple object type"))?,
        object_id: get(row, at + 5)?,
        created_at: get(row, at + 6)?,
        created_by: opt_id(row, at + 7)?,
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
