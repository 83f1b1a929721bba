//! Turns a fixture step into a store call and its result into JSON.

use std::str::FromStr;

use flametrench_ids::{IdError, InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, AdminRemove, ChangeRole, Clock, CreateInvitation, CreateOrg,
    Cursor, DeclineInvitation, EntityType, Identifier, ListInvitations, ListMembers,
    ListMembershipsForUser, ListOrgs, ListTuplesByObject, ListTuplesBySubject, ManualClock,
    MemberAction, OrgAction, OrgName, OrgQuery, Patch, PreTuple, Relation, RevokeInvitation, Role,
    SelfLeave, Slug, TenancyError, TenancyStore, TransferOwnership, UpdateOrg, parse_object_id,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Duration, OffsetDateTime};

/// A step failed for a reason that is the fixture's or the harness's fault.
#[derive(Debug)]
pub(crate) struct HarnessError(pub(crate) String);

/// What a store call produced.
pub(crate) enum Called {
    Value(Value),
    Error(TenancyError),
}

type Step<T> = Result<Result<T, TenancyError>, HarnessError>;

pub(crate) struct Input<'a>(pub(crate) &'a Map<String, Value>);

impl Input<'_> {
    fn raw(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    fn string(&self, key: &str) -> Result<Option<&str>, HarnessError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(HarnessError(format!(
                "input `{key}` must be a string, found {other}"
            ))),
        }
    }

    fn required(&self, key: &str) -> Result<&str, HarnessError> {
        self.string(key)?
            .ok_or_else(|| HarnessError(format!("input `{key}` is required")))
    }

    fn id<I: FromStr<Err = IdError>>(&self, key: &'static str) -> Step<I> {
        let text = self.required(key)?;
        Ok(text
            .parse()
            .map_err(|error| TenancyError::invalid_id(key, error)))
    }

    fn opt_id<I: FromStr<Err = IdError>>(&self, key: &'static str) -> Step<Option<I>> {
        Ok(match self.string(key)? {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|error| TenancyError::invalid_id(key, error)),
        })
    }

    /// The optional `org_id` that scopes a membership or invitation call.
    fn scope(&self) -> Step<Option<OrgId>> {
        self.opt_id("org_id")
    }

    /// The optional `actor` of an actor-checked write.
    fn actor(&self) -> Step<Option<UsrId>> {
        self.opt_id("actor")
    }

    fn parsed<T: FromStr<Err = TenancyError>>(&self, key: &str) -> Step<T> {
        Ok(self.required(key)?.parse())
    }

    fn opt_parsed<T: FromStr<Err = TenancyError>>(&self, key: &str) -> Step<Option<T>> {
        Ok(self.string(key)?.map(str::parse).transpose())
    }

    fn limit(&self) -> Result<Option<u32>, HarnessError> {
        match self.0.get("limit") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => Ok(Some(match number.as_i64() {
                Some(n) if n < 0 => 0,
                Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
                None => u32::MAX,
            })),
            Some(other) => Err(HarnessError(format!(
                "input `limit` must be a number, found {other}"
            ))),
        }
    }

    fn cursor(&self) -> Result<Option<Cursor>, HarnessError> {
        Ok(self.string("cursor")?.map(Cursor::new))
    }
}

macro_rules! tri {
    ($step:expr) => {
        match $step? {
            Ok(value) => value,
            Err(error) => return Ok(Called::Error(error)),
        }
    };
}

macro_rules! check {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(error) => return Ok(Called::Error(error)),
        }
    };
}

fn done<T: Serialize>(result: Result<T, TenancyError>) -> Result<Called, HarnessError> {
    Ok(match result {
        Ok(value) => Called::Value(
            serde_json::to_value(value).map_err(|error| HarnessError(error.to_string()))?,
        ),
        Err(error) => Called::Error(error),
    })
}

fn tuples(
    result: Result<Vec<flametrench_tenancy_core::Tuple>, TenancyError>,
) -> Result<Called, HarnessError> {
    done(result.map(|data| json!({ "data": data })))
}

