//! SMTP servers on loopback with configurable chains and misbehaviours, and men in the middle
//! that relay to a real (lab) server. Thread-based and blocking; every server stops when
//! dropped, or after five minutes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::tls::{Credential, ServerOptions, SniLog, server_config_by_name};

mod mitm;
pub use mitm::{Forwarder, Mitm, MitmKind};

/// How a server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// A correct server.
    #[default]
    Normal,
    /// EHLO does not offer STARTTLS.
    NoStartTls,
    /// STARTTLS is refused with 454.
    RefuseStartTls,
    /// STARTTLS is accepted, then the connection closes before the handshake.
    AbortHandshake,
    /// STARTTLS is accepted, then plaintext garbage arrives instead of a handshake.
    GarbageAfterStartTls,
    /// STARTTLS is accepted together with a pipelined reply sent ahead of the handshake.
    InjectAfterStartTls,
    /// The banner comes after this delay.
    SlowBanner(Duration),
    /// Every reply is written one octet at a time.
    SplitReplies,
    /// EHLO's reply has a 5000-octet line.
    LongLine,
    /// The banner comes one octet a second (for at most a minute).
    DripBanner,
    /// EHLO's reply never ends: continuation lines until the client goes away (or a minute).
    EndlessReply,
    /// EHLO's reply is one line of a mebioctet.
    HugeLine,
    /// STARTTLS is accepted, then the server says nothing more (for at most a minute).
    StallHandshake,
    /// EHLO is refused (502), HELO works; no STARTTLS can be offered then.
    NoEhlo,
}

/// What a server presents.
#[derive(Clone, Debug, Default)]
pub struct SmtpSpec {
    /// Chains for any SNI (or none).
    pub default: Vec<Credential>,
    /// Chains for particular SNI names.
    pub by_name: Vec<(String, Vec<Credential>)>,
    /// The misbehaviour.
    pub behaviour: Behaviour,
    /// The latency knob: one round trip, added to everything the server writes (and to the
    /// TCP handshake).
    pub latency: Duration,
    /// TLS from the first octet (RFC 8314, port 465) instead of STARTTLS.
    pub implicit_tls: bool,
    /// TLS 1.2 only.
    pub tls12_only: bool,
    /// Where accepted messages go; without one, MAIL, RCPT and DATA are unknown commands.
    pub mailbox: Option<Mailbox>,
}

/// A message the lab server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// MAIL FROM's address.
    pub from: String,
    /// RCPT TO's addresses.
    pub to: Vec<String>,
    /// The message, dot-stuffing undone, lines ending in CRLF.
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
    /// MAIL FROM's parameters (`SIZE=...`, `BODY=8BITMIME`, `SMTPUTF8`), as sent.
    pub params: String,
}

/// The SIZE limit lab mail servers announce (RFC 1870).
pub const SIZE_LIMIT: usize = 1_000_000;

/// The messages a lab server accepted (shared with the test that reads them).
#[derive(Clone, Debug, Default)]
pub struct Mailbox(Arc<std::sync::Mutex<Vec<Received>>>);

impl Mailbox {
    /// Every message so far.
    pub fn messages(&self) -> Vec<Received> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A running SMTP server.
#[derive(Debug)]
pub struct SmtpServer {
    addr: SocketAddr,
    sni: SniLog,
    _acceptor: Acceptor,
}

impl SmtpServer {
    /// Starts a server on 127.0.0.1 (port chosen at run time).
    pub fn start(spec: SmtpSpec) -> io::Result<Self> {
        Self::start_on("127.0.0.1:0", spec)
    }

