//! The listener: binds the ports, checks `inet_acl`, caps concurrency at
//! `max_servers`, and owns graceful shutdown — done once, here.

use crate::config::Config;
use crate::pipeline::Runtime;
use crate::smtp::acl::Acl;
use crate::smtp::session::Session;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// A bound server, ready to run. Built from a config so tests can bind
/// port 0 and learn the real port before serving.
pub struct Server {
    listeners: Vec<TcpListener>,
    runtime: Arc<ArcSwap<Runtime>>,
    shutdown_tx: watch::Sender<bool>,
}

/// Handle to stop a running server from elsewhere (signals, tests).
#[derive(Clone)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        let _ = self.0.send(true);
    }
}

impl Server {
    pub async fn bind(runtime: Runtime) -> std::io::Result<Server> {
        let cfg = &runtime.config;
        let mut listeners = Vec::new();
        for port in cfg.inet_socket_port.ports() {
            let host = cfg
                .inet_socket_bind
                .trim_start_matches('[')
                .trim_end_matches(']');
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let l = listen(&addr).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))
            })?;
            listeners.push(l);
        }
        let (shutdown_tx, _) = watch::channel(false);
        Ok(Server {
            listeners,
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            shutdown_tx,
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown_tx.clone())
    }

    /// The live runtime, for SIGHUP reloads: store a new one to swap it in;
    /// sessions in flight keep the one they started the message with.
    pub fn runtime(&self) -> Arc<ArcSwap<Runtime>> {
        self.runtime.clone()
    }

    /// Serve until shutdown, then wait (up to `child_timeout`) for sessions.
    pub async fn run(self) {
        let max = self.runtime.load().config.max_servers;
        let limit = Arc::new(Semaphore::new(max));
        let mut tasks = tokio::task::JoinSet::new();
        // Close next-hop connections idle longer than pool::IDLE.
        let live = self.runtime.clone();
        let mut sd = self.shutdown_tx.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => live.load().pool.reap().await,
                    _ = sd.changed() => return,
                }
            }
        });
        let waiting = Arc::new(AtomicUsize::new(0));
        for l in self.listeners {
            tasks.spawn(accept_loop(
                l,
                self.runtime.clone(),
                limit.clone(),
                waiting.clone(),
                self.shutdown_tx.subscribe(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        let grace = Duration::from_secs(self.runtime.load().config.child_timeout);
        // All permits back = all sessions finished.
        let _ = tokio::time::timeout(grace, limit.acquire_many(max as u32)).await;
        tracing::info!("shutdown complete");
    }
}

/// Listen queue length (capped by the kernel's somaxconn). tokio's default
/// of 1024 overflows under a connection flood: with SYN cookies the
/// overflowing clients then sit on a connection the server never sees,
/// instead of getting their 421.
const BACKLOG: u32 = 4096;

async fn listen(addr: &str) -> std::io::Result<TcpListener> {
    let sa = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let sock = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(sa)?;
    sock.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    runtime: Arc<ArcSwap<Runtime>>,
    limit: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let rt = runtime.load_full();
        if !Acl::new(&rt.config.inet_acl).allows(peer.ip()) {
            tracing::warn!("connection from [{}] refused by inet_acl", peer.ip());
            tokio::spawn(refuse(
                stream,
                "421 4.7.1 Client not allowed by inet_acl\r\n",
            ));
            continue;
        }
        let rx = shutdown.clone();
        let rt_handle = runtime.clone();
        let permit = match limit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let wait = Duration::from_secs(rt.config.max_servers_wait);
                let cap = rt.config.max_servers * WAITERS_PER_SLOT;
                if wait.is_zero() || waiting.load(Ordering::Relaxed) >= cap {
                    tracing::warn!(
                        "max_servers ({}) reached, refusing [{}]:{}",
                        rt.config.max_servers,
                        peer.ip(),
                        peer.port()
                    );
                    tokio::spawn(refuse(stream, TOO_MANY));
                    continue;
                }
                tokio::spawn(wait_for_slot(
                    stream,
                    peer,
                    limit.clone(),
                    waiting.clone(),
                    wait,
                    rt_handle,
                    rx,
                ));
                continue;
            }
        };
        tokio::spawn(run_session(stream, peer, permit, rt_handle, rx));
    }
}

const TOO_MANY: &str = "421 4.3.2 Too many concurrent sessions (max_servers), try again later\r\n";

