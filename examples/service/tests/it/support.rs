//! The service on a loopback port, and requests to it: each answer is its status and its JSON
//! body, with helpers that assert a success or a refusal and its envelope.

use flametrench_example_service::{ACTOR_HEADER, ACTOR_IDENTIFIER_HEADER, AppState, router};
use flametrench_tenancy_core::ids::UsrId;
use serde_json::Value;

/// The service, listening on a free loopback port of this process. Cloning is cheap and every
/// clone talks to the same service, so a request can be sent from a spawned task.
#[derive(Clone)]
pub(crate) struct Service {
    http: reqwest::Client,
    base: String,
}

impl Service {
    pub(crate) async fn start(state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
        Self {
            http: reqwest::Client::new(),
            base,
        }
    }

    /// Requests made as `actor`.
    pub(crate) fn by(&self, actor: UsrId) -> Caller<'_> {
        Caller {
            service: self,
            actor: Some(actor.to_string()),
            identifier: None,
        }
    }

    /// Requests without a valid actor: no bearer token, or the token `raw`.
    pub(crate) fn anonymous(&self, raw: Option<&str>) -> Caller<'_> {
        Caller {
            service: self,
            actor: raw.map(str::to_owned),
            identifier: None,
        }
    }
}

/// One caller's request headers.
pub(crate) struct Caller<'s> {
    service: &'s Service,
    actor: Option<String>,
    identifier: Option<String>,
}

impl Caller<'_> {
    /// The same caller with a verified identifier in `x-actor-identifier`.
    pub(crate) fn verified(mut self, identifier: &str) -> Self {
        self.identifier = Some(identifier.to_owned());
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .service
            .http
            .request(method, format!("{}{path}", self.service.base));
        if let Some(actor) = &self.actor {
            request = request.header(ACTOR_HEADER, format!("Bearer {actor}"));
        }
        if let Some(identifier) = &self.identifier {
            request = request.header(ACTOR_IDENTIFIER_HEADER, identifier);
        }
        request
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        Answer::of(self.request(reqwest::Method::GET, path)).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        Answer::of(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Answer {
        Answer::of(self.request(reqwest::Method::PUT, path).json(&body)).await
    }

    /// A POST with no body at all.
    pub(crate) async fn post_empty(&self, path: &str) -> Answer {
        Answer::of(self.request(reqwest::Method::POST, path)).await
    }

    /// A POST whose body is `raw`, as written.
    pub(crate) async fn delete(&self, path: &str) -> Answer {
        Answer::of(self.request(reqwest::Method::DELETE, path)).await
    }

    pub(crate) async fn post_raw(&self, path: &str, raw: &str) -> Answer {
        let request = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(raw.to_owned());
        Answer::of(request).await
    }
}

/// A response: its status and its JSON body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    async fn of(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {status} {text:?}"));
        Self { status, body }
    }

    /// The body of a success with `status`.
    #[track_caller]
    pub(crate) fn ok(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    /// The envelope of a failure with `status` and `code`, checked against the `Error` schema.
    #[track_caller]
    pub(crate) fn refused(self, status: u16, code: &str) -> Value {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            self.body
        );
        let envelope = self.body.as_object().unwrap();
        assert!(envelope["message"].is_string(), "{}", self.body);
        assert!(
            envelope
                .keys()
                .all(|key| ["code", "message", "details"].contains(&key.as_str())),
            "{}",
            self.body
        );
        self.body
    }
}

/// The string `value` holds.
#[track_caller]
pub(crate) fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}
