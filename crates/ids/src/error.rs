//! Errors of id parsing; messages say what is wrong and never echo more than a short prefix.

use std::fmt;

/// What is wrong with a malformed id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidIdReason {
    /// There is no `_` between prefix and payload.
    MissingSeparator,
    /// The prefix before `_` is empty.
    EmptyPrefix,
    /// The prefix is not 1 to 16 lowercase ASCII letters (for [`decode_any`](crate::decode_any)).
    BadPrefix,
    /// The payload is not exactly 32 characters long.
    BadPayloadLength,
    /// The payload has characters other than `0-9a-f`.
    NonHexPayload,
    /// The UUID's version nibble is not 1 to 8 (this rejects the nil and max UUIDs).
    BadVersion,
    /// The text is not a canonical hyphenated UUID.
    InvalidUuid,
}

impl InvalidIdReason {
    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MissingSeparator => "missing separator `_` between prefix and payload",
            Self::EmptyPrefix => "empty prefix before the separator",
            Self::BadPrefix => "prefix must be 1 to 16 lowercase ASCII letters",
            Self::BadPayloadLength => "payload must be exactly 32 hex characters",
            Self::NonHexPayload => "payload must be 32 lowercase hex characters",
            Self::BadVersion => "uuid version must be 1 to 8",
            Self::InvalidUuid => "not a valid uuid (expected 8-4-4-4-12 hex with hyphens)",
        }
    }
}

impl fmt::Display for InvalidIdReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string or UUID is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is malformed.
    #[error("invalid id: {reason}")]
    InvalidId {
        /// What is wrong.
        reason: InvalidIdReason,
    },
    /// The prefix is not registered, or not the one expected.
    #[error("{}", invalid_type_message(found, *expected))]
    InvalidType {
        /// The prefix found (at most 16 characters of it).
        found: String,
        /// The prefix expected, when a specific type was asked for.
        expected: Option<&'static str>,
    },
}

fn invalid_type_message(found: &str, expected: Option<&'static str>) -> String {
    match expected {
        Some(expected) => format!("invalid type: expected a `{expected}` id, found `{found}`"),
        None => format!("invalid type: prefix `{found}` is not registered"),
    }
}

impl IdError {
    pub(crate) const fn invalid(reason: InvalidIdReason) -> Self {
        Self::InvalidId { reason }
    }

    pub(crate) fn invalid_type(found: &str, expected: Option<&'static str>) -> Self {
        let end = found
            .char_indices()
            .map(|(index, ch)| index + ch.len_utf8())
            .take_while(|end| *end <= 16)
            .last()
            .unwrap_or(0);
        Self::InvalidType {
            found: found[..end].to_owned(),
            expected,
        }
    }

    /// Whether this is an [`IdError::InvalidType`].
    pub fn is_invalid_type(&self) -> bool {
        matches!(self, Self::InvalidType { .. })
    }
}
