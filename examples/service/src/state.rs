//! The service's state (the tenancy handle) and its own table, written in a unit of work.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use flametrench_tenancy_core::ids::{OrgId, UsrId};
use flametrench_tenancy_core::{Tenancy, TenancyError, Unit};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use flametrench_tenancy_postgres::deadpool_postgres::{self, Pool, Runtime};
use flametrench_tenancy_postgres::tokio_postgres::NoTls;
use flametrench_tenancy_postgres::{PostgresTenancyStore, StoreTransaction, classify, migrate};

/// The service's own table, next to the SDK's: one row per step of a transactional handler.
pub const AUDIT_LOG_DDL: &str = "CREATE TABLE IF NOT EXISTS audit_log (\
     id bigserial PRIMARY KEY, \
     what text NOT NULL, \
     org_id uuid, \
     at timestamptz NOT NULL DEFAULT now())";

const INSERT_AUDIT: &str = "INSERT INTO audit_log (what, org_id) VALUES ($1, $2)";

/// Why the service could not start: a bad `DATABASE_URL`, an unreachable server, a failed
/// migration.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// What every handler shares: the tenancy handle (on either store: units of work come from
/// it too), and the users already registered by this process.
///
/// Cloning is cheap and every clone is the same service.
#[derive(Clone)]
pub struct AppState {
    tenancy: Tenancy<'static>,
    on_postgres: bool,
    registered: Arc<Mutex<HashSet<UsrId>>>,
    /// Bearer tokens to users; `None`: the token is the user's id.
    tokens: Option<Arc<HashMap<String, UsrId>>>,
    /// The bearer token of the system caller (`GET /orgs`, any tuple read), if any.
    system_token: Option<Arc<str>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store_name())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A service over a new, empty in-memory store.
    pub fn in_memory() -> Self {
        Self::on_memory(InMemoryTenancyStore::new())
    }

    /// A service over `store`, an in-memory store the caller built (on a clock of its own, say,
    /// or with test support). A clone the caller keeps shares the service's state.
    pub fn on_memory(store: InMemoryTenancyStore) -> Self {
        Self::with(store.into(), false)
    }

    /// A service over PostgreSQL: migrates the tenancy tables in `public` (idempotent), creates
    /// the service's own `audit_log` table if missing, and serves a handle on the pool store.
    ///
    /// # Errors
    ///
    /// When no connection can be had, or the migration or the `audit_log` DDL fails.
    pub async fn on_postgres(pool: Pool) -> Result<Self, StartError> {
        let mut client = pool.get().await?;
        migrate(&mut client, "public").await?;
        client.batch_execute(AUDIT_LOG_DDL).await?;
        drop(client);
        Ok(Self::with(PostgresTenancyStore::new(pool).into(), true))
    }

    fn with(tenancy: Tenancy<'static>, on_postgres: bool) -> Self {
        Self {
            tenancy,
            on_postgres,
            registered: Arc::new(Mutex::new(HashSet::new())),
            tokens: None,
            system_token: None,
        }
    }

    /// Accepts `token` as the system caller's: the one caller of `GET /orgs` (ADR 0025's
    /// cross-tenant read) and of any tuple read.
    #[must_use]
    pub fn with_system_token(mut self, token: &str) -> Self {
        self.system_token = Some(Arc::from(token));
        self
    }

    /// Whether `token` is the system caller's.
    pub(crate) fn is_system(&self, token: &str) -> bool {
        self.system_token
            .as_deref()
            .is_some_and(|system| system == token)
    }

    /// Accepts only the bearer tokens of `tokens`, each standing for its user (instead of the
    /// default, where the token is the user's `usr_` id).
    #[must_use]
    pub fn with_tokens(mut self, tokens: HashMap<String, UsrId>) -> Self {
        self.tokens = Some(Arc::new(tokens));
        self
    }

    /// The user a bearer token stands for.
    pub(crate) fn user_of(&self, token: &str) -> Option<UsrId> {
        match &self.tokens {
            Some(tokens) => tokens.get(token).copied(),
            None => token.parse().ok(),
        }
    }

    /// The tenancy handle the handlers call, and begin units of work on: for set-up a test
    /// does behind the service's back, or an adopter's own routes.
    pub fn tenancy(&self) -> &Tenancy<'static> {
        &self.tenancy
    }

    /// `"postgres"` or `"memory"`.
    pub fn store_name(&self) -> &'static str {
        if self.on_postgres {
            "postgres"
        } else {
            "memory"
        }
    }

    /// Registers `usr_id` with `ensure_user` the first time this process sees it, so that the
    /// SDK's calls may name it. Later requests skip the write.
    pub(crate) async fn register(&self, usr_id: UsrId) -> Result<(), TenancyError> {
        if self.is_registered(usr_id) {
            return Ok(());
        }
        self.tenancy.ensure_user(usr_id).await?;
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert(usr_id);
        }
        Ok(())
    }

    fn is_registered(&self, usr_id: UsrId) -> bool {
        // A poisoned lock only costs a repeated, idempotent `ensure_user`.
        self.registered
            .lock()
            .map(|registered| registered.contains(&usr_id))
            .unwrap_or(false)
    }
}

