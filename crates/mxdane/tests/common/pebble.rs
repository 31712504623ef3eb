//! Pebble, a real ACME server, for the external tier: its own TLS certificate made here, names
//! resolved through a given DNS server, restartable (a restart makes a new root and
//! intermediate and forgets every account).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mxdane_lab::certs::CertSpec;
use mxdane_rollover::config::{Acme, Challenge as AcmeChallenge, IssuerChange};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A free TCP port on 127.0.0.1 (below the ephemeral range, so that no other test's
/// outgoing connection takes it before Pebble binds it).
pub(crate) fn free_tcp_port() -> u16 {
    mxdane_lab::dns::interop::free_port().unwrap()
}

pub(crate) struct Pebble {
    child: std::process::Child,
    dir: std::path::PathBuf,
    port: u16,
    dnsserver: SocketAddr,
    starts: u32,
}

impl Pebble {
    /// Starts Pebble resolving names through `dnsserver`, validating http-01 on `http`.
    pub(crate) fn start(dir: &Path, dnsserver: SocketAddr, http: u16) -> Self {
        let ca = CertSpec::ca("Pebble test CA").self_signed();
        let server_cert = CertSpec::leaf(&["localhost"])
            .ip_san("127.0.0.1")
            .signed_by(&ca);
        write(&dir.join("pebble-ca.pem"), &ca.pem());
        write(&dir.join("pebble-cert.pem"), &server_cert.pem());
        write(&dir.join("pebble-key.pem"), &server_cert.key_pem());
        let (port, mgmt, tls) = (free_tcp_port(), free_tcp_port(), free_tcp_port());
        write(
            &dir.join("pebble.json"),
            &format!(
                r#"{{"pebble": {{"listenAddress": "127.0.0.1:{port}", "managementListenAddress": "127.0.0.1:{mgmt}", "certificate": "{d}/pebble-cert.pem", "privateKey": "{d}/pebble-key.pem", "httpPort": {http}, "tlsPort": {tls}, "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
                d = dir.display()
            ),
        );
        let mut p = Self {
            child: Self::spawn(dir, dnsserver, 1),
            dir: dir.to_owned(),
            port,
            dnsserver,
            starts: 1,
        };
        p.wait_up();
        p
    }

    fn spawn(dir: &Path, dnsserver: SocketAddr, n: u32) -> std::process::Child {
        let log = std::fs::File::create(dir.join(format!("pebble-{n}.log"))).unwrap();
        std::process::Command::new("pebble")
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .arg("-dnsserver")
            .arg(dnsserver.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble")
    }

    fn wait_up(&mut self) {
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "pebble did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops and starts Pebble: a new root and intermediate, every account forgotten.
    pub(crate) fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.starts += 1;
        self.child = Self::spawn(&self.dir, self.dnsserver, self.starts);
        self.wait_up();
    }

    pub(crate) fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    pub(crate) fn roots(&self) -> std::path::PathBuf {
        self.dir.join("pebble-ca.pem")
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("pebble-{}.log", self.starts)))
            .unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    pub(crate) fn acme(&self, challenge: AcmeChallenge) -> Acme {
        Acme {
            directory: self.directory(),
            roots: Some(self.roots()),
            contact: vec!["mailto:postmaster@example.test".into()],
            account: None,
            challenge,
            on_issuer_change: IssuerChange::PublishIssuer,
        }
    }

    pub(crate) fn client(
        &self,
    ) -> impl Fn() -> Result<Box<dyn instant_acme::HttpClient>, String> + use<> {
        let roots = self.roots();
        move || mxdane::acme::https_client(Some(&roots))
    }
}
