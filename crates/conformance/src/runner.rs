//! Runs cases: ids cases against the id functions, tenancy cases against a store from a factory.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use flametrench_ids::{IdError, UsrId};
use flametrench_tenancy_core::{
    EntityType, ManualClock, SharedClock, TenancyError, TenancyStore, parse_object_id,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::corpus::{
    Corpora, Corpus, Expected, FixtureFile, MissingUpstream, Step, TestCase, UPSTREAM, file_stem,
};
use crate::ops::{self, Called, HarnessError};
use crate::report::{CaseReport, CorpusReport, FileReport};

/// A boxed, sendable future: the one the store traits use.
pub use flametrench_tenancy_core::dynamic::BoxFuture;

/// The body of a test: given any store, runs the steps. It owns everything but the store, so
/// a factory may lend it a store that borrows the factory's locals (a caller's transaction).
pub trait TestBody: Send + 'static {
    /// Runs the test against `store`.
    fn run<'s, S: TenancyStore + 's>(self, store: &'s S) -> BoxFuture<'s, CaseOutcome>;
}

/// Lends a fresh store to each test case.
pub trait StoreFactory: Send + Sync + 'static {
    /// A short name for reports and test names (`memory`, `postgres-pool`, …).
    fn name(&self) -> String;

    /// Builds a fresh, empty store taking its time from `clock`, runs `body` against it, and
    /// disposes of the store. An error means the store could not be built.
    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseOutcome, String>>;
}

struct CaseBody {
    clock: ManualClock,
    case: Arc<TestCase>,
}

impl TestBody for CaseBody {
    fn run<'s, S: TenancyStore + 's>(self, store: &'s S) -> BoxFuture<'s, CaseOutcome> {
        Box::pin(async move {
            match CatchUnwind(Box::pin(run_steps(store, &self.clock, &self.case))).await {
                Ok(outcome) => outcome,
                Err(panic) => CaseOutcome::Failed(panic),
            }
        })
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "message", rename_all = "lowercase")]
pub enum CaseOutcome {
    /// Every step behaved as expected.
    Passed,
    /// The first deviation.
    Failed(String),
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Self::Passed)
    }
}

/// Polls a future, turning a panic into an error.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|text| (*text).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                Poll::Ready(Err(format!("panicked: {message}")))
            }
        }
    }
}

/// Runs one case of `file` against a store from `factory` (ids cases need no store).
pub async fn run_case<F: StoreFactory>(
    factory: &F,
    file: &FixtureFile,
    case: &TestCase,
) -> CaseOutcome {
    if file.capability == "ids" {
        return run_ids_case(&file.operation, case);
    }
    let clock = ManualClock::starting_now();
    let body = CaseBody {
        clock: clock.clone(),
        case: Arc::new(case.clone()),
    };
    match factory.with_store(Arc::new(clock), body).await {
        Ok(outcome) => outcome,
        Err(message) => CaseOutcome::Failed(format!("could not build the store: {message}")),
    }
}

/// Runs every case of every corpus against `factory`.
pub async fn run_corpus<F: StoreFactory>(factory: &F, corpora: &[Corpus]) -> CorpusReport {
    let mut files = Vec::new();
    for corpus in corpora {
        for file in &corpus.files {
            let mut cases = Vec::new();
            for case in &file.tests {
                cases.push(CaseReport {
                    id: case.id.clone(),
                    outcome: run_case(factory, file, case).await,
                });
            }
            files.push(FileReport {
                corpus: corpus.name.clone(),
                path: file.path.clone(),
                conformance_level: file.conformance_level.clone(),
                runnable_today: file.runnable_today,
                cases,
            });
        }
    }
    CorpusReport {
        store: factory.name(),
        files,
    }
}

