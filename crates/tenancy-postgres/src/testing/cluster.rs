//! Finding or starting a PostgreSQL server, and handing out per-test databases.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use deadpool_postgres::{Manager, ManagerConfig, Pool, QueueMode, RecyclingMethod};
use tokio::sync::Mutex;
use tokio_postgres::{Client, Config, NoTls};

use crate::migrate::migrate;

/// Why test support could not provide a server or database.
#[derive(Debug)]
pub struct TestSupportError(pub String);

impl std::fmt::Display for TestSupportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TestSupportError {}

pub(super) fn fail(message: impl Into<String>) -> TestSupportError {
    TestSupportError(message.into())
}

/// A throwaway cluster this process started.
#[derive(Debug)]
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    as_postgres_user: bool,
}

impl Cluster {
    fn pg_ctl(&self, args: &[&str]) -> Command {
        pg_ctl(&self.bin, self.as_postgres_user, args)
    }
}

/// The server tool `tool` of `bin` (`initdb` refuses to run as root): as the `postgres` user
/// when `as_postgres_user`.
fn server_tool(bin: &Path, tool: &str, as_postgres_user: bool) -> Command {
    if as_postgres_user {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        command
    } else {
        Command::new(bin.join(tool))
    }
}

/// `pg_ctl` with `args`, its output discarded.
pub(super) fn pg_ctl(bin: &Path, as_postgres_user: bool, args: &[&str]) -> Command {
    let mut command = server_tool(bin, "pg_ctl", as_postgres_user);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// `initdb` of a throwaway data directory `data`: trust authentication, no fsync, the C locale.
pub(super) fn initdb(bin: &Path, as_postgres_user: bool, data: &Path) -> Command {
    let mut command = server_tool(bin, "initdb", as_postgres_user);
    command.arg("-D").arg(data).args([
        "-U",
        "postgres",
        "-A",
        "trust",
        "-N",
        "--locale=C",
        "-E",
        "UTF8",
    ]);
    command
}

/// A new directory for a throwaway cluster, given to the `postgres` user when
/// `as_postgres_user`.
pub(super) fn cluster_dir(
    prefix: &str,
    as_postgres_user: bool,
) -> Result<PathBuf, TestSupportError> {
    let dir = std::env::temp_dir().join(unique(prefix));
    std::fs::create_dir_all(&dir).map_err(|error| fail(format!("{}: {error}", dir.display())))?;
    if as_postgres_user {
        let mut chown = Command::new("chown");
        chown.args(["postgres:postgres"]).arg(&dir);
        if let Err(error) = run(chown, "chown of the cluster directory") {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
    }
    Ok(dir)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var_os("TENANCY_KEEP_PG").is_some_and(|value| value == "1") {
            eprintln!("keeping the test cluster in {}", self.dir.display());
            return;
        }
        let data = self.dir.join("data");
        let _ = self
            .pg_ctl(&[
                "-D",
                &data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL server for tests: `DATABASE_URL`, or a throwaway cluster owned by this value.
#[derive(Debug)]
pub struct TestPostgres {
    admin: Config,
    url: String,
    cluster: Option<Cluster>,
    template: Mutex<Option<String>>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(super) fn unique(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{:08x}{count:x}", random as u32)
}

pub(super) fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        if bin.join("initdb").exists() {
            return Some(bin);
        }
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if bin.join("initdb").exists() {
            return Some(bin);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

pub(super) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(54_329)
}

pub(super) fn run(mut command: Command, what: &str) -> Result<(), TestSupportError> {
    let output = command
        .output()
        .map_err(|error| fail(format!("{what}: {error}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(fail(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

impl TestPostgres {
    /// The server of `DATABASE_URL`, or a new throwaway cluster.
    ///
    /// # Errors
    ///
    /// When `DATABASE_URL` is unset and no PostgreSQL binaries are found (the message says how
    /// to install them), or the cluster does not start.
    pub async fn start() -> Result<Self, TestSupportError> {
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::from_url(&url),
            _ => tokio::task::spawn_blocking(Self::start_cluster)
                .await
                .map_err(|error| fail(error.to_string()))?,
        }
    }

    /// Uses the server at `url`, which tests may create databases on.
    ///
    /// # Errors
    ///
    /// When `url` is not a valid connection string.
    pub fn from_url(url: &str) -> Result<Self, TestSupportError> {
        let admin =
            Config::from_str(url).map_err(|error| fail(format!("DATABASE_URL: {error}")))?;
        Ok(Self {
            admin,
            url: url.to_owned(),
            cluster: None,
            template: Mutex::new(None),
        })
    }

    fn start_cluster() -> Result<Self, TestSupportError> {
        let bin = find_bin().ok_or_else(|| {
            fail(
                "no PostgreSQL server binaries found and DATABASE_URL is unset: install them \
                 (Debian/Ubuntu: `apt-get install postgresql`), point PG_BIN at their directory, \
                 or set DATABASE_URL to a disposable server",
            )
        })?;
        let as_postgres_user = is_root();
        let dir = cluster_dir("flametrench-pg", as_postgres_user)?;
        let cluster = Cluster {
            bin: bin.clone(),
            dir: dir.clone(),
            as_postgres_user,
        };
        let data = dir.join("data");
        let initdb = initdb(&bin, as_postgres_user, &data);
        run(initdb, "initdb")?;
        let port = free_port();
        let options = format!(
            "-k {} -p {port} -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("log");
        let start = cluster.pg_ctl(&[
            "-D",
            &data.to_string_lossy(),
            "-l",
            &log.to_string_lossy(),
            "-w",
            "-o",
            &options,
            "start",
        ]);
        run(start, "pg_ctl start").map_err(|error| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            fail(format!("{error}\n{log}"))
        })?;
        let url = format!(
            "postgresql://postgres@localhost/postgres?host={}&port={port}",
            dir.display()
        );
        let mut admin = Config::new();
        admin
            .host_path(&dir)
            .port(port)
            .user("postgres")
            .dbname("postgres");
        Ok(Self {
            admin,
            url,
            cluster: Some(cluster),
            template: Mutex::new(None),
        })
    }

    /// Restarts a throwaway cluster (`pg_ctl restart -m fast`): every connection is dropped and
    /// the server comes back on the same socket. Blocks until it accepts connections again.
    ///
    /// # Errors
    ///
    /// With `DATABASE_URL` (the server is not ours to restart), or when `pg_ctl` fails.
    pub fn restart(&self) -> Result<(), TestSupportError> {
        let cluster = self
            .cluster
            .as_ref()
            .ok_or_else(|| fail("cannot restart a DATABASE_URL server"))?;
        let data = cluster.dir.join("data");
        let log = cluster.dir.join("log");
        run(
            cluster.pg_ctl(&[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-m",
                "fast",
                "-w",
                "restart",
            ]),
            "pg_ctl restart",
        )
    }

    /// A connection string for the admin database of this server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The admin connection configuration.
    pub fn config(&self) -> Config {
        self.admin.clone()
    }

    /// The directory of a throwaway cluster (its unix socket lives there).
    pub fn cluster_dir(&self) -> Option<&Path> {
        self.cluster.as_ref().map(|cluster| cluster.dir.as_path())
    }

    /// The configuration for `database` on this server.
    pub fn config_for(&self, database: &str) -> Config {
        let mut config = self.admin.clone();
        config.dbname(database);
        config
    }

    /// Connects with `config`, driving the connection on a spawned task.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn connect(config: &Config) -> Result<Client, TestSupportError> {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|error| fail(format!("connect: {error}")))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(client)
    }

    async fn admin_client(&self) -> Result<Client, TestSupportError> {
        Self::connect(&self.admin).await
    }

    /// A new empty database (no tables).
    ///
    /// # Errors
    ///
    /// When the server refuses.
    pub async fn empty_database(&self) -> Result<TestDatabase, TestSupportError> {
        let name = unique("ft_test");
        self.admin_client()
            .await?
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|error| fail(format!("create database: {error}")))?;
        Ok(TestDatabase {
            config: self.config_for(&name),
            name,
        })
    }

    /// A new database with the tenancy tables in `public`, cloned from a migrated template
    /// (made on first use).
    ///
    /// # Errors
    ///
    /// When the server refuses or the migration fails.
    pub async fn fresh_database(&self) -> Result<TestDatabase, TestSupportError> {
        // Cloning needs the template free of other sessions; one clone at a time.
        let mut template = self.template.lock().await;
        if template.is_none() {
            let made = self.empty_database().await?;
            let mut client = Self::connect(&made.config).await?;
            migrate(&mut client, "public")
                .await
                .map_err(|error| fail(format!("migrate: {error}")))?;
            drop(client);
            *template = Some(made.name);
        }
        let source = template.clone().unwrap_or_default();
        let name = unique("ft_test");
        let admin = self.admin_client().await?;
        let mut attempts = 0;
        loop {
            match admin
                .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {source}"))
                .await
            {
                Ok(()) => break,
                // The template's last session may still be closing.
                Err(_) if attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(error) => return Err(fail(format!("create database from template: {error}"))),
            }
        }
        Ok(TestDatabase {
            config: self.config_for(&name),
            name,
        })
    }
}

/// One test's database.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    name: String,
    config: Config,
}

impl TestDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its connection configuration.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// A new connection, driven on a spawned task.
    ///
    /// # Errors
    ///
    /// When the connection fails.
    pub async fn connect(&self) -> Result<Client, TestSupportError> {
        TestPostgres::connect(&self.config).await
    }

    /// A pool of up to `max_size` connections.
    ///
    /// # Errors
    ///
    /// When the pool cannot be built.
    pub fn pool(&self, max_size: usize) -> Result<Pool, TestSupportError> {
        pool_for(self.config.clone(), max_size)
    }
}

/// A deadpool pool of up to `max_size` connections made with `config` (no TLS, fast recycling,
/// LIFO queue, so the connection used last, with its warm server process, is handed out next):
/// the pool every test and tool builds, whether straight to the server, through a proxy or as
/// another role.
///
/// # Errors
///
/// When the pool cannot be built.
pub fn pool_for(config: Config, max_size: usize) -> Result<Pool, TestSupportError> {
    pool_with_queue(config, max_size, QueueMode::Lifo)
}

/// [`pool_for`] with the queue order chosen: the benchmark compares FIFO with LIFO.
///
/// # Errors
///
/// When the pool cannot be built.
pub fn pool_with_queue(
    config: Config,
    max_size: usize,
    queue: QueueMode,
) -> Result<Pool, TestSupportError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .queue_mode(queue)
        .build()
        .map_err(|error| fail(format!("pool: {error}")))
}
