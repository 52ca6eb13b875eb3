//! Findings of a security review of issue 25, one test each, over real sockets on
//! 127.0.0.1. Each failed before its fix.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use medulla_server::tls::{TlsListener, HANDSHAKE_DEADLINE, MAX_HANDSHAKES};

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for 127.0.0.1 and the server and client configurations.
fn configs(
    dir: &std::path::Path,
) -> (
    Arc<medulla_tls::rustls::ServerConfig>,
    Arc<medulla_tls::rustls::ClientConfig>,
) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.subject_alt_names
        .push(rcgen::SanType::IpAddress(std::net::IpAddr::from([
            127, 0, 0, 1,
        ])));
    let cert = p.self_signed(&key).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let server = medulla_tls::server_config(&c, &k).unwrap();
    let client = medulla_tls::client_config(medulla_tls::file_roots(&[c]).unwrap()).unwrap();
    (server, client)
}

#[test]
fn silent_connections_from_one_address_do_not_keep_others_from_the_https_port() {
    // one client opening more connections than there are handshake slots, and saying
    // nothing, kept every other client out for the handshake deadline (10 s), and again
    // as often as it liked
    let dir = std::env::temp_dir().join(format!("medulla-review-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let (server, client) = configs(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let mut listener = TlsListener::new(tcp, server).unwrap();
        let accepted = tokio::spawn(async move {
            let (_stream, peer) = listener.accept().await;
            peer
        });
        // the attacker, from 127.0.0.1: more silent connections than slots
        let mut silent = Vec::new();
        for _ in 0..MAX_HANDSHAKES + 20 {
            silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // a coordinator, from 127.0.0.2
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = medulla_tls::rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let shaken = tokio::time::timeout(
            HANDSHAKE_DEADLINE / 4,
            connector.connect(name.to_owned(), stream),
        )
        .await;
        assert!(
            matches!(shaken, Ok(Ok(_))),
            "the handshake from another address waited: {shaken:?}"
        );
        let peer = tokio::time::timeout(Duration::from_secs(2), accepted)
            .await
            .expect("the connection is handed to the server")
            .unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::from([127, 0, 0, 2]));
        drop(silent);
    });
}
