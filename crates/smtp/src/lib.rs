//! The SMTP client side of DANE (RFC 7672 sections 2.2 and 8; RFC 3207): banner, EHLO (HELO
//! fallback), STARTTLS, the handshake through the DANE verifier with SNI from the plan, EHLO
//! again, QUIT. Async (tokio), with a timeout on every step and limits on every reply
//! (CHECKLIST S-01, S-03, S-04, S-07).
//!
//! Once DANE applies, nothing can talk the client out of TLS: a missing STARTTLS keyword, a
//! refused STARTTLS, a failed handshake or an unauthenticated chain end the session with a
//! reason, never in plaintext. Bytes the server sends ahead of the handshake are an error
//! (the STARTTLS command injection class), and nothing learnt before TLS is used after it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod deliver;
pub mod policy_table;
mod reply;
mod session;

pub use reply::{Limits, Reply, read_reply};
pub use session::{
    Connector, Envelope, LINE_LIMIT, Policy, Security, SessionReport, Settings, Stage,
    TRANSCRIPT_LINES, TlsInfo, TlsStart, session, transfer,
};

use std::fmt;

/// Why a session stopped early.
#[derive(Debug)]
pub enum SmtpError {
    /// A socket error.
    Io(std::io::Error),
    /// The server closed the connection.
    Closed,
    /// A step took longer than its timeout.
    Timeout(Stage),
    /// The server broke the protocol (malformed or over-long reply).
    Protocol(String),
    /// The server answered with an error code.
    Rejected(Stage, Reply),
    /// STARTTLS is not offered (S-01).
    NoStartTls,
    /// The server sent bytes after its STARTTLS reply, before the handshake (S-04).
    Injection(usize),
    /// The TLS handshake failed, or DANE did not authenticate the server.
    Tls(mxdane_tls::TlsFailure),
    /// The message is larger than the SIZE the server announced (RFC 1870): not sent.
    TooBig {
        /// The message's size in octets.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// An address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531).
    Utf8Unsupported,
}

impl SmtpError {
    /// Whether trying again (later, or at another server) cannot help: a 5xx reply, a message
    /// too large for the server, or addresses it cannot take.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Rejected(_, r) => r.code / 100 == 5,
            Self::TooBig { .. } | Self::Utf8Unsupported => true,
            _ => false,
        }
    }
}

impl fmt::Display for SmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "network error: {e}"),
            Self::Closed => f.write_str("the server closed the connection"),
            Self::Timeout(s) => write!(f, "timed out during {}", s.name()),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Rejected(s, r) => write!(f, "{} rejected: {}", s.name(), r.summary()),
            Self::NoStartTls => f.write_str("the server does not offer STARTTLS"),
            Self::Injection(n) => write!(
                f,
                "the server sent {n} octet(s) after its STARTTLS reply and before the handshake (command injection)"
            ),
            Self::Tls(e) => write!(f, "{e}"),
            Self::TooBig { size, limit } => write!(
                f,
                "the message ({size} octets) exceeds the server's size limit ({limit} octets)"
            ),
            Self::Utf8Unsupported => f.write_str(
                "an address is not ASCII and the server does not offer SMTPUTF8 (RFC 6531)",
            ),
        }
    }
}

impl std::error::Error for SmtpError {}

impl From<std::io::Error> for SmtpError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