/// One libtest-mimic trial per case, named `<store>::<corpus>::<file stem>::<case id>`.
///
/// When the upstream corpus is missing, each case of its manifest is still a trial of that
/// name, ignored with [`MissingUpstream::reason`] as its message, so the summary counts every
/// case that did not run.
pub fn trials<F: StoreFactory>(
    factory: Arc<F>,
    corpora: &Corpora,
    runtime: Arc<tokio::runtime::Runtime>,
) -> Vec<libtest_mimic::Trial> {
    let store = factory.name();
    let mut out = corpora
        .missing_upstream
        .as_ref()
        .map(|missing| missing_trials(&store, missing))
        .unwrap_or_default();
    for corpus in &corpora.loaded {
        for file in &corpus.files {
            let file = Arc::new(file.clone());
            for case in &file.tests {
                let name = trial_name(&store, &corpus.name, &file.path, &case.id);
                let (factory, runtime, file, case) =
                    (factory.clone(), runtime.clone(), file.clone(), case.clone());
                out.push(libtest_mimic::Trial::test(name, move || {
                    match runtime.block_on(run_case(&*factory, &file, &case)) {
                        CaseOutcome::Passed => Ok(()),
                        CaseOutcome::Failed(message) => Err(message.into()),
                    }
                }));
            }
        }
    }
    out
}

/// The name of the trial of case `id` of the file at `path` in `corpus`, run against `store`.
fn trial_name(store: &str, corpus: &str, path: &str, id: &str) -> String {
    format!("{store}::{corpus}::{}::{id}", file_stem(path))
}

/// One trial per pinned case of the missing upstream corpus, each ignored when it runs, with
/// the reason (a trial ignored by its flag would show no message).
fn missing_trials(store: &str, missing: &MissingUpstream) -> Vec<libtest_mimic::Trial> {
    let reason = missing.reason();
    let mut out = Vec::new();
    for file in &missing.manifest.files {
        for id in &file.cases {
            let reason = reason.clone();
            out.push(libtest_mimic::Trial::ignorable_test(
                trial_name(store, UPSTREAM, &file.path, id),
                move || Ok(libtest_mimic::Completion::ignored_with(reason)),
            ));
        }
    }
    out
}

fn id_error_name(error: &IdError) -> &'static str {
    if error.is_invalid_type() {
        "InvalidTypeError"
    } else {
        "InvalidIdError"
    }
}

fn check_id_error(expected: &Expected, error: &IdError) -> CaseOutcome {
    let Some(name) = &expected.error else {
        return CaseOutcome::Failed(format!("unexpected error: {error}"));
    };
    if name != id_error_name(error) {
        return CaseOutcome::Failed(format!(
            "expected {name}, got {}: {error}",
            id_error_name(error)
        ));
    }
    if let Some(fragment) = &expected.error_matches {
        if !error.to_string().contains(fragment.as_str()) {
            return CaseOutcome::Failed(format!("error `{error}` does not contain `{fragment}`"));
        }
    }
    CaseOutcome::Passed
}

fn run_ids_case(operation: &str, case: &TestCase) -> CaseOutcome {
    let (Some(input), Some(expected)) = (&case.input, &case.expected) else {
        return CaseOutcome::Failed("ids cases need input and expected".into());
    };
    let text = |key: &str| {
        input
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let result: Result<Value, IdError> = match operation {
        "encode" => flametrench_ids::encode(&text("type"), &text("uuid")).map(Value::String),
        "decode" => flametrench_ids::decode(&text("id")).map(
            |decoded| serde_json::json!({ "type": decoded.prefix, "uuid": decoded.uuid_string() }),
        ),
        "is_valid" => {
            let expected_type = input.get("expected_type").and_then(Value::as_str);
            Ok(Value::Bool(flametrench_ids::is_valid(
                &text("id"),
                expected_type,
            )))
        }
        "type_of" => {
            flametrench_ids::type_of(&text("id")).map(|prefix| Value::String(prefix.into()))
        }
        other => return CaseOutcome::Failed(format!("unknown ids operation `{other}`")),
    };
    match (result, &expected.result) {
        (Err(error), _) => check_id_error(expected, &error),
        (Ok(actual), Some(wanted)) if &actual == wanted => CaseOutcome::Passed,
        (Ok(actual), wanted) => CaseOutcome::Failed(format!("expected {wanted:?}, got {actual}")),
    }
}

/// Replaces every string that is exactly `{name}` with the variable's value.
pub(crate) fn substitute(
    value: &Value,
    vars: &HashMap<String, Value>,
) -> Result<Value, HarnessError> {
    Ok(match value {
        Value::String(text) => match variable_name(text) {
            Some(name) => vars
                .get(name)
                .cloned()
                .ok_or_else(|| HarnessError(format!("unknown variable `{{{name}}}`")))?,
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute(item, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| Ok((key.clone(), substitute(item, vars)?)))
                .collect::<Result<_, HarnessError>>()?,
        ),
        other => other.clone(),
    })
}

fn variable_name(text: &str) -> Option<&str> {
    let name = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_lowercase() || first == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    .then_some(name)
}

/// Whether `actual` contains everything in `expected`.
pub(crate) fn subset(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => want
            .iter()
            .all(|(key, value)| have.get(key).is_some_and(|found| subset(value, found))),
        (Value::Array(want), Value::Array(have)) => {
            want.len() == have.len() && want.iter().zip(have).all(|(w, h)| subset(w, h))
        }
        (want, have) => want == have,
    }
}

