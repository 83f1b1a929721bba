//! Runs cases: ids cases against the id functions, tenancy cases against a store from a factory.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use flametrench_ids::{IdError, UsrId};
use flametrench_tenancy_core::{
    EntityType, ManualClock, SharedClock, TenancyError, TenancyStore, parse_object_id,
};
use serde_json::{Map, Value};

use crate::corpus::{Corpus, Expected, FixtureFile, Step, TestCase};
use crate::ops::{self, Called, HarnessError};
use crate::report::{CaseOutcome, CorpusReport, Recorder};

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

    /// Builds a fresh, empty store taking its time from `clock`, runs `body` against it, checks
    /// the store's invariants in the state the body left (with the store's own checker, seeing
    /// what the store sees: inside a caller's transaction, before it ends), and disposes of the
    /// store. An error means the store could not be built.
    fn with_store<'a, B: TestBody>(
        &'a self,
        clock: SharedClock,
        body: B,
    ) -> BoxFuture<'a, Result<CaseRun, String>>;
}

/// What a factory hands back after a case: the body's outcome, and what the store's invariant
/// check found in the state the case left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRun {
    /// The body's outcome.
    pub outcome: CaseOutcome,
    /// Each broken invariant, described (empty when all hold).
    pub violations: Vec<String>,
}

impl CaseRun {
    /// `outcome` with the result of the store's invariant check: its violations, or the reason
    /// it could not run, which counts as one (an unchecked case does not pass).
    pub fn checked<E: Display>(outcome: CaseOutcome, check: Result<Vec<String>, E>) -> Self {
        let violations = check.unwrap_or_else(|error| vec![format!("the check failed: {error}")]);
        Self {
            outcome,
            violations,
        }
    }

    /// The case's outcome: failed when the body failed or an invariant is broken, with the
    /// broken invariants after the body's message.
    pub fn verdict(self) -> CaseOutcome {
        if self.violations.is_empty() {
            return self.outcome;
        }
        let broken = format!(
            "invariants broken after the case: {}",
            self.violations.join("; ")
        );
        match self.outcome {
            CaseOutcome::Passed => CaseOutcome::Failed(broken),
            CaseOutcome::Failed(message) => CaseOutcome::Failed(format!("{message}; {broken}")),
        }
    }
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
        Ok(run) => run.verdict(),
        Err(message) => CaseOutcome::Failed(format!("could not build the store: {message}")),
    }
}

/// Runs every case of every corpus against `factory`.
pub async fn run_corpus<F: StoreFactory>(factory: &F, corpora: &[Corpus]) -> CorpusReport {
    let recorder = Recorder::default();
    let store = recorder.register(&factory.name(), corpora);
    let files = corpora.iter().flat_map(|corpus| &corpus.files);
    for (index, file) in files.enumerate() {
        for (case_index, case) in file.tests.iter().enumerate() {
            let outcome = run_case(factory, file, case).await;
            recorder.record(store, index, case_index, outcome);
        }
    }
    recorder.reports().pop().unwrap_or_else(|| CorpusReport {
        store: factory.name(),
        files: Vec::new(),
    })
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
    let mut text = format!("{kind} {} ({error}", error.code());
    // A backend error's causes say what the server refused.
    if error.code() == "storage.backend" {
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
    }
    text.push(')');
    text
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
            match store.get_invitation(inv, None).await {
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
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use serde_json::json;

    /// A factory whose invariant check finds what it is given, without running the body
    /// against a store (this crate has none): what the runner makes of each check.
    struct Checked {
        outcome: CaseOutcome,
        check: Result<Vec<String>, String>,
        calls: Mutex<usize>,
    }

    impl StoreFactory for Checked {
        fn name(&self) -> String {
            "checked".into()
        }

        fn with_store<'a, B: TestBody>(
            &'a self,
            _clock: SharedClock,
            _body: B,
        ) -> BoxFuture<'a, Result<CaseRun, String>> {
            *self.calls.lock().unwrap() += 1;
            let run = CaseRun::checked(self.outcome.clone(), self.check.clone());
            Box::pin(async move { Ok(run) })
        }
    }

    #[test]
    fn a_broken_invariant_after_a_case_fails_it() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let corpus = Corpus::load(workspace.join("conformance")).unwrap();
        let file = corpus
            .files
            .iter()
            .find(|file| file.capability == "tenancy")
            .expect("a tenancy file");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let outcome = |outcome: CaseOutcome, check: Result<Vec<String>, String>| {
            let factory = Checked {
                outcome,
                check,
                calls: Mutex::new(0),
            };
            let outcome = runtime.block_on(run_case(&factory, file, &file.tests[0]));
            assert_eq!(*factory.calls.lock().unwrap(), 1, "the case ran once");
            outcome
        };
        let violation = "org with active members but no active owner: 1".to_owned();
        assert_eq!(
            outcome(CaseOutcome::Passed, Ok(Vec::new())),
            CaseOutcome::Passed
        );
        assert_eq!(
            outcome(CaseOutcome::Passed, Ok(vec![violation.clone()])),
            CaseOutcome::Failed(format!("invariants broken after the case: {violation}"))
        );
        assert_eq!(
            outcome(
                CaseOutcome::Failed("step 2: expected X".into()),
                Ok(vec![violation.clone()])
            ),
            CaseOutcome::Failed(format!(
                "step 2: expected X; invariants broken after the case: {violation}"
            ))
        );
        // A check that cannot run is no pass.
        assert_eq!(
            outcome(CaseOutcome::Passed, Err("connection closed".into())),
            CaseOutcome::Failed(
                "invariants broken after the case: the check failed: connection closed".into()
            )
        );
        // Whole reports say the same.
        let factory = Checked {
            outcome: CaseOutcome::Passed,
            check: Ok(vec![violation]),
            calls: Mutex::new(0),
        };
        let report = runtime.block_on(run_corpus(&factory, std::slice::from_ref(&corpus)));
        assert_eq!(report.passed(), 0);
        assert!(report.failed() > 0);
        assert_eq!(report.failed(), corpus.case_count() - ids_cases(&corpus));
    }

    /// The cases of `corpus` that need no store (the factory never sees them).
    fn ids_cases(corpus: &Corpus) -> usize {
        corpus
            .files
            .iter()
            .filter(|file| file.capability == "ids")
            .map(|file| file.tests.len())
            .sum()
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
