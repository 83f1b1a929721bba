//! A Citus cluster for tests: a coordinator and two workers on 127.0.0.1, or the cluster whose
//! coordinator `CITUS_URL` names. Tests isolate by schema, because Citus does not propagate
//! `CREATE DATABASE`: [`TestCitus::fresh_schema`] makes a schema laid out for Citus
//! ([`Layout::Distributed`](crate::Layout::Distributed)).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio_postgres::{Client, Config};

use super::TestSupportError;
use super::cluster::{
    TestPostgres, cluster_dir, fail, find_bin, free_port, initdb, is_root, pg_ctl, pool_for, run,
    unique,
};
use crate::migrate::{Layout, migrate_with_layout};

/// The variable naming an existing cluster's coordinator (a disposable one: tests create and
/// drop schemas on it).
pub const CITUS_URL_ENV: &str = "CITUS_URL";

/// How many shards the tests' own cluster gives a distributed table (Citus's default is 32):
/// enough to spread orgs over both workers, few enough that a schema is made in well under a
/// second.
const TEST_SHARD_COUNT: u32 = 4;

/// A Citus cluster for tests. One started by this process is stopped, and its files removed,
/// when the value is dropped, or, for [`TestCitus::shared`], when the process exits.
#[derive(Debug)]
pub struct TestCitus {
    coordinator: Config,
    url: String,
    nodes: Option<Nodes>,
}

/// The nodes this process started: their directory, data directories and ports.
#[derive(Debug)]
struct Nodes {
    bin: PathBuf,
    dir: PathBuf,
    ports: Vec<u16>,
    as_postgres_user: bool,
}

impl Nodes {
    fn pg_ctl(&self, args: &[&str]) -> Command {
        pg_ctl(&self.bin, self.as_postgres_user, args)
    }

    fn data(&self, port: u16) -> String {
        self.dir
            .join(port.to_string())
            .to_string_lossy()
            .into_owned()
    }

    /// A shell line that stops every node at once and removes the files.
    fn stop_script(&self) -> String {
        let mut script = String::new();
        for &port in &self.ports {
            let pg_ctl = self.bin.join("pg_ctl");
            let stop = format!(
                "{} -D {} -m immediate -w stop >/dev/null 2>&1; ",
                pg_ctl.display(),
                self.data(port)
            );
            if self.as_postgres_user {
                script.push_str(&format!("runuser -u postgres -- {stop}"));
            } else {
                script.push_str(&stop);
            }
        }
        script.push_str(&format!("rm -rf {}", self.dir.display()));
        script
    }

    fn stop(&self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_script()])
            .stdin(Stdio::null())
            .status();
    }
}

impl Drop for TestCitus {
    fn drop(&mut self) {
        if let Some(nodes) = &self.nodes {
            if std::env::var_os("TENANCY_KEEP_PG").is_some_and(|value| value == "1") {
                eprintln!("keeping the Citus cluster in {}", nodes.dir.display());
                return;
            }
            nodes.stop();
        }
    }
}

static SHARED: tokio::sync::OnceCell<Arc<TestCitus>> = tokio::sync::OnceCell::const_new();

impl TestCitus {
    /// The cluster of `CITUS_URL`, or a new one of a coordinator and two workers.
    ///
    /// # Errors
    ///
    /// When `CITUS_URL` is not a connection string, no PostgreSQL binaries or no Citus
    /// extension is found (the message says how to build it), or a node does not start.
    pub async fn start() -> Result<Self, TestSupportError> {
        match std::env::var(CITUS_URL_ENV) {
            Ok(url) if !url.is_empty() => {
                let coordinator = Config::from_str(&url)
                    .map_err(|error| fail(format!("{CITUS_URL_ENV}: {error}")))?;
                Ok(Self {
                    coordinator,
                    url,
                    nodes: None,
                })
            }
            _ => Self::start_nodes(false).await,
        }
    }

