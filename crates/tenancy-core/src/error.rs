//! The one error type of the tenancy layer, with a stable machine code per variant.

use std::error::Error as StdError;
use std::fmt;

use flametrench_ids::IdError;

/// A boxed error from a storage backend, kept as the `source` of storage variants.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Shorthand for results of tenancy operations.
pub type Result<T, E = TenancyError> = std::result::Result<T, E>;

/// The kind of entity a [`TenancyError::NotFound`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// A user (`usr_`).
    User,
    /// An organization (`org_`).
    Org,
    /// A membership (`mem_`).
    Membership,
    /// An invitation (`inv_`).
    Invitation,
}

impl Entity {
    /// The entity's name as used in messages: `user`, `org`, `membership`, `invitation`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Org => "org",
            Self::Membership => "membership",
            Self::Invitation => "invitation",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// Why a [`TenancyError::Precondition`] was raised; its code is `precondition.<reason>`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum PreconditionReason {
            $($(#[$doc])* $variant,)*
        }

        impl PreconditionReason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [PreconditionReason] = &[$(Self::$variant,)*];

            /// The reason as a snake_case word, e.g. `org_not_active`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// The full error code, e.g. `precondition.org_not_active`.
            pub const fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!("precondition.", $code),)*
                }
            }
        }
    };
}

reasons! {
    /// A slug does not match `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`.
    OrgSlugFormat => "org_slug_format",
    /// The org is suspended or revoked, and the operation needs it active.
    OrgNotActive => "org_not_active",
    /// The membership is not active.
    MemNotActive => "mem_not_active",
    /// The entity's current status does not allow this transition.
    InvalidTransition => "invalid_transition",
    /// A role without an administrative rank (`viewer`, `editor`) is involved in `admin_remove`.
    ScopeMismatch => "scope_mismatch",
    /// The `from` membership of a transfer is not active.
    FromNotActive => "from_not_active",
    /// The `to` membership of a transfer is not active.
    ToNotActive => "to_not_active",
    /// A membership does not belong to the org named by the call.
    OrgMismatch => "org_mismatch",
    /// The `from` membership of a transfer is not an owner.
    FromNotOwner => "from_not_owner",
    /// Both sides of a transfer (or a leave's `transfer_to`) are the same user.
    SelfTransfer => "self_transfer",
    /// An invitation's expiry is not in the future.
    PastExpiration => "past_expiration",
    /// A timestamp lies outside the stored range, [`MIN_TIMESTAMP`](crate::MIN_TIMESTAMP)
    /// through [`MAX_TIMESTAMP`](crate::MAX_TIMESTAMP) (0001-01-01T00:00:00Z through
    /// 9999-12-31T23:59:59.999999Z).
    TimestampOutOfRange => "timestamp_out_of_range",
    /// An org name is too long or contains a NUL byte.
    InvalidName => "invalid_name",
    /// An invitation identifier is empty, too long or contains a NUL byte.
    InvalidIdentifier => "invalid_identifier",
    /// A tuple relation does not match `^[a-z_]{2,32}$`.
    InvalidRelation => "invalid_relation",
    /// A tuple object or subject type does not match `^[a-z]{2,6}$`.
    InvalidObjectType => "invalid_object_type",
    /// A tuple object id is neither a UUID nor a `prefix_<32 hex>` id.
    InvalidObjectId => "invalid_object_id",
    /// A pre-tuple would forge a membership tuple (a role relation on an `org` object).
    InvalidPreTuple => "invalid_pre_tuple",
    /// An invitation carries more pre-tuples than the documented limit.
    TooManyPreTuples => "too_many_pre_tuples",
    /// A `list_orgs` query is too long or contains a NUL byte.
    InvalidQuery => "invalid_query",
    /// A pagination cursor is not a well-formed id of the listed entity.
    InvalidCursor => "invalid_cursor",
    /// A role name is not one of the six roles.
    InvalidRole => "invalid_role",
    /// A status name is not valid for the entity.
    InvalidStatus => "invalid_status",
    /// An invitation with an identifier bound to the user was accepted without one.
    IdentifierBindingRequired => "identifier_binding_required",
    /// The accepting identifier differs from the invitation's.
    IdentifierMismatch => "identifier_mismatch",
}

