//! HTTPS served by the service itself: a listener whose connections are TLS streams
//! (tokio-rustls over the workspace's one rustls), for `axum::serve`.
//!
//! Handshakes run on tasks of their own, at most [`MAX_HANDSHAKES`] at once (and
//! [`MAX_HANDSHAKES_PER_PEER`] from one address) and each within [`HANDSHAKE_DEADLINE`],
//! so a slow or silent client holds up no other. A
//! connection whose handshake fails (plain HTTP to the HTTPS port, an untrusting client)
//! is closed; nothing about it is logged but the count.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use medulla_app::Service;
use medulla_tls::rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Handshakes under way at once; further connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 256;
/// Handshakes under way at once from one address (IPv6: one /64); a connection beyond
/// them is closed at once, so one silent client cannot take every slot above and keep
/// everyone else waiting for [`HANDSHAKE_DEADLINE`], again and again.
pub const MAX_HANDSHAKES_PER_PEER: usize = 16;

/// The address handshakes are counted by: IPv4 as it is, IPv6 by its /64.
fn peer_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => std::net::IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

/// Handshakes under way per address.
#[derive(Default)]
struct PeerCounts(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

impl PeerCounts {
    /// One more handshake from `ip`, unless it has [`MAX_HANDSHAKES_PER_PEER`] already.
    fn enter(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<PeerTicket> {
        let key = peer_key(ip);
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(key).or_insert(0);
        if *n >= MAX_HANDSHAKES_PER_PEER {
            return None;
        }
        *n += 1;
        Some(PeerTicket {
            counts: self.clone(),
            key,
        })
    }
}

/// A handshake counted for its address until dropped.
struct PeerTicket {
    counts: Arc<PeerCounts>,
    key: std::net::IpAddr,
}

impl Drop for PeerTicket {
    fn drop(&mut self) {
        let mut m = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}
/// The longest a client may take to complete its handshake.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// Connections whose TLS handshake failed, since the process started.
pub static FAILED_HANDSHAKES: AtomicU64 = AtomicU64::new(0);

/// A TCP listener handing out TLS streams whose handshake is done.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accept on `listener`, presenting `config`'s certificate. Needs a Tokio runtime.
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let acceptor = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
            let peers = Arc::new(PeerCounts::default());
            loop {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    // out of file descriptors and the like: wait, as axum does
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tx.is_closed() {
                    return;
                }
                // an address with its share of handshakes under way gets no more slots
                let Some(ticket) = peers.enter(peer.ip()) else {
                    FAILED_HANDSHAKES.fetch_add(1, Ordering::Relaxed);
                    drop(tcp);
                    continue;
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    let shaken = tokio::time::timeout(HANDSHAKE_DEADLINE, tls.accept(tcp)).await;
                    drop(slot);
                    drop(ticket);
                    match shaken {
                        Ok(Ok(stream)) => {
                            let _ = tx.send((stream, peer)).await;
                        }
                        _ => {
                            FAILED_HANDSHAKES.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        Ok(TlsListener {
            local,
            ready,
            acceptor,
        })
    }
}

impl Drop for TlsListener {
    /// The port closes with the listener.
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // the accepting task ended: no connection comes any more
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serve HTTPS on `listener` until `shutdown` resolves; requests under way finish first.
/// The web application's cookies are marked `Secure`.
pub async fn serve_tls(
    service: Arc<Service>,
    listener: TcpListener,
    config: Arc<ServerConfig>,
    mut web: crate::WebConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    web.secure_cookies = true;
    let (router, _) = crate::app_with(service, web);
    // each request knows its peer's address, as on plain HTTP (login throttling)
    let router = router.layer(axum::middleware::map_request(peer_as_socket_addr));
    axum::serve(
        TlsListener::new(listener, config)?,
        router.into_make_service_with_connect_info::<TlsPeer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The address of a TLS connection's peer, as axum hands it to each request.
#[derive(Clone, Copy, Debug)]
pub struct TlsPeer(pub std::net::SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for TlsPeer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        TlsPeer(*stream.remote_addr())
    }
}

/// The peer's address also as `ConnectInfo<SocketAddr>`, where the plain listener puts it.
async fn peer_as_socket_addr(mut req: axum::extract::Request) -> axum::extract::Request {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<TlsPeer>>()
        .map(|c| c.0 .0);
    if let Some(addr) = peer {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
    }
    req
}