    /// As [`start`](Self::start), with `pg_stat_statements` loaded on every node this process
    /// starts (`track = all`, so that statements run inside functions are counted too): for a
    /// benchmark that shows where each node's time goes. The extension must be installed with
    /// the server (PostgreSQL's contrib).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub async fn start_measured() -> Result<Self, TestSupportError> {
        match std::env::var(CITUS_URL_ENV) {
            Ok(url) if !url.is_empty() => Self::start().await,
            _ => Self::start_nodes(true).await,
        }
    }

    /// One cluster for the whole process, started on first use and stopped when the process
    /// exits (a watcher process stops it and removes its files).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); every caller gets the first failure's message.
    pub async fn shared() -> Result<Arc<Self>, TestSupportError> {
        SHARED
            .get_or_try_init(|| async {
                let cluster = Self::start().await?;
                if let Some(nodes) = &cluster.nodes {
                    watch(nodes)?;
                }
                Ok::<_, TestSupportError>(Arc::new(cluster))
            })
            .await
            .cloned()
    }

    async fn start_nodes(measured: bool) -> Result<Self, TestSupportError> {
        let bin = find_bin().ok_or_else(|| {
            fail("no PostgreSQL server binaries found and CITUS_URL is unset: install them")
        })?;
        let lib = Command::new(bin.join("pg_config"))
            .arg("--pkglibdir")
            .output()
            .ok()
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        let has_citus = lib
            .as_ref()
            .is_some_and(|lib| lib.join("citus.so").exists())
            || PathBuf::from("/usr/lib/postgresql")
                .read_dir()
                .map(|mut dirs| {
                    dirs.any(|dir| dir.is_ok_and(|dir| dir.path().join("lib/citus.so").exists()))
                })
                .unwrap_or(false);
        if !has_citus {
            return Err(fail(
                "the citus extension is not installed and CITUS_URL is unset: build it from \
                 ../shared/citus (`.ci/run` does), or point CITUS_URL at a cluster",
            ));
        }
        let as_postgres_user = is_root();
        let dir = cluster_dir("flametrench-citus", as_postgres_user)?;
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let nodes = Nodes {
            bin: bin.clone(),
            dir: dir.clone(),
            ports: ports.clone(),
            as_postgres_user,
        };
        // From here on, a failure stops what started.
        let cluster = Self {
            coordinator: node_config(ports[0]),
            url: format!("postgresql://postgres@127.0.0.1:{}/postgres", ports[0]),
            nodes: Some(nodes),
        };
        let nodes = cluster.nodes.as_ref().ok_or_else(|| fail("no nodes"))?;
        let mut handles = Vec::new();
        for (index, &port) in ports.iter().enumerate() {
            let data = nodes.data(port);
            let initdb = initdb(&bin, as_postgres_user, Path::new(&data));
            let measuring = if measured {
                ",pg_stat_statements -c pg_stat_statements.track=all"
            } else {
                ""
            };
            let shards = if index == 0 {
                format!(" -c citus.shard_count={TEST_SHARD_COUNT}")
            } else {
                String::new()
            };
            let options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=citus{measuring} \
                 -c max_prepared_transactions=200 -c max_connections=300 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off{shards}",
                dir.display()
            );
            let log = dir
                .join(format!("{port}.log"))
                .to_string_lossy()
                .into_owned();
            let start = nodes.pg_ctl(&["-D", &data, "-l", &log, "-w", "-o", &options, "start"]);
            handles.push(std::thread::spawn(move || {
                run(initdb, "initdb")?;
                run(start, "pg_ctl start").map_err(|error| {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    fail(format!("{error}\n{log}"))
                })
            }));
        }
        for handle in handles {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(|error| fail(error.to_string()))?
                .map_err(|_| fail("a node's start panicked"))??;
        }
        for &port in &ports {
            let client = TestPostgres::connect(&node_config(port)).await?;
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS citus")
                .await
                .map_err(|error| fail(format!("CREATE EXTENSION citus on {port}: {error}")))?;
        }
        let coordinator = TestPostgres::connect(&node_config(ports[0])).await?;
        coordinator
            .execute(
                "SELECT citus_set_coordinator_host('127.0.0.1', $1)",
                &[&i32::from(ports[0])],
            )
            .await
            .map_err(|error| fail(format!("citus_set_coordinator_host: {error}")))?;
        for &port in &ports[1..] {
            coordinator
                .execute(
                    "SELECT citus_add_node('127.0.0.1', $1)",
                    &[&i32::from(port)],
                )
                .await
                .map_err(|error| fail(format!("citus_add_node {port}: {error}")))?;
        }
        Ok(cluster)
    }

    /// The coordinator's connection string (its `postgres` database).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The coordinator's connection configuration.
    pub fn config(&self) -> Config {
        self.coordinator.clone()
    }

    /// The ports of the nodes this process started, the coordinator's first; empty for the
    /// cluster of `CITUS_URL`.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .as_ref()
            .map(|nodes| nodes.ports.clone())
            .unwrap_or_default()
    }

    /// The connection configuration of every node this process started, the coordinator's
    /// first; the coordinator's alone for the cluster of `CITUS_URL`.
    pub fn node_configs(&self) -> Vec<Config> {
        match &self.nodes {
            Some(nodes) => nodes.ports.iter().map(|&port| node_config(port)).collect(),
            None => vec![self.coordinator.clone()],
        }
    }

    /// A connection to the coordinator, driven on a spawned task.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn connect(&self) -> Result<Client, TestSupportError> {
        TestPostgres::connect(&self.coordinator).await
    }

    /// A new schema with the tenancy tables in the distributed layout.
    ///
    /// # Errors
    ///
    /// When the coordinator refuses or the migration fails.
    pub async fn fresh_schema(&self) -> Result<CitusSchema, TestSupportError> {
        let schema = unique("ft_citus");
        let mut client = self.connect().await?;
        migrate_with_layout(&mut client, &schema, Layout::Distributed)
            .await
            .map_err(|error| {
                let mut cause = String::new();
                let mut source = std::error::Error::source(&error);
                while let Some(inner) = source {
                    cause.push_str(&format!(": {inner:?}"));
                    source = inner.source();
                }
                fail(format!("migrate (distributed): {error}{cause}"))
            })?;
        let mut config = self.coordinator.clone();
        config.options(format!("-c search_path={schema}"));
        Ok(CitusSchema { schema, config })
    }
}

