//! Prefixed UUID identifiers of the Flametrench specification.
//!
//! Every Flametrench id is a UUID (version 7 when generated) written on the wire as
//! `<prefix>_<32 lowercase hex>`, e.g. `usr_0190f2a81b3c7abc8123456789abcdef`. This crate
//! encodes and decodes that form with the checks of the spec, in the spec's order, and gives
//! each tenancy entity a typed id ([`UsrId`], [`OrgId`], [`MemId`], [`InvId`], [`TupId`]) that
//! can only hold a valid id of its own type.
//!
//! ```
//! use flametrench_ids::{OrgId, UsrId, decode, encode};
//!
//! let wire = encode("usr", "0190f2a8-1b3c-7abc-8123-456789abcdef")?;
//! assert_eq!(wire, "usr_0190f2a81b3c7abc8123456789abcdef");
//! assert_eq!(decode(&wire)?.prefix, "usr");
//!
//! let user: UsrId = wire.parse()?;
//! assert_eq!(user.to_string(), wire);
//! // A user id never parses as an org id.
//! assert!(wire.parse::<OrgId>().is_err());
//! # Ok::<(), flametrench_ids::IdError>(())
//! ```

mod codec;
mod error;
mod typed;

pub use codec::{
    DecodedId, REGISTERED_PREFIXES, decode, decode_any, encode, encode_uuid, generate,
    is_registered, is_valid, is_valid_shape, type_of,
};
pub use error::{IdError, InvalidIdReason};
pub use typed::{InvId, MemId, OrgId, TupId, TypedId, UsrId};