impl fmt::Display for PreconditionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which transient storage conflict a [`TenancyError::RetryableConflict`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The database broke a deadlock by aborting this transaction.
    Deadlock,
    /// A serializable transaction could not be ordered with a concurrent one.
    SerializationFailure,
    /// A lock could not be taken within `lock_timeout`.
    LockTimeout,
    /// The statement ran longer than `statement_timeout`.
    StatementTimeout,
}

impl ConflictKind {
    /// The kind as a snake_case word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deadlock => "deadlock",
            Self::SerializationFailure => "serialization_failure",
            Self::LockTimeout => "lock_timeout",
            Self::StatementTimeout => "statement_timeout",
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller must retry to cure a [`TenancyError::RetryableConflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryScope {
    /// The call alone had no effect and may be made again: with a pool, or inside a caller's
    /// READ COMMITTED transaction (the call's savepoint was rolled back; the transaction is
    /// still usable).
    Call,
    /// The call ran inside a caller's REPEATABLE READ or SERIALIZABLE transaction, whose
    /// snapshot is older than a concurrent change: calling again in the same transaction
    /// would meet the same conflict. Roll the whole transaction back and run it again.
    Transaction,
}

impl RetryScope {
    /// The scope as a snake_case word.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Transaction => "transaction",
        }
    }
}

impl fmt::Display for RetryScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error a tenancy operation can return.
///
/// Each variant has a stable machine code ([`TenancyError::code`]) that never changes once
/// published; match on variants or codes, never on the `Display` text. Messages never contain
/// an invitation identifier or other personal data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    /// The referenced entity does not exist. Code `not_found`.
    #[error("{entity} not found")]
    NotFound {
        /// What kind of entity was looked up.
        entity: Entity,
    },
    /// The user already has an active membership in the org. Code `conflict.duplicate_membership`.
    #[error("the user already has an active membership in this org")]
    DuplicateMembership,
    /// The call would leave an org with members but no active owner. Code `forbidden.sole_owner`.
    #[error("operation would leave the org without an active owner")]
    SoleOwner,
    /// The actor's role may not act on the target's role. Code `forbidden.role_hierarchy`.
    #[error("the acting role may not act on the target role")]
    RoleHierarchy,
    /// The actor is not allowed to perform the operation. Code `forbidden`.
    #[error("the actor is not allowed to perform this operation")]
    Forbidden,
    /// The invitation is no longer pending. Code `conflict.invitation_not_pending`.
    #[error("the invitation is not pending")]
    InvitationNotPending,
    /// The invitation expired before it was accepted. Code `conflict.invitation_expired`.
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The entity is in a terminal state and accepts no further change. Code `already_terminal`.
    #[error("the {entity} is in a terminal state")]
    AlreadyTerminal {
        /// What kind of entity is terminal.
        entity: Entity,
    },
    /// Another org already holds the slug. Code `conflict.org_slug`.
    #[error("the slug is already taken by another org")]
    OrgSlugConflict,
    /// A precondition of the operation does not hold. Code `precondition.<reason>`.
    ///
    /// The identifier-binding failures of `accept_invitation` are reported here too, with the
    /// reasons [`PreconditionReason::IdentifierBindingRequired`] and
    /// [`PreconditionReason::IdentifierMismatch`].
    #[error("precondition failed: {reason}")]
    Precondition {
        /// Which precondition failed.
        reason: PreconditionReason,
    },
    /// A string was not a well-formed id of the expected type. Code `invalid_id`.
    #[error("{field}: {source}")]
    InvalidId {
        /// The input field that held the id.
        field: &'static str,
        /// What was wrong with it.
        #[source]
        source: IdError,
    },
    /// A transient conflict (deadlock, serialization failure, lock or statement timeout); the
    /// operation had no effect. `scope` says what to retry: the call
    /// ([`RetryScope::Call`]), or the caller's whole transaction ([`RetryScope::Transaction`],
    /// inside a REPEATABLE READ or SERIALIZABLE caller transaction, where only a new snapshot
    /// cures it). Code `storage.retryable_conflict`.
    #[error("transient storage conflict ({kind}); the operation had no effect; retry the {scope}")]
    RetryableConflict {
        /// Which conflict happened.
        kind: ConflictKind,
        /// What to retry.
        scope: RetryScope,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The connection to storage was lost before the operation committed; it had no effect.
    /// Code `storage.connection_lost`.
    #[error("the storage connection was lost before the operation committed")]
    ConnectionLost {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The connection was lost after the commit was sent: the operation may or may not have
    /// taken effect. Code `storage.commit_outcome_unknown`.
    #[error("the storage connection was lost during commit; the outcome is unknown")]
    CommitOutcomeUnknown {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The storage has not been set up (tables missing or an older schema). Code
    /// `storage.not_migrated`.
    #[error("the tenancy storage is not migrated: {detail}")]
    NotMigrated {
        /// What is missing.
        detail: String,
    },
    /// The caller's transaction was already aborted by an earlier failed statement when the
    /// call ran; nothing was done. Roll it back (or back to a savepoint of your own) first.
    /// Code `storage.transaction_aborted`.
    #[error("the caller's transaction is aborted; roll it back before calling again")]
    TransactionAborted,
    /// A write was called inside a read-only caller transaction; nothing was done. Code
    /// `storage.read_only_transaction`.
    #[error("the caller's transaction is read-only")]
    ReadOnlyTransaction,
    /// A schema name given to the store or to the migration is not valid. Code
    /// `storage.invalid_schema`.
    #[error("invalid schema name: {reason}")]
    InvalidSchema {
        /// The rule the name broke.
        reason: &'static str,
    },
    /// Any other storage failure. Code `storage.backend`.
    #[error("storage backend error")]
    Backend {
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl TenancyError {
    /// Every fixed code an error can have, except the per-reason `precondition.*` codes, which
    /// [`PreconditionReason::code`] lists.
    pub const FIXED_CODES: &'static [&'static str] = &[
        "not_found",
        "conflict.duplicate_membership",
        "forbidden.sole_owner",
        "forbidden.role_hierarchy",
        "forbidden",
        "conflict.invitation_not_pending",
        "conflict.invitation_expired",
        "already_terminal",
        "conflict.org_slug",
        "invalid_id",
        "storage.retryable_conflict",
        "storage.connection_lost",
        "storage.commit_outcome_unknown",
        "storage.not_migrated",
        "storage.transaction_aborted",
        "storage.read_only_transaction",
        "storage.invalid_schema",
        "storage.backend",
    ];

    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::DuplicateMembership => "conflict.duplicate_membership",
            Self::SoleOwner => "forbidden.sole_owner",
            Self::RoleHierarchy => "forbidden.role_hierarchy",
            Self::Forbidden => "forbidden",
            Self::InvitationNotPending => "conflict.invitation_not_pending",
            Self::InvitationExpired => "conflict.invitation_expired",
            Self::AlreadyTerminal { .. } => "already_terminal",
            Self::OrgSlugConflict => "conflict.org_slug",
            Self::Precondition { reason } => reason.code(),
            Self::InvalidId { .. } => "invalid_id",
            Self::RetryableConflict { .. } => "storage.retryable_conflict",
            Self::ConnectionLost { .. } => "storage.connection_lost",
            Self::CommitOutcomeUnknown { .. } => "storage.commit_outcome_unknown",
            Self::NotMigrated { .. } => "storage.not_migrated",
            Self::TransactionAborted => "storage.transaction_aborted",
            Self::ReadOnlyTransaction => "storage.read_only_transaction",
            Self::InvalidSchema { .. } => "storage.invalid_schema",
            Self::Backend { .. } => "storage.backend",
        }
    }

    /// Whether making the same call again may succeed: a transient conflict whose scope is
    /// the call, or a connection lost before commit. Never true for "commit outcome unknown"
    /// (the first attempt may have taken effect), nor for a conflict that needs the caller's
    /// whole transaction restarted ([`needs_transaction_restart`](Self::needs_transaction_restart)).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RetryableConflict {
                scope: RetryScope::Call,
                ..
            } | Self::ConnectionLost { .. }
        )
    }

    /// Whether the caller must roll back its whole transaction and run it again: a conflict
    /// met inside a REPEATABLE READ or SERIALIZABLE caller transaction.
    pub fn needs_transaction_restart(&self) -> bool {
        matches!(
            self,
            Self::RetryableConflict {
                scope: RetryScope::Transaction,
                ..
            }
        )
    }

    /// Whether this error comes from storage rather than from the tenancy rules.
    pub fn is_storage(&self) -> bool {
        matches!(
            self,
            Self::RetryableConflict { .. }
                | Self::ConnectionLost { .. }
                | Self::CommitOutcomeUnknown { .. }
                | Self::NotMigrated { .. }
                | Self::TransactionAborted
                | Self::ReadOnlyTransaction
                | Self::InvalidSchema { .. }
                | Self::Backend { .. }
        )
    }

    /// A not-found error for `entity`.
    pub const fn not_found(entity: Entity) -> Self {
        Self::NotFound { entity }
    }

    /// A precondition error with `reason`.
    pub const fn precondition(reason: PreconditionReason) -> Self {
        Self::Precondition { reason }
    }

    /// The precondition reason, when this is a precondition error.
    pub fn precondition_reason(&self) -> Option<PreconditionReason> {
        match self {
            Self::Precondition { reason } => Some(*reason),
            _ => None,
        }
    }

    /// Wraps an id parse error for the input `field`.
    pub fn invalid_id(field: &'static str, source: IdError) -> Self {
        Self::InvalidId { field, source }
    }
}

impl From<PreconditionReason> for TenancyError {
    fn from(reason: PreconditionReason) -> Self {
        Self::Precondition { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io() -> BoxError {
        Box::new(std::io::Error::other("boom"))
    }

    #[test]
    fn codes_are_pinned() {
        let table: Vec<(TenancyError, &str)> = vec![
            (TenancyError::not_found(Entity::Org), "not_found"),
            (
                TenancyError::DuplicateMembership,
                "conflict.duplicate_membership",
            ),
            (TenancyError::SoleOwner, "forbidden.sole_owner"),
            (TenancyError::RoleHierarchy, "forbidden.role_hierarchy"),
            (TenancyError::Forbidden, "forbidden"),
            (
                TenancyError::InvitationNotPending,
                "conflict.invitation_not_pending",
            ),
            (
                TenancyError::InvitationExpired,
                "conflict.invitation_expired",
            ),
            (
                TenancyError::AlreadyTerminal {
                    entity: Entity::Org,
                },
                "already_terminal",
            ),
            (TenancyError::OrgSlugConflict, "conflict.org_slug"),
            (
                TenancyError::invalid_id(
                    "org_id",
                    flametrench_ids::IdError::InvalidType {
                        found: "usr".into(),
                        expected: Some("org"),
                    },
                ),
                "invalid_id",
            ),
            (
                TenancyError::RetryableConflict {
                    kind: ConflictKind::Deadlock,
                    scope: RetryScope::Call,
                    source: io(),
                },
                "storage.retryable_conflict",
            ),
            (
                TenancyError::ConnectionLost { source: io() },
                "storage.connection_lost",
            ),
            (
                TenancyError::CommitOutcomeUnknown { source: io() },
                "storage.commit_outcome_unknown",
            ),
            (
                TenancyError::NotMigrated {
                    detail: "no org table".into(),
                },
                "storage.not_migrated",
            ),
            (
                TenancyError::TransactionAborted,
                "storage.transaction_aborted",
            ),
            (
                TenancyError::ReadOnlyTransaction,
                "storage.read_only_transaction",
            ),
            (
                TenancyError::InvalidSchema { reason: "empty" },
                "storage.invalid_schema",
            ),
            (TenancyError::Backend { source: io() }, "storage.backend"),
        ];
        assert_eq!(table.len(), TenancyError::FIXED_CODES.len());
        for ((error, code), fixed) in table.iter().zip(TenancyError::FIXED_CODES) {
            assert_eq!(error.code(), *code);
            assert_eq!(code, fixed);
        }
        let retryable: Vec<&str> = table
            .iter()
            .filter(|(error, _)| error.is_retryable())
            .map(|(_, code)| *code)
            .collect();
        assert_eq!(
            retryable,
            ["storage.retryable_conflict", "storage.connection_lost"]
        );
    }

    #[test]
    fn precondition_codes_are_pinned() {
        use PreconditionReason::*;
        let table = [
            (OrgSlugFormat, "precondition.org_slug_format"),
            (OrgNotActive, "precondition.org_not_active"),
            (MemNotActive, "precondition.mem_not_active"),
            (InvalidTransition, "precondition.invalid_transition"),
            (ScopeMismatch, "precondition.scope_mismatch"),
            (FromNotActive, "precondition.from_not_active"),
            (ToNotActive, "precondition.to_not_active"),
            (OrgMismatch, "precondition.org_mismatch"),
            (FromNotOwner, "precondition.from_not_owner"),
            (SelfTransfer, "precondition.self_transfer"),
            (PastExpiration, "precondition.past_expiration"),
            (TimestampOutOfRange, "precondition.timestamp_out_of_range"),
            (InvalidName, "precondition.invalid_name"),
            (InvalidIdentifier, "precondition.invalid_identifier"),
            (InvalidRelation, "precondition.invalid_relation"),
            (InvalidObjectType, "precondition.invalid_object_type"),
            (InvalidObjectId, "precondition.invalid_object_id"),
            (InvalidPreTuple, "precondition.invalid_pre_tuple"),
            (TooManyPreTuples, "precondition.too_many_pre_tuples"),
            (InvalidQuery, "precondition.invalid_query"),
            (InvalidCursor, "precondition.invalid_cursor"),
            (InvalidRole, "precondition.invalid_role"),
            (InvalidStatus, "precondition.invalid_status"),
            (
                IdentifierBindingRequired,
                "precondition.identifier_binding_required",
            ),
            (IdentifierMismatch, "precondition.identifier_mismatch"),
        ];
        assert_eq!(table.len(), PreconditionReason::ALL.len());
        for ((reason, code), declared) in table.iter().zip(PreconditionReason::ALL) {
            assert_eq!(reason, declared);
            assert_eq!(reason.code(), *code);
            assert_eq!(TenancyError::precondition(*reason).code(), *code);
            assert_eq!(Some(reason.as_str()), code.strip_prefix("precondition."));
        }
    }

    #[test]
    fn precondition_codes() {
        let codes: Vec<&str> = PreconditionReason::ALL.iter().map(|r| r.code()).collect();
        assert!(codes.contains(&"precondition.identifier_binding_required"));
        assert!(codes.contains(&"precondition.identifier_mismatch"));
        assert!(codes.iter().all(|code| code.starts_with("precondition.")));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
        let error = TenancyError::precondition(PreconditionReason::OrgNotActive);
        assert_eq!(error.to_string(), "precondition failed: org_not_active");
    }
}
