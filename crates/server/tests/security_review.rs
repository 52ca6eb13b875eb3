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

fn shared() -> (
    &'static medulla_nomenclature::Reducer<'static>,
    &'static medulla_app::freqs::Frequencies,
) {
    use medulla_nomenclature::{MacTable, Reducer, Release};
    static R: std::sync::OnceLock<&'static Reducer<'static>> = std::sync::OnceLock::new();
    static F: std::sync::OnceLock<&'static medulla_app::freqs::Frequencies> =
        std::sync::OnceLock::new();
    let r = *R.get_or_init(|| {
        let release: &'static Release = Box::leak(Box::new(Release::shipped()));
        let macs: &'static MacTable = Box::leak(Box::new(MacTable::shipped()));
        Box::leak(Box::new(Reducer::new(release, macs)))
    });
    let f = *F.get_or_init(|| {
        Box::leak(Box::new(
            medulla_app::freqs::FreqSource::default().load(r).unwrap(),
        ))
    });
    (r, f)
}

#[test]
fn a_web_form_or_query_string_that_does_not_read_is_answered_with_a_page() {
    // axum's own rejections reached the browser as plain text naming serde's findings
    // ("Failed to deserialize form body: missing field `csrf`")
    let dir = std::env::temp_dir().join(format!("medulla-review-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let (reducer, freqs) = shared();
    let db = dir.join("reg.db");
    drop(medulla_registry::Store::open(&db).unwrap());
    let service = Arc::new(medulla_app::Service::open(&db, reducer, freqs, None, |_| {}).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = service.clone();
    std::thread::spawn(move || {
        rt.block_on(medulla_server::serve(svc, listener, async {
            let _ = rx.await;
        }))
        .unwrap();
    });
    let answer = |r: Result<ureq::Response, ureq::Error>| match r {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            let ct = r.content_type().to_string();
            (r.status(), ct, r.into_string().unwrap())
        }
        Err(e) => panic!("{e}"),
    };
    let form = answer(
        ureq::post(&format!("{base}/login"))
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string("username=someone"),
    );
    let query = answer(ureq::get(&format!("{base}/login?next=%2Fa&next=%2Fb")).call());
    for (what, (status, ct, body)) in [("form", form), ("query", query)] {
        assert!(
            (400..500).contains(&status),
            "{what}: refused as the client's: {status}"
        );
        assert_eq!(ct, "text/html", "{what}: a page: {body}");
        assert!(body.contains("role=\"alert\""), "{what}: {body}");
    }
    drop(tx);
}
