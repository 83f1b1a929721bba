//! The one error type of the tenancy layer, with a stable machine code per variant.

use std::error::Error as StdError;
use std::fmt;

use flametrench_ids::IdError;
use serde::Serialize;

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
    /// A timestamp given as text (a request body's `expires_at`) is not an RFC 3339 date-time.
    InvalidTimestamp => "invalid_timestamp",
    /// An org name is too long or contains a NUL byte.
    InvalidName => "invalid_name",
    /// An invitation identifier is empty, too long or contains a NUL byte.
    InvalidIdentifier => "invalid_identifier",
    /// A tuple relation does not match `^[a-z_]{2,32}$`.
    InvalidRelation => "invalid_relation",
    /// A tuple object or subject type does not match `^[a-z]{2,6}$`.
    InvalidObjectType => "invalid_object_type",
    /// A tuple object or subject id is neither a UUID nor a `prefix_<32 hex>` id.
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
    /// A `check_any` was given no relation to look for.
    EmptyRelationSet => "empty_relation_set",
    /// A `check_any` was given more relations than the documented limit.
    TooManyRelations => "too_many_relations",
}

impl fmt::Display for PreconditionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PreconditionReason {
    /// Whether the reason blames the request ([`ErrorKind::InvalidInput`]) or the current state
    /// of the data ([`ErrorKind::InvalidState`]).
    ///
    /// The test is whether the same request could succeed against other data: a malformed slug
    /// never can, an inactive org can once it is reinstated.
    pub const fn kind(self) -> ErrorKind {
        match self {
            Self::OrgSlugFormat
            | Self::TimestampOutOfRange
            | Self::InvalidTimestamp
            | Self::InvalidName
            | Self::InvalidIdentifier
            | Self::InvalidRelation
            | Self::InvalidObjectType
            | Self::InvalidObjectId
            | Self::TooManyPreTuples
            | Self::InvalidQuery
            | Self::InvalidCursor
            | Self::InvalidRole
            | Self::InvalidStatus
            | Self::EmptyRelationSet
            | Self::TooManyRelations => ErrorKind::InvalidInput,
            // A grant that would forge a membership tuple is refused for its shape alone, whatever
            // the org holds, so it is bad input rather than a missing permission.
            Self::InvalidPreTuple => ErrorKind::InvalidInput,
            // The expiry is compared with the clock, not with stored data, and no later state
            // makes a past instant acceptable; the spec answers 400 for the like case of a token
            // that expires in the past (`pat.expires_in_past`).
            Self::PastExpiration => ErrorKind::InvalidInput,
            // Naming the same user on both sides is self-contradictory whatever the org holds: a
            // membership's user never changes, so no state change could make it succeed.
            Self::SelfTransfer => ErrorKind::InvalidInput,
            Self::OrgNotActive
            | Self::MemNotActive
            | Self::InvalidTransition
            | Self::FromNotActive
            | Self::ToNotActive
            | Self::FromNotOwner => ErrorKind::InvalidState,
            // The ids are well formed; what fails is how the stored memberships relate to the
            // org the call names.
            Self::OrgMismatch => ErrorKind::InvalidState,
            // It depends on the roles the memberships hold now (`viewer` and `editor` have no
            // rank), not on the shape of the request.
            Self::ScopeMismatch => ErrorKind::InvalidState,
            // The spec's OpenAPI answers 409 for both identifier-binding failures of
            // `accept_invitation`, though a missing identifier looks like bad input.
            Self::IdentifierBindingRequired | Self::IdentifierMismatch => ErrorKind::InvalidState,
        }
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

/// The category of a [`TenancyError`], for callers that map errors to responses.
///
/// Each variant of [`TenancyError`] has exactly one kind ([`TenancyError::kind`]); the kind
/// chooses the HTTP status ([`ErrorKind::http_status`]), while the code stays the precise,
/// stable reason. New kinds may be added, so a `match` on the kind needs a fallback arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The referenced entity does not exist. HTTP 404.
    NotFound,
    /// The request collides with existing data: a duplicate, a taken slug, an entity that has
    /// already reached its end. HTTP 409.
    Conflict,
    /// The request is well formed but the current state of the data does not allow it (an
    /// inactive org, the last owner, an expired invitation). HTTP 409.
    InvalidState,
    /// The actor may not perform the operation. HTTP 403.
    Forbidden,
    /// The request itself is malformed or out of range, whatever the stored data. HTTP 400.
    InvalidInput,
    /// A transient storage failure; the operation had no effect and may be retried
    /// ([`TenancyError::is_retryable`] and [`TenancyError::needs_transaction_restart`] say
    /// whether the call or the caller's transaction). HTTP 503.
    Unavailable,
    /// A failure of the storage or its setup that the caller cannot cure, including a commit
    /// whose outcome is unknown. HTTP 500.
    Internal,
}

impl ErrorKind {
    /// The HTTP status a service should answer with: 404, 409, 409, 403, 400, 503 or 500.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::Conflict | Self::InvalidState => 409,
            Self::Forbidden => 403,
            Self::InvalidInput => 400,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }

    /// The kind as a snake_case word, e.g. `invalid_state`, for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::InvalidState => "invalid_state",
            Self::Forbidden => "forbidden",
            Self::InvalidInput => "invalid_input",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
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
    /// The call is not available on this kind of store (for example `begin` on a store that
    /// already works inside a transaction); nothing was done. Code `storage.not_supported`.
    #[error("not supported by this store: {what}")]
    NotSupported {
        /// What was asked.
        what: &'static str,
    },
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
        "storage.not_supported",
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
            Self::NotSupported { .. } => "storage.not_supported",
            Self::InvalidSchema { .. } => "storage.invalid_schema",
            Self::Backend { .. } => "storage.backend",
        }
    }

    /// The category of this error, which decides the HTTP status a service answers with.
    ///
    /// Every variant and every [`PreconditionReason`] has a kind of its own. Note that the kind
    /// does not always follow the code's prefix: [`SoleOwner`](Self::SoleOwner) has the code
    /// `forbidden.sole_owner` but is [`ErrorKind::InvalidState`], since the refusal comes from
    /// the state of the org (its last active owner), not from the actor's rights; and the
    /// `precondition.*` codes split between [`ErrorKind::InvalidInput`] and
    /// [`ErrorKind::InvalidState`] ([`PreconditionReason::kind`]).
    ///
    /// ```
    /// use flametrench_tenancy_core::{ErrorKind, PreconditionReason, TenancyError};
    ///
    /// let error = TenancyError::precondition(PreconditionReason::OrgNotActive);
    /// assert_eq!(error.kind(), ErrorKind::InvalidState);
    /// assert_eq!(error.kind().http_status(), 409);
    ///
    /// let error = TenancyError::precondition(PreconditionReason::OrgSlugFormat);
    /// assert_eq!(error.kind().http_status(), 400);
    /// assert_eq!(TenancyError::SoleOwner.kind().http_status(), 409);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::DuplicateMembership
            | Self::OrgSlugConflict
            | Self::InvitationNotPending
            | Self::AlreadyTerminal { .. } => ErrorKind::Conflict,
            Self::SoleOwner | Self::InvitationExpired => ErrorKind::InvalidState,
            Self::Precondition { reason } => reason.kind(),
            Self::Forbidden | Self::RoleHierarchy => ErrorKind::Forbidden,
            Self::InvalidId { .. } => ErrorKind::InvalidInput,
            Self::RetryableConflict { .. } | Self::ConnectionLost { .. } => ErrorKind::Unavailable,
            Self::CommitOutcomeUnknown { .. }
            | Self::NotMigrated { .. }
            | Self::TransactionAborted
            | Self::ReadOnlyTransaction
            | Self::NotSupported { .. }
            | Self::InvalidSchema { .. }
            | Self::Backend { .. } => ErrorKind::Internal,
        }
    }

    /// This error as the spec's error envelope, ready to serialize as a response body.
    ///
    /// The body never carries a source error's text, an invitation identifier or SQL: the
    /// message is the `Display` text, except for the variants whose `Display` quotes a source
    /// ([`InvalidId`](Self::InvalidId), [`NotMigrated`](Self::NotMigrated)), which get a fixed
    /// message instead. See [`ErrorBody`] for the shape.
    ///
    /// ```
    /// use flametrench_tenancy_core::{Entity, TenancyError};
    ///
    /// let error = TenancyError::not_found(Entity::Org);
    /// let status = error.kind().http_status();
    /// let body = serde_json::to_string(&error.body())?;
    /// assert_eq!(status, 404);
    /// assert_eq!(
    ///     body,
    ///     r#"{"code":"not_found","message":"org not found","details":{"entity":"org"}}"#
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Self::InvalidId { field, .. } => format!("{field}: not a well-formed id"),
            Self::NotMigrated { .. } => "the tenancy storage is not migrated".to_owned(),
            Self::NotFound { .. }
            | Self::DuplicateMembership
            | Self::SoleOwner
            | Self::RoleHierarchy
            | Self::Forbidden
            | Self::InvitationNotPending
            | Self::InvitationExpired
            | Self::AlreadyTerminal { .. }
            | Self::OrgSlugConflict
            | Self::Precondition { .. }
            | Self::RetryableConflict { .. }
            | Self::ConnectionLost { .. }
            | Self::CommitOutcomeUnknown { .. }
            | Self::TransactionAborted
            | Self::ReadOnlyTransaction
            | Self::NotSupported { .. }
            | Self::InvalidSchema { .. }
            | Self::Backend { .. } => self.to_string(),
        };
        let details = match self {
            Self::NotFound { entity } | Self::AlreadyTerminal { entity } => ErrorDetails {
                entity: Some(entity.as_str()),
                ..ErrorDetails::default()
            },
            Self::Precondition { reason } => ErrorDetails {
                reason: Some(reason.as_str()),
                ..ErrorDetails::default()
            },
            Self::InvalidId { field, .. } => ErrorDetails {
                field: Some(field),
                ..ErrorDetails::default()
            },
            Self::RetryableConflict { kind, scope, .. } => ErrorDetails {
                conflict_kind: Some(kind.as_str()),
                retry_scope: Some(scope.as_str()),
                ..ErrorDetails::default()
            },
            Self::DuplicateMembership
            | Self::SoleOwner
            | Self::RoleHierarchy
            | Self::Forbidden
            | Self::InvitationNotPending
            | Self::InvitationExpired
            | Self::OrgSlugConflict
            | Self::ConnectionLost { .. }
            | Self::CommitOutcomeUnknown { .. }
            | Self::NotMigrated { .. }
            | Self::TransactionAborted
            | Self::ReadOnlyTransaction
            | Self::NotSupported { .. }
            | Self::InvalidSchema { .. }
            | Self::Backend { .. } => ErrorDetails::default(),
        };
        ErrorBody {
            code: self.code(),
            message,
            details: (!details.is_empty()).then_some(details),
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
                | Self::NotSupported { .. }
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

/// A [`TenancyError`] as the spec's error envelope, built by [`TenancyError::body`].
///
/// It serializes to `{"code": ..., "message": ..., "details": {...}}`, the OpenAPI `Error`
/// schema: `code` is [`TenancyError::code`], `message` a human-readable sentence (not pinned;
/// compare codes, never messages), and `details` an object of structured context that is
/// left out when there is none:
///
/// | field | present for | value |
/// | --- | --- | --- |
/// | `entity` | `not_found`, `already_terminal` | `user`, `org`, `membership` or `invitation` |
/// | `reason` | `precondition.*` | the reason, e.g. `org_not_active` |
/// | `field` | `invalid_id` | the input field that held the id, e.g. `org_id` |
/// | `conflict_kind` | `storage.retryable_conflict` | a [`ConflictKind`] word, e.g. `deadlock` |
/// | `retry_scope` | `storage.retryable_conflict` | a [`RetryScope`] word, `call` or `transaction` |
///
/// Every value is a fixed word chosen by the library, never data from a request, a row or a
/// source error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<ErrorDetails>,
}

