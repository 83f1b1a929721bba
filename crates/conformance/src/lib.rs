//! Data-driven conformance runner for Flametrench tenancy stores.
//!
//! Loads fixture corpora in the upstream layout (an `index.json` manifest and
//! `fixtures/<capability>/*.json` files), and runs every case against any store through a
//! [`StoreFactory`]: ids cases against the `flametrench-ids` functions, tenancy state-machine
//! cases against a fresh store, clock and users each. After each tenancy case the factory checks
//! the store's invariants with the store's own checker, and a broken invariant fails the case
//! ([`CaseRun`]). The runner never names a backend; each backend owns a small test target that
//! builds its factory, makes its [`trials`] and runs them with [`run_trials`], which prints a
//! table per file and adds the JSON report to a file when [`REPORT_ENV`] names one (as
//! `cargo xtask conformance` does).
//!
//! The upstream corpus is not part of the project; [`Corpora::locate`] finds it (see
//! [`CorpusLookup::from_env`]). Its case ids are pinned in [`UPSTREAM_MANIFEST`]: without the
//! corpus every pinned case is an ignored trial carrying the reason, and under CI the run fails;
//! with it, a corpus that no longer matches the pins fails the run until the manifest is
//! regenerated ([`REGENERATE_MANIFEST`]).
//!
//! One input goes beyond the upstream format: `create_invitation` takes, instead of the
//! relative `ttl_seconds`, an absolute `expires_at` string (RFC 3339, or ISO 8601 with an
//! expanded year such as `-009999-01-01T00:00:00Z`), so fixtures can give nanoseconds, offsets
//! and out-of-range instants.
//!
//! ```
//! use flametrench_conformance::Corpus;
//!
//! // A missing directory is a typed error, never a panic.
//! assert!(Corpus::load("/nonexistent/corpus").is_err());
//! ```

mod corpus;
mod ops;
mod report;
mod runner;
mod trials;

pub use corpus::{
    CaseManifest, Corpora, Corpus, CorpusError, CorpusLookup, Drift, Expected, FIXTURES_ENV,
    FixtureFile, MissingUpstream, PinnedFile, REGENERATE_MANIFEST, Step, TestCase, UPSTREAM_ENV,
    UPSTREAM_MANIFEST, locate_corpora,
};
pub use report::{CaseOutcome, CaseReport, CorpusReport, FileReport, REPORT_ENV, Recorder};
pub use runner::{BoxFuture, CaseRun, StoreFactory, TestBody, run_case, run_corpus};
pub use trials::{invariant_self_test, run_trials, trials};
