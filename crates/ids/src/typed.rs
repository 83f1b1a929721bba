//! Typed ids: one newtype per tenancy entity, each holding only a valid id of its type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::codec::payload;
use crate::error::{IdError, InvalidIdReason};

/// What every typed id offers, for code generic over the id type (cursors, rows).
pub trait TypedId:
    Copy
    + Eq
    + Ord
    + std::hash::Hash
    + fmt::Display
    + fmt::Debug
    + FromStr<Err = IdError>
    + Send
    + Sync
    + 'static
{
    /// The wire prefix, e.g. `org`.
    const PREFIX: &'static str;

    /// The UUID inside.
    fn as_uuid(&self) -> Uuid;

    /// Wraps a UUID whose version is 1 to 8.
    ///
    /// # Errors
    ///
    /// [`IdError::InvalidId`] for the nil and max UUIDs and versions above 8.
    fn try_from_uuid(uuid: Uuid) -> Result<Self, IdError>;
}

fn check_version(uuid: Uuid) -> Result<Uuid, IdError> {
    match uuid.as_bytes()[6] >> 4 {
        1..=8 => Ok(uuid),
        _ => Err(IdError::InvalidId {
            reason: InvalidIdReason::BadVersion,
        }),
    }
}

fn parse_typed(text: &str, expected: &'static str) -> Result<Uuid, IdError> {
    let (prefix, hex) = text.split_once('_').ok_or(IdError::InvalidId {
        reason: InvalidIdReason::MissingSeparator,
    })?;
    if prefix != expected {
        return Err(IdError::invalid_type(prefix, Some(expected)));
    }
    payload(hex)
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(Uuid);

        // The order of the UUID's bytes (which is also the order of the ids' text), compared
        // as one `u128` rather than as a byte slice: the stores' ordered indexes compare ids
        // on every step of a descent, and a slice comparison is a `memcmp` call.
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.as_u128().cmp(&other.0.as_u128())
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $name {
            /// The wire prefix.
            pub const PREFIX: &'static str = $prefix;

            /// The smallest id of this type (UUID `00000000-0000-1000-0000-000000000000`):
            /// every valid id compares greater or equal, so it bounds ordered ranges.
            pub const MIN: Self = Self(Uuid::from_u128(0x0000_0000_0000_1000_0000_0000_0000_0000));

            /// A fresh id from a UUIDv7, monotonic within the process.
            #[allow(clippy::new_without_default)] // A random default value would surprise.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps a UUID whose version is 1 to 8 (backfilled rows may hold older versions).
            ///
            /// # Errors
            ///
            /// [`IdError::InvalidId`] for the nil and max UUIDs and versions above 8.
            pub fn try_from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                check_version(uuid).map(Self)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl TypedId for $name {
            const PREFIX: &'static str = $prefix;

            fn as_uuid(&self) -> Uuid {
                self.0
            }

            fn try_from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                $name::try_from_uuid(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($prefix)?;
                f.write_str("_")?;
                f.write_str(self.0.simple().encode_lower(&mut Uuid::encode_buffer()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_typed(text, $prefix).map(Self)
            }
        }

        impl TryFrom<Uuid> for $name {
            type Error = IdError;

            fn try_from(uuid: Uuid) -> Result<Self, Self::Error> {
                Self::try_from_uuid(uuid)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;

            fn try_from(text: &str) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        /// Binds as a PostgreSQL `uuid` (feature `postgres`).
        #[cfg(feature = "postgres")]
        impl postgres_types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &postgres_types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &postgres_types::Type) -> bool {
                <Uuid as postgres_types::ToSql>::accepts(ty)
            }

            postgres_types::to_sql_checked!();
        }

        /// Reads a PostgreSQL `uuid`; a nil, max or unversioned uuid is an error, never a
        /// panic (feature `postgres`).
        #[cfg(feature = "postgres")]
        impl<'a> postgres_types::FromSql<'a> for $name {
            fn from_sql(
                ty: &postgres_types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let uuid = <Uuid as postgres_types::FromSql>::from_sql(ty, raw)?;
                Ok(Self::try_from_uuid(uuid)?)
            }

            fn accepts(ty: &postgres_types::Type) -> bool {
                <Uuid as postgres_types::FromSql>::accepts(ty)
            }
        }
    };
}

typed_id! {
    /// A user id, `usr_<32 hex>`.
    UsrId, "usr"
}
typed_id! {
    /// An organization id, `org_<32 hex>`.
    OrgId, "org"
}
typed_id! {
    /// A membership id, `mem_<32 hex>`.
    MemId, "mem"
}
typed_id! {
    /// An invitation id, `inv_<32 hex>`.
    InvId, "inv"
}
typed_id! {
    /// An authorization tuple id, `tup_<32 hex>`.
    TupId, "tup"
}
