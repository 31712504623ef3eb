//! Men in the middle of SMTP (STARTTLS stripped, an impostor certificate, injected replies) and
//! a plain forwarder, relaying to a real (lab) server.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What a man in the middle does to a session it relays to a real server.
#[derive(Clone, Debug)]
pub enum MitmKind {
    /// Removes STARTTLS from the server's EHLO reply (a downgrade to plaintext).
    StripStartTls,
    /// Answers STARTTLS itself and presents its own certificate.
    OwnCertificate(Vec<Credential>),
    /// Relays STARTTLS, then adds a reply of its own ahead of the handshake.
    Inject,
}

/// A man in the middle on 127.0.0.1 in front of `upstream`.
#[derive(Debug)]
pub struct Mitm {
    addr: SocketAddr,
    _acceptor: Acceptor,
}

impl Mitm {
    /// Starts one.
    pub fn start(upstream: SocketAddr, kind: MitmKind) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let own = match &kind {
            MitmKind::OwnCertificate(c) => {
                Some(server_config_by_name(c.clone(), Vec::new(), ServerOptions::default()).0)
            }
            _ => None,
        };
        let acceptor = accept_loop(listener, move |client| {
            let _ = relay(client, upstream, &kind, own.as_ref());
        })?;
        Ok(Self {
            addr,
            _acceptor: acceptor,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Relays one reply (possibly multi-line) from `from`, transformed by `edit`, to `to`.
fn relay_reply(
    from: &mut impl BufRead,
    to: &mut impl Write,
    edit: impl Fn(Vec<String>) -> Vec<String>,
) -> io::Result<Option<String>> {
    let mut lines = Vec::new();
    loop {
        let Some(line) = read_line(from)? else {
            return Ok(None);
        };
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last || lines.len() > 100 {
            break;
        }
    }
    let lines = edit(lines);
    let n = lines.len();
    let mut text = String::new();
    for (i, l) in lines.iter().enumerate() {
        let (code, rest) = l.split_at(l.len().min(3));
        let rest = rest.get(1..).unwrap_or("");
        text.push_str(&format!(
            "{code}{}{rest}\r\n",
            if i + 1 == n { ' ' } else { '-' }
        ));
    }
    to.write_all(text.as_bytes())?;
    to.flush()?;
    Ok(lines.first().cloned())
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    kind: &MitmKind,
    own: Option<&Arc<ServerConfig>>,
) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&upstream, IO_TIMEOUT)?;
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut from_server = BufReader::new(server.try_clone()?);
    let mut to_server = server;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let keep = |l: Vec<String>| l;
    relay_reply(&mut from_server, &mut to_client, keep)?;
    for _ in 0..50 {
        let Some(line) = read_line(&mut from_client)? else {
            return Ok(());
        };
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if verb == "STARTTLS" {
            match kind {
                MitmKind::OwnCertificate(_) => {
                    to_client.write_all(b"220 2.0.0 go ahead\r\n")?;
                    let Some(config) = own else { return Ok(()) };
                    let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
                    let mut tls = StreamOwned::new(conn, to_client);
                    while tls.conn.is_handshaking() {
                        tls.conn.complete_io(&mut tls.sock)?;
                    }
                    // A client that accepted the impostor would now talk to us, and hand us
                    // its mail (which goes nowhere).
                    let mut tls_io = BufReader::new(tls);
                    let mut rw = ReadWrite(&mut tls_io);
                    let stolen = Mailbox::default();
                    let _ = commands(&mut rw, Behaviour::Normal, true, Some(&stolen))?;
                    return Ok(());
                }
                MitmKind::Inject => {
                    to_server.write_all(b"STARTTLS\r\n")?;
                    let Some(first) = read_line(&mut from_server)? else {
                        return Ok(());
                    };
                    to_client.write_all(format!("{first}\r\n250 2.0.0 injected\r\n").as_bytes())?;
                    // From here on, relay raw bytes both ways.
                    return splice(from_client.into_inner(), from_server.into_inner());
                }
                MitmKind::StripStartTls => {
                    // The client should never ask; refuse as if unknown.
                    to_client.write_all(b"502 5.5.1 not implemented\r\n")?;
                    continue;
                }
            }
        }
        to_server.write_all(format!("{line}\r\n").as_bytes())?;
        let strip = matches!(kind, MitmKind::StripStartTls) && verb == "EHLO";
        let first = relay_reply(&mut from_server, &mut to_client, |lines| {
            if strip {
                lines
                    .into_iter()
                    .filter(|l| !l.to_ascii_uppercase().contains("STARTTLS"))
                    .collect()
            } else {
                lines
            }
        })?;
        if verb == "QUIT" || first.is_none() {
            return Ok(());
        }
        // The message goes through as it is (what the client already sent first), and
        // everything after it.
        if first.as_deref().is_some_and(|l| l.starts_with("354")) {
            let early = from_client.buffer().to_vec();
            to_server.write_all(&early)?;
            return splice(from_client.into_inner(), from_server.into_inner());
        }
    }
    Ok(())
}

/// A plain TCP relay from `bind` to `to` (e.g. port 25 of a namespace address to a lab server
/// on a loopback port chosen at run time).
#[derive(Debug)]
pub struct Forwarder {
    addr: SocketAddr,
    _acceptor: Acceptor,
}

impl Forwarder {
    /// Starts relaying.
    pub fn start(bind: SocketAddr, to: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let acceptor = accept_loop(listener, move |client| {
            if let Ok(server) = TcpStream::connect_timeout(&to, IO_TIMEOUT) {
                let _ = splice(client, server);
            }
        })?;
        Ok(Self {
            addr,
            _acceptor: acceptor,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