impl ErrorBody {
    /// The stable machine code, the same as [`TenancyError::code`].
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The structured context, when the error has any.
    pub fn details(&self) -> Option<&ErrorDetails> {
        self.details.as_ref()
    }
}

/// The `details` object of an [`ErrorBody`]; each field is serialized only when present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conflict_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_scope: Option<&'static str>,
}

impl ErrorDetails {
    /// The entity of a `not_found` or `already_terminal` error, e.g. `org`.
    pub fn entity(&self) -> Option<&'static str> {
        self.entity
    }

    /// The reason of a `precondition.*` error, e.g. `org_not_active`.
    pub fn reason(&self) -> Option<&'static str> {
        self.reason
    }

    /// The input field of an `invalid_id` error, e.g. `org_id`.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// The conflict of a `storage.retryable_conflict` error, e.g. `deadlock`.
    pub fn conflict_kind(&self) -> Option<&'static str> {
        self.conflict_kind
    }

    /// What to retry after a `storage.retryable_conflict` error: `call` or `transaction`.
    pub fn retry_scope(&self) -> Option<&'static str> {
        self.retry_scope
    }

    fn is_empty(&self) -> bool {
        *self == Self::default()
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
                TenancyError::NotSupported { what: "begin" },
                "storage.not_supported",
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
            (InvalidTimestamp, "precondition.invalid_timestamp"),
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
            (EmptyRelationSet, "precondition.empty_relation_set"),
            (TooManyRelations, "precondition.too_many_relations"),
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

    /// Text planted in every source error and free-form string of [`samples`]; no body may
    /// contain it.
    const SECRET: &str = "hunter2-select-password-from-usr";

    fn secret_source() -> BoxError {
        Box::new(std::io::Error::other(format!(
            "ERROR: {SECRET}; STATEMENT: SELECT * FROM inv WHERE identifier = 'carol@example.com'"
        )))
    }

    /// One error of every variant except `Precondition` (whose reasons come from
    /// [`PreconditionReason::ALL`]), in the order of [`TenancyError::FIXED_CODES`]. Every source
    /// and every free-form string carries [`SECRET`], or its first word where the id crate caps
    /// the length of a quoted prefix.
    fn samples() -> Vec<TenancyError> {
        vec![
            TenancyError::not_found(Entity::Invitation),
            TenancyError::DuplicateMembership,
            TenancyError::SoleOwner,
            TenancyError::RoleHierarchy,
            TenancyError::Forbidden,
            TenancyError::InvitationNotPending,
            TenancyError::InvitationExpired,
            TenancyError::AlreadyTerminal {
                entity: Entity::Org,
            },
            TenancyError::OrgSlugConflict,
            TenancyError::invalid_id(
                "org_id",
                flametrench_ids::IdError::InvalidType {
                    found: "hunter2".into(),
                    expected: Some("org"),
                },
            ),
            TenancyError::RetryableConflict {
                kind: ConflictKind::SerializationFailure,
                scope: RetryScope::Transaction,
                source: secret_source(),
            },
            TenancyError::ConnectionLost {
                source: secret_source(),
            },
            TenancyError::CommitOutcomeUnknown {
                source: secret_source(),
            },
            TenancyError::NotMigrated {
                detail: format!("relation \"{SECRET}.org\" does not exist"),
            },
            TenancyError::TransactionAborted,
            TenancyError::ReadOnlyTransaction,
            TenancyError::NotSupported { what: "begin" },
            TenancyError::InvalidSchema { reason: "empty" },
            TenancyError::Backend {
                source: secret_source(),
            },
        ]
    }

    /// The pinned kind of every variant. The match has no wildcard arm, so a new variant does not
    /// build until it is given a row here (and a sample in [`samples`]).
    fn pinned_kind(error: &TenancyError) -> ErrorKind {
        match error {
            TenancyError::NotFound { .. } => ErrorKind::NotFound,
            TenancyError::DuplicateMembership => ErrorKind::Conflict,
            TenancyError::SoleOwner => ErrorKind::InvalidState,
            TenancyError::RoleHierarchy => ErrorKind::Forbidden,
            TenancyError::Forbidden => ErrorKind::Forbidden,
            TenancyError::InvitationNotPending => ErrorKind::Conflict,
            TenancyError::InvitationExpired => ErrorKind::InvalidState,
            TenancyError::AlreadyTerminal { .. } => ErrorKind::Conflict,
            TenancyError::OrgSlugConflict => ErrorKind::Conflict,
            TenancyError::Precondition { reason } => pinned_reason_kind(*reason),
            TenancyError::InvalidId { .. } => ErrorKind::InvalidInput,
            TenancyError::RetryableConflict { .. } => ErrorKind::Unavailable,
            TenancyError::ConnectionLost { .. } => ErrorKind::Unavailable,
            TenancyError::CommitOutcomeUnknown { .. } => ErrorKind::Internal,
            TenancyError::NotMigrated { .. } => ErrorKind::Internal,
            TenancyError::TransactionAborted => ErrorKind::Internal,
            TenancyError::ReadOnlyTransaction => ErrorKind::Internal,
            TenancyError::NotSupported { .. } => ErrorKind::Internal,
            TenancyError::InvalidSchema { .. } => ErrorKind::Internal,
            TenancyError::Backend { .. } => ErrorKind::Internal,
        }
    }

    /// The pinned kind of every precondition reason; no wildcard arm, as above.
    fn pinned_reason_kind(reason: PreconditionReason) -> ErrorKind {
        use PreconditionReason::*;
        match reason {
            OrgSlugFormat => ErrorKind::InvalidInput,
            OrgNotActive => ErrorKind::InvalidState,
            MemNotActive => ErrorKind::InvalidState,
            InvalidTransition => ErrorKind::InvalidState,
            ScopeMismatch => ErrorKind::InvalidState,
            FromNotActive => ErrorKind::InvalidState,
            ToNotActive => ErrorKind::InvalidState,
            OrgMismatch => ErrorKind::InvalidState,
            FromNotOwner => ErrorKind::InvalidState,
            SelfTransfer => ErrorKind::InvalidInput,
            PastExpiration => ErrorKind::InvalidInput,
            TimestampOutOfRange => ErrorKind::InvalidInput,
            InvalidTimestamp => ErrorKind::InvalidInput,
            InvalidName => ErrorKind::InvalidInput,
            InvalidIdentifier => ErrorKind::InvalidInput,
            InvalidRelation => ErrorKind::InvalidInput,
            InvalidObjectType => ErrorKind::InvalidInput,
            InvalidObjectId => ErrorKind::InvalidInput,
            InvalidPreTuple => ErrorKind::InvalidInput,
            TooManyPreTuples => ErrorKind::InvalidInput,
            InvalidQuery => ErrorKind::InvalidInput,
            InvalidCursor => ErrorKind::InvalidInput,
            InvalidRole => ErrorKind::InvalidInput,
            InvalidStatus => ErrorKind::InvalidInput,
            IdentifierBindingRequired => ErrorKind::InvalidState,
            IdentifierMismatch => ErrorKind::InvalidState,
            EmptyRelationSet => ErrorKind::InvalidInput,
            TooManyRelations => ErrorKind::InvalidInput,
        }
    }

    /// The pinned status of every kind; no wildcard arm, as above.
    fn pinned_status(kind: ErrorKind) -> u16 {
        match kind {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::InvalidState => 409,
            ErrorKind::Forbidden => 403,
            ErrorKind::InvalidInput => 400,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// Every sample, then one precondition error per reason.
    fn every_error() -> Vec<TenancyError> {
        let mut errors = samples();
        errors.extend(
            PreconditionReason::ALL
                .iter()
                .map(|reason| TenancyError::precondition(*reason)),
        );
        errors
    }

    #[test]
    fn samples_cover_every_variant() {
        let codes: Vec<&str> = samples().iter().map(TenancyError::code).collect();
        assert_eq!(codes, TenancyError::FIXED_CODES);
    }

    #[test]
    fn every_error_has_its_pinned_kind_and_status() {
        for error in every_error() {
            let kind = error.kind();
            assert_eq!(kind, pinned_kind(&error), "{}", error.code());
            assert_eq!(kind.http_status(), pinned_status(kind), "{}", error.code());
            assert_eq!(
                error.is_storage(),
                matches!(kind, ErrorKind::Unavailable | ErrorKind::Internal),
                "{}",
                error.code()
            );
        }
        for reason in PreconditionReason::ALL {
            assert_eq!(reason.kind(), pinned_reason_kind(*reason), "{reason}");
            assert!(
                matches!(
                    reason.kind(),
                    ErrorKind::InvalidInput | ErrorKind::InvalidState
                ),
                "{reason}"
            );
        }
    }

    #[test]
    fn statuses_by_code() {
        let table = [
            ("not_found", 404),
            ("conflict.duplicate_membership", 409),
            ("forbidden.sole_owner", 409),
            ("forbidden.role_hierarchy", 403),
            ("forbidden", 403),
            ("conflict.invitation_not_pending", 409),
            ("conflict.invitation_expired", 409),
            ("already_terminal", 409),
            ("conflict.org_slug", 409),
            ("invalid_id", 400),
            ("storage.retryable_conflict", 503),
            ("storage.connection_lost", 503),
            ("storage.commit_outcome_unknown", 500),
            ("storage.not_migrated", 500),
            ("storage.transaction_aborted", 500),
            ("storage.read_only_transaction", 500),
            ("storage.not_supported", 500),
            ("storage.invalid_schema", 500),
            ("storage.backend", 500),
            ("precondition.org_slug_format", 400),
            ("precondition.org_not_active", 409),
            ("precondition.mem_not_active", 409),
            ("precondition.invalid_transition", 409),
            ("precondition.scope_mismatch", 409),
            ("precondition.from_not_active", 409),
            ("precondition.to_not_active", 409),
            ("precondition.org_mismatch", 409),
            ("precondition.from_not_owner", 409),
            ("precondition.self_transfer", 400),
            ("precondition.past_expiration", 400),
            ("precondition.timestamp_out_of_range", 400),
            ("precondition.invalid_timestamp", 400),
            ("precondition.invalid_name", 400),
            ("precondition.invalid_identifier", 400),
            ("precondition.invalid_relation", 400),
            ("precondition.invalid_object_type", 400),
            ("precondition.invalid_object_id", 400),
            ("precondition.invalid_pre_tuple", 400),
            ("precondition.too_many_pre_tuples", 400),
            ("precondition.invalid_query", 400),
            ("precondition.invalid_cursor", 400),
            ("precondition.invalid_role", 400),
            ("precondition.invalid_status", 400),
            ("precondition.identifier_binding_required", 409),
            ("precondition.identifier_mismatch", 409),
            ("precondition.empty_relation_set", 400),
            ("precondition.too_many_relations", 400),
        ];
        let actual: Vec<(&str, u16)> = every_error()
            .iter()
            .map(|error| (error.code(), error.kind().http_status()))
            .collect();
        assert_eq!(actual, table);
    }

    #[test]
    fn every_kind_is_used_and_named() {
        let kinds = [
            (ErrorKind::NotFound, "not_found"),
            (ErrorKind::Conflict, "conflict"),
            (ErrorKind::InvalidState, "invalid_state"),
            (ErrorKind::Forbidden, "forbidden"),
            (ErrorKind::InvalidInput, "invalid_input"),
            (ErrorKind::Unavailable, "unavailable"),
            (ErrorKind::Internal, "internal"),
        ];
        let used: std::collections::HashSet<ErrorKind> =
            every_error().iter().map(TenancyError::kind).collect();
        assert_eq!(used.len(), kinds.len());
        for (kind, name) in kinds {
            assert!(used.contains(&kind), "{name}");
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
        }
    }

    fn json(error: &TenancyError) -> serde_json::Value {
        serde_json::to_value(error.body()).unwrap()
    }

    #[test]
    fn body_is_the_error_envelope() {
        assert_eq!(
            json(&TenancyError::not_found(Entity::Membership)),
            serde_json::json!({
                "code": "not_found",
                "message": "membership not found",
                "details": { "entity": "membership" },
            })
        );
        assert_eq!(
            json(&TenancyError::AlreadyTerminal {
                entity: Entity::Org
            }),
            serde_json::json!({
                "code": "already_terminal",
                "message": "the org is in a terminal state",
                "details": { "entity": "org" },
            })
        );
        assert_eq!(
            json(&TenancyError::precondition(
                PreconditionReason::OrgNotActive
            )),
            serde_json::json!({
                "code": "precondition.org_not_active",
                "message": "precondition failed: org_not_active",
                "details": { "reason": "org_not_active" },
            })
        );
        assert_eq!(
            json(&TenancyError::RetryableConflict {
                kind: ConflictKind::Deadlock,
                scope: RetryScope::Call,
                source: secret_source(),
            }),
            serde_json::json!({
                "code": "storage.retryable_conflict",
                "message": "transient storage conflict (deadlock); the operation had no effect; \
                            retry the call",
                "details": { "conflict_kind": "deadlock", "retry_scope": "call" },
            })
        );
        assert_eq!(
            json(&TenancyError::invalid_id(
                "mem_id",
                flametrench_ids::IdError::InvalidType {
                    found: "usr".into(),
                    expected: Some("mem"),
                },
            )),
            serde_json::json!({
                "code": "invalid_id",
                "message": "mem_id: not a well-formed id",
                "details": { "field": "mem_id" },
            })
        );
    }

    #[test]
    fn body_leaves_out_empty_details() {
        let error = TenancyError::SoleOwner;
        assert_eq!(
            serde_json::to_string(&error.body()).unwrap(),
            r#"{"code":"forbidden.sole_owner","message":"operation would leave the org without an active owner"}"#
        );
        assert_eq!(error.body().details(), None);
        for error in every_error() {
            let value = json(&error);
            let object = value.as_object().unwrap();
            // The schema allows no other top-level fields, and `details` is an object when
            // present and never an empty one.
            assert!(
                object
                    .keys()
                    .all(|key| ["code", "message", "details"].contains(&key.as_str())),
                "{value}"
            );
            assert_eq!(object["code"], error.code());
            assert!(object["message"].is_string(), "{value}");
            if let Some(details) = object.get("details") {
                assert!(!details.as_object().unwrap().is_empty(), "{value}");
            }
            let body = error.body();
            assert_eq!(body.code(), error.code());
            assert_eq!(object["message"], body.message());
        }
    }

    #[test]
    fn body_never_leaks_a_source_error() {
        let backend = TenancyError::Backend {
            source: secret_source(),
        };
        assert!(format!("{:?}", StdError::source(&backend)).contains(SECRET));
        let text = serde_json::to_string(&backend.body()).unwrap();
        assert_eq!(
            text,
            r#"{"code":"storage.backend","message":"storage backend error"}"#
        );
        for error in every_error() {
            let text = serde_json::to_string(&error.body()).unwrap();
            for planted in [SECRET, "hunter2", "SELECT", "carol@example.com"] {
                assert!(!text.contains(planted), "{text}");
            }
        }
    }

    #[test]
    fn body_message_is_the_display_text_unless_it_quotes_a_source() {
        for error in every_error() {
            let body = error.body();
            match error {
                TenancyError::InvalidId { .. } | TenancyError::NotMigrated { .. } => {
                    assert_ne!(body.message(), error.to_string());
                }
                _ => assert_eq!(body.message(), error.to_string()),
            }
        }
    }
}
