//! The in-process DNS server: UDP and TCP on 127.0.0.1, one port chosen at run time, answering
//! from a [`World`] as a recursive resolver for validating stubs or as one authoritative server.
//! It stops when dropped, or after [`crate::lifetime`] whatever happens.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::forge::{self, Forgery};
use super::message::{self, Response, rcode};
use super::name::Name;
use super::resolve::{self, Mode, Outcome};
use super::world::World;

const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest UDP response sent, whatever the client advertises (the DNS flag day 2020 value).
const UDP_LIMIT: usize = 1232;

/// The world a server answers from; a dynamic zone swaps in a newly signed one after each
/// update.
pub type SharedWorld = Arc<std::sync::RwLock<Arc<World>>>;

/// The questions a server received, in order.
pub type QueryLog = Arc<Mutex<Vec<(Name, u16)>>>;

/// A running lab DNS server.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    log: QueryLog,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    /// Answers for the whole world, like a recursive resolver (for stubs that validate).
    pub fn recursive(world: Arc<World>) -> io::Result<Self> {
        Self::start(world, Mode::Recursive)
    }

    /// Answers for the whole world like a validating recursive resolver: AD on secure data,
    /// SERVFAIL on bogus data (for trusted-AD clients).
    pub fn validating(world: Arc<World>) -> io::Result<Self> {
        Self::start(world, Mode::Validating)
    }

    /// Answers like [`DnsServer::recursive`], then rewrites the answers as `forgeries` say: a
    /// man in the middle between a validating stub and its resolver (issue 12's forgery suite).
    pub fn forging(world: Arc<World>, forgeries: Vec<Forgery>) -> io::Result<Self> {
        Self::start_with(world, Mode::Recursive, forgeries)
    }

    /// Answers as authoritative server `server` (0-based) of the zone `apex`.
    pub fn authoritative(world: Arc<World>, apex: &str, server: usize) -> io::Result<Self> {
        let apex = Name::parse(apex);
        let zone = world
            .zones()
            .iter()
            .position(|z| z.apex == apex)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no zone {apex}")))?;
        Self::start(world, Mode::Authoritative { zone, server })
    }

    /// Answers in `mode`, every response `latency` late (the latency knob: one round trip per
    /// query, UDP or TCP, without holding up other queries).
    pub fn with_latency(world: Arc<World>, mode: Mode, latency: Duration) -> io::Result<Self> {
        Self::start_full(world, mode, Vec::new(), latency)
    }

    fn start(world: Arc<World>, mode: Mode) -> io::Result<Self> {
        Self::start_with(world, mode, Vec::new())
    }

    fn start_with(world: Arc<World>, mode: Mode, forgeries: Vec<Forgery>) -> io::Result<Self> {
        Self::start_full(world, mode, forgeries, Duration::ZERO)
    }

    /// Answers in `mode` from a world that changes (a dynamic zone's); with `updates`, server
    /// 0 of that zone takes RFC 2136 UPDATEs.
    pub fn shared(
        world: SharedWorld,
        mode: Mode,
        updates: Option<Arc<super::dynamic::Dynamic>>,
    ) -> io::Result<Self> {
        Self::start_any(world, updates, mode, Vec::new(), Duration::ZERO)
    }

    /// A recursive server for a world that changes (a dynamic zone's) whose answers
    /// `forgeries` rewrite: a man in the middle on the upstream resolver's path.
    pub fn shared_forging(world: SharedWorld, forgeries: Vec<Forgery>) -> io::Result<Self> {
        Self::start_any(world, None, Mode::Recursive, forgeries, Duration::ZERO)
    }

    fn start_full(
        world: Arc<World>,
        mode: Mode,
        forgeries: Vec<Forgery>,
        latency: Duration,
    ) -> io::Result<Self> {
        Self::start_any(
            Arc::new(std::sync::RwLock::new(world)),
            None,
            mode,
            forgeries,
            latency,
        )
    }

    fn start_any(
        world: SharedWorld,
        updates: Option<Arc<super::dynamic::Dynamic>>,
        mode: Mode,
        forgeries: Vec<Forgery>,
        latency: Duration,
    ) -> io::Result<Self> {
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = QueryLog::default();
        let service = Arc::new(Service {
            world,
            updates,
            mode,
            forgeries,
            log: log.clone(),
            latency,
        });
        udp.set_read_timeout(Some(Duration::from_millis(20)))?;
        tcp.set_nonblocking(true)?;
        let mut threads = Vec::new();
        {
            let (service, stop) = (service.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                serve_udp(&udp, &service, &stop);
            }));
        }
        {
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                serve_tcp(&tcp, &service, &stop);
            }));
        }
        Ok(Self {
            addr,
            log,
            stop,
            threads,
        })
    }

    /// The address (UDP and TCP share the port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The questions received so far.
    pub fn queries(&self) -> Vec<(Name, u16)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A UDP socket and a TCP listener on the same loopback port.
fn bind_pair() -> io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        match TcpListener::bind(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port pair")))
}

/// What one server answers from, shared by its threads.
struct Service {
    world: SharedWorld,
    updates: Option<Arc<super::dynamic::Dynamic>>,
    mode: Mode,
    forgeries: Vec<Forgery>,
    log: QueryLog,
    latency: Duration,
}