/// Appends a row to the service's own `audit_log` inside `unit`, on PostgreSQL (the unit's
/// transaction, through its client: the row commits or rolls back with the SDK's calls of the
/// unit); the memory store has no such table, and nothing is written.
///
/// # Errors
///
/// The insert's failure, classified as the store classifies its own
/// ([`flametrench_tenancy_postgres::classify`]): a conflict or a lost connection is retryable,
/// so `Tenancy::in_unit` runs the unit again.
pub(crate) async fn audit(
    unit: &Unit,
    what: &str,
    org_id: Option<OrgId>,
) -> Result<(), TenancyError> {
    let Some(transaction) = unit.downcast_ref::<StoreTransaction>() else {
        return Ok(());
    };
    let org_uuid = org_id.map(|org_id| org_id.as_uuid());
    transaction
        .client()
        .await
        .execute(INSERT_AUDIT, &[&what, &org_uuid])
        .await
        .map_err(classify)?;
    // The client's guard drops here, before the unit's next SDK call, which would wait for it.
    Ok(())
}

/// The state `cargo run` starts with: PostgreSQL when `DATABASE_URL` is set and not empty (a
/// pool of up to 16 connections, without TLS), otherwise a new in-memory store.
///
/// # Errors
///
/// What [`AppState::on_postgres`] returns, or an invalid `DATABASE_URL`.
pub async fn state_from_env() -> Result<AppState, StartError> {
    let mut state = store_from_env().await?;
    if let Some(tokens) = tokens_from_env()? {
        state = state.with_tokens(tokens);
    }
    if let Ok(token) = std::env::var("FLAMETRENCH_SYSTEM_TOKEN") {
        if !token.is_empty() {
            state = state.with_system_token(&token);
        }
    }
    Ok(state)
}

/// The token table of `FLAMETRENCH_TOKENS` (`token=usr_…` pairs separated by commas) or of the
/// file `FLAMETRENCH_TOKENS_FILE` (one pair a line; `#` starts a comment); `None` when neither
/// is set.
fn tokens_from_env() -> Result<Option<HashMap<String, UsrId>>, StartError> {
    let text = match (
        std::env::var("FLAMETRENCH_TOKENS"),
        std::env::var("FLAMETRENCH_TOKENS_FILE"),
    ) {
        (Ok(pairs), _) if !pairs.is_empty() => pairs.replace(',', "\n"),
        (_, Ok(path)) if !path.is_empty() => std::fs::read_to_string(path)?,
        _ => return Ok(None),
    };
    let mut tokens = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (token, usr) = line
            .split_once('=')
            .ok_or_else(|| format!("a token line is not token=usr_…: {line}"))?;
        tokens.insert(token.trim().to_owned(), usr.trim().parse::<UsrId>()?);
    }
    Ok(Some(tokens))
}

async fn store_from_env() -> Result<AppState, StartError> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => {
            let mut config = deadpool_postgres::Config::new();
            config.url = Some(url);
            config.pool = Some(deadpool_postgres::PoolConfig::new(16));
            let pool = config.create_pool(Some(Runtime::Tokio1), NoTls)?;
            AppState::on_postgres(pool).await
        }
        _ => Ok(AppState::in_memory()),
    }
}