/// Walks a dotted path into `value`.
pub(crate) fn walk<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index)),
            _ => None,
        })
}

/// Whether `error` answers to the fixture error `name`.
pub(crate) fn error_is(error: &TenancyError, name: &str) -> Result<bool, HarnessError> {
    let code = error.code();
    Ok(match name {
        "TenancyError" => true,
        "NotFoundError" => code == "not_found",
        "DuplicateMembershipError" => code == "conflict.duplicate_membership",
        "SoleOwnerError" => code == "forbidden.sole_owner",
        "RoleHierarchyError" => code == "forbidden.role_hierarchy",
        "ForbiddenError" => code == "forbidden",
        "InvitationNotPendingError" => code == "conflict.invitation_not_pending",
        "InvitationExpiredError" => code == "conflict.invitation_expired",
        "AlreadyTerminalError" => code == "already_terminal",
        "OrgSlugConflictError" => code == "conflict.org_slug",
        "PreconditionError" => code.starts_with("precondition."),
        "IdentifierBindingRequiredError" => code == "precondition.identifier_binding_required",
        "IdentifierMismatchError" => code == "precondition.identifier_mismatch",
        "InvalidIdError" => code == "invalid_id",
        "InvalidTypeError" => {
            matches!(error, TenancyError::InvalidId { source, .. } if source.is_invalid_type())
        }
        other => return Err(HarnessError(format!("unknown error name `{other}`"))),
    })
}

fn ids_of(page: &Value) -> Option<Vec<Value>> {
    page.get("data")?
        .as_array()?
        .iter()
        .map(|row| row.get("id").cloned())
        .collect()
}

fn check_result(op: &str, wanted: &Value, actual: &Value) -> Result<(), String> {
    if !ops::is_list_op(op) {
        return if subset(wanted, actual) {
            Ok(())
        } else {
            Err(format!("result {actual} does not match {wanted}"))
        };
    }
    let Value::Object(wanted) = wanted else {
        return Err("a list result expectation must be an object".into());
    };
    let ids = ids_of(actual).ok_or("the page has no data ids")?;
    let mut rest = Map::new();
    for (key, value) in wanted {
        match key.as_str() {
            "data_ids_in_order" => {
                if value.as_array() != Some(&ids) {
                    return Err(format!("ids {ids:?} are not, in order, {value}"));
                }
            }
            "data_ids_unordered" => {
                let mut want: Vec<String> = value
                    .as_array()
                    .ok_or("data_ids_unordered must be an array")?
                    .iter()
                    .map(Value::to_string)
                    .collect();
                let mut have: Vec<String> = ids.iter().map(Value::to_string).collect();
                want.sort();
                have.sort();
                if want != have {
                    return Err(format!("ids {have:?} are not {want:?}"));
                }
            }
            "next_cursor" => {
                let found = walk(actual, "page.next_cursor")
                    .cloned()
                    .unwrap_or(Value::Null);
                if &found != value {
                    return Err(format!("next_cursor is {found}, expected {value}"));
                }
            }
            _ => {
                rest.insert(key.clone(), value.clone());
            }
        }
    }
    if subset(&Value::Object(rest), actual) {
        Ok(())
    } else {
        Err(format!("page {actual} does not match {wanted:?}"))
    }
}

fn describe(error: &TenancyError) -> String {
    let kind = if error.is_storage() {
        "storage error"
    } else {
        "error"
    };
    format!("{kind} {} ({error})", error.code())
}

