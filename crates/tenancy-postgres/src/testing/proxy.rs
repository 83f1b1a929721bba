//! A loopback TCP proxy between a client and the test server that understands the PostgreSQL
//! wire framing: it counts round trips and statements, logs the SQL the client sends, can
//! cut a connection after the k-th client message, and can add latency: each chunk is delivered
//! a fixed time after it arrived, in both directions, without chunks waiting behind each other.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::watch;
use tokio_postgres::Config;
use tokio_postgres::config::Host;

use super::cluster::TestSupportError;

/// Counts seen by a [`PgProxy`] since its last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Flights the client sent after the server had answered everything before
    /// (`ReadyForQuery`): the round trips the client waited for.
    pub round_trips: u64,
    /// Statements executed: simple `Query` messages plus extended-protocol `Execute` messages.
    pub statements: u64,
    /// Frontend messages after startup.
    pub messages: u64,
    /// SQL text of every `Query` and `Parse` message, in order.
    pub sql: Vec<String>,
}

#[derive(Default)]
struct Shared {
    round_trips: AtomicU64,
    statements: AtomicU64,
    messages: AtomicU64,
    sql: Mutex<Vec<String>>,
    /// Messages still allowed before the proxy cuts the connection; `u64::MAX` = no limit.
    allowance: AtomicU64,
    cut: AtomicBool,
    /// Wakes every connection to close it ([`PgProxy::sever_all`]).
    sever: tokio::sync::Notify,
    /// Added to every chunk's delivery, in each direction.
    one_way: Duration,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyCounters")
    }
}

/// Where the proxy connects to.
#[derive(Debug, Clone)]
enum Upstream {
    Unix(PathBuf),
    Tcp(String),
}