/// Whether `op` names a store operation this harness can call: any of the operation table.
pub(crate) fn is_store_op(op: &str) -> bool {
    flametrench_tenancy_core::Op::from_name(op).is_some()
}

/// Whether `op` returns a page.
pub(crate) fn is_list_op(op: &str) -> bool {
    matches!(
        op,
        "list_orgs"
            | "list_members"
            | "list_invitations"
            | "list_memberships_for_user"
            | "list_tuples_by_subject"
            | "list_tuples_by_object"
    )
}

fn patch<T>(
    input: &Input<'_>,
    key: &str,
    build: fn(&str) -> Result<T, TenancyError>,
) -> Step<Patch<T>> {
    Ok(match input.raw(key) {
        None => Ok(Patch::Unchanged),
        Some(Value::Null) => Ok(Patch::Clear),
        Some(Value::String(text)) => build(text).map(Patch::Set),
        Some(other) => {
            return Err(HarnessError(format!(
                "input `{key}` must be a string or null, found {other}"
            )));
        }
    })
}

fn pre_tuples(input: &Input<'_>) -> Step<Vec<PreTuple>> {
    let Some(value) = input.raw("pre_tuples") else {
        return Ok(Ok(Vec::new()));
    };
    let Value::Array(items) = value else {
        return Err(HarnessError("input `pre_tuples` must be an array".into()));
    };
    let mut out = Vec::new();
    for item in items {
        let item = item
            .as_object()
            .ok_or_else(|| HarnessError("each pre_tuple must be an object".into()))?;
        let field = |key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| HarnessError(format!("pre_tuple `{key}` must be a string")))
        };
        match PreTuple::new(
            field("relation")?,
            field("object_type")?,
            field("object_id")?,
        ) {
            Ok(pre) => out.push(pre),
            Err(error) => return Ok(Err(error)),
        }
    }
    Ok(Ok(out))
}

fn seconds(value: Option<&Value>, default: f64) -> Result<Duration, HarnessError> {
    match value {
        None | Some(Value::Null) => Ok(Duration::seconds_f64(default)),
        Some(Value::Number(number)) => number
            .as_f64()
            .map(Duration::seconds_f64)
            .ok_or_else(|| HarnessError("seconds must be a number".into())),
        Some(other) => Err(HarnessError(format!(
            "seconds must be a number, found {other}"
        ))),
    }
}

/// The `expires_at` of a `create_invitation` step: the clock's time plus `ttl_seconds` (one
/// day when absent), or the absolute `expires_at`, an RFC 3339 string or, for years RFC 3339
/// cannot write, ISO 8601 with an expanded year (`-009999-01-01T00:00:00Z`). The absolute form
/// keeps its nanoseconds and offset, so fixtures can check how stores normalize them.
fn expiry(input: &Input<'_>, clock: &ManualClock) -> Result<OffsetDateTime, HarnessError> {
    let Some(text) = input.string("expires_at")? else {
        let ttl = seconds(input.raw("ttl_seconds"), 86_400.0)?;
        return clock
            .now()
            .checked_add(ttl)
            .ok_or_else(|| HarnessError("`ttl_seconds` leaves the time range".into()));
    };
    if input.raw("ttl_seconds").is_some() {
        return Err(HarnessError(
            "give `expires_at` or `ttl_seconds`, not both".into(),
        ));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::DEFAULT))
        .map_err(|error| HarnessError(format!("`expires_at` {text:?} is not a timestamp: {error}")))
}

/// The input of an org transition: `org_id`, and the optional `actor`.
fn org_action(input: &Input<'_>) -> Step<OrgAction> {
    let org: OrgId = match input.id("org_id")? {
        Ok(org) => org,
        Err(error) => return Ok(Err(error)),
    };
    Ok(input.actor()?.map(|actor| {
        let action = OrgAction::new(org);
        actor.map_or(action, |actor| action.by(actor))
    }))
}

