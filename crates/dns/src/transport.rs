//! Reaching a DNS server: UDP first, TCP when the answer is truncated (RFC 7766), every step
//! under a timeout, and the response checked against the question (id, name, type) so that a
//! stray or spoofed datagram is never taken for the answer.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use crate::message::{self, Message, QueryFlags, WireError};
use crate::name::Name;
use crate::rdata::type_name;

/// Why a lookup produced no usable response. None of these ever means "no records".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No response within the time limit (after retries).
    Timeout {
        /// The server asked.
        server: String,
    },
    /// The server answered SERVFAIL (in trusted-AD mode this is how bogus data arrives).
    Servfail,
    /// The server refused, or answered another error code.
    Rcode(u16),
    /// The response was malformed.
    Malformed(String),
    /// The response answered a different question.
    Mismatch(String),
    /// The network failed (connection refused, unreachable).
    Network(String),
    /// A CNAME/DNAME chain was too long or looped.
    ChainTooLong(String),
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { server } => write!(f, "no answer from {server} (timed out)"),
            Self::Servfail => f.write_str("the resolver answered SERVFAIL"),
            Self::Rcode(rc) => write!(f, "the resolver answered with response code {rc}"),
            Self::Malformed(e) => write!(f, "malformed response: {e}"),
            Self::Mismatch(e) => write!(f, "the response answers another question: {e}"),
            Self::Network(e) => write!(f, "network error: {e}"),
            Self::ChainTooLong(e) => write!(f, "alias chain too long or looping: {e}"),
        }
    }
}

impl std::error::Error for LookupError {}

impl From<WireError> for LookupError {
    fn from(e: WireError) -> Self {
        Self::Malformed(e.0)
    }
}

/// Sends one question and returns the checked response. Tests inject their own.
pub trait Transport: Send + Sync {
    /// Asks `qname`/`qtype` with `flags`.
    fn exchange(&self, qname: &Name, qtype: u16, flags: QueryFlags)
    -> Result<Message, LookupError>;

    /// The server's address, for messages and the loopback check of trusted-AD mode.
    fn server(&self) -> SocketAddr;
}

/// UDP with TCP fallback to one server.
#[derive(Clone, Debug)]
pub struct NetTransport {
    server: SocketAddr,
    timeout: Duration,
    attempts: u32,
}

impl NetTransport {
    /// A transport to `server` with a per-attempt timeout and two UDP attempts.
    pub fn new(server: SocketAddr, timeout: Duration) -> Self {
        Self {
            server,
            timeout,
            attempts: 2,
        }
    }

    fn udp(&self, query: &[u8], id: u16) -> Result<Option<Vec<u8>>, io::Error> {
        let bind = if self.server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(self.server)?;
        socket.send(query)?;
        let deadline = deadline_after(self.timeout);
        let mut buf = vec![0u8; 65_535];
        // Datagrams with another id are ignored (bounded: until the deadline).
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            socket.set_read_timeout(Some(left))?;
            match socket.recv(&mut buf) {
                Ok(n) if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                    return Ok(Some(buf[..n].to_vec()));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One exchange over TCP with one deadline for all of it (connect, write, every read): a
    /// server that sends a byte per read timeout cannot keep it alive (issue 12, F8; D-19).
    pub fn exchange_tcp(&self, query: &[u8]) -> Result<Vec<u8>, io::Error> {
        let deadline = deadline_after(self.timeout);
        let left = || {
            let d = deadline.saturating_duration_since(Instant::now());
            if d.is_zero() {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the TCP exchange took longer than {} ms",
                        self.timeout.as_millis()
                    ),
                ))
            } else {
                Ok(d)
            }
        };
        let mut s = TcpStream::connect_timeout(&self.server, left()?)?;
        s.set_write_timeout(Some(left()?))?;
        let len = u16::try_from(query.len()).map_err(io::Error::other)?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(query);
        s.write_all(&framed)?;
        let mut read_all = |buf: &mut [u8]| -> Result<(), io::Error> {
            let mut done = 0;
            while done < buf.len() {
                s.set_read_timeout(Some(left()?))?;
                match s.read(&mut buf[done..]) {
                    Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        let mut len = [0u8; 2];
        read_all(&mut len)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        read_all(&mut buf)?;
        Ok(buf)
    }
}

/// `timeout` from now, or a day from now when the clock cannot hold that (a huge `--timeout`).
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(now)
}

fn random_id() -> u16 {
    let mut b = [0u8; 2];
    if getrandom::getrandom(&mut b).is_err() {
        return 0x4d58;
    }
    u16::from_be_bytes(b)
}

/// Checks that `msg` answers `qname`/`qtype`.
pub fn check_question(msg: &Message, qname: &Name, qtype: u16) -> Result<(), LookupError> {
    match &msg.question {
        Some((n, t)) if n == qname && *t == qtype => Ok(()),
        Some((n, t)) => Err(LookupError::Mismatch(format!(
            "asked {qname} {}, got an answer for {n} {}",
            type_name(qtype),
            type_name(*t)
        ))),
        None => Err(LookupError::Mismatch(format!(
            "asked {qname} {}, the response has no question",
            type_name(qtype)
        ))),
    }
}

impl Transport for NetTransport {
    fn exchange(
        &self,
        qname: &Name,
        qtype: u16,
        flags: QueryFlags,
    ) -> Result<Message, LookupError> {
        let net = |e: io::Error| LookupError::Network(format!("{}: {e}", self.server));
        for _ in 0..self.attempts {
            let id = random_id();
            let query = message::build_query(id, qname, qtype, flags);
            let Some(raw) = self.udp(&query, id).map_err(net)? else {
                continue;
            };
            let mut msg = message::parse_response(&raw)?;
            if msg.flags.tc {
                let raw = self.exchange_tcp(&query).map_err(net)?;
                msg = message::parse_response(&raw)?;
                if msg.id != id {
                    return Err(LookupError::Mismatch(format!(
                        "TCP response id {} for query id {id}",
                        msg.id
                    )));
                }
            }
            check_question(&msg, qname, qtype)?;
            return Ok(msg);
        }
        Err(LookupError::Timeout {
            server: self.server.to_string(),
        })
    }

    fn server(&self) -> SocketAddr {
        self.server
    }
}

/// Parses `ADDR[:PORT]` (IPv6 as `[::1]:5353` or bare `::1`), port 53 by default.
pub fn parse_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "resolver \"{text}\": expected ADDR or ADDR:PORT, with IPv6 in brackets when a port is given ([::1]:5353)"
    ))
}

/// The first `nameserver` of a resolv.conf text.
pub fn resolv_conf_server(text: &str) -> Option<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| parse_server(rest.trim().split('%').next().unwrap_or("")).ok())
}
