//! The SDK's JSON checked against the spec's OpenAPI component schemas.
//!
//! Every entity (`Organization`, `Membership`, `Invitation`, `Tuple`), result
//! (`CreateOrgResponse`, `AcceptInvitationResponse`, `TransferOwnershipResponse`), page
//! (`OrgPage`, `MembershipPage`, `InvitationPage`, `TuplePage`) and error body (`Error`) below
//! is produced by real calls on the in-memory store and validated with a JSON Schema validator
//! that asserts formats (`uuid`, `date-time`, …) and patterns, against each definition of its
//! schema in the OpenAPI files (the v0.2 and v0.3 additions re-declare some of v0.1's), one
//! named trial per output and definition:
//! `cargo test -p flametrench-tenancy-memory --test openapi -- <filter>`. The request bodies of
//! `flametrench_tenancy_core::request` are checked the other way: on samples of structure (an
//! unknown field, a missing field, a value of the wrong type, a `null`) a request type refuses
//! what its schema refuses and accepts what it accepts.
//!
//! The OpenAPI files are read from the directory `FLAMETRENCH_SPEC_OPENAPI` names when set and
//! not empty, else from `<workspace>/../shared/flametrench-spec/openapi`, as the conformance
//! corpus is found. When the directory is missing, every trial is reported ignored and a notice
//! says so; under CI (`CI` set) a missing directory fails the run.
//!
//! A `$ref: '#/components/schemas/X'` resolves inside one root document holding the components
//! of all the files (the additions compose with v0.1): the file's own components first, then
//! v0.1's, then the other additions'. OpenAPI 3.1 schemas are JSON Schema 2020-12; a 3.0 file's
//! `nullable: true` would be translated into a `null` alternative (the files are 3.1 today).
//!
//! Where an output does not match a definition and the SDK is right to produce it, the case is
//! listed in [`known_mismatch`] with its reason: its trial is reported ignored, and the trial
//! `known_mismatches_still_mismatch` fails once the schema accepts it, so the list stays true.

// Test code: a failed setup step should stop the run with the value at hand.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use flametrench_tenancy_core::ids::{InvId, MemId, OrgId, UsrId};
use flametrench_tenancy_core::request::{
    AcceptInvitationRequest, AddMemberRequest, ChangeRoleRequest, CreateInvitationRequest,
    SelfLeaveRequest, TransferOwnershipRequest, UpdateOrgRequest, parse_id,
};
use flametrench_tenancy_core::time::{Duration, OffsetDateTime, macros::datetime};
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, ConflictKind, CreateInvitation, CreateOrg, Cursor, Entity,
    EntityType, Identifier, ListInvitations, ListMembers, ListMembershipsForUser, ListOrgs,
    ListTuplesByObject, ListTuplesBySubject, MAX_TIMESTAMP, MIN_TIMESTAMP, ManualClock, OrgName,
    OrgQuery, Page, Patch, PreTuple, PreconditionReason, RetryScope, Role, SharedClock, Slug,
    TenancyError, TenancyStore, TransferOwnership, UpdateOrg,
};
use flametrench_tenancy_core::{
    AdminRemove, ChangeRole, DeclineInvitation, MemberAction, OrgAction, RevokeInvitation,
    SelfLeave,
};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use jsonschema::{Draft, Validator};
use libtest_mimic::{Arguments, Failed, Trial};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The variable naming the OpenAPI directory (the `openapi/` directory of the spec).
const SPEC_ENV: &str = "FLAMETRENCH_SPEC_OPENAPI";
/// Where the OpenAPI directory sits relative to the workspace when the variable is unset.
const DEFAULT_SPEC: &str = "../shared/flametrench-spec/openapi";
/// The OpenAPI files, each with the tag its trials carry; v0.1 is the base document.
const FILES: &[(&str, &str)] = &[
    ("v0.1", "flametrench-v0.1.yaml"),
    ("v0.2", "flametrench-v0.2-additions.yaml"),
    ("v0.3", "flametrench-v0.3-additions.yaml"),
    ("v0.4", "flametrench-v0.4-additions.yaml"),
];

/// Outputs that do not match one definition of their schema, with the reason the SDK is right
/// to produce them anyway. Only these cases are excused.
fn known_mismatch(schema: &str, file: &str, value: &Value) -> Option<&'static str> {
    if schema == "Error" && matches!(file, "v0.2" | "v0.3") && value.get("details").is_some() {
        return Some(
            "the v0.2 and v0.3 additions re-declare `Error` for standalone bundling as \
             {code, message} with additionalProperties: false, without v0.1's optional \
             `details` object; `TenancyError::body()` follows v0.1 and carries `details` for \
             not_found, already_terminal, precondition.*, invalid_id and \
             storage.retryable_conflict (bodies without details match all three)",
        );
    }
    None
}

// The spec.

/// One OpenAPI file: its tag, its `openapi` version and its component schemas.
struct SpecFile {
    tag: &'static str,
    version: String,
    schemas: Map<String, Value>,
}

/// Where the OpenAPI directory is, and whether its absence is a failure (under CI).
struct Lookup {
    dir: PathBuf,
    required: bool,
}

impl Lookup {
    fn from_env() -> Self {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = std::env::var_os(SPEC_ENV)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(DEFAULT_SPEC));
        let dir = dir.canonicalize().unwrap_or(dir);
        Self {
            dir,
            required: std::env::var_os("CI").is_some(),
        }
    }
}

