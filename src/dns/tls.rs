//! DNS over TLS (RFC 7858, for resolvers per RFC 9539), and DNS over QUIC (RFC 9250), through
//! hickory-server's `Server`, answering with [`super::hickory::HickoryHandler`] (so every
//! answer is `respond`'s), with the certificate of the serving snapshot.
//!
//! ```text
//! [server.tls] listen ─► TcpListener ─► Server::register_tls_listener(listener, timeout, ServingCert)
//!   hickory: rustls (ring, TLS 1.2 + 1.3, ALPN "dot"), handshake bounded by `timeout`, which is
//!   also the idle timeout between queries; queries of a connection answered in order
//!   └─ every full handshake: ServingCert::resolve ─► Shared<Serving>.load().config().tls_key
//! [server.tls] quic_listen ─► UdpSocket ─► Server::register_quic_listener(socket, timeout, ServingCert)
//!   hickory-net (quinn, ring, TLS 1.3, ALPN "doq"): a stream per query, replies with ID 0,
//!   at most 100 queries per connection, `timeout` bounds the wait for and the read of a stream
//! ```
//! The certificate and key are read with the config ([`crate::config::load_certified_key`]),
//! so a reload (SIGHUP, `POST /reload`, or the watcher seeing the files change) that reads a
//! renewed certificate is what the next handshake presents: no restart, no listener rebound.
//! A pair that does not load fails the reload and the old one keeps being served.
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::Observer;
use super::hickory::HickoryHandler;
use crate::serving::{AnswerSource, Shared};

/// The certificate of whatever snapshot is serving, for rustls.
pub struct ServingCert<S: AnswerSource> {
    pub shared: Shared<S>,
}

impl<S: AnswerSource> fmt::Debug for ServingCert<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServingCert")
    }
}

impl<S: AnswerSource> ResolvesServerCert for ServingCert<S> {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.shared.load().config().tls_key.clone()
    }
}

/// A hickory `Server` serving DNS over TLS on `listeners` with gslbd's answers. Run it with
/// `block_until_done`; stop it with its `shutdown_token`. Call inside a Tokio runtime.
pub fn dot_server<S: AnswerSource, O: Observer<S> + Sync + Unpin>(
    listeners: Vec<tokio::net::TcpListener>,
    quic: Vec<tokio::net::UdpSocket>,
    shared: Shared<S>,
    observer: O,
    timeout: Duration,
) -> std::io::Result<Server<HickoryHandler<S, O>>> {
    let cert: Arc<dyn ResolvesServerCert> = Arc::new(ServingCert { shared: shared.clone() });
    let mut server = Server::new(HickoryHandler::with_observer(shared, observer));
    for l in listeners {
        server.register_tls_listener(l, timeout, cert.clone())?;
    }
    for s in quic {
        server.register_quic_listener(s, timeout, cert.clone())?;
    }
    Ok(server)
}