async fn pseudo<S: TenancyStore>(
    store: &S,
    clock: &ManualClock,
    op: &str,
    input: &Map<String, Value>,
) -> Result<Option<Result<(), String>>, HarnessError> {
    let text = |key: &str| -> Result<String, HarnessError> {
        input
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| HarnessError(format!("`{op}` needs string `{key}`")))
    };
    let uuid_of = |text: &str| {
        parse_object_id(text).map_err(|_| HarnessError(format!("`{text}` is not an object id")))
    };
    let entity = |text: &str| {
        text.parse::<EntityType>()
            .map_err(|_| HarnessError(format!("`{text}` is not an entity type")))
    };
    let storage = |error: TenancyError| Err(describe(&error));
    Ok(Some(match op {
        "advance_clock" => {
            ops::advance_clock(clock, input)?;
            Ok(())
        }
        "assert_equal" => {
            let (actual, expected) = (input.get("actual"), input.get("expected"));
            if actual == expected {
                Ok(())
            } else {
                Err(format!("{actual:?} is not {expected:?}"))
            }
        }
        "assert_subject_relations" => {
            let kind = entity(&text("subject_type")?)?;
            let id = uuid_of(&text("subject_id")?)?;
            let mut want: Vec<String> = input
                .get("relations")
                .and_then(Value::as_array)
                .ok_or_else(|| HarnessError("`relations` must be an array".into()))?
                .iter()
                .filter_map(|value| value.as_str().map(str::to_owned))
                .collect();
            match store.list_tuples_for_subject(kind, id).await {
                Err(error) => storage(error),
                Ok(tuples) => {
                    let mut have: Vec<String> = tuples
                        .iter()
                        .map(|tuple| tuple.relation.as_str().to_owned())
                        .collect();
                    have.sort();
                    want.sort();
                    if have == want {
                        Ok(())
                    } else {
                        Err(format!("relations {have:?}, expected {want:?}"))
                    }
                }
            }
        }
        "assert_object_tuples" => {
            let kind = entity(&text("object_type")?)?;
            let id = uuid_of(&text("object_id")?)?;
            let relation = match input.get("relation").and_then(Value::as_str) {
                None => None,
                Some(text) => Some(
                    text.parse()
                        .map_err(|_| HarnessError(format!("bad relation `{text}`")))?,
                ),
            };
            let mut want = Vec::new();
            for item in input
                .get("tuples")
                .and_then(Value::as_array)
                .ok_or_else(|| HarnessError("`tuples` must be an array".into()))?
            {
                let field = |key: &str| item.get(key).and_then(Value::as_str);
                let subject = field("subject_id")
                    .ok_or_else(|| HarnessError("tuple needs subject_id".into()))?;
                let relation =
                    field("relation").ok_or_else(|| HarnessError("tuple needs relation".into()))?;
                want.push((
                    field("subject_type").unwrap_or("usr").to_owned(),
                    uuid_of(subject)?,
                    relation.to_owned(),
                ));
            }
            match store.list_tuples_for_object(kind, id, relation).await {
                Err(error) => storage(error),
                Ok(tuples) => {
                    let mut have: Vec<(String, uuid::Uuid, String)> = tuples
                        .iter()
                        .map(|tuple| {
                            (
                                tuple.subject_type.as_str().to_owned(),
                                tuple.subject_id,
                                tuple.relation.as_str().to_owned(),
                            )
                        })
                        .collect();
                    have.sort();
                    want.sort();
                    if have == want {
                        Ok(())
                    } else {
                        Err(format!("tuples {have:?}, expected {want:?}"))
                    }
                }
            }
        }
        "assert_invitation_status" => {
            let inv = text("inv_id")?
                .parse()
                .map_err(|_| HarnessError("`inv_id` is not an invitation id".into()))?;
            let expected = text("expected_status")?;
            match store.get_invitation(inv).await {
                Err(error) => storage(error),
                Ok(invitation) if invitation.status.as_str() == expected => Ok(()),
                Ok(invitation) => Err(format!(
                    "invitation is {}, expected {expected}",
                    invitation.status
                )),
            }
        }
        "assert_org_fields" => {
            let org = text("org_id")?
                .parse()
                .map_err(|_| HarnessError("`org_id` is not an org id".into()))?;
            match store.get_org(org).await {
                Err(error) => storage(error),
                Ok(org) => {
                    let name = org
                        .name
                        .as_ref()
                        .map(|name| Value::String(name.as_str().into()));
                    let slug = org
                        .slug
                        .as_ref()
                        .map(|slug| Value::String(slug.as_str().into()));
                    let mut problems = Vec::new();
                    for (key, have) in [("expected_name", name), ("expected_slug", slug)] {
                        if let Some(want) = input.get(key) {
                            let have = have.unwrap_or(Value::Null);
                            if &have != want {
                                problems.push(format!("{key}: {have}, expected {want}"));
                            }
                        }
                    }
                    if problems.is_empty() {
                        Ok(())
                    } else {
                        Err(problems.join("; "))
                    }
                }
            }
        }
        _ => return Ok(None),
    }))
}