/// One test's schema on a Citus cluster.
#[derive(Debug, Clone)]
pub struct CitusSchema {
    schema: String,
    config: Config,
}

impl CitusSchema {
    /// The schema's name: give it to the store (`with_schema`).
    pub fn name(&self) -> &str {
        &self.schema
    }

    /// The coordinator's configuration, with `search_path` set to the schema.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// A new connection to the coordinator, with `search_path` set to the schema.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn connect(&self) -> Result<Client, TestSupportError> {
        TestPostgres::connect(&self.config).await
    }

    /// A pool of up to `max_size` connections to the coordinator.
    ///
    /// # Errors
    ///
    /// When the pool cannot be built.
    pub fn pool(&self, max_size: usize) -> Result<Pool, TestSupportError> {
        pool_for(self.config.clone(), max_size)
    }
}

fn node_config(port: u16) -> Config {
    let mut config = Config::new();
    config
        .host("127.0.0.1")
        .port(port)
        .user("postgres")
        .dbname("postgres");
    config
}

/// Starts a process that waits for this one to exit, then stops the nodes and removes their
/// files: a static cluster is never dropped.
fn watch(nodes: &Nodes) -> Result<(), TestSupportError> {
    if std::env::var_os("TENANCY_KEEP_PG").is_some_and(|value| value == "1") {
        return Ok(());
    }
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 0.5; done; {}",
        std::process::id(),
        nodes.stop_script()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|error| fail(format!("the cluster's watcher: {error}")))
}