/// Connections that may wait for a slot at once, per `max_servers`: past it
/// a flood is refused at once instead of piling up open sockets.
const WAITERS_PER_SLOT: usize = 8;

/// A connection beyond `max_servers` waits, not greeted, for a free slot, as
/// it would in amavisd's listen queue (its children take connections as they
/// become free). Postfix parks idle connections to the filter in its
/// connection cache (2 s by default); a refusal there would defer a message
/// for minutes. After `max_servers_wait` seconds it gets `421 4.3.2`.
async fn wait_for_slot(
    stream: TcpStream,
    peer: SocketAddr,
    limit: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    wait: Duration,
    runtime: Arc<ArcSwap<Runtime>>,
    mut shutdown: watch::Receiver<bool>,
) {
    waiting.fetch_add(1, Ordering::Relaxed);
    let got = tokio::select! {
        r = tokio::time::timeout(wait, limit.acquire_owned()) => r.ok().and_then(Result::ok),
        _ = shutdown.wait_for(|v| *v) => None,
    };
    waiting.fetch_sub(1, Ordering::Relaxed);
    match got {
        Some(permit) => run_session(stream, peer, permit, runtime, shutdown).await,
        None => {
            tracing::warn!(
                "max_servers reached for {}s, refusing [{}]:{}",
                wait.as_secs(),
                peer.ip(),
                peer.port()
            );
            refuse(stream, TOO_MANY).await;
        }
    }
}

async fn run_session(
    stream: TcpStream,
    peer: SocketAddr,
    permit: tokio::sync::OwnedSemaphorePermit,
    runtime: Arc<ArcSwap<Runtime>>,
    shutdown: watch::Receiver<bool>,
) {
    let _permit = permit;
    stream.set_nodelay(true).ok();
    let local = stream.local_addr().unwrap_or(peer);
    let session = Session::new(stream, peer, local, runtime, shutdown);
    if let Err(e) = session.run().await {
        tracing::debug!("session [{}]:{} ended: {e}", peer.ip(), peer.port());
    }
}

async fn refuse(mut s: TcpStream, text: &'static str) {
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = s.write_all(text.as_bytes()).await;
        let _ = s.shutdown().await;
    })
    .await;
}

/// Convenience for `serve`: bind from a config and run until SIGTERM/SIGINT;
/// SIGHUP reloads the configuration from `path`.
pub async fn serve(cfg: Config, path: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    if let Some(v) = crate::scan::virus::VirusScanner::from_config(&cfg) {
        for (name, r) in v.health().await {
            match r {
                Ok(ver) => tracing::info!("virus scanner {name}: {ver}"),
                // Not fatal at start-up: clamd may come up after us; until
                // then messages get 451 4.5.0 and stay queued.
                Err(e) => tracing::warn!("virus scanner {name} not responding: {e}"),
            }
        }
    }
    // Signal handlers before the ports are bound: once a client can
    // connect, SIGTERM means a clean stop (not the default instant death,
    // which would also leave the pid file behind).
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let rt = Runtime::build(cfg).await?;
    if let Some(rs) = rt.rules.clone() {
        // Build the lazily compiled regexes now rather than on first messages.
        std::thread::spawn(move || rs.warm_up());
    }
    let server = Server::bind(rt).await?;
    for a in server.local_addrs() {
        tracing::info!("listening on {a}");
    }
    // Ports are bound (possibly privileged ones): now give up root, then
    // make sure the new user can write where messages go.
    // Removed again when `serve` returns (clean shutdown).
    let _pid_file;
    {
        let rt = server.runtime().load_full();
        _pid_file = crate::pidfile::PidFile::create(&rt.config)?;
        crate::privileges::drop_privileges(&rt.config)?;
        crate::privileges::check_dirs(&rt.config)?;
    }
    let handle = server.shutdown_handle();
    let live = server.runtime();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    let Some(p) = &path else { continue };
                    match Config::load(p) {
                        Ok(c) => match Runtime::build(c).await {
                            Ok(rt) => { live.store(Arc::new(rt)); tracing::info!("configuration reloaded from {}", p.display()); }
                            Err(e) => tracing::error!("reload failed, keeping the old configuration: {e:#}"),
                        },
                        Err(e) => tracing::error!("reload failed, keeping the old configuration: {e}"),
                    }
                }
            }
        }
        tracing::info!("shutting down: no new connections, finishing sessions");
        handle.shutdown();
    });
    server.run().await;
    Ok(())
}