fn load_spec(dir: &Path) -> Result<Vec<SpecFile>, String> {
    FILES
        .iter()
        .map(|(tag, name)| {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            let document: Value = serde_yaml_ng::from_str(&text)
                .map_err(|error| format!("{}: not YAML of JSON values: {error}", path.display()))?;
            let version = document["openapi"]
                .as_str()
                .ok_or_else(|| format!("{}: no `openapi` version", path.display()))?
                .to_owned();
            let mut schemas = document["components"]["schemas"]
                .as_object()
                .cloned()
                .ok_or_else(|| format!("{}: no components.schemas", path.display()))?;
            if version.starts_with("3.0") {
                for schema in schemas.values_mut() {
                    translate_nullable(schema);
                }
            } else if !version.starts_with("3.1") {
                return Err(format!(
                    "{}: OpenAPI {version}, neither 3.0 nor 3.1",
                    path.display()
                ));
            }
            Ok(SpecFile {
                tag,
                version,
                schemas,
            })
        })
        .collect()
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` added to `type` (and to `enum`), or,
/// beside a `$ref` or a composition, the schema made an alternative to `{"type": "null"}`.
fn translate_nullable(schema: &mut Value) {
    match schema {
        Value::Array(items) => items.iter_mut().for_each(translate_nullable),
        Value::Object(object) => {
            object.values_mut().for_each(translate_nullable);
            if object.remove("nullable") != Some(Value::Bool(true)) {
                return;
            }
            if let Some(Value::Array(values)) = object.get_mut("enum") {
                values.push(Value::Null);
            }
            match object.get("type").cloned() {
                Some(Value::String(name)) => {
                    object.insert("type".into(), json!([name, "null"]));
                }
                _ => {
                    let inner = Value::Object(std::mem::take(object));
                    object.insert("anyOf".into(), json!([inner, { "type": "null" }]));
                }
            }
        }
        _ => {}
    }
}

/// The root document for the definition of `name` in `files[index]`: its `$ref`, and every
/// component of every file, the file's own first, then v0.1's, then the other additions'.
fn root_document(files: &[SpecFile], index: usize, name: &str) -> Value {
    let mut components = files[index].schemas.clone();
    for (position, file) in files.iter().enumerate() {
        if position == index {
            continue;
        }
        for (key, schema) in &file.schemas {
            components
                .entry(key.clone())
                .or_insert_with(|| schema.clone());
        }
    }
    json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": { "schemas": components },
    })
}

/// Whether `text` is standard base64 with padding: the OpenAPI `byte` format.
fn is_base64(text: &str) -> bool {
    text.len() % 4 == 0
        && text
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && text.len() - text.trim_end_matches('=').len() <= 2
}

/// A validator of `root` under the dialect of `version`: formats asserted, and a format it
/// does not know (in a schema the root reaches) fails the build rather than passing unchecked.
/// Besides JSON Schema's formats it knows the OpenAPI's data-type formats the files use: `byte`
/// is checked; `int64` annotates integers, which `format` does not constrain.
fn build_validator(version: &str, root: &Value) -> Result<Validator, String> {
    let draft = if version.starts_with("3.0") {
        Draft::Draft4
    } else {
        Draft::Draft202012
    };
    jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .with_format("byte", is_base64)
        .with_format("int64", |_: &str| true)
        .build(root)
        .map_err(|error| format!("the schema does not build: {error}"))
}

/// Every error of `value` against `validator`, one per line with its location.
fn errors(validator: &Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|error| format!("at `{}`: {error}", error.instance_path()))
        .collect()
}

// The SDK's outputs.

/// One JSON value the SDK produced, and the component schema it must match.
struct Output {
    case: String,
    schema: &'static str,
    value: Value,
}

#[derive(Default)]
struct Outputs(Vec<Output>);

impl Outputs {
    fn add(&mut self, case: &str, schema: &'static str, value: &impl Serialize) {
        self.0.push(Output {
            case: case.to_owned(),
            schema,
            value: serde_json::to_value(value).unwrap(),
        });
    }

    /// The error body of a call that must fail with `code`.
    fn error<T: std::fmt::Debug>(
        &mut self,
        case: &str,
        code: &str,
        result: Result<T, TenancyError>,
    ) {
        match result {
            Ok(value) => panic!("{case}: expected {code}, got {value:?}"),
            Err(error) => {
                assert_eq!(error.code(), code, "{case}");
                self.add(case, "Error", &error.body());
            }
        }
    }
}

fn identifier(text: &str) -> Identifier {
    Identifier::new(text).unwrap()
}

async fn register(store: &InMemoryTenancyStore, users: &[UsrId]) {
    for user in users {
        store.ensure_user(*user).await.unwrap();
    }
}

/// The outputs of one walk through every operation, and of its refusals.
async fn sdk_outputs() -> Outputs {
    let mut out = Outputs::default();
    let clock = Arc::new(ManualClock::new(datetime!(2026-05-01 12:34:56.123_456 UTC)));
    let shared: SharedClock = clock.clone();
    let store = InMemoryTenancyStore::with_clock(shared);
    let tick = || clock.advance(Duration::milliseconds(1_250));
    let (alice, bob, carol, dave) = (UsrId::new(), UsrId::new(), UsrId::new(), UsrId::new());
    register(&store, &[alice, bob, carol, dave]).await;

    // Orgs: with name and slug, without, renamed, and the status transitions.
    let created = store
        .create_org(
            CreateOrg::new(alice)
                .name(OrgName::new("Acme Corp").unwrap())
                .slug(Slug::new("acme").unwrap()),
        )
        .await
        .unwrap();
    out.add("create_org", "CreateOrgResponse", &created);
    out.add("create_org.org", "Organization", &created.org);
    out.add(
        "create_org.owner_membership",
        "Membership",
        &created.owner_membership,
    );
    let org = created.org.id;
    let alice_owner = created.owner_membership.id;
    tick();
    let bare = store.create_org(CreateOrg::new(bob)).await.unwrap();
    out.add("create_org.no_name_or_slug", "CreateOrgResponse", &bare);
    let long_name = format!("{}é", "n".repeat(OrgName::MAX_BYTES - 2));
    tick();
    let renamed = store
        .update_org(
            UpdateOrg::new(bare.org.id)
                .name(Patch::Set(OrgName::new(long_name).unwrap()))
                .slug(Patch::Set(
                    Slug::new(format!("z{}9", "-".repeat(61))).unwrap(),
                )),
        )
        .await
        .unwrap();
    out.add("update_org.longest_name_and_slug", "Organization", &renamed);
    tick();
    let empty_name = store
        .update_org(
            UpdateOrg::new(bare.org.id)
                .name(Patch::Set(OrgName::new("").unwrap()))
                .slug(Patch::Clear),
        )
        .await
        .unwrap();
    out.add("update_org.empty_name_no_slug", "Organization", &empty_name);
    tick();
    let suspended = store
        .suspend_org(OrgAction::new(bare.org.id))
        .await
        .unwrap();
    out.add("suspend_org", "Organization", &suspended);
    out.error(
        "update_org.slug_taken",
        "conflict.org_slug",
        store
            .update_org(UpdateOrg::new(bare.org.id).slug(Patch::Set(Slug::new("acme").unwrap())))
            .await,
    );
    out.error(
        "suspend_org.already_suspended",
        "precondition.invalid_transition",
        store.suspend_org(OrgAction::new(bare.org.id)).await,
    );
    tick();
    out.add(
        "reinstate_org",
        "Organization",
        &store
            .reinstate_org(OrgAction::new(bare.org.id))
            .await
            .unwrap(),
    );
    tick();
    out.add(
        "revoke_org",
        "Organization",
        &store.revoke_org(OrgAction::new(bare.org.id)).await.unwrap(),
    );
    out.error(
        "update_org.revoked",
        "already_terminal",
        store.update_org(UpdateOrg::new(bare.org.id)).await,
    );
    out.error(
        "get_org.unknown",
        "not_found",
        store.get_org(OrgId::new()).await,
    );
    out.error(
        "create_org.slug_taken",
        "conflict.org_slug",
        store
            .create_org(CreateOrg::new(dave).slug(Slug::new("acme").unwrap()))
            .await,
    );
    out.add(
        "get_org",
        "Organization",
        &store.get_org(org).await.unwrap(),
    );

    // Memberships: added, role changed, suspended and reinstated.
    tick();
    let bob_admin = store
        .add_member(AddMember::new(org, bob, Role::Admin).invited_by(alice))
        .await
        .unwrap();
    out.add("add_member.invited_by", "Membership", &bob_admin);
    out.error(
        "add_member.duplicate",
        "conflict.duplicate_membership",
        store
            .add_member(AddMember::new(org, bob, Role::Guest))
            .await,
    );
    out.error(
        "add_member.unknown_user",
        "not_found",
        store
            .add_member(AddMember::new(org, UsrId::new(), Role::Guest))
            .await,
    );
    tick();
    let bob_member = store
        .change_role(ChangeRole::new(bob_admin.id, Role::Member))
        .await
        .unwrap();
    out.add("change_role.replaces", "Membership", &bob_member);
    out.add(
        "get_membership.replaced",
        "Membership",
        &store.get_membership(bob_admin.id, None).await.unwrap(),
    );
    out.error(
        "change_role.replaced",
        "precondition.mem_not_active",
        store
            .change_role(ChangeRole::new(bob_admin.id, Role::Owner))
            .await,
    );
    out.error(
        "change_role.last_owner",
        "forbidden.sole_owner",
        store
            .change_role(ChangeRole::new(alice_owner, Role::Member))
            .await,
    );
    out.error(
        "self_leave.sole_owner",
        "forbidden.sole_owner",
        store.self_leave(SelfLeave::new(alice_owner)).await,
    );
    out.error(
        "self_leave.self_transfer",
        "precondition.self_transfer",
        store
            .self_leave(SelfLeave::new(alice_owner).transfer_to(alice))
            .await,
    );
    tick();
    out.add(
        "suspend_membership",
        "Membership",
        &store
            .suspend_membership(MemberAction::new(bob_member.id))
            .await
            .unwrap(),
    );
    tick();
    out.add(
        "reinstate_membership",
        "Membership",
        &store
            .reinstate_membership(MemberAction::new(bob_member.id))
            .await
            .unwrap(),
    );
    out.error(
        "admin_remove.by_member",
        "forbidden",
        store.admin_remove(AdminRemove::new(alice_owner, bob)).await,
    );
    out.error(
        "get_membership.unknown",
        "not_found",
        store.get_membership(MemId::new(), None).await,
    );

    // Invitations: pending with pre-tuples, accepted (existing and new user), declined,
    // revoked, expired.
    let editor = PreTuple::new("editor", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").unwrap();
    let viewer = PreTuple::new("viewer", "doc", "doc_0190f2a81b3c7abc8123bbbbbbbbbbbb").unwrap();
    let custom = PreTuple::new("can_bill", "org", &org.as_uuid().to_string()).unwrap();
    tick();
    let to_carol = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier("carol@example.com"),
                Role::Guest,
                alice,
                MAX_TIMESTAMP,
            )
            .unwrap()
            .pre_tuples([editor, viewer, custom])
            .unwrap(),
        )
        .await
        .unwrap();
    out.add("create_invitation.pre_tuples", "Invitation", &to_carol);
    out.error(
        "accept_invitation.unbound",
        "precondition.identifier_binding_required",
        store
            .accept_invitation(AcceptInvitation::with_parts(to_carol.id, Some(carol), None))
            .await,
    );
    out.error(
        "accept_invitation.mismatch",
        "precondition.identifier_mismatch",
        store
            .accept_invitation(AcceptInvitation::as_user(
                to_carol.id,
                carol,
                identifier("Carol@example.com"),
            ))
            .await,
    );
    tick();
    let accepted = store
        .accept_invitation(AcceptInvitation::as_user(
            to_carol.id,
            carol,
            identifier("carol@example.com"),
        ))
        .await
        .unwrap();
    assert_eq!(accepted.materialized_tuples.len(), 3);
    out.add("accept_invitation", "AcceptInvitationResponse", &accepted);
    out.add(
        "accept_invitation.invitation",
        "Invitation",
        &accepted.invitation,
    );
    out.add(
        "accept_invitation.membership",
        "Membership",
        &accepted.membership,
    );
    for (n, tuple) in accepted.materialized_tuples.iter().enumerate() {
        out.add(&format!("accept_invitation.tuple_{n}"), "Tuple", tuple);
    }
    out.error(
        "accept_invitation.again",
        "conflict.invitation_not_pending",
        store
            .accept_invitation(AcceptInvitation::as_user(
                to_carol.id,
                carol,
                identifier("carol@example.com"),
            ))
            .await,
    );
    tick();
    let to_new_user = store
        .create_invitation(
            CreateInvitation::new(
                org,
                identifier("erin@example.com"),
                Role::Viewer,
                alice,
                clock_now(&clock) + Duration::days(7),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    tick();
    let minted = store
        .accept_invitation(AcceptInvitation::new_user(to_new_user.id))
        .await
        .unwrap();
    assert!(minted.materialized_tuples.is_empty());
    out.add(
        "accept_invitation.new_user",
        "AcceptInvitationResponse",
        &minted,
    );
    let invite = |who: &str, role: Role| {
        CreateInvitation::new(
            org,
            identifier(who),
            role,
            alice,
            clock_now(&clock) + Duration::hours(1),
        )
        .unwrap()
    };
    tick();
    let to_dave = store
        .create_invitation(invite("dave@example.com", Role::Member))
        .await
        .unwrap();
    tick();
    out.add(
        "decline_invitation",
        "Invitation",
        &store
            .decline_invitation(DeclineInvitation::new(to_dave.id).as_user(dave))
            .await
            .unwrap(),
    );
    tick();
    let to_frank = store
        .create_invitation(invite("frank", Role::Editor))
        .await
        .unwrap();
    tick();
    out.add(
        "revoke_invitation",
        "Invitation",
        &store
            .revoke_invitation(RevokeInvitation::new(to_frank.id, alice))
            .await
            .unwrap(),
    );
    out.error(
        "revoke_invitation.again",
        "conflict.invitation_not_pending",
        store
            .revoke_invitation(RevokeInvitation::new(to_frank.id, alice))
            .await,
    );
    out.error(
        "decline_invitation.unknown",
        "not_found",
        store
            .decline_invitation(DeclineInvitation::new(InvId::new()))
            .await,
    );
    let to_grace = store
        .create_invitation(invite("grace@example.com", Role::Admin))
        .await
        .unwrap();
    out.error(
        "create_invitation.past",
        "precondition.past_expiration",
        store
            .create_invitation(
                CreateInvitation::new(
                    org,
                    identifier("heidi@example.com"),
                    Role::Member,
                    alice,
                    clock_now(&clock) - Duration::seconds(1),
                )
                .unwrap(),
            )
            .await,
    );
    out.error(
        "create_invitation.by_member",
        "forbidden",
        store
            .create_invitation(
                CreateInvitation::new(
                    org,
                    identifier("heidi@example.com"),
                    Role::Member,
                    carol,
                    clock_now(&clock) + Duration::hours(1),
                )
                .unwrap(),
            )
            .await,
    );
    clock.advance(Duration::hours(2));
    out.add(
        "get_invitation.expired_reads_pending",
        "Invitation",
        &store.get_invitation(to_grace.id, None).await.unwrap(),
    );
    out.error(
        "accept_invitation.expired",
        "conflict.invitation_expired",
        store
            .accept_invitation(AcceptInvitation::as_user(
                to_grace.id,
                dave,
                identifier("grace@example.com"),
            ))
            .await,
    );

    // Ownership and removals.
    tick();
    let transferred = store
        .transfer_ownership(TransferOwnership::new(org, alice_owner, bob_member.id))
        .await
        .unwrap();
    out.add(
        "transfer_ownership",
        "TransferOwnershipResponse",
        &transferred,
    );
    out.error(
        "transfer_ownership.from_not_active",
        "precondition.from_not_active",
        store
            .transfer_ownership(TransferOwnership::new(
                org,
                alice_owner,
                accepted.membership.id,
            ))
            .await,
    );
    tick();
    store
        .add_member(AddMember::new(org, dave, Role::Admin).invited_by(bob))
        .await
        .unwrap();
    out.error(
        "admin_remove.owner_by_admin",
        "forbidden.role_hierarchy",
        store
            .admin_remove(AdminRemove::new(transferred.to_membership.id, dave))
            .await,
    );
    tick();
    out.add(
        "admin_remove",
        "Membership",
        &store
            .admin_remove(AdminRemove::new(accepted.membership.id, bob))
            .await
            .unwrap(),
    );
    tick();
    out.add(
        "self_leave",
        "Membership",
        &store
            .self_leave(SelfLeave::new(transferred.from_membership.id))
            .await
            .unwrap(),
    );

    // Pages, and tuples as a page.
    let first = store.list_orgs(ListOrgs::new().limit(1)).await.unwrap();
    assert!(first.next_cursor.is_some());
    out.add("list_orgs.first_page", "OrgPage", &first);
    out.add(
        "list_orgs.all",
        "OrgPage",
        &store.list_orgs(ListOrgs::new()).await.unwrap(),
    );
    out.add(
        "list_orgs.query",
        "OrgPage",
        &store
            .list_orgs(ListOrgs::new().query(OrgQuery::new("ACME").unwrap()))
            .await
            .unwrap(),
    );
    out.add(
        "list_orgs.empty",
        "OrgPage",
        &store
            .list_orgs(ListOrgs::new().query(OrgQuery::new("no such org").unwrap()))
            .await
            .unwrap(),
    );
    let members = store
        .list_members(ListMembers::new(org).limit(2))
        .await
        .unwrap();
    assert!(members.next_cursor.is_some());
    out.add("list_members.first_page", "MembershipPage", &members);
    out.add(
        "list_members.all",
        "MembershipPage",
        &store
            .list_members(ListMembers::new(org).limit(200))
            .await
            .unwrap(),
    );
    out.add(
        "list_memberships_for_user",
        "MembershipPage",
        &store
            .list_memberships_for_user(ListMembershipsForUser::new(bob))
            .await
            .unwrap(),
    );
    out.add(
        "list_invitations",
        "InvitationPage",
        &store
            .list_invitations(ListInvitations::new(org))
            .await
            .unwrap(),
    );
    out.add(
        "list_invitations.first_page",
        "InvitationPage",
        &store
            .list_invitations(ListInvitations::new(org).limit(1))
            .await
            .unwrap(),
    );
    out.error(
        "list_members.bad_cursor",
        "precondition.invalid_cursor",
        store
            .list_members(ListMembers::new(org).cursor(Some(Cursor::new("org_nope"))))
            .await,
    );
    let on_org = store
        .list_tuples_for_object(EntityType::org(), org.as_uuid(), None)
        .await
        .unwrap();
    assert!(!on_org.is_empty());
    for (n, tuple) in on_org.iter().enumerate() {
        out.add(&format!("list_tuples_for_object.tuple_{n}"), "Tuple", tuple);
    }
    let of_carol = store
        .list_tuples_for_subject(EntityType::usr(), carol.as_uuid())
        .await
        .unwrap();
    out.add(
        "list_tuples_for_subject",
        "TuplePage",
        &Page {
            data: of_carol,
            next_cursor: None,
        },
    );
    // The paged reads answer a `TuplePage` as the store returns it, cursor included.
    let by_object = store
        .list_tuples_by_object(ListTuplesByObject::new(EntityType::org(), org.as_uuid()).limit(1))
        .await
        .unwrap();
    assert_eq!(by_object.next_cursor.is_some(), on_org.len() > 1);
    out.add("list_tuples_by_object.first_page", "TuplePage", &by_object);
    out.add(
        "list_tuples_by_subject",
        "TuplePage",
        &store
            .list_tuples_by_subject(ListTuplesBySubject::new(EntityType::usr(), carol.as_uuid()))
            .await
            .unwrap(),
    );
    out.error(
        "list_tuples_by_subject.bad_cursor",
        "precondition.invalid_cursor",
        store
            .list_tuples_by_subject(
                ListTuplesBySubject::new(EntityType::usr(), carol.as_uuid())
                    .cursor(Some(Cursor::new("mem_nope"))),
            )
            .await,
    );
    out.add(
        "list_tuples_for_object.as_page",
        "TuplePage",
        &Page {
            data: on_org,
            next_cursor: Some(Cursor::new("tup_0190f2a81b3c7abc8123456789abcdef")),
        },
    );

    // Refusals from the inputs' constructors and the request types.
    out.error(
        "slug",
        "precondition.org_slug_format",
        Slug::new("Not A Slug"),
    );
    out.error("org_name", "precondition.invalid_name", OrgName::new("a\0"));
    out.error(
        "identifier",
        "precondition.invalid_identifier",
        Identifier::new(""),
    );
    out.error(
        "pre_tuple.forged_membership",
        "precondition.invalid_pre_tuple",
        PreTuple::new("owner", "org", &org.as_uuid().to_string()),
    );
    out.error("role", "precondition.invalid_role", "root".parse::<Role>());
    out.error(
        "expires_at.out_of_range",
        "precondition.timestamp_out_of_range",
        CreateInvitation::new(
            org,
            identifier("x@example.com"),
            Role::Member,
            alice,
            MIN_TIMESTAMP - Duration::microseconds(1),
        ),
    );
    out.error(
        "request.path_id",
        "invalid_id",
        parse_id::<OrgId>("org_id", "usr_0190f2a81b3c7abc8123456789abcdef"),
    );
    out.error(
        "request.expires_at",
        "precondition.invalid_timestamp",
        serde_json::from_value::<CreateInvitationRequest>(json!({
            "identifier": "x@example.com", "role": "member", "expires_at": "soon",
        }))
        .unwrap()
        .into_input(org, alice),
    );
    out.error(
        "check_any.no_relation",
        "precondition.empty_relation_set",
        store
            .check_any(
                EntityType::usr(),
                alice.as_uuid(),
                Vec::new(),
                EntityType::org(),
                org.as_uuid(),
            )
            .await,
    );
    // The storage errors a backend reports, which the memory store never does.
    out.add(
        "storage.retryable_conflict",
        "Error",
        &TenancyError::RetryableConflict {
            kind: ConflictKind::SerializationFailure,
            scope: RetryScope::Transaction,
            source: "serialization failure".into(),
        }
        .body(),
    );
    out.add(
        "storage.backend",
        "Error",
        &TenancyError::Backend {
            source: "backend".into(),
        }
        .body(),
    );
    for reason in PreconditionReason::ALL {
        out.add(
            &format!("every_reason.{reason}"),
            "Error",
            &TenancyError::precondition(*reason).body(),
        );
    }
    out.add(
        "every_entity.not_found",
        "Error",
        &TenancyError::not_found(Entity::User).body(),
    );

    let violations = store.snapshot().check_invariants();
    assert!(violations.is_empty(), "{violations:?}");
    out.0.extend(edge_timestamps().await.0);
    out
}

fn clock_now(clock: &ManualClock) -> OffsetDateTime {
    flametrench_tenancy_core::Clock::now(clock)
}

/// Rows stamped at the first and the last instant a store keeps.
async fn edge_timestamps() -> Outputs {
    let mut out = Outputs::default();
    let clock = Arc::new(ManualClock::new(MIN_TIMESTAMP));
    let shared: SharedClock = clock.clone();
    let store = InMemoryTenancyStore::with_clock(shared);
    let (owner, invitee) = (UsrId::new(), UsrId::new());
    register(&store, &[owner, invitee]).await;
    let first = store.create_org(CreateOrg::new(owner)).await.unwrap();
    out.add("create_org.at_min_timestamp", "CreateOrgResponse", &first);
    clock.set(MAX_TIMESTAMP - Duration::seconds(1));
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                first.org.id,
                identifier("i@example.com"),
                Role::Member,
                owner,
                MAX_TIMESTAMP,
            )
            .unwrap(),
        )
        .await
        .unwrap();
    clock.set(MAX_TIMESTAMP - Duration::microseconds(1));
    let accepted = store
        .accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            invitee,
            identifier("i@example.com"),
        ))
        .await
        .unwrap();
    out.add(
        "accept_invitation.last_microsecond",
        "AcceptInvitationResponse",
        &accepted,
    );
    clock.set(MAX_TIMESTAMP);
    out.add(
        "create_invitation.expires_at_max_timestamp",
        "Invitation",
        &store.get_invitation(invitation.id, None).await.unwrap(),
    );
    out.add(
        "update_org.at_max_timestamp",
        "Organization",
        &store
            .update_org(UpdateOrg::new(first.org.id))
            .await
            .unwrap(),
    );
    out
}

// Request bodies.

/// One request body, the schema it belongs to, and whether the SDK's request type reads it
/// (deserialization alone: the values' own rules are the conversion's, checked elsewhere).
struct RequestSample {
    case: String,
    schema: &'static str,
    body: Value,
    accepted: Result<(), String>,
}

fn reads<T: DeserializeOwned>(body: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(body.clone())
        .map(drop)
        .map_err(|error| error.to_string())
}

fn request_samples() -> Vec<RequestSample> {
    let usr = "usr_0190f2a81b3c7abc8123456789abcdef";
    let mem = "mem_0190f2a81b3c7abc8123456789abcdef";
    let grant = json!({ "relation": "editor", "object_type": "proj",
        "object_id": "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa" });
    let invitation = json!({ "identifier": "bob@example.com", "role": "member",
        "expires_at": "2030-01-01T00:00:00Z" });
    let with = |base: &Value, key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let without = |base: &Value, key: &str| {
        let mut body = base.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove(key);
        }
        body
    };
    /// A request schema, its request type's reader, and the sample bodies.
    type Kind = (
        &'static str,
        fn(&Value) -> Result<(), String>,
        Vec<(&'static str, Value)>,
    );
    let kinds: Vec<Kind> = vec![
        (
            "UpdateOrgRequest",
            reads::<UpdateOrgRequest>,
            vec![
                ("empty", json!({})),
                ("set_and_clear", json!({ "name": "Acme", "slug": null })),
                ("unknown_field", json!({ "status": "active" })),
                ("wrong_type", json!({ "name": 1 })),
                ("array", json!(["Acme", "acme"])),
            ],
        ),
        (
            "AddMemberRequest",
            reads::<AddMemberRequest>,
            vec![
                ("plain", json!({ "usr_id": usr, "role": "member" })),
                (
                    "invited_by",
                    json!({ "usr_id": usr, "role": "admin", "invited_by": usr }),
                ),
                (
                    "invited_by_null",
                    json!({ "usr_id": usr, "role": "admin", "invited_by": null }),
                ),
                ("missing_role", json!({ "usr_id": usr })),
                (
                    "unknown_field",
                    json!({ "usr_id": usr, "role": "member", "org_id": usr }),
                ),
            ],
        ),
        (
            "ChangeRoleRequest",
            reads::<ChangeRoleRequest>,
            vec![
                ("plain", json!({ "new_role": "admin" })),
                ("missing", json!({})),
                ("null", json!({ "new_role": null })),
                (
                    "unknown_field",
                    json!({ "new_role": "admin", "mem_id": mem }),
                ),
            ],
        ),
        (
            "SelfLeaveRequest",
            reads::<SelfLeaveRequest>,
            vec![
                ("empty", json!({})),
                ("transfer_to", json!({ "transferTo": usr })),
                ("transfer_to_null", json!({ "transferTo": null })),
                ("snake_case", json!({ "transfer_to": usr })),
                ("wrong_type", json!({ "transferTo": 7 })),
            ],
        ),
        (
            "TransferOwnershipRequest",
            reads::<TransferOwnershipRequest>,
            vec![
                ("plain", json!({ "from_mem_id": mem, "to_mem_id": mem })),
                ("missing_to", json!({ "from_mem_id": mem })),
                (
                    "unknown_field",
                    json!({ "from_mem_id": mem, "to_mem_id": mem, "x": 1 }),
                ),
            ],
        ),
        (
            "CreateInvitationRequest",
            reads::<CreateInvitationRequest>,
            vec![
                ("plain", invitation.clone()),
                (
                    "pre_tuples",
                    with(&invitation, "pre_tuples", json!([grant.clone()])),
                ),
                (
                    "pre_tuples_empty",
                    with(&invitation, "pre_tuples", json!([])),
                ),
                (
                    "pre_tuples_null",
                    with(&invitation, "pre_tuples", Value::Null),
                ),
                (
                    "pre_tuple_unknown_field",
                    with(
                        &invitation,
                        "pre_tuples",
                        json!([with(&grant, "subject_id", json!(usr))]),
                    ),
                ),
                (
                    "pre_tuple_missing_field",
                    with(
                        &invitation,
                        "pre_tuples",
                        json!([without(&grant, "object_id")]),
                    ),
                ),
                ("missing_expires_at", without(&invitation, "expires_at")),
                ("unknown_field", with(&invitation, "invited_by", json!(usr))),
                (
                    "wrong_type",
                    with(&invitation, "expires_at", json!(1_900_000_000)),
                ),
            ],
        ),
        (
            "AcceptInvitationRequest",
            reads::<AcceptInvitationRequest>,
            vec![
                ("empty", json!({})),
                (
                    "as_user",
                    json!({ "as_usr_id": usr, "accepting_identifier": "b@example.com" }),
                ),
                ("as_usr_id_null", json!({ "as_usr_id": null })),
                (
                    "accepting_identifier_null",
                    json!({ "accepting_identifier": null }),
                ),
                ("unknown_field", json!({ "usr_id": usr })),
            ],
        ),
    ];
    let mut samples = Vec::new();
    for (schema, read, bodies) in kinds {
        for (case, body) in bodies {
            samples.push(RequestSample {
                case: format!("request.{case}"),
                schema,
                accepted: read(&body),
                body,
            });
        }
    }
    samples
}

// Trials.

fn fail(message: String) -> Failed {
    Failed::from(message)
}

/// A shared validator, or why its schema did not build.
type Shared = Arc<Result<Validator, String>>;

fn validator_in(shared: &Shared) -> Result<&Validator, Failed> {
    shared
        .as_ref()
        .as_ref()
        .map_err(|error| fail(error.clone()))
}

/// The validators of the loaded files, built once per schema and file.
struct Validators<'f> {
    files: &'f [SpecFile],
    built: BTreeMap<(&'static str, usize), Shared>,
}

impl<'f> Validators<'f> {
    fn new(files: &'f [SpecFile]) -> Self {
        Self {
            files,
            built: BTreeMap::new(),
        }
    }

    /// The indexes of the files that define `schema`.
    fn defining(&self, schema: &str) -> Vec<usize> {
        (0..self.files.len())
            .filter(|index| self.files[*index].schemas.contains_key(schema))
            .collect()
    }

    fn get(&mut self, schema: &'static str, index: usize) -> Shared {
        let files = self.files;
        self.built
            .entry((schema, index))
            .or_insert_with(|| {
                let root = root_document(files, index, schema);
                Arc::new(build_validator(&files[index].version, &root))
            })
            .clone()
    }
}

/// An output trial ignored as a known mismatch: its name, reason, validator and value.
type Excused = (String, &'static str, Shared, Arc<Value>);

/// One trial per output and definition of its schema; the known mismatches are ignored and
/// returned.
fn output_trials(
    validators: &mut Validators<'_>,
    outputs: Vec<Output>,
    trials: &mut Vec<Trial>,
) -> Vec<Excused> {
    let mut excused = Vec::new();
    for output in outputs {
        let indexes = validators.defining(output.schema);
        if indexes.is_empty() {
            let schema = output.schema;
            let name = format!("{schema}/{}", output.case);
            trials.push(Trial::test(name, move || {
                Err(fail(format!("no OpenAPI file defines `{schema}`")))
            }));
            continue;
        }
        let value = Arc::new(output.value);
        for index in indexes {
            let tag = validators.files[index].tag;
            let name = format!("{}@{tag}/{}", output.schema, output.case);
            let validator = validators.get(output.schema, index);
            if let Some(reason) = known_mismatch(output.schema, tag, &value) {
                excused.push((name.clone(), reason, validator, value.clone()));
                trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                continue;
            }
            let value = value.clone();
            trials.push(Trial::test(name, move || {
                let errors = errors(validator_in(&validator)?, &value);
                if errors.is_empty() {
                    Ok(())
                } else {
                    let errors = errors.join("\n");
                    Err(fail(format!("{errors}\nthe SDK's JSON: {value:#}")))
                }
            }));
        }
    }
    excused
}

/// One trial per request sample and definition of its schema: the schema and the request type
/// accept and refuse alike.
fn request_trials(
    validators: &mut Validators<'_>,
    samples: Vec<RequestSample>,
    trials: &mut Vec<Trial>,
) {
    for sample in samples {
        for index in validators.defining(sample.schema) {
            let tag = validators.files[index].tag;
            let name = format!("{}@{tag}/{}", sample.schema, sample.case);
            let validator = validators.get(sample.schema, index);
            let (body, accepted) = (sample.body.clone(), sample.accepted.clone());
            trials.push(Trial::test(name, move || {
                let errors = errors(validator_in(&validator)?, &body);
                match (errors.is_empty(), &accepted) {
                    (true, Ok(())) | (false, Err(_)) => Ok(()),
                    (true, Err(error)) => Err(fail(format!(
                        "the schema accepts {body}, the request type refuses it: {error}"
                    ))),
                    (false, Ok(())) => Err(fail(format!(
                        "the schema refuses {body} ({}), the request type reads it",
                        errors.join("; ")
                    ))),
                }
            }));
        }
    }
}

/// A trial that breaks SDK outputs one field at a time and expects v0.1's schemas to refuse
/// each: proof that formats, patterns, enums, `additionalProperties` and `$ref`s are enforced.
fn validator_bites(validators: &mut Validators<'_>, outputs: &[Output]) -> Trial {
    let broken = [
        ("Organization", "created_at", json!("2026-02-30T00:00:00Z")),
        ("Organization", "updated_at", json!("2026-05-01 12:00:00Z")),
        (
            "Organization",
            "id",
            json!("org_0190F2A81B3C7ABC8123456789ABCDEF"),
        ),
        ("Organization", "slug", json!("Acme")),
        ("Organization", "owner", json!(null)),
        (
            "Tuple",
            "subject_id",
            json!("0190f2a8-1b3c-7abc-8123-aaaaaaaaaaa"),
        ),
        (
            "Tuple",
            "object_id",
            json!("0190f2a81b3c7abc8123aaaaaaaaaaaa"),
        ),
        ("Membership", "role", json!("root")),
        ("Invitation", "pre_tuples", json!([{ "relation": "x" }])),
    ];
    let cases: Vec<(String, Shared, Value)> = broken
        .into_iter()
        .map(|(schema, field, replacement)| {
            let mut value = outputs
                .iter()
                .find(|output| output.schema == schema)
                .map(|output| output.value.clone())
                .unwrap();
            value[field] = replacement;
            (
                format!("{schema}.{field}"),
                validators.get(schema, 0),
                value,
            )
        })
        .collect();
    Trial::test(
        "the_validator_asserts_formats_patterns_and_refs",
        move || {
            let mut accepted = Vec::new();
            for (name, validator, value) in &cases {
                if validator_in(validator)?.is_valid(value) {
                    accepted.push(name.as_str());
                }
            }
            if accepted.is_empty() {
                Ok(())
            } else {
                Err(fail(format!(
                    "v0.1 accepts these broken values: {accepted:?}"
                )))
            }
        },
    )
}

/// The trial that keeps [`known_mismatch`] true: every excused case must still be refused.
fn mismatches_still_mismatch(excused: Vec<Excused>) -> Trial {
    if !excused.is_empty() {
        let mut reasons: Vec<&str> = excused.iter().map(|(_, reason, ..)| *reason).collect();
        reasons.dedup();
        eprintln!(
            "\nopenapi: {} trials ignored as known mismatches:\n  - {}\n",
            excused.len(),
            reasons.join("\n  - ")
        );
    }
    Trial::test("known_mismatches_still_mismatch", move || {
        let mut stale = Vec::new();
        for (name, _, validator, value) in &excused {
            if validator_in(validator)?.is_valid(value) {
                stale.push(name.as_str());
            }
        }
        if stale.is_empty() {
            Ok(())
        } else {
            Err(fail(format!(
                "these cases now match and should leave `known_mismatch`: {stale:?}"
            )))
        }
    })
}

/// Checks of this file's own machinery, which need no spec.
fn self_checks() -> Vec<Trial> {
    let unknown_format = Trial::test("the_validator_refuses_unknown_formats", || {
        let schema = json!({ "type": "string", "format": "no-such-format" });
        match build_validator("3.1.0", &schema) {
            Err(_) => Ok(()),
            Ok(_) => Err(fail("a schema with an unknown format built".into())),
        }
    });
    let nullable = Trial::test("nullable_is_translated_for_openapi_3_0", || {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "name": { "type": "string", "nullable": true },
                "role": { "type": "string", "enum": ["a"], "nullable": true },
                "org": { "$ref": "#/x", "nullable": true },
                "plain": { "type": "string", "nullable": false },
            },
        });
        translate_nullable(&mut schema);
        let expected = json!({
            "type": "object",
            "properties": {
                "name": { "type": ["string", "null"] },
                "role": { "type": ["string", "null"], "enum": ["a", null] },
                "org": { "anyOf": [{ "$ref": "#/x" }, { "type": "null" }] },
                "plain": { "type": "string" },
            },
        });
        if schema == expected {
            Ok(())
        } else {
            Err(fail(format!("{schema:#}")))
        }
    });
    vec![unknown_format, nullable]
}

/// Every trial reported ignored, after a notice that the spec is missing.
fn all_ignored(dir: &Path, outputs: &[Output], requests: &[RequestSample]) -> Vec<Trial> {
    eprintln!(
        "\n*** openapi: the spec's OpenAPI directory {} is missing (set {SPEC_ENV}, or put the \
         spec next to the workspace); every trial below is IGNORED, nothing was checked ***\n",
        dir.display()
    );
    let outputs = outputs.iter().map(|output| (output.schema, &output.case));
    let requests = requests.iter().map(|sample| (sample.schema, &sample.case));
    outputs
        .chain(requests)
        .map(|(schema, case)| Trial::test(format!("{schema}/{case}"), || Ok(())))
        .map(|trial| trial.with_ignored_flag(true))
        .collect()
}

fn main() -> ExitCode {
    let arguments = Arguments::from_args();
    let lookup = Lookup::from_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let outputs = runtime.block_on(sdk_outputs()).0;
    let requests = request_samples();
    let mut trials = self_checks();
    if !lookup.dir.is_dir() {
        if lookup.required {
            eprintln!(
                "openapi: the spec's OpenAPI directory {} is missing, and CI is set",
                lookup.dir.display()
            );
            return ExitCode::FAILURE;
        }
        trials.extend(all_ignored(&lookup.dir, &outputs, &requests));
        return libtest_mimic::run(&arguments, trials).exit_code();
    }
    let files = match load_spec(&lookup.dir) {
        Ok(files) => files,
        Err(error) => {
            eprintln!("openapi: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut validators = Validators::new(&files);
    trials.push(validator_bites(&mut validators, &outputs));
    let excused = output_trials(&mut validators, outputs, &mut trials);
    request_trials(&mut validators, requests, &mut trials);
    trials.push(mismatches_still_mismatch(excused));
    libtest_mimic::run(&arguments, trials).exit_code()
}
