//! Validated strings: every string the spec constrains is checked once, when it is built.
//!
//! Limits (documented in `spec/tenancy.md`): org names up to [`OrgName::MAX_BYTES`] bytes,
//! invitation identifiers 1 to [`Identifier::MAX_BYTES`] bytes, `list_orgs` queries up to
//! [`OrgQuery::MAX_BYTES`] bytes; none may contain a NUL byte, which PostgreSQL cannot store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{PreconditionReason, TenancyError};

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub(crate) Box<str>);

        impl $name {
            /// Validates `value`.
            ///
            /// # Errors
            ///
            /// A [`TenancyError::Precondition`] naming the rule the value breaks.
            pub fn new(value: impl Into<String>) -> Result<Self, TenancyError> {
                let value = value.into();
                $check(&value)?;
                Ok(Self(value.into_boxed_str()))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = TenancyError;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = TenancyError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = TenancyError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = String::deserialize(deserializer)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! display_plain {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
    )*};
}

fn fail(reason: PreconditionReason) -> Result<(), TenancyError> {
    Err(TenancyError::precondition(reason))
}

fn check_slug(value: &str) -> Result<(), TenancyError> {
    if is_slug(value) {
        Ok(())
    } else {
        fail(PreconditionReason::OrgSlugFormat)
    }
}

/// Whether `value` matches the slug rule `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
pub(crate) fn is_slug(value: &str) -> bool {
    let bytes = value.as_bytes();
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= 63
                && edge(first)
                && edge(last)
                && bytes.iter().all(|&b| edge(b) || b == b'-')
        }
        _ => false,
    }
}

fn check_name(value: &str) -> Result<(), TenancyError> {
    if value.len() > OrgName::MAX_BYTES || value.contains('\0') {
        fail(PreconditionReason::InvalidName)
    } else {
        Ok(())
    }
}

fn check_identifier(value: &str) -> Result<(), TenancyError> {
    if value.is_empty() || value.len() > Identifier::MAX_BYTES || value.contains('\0') {
        fail(PreconditionReason::InvalidIdentifier)
    } else {
        Ok(())
    }
}

fn check_relation(value: &str) -> Result<(), TenancyError> {
    let ok = (2..=32).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if ok {
        Ok(())
    } else {
        fail(PreconditionReason::InvalidRelation)
    }
}

fn check_entity_type(value: &str) -> Result<(), TenancyError> {
    if (2..=6).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        fail(PreconditionReason::InvalidObjectType)
    }
}

fn check_query(value: &str) -> Result<(), TenancyError> {
    if value.len() > OrgQuery::MAX_BYTES || value.contains('\0') {
        fail(PreconditionReason::InvalidQuery)
    } else {
        Ok(())
    }
}

validated_string! {
    /// An org slug: 1–63 characters of `[a-z0-9-]`, not starting or ending with `-`.
    Slug, check_slug
}

validated_string! {
    /// An org display name: any text up to [`OrgName::MAX_BYTES`] bytes without NUL (may be empty).
    OrgName, check_name
}

validated_string! {
    /// The invitee's identifier (an email address or handle): 1 to [`Identifier::MAX_BYTES`]
    /// bytes without NUL, compared byte for byte.
    ///
    /// This is personal data: its `Debug` output is redacted and no error message contains it.
    Identifier, check_identifier
}

validated_string! {
    /// A tuple relation, `^[a-z_]{2,32}$` (membership tuples use the role name).
    Relation, check_relation
}

validated_string! {
    /// A tuple subject or object type, `^[a-z]{2,6}$` (`usr`, `org`, or an application type).
    EntityType, check_entity_type
}

validated_string! {
    /// A `list_orgs` search text: up to [`OrgQuery::MAX_BYTES`] bytes without NUL, matched
    /// literally and case-insensitively over ASCII letters.
    OrgQuery, check_query
}

display_plain!(Slug, OrgName, Relation, EntityType, OrgQuery);

impl OrgName {
    /// The longest name accepted, in bytes of UTF-8.
    pub const MAX_BYTES: usize = 1024;
}

impl Identifier {
    /// The longest identifier accepted, in bytes of UTF-8.
    pub const MAX_BYTES: usize = 320;
}

impl OrgQuery {
    /// The longest query accepted, in bytes of UTF-8.
    pub const MAX_BYTES: usize = 256;

    /// The query folded for matching: ASCII letters lowercased, everything else unchanged.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// Whether `text` contains the query, comparing ASCII letters case-insensitively and
    /// every other character exactly. `%`, `_` and `\` have no special meaning.
    pub fn matches(&self, text: &str) -> bool {
        let needle = self.0.as_bytes();
        if needle.is_empty() {
            return true;
        }
        text.as_bytes()
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identifier(<redacted>)")
    }
}

impl EntityType {
    /// The `usr` type, subject of every tuple the tenancy layer writes.
    pub fn usr() -> Self {
        Self("usr".into())
    }

    /// The `org` type, object of every membership tuple.
    pub fn org() -> Self {
        Self("org".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rule() {
        for good in ["a", "0", "acme", "acme-corp", "a1-b2", &"a".repeat(63)] {
            assert!(is_slug(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Acme",
            "a_b",
            "a b",
            "аcme",
            &"a".repeat(64),
            "a.b",
        ] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn query_matches_literally_and_ascii_only() {
        let query = OrgQuery::new("A%_\\").unwrap();
        assert!(query.matches("xa%_\\y"));
        assert!(!query.matches("xaZZ\\y"));
        let accented = OrgQuery::new("É").unwrap();
        assert!(!accented.matches("é"));
        assert!(accented.matches("É"));
        assert!(OrgQuery::new("").unwrap().matches(""));
    }

    #[test]
    fn limits_and_nul() {
        assert!(OrgName::new("").is_ok());
        assert!(OrgName::new("a".repeat(1024)).is_ok());
        assert!(OrgName::new("a".repeat(1025)).is_err());
        assert!(OrgName::new("a\0b").is_err());
        assert!(Identifier::new("").is_err());
        assert!(Identifier::new("x".repeat(321)).is_err());
        assert!(Relation::new("a").is_err());
        assert!(Relation::new("can_edit").is_ok());
        assert!(EntityType::new("project").is_err());
        assert!(OrgQuery::new("a\0").is_err());
    }

    #[test]
    fn identifier_debug_is_redacted() {
        let identifier = Identifier::new("alice@example.com").unwrap();
        assert!(!format!("{identifier:?}").contains("alice"));
    }
}
