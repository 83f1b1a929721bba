//! The JSON shapes of the entities: hand-written samples in the wire shape read and write back
//! unchanged.

use flametrench_tenancy_core::{
    AcceptInvitationResult, Invitation, Membership, Organization, Page, PreTuple, Tuple,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(sample: Value) -> T {
    let parsed: T = serde_json::from_value(sample.clone()).expect("sample parses");
    assert_eq!(serde_json::to_value(&parsed).expect("serializes"), sample);
    let again: T =
        serde_json::from_value(serde_json::to_value(&parsed).expect("serializes")).expect("parses");
    assert_eq!(again, parsed);
    parsed
}

#[test]
fn organization() {
    let org: Organization = round_trip(json!({
        "id": "org_0190f2a81b3c7abc8123456789abcdef",
        "name": "Acme Corp",
        "slug": "acme",
        "status": "suspended",
        "created_at": "2026-11-24T12:00:00Z",
        "updated_at": "2026-11-24T12:30:00.123456Z"
    }));
    assert_eq!(
        org.slug.map(|slug| slug.as_str().to_owned()),
        Some("acme".into())
    );
}

#[test]
fn membership() {
    round_trip::<Membership>(json!({
        "id": "mem_0190f2a81b3c7abc8123456789abcdef",
        "usr_id": "usr_0190f2a81b3c7abc8123456789abcde0",
        "org_id": "org_0190f2a81b3c7abc8123456789abcdef",
        "role": "admin",
        "status": "revoked",
        "replaces": "mem_0190f2a81b3c7abc8123456789abcde1",
        "invited_by": null,
        "removed_by": "usr_0190f2a81b3c7abc8123456789abcde2",
        "created_at": "2026-11-24T12:00:00Z",
        "updated_at": "2026-11-24T12:00:00Z"
    }));
}

#[test]
fn invitation_and_accept_result() {
    let invitation = json!({
        "id": "inv_0190f2a81b3c7abc8123456789abcdef",
        "org_id": "org_0190f2a81b3c7abc8123456789abcdef",
        "identifier": "bob@example.com",
        "role": "member",
        "status": "accepted",
        "pre_tuples": [{"relation": "editor", "object_type": "proj", "object_id": "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"}],
        "invited_by": "usr_0190f2a81b3c7abc8123456789abcde0",
        "invited_user_id": "usr_0190f2a81b3c7abc8123456789abcde1",
        "created_at": "2026-11-24T12:00:00Z",
        "expires_at": "2026-12-01T12:00:00Z",
        "terminal_at": "2026-11-25T08:00:00Z",
        "terminal_by": "usr_0190f2a81b3c7abc8123456789abcde1"
    });
    let parsed: Invitation = round_trip(invitation.clone());
    assert!(
        !format!("{parsed:?}").contains("bob@example.com"),
        "Debug redacts the identifier"
    );
    let tuple = json!({
        "id": "tup_0190f2a81b3c7abc8123456789abcdef",
        "subject_type": "usr",
        "subject_id": "0190f2a8-1b3c-7abc-8123-456789abcde1",
        "relation": "editor",
        "object_type": "proj",
        "object_id": "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa",
        "created_at": "2026-11-25T08:00:00Z",
        "created_by": "usr_0190f2a81b3c7abc8123456789abcde0"
    });
    round_trip::<Tuple>(tuple.clone());
    round_trip::<AcceptInvitationResult>(json!({
        "invitation": invitation,
        "membership": {
            "id": "mem_0190f2a81b3c7abc8123456789abcdef",
            "usr_id": "usr_0190f2a81b3c7abc8123456789abcde1",
            "org_id": "org_0190f2a81b3c7abc8123456789abcdef",
            "role": "member",
            "status": "active",
            "replaces": null,
            "invited_by": "usr_0190f2a81b3c7abc8123456789abcde0",
            "removed_by": null,
            "created_at": "2026-11-25T08:00:00Z",
            "updated_at": "2026-11-25T08:00:00Z"
        },
        "materialized_tuples": [tuple]
    }));
}

#[test]
fn page_is_nested() {
    let page: Page<PreTuple> = round_trip(json!({
        "data": [{"relation": "viewer", "object_type": "doc", "object_id": "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"}],
        "page": {"next_cursor": "org_0190f2a81b3c7abc8123456789abcdef"}
    }));
    assert_eq!(page.data.len(), 1);
    round_trip::<Page<PreTuple>>(json!({"data": [], "page": {"next_cursor": null}}));
}

#[test]
fn wrong_shapes_are_refused() {
    let bad_id = json!({
        "id": "usr_0190f2a81b3c7abc8123456789abcdef", "name": null, "slug": null, "status": "active",
        "created_at": "2026-11-24T12:00:00Z", "updated_at": "2026-11-24T12:00:00Z"
    });
    assert!(
        serde_json::from_value::<Organization>(bad_id).is_err(),
        "a usr_ id is not an org id"
    );
    let bad_slug = json!({
        "id": "org_0190f2a81b3c7abc8123456789abcdef", "name": null, "slug": "Not A Slug", "status": "active",
        "created_at": "2026-11-24T12:00:00Z", "updated_at": "2026-11-24T12:00:00Z"
    });
    assert!(serde_json::from_value::<Organization>(bad_slug).is_err());
    let bad_status = json!({
        "id": "org_0190f2a81b3c7abc8123456789abcdef", "name": null, "slug": null, "status": "ACTIVE",
        "created_at": "2026-11-24T12:00:00Z", "updated_at": "2026-11-24T12:00:00Z"
    });
    assert!(serde_json::from_value::<Organization>(bad_status).is_err());
}

/// Deserializing a pre-tuple goes through its constructor: a forged membership grant is
/// refused, and every object-id form the constructor takes is taken.
#[test]
fn pre_tuples_deserialize_through_their_constructor() {
    use flametrench_tenancy_core::PreTuple;

    let forged = serde_json::from_str::<PreTuple>(
        r#"{"relation":"owner","object_type":"org","object_id":"0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"}"#,
    );
    let message = forged.expect_err("a forged owner grant").to_string();
    assert!(message.contains("invalid_pre_tuple"), "{message}");
    for bad in [
        r#"{"relation":"Edit","object_type":"proj","object_id":"0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa"}"#,
        r#"{"relation":"editor","object_type":"proj","object_id":"not-an-id"}"#,
        r#"{"relation":"editor","object_type":"proj"}"#,
    ] {
        assert!(serde_json::from_str::<PreTuple>(bad).is_err(), "{bad}");
    }
    let expected =
        PreTuple::new("editor", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa").expect("valid");
    for object_id in [
        "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa",
        "0190F2A8-1B3C-7ABC-8123-AAAAAAAAAAAA",
        "0190f2a81b3c7abc8123aaaaaaaaaaaa",
        "proj_0190f2a81b3c7abc8123aaaaaaaaaaaa",
    ] {
        let text =
            format!(r#"{{"relation":"editor","object_type":"proj","object_id":"{object_id}"}}"#);
        assert_eq!(
            serde_json::from_str::<PreTuple>(&text).expect(object_id),
            expected,
            "{object_id}"
        );
    }
    // What serializes reads back.
    let round: PreTuple =
        serde_json::from_value(serde_json::to_value(&expected).expect("serialize")).expect("read");
    assert_eq!(round, expected);
}

#[test]
fn an_empty_cursor_is_the_first_page() {
    use flametrench_tenancy_core::Cursor;
    use flametrench_tenancy_core::backend::rules;
    assert_eq!(
        rules::cursor_position::<flametrench_ids::MemId>(Some(&Cursor::new(""))).expect("empty"),
        None
    );
    assert!(rules::cursor_position::<flametrench_ids::MemId>(Some(&Cursor::new(" "))).is_err());
}