/// The input of a suspension or reinstatement: `mem_id`, and the optional `org_id` and
/// `actor`.
fn member_action(input: &Input<'_>) -> Step<MemberAction> {
    let mem: MemId = match input.id("mem_id")? {
        Ok(mem) => mem,
        Err(error) => return Ok(Err(error)),
    };
    let org = match input.scope()? {
        Ok(org) => org,
        Err(error) => return Ok(Err(error)),
    };
    Ok(input.actor()?.map(|actor| {
        let mut action = MemberAction::new(mem);
        if let Some(org) = org {
            action = action.in_org(org);
        }
        actor.map_or(action, |actor| action.by(actor))
    }))
}

/// Moves the test's clock.
pub(crate) fn advance_clock(
    clock: &ManualClock,
    input: &Map<String, Value>,
) -> Result<(), HarnessError> {
    clock.advance(seconds(input.get("seconds"), 0.0)?);
    Ok(())
}

/// The fixture form of each store operation: one function per operation of the table, named
/// after its method, reading the step's input.
mod fixture {
    use super::*;

    pub(super) async fn ensure_user<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let usr: UsrId = tri!(input.id("usr_id"));
        done(store.ensure_user(usr).await)
    }

    pub(super) async fn create_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let creator: UsrId = tri!(input.id("creator"));
        let mut create = CreateOrg::new(creator);
        if let Some(name) = input.string("name")? {
            create = create.name(check!(OrgName::new(name)));
        }
        if let Some(slug) = input.string("slug")? {
            create = create.slug(check!(Slug::new(slug)));
        }
        done(store.create_org(create).await)
    }

    pub(super) async fn get_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.get_org(tri!(input.id::<OrgId>("org_id"))).await)
    }

    pub(super) async fn update_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let name = tri!(patch(input, "name", |text| OrgName::new(text)));
        let slug = tri!(patch(input, "slug", |text| Slug::new(text)));
        let mut update = UpdateOrg::new(org).name(name).slug(slug);
        if let Some(actor) = tri!(input.actor()) {
            update = update.by(actor);
        }
        done(store.update_org(update).await)
    }

    pub(super) async fn list_orgs<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut list = ListOrgs::new().cursor(input.cursor()?);
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        if let Some(status) = tri!(input.opt_parsed("status")) {
            list = list.status(status);
        }
        if let Some(query) = input.string("query")? {
            list = list.query(check!(OrgQuery::new(query)));
        }
        done(store.list_orgs(list).await)
    }

    pub(super) async fn suspend_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.suspend_org(tri!(org_action(input))).await)
    }

    pub(super) async fn reinstate_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.reinstate_org(tri!(org_action(input))).await)
    }

    pub(super) async fn revoke_org<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.revoke_org(tri!(org_action(input))).await)
    }

    pub(super) async fn add_member<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let usr: UsrId = tri!(input.id("usr_id"));
        let role: Role = tri!(input.parsed("role"));
        let mut add = AddMember::new(org, usr, role);
        if let Some(inviter) = tri!(input.opt_id::<UsrId>("invited_by")) {
            add = add.invited_by(inviter);
        }
        if let Some(actor) = tri!(input.actor()) {
            if add.invited_by.is_some() {
                return Err(HarnessError(
                    "give `invited_by` (recorded) or `actor` (checked), not both".into(),
                ));
            }
            add = add.by(actor);
        }
        done(store.add_member(add).await)
    }

    pub(super) async fn get_membership<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mem: MemId = tri!(input.id("mem_id"));
        done(store.get_membership(mem, tri!(input.scope())).await)
    }

    pub(super) async fn change_role<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mem: MemId = tri!(input.id("mem_id"));
        let role: Role = tri!(input.parsed("new_role"));
        let mut change = ChangeRole::new(mem, role);
        if let Some(org) = tri!(input.scope()) {
            change = change.in_org(org);
        }
        if let Some(actor) = tri!(input.actor()) {
            change = change.by(actor);
        }
        done(store.change_role(change).await)
    }

    pub(super) async fn suspend_membership<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.suspend_membership(tri!(member_action(input))).await)
    }

    pub(super) async fn reinstate_membership<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        done(store.reinstate_membership(tri!(member_action(input))).await)
    }

    pub(super) async fn self_leave<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut leave = SelfLeave::new(tri!(input.id("mem_id")));
        if let Some(heir) = tri!(input.opt_id::<UsrId>("transfer_to")) {
            leave = leave.transfer_to(heir);
        }
        if let Some(org) = tri!(input.scope()) {
            leave = leave.in_org(org);
        }
        if let Some(actor) = tri!(input.actor()) {
            leave = leave.by(actor);
        }
        done(store.self_leave(leave).await)
    }

    pub(super) async fn admin_remove<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mem: MemId = tri!(input.id("mem_id"));
        let admin: UsrId = tri!(input.id("admin_usr_id"));
        let mut remove = AdminRemove::new(mem, admin);
        if let Some(org) = tri!(input.scope()) {
            remove = remove.in_org(org);
        }
        done(store.admin_remove(remove).await)
    }

    pub(super) async fn transfer_ownership<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let from: MemId = tri!(input.id("from_mem_id"));
        let to: MemId = tri!(input.id("to_mem_id"));
        let mut transfer = TransferOwnership::new(org, from, to);
        if let Some(actor) = tri!(input.actor()) {
            transfer = transfer.by(actor);
        }
        done(store.transfer_ownership(transfer).await)
    }

    pub(super) async fn create_invitation<S: TenancyStore>(
        store: &S,
        clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let identifier = check!(Identifier::new(input.required("identifier")?));
        let role: Role = tri!(input.parsed("role"));
        let invited_by: UsrId = tri!(input.id("invited_by"));
        let expires_at = expiry(input, clock)?;
        let pre = tri!(pre_tuples(input));
        let create = check!(
            CreateInvitation::new(org, identifier, role, invited_by, expires_at)
                .and_then(|create| create.pre_tuples(pre))
        );
        done(store.create_invitation(create).await)
    }

    pub(super) async fn get_invitation<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let inv: InvId = tri!(input.id("inv_id"));
        done(store.get_invitation(inv, tri!(input.scope())).await)
    }

    pub(super) async fn accept_invitation<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let inv: InvId = tri!(input.id("inv_id"));
        let as_usr = tri!(input.opt_id::<UsrId>("as_usr_id"));
        let identifier = match input.string("accepting_identifier")? {
            None => None,
            Some(text) => Some(check!(Identifier::new(text))),
        };
        let mut accept = AcceptInvitation::with_parts(inv, as_usr, identifier);
        if let Some(org) = tri!(input.scope()) {
            accept = accept.in_org(org);
        }
        done(store.accept_invitation(accept).await)
    }

    pub(super) async fn decline_invitation<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut decline = DeclineInvitation::new(tri!(input.id("inv_id")));
        if let Some(usr) = tri!(input.opt_id::<UsrId>("as_usr_id")) {
            decline = decline.as_user(usr);
        }
        if let Some(actor) = tri!(input.actor()) {
            decline = decline.by(actor);
        }
        if let Some(text) = input.string("identifier")? {
            decline = decline.bound_to(check!(Identifier::new(text)));
        }
        if let Some(org) = tri!(input.scope()) {
            decline = decline.in_org(org);
        }
        done(store.decline_invitation(decline).await)
    }

    pub(super) async fn revoke_invitation<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let inv: InvId = tri!(input.id("inv_id"));
        let admin: UsrId = tri!(input.id("admin_usr_id"));
        let mut revoke = RevokeInvitation::new(inv, admin);
        if let Some(org) = tri!(input.scope()) {
            revoke = revoke.in_org(org);
        }
        done(store.revoke_invitation(revoke).await)
    }

    pub(super) async fn list_tuples_for_subject<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let kind: EntityType = tri!(input.parsed("subject_type"));
        let id = check!(parse_object_id(input.required("subject_id")?));
        tuples(store.list_tuples_for_subject(kind, id).await)
    }

    pub(super) async fn active_membership<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let usr: UsrId = tri!(input.id("usr_id"));
        done(store.active_membership(org, usr).await)
    }

    pub(super) async fn org_access<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let org: OrgId = tri!(input.id("org_id"));
        let usr: UsrId = tri!(input.id("usr_id"));
        done(store.org_access(org, usr).await)
    }

    /// `relations` is a JSON array of relation names.
    pub(super) async fn check_any<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let subject_type: EntityType = tri!(input.parsed("subject_type"));
        let subject_id = check!(parse_object_id(input.required("subject_id")?));
        let object_type: EntityType = tri!(input.parsed("object_type"));
        let object_id = check!(parse_object_id(input.required("object_id")?));
        let Some(Value::Array(names)) = input.raw("relations") else {
            return Err(HarnessError(
                "`relations` must be an array of strings".into(),
            ));
        };
        let mut relations = Vec::with_capacity(names.len());
        for name in names {
            let Value::String(name) = name else {
                return Err(HarnessError(
                    "`relations` must be an array of strings".into(),
                ));
            };
            relations.push(check!(Relation::new(name)));
        }
        done(
            store
                .check_any(subject_type, subject_id, relations, object_type, object_id)
                .await,
        )
    }

    pub(super) async fn list_tuples_for_object<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let kind: EntityType = tri!(input.parsed("object_type"));
        let id = check!(parse_object_id(input.required("object_id")?));
        let relation: Option<Relation> = tri!(input.opt_parsed("relation"));
        tuples(store.list_tuples_for_object(kind, id, relation).await)
    }

    pub(super) async fn list_tuples_by_subject<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let kind: EntityType = tri!(input.parsed("subject_type"));
        let id = check!(parse_object_id(input.required("subject_id")?));
        let mut list = ListTuplesBySubject::new(kind, id).cursor(input.cursor()?);
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        done(store.list_tuples_by_subject(list).await)
    }

    pub(super) async fn list_tuples_by_object<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let kind: EntityType = tri!(input.parsed("object_type"));
        let id = check!(parse_object_id(input.required("object_id")?));
        let mut list = ListTuplesByObject::new(kind, id).cursor(input.cursor()?);
        if let Some(relation) = tri!(input.opt_parsed::<Relation>("relation")) {
            list = list.relation(relation);
        }
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        done(store.list_tuples_by_object(list).await)
    }

    pub(super) async fn list_members<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut list = ListMembers::new(tri!(input.id("org_id"))).cursor(input.cursor()?);
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        if let Some(status) = tri!(input.opt_parsed("status")) {
            list = list.status(status);
        }
        if let Some(role) = tri!(input.opt_parsed::<Role>("role")) {
            list = list.role(role);
        }
        done(store.list_members(list).await)
    }

    pub(super) async fn list_memberships_for_user<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut list =
            ListMembershipsForUser::new(tri!(input.id("usr_id"))).cursor(input.cursor()?);
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        if let Some(status) = tri!(input.opt_parsed("status")) {
            list = list.status(status);
        }
        done(store.list_memberships_for_user(list).await)
    }

    pub(super) async fn list_invitations<S: TenancyStore>(
        store: &S,
        _clock: &ManualClock,
        input: &Input<'_>,
    ) -> Result<Called, HarnessError> {
        let mut list = ListInvitations::new(tri!(input.id("org_id"))).cursor(input.cursor()?);
        if let Some(limit) = input.limit()? {
            list = list.limit(limit);
        }
        if let Some(status) = tri!(input.opt_parsed("status")) {
            list = list.status(status);
        }
        done(store.list_invitations(list).await)
    }
}

macro_rules! dispatch {
    ($($(#[$doc:meta])* $kind:ident $variant:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        /// Calls one store operation; the dispatch comes from the operation table, so an
        /// operation without its fixture function here does not compile.
        pub(crate) async fn call<S: TenancyStore>(
            store: &S,
            clock: &ManualClock,
            op: &str,
            input: &Map<String, Value>,
        ) -> Result<Called, HarnessError> {
            let input = Input(input);
            match op {
                $(stringify!($name) => fixture::$name(store, clock, &input).await,)*
                other => Err(HarnessError(format!("unknown op `{other}`"))),
            }
        }
    };
}

flametrench_tenancy_core::tenancy_operations!(dispatch);
