//! The wire form `<prefix>_<32 lowercase hex>`: encoding, decoding and validation.

use uuid::Uuid;

use crate::error::{IdError, InvalidIdReason};

/// Every registered type prefix of spec v0.4. `sub` and anything else is unregistered.
pub const REGISTERED_PREFIXES: [&str; 14] = [
    "usr", "ses", "cred", "org", "mem", "inv", "tup", "mfa", "shr", "pat", "aud", "file", "flag",
    "not",
];

/// Whether `prefix` is a registered type.
pub fn is_registered(prefix: &str) -> bool {
    registered(prefix).is_some()
}

pub(crate) fn registered(prefix: &str) -> Option<&'static str> {
    REGISTERED_PREFIXES
        .iter()
        .copied()
        .find(|known| *known == prefix)
}

/// A decoded id: its prefix and UUID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedId {
    /// The type prefix.
    pub prefix: String,
    /// The UUID.
    pub uuid: Uuid,
}

impl DecodedId {
    /// The UUID in canonical lowercase hyphenated form.
    pub fn uuid_string(&self) -> String {
        self.uuid.hyphenated().to_string()
    }
}

fn parse_canonical_uuid(text: &str) -> Result<Uuid, IdError> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 36
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => *byte == b'-',
            _ => byte.is_ascii_hexdigit(),
        });
    if !shape_ok {
        return Err(IdError::invalid(InvalidIdReason::InvalidUuid));
    }
    Uuid::try_parse(text).map_err(|_| IdError::invalid(InvalidIdReason::InvalidUuid))
}

/// Encodes `uuid` (canonical hyphenated, either case) as an id of type `prefix`.
///
/// # Errors
///
/// [`IdError::InvalidType`] for an unregistered prefix (checked first), then
/// [`IdError::InvalidId`] when `uuid` is not a canonical UUID. The version is not checked.
pub fn encode(prefix: &str, uuid: &str) -> Result<String, IdError> {
    let prefix = registered(prefix).ok_or_else(|| IdError::invalid_type(prefix, None))?;
    let uuid = parse_canonical_uuid(uuid)?;
    Ok(wire(prefix, uuid))
}

/// Encodes `uuid` as an id of type `prefix`.
///
/// # Errors
///
/// [`IdError::InvalidType`] for an unregistered prefix.
pub fn encode_uuid(prefix: &str, uuid: Uuid) -> Result<String, IdError> {
    let prefix = registered(prefix).ok_or_else(|| IdError::invalid_type(prefix, None))?;
    Ok(wire(prefix, uuid))
}

pub(crate) fn wire(prefix: &str, uuid: Uuid) -> String {
    let mut out = String::with_capacity(prefix.len() + 33);
    out.push_str(prefix);
    out.push('_');
    out.push_str(uuid.simple().encode_lower(&mut Uuid::encode_buffer()));
    out
}

/// Checks and converts the 32-hex payload; shared by the decoders.
pub(crate) fn payload(hex: &str) -> Result<Uuid, IdError> {
    if hex.len() != 32 {
        return Err(IdError::invalid(InvalidIdReason::BadPayloadLength));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(IdError::invalid(InvalidIdReason::NonHexPayload));
    }
    // The version nibble is the 13th hex character.
    if !matches!(hex.as_bytes()[12], b'1'..=b'8') {
        return Err(IdError::invalid(InvalidIdReason::BadVersion));
    }
    Uuid::try_parse(hex).map_err(|_| IdError::invalid(InvalidIdReason::NonHexPayload))
}

fn split(id: &str) -> Result<(&str, &str), IdError> {
    id.split_once('_')
        .ok_or(IdError::invalid(InvalidIdReason::MissingSeparator))
}

/// Decodes an id of a registered type.
///
/// # Errors
///
/// In the spec's order: no `_` → [`IdError::InvalidId`]; unregistered prefix →
/// [`IdError::InvalidType`]; payload not 32 lowercase hex, or a version outside 1–8 →
/// [`IdError::InvalidId`].
pub fn decode(id: &str) -> Result<DecodedId, IdError> {
    let (prefix, hex) = split(id)?;
    let prefix = registered(prefix).ok_or_else(|| IdError::invalid_type(prefix, None))?;
    Ok(DecodedId {
        prefix: prefix.to_owned(),
        uuid: payload(hex)?,
    })
}

/// Decodes an id of any prefix of 1 to 16 lowercase letters, registered or not (for
/// application object ids such as `proj_<hex>`). Never use it for Flametrench entities.
///
/// # Errors
///
/// [`IdError::InvalidId`] for a missing separator, an empty or malformed prefix, or a bad
/// payload. Never [`IdError::InvalidType`].
pub fn decode_any(id: &str) -> Result<DecodedId, IdError> {
    let (prefix, hex) = split(id)?;
    if prefix.is_empty() {
        return Err(IdError::invalid(InvalidIdReason::EmptyPrefix));
    }
    if prefix.len() > 16 || !prefix.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(IdError::invalid(InvalidIdReason::BadPrefix));
    }
    Ok(DecodedId {
        prefix: prefix.to_owned(),
        uuid: payload(hex)?,
    })
}

/// Whether `id` decodes and, when `expected_type` is given, is of that type. Never fails.
pub fn is_valid(id: &str, expected_type: Option<&str>) -> bool {
    match decode(id) {
        Ok(decoded) => expected_type.is_none_or(|expected| decoded.prefix == expected),
        Err(_) => false,
    }
}

/// Whether `id` has the shape of an id, whatever its prefix. Never fails.
pub fn is_valid_shape(id: &str) -> bool {
    decode_any(id).is_ok()
}

/// The registered type of `id`.
///
/// # Errors
///
/// The errors of [`decode`].
pub fn type_of(id: &str) -> Result<&'static str, IdError> {
    let (prefix, hex) = split(id)?;
    let prefix = registered(prefix).ok_or_else(|| IdError::invalid_type(prefix, None))?;
    payload(hex)?;
    Ok(prefix)
}

/// A fresh id of type `prefix` from a UUIDv7 that is monotonic within the process.
///
/// # Errors
///
/// [`IdError::InvalidType`] for an unregistered prefix.
pub fn generate(prefix: &str) -> Result<String, IdError> {
    encode_uuid(prefix, Uuid::now_v7())
}
