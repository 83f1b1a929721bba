//! Property tests of the id codec and typed ids.

use flametrench_ids::{
    InvId, MemId, OrgId, REGISTERED_PREFIXES, TupId, UsrId, decode, decode_any, encode,
    encode_uuid, generate, is_valid, is_valid_shape, type_of,
};
use proptest::prelude::*;
use uuid::Uuid;

/// A UUID with its version nibble forced to 1..=8.
fn versioned_uuid() -> impl Strategy<Value = Uuid> {
    (any::<u128>(), 1_u128..=8).prop_map(|(bits, version)| {
        let cleared = bits & !(0xf_u128 << 76);
        Uuid::from_u128(cleared | (version << 76))
    })
}

/// Strings rich in the characters ids are made of, plus some that are not.
fn id_like() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9_\\-é中 ]{0,48}").expect("regex")
}

proptest! {
    #[test]
    fn decode_inverts_encode(uuid in versioned_uuid(), index in 0..REGISTERED_PREFIXES.len()) {
        let prefix = REGISTERED_PREFIXES[index];
        let wire = encode_uuid(prefix, uuid).unwrap();
        let decoded = decode(&wire).unwrap();
        prop_assert_eq!(decoded.prefix.as_str(), prefix);
        prop_assert_eq!(decoded.uuid, uuid);
        prop_assert_eq!(encode(prefix, &uuid.hyphenated().to_string().to_uppercase()).unwrap(), wire.clone());
        prop_assert_eq!(type_of(&wire).unwrap(), prefix);
        prop_assert!(is_valid(&wire, Some(prefix)));
    }

    #[test]
    fn typed_ids_round_trip(uuid in versioned_uuid()) {
        let org = OrgId::try_from_uuid(uuid).unwrap();
        let text = org.to_string();
        prop_assert_eq!(text.parse::<OrgId>().unwrap(), org);
        let json = serde_json::to_string(&org).unwrap();
        prop_assert_eq!(serde_json::from_str::<OrgId>(&json).unwrap(), org);
        prop_assert!(text.parse::<UsrId>().unwrap_err().is_invalid_type());
        prop_assert_eq!(MemId::try_from_uuid(uuid).unwrap().as_uuid(), uuid);
    }

    #[test]
    fn ordering_of_ids_matches_their_text(a in versioned_uuid(), b in versioned_uuid()) {
        let (a, b) = (InvId::try_from_uuid(a).unwrap(), InvId::try_from_uuid(b).unwrap());
        prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
    }

    /// Ids that share their first bytes (as UUIDv7s of one millisecond do) still compare as
    /// their UUIDs' bytes and their text do, at every length of the shared part.
    #[test]
    fn ordering_of_ids_with_a_shared_prefix(a in versioned_uuid(), tail in any::<u128>(), shared in 0_u32..=16) {
        let mask = if shared == 16 { u128::MAX } else { !(u128::MAX >> (shared * 8)) };
        let b = Uuid::from_u128((a.as_u128() & mask) | (tail & !mask));
        let Ok(b) = TupId::try_from_uuid(b) else { return Ok(()) };
        let a = TupId::try_from_uuid(a).unwrap();
        prop_assert_eq!(a.cmp(&b), a.as_uuid().cmp(&b.as_uuid()));
        prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
    }

    #[test]
    fn no_string_panics(text in any::<String>(), shaped in id_like(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        for input in [text.as_str(), shaped.as_str(), lossy.as_str()] {
            let _ = decode(input);
            let _ = decode_any(input);
            let _ = is_valid(input, Some("usr"));
            let _ = is_valid_shape(input);
            let _ = type_of(input);
            let _ = encode("usr", input);
            let _ = encode(input, "0190f2a8-1b3c-7abc-8123-456789abcdef");
            let _ = generate(input);
            let _ = input.parse::<UsrId>();
            let _ = input.parse::<OrgId>();
            let _ = input.parse::<MemId>();
            let _ = input.parse::<InvId>();
            let _ = input.parse::<TupId>();
            if let Err(error) = input.parse::<OrgId>() {
                prop_assert!(error.to_string().len() < 200, "messages stay short: {}", error);
            }
        }
    }
}

#[test]
fn generated_ids_are_monotonic_v7() {
    let ids: Vec<OrgId> = (0..10_000).map(|_| OrgId::new()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
}

#[test]
fn errors_say_what_is_wrong() {
    assert!(
        decode("usr0190")
            .unwrap_err()
            .to_string()
            .contains("separator")
    );
    let long = format!("{}_0190f2a81b3c7abc8123456789abcdef", "x".repeat(1000));
    let error = decode(&long).unwrap_err();
    assert!(error.is_invalid_type());
    assert!(error.to_string().len() < 80, "{error}");
    assert!(OrgId::try_from_uuid(Uuid::nil()).is_err());
    assert!(OrgId::try_from_uuid(Uuid::max()).is_err());
    assert!(decode("xyz_bad").unwrap_err().is_invalid_type());
    assert!(
        !decode_any("_0190f2a81b3c7abc8123456789abcdef")
            .unwrap_err()
            .is_invalid_type()
    );
}

/// Feature `postgres`: the typed ids bind and read as PostgreSQL `uuid`, and a uuid that is
/// not a valid id reads as an error, never a panic.
#[test]
fn postgres_types_round_trip() {
    use postgres_types::{FromSql, ToSql, Type};

    let id = flametrench_ids::OrgId::new();
    let mut buf = bytes::BytesMut::new();
    id.to_sql_checked(&Type::UUID, &mut buf).expect("to_sql");
    assert_eq!(
        flametrench_ids::OrgId::from_sql(&Type::UUID, &buf).expect("from_sql"),
        id
    );
    assert_eq!(
        uuid::Uuid::from_sql(&Type::UUID, &buf).expect("a uuid"),
        id.as_uuid()
    );
    assert!(id.to_sql_checked(&Type::TEXT, &mut buf).is_err());
    assert!(<flametrench_ids::OrgId as FromSql>::accepts(&Type::UUID));
    assert!(!<flametrench_ids::OrgId as FromSql>::accepts(&Type::TEXT));
    let mut nil = bytes::BytesMut::new();
    uuid::Uuid::nil()
        .to_sql_checked(&Type::UUID, &mut nil)
        .expect("nil to_sql");
    assert!(flametrench_ids::UsrId::from_sql(&Type::UUID, &nil).is_err());
    assert!(flametrench_ids::UsrId::from_sql(&Type::UUID, &[1, 2, 3]).is_err());
}