/// The proxy. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct PgProxy {
    port: u16,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl PgProxy {
    /// Starts a proxy in front of the server `config` points at.
    ///
    /// # Errors
    ///
    /// When no local port can be bound or `config` names no host.
    pub async fn start(config: &Config) -> Result<Self, TestSupportError> {
        Self::start_with_latency(config, Duration::ZERO).await
    }

    /// [`start`](Self::start), delivering every chunk `one_way` after it arrived, in both
    /// directions: a round trip through the proxy takes `2 × one_way` longer. Chunks do not
    /// wait behind each other (each is due at its own arrival time plus the delay), as on a
    /// network link.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    pub async fn start_with_latency(
        config: &Config,
        one_way: Duration,
    ) -> Result<Self, TestSupportError> {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let upstream = match config.get_hosts().first() {
            Some(Host::Unix(dir)) => Upstream::Unix(dir.join(format!(".s.PGSQL.{port}"))),
            Some(Host::Tcp(host)) => Upstream::Tcp(format!("{host}:{port}")),
            None => return Err(TestSupportError("the server config names no host".into())),
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|error| TestSupportError(format!("proxy bind: {error}")))?;
        let local = listener
            .local_addr()
            .map_err(|error| TestSupportError(format!("proxy address: {error}")))?;
        let shared = Arc::new(Shared {
            one_way,
            ..Shared::default()
        });
        shared.allowance.store(u64::MAX, Ordering::SeqCst);
        let (stop, mut stopped) = watch::channel(false);
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { break };
                        let shared = accept_shared.clone();
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            let _ = serve(client, upstream, shared).await;
                        });
                    }
                }
            }
        });
        Ok(Self {
            port: local.port(),
            shared,
            stop,
        })
    }

    /// A copy of `config` that connects through the proxy.
    pub fn config_for(&self, config: &Config) -> Config {
        let mut through = Config::new();
        through.host("127.0.0.1").port(self.port);
        if let Some(user) = config.get_user() {
            through.user(user);
        }
        if let Some(dbname) = config.get_dbname() {
            through.dbname(dbname);
        }
        if let Some(password) = config.get_password() {
            through.password(password);
        }
        through
    }

    /// The counts since the last reset.
    pub fn stats(&self) -> ProxyStats {
        let shared = &self.shared;
        ProxyStats {
            round_trips: shared.round_trips.load(Ordering::SeqCst),
            statements: shared.statements.load(Ordering::SeqCst),
            messages: shared.messages.load(Ordering::SeqCst),
            sql: shared
                .sql
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }

    /// Sets every count to zero and forgets the logged SQL.
    pub fn reset(&self) {
        let shared = &self.shared;
        shared.round_trips.store(0, Ordering::SeqCst);
        shared.statements.store(0, Ordering::SeqCst);
        shared.messages.store(0, Ordering::SeqCst);
        shared
            .sql
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Cuts the connection that carries the `k + 1`-th client message from now on (after
    /// forwarding exactly `k`), once; or lifts the limit with `None`.
    pub fn cut_after_client_messages(&self, k: Option<u64>) {
        self.shared
            .allowance
            .store(k.unwrap_or(u64::MAX), Ordering::SeqCst);
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Closes every connection the proxy carries now, both ways, as a failed network would:
    /// the client sees its connection break, and the server learns of it only when it next
    /// writes to the connection. New connections are carried as usual.
    pub fn sever_all(&self) {
        self.shared.sever.notify_waiters();
    }

    /// Whether a cut happened since the limit was set.
    pub fn did_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(client: TcpStream, upstream: Upstream, shared: Arc<Shared>) -> std::io::Result<()> {
    // Small writes go out at once, as the driver's own socket does: Nagle's algorithm would
    // hold a flight's later messages back until the earlier ones are acknowledged.
    client.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    // Requests (Query or Sync) the server has not yet answered with ReadyForQuery.
    let ready = Arc::new(AtomicI64::new(0));
    match upstream {
        Upstream::Unix(path) => {
            let server = UnixStream::connect(path).await?;
            let (server_read, server_write) = server.into_split();
            pump(
                client_read,
                client_write,
                server_read,
                server_write,
                shared,
                ready,
            )
            .await
        }
        Upstream::Tcp(address) => {
            let server = TcpStream::connect(address).await?;
            server.set_nodelay(true)?;
            let (server_read, server_write) = server.into_split();
            pump(
                client_read,
                client_write,
                server_read,
                server_write,
                shared,
                ready,
            )
            .await
        }
    }
}

async fn pump(
    client_read: impl AsyncRead + Unpin,
    client_write: impl AsyncWrite + Unpin + Send + 'static,
    server_read: impl AsyncRead + Unpin,
    server_write: impl AsyncWrite + Unpin + Send + 'static,
    shared: Arc<Shared>,
    ready: Arc<AtomicI64>,
) -> std::io::Result<()> {
    let one_way = shared.one_way;
    let upward = frontend(
        client_read,
        Outlet::new(server_write, one_way),
        shared.clone(),
        ready.clone(),
    );
    let downward = backend(server_read, Outlet::new(client_write, one_way), ready);
    let severed = shared.sever.notified();
    // Either side ending ends the connection, and so does `sever_all`.
    tokio::select! {
        result = upward => result,
        result = downward => result,
        () = severed => Ok(()),
    }
}

async fn read_exact_or_eof(
    reader: &mut (impl AsyncRead + Unpin),
    buf: &mut [u8],
) -> std::io::Result<bool> {
    match reader.read_exact(buf).await {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(error) => Err(error),
    }
}

/// Client to server: startup packets, then typed messages. Messages are parsed one by one for
/// the counts, but what one read of the client's socket delivered goes on as one chunk, as a
/// network link carries a write: a flight of many messages is not split into many deliveries.
async fn frontend<W: AsyncWrite + Unpin + Send + 'static>(
    reader: impl AsyncRead + Unpin,
    mut writer: Outlet<W>,
    shared: Arc<Shared>,
    ready: Arc<AtomicI64>,
) -> std::io::Result<()> {
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
    // The messages parsed from the reader's buffer and not yet forwarded.
    let mut chunk: Vec<u8> = Vec::new();
    // Startup phase: untyped packets until the real startup message (not SSL/GSS requests).
    loop {
        let mut length = [0_u8; 4];
        if !read_exact_or_eof(&mut reader, &mut length).await? {
            return Ok(());
        }
        let size = u32::from_be_bytes(length) as usize;
        let mut body = vec![0_u8; size.saturating_sub(4)];
        if !read_exact_or_eof(&mut reader, &mut body).await? {
            return Ok(());
        }
        writer.put(&[&length[..], &body[..]]).await?;
        let code = body
            .get(..4)
            .map(|code| u32::from_be_bytes([code[0], code[1], code[2], code[3]]));
        if !matches!(code, Some(80_877_103) | Some(80_877_104)) {
            break;
        }
    }
    // Inside an extended-protocol batch not yet ended by Sync.
    let mut flight_open = false;
    loop {
        let mut header = [0_u8; 5];
        let mut body = Vec::new();
        let whole = read_exact_or_eof(&mut reader, &mut header).await? && {
            let size = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            body.resize(size.saturating_sub(4), 0);
            read_exact_or_eof(&mut reader, &mut body).await?
        };
        if !whole {
            // The client went away mid-message: what it sent whole still goes through.
            return writer.put_pending(&mut chunk).await;
        }
        let kind = header[0];
        // Password messages belong to authentication, not to the client's work.
        if kind != b'p' {
            // Fault injection: refuse to forward past the allowance.
            let allowance = shared.allowance.load(Ordering::SeqCst);
            if allowance != u64::MAX {
                if allowance == 0 {
                    // One cut per arming: later connections go through. The messages before
                    // this one were allowed: they are delivered first.
                    shared.allowance.store(u64::MAX, Ordering::SeqCst);
                    shared.cut.store(true, Ordering::SeqCst);
                    return writer.put_pending(&mut chunk).await;
                }
                shared.allowance.store(allowance - 1, Ordering::SeqCst);
            }
            shared.messages.fetch_add(1, Ordering::SeqCst);
            // A flight starts when the client sends while nothing it sent is unanswered: it
            // had to wait for the server, which is what a round trip is.
            if !flight_open && ready.load(Ordering::SeqCst) <= 0 {
                shared.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            flight_open = !matches!(kind, b'Q' | b'S');
            if matches!(kind, b'Q' | b'S') {
                ready.fetch_add(1, Ordering::SeqCst);
            }
            match kind {
                b'Q' | b'P' => {
                    let text_start = if kind == b'P' {
                        body.iter()
                            .position(|byte| *byte == 0)
                            .map_or(body.len(), |end| end + 1)
                    } else {
                        0
                    };
                    let text = body[text_start..]
                        .split(|byte| *byte == 0)
                        .next()
                        .map(|sql| String::from_utf8_lossy(sql).into_owned())
                        .unwrap_or_default();
                    if kind == b'Q' {
                        shared.statements.fetch_add(1, Ordering::SeqCst);
                    }
                    shared
                        .sql
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(text);
                }
                b'E' => {
                    shared.statements.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
        }
        chunk.extend_from_slice(&header);
        chunk.extend_from_slice(&body);
        if reader.buffer().is_empty() {
            writer.put_pending(&mut chunk).await?;
        }
    }
}

/// Server to client: typed messages (plus the one-byte answer to an SSL request). Each
/// ReadyForQuery is counted before it is forwarded, so the client cannot send its next flight
/// before the proxy knows the previous one was answered.
async fn backend<W: AsyncWrite + Unpin + Send + 'static>(
    mut reader: impl AsyncRead + Unpin,
    mut writer: Outlet<W>,
    ready: Arc<AtomicI64>,
) -> std::io::Result<()> {
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut first = true;
    let mut authenticated = false;
    loop {
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buffer[..read]);
        if first && pending.len() == 1 && matches!(pending[0], b'N' | b'S') {
            writer.put(&[&pending[..]]).await?;
            pending.clear();
            continue;
        }
        first = false;
        let mut offset = 0;
        while pending.len() >= offset + 5 {
            let size = u32::from_be_bytes([
                pending[offset + 1],
                pending[offset + 2],
                pending[offset + 3],
                pending[offset + 4],
            ]) as usize;
            if pending.len() < offset + 1 + size {
                break;
            }
            if pending[offset] == b'Z' {
                // The first ReadyForQuery ends authentication and answers no request.
                if authenticated {
                    ready.fetch_sub(1, Ordering::SeqCst);
                }
                authenticated = true;
            }
            offset += 1 + size;
        }
        writer.put(&[&pending[..offset]]).await?;
        pending.drain(..offset);
    }
}

/// Where one direction of the proxy writes: straight through, or through a delay line.
enum Outlet<W> {
    Direct(W),
    /// Chunks with the time each is due, written by a thread of their own: tokio's timers
    /// count whole milliseconds, a thread's sleep is good to tens of microseconds.
    Delayed {
        line: std::sync::mpsc::Sender<(std::time::Instant, Vec<u8>)>,
        one_way: Duration,
    },
}

impl<W: AsyncWrite + Unpin + Send + 'static> Outlet<W> {
    fn new(writer: W, one_way: Duration) -> Self {
        if one_way.is_zero() {
            return Self::Direct(writer);
        }
        let (line, due) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>)>();
        let runtime = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            let mut writer = writer;
            // A chunk that arrived while an earlier one was due: held until its own time.
            let mut held: Option<(std::time::Instant, Vec<u8>)> = None;
            while let Some((at, mut chunk)) = held.take().or_else(|| due.recv().ok()) {
                let now = std::time::Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                // Everything else already due goes out in the same write, as a link delivers
                // a burst: a large answer is not written chunk by chunk behind one thread.
                let now = std::time::Instant::now();
                while let Ok((next_at, next)) = due.try_recv() {
                    if next_at > now {
                        held = Some((next_at, next));
                        break;
                    }
                    chunk.extend_from_slice(&next);
                }
                let written = runtime.block_on(async {
                    writer.write_all(&chunk).await?;
                    writer.flush().await
                });
                if written.is_err() {
                    break;
                }
            }
            let _ = runtime.block_on(writer.shutdown());
        });
        Self::Delayed { line, one_way }
    }

    /// Writes `chunk` (when it holds anything) as one chunk and empties it.
    async fn put_pending(&mut self, chunk: &mut Vec<u8>) -> std::io::Result<()> {
        if !chunk.is_empty() {
            self.put(&[&chunk[..]]).await?;
            chunk.clear();
        }
        Ok(())
    }

    /// Writes `parts` as one chunk, now or when its delay has passed.
    async fn put(&mut self, parts: &[&[u8]]) -> std::io::Result<()> {
        match self {
            Self::Direct(writer) => {
                for part in parts {
                    writer.write_all(part).await?;
                }
                writer.flush().await
            }
            Self::Delayed { line, one_way } => line
                .send((std::time::Instant::now() + *one_way, parts.concat()))
                .map_err(|_| std::io::Error::other("the proxy's delay line closed")),
        }
    }
}