    /// Starts a server on `bind` (e.g. `[::1]:0`).
    pub fn start_on(bind: &str, spec: SmtpSpec) -> io::Result<Self> {
        let (config, sni) = server_config_by_name(
            spec.default.clone(),
            spec.by_name.clone(),
            ServerOptions {
                tls12_only: spec.tls12_only,
                ..ServerOptions::default()
            },
        );
        let listener = TcpListener::bind(bind)?;
        let addr = listener.local_addr()?;
        let acceptor = accept_loop(listener, move |stream| {
            let mail = spec.mailbox.as_ref();
            let _ = if spec.implicit_tls {
                serve_implicit(stream, &config, spec.behaviour, spec.latency, mail)
            } else {
                serve(stream, &config, spec.behaviour, spec.latency, mail)
            };
        })?;
        Ok(Self {
            addr,
            sni,
            _acceptor: acceptor,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The SNI names received, one per handshake.
    pub fn server_names(&self) -> Vec<Option<String>> {
        self.sni.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where a reloadable server reads its credentials: one key file and one chain file per key
/// algorithm (PEM, leaf first), as Postfix's `smtpd_tls_chain_files` has them.
#[derive(Clone, Debug)]
pub struct CredentialFiles {
    /// The private key (PKCS#8, SEC1 or PKCS#1 PEM).
    pub key: std::path::PathBuf,
    /// The chain.
    pub chain: std::path::PathBuf,
}

fn load_credentials(files: &[CredentialFiles]) -> Result<Vec<Credential>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    files
        .iter()
        .map(|f| {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&f.chain)
                .map_err(|e| format!("{}: {e}", f.chain.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{}: {e}", f.chain.display()))?;
            let key = PrivateKeyDer::from_pem_file(&f.key)
                .map_err(|e| format!("{}: {e}", f.key.display()))?;
            Credential::from_parts(chain, &key)
        })
        .collect()
}

/// A Postfix-like server that reads its key and chain files at start and again whenever the
/// reload file changes (its reload command touches it). A reload whose files do not load (or
/// whose key does not match its certificate) keeps the previous credentials, as a failed
/// `postfix reload` would leave the running daemon.
#[derive(Debug)]
pub struct ReloadingServer {
    addr: SocketAddr,
    reloads: Arc<std::sync::atomic::AtomicUsize>,
    _acceptor: Acceptor,
}

impl ReloadingServer {
    /// Starts it on 127.0.0.1.
    pub fn start(files: Vec<CredentialFiles>, reload: std::path::PathBuf) -> io::Result<Self> {
        let first = load_credentials(&files).map_err(io::Error::other)?;
        let make =
            |c: Vec<Credential>| server_config_by_name(c, Vec::new(), ServerOptions::default()).0;
        let stamp = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let state = Arc::new(std::sync::Mutex::new((stamp(&reload), make(first))));
        let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counter = reloads.clone();
        let acceptor = accept_loop(listener, move |stream| {
            let config = {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let now = stamp(&reload);
                if now != s.0 {
                    s.0 = now;
                    if let Ok(c) = load_credentials(&files) {
                        s.1 = make(c);
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                s.1.clone()
            };
            let _ = serve(stream, &config, Behaviour::Normal, Duration::ZERO, None);
        })?;
        Ok(Self {
            addr,
            reloads,
            _acceptor: acceptor,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many reloads loaded new credentials.
    pub fn reloads(&self) -> usize {
        self.reloads.load(Ordering::Relaxed)
    }
}

/// The accept thread of a lab server; it stops (and waits for its connections) when dropped.
#[derive(Debug)]
struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until stopped, each served on its own thread (bounded by timeouts).
fn accept_loop(
    listener: TcpListener,
    handle: impl Fn(TcpStream) + Send + Sync + 'static,
) -> io::Result<Acceptor> {
    listener.set_nonblocking(true)?;
    let handle = Arc::new(handle);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_inner = stop.clone();
    let thread = std::thread::spawn(move || {
        let started = Instant::now();
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        while !stop_inner.load(Ordering::Relaxed) && started.elapsed() < crate::lifetime() {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
                    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
                    let h = handle.clone();
                    workers.push(std::thread::spawn(move || h(stream)));
                    workers.retain(|w| !w.is_finished());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => break,
            }
        }
        for w in workers {
            let _ = w.join();
        }
    });
    Ok(Acceptor {
        stop,
        thread: Some(thread),
    })
}

/// Copies bytes both ways until either side closes, then closes both (nobody waits for a
/// timeout).
fn splice(a: TcpStream, b: TcpStream) -> io::Result<()> {
    let (mut a_read, mut b_write) = (a.try_clone()?, b.try_clone()?);
    let (mut b_read, mut a_write) = (b, a);
    let up = std::thread::spawn(move || {
        let _ = io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(Shutdown::Both);
    });
    let _ = io::copy(&mut b_read, &mut a_write);
    let _ = a_write.shutdown(Shutdown::Both);
    let _ = up.join();
    Ok(())
}

/// The latency knob as a network link: every octet the server writes reaches the client one
/// round trip (`latency`) later, without holding the server up, so each request and reply
/// costs one round trip whatever the flights look like (TLS included). With [`serve`]'s wait
/// after accepting (the TCP handshake), connect and banner cost two, as on a real network.
struct Slow {
    inner: TcpStream,
    latency: Duration,
    link: Option<(Delayed, JoinHandle<()>)>,
}

/// Octets on their way, with the time they may arrive.
type Delayed = std::sync::mpsc::Sender<(Instant, Vec<u8>)>;

impl Slow {
    fn new(inner: TcpStream, latency: Duration) -> io::Result<Self> {
        if latency.is_zero() {
            return Ok(Self {
                inner,
                latency,
                link: None,
            });
        }
        let mut out = inner.try_clone()?;
        let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
        // Ends when the sender is dropped (bounded by the connection's life).
        let writer = std::thread::spawn(move || {
            while let Ok((at, bytes)) = rx.recv() {
                let wait = at.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                if out.write_all(&bytes).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            inner,
            latency,
            link: Some((tx, writer)),
        })
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        // Everything written is delivered before the connection is shut down.
        if let Some((tx, writer)) = self.link.take() {
            drop(tx);
            let _ = writer.join();
        }
    }
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.link {
            None => self.inner.write(buf),
            Some((tx, _)) => {
                tx.send((Instant::now() + self.latency, buf.to_vec()))
                    .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn send(w: &mut impl Write, text: &str, split: bool) -> io::Result<()> {
    if split {
        for b in text.as_bytes() {
            w.write_all(&[*b])?;
            w.flush()?;
        }
        Ok(())
    } else {
        w.write_all(text.as_bytes())?;
        w.flush()
    }
}

/// Reads one command line (at most 1000 octets).
fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.take(1000).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_owned()))
}

enum Next {
    Quit,
    StartTls,
}

/// The command loop, before TLS (`tls` false) or after it.
fn commands(
    io: &mut (impl BufRead + Write),
    behaviour: Behaviour,
    tls: bool,
    mail: Option<&Mailbox>,
) -> io::Result<Next> {
    let split = behaviour == Behaviour::SplitReplies;
    let mut envelope: Option<(String, String, Vec<String>)> = None;
    let address = |line: &str| -> String {
        let a = line.split_once(':').map_or("", |(_, a)| a).trim();
        a.split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    };
    for _ in 0..50 {
        let Some(line) = read_line(io)? else {
            return Ok(Next::Quit);
        };
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" if behaviour == Behaviour::NoEhlo => {
                send(io, "502 5.5.1 EHLO not implemented\r\n", split)?
            }
            "EHLO" if behaviour == Behaviour::EndlessReply => {
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(60) {
                    if send(io, "250-PIPELINING\r\n", false).is_err() {
                        break;
                    }
                }
                return Ok(Next::Quit);
            }
            "EHLO" if behaviour == Behaviour::HugeLine => {
                let _ = send(io, &format!("250 {}\r\n", "H".repeat(1 << 20)), false);
                return Ok(Next::Quit);
            }
            "STARTTLS" if behaviour == Behaviour::StallHandshake => {
                send(io, "220 2.0.0 go ahead\r\n", split)?;
                // Read and ignore the ClientHello and anything after it, answering nothing,
                // until the client gives up and closes (or a minute passes).
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(60) {
                    match io.fill_buf() {
                        Ok([]) | Err(_) => break,
                        Ok(b) => {
                            let n = b.len();
                            io.consume(n);
                        }
                    }
                }
                return Ok(Next::Quit);
            }
            "EHLO" => {
                let mut reply = format!(
                    "250-lab.test greets you\r\n250-PIPELINING\r\n250-SIZE {SIZE_LIMIT}\r\n250-SMTPUTF8\r\n"
                );
                if !tls && behaviour != Behaviour::NoStartTls {
                    reply.push_str("250-STARTTLS\r\n");
                }
                if behaviour == Behaviour::LongLine {
                    reply.push_str(&format!("250-X{}\r\n", "L".repeat(5000)));
                }
                reply.push_str("250 8BITMIME\r\n");
                send(io, &reply, split)?;
            }
            "HELO" => send(io, "250 lab.test\r\n", split)?,
            "STARTTLS" if tls => send(io, "503 5.5.1 TLS already active\r\n", split)?,
            // A server that does not offer STARTTLS does not accept it either.
            "STARTTLS" if matches!(behaviour, Behaviour::NoStartTls | Behaviour::NoEhlo) => {
                send(io, "502 5.5.1 command not implemented\r\n", split)?;
            }
            "STARTTLS" => match behaviour {
                Behaviour::RefuseStartTls => send(io, "454 4.7.0 TLS not available\r\n", split)?,
                Behaviour::AbortHandshake => {
                    send(io, "220 2.0.0 go ahead\r\n", split)?;
                    return Ok(Next::Quit);
                }
                Behaviour::GarbageAfterStartTls => {
                    send(io, "220 2.0.0 go ahead\r\n", split)?;
                    send(io, "this is not a TLS record\r\n", split)?;
                    return Ok(Next::Quit);
                }
                Behaviour::InjectAfterStartTls => {
                    send(io, "220 2.0.0 go ahead\r\n250 2.0.0 injected\r\n", false)?;
                    return Ok(Next::StartTls);
                }
                _ => {
                    send(io, "220 2.0.0 go ahead\r\n", split)?;
                    return Ok(Next::StartTls);
                }
            },
            "QUIT" => {
                send(io, "221 2.0.0 bye\r\n", split)?;
                return Ok(Next::Quit);
            }
            // Recipients whose local part starts with `defer` get 450, with `reject` 550; a
            // message for one starting with `dropdata` loses its connection half-way, for one
            // starting with `spam` gets 554 at its end.
            "MAIL" if mail.is_some() => {
                let params = line
                    .split_once('>')
                    .map_or("", |(_, p)| p)
                    .trim()
                    .to_owned();
                let size = params
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix("SIZE="))
                    .and_then(|v| v.parse::<usize>().ok());
                if size.is_some_and(|n| n > SIZE_LIMIT) {
                    send(io, "552 5.3.4 message size exceeds fixed limit\r\n", split)?;
                } else if address(&line).starts_with("defer") {
                    // A sender whose local part starts with `defer`: MAIL gets 452.
                    send(io, "452 4.3.1 insufficient system storage\r\n", split)?;
                } else {
                    envelope = Some((address(&line), params, Vec::new()));
                    send(io, "250 2.1.0 ok\r\n", split)?;
                }
            }
            "RCPT" if mail.is_some() => match &mut envelope {
                Some((_, _, to)) => {
                    let a = address(&line);
                    if a.starts_with("defer") {
                        send(io, "450 4.2.1 mailbox busy, try again later\r\n", split)?;
                    } else if a.starts_with("reject") {
                        send(io, "550 5.1.1 no such user\r\n", split)?;
                    } else {
                        to.push(a);
                        send(io, "250 2.1.5 ok\r\n", split)?;
                    }
                }
                None => send(io, "503 5.5.1 MAIL first\r\n", split)?,
            },
            "RSET" => {
                envelope = None;
                send(io, "250 2.0.0 ok\r\n", split)?;
            }
            "DATA" if mail.is_some() => match (envelope.take(), mail) {
                (Some((from, params, to)), Some(mail)) if !to.is_empty() => {
                    send(io, "354 go ahead\r\n", split)?;
                    if to.iter().any(|a| a.starts_with("dropdata")) {
                        let _ = read_line(io)?;
                        return Ok(Next::Quit);
                    }
                    let mut data = String::new();
                    // At most 10,000 lines of at most 1000 octets: a lab bound.
                    for _ in 0..10_000 {
                        let Some(l) = read_line(io)? else {
                            return Ok(Next::Quit);
                        };
                        if l == "." {
                            break;
                        }
                        data.push_str(l.strip_prefix('.').unwrap_or(&l));
                        data.push_str("\r\n");
                    }
                    // A message for a recipient whose local part starts with `spam` is
                    // refused at its end.
                    if to.iter().any(|a| a.starts_with("spam")) {
                        send(io, "554 5.7.1 message refused as spam\r\n", split)?;
                        continue;
                    }
                    mail.0
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(Received {
                            from,
                            to,
                            data,
                            tls,
                            params,
                        });
                    send(io, "250 2.0.0 queued\r\n", split)?;
                }
                _ => send(io, "503 5.5.1 MAIL and RCPT first\r\n", split)?,
            },
            _ => send(io, "500 5.5.2 unknown command\r\n", split)?,
        }
    }
    Ok(Next::Quit)
}

fn serve(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    behaviour: Behaviour,
    latency: Duration,
    mail: Option<&Mailbox>,
) -> io::Result<()> {
    let raw = stream.try_clone()?;
    // The TCP handshake's round trip.
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    let mut io = BufReader::new(Slow::new(stream, latency)?);
    if let Behaviour::SlowBanner(d) = behaviour {
        std::thread::sleep(d);
    }
    if behaviour == Behaviour::DripBanner {
        // Hostile: one octet a second; a client with step timeouts gives up long before.
        for b in "220 lab.test ESMTP\r\n".bytes().cycle().take(60) {
            if io
                .get_mut()
                .write_all(&[b])
                .and_then(|()| io.get_mut().flush())
                .is_err()
            {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let _ = raw.shutdown(Shutdown::Both);
        return Ok(());
    }
    send(
        io.get_mut(),
        "220 lab.test ESMTP\r\n",
        behaviour == Behaviour::SplitReplies,
    )?;
    let mut rw = ReadWrite(&mut io);
    match commands(&mut rw, behaviour, false, mail)? {
        Next::Quit => {
            drop(io);
            let _ = raw.shutdown(Shutdown::Both);
            Ok(())
        }
        Next::StartTls => over_tls(io.into_inner(), config, behaviour, &raw, None, mail),
    }
}

/// RFC 8314: the handshake first, then banner and commands inside TLS (no STARTTLS).
fn serve_implicit(
    stream: TcpStream,
    config: &Arc<ServerConfig>,
    behaviour: Behaviour,
    latency: Duration,
    mail: Option<&Mailbox>,
) -> io::Result<()> {
    let raw = stream.try_clone()?;
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    let banner = "220 lab.test ESMTP\r\n";
    over_tls(
        Slow::new(stream, latency)?,
        config,
        behaviour,
        &raw,
        Some(banner),
        mail,
    )
}

/// The handshake, then (the banner and) the commands inside TLS; everything written is
/// delivered before the connection is shut down.
fn over_tls(
    plain: Slow,
    config: &Arc<ServerConfig>,
    behaviour: Behaviour,
    raw: &TcpStream,
    banner: Option<&str>,
    mail: Option<&Mailbox>,
) -> io::Result<()> {
    let conn = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, plain);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let mut tls_io = BufReader::new(tls);
    if let Some(b) = banner {
        send(tls_io.get_mut(), b, behaviour == Behaviour::SplitReplies)?;
    }
    let mut rw = ReadWrite(&mut tls_io);
    let _ = commands(&mut rw, behaviour, true, mail)?;
    drop(tls_io);
    let _ = raw.shutdown(Shutdown::Both);
    Ok(())
}

/// A BufReader whose writes go to the inner stream.
struct ReadWrite<'a, S: Read + Write>(&'a mut BufReader<S>);

impl<S: Read + Write> Read for ReadWrite<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Read + Write> BufRead for ReadWrite<'_, S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.0.consume(amt);
    }
}

impl<S: Read + Write> Write for ReadWrite<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.get_mut().flush()
    }
}