/// Answers one message; `None` means stay silent.
fn respond(buf: &[u8], service: &Service, limit: usize) -> Option<Vec<u8>> {
    let snapshot = service
        .world
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (world, mode, log) = (&*snapshot, service.mode, &service.log);
    // RFC 2136 UPDATE: the primary of a dynamic zone applies it; anyone else refuses.
    if buf.get(2).is_some_and(|f| (f >> 3) & 0x0f == 5) && buf.get(2).is_some_and(|f| f & 0x80 == 0)
    {
        return Some(match (&service.updates, mode) {
            (Some(d), Mode::Authoritative { server: 0, .. }) => d.handle(buf),
            _ => super::dynamic::refuse(buf),
        });
    }
    let q = match message::parse_query(buf) {
        Ok(q) => q,
        Err(_) => {
            // FORMERR if at least the id can be echoed (RFC 1035 section 4.1.1).
            let id = buf.get(..2)?;
            let mut out = id.to_vec();
            out.extend_from_slice(&[
                0x80,
                rcode::FORMERR.to_be_bytes()[1],
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]);
            return Some(out);
        }
    };
    log.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((q.qname.clone(), q.qtype));
    let resp = if q.qclass != 1 {
        Response {
            rcode: rcode::REFUSED,
            ..Response::default()
        }
    } else {
        match resolve::answer(world, mode, &q.qname, q.qtype, q.dnssec_ok, q.cd) {
            Outcome::Reply(r) if service.forgeries.is_empty() => r,
            Outcome::Reply(r) => forge::rewrite(world, &service.forgeries, &q.qname, q.qtype, r),
            Outcome::Drop => return None,
        }
    };
    let limit = if limit == usize::MAX {
        65_535
    } else {
        q.edns_size.map_or(512, |s| usize::from(s).min(limit))
    };
    Some(message::encode(
        &q,
        &resp,
        !matches!(mode, Mode::Authoritative { .. }),
        limit,
    ))
}

fn serve_udp(socket: &UdpSocket, service: &Service, stop: &AtomicBool) {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    // With latency, responses leave from a delay line (in order: the delay is constant).
    let delayed = if service.latency.is_zero() {
        None
    } else {
        socket.try_clone().ok().map(|out| {
            let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>, SocketAddr)>();
            let line = std::thread::spawn(move || {
                while let Ok((at, bytes, peer)) = rx.recv() {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                    let _ = out.send_to(&bytes, peer);
                }
            });
            (tx, line)
        })
    };
    while !stop.load(Ordering::Relaxed) && started.elapsed() < crate::lifetime() {
        match socket.recv_from(&mut buf) {
            Ok((n, peer)) => {
                if let Some(out) = respond(&buf[..n], service, UDP_LIMIT) {
                    match &delayed {
                        Some((tx, _)) => {
                            let _ = tx.send((Instant::now() + service.latency, out, peer));
                        }
                        None => {
                            let _ = socket.send_to(&out, peer);
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    if let Some((tx, line)) = delayed {
        drop(tx);
        let _ = line.join();
    }
}

fn serve_tcp(listener: &TcpListener, service: &Arc<Service>, stop: &Arc<AtomicBool>) {
    let started = Instant::now();
    let mut handlers: Vec<JoinHandle<()>> = Vec::new();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < crate::lifetime() {
        match listener.accept() {
            Ok((stream, _)) => {
                let (service, stop) = (service.clone(), stop.clone());
                handlers.push(std::thread::spawn(move || {
                    serve_tcp_connection(stream, &service, &stop);
                }));
                handlers.retain(|h| !h.is_finished());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => break,
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn serve_tcp_connection(mut stream: TcpStream, service: &Service, stop: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(TCP_TIMEOUT));
    let _ = stream.set_write_timeout(Some(TCP_TIMEOUT));
    // At most 100 messages per connection (RFC 7766 allows pipelining; tests need few).
    for _ in 0..100 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut buf).is_err() {
            return;
        }
        let Some(out) = respond(&buf, service, usize::MAX) else {
            continue;
        };
        if !service.latency.is_zero() {
            std::thread::sleep(service.latency);
        }
        let mut framed = u16::try_from(out.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes()
            .to_vec();
        framed.extend_from_slice(&out);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// Sends one query over UDP (falling back to TCP on truncation) and returns the raw response;
/// `None` on timeout. For tests.
pub fn ask(addr: SocketAddr, qname: &Name, qtype: u16, timeout: Duration) -> Option<Vec<u8>> {
    ask_with(addr, qname, qtype, true, timeout)
}

/// [`ask`] with the CD bit as given (clear it to let a validating resolver judge).
pub fn ask_with(
    addr: SocketAddr,
    qname: &Name,
    qtype: u16,
    cd: bool,
    timeout: Duration,
) -> Option<Vec<u8>> {
    let flags = mxdane_dns::message::QueryFlags {
        rd: true,
        cd,
        dnssec_ok: true,
    };
    let query = message::build_query(0x4d58, qname, qtype, flags);
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(timeout)).ok()?;
    socket.send_to(&query, addr).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    let resp = buf[..n].to_vec();
    if resp.get(2).is_some_and(|b| b & 0x02 != 0) {
        return ask_tcp(addr, &query, timeout);
    }
    Some(resp)
}

/// One query over TCP.
pub fn ask_tcp(addr: SocketAddr, query: &[u8], timeout: Duration) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    let mut framed = u16::try_from(query.len()).ok()?.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    s.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}