async fn run_steps<S: TenancyStore>(
    store: &S,
    clock: &ManualClock,
    case: &TestCase,
) -> CaseOutcome {
    let mut vars: HashMap<String, Value> = HashMap::new();
    for user in &case.users {
        let id = UsrId::new();
        if let Err(error) = store.ensure_user(id).await {
            return CaseOutcome::Failed(format!("ensure_user for `{user}`: {}", describe(&error)));
        }
        vars.insert(user.clone(), Value::String(id.to_string()));
    }
    for (index, step) in case.steps.iter().enumerate() {
        if let Err(message) = run_step(store, clock, step, &mut vars).await {
            return CaseOutcome::Failed(format!("step {index} ({}): {message}", step.op));
        }
    }
    CaseOutcome::Passed
}

async fn run_step<S: TenancyStore>(
    store: &S,
    clock: &ManualClock,
    step: &Step,
    vars: &mut HashMap<String, Value>,
) -> Result<(), String> {
    let harness = |error: HarnessError| format!("harness: {}", error.0);
    let input = match substitute(&Value::Object(step.input.clone()), vars).map_err(harness)? {
        Value::Object(map) => map,
        _ => return Err("harness: input is not an object".into()),
    };
    if let Some(outcome) = pseudo(store, clock, &step.op, &input)
        .await
        .map_err(harness)?
    {
        return outcome;
    }
    if !ops::is_store_op(&step.op) {
        return Err(format!("harness: unknown op `{}`", step.op));
    }
    let called = ops::call(store, clock, &step.op, &input)
        .await
        .map_err(harness)?;
    let expected = step.expected.clone().unwrap_or(Expected {
        result: None,
        error: None,
        error_matches: None,
    });
    match (called, &expected.error) {
        (Called::Error(error), Some(name)) => {
            if !error_is(&error, name).map_err(harness)? {
                return Err(format!("expected {name}, got {}", describe(&error)));
            }
            if let Some(fragment) = &expected.error_matches {
                if !error.to_string().contains(fragment.as_str()) {
                    return Err(format!("error `{error}` does not contain `{fragment}`"));
                }
            }
            Ok(())
        }
        (Called::Error(error), None) => Err(format!("unexpected {}", describe(&error))),
        (Called::Value(value), Some(name)) => Err(format!(
            "expected {name}, but the call succeeded with {value}"
        )),
        (Called::Value(value), None) => {
            if let Some(wanted) = &expected.result {
                let wanted = substitute(wanted, vars).map_err(harness)?;
                check_result(&step.op, &wanted, &value)?;
            }
            for (name, path) in &step.captures {
                let path = path
                    .as_str()
                    .ok_or("harness: capture paths must be strings")?;
                let found = walk(&value, path)
                    .ok_or_else(|| format!("harness: capture path `{path}` not in {value}"))?;
                vars.insert(name.clone(), found.clone());
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::corpus::{CaseManifest, CorpusLookup};
    use serde_json::json;

    /// A factory that never builds a store: the trials under test must not need one.
    struct NoStore;

    impl StoreFactory for NoStore {
        fn name(&self) -> String {
            "nostore".into()
        }

        fn with_store<'a, B: TestBody>(
            &'a self,
            _clock: SharedClock,
            _body: B,
        ) -> BoxFuture<'a, Result<CaseOutcome, String>> {
            Box::pin(async { Err("no store here".to_owned()) })
        }
    }

    #[test]
    fn a_missing_upstream_gives_one_ignored_trial_per_pinned_case() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lookup = CorpusLookup {
            workspace,
            upstream: PathBuf::from("/nonexistent/flametrench-spec/conformance"),
            require_upstream: false,
        };
        let corpora = Corpora::locate(&lookup).unwrap();
        let manifest = CaseManifest::load(&lookup.manifest_path()).unwrap();
        let runtime = Arc::new(
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        );
        let all = trials(Arc::new(NoStore), &corpora, runtime);
        let expected: Vec<String> = manifest
            .files
            .iter()
            .flat_map(|file| {
                file.cases
                    .iter()
                    .map(|id| trial_name("nostore", UPSTREAM, &file.path, id))
            })
            .collect();
        let upstream: Vec<&str> = all
            .iter()
            .map(libtest_mimic::Trial::name)
            .filter(|name| name.starts_with("nostore::upstream::"))
            .collect();
        assert_eq!(upstream, expected);
        assert_eq!(upstream.len(), manifest.case_count);
        // Named as the real trial would be: `<store>::upstream::<file stem>::<case id>`.
        let first = &manifest.files[0];
        let stem = first
            .path
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".json");
        assert_eq!(
            upstream[0],
            format!("nostore::upstream::{stem}::{}", first.cases[0])
        );

        // Run only those trials, logging to a file: each is ignored with the reason, none
        // passes or fails.
        let log =
            std::env::temp_dir().join(format!("ft-missing-trials-{}.log", std::process::id()));
        let arguments = libtest_mimic::Arguments {
            filter: Some("nostore::upstream::".into()),
            test_threads: Some(1),
            color: Some(libtest_mimic::ColorSetting::Never),
            logfile: Some(log.display().to_string()),
            ..libtest_mimic::Arguments::default()
        };
        let conclusion = libtest_mimic::run(&arguments, all);
        assert_eq!(conclusion.num_ignored, manifest.case_count as u64);
        assert_eq!((conclusion.num_passed, conclusion.num_failed), (0, 0));
        let reason = corpora.missing_upstream.unwrap().reason();
        assert!(
            reason.contains("/nonexistent/flametrench-spec/conformance"),
            "{reason}"
        );
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        let ignored: Vec<&str> = text
            .lines()
            .filter(|line| line.ends_with(&format!("... ignored ({reason})")))
            .collect();
        assert_eq!(ignored.len(), manifest.case_count, "{text}");
        for name in &expected {
            assert!(
                ignored
                    .iter()
                    .any(|line| line.starts_with(&format!("test {name} "))),
                "{name} in {text}"
            );
        }
    }

    #[test]
    fn substitution_is_whole_string_and_recursive() {
        let vars = HashMap::from([
            ("alice".to_owned(), json!("usr_1")),
            ("none".to_owned(), Value::Null),
        ]);
        let input = json!({"a": "{alice}", "b": ["{none}", "x{alice}"], "c": {"d": "{alice}"}});
        assert_eq!(
            substitute(&input, &vars).unwrap(),
            json!({"a": "usr_1", "b": [null, "x{alice}"], "c": {"d": "usr_1"}})
        );
        assert!(substitute(&json!("{bob}"), &vars).is_err());
    }

    #[test]
    fn subset_and_walk() {
        let actual = json!({"a": 1, "b": {"c": [1, 2]}, "page": {"next_cursor": null}});
        assert!(subset(&json!({"b": {"c": [1, 2]}}), &actual));
        assert!(!subset(&json!({"b": {"c": [1]}}), &actual));
        assert!(!subset(&json!({"z": 1}), &actual));
        assert_eq!(walk(&actual, "page.next_cursor"), Some(&Value::Null));
        assert_eq!(walk(&actual, "b.c.1"), Some(&json!(2)));
        assert_eq!(walk(&actual, "b.x"), None);
    }

    #[test]
    fn error_names() {
        let error = TenancyError::precondition(
            flametrench_tenancy_core::PreconditionReason::IdentifierMismatch,
        );
        assert!(error_is(&error, "PreconditionError").unwrap());
        assert!(error_is(&error, "IdentifierMismatchError").unwrap());
        assert!(!error_is(&error, "IdentifierBindingRequiredError").unwrap());
        assert!(error_is(&TenancyError::SoleOwner, "TenancyError").unwrap());
        assert!(error_is(&TenancyError::SoleOwner, "Nonsense").is_err());
    }
}
