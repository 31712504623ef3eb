//! One SMTP session to one address under one policy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use mxdane_tls::{DaneTarget, Report, TlsFailure};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::SmtpError;
use crate::reply::{Limits, Reply, read_reply};

mod envelope;
pub use envelope::*;

/// How far a session got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Connecting.
    Connect,
    /// Waiting for the banner.
    Banner,
    /// EHLO (or HELO).
    Ehlo,
    /// STARTTLS.
    StartTls,
    /// The TLS handshake.
    Handshake,
    /// EHLO after TLS.
    EhloAfterTls,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA and the message.
    Data,
    /// QUIT.
    Quit,
    /// Finished.
    Done,
}

impl Stage {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Banner => "banner",
            Self::Ehlo => "EHLO",
            Self::StartTls => "STARTTLS",
            Self::Handshake => "TLS handshake",
            Self::EhloAfterTls => "EHLO after TLS",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::Quit => "QUIT",
            Self::Done => "done",
        }
    }
}

/// What to require of the session (Postfix's names, RFC 7672 section 6; S-06).
#[derive(Clone, Debug)]
pub enum Policy {
    /// DANE applies (usable TLSA records): STARTTLS, and a chain the records authenticate.
    Dane(DaneTarget),
    /// TLS is required, not authenticated (`encrypt`; secure TLSA records none of which is
    /// usable, D-12). The target's records are still reported against.
    Encrypt(DaneTarget),
    /// Opportunistic TLS (`may`): TLS when offered, plaintext otherwise.
    May(DaneTarget),
    /// No TLS at all (`none`): STARTTLS is not used even when offered.
    None,
}

impl Policy {
    fn target(&self) -> Option<DaneTarget> {
        match self {
            Self::Dane(t) => Some(t.clone()),
            Self::Encrypt(t) | Self::May(t) => Some(t.clone().unauthenticated()),
            Self::None => None,
        }
    }

    fn tls_required(&self) -> bool {
        matches!(self, Self::Dane(_) | Self::Encrypt(_))
    }

    /// `dane`, `encrypt`, `may` or `none`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dane(_) => "dane",
            Self::Encrypt(_) => "encrypt",
            Self::May(_) => "may",
            Self::None => "none",
        }
    }
}

/// Where connections go: directly, or through routes that tests set (a public address and
/// port mapped to a loopback port chosen at run time); and, optionally, how many sessions
/// may be open to one IP address at once (the monitor and surveys: never hammer one provider,
/// however many domains share its MX hosts).
#[derive(Clone, Debug, Default)]
pub struct Connector {
    routes: HashMap<SocketAddr, SocketAddr>,
    per_address: Option<std::sync::Arc<PerAddress>>,
}

/// Session slots per IP address.
#[derive(Debug)]
struct PerAddress {
    limit: usize,
    slots: std::sync::Mutex<HashMap<std::net::IpAddr, std::sync::Arc<tokio::sync::Semaphore>>>,
}

impl Connector {
    /// Connects to addresses as given.
    pub fn direct() -> Self {
        Self::default()
    }

    /// Sends connections for `from` to `to` instead.
    pub fn route(mut self, from: SocketAddr, to: SocketAddr) -> Self {
        self.routes.insert(from, to);
        self
    }

    /// At most `n` sessions open to one IP address at once (at least 1); further sessions
    /// wait for a slot before they connect (the wait is not part of their timeouts).
    pub fn limit_per_address(mut self, n: usize) -> Self {
        self.per_address = Some(std::sync::Arc::new(PerAddress {
            limit: n.max(1),
            slots: std::sync::Mutex::default(),
        }));
        self
    }

    /// A slot for a session to `ip`, held until dropped (None without a limit).
    async fn slot(&self, ip: std::net::IpAddr) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let per = self.per_address.as_ref()?;
        let semaphore = {
            let mut slots = per.slots.lock().unwrap_or_else(|e| e.into_inner());
            // Addresses nobody uses right now are forgotten, so the map stays as small as the
            // set of addresses in use.
            if slots.len() > 4096 {
                slots.retain(|_, s| s.available_permits() < per.limit);
            }
            slots
                .entry(ip)
                .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(per.limit)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }

    async fn connect(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        TcpStream::connect(self.routes.get(&addr).copied().unwrap_or(addr)).await
    }
}

/// Timeouts and limits (S-07).
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Each step: connect, banner, each reply, the handshake.
    pub step: Duration,
    /// The whole session.
    pub total: Duration,
    /// Reply limits.
    pub limits: Limits,
    /// How TLS starts.
    pub tls_start: TlsStart,
}

/// How a session starts TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsStart {
    /// STARTTLS after EHLO (RFC 3207).
    #[default]
    Starttls,
    /// TLS from the first octet (RFC 8314 section 3.3, port 465): the banner, EHLO and
    /// everything else come over TLS, and there is never a plaintext session.
    Implicit,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            step: Duration::from_secs(30),
            total: Duration::from_secs(120),
            limits: Limits::default(),
            tls_start: TlsStart::Starttls,
        }
    }
}

/// The protection a session had when it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS, the server authenticated by DANE.
    Authenticated,
    /// TLS without authentication.
    Encrypted,
    /// No TLS.
    Plaintext,
}

impl Security {
    /// `authenticated`, `encrypted` or `plaintext`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authenticated => "authenticated",
            Self::Encrypted => "encrypted",
            Self::Plaintext => "plaintext",
        }
    }
}

/// What the TLS session was.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// `TLSv1_3` or `TLSv1_2`.
    pub version: String,
    /// The cipher suite.
    pub cipher: String,
    /// The chain's judgement (which record matched at which depth, or why none did).
    pub report: Option<Report>,
}

/// The result of a session: how far it got, why it stopped, and what it had.
#[derive(Debug)]
pub struct SessionReport {
    /// The address connected to.
    pub address: SocketAddr,
    /// The policy's name.
    pub policy: &'static str,
    /// The last stage reached.
    pub reached: Stage,
    /// Whether the policy was satisfied (the session could carry mail).
    pub success: bool,
    /// The protection when the session ended.
    pub security: Security,
    /// Why it stopped early, if it did.
    pub error: Option<SmtpError>,
    /// Under `may` only: after a failed handshake the message may be retried in plaintext
    /// on a new connection (Postfix's behaviour); never under `dane` or `encrypt`.
    pub plaintext_retry_allowed: bool,
    /// The banner.
    pub banner: Option<Reply>,
    /// EHLO keywords before TLS (not trusted afterwards).
    pub ehlo: Vec<String>,
    /// EHLO keywords after TLS.
    pub ehlo_tls: Vec<String>,
    /// The SIZE limit the server announced in the EHLO that counts (RFC 1870).
    pub size_limit: Option<u64>,
    /// The TLS session, if one was made (or its chain, if the handshake failed after it).
    pub tls: Option<TlsInfo>,
    /// Per recipient, RCPT TO's reply (when a message was sent).
    pub recipients: Vec<(String, Reply)>,
    /// The reply to the end of the message: the server took responsibility for it.
    pub accepted: Option<Reply>,
    /// The dialogue: `C: ` lines sent, `S: ` lines received, `TLS: ` when the handshake ends
    /// (at most [`TRANSCRIPT_LINES`] lines).
    pub transcript: Vec<String>,
}

/// The most lines a session's transcript keeps.
pub const TRANSCRIPT_LINES: usize = 200;

/// The transcript being written, shared by the connection before and after TLS.
type Transcript = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

fn note(log: &Transcript, line: String) {
    let mut l = log.lock().unwrap_or_else(|e| e.into_inner());
    if l.len() < TRANSCRIPT_LINES {
        l.push(line);
    }
}

struct Conn<S> {
    io: BufReader<S>,
    settings: Settings,
    deadline: Instant,
    log: Transcript,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    async fn reply(&mut self, stage: Stage) -> Result<Reply, SmtpError> {
        let limits = self.settings.limits;
        let left = self.deadline.saturating_duration_since(Instant::now());
        match timeout(
            self.settings.step.min(left),
            read_reply(&mut self.io, limits),
        )
        .await
        {
            Ok(Ok(r)) => {
                let last = r.lines.len().saturating_sub(1);
                for (i, l) in r.lines.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    note(&self.log, format!("S: {}{sep}{l}", r.code));
                }
                Ok(r)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SmtpError::Timeout(stage)),
        }
    }

    async fn command(&mut self, stage: Stage, line: &str) -> Result<Reply, SmtpError> {
        note(&self.log, format!("C: {line}"));
        let bytes = format!("{line}\r\n");
        let io = self.io.get_mut();
        let left = self.deadline.saturating_duration_since(Instant::now());
        match timeout(self.settings.step.min(left), io.write_all(bytes.as_bytes())).await {
            Ok(r) => r?,
            Err(_) => return Err(SmtpError::Timeout(stage)),
        }
        self.reply(stage).await
    }

    /// Sends `commands` in one write and reads their replies in order (RFC 2920).
    async fn pipeline(&mut self, commands: &[(Stage, String)]) -> Result<Vec<Reply>, SmtpError> {
        let mut bytes = String::new();
        for (_, line) in commands {
            note(&self.log, format!("C: {line}"));
            bytes.push_str(line);
            bytes.push_str("\r\n");
        }
        let stage = commands.first().map_or(Stage::Mail, |(s, _)| *s);
        let io = self.io.get_mut();
        let left = self.deadline.saturating_duration_since(Instant::now());
        let write = async {
            io.write_all(bytes.as_bytes()).await?;
            io.flush().await
        };
        match timeout(self.settings.step.min(left), write).await {
            Ok(r) => r?,
            Err(_) => return Err(SmtpError::Timeout(stage)),
        }
        let mut replies = Vec::with_capacity(commands.len());
        for (stage, _) in commands {
            replies.push(self.reply(*stage).await?);
        }
        Ok(replies)
    }

    /// EHLO, or HELO when EHLO is refused with a 5xx; the extension lines (keyword in upper
    /// case, then its parameters).
    async fn ehlo(&mut self, stage: Stage, helo: &str) -> Result<Vec<String>, SmtpError> {
        let r = self.command(stage, &format!("EHLO {helo}")).await?;
        if r.code == 250 {
            return Ok(r
                .lines
                .iter()
                .skip(1)
                .filter_map(|l| {
                    let mut words = l.split_whitespace();
                    let keyword = words.next()?.to_ascii_uppercase();
                    Some(words.fold(keyword, |acc, w| acc + " " + w))
                })
                .collect());
        }
        if (500..600).contains(&r.code) {
            let h = self.command(stage, &format!("HELO {helo}")).await?;
            if h.code == 250 {
                return Ok(Vec::new());
            }
            return Err(SmtpError::Rejected(stage, h));
        }
        Err(SmtpError::Rejected(stage, r))
    }
}

/// Runs one session to `address` under `policy`, saying `helo` in EHLO.
pub async fn session(
    connector: &Connector,
    address: SocketAddr,
    policy: &Policy,
    helo: &str,
    settings: Settings,
) -> SessionReport {
    transfer(connector, address, policy, helo, settings, None).await
}

/// The keywords of EHLO's extension lines, and the SIZE limit if one was announced (RFC 1870;
/// 0 means none).
fn extensions(lines: Vec<String>) -> (Vec<String>, Option<u64>) {
    let mut size = None;
    let keywords = lines
        .into_iter()
        .map(|l| {
            let mut words = l.split_whitespace();
            let k = words.next().unwrap_or("").to_owned();
            if k == "SIZE" {
                size = words.next().and_then(|v| v.parse().ok()).filter(|v| *v > 0);
            }
            k
        })
        .collect();
    (keywords, size)
}

/// Runs one session to `address` under `policy` and, once the policy is satisfied, sends
/// `envelope` in it (MAIL, RCPT, DATA); the report says which recipients were accepted and
/// whether the message was.
pub async fn transfer(
    connector: &Connector,
    address: SocketAddr,
    policy: &Policy,
    helo: &str,
    settings: Settings,
    envelope: Option<&Envelope>,
) -> SessionReport {
    let mut report = SessionReport {
        address,
        policy: policy.name(),
        reached: Stage::Connect,
        success: false,
        security: Security::Plaintext,
        error: None,
        plaintext_retry_allowed: false,
        banner: None,
        ehlo: Vec::new(),
        ehlo_tls: Vec::new(),
        size_limit: None,
        tls: None,
        recipients: Vec::new(),
        accepted: None,
        transcript: Vec::new(),
    };
    let log = Transcript::default();
    let _slot = connector.slot(address.ip()).await;
    if let Err(e) = run(
        connector,
        policy,
        helo,
        settings,
        envelope,
        &mut report,
        &log,
    )
    .await
    {
        report.error = Some(e);
    }
    report.transcript = std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));
    report
}

async fn run(
    connector: &Connector,
    policy: &Policy,
    helo: &str,
    settings: Settings,
    envelope: Option<&Envelope>,
    report: &mut SessionReport,
    log: &Transcript,
) -> Result<(), SmtpError> {
    // A total beyond what the clock holds (a huge --timeout) means a year.
    let now = Instant::now();
    let deadline = now
        .checked_add(settings.total)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400));
    let tcp = match timeout(settings.step, connector.connect(report.address)).await {
        Ok(r) => r?,
        Err(_) => return Err(SmtpError::Timeout(Stage::Connect)),
    };
    if settings.tls_start == TlsStart::Implicit {
        // RFC 8314 section 3.3: TLS first, then the SMTP dialogue inside it.
        let tls = handshake(tcp, policy, settings, deadline, report).await?;
        tls_note(log, report);
        let mut c = Conn {
            io: BufReader::new(tls),
            settings,
            deadline,
            log: log.clone(),
        };
        banner(&mut c, report).await?;
        report.reached = Stage::EhloAfterTls;
        (report.ehlo_tls, report.size_limit) = extensions(c.ehlo(Stage::EhloAfterTls, helo).await?);
        report.success = true;
        send(&mut c, envelope, report).await?;
        return quit(&mut c, report).await;
    }
    let mut c = Conn {
        io: BufReader::new(tcp),
        settings,
        deadline,
        log: log.clone(),
    };
    banner(&mut c, report).await?;
    report.reached = Stage::Ehlo;
    (report.ehlo, report.size_limit) = extensions(c.ehlo(Stage::Ehlo, helo).await?);
    let plaintext_ok = |report: &mut SessionReport| {
        report.success = true;
        report.security = Security::Plaintext;
    };
    if matches!(policy, Policy::None) || !report.ehlo.iter().any(|k| k == "STARTTLS") {
        if policy.tls_required() {
            // S-01: with DANE (or encrypt) this host is not used.
            return Err(SmtpError::NoStartTls);
        }
        plaintext_ok(report);
        send(&mut c, envelope, report).await?;
        return quit(&mut c, report).await;
    }
    report.reached = Stage::StartTls;
    let r = c.command(Stage::StartTls, "STARTTLS").await?;
    if r.code != 220 {
        if policy.tls_required() {
            return Err(SmtpError::Rejected(Stage::StartTls, r));
        }
        plaintext_ok(report);
        send(&mut c, envelope, report).await?;
        return quit(&mut c, report).await;
    }
    // S-04: anything already buffered came before the handshake: never read it as a reply.
    let early = c.io.buffer().len();
    if early > 0 {
        return Err(SmtpError::Injection(early));
    }
    let tcp = c.io.into_inner();
    let tls = handshake(tcp, policy, settings, deadline, report).await?;
    // RFC 3207 section 4.2: forget everything from before TLS and say EHLO again.
    tls_note(log, report);
    let mut c = Conn {
        io: BufReader::new(tls),
        settings,
        deadline,
        log: log.clone(),
    };
    report.reached = Stage::EhloAfterTls;
    (report.ehlo_tls, report.size_limit) = extensions(c.ehlo(Stage::EhloAfterTls, helo).await?);
    report.success = true;
    send(&mut c, envelope, report).await?;
    quit(&mut c, report).await
}

/// The mail transaction (RFC 5321 section 3.3), when there is a message: MAIL (with SIZE,
/// BODY=8BITMIME and SMTPUTF8 when the server offers them and the message needs them), RCPT
/// for each recipient, DATA and the text; pipelined (RFC 2920) when the server offers
/// PIPELINING, one command at a time otherwise. With [`Envelope::verify_only`] it ends
/// after RCPT with RSET.
async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<S>,
    envelope: Option<&Envelope>,
    report: &mut SessionReport,
) -> Result<(), SmtpError> {
    let Some(e) = envelope else { return Ok(()) };
    report.reached = Stage::Mail;
    // Only what the server said over TLS counts once there is TLS (RFC 3207 section 4.2).
    let keywords = if report.tls.is_some() {
        &report.ehlo_tls
    } else {
        &report.ehlo
    };
    let offers = |k: &str| keywords.iter().any(|x| x == k);
    let mut mail = format!("MAIL FROM:<{}>", e.from);
    if offers("SIZE") {
        // RFC 1870 section 6: a message larger than the announced limit is not sent.
        if let Some(limit) = report.size_limit
            && e.data.len() as u64 > limit
        {
            return Err(SmtpError::TooBig {
                size: e.data.len() as u64,
                limit,
            });
        }
        mail.push_str(&format!(" SIZE={}", e.data.len()));
    }
    if e.eight_bit && offers("8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    if e.utf8_addresses {
        // RFC 6531 section 3.4: non-ASCII addresses need a server that offers SMTPUTF8.
        if !offers("SMTPUTF8") {
            return Err(SmtpError::Utf8Unsupported);
        }
        mail.push_str(" SMTPUTF8");
    }
    let mut commands = vec![(Stage::Mail, mail)];
    commands.extend(
        e.to.iter()
            .map(|to| (Stage::Rcpt, format!("RCPT TO:<{to}>"))),
    );
    if !e.verify_only {
        commands.push((Stage::Data, "DATA".to_owned()));
    }
    let replies = if offers("PIPELINING") {
        c.pipeline(&commands).await?
    } else {
        // One at a time: RCPT only after MAIL was taken, DATA only when a recipient was.
        let mut replies = Vec::new();
        let mut commands = commands.iter();
        if let Some((stage, line)) = commands.next() {
            replies.push(c.command(*stage, line).await?);
        }
        if replies.iter().all(|r| r.code / 100 == 2) {
            for (stage, line) in commands {
                let rcpt_taken = replies.iter().skip(1).any(|r| r.code / 100 == 2);
                if *stage == Stage::Data && !rcpt_taken {
                    break;
                }
                replies.push(c.command(*stage, line).await?);
            }
        }
        replies
    };
    let mail_reply = replies.first().cloned().unwrap_or_else(|| Reply {
        code: 451,
        lines: vec!["no reply to MAIL".into()],
    });
    // RCPT replies mean something only when MAIL was taken (a pipelined RCPT after a refused
    // MAIL gets "503 need MAIL", which says nothing about the recipient).
    if mail_reply.code / 100 == 2 {
        for (to, r) in e.to.iter().zip(replies.iter().skip(1)) {
            report.recipients.push((to.clone(), r.clone()));
        }
    }
    let data_reply = replies.get(1 + e.to.len()).cloned();
    // RFC 2920 section 3.1: DATA accepted although nothing before it was: end the empty
    // message at once.
    let data_open = data_reply.as_ref().is_some_and(|r| r.code == 354);
    let taken = report.recipients.iter().any(|(_, r)| r.code / 100 == 2);
    if mail_reply.code / 100 != 2 || !taken {
        if data_open {
            c.command(Stage::Data, ".").await?;
        }
        if mail_reply.code / 100 != 2 {
            return Err(SmtpError::Rejected(Stage::Mail, mail_reply));
        }
        let r = report
            .recipients
            .last()
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| Reply {
                code: 554,
                lines: vec!["no recipient".into()],
            });
        return Err(SmtpError::Rejected(Stage::Rcpt, r));
    }
    if e.verify_only {
        report.reached = Stage::Quit;
        c.command(Stage::Quit, "RSET").await?;
        return Ok(());
    }
    report.reached = Stage::Data;
    let r = data_reply.unwrap_or_else(|| Reply {
        code: 451,
        lines: vec!["no reply to DATA".into()],
    });
    if r.code != 354 {
        return Err(SmtpError::Rejected(Stage::Data, r));
    }
    note(&c.log, format!("C: ({} octets of message)", e.data.len()));
    let io = c.io.get_mut();
    let left = c.deadline.saturating_duration_since(Instant::now());
    let write = async {
        io.write_all(&e.data).await?;
        // The text ends in CRLF already (Envelope::new).
        io.write_all(b".\r\n").await?;
        io.flush().await
    };
    match timeout(c.settings.total.min(left), write).await {
        Ok(r) => r?,
        Err(_) => return Err(SmtpError::Timeout(Stage::Data)),
    }
    let r = c.reply(Stage::Data).await?;
    if r.code / 100 != 2 {
        return Err(SmtpError::Rejected(Stage::Data, r));
    }
    report.accepted = Some(r);
    Ok(())
}

/// The TLS handshake under `policy` (the DANE verifier inside rustls, SNI from the plan), with
/// what it showed recorded in `report`.
async fn handshake(
    tcp: TcpStream,
    policy: &Policy,
    settings: Settings,
    deadline: Instant,
    report: &mut SessionReport,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, SmtpError> {
    report.reached = Stage::Handshake;
    let target = policy
        .target()
        .ok_or_else(|| SmtpError::Tls(TlsFailure::Setup("the policy forbids TLS".into())))?;
    let (config, verifier, name) = target
        .client_config()
        .map_err(|e| SmtpError::Tls(TlsFailure::Setup(e.to_string())))?;
    let connector_tls = tokio_rustls::TlsConnector::from(config);
    let left = deadline.saturating_duration_since(Instant::now());
    let handshake = timeout(settings.step.min(left), connector_tls.connect(name, tcp)).await;
    let seen = verifier.seen();
    let chain_report = match &seen {
        Some(mxdane_tls::Seen::Chain(r)) => Some(r.clone()),
        _ => None,
    };
    let tls = match handshake {
        Err(_) => {
            report.plaintext_retry_allowed =
                !policy.tls_required() && settings.tls_start == TlsStart::Starttls;
            return Err(SmtpError::Timeout(Stage::Handshake));
        }
        Ok(Err(e)) => {
            report.plaintext_retry_allowed =
                !policy.tls_required() && settings.tls_start == TlsStart::Starttls;
            report.tls = chain_report.map(|r| TlsInfo {
                version: String::new(),
                cipher: String::new(),
                report: Some(r),
            });
            return Err(SmtpError::Tls(target.classify(e, seen)));
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, conn) = tls.get_ref();
    let authenticated = chain_report.as_ref().is_some_and(Report::is_authenticated);
    report.tls = Some(TlsInfo {
        version: conn
            .protocol_version()
            .map_or_else(String::new, |v| format!("{v:?}")),
        cipher: conn
            .negotiated_cipher_suite()
            .map_or_else(String::new, |s| format!("{:?}", s.suite())),
        report: chain_report,
    });
    if matches!(policy, Policy::Dane(_)) && !authenticated {
        // Unreachable with the DANE verifier (it fails the handshake); refuse rather than assume.
        return Err(SmtpError::Tls(TlsFailure::Setup(
            "the handshake finished without DANE authentication".into(),
        )));
    }
    report.security = if authenticated && target.authenticates() {
        Security::Authenticated
    } else {
        Security::Encrypted
    };
    Ok(tls)
}

/// The transcript's line for a finished handshake.
fn tls_note(log: &Transcript, report: &SessionReport) {
    if let Some(t) = &report.tls {
        let auth = match report.security {
            Security::Authenticated => "DANE authenticated",
            Security::Encrypted => "not authenticated",
            Security::Plaintext => "plaintext",
        };
        note(log, format!("TLS: {} {}, {auth}", t.version, t.cipher));
    }
}

/// The server's greeting: a 220 reply, kept in the report.
async fn banner<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<S>,
    report: &mut SessionReport,
) -> Result<(), SmtpError> {
    report.reached = Stage::Banner;
    let banner = c.reply(Stage::Banner).await?;
    if banner.code != 220 {
        return Err(SmtpError::Rejected(Stage::Banner, banner));
    }
    report.banner = Some(banner);
    Ok(())
}

async fn quit<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<S>,
    report: &mut SessionReport,
) -> Result<(), SmtpError> {
    report.reached = Stage::Quit;
    // A failed QUIT does not undo a successful session.
    if c.command(Stage::Quit, "QUIT").await.is_ok() {
        report.reached = Stage::Done;
    }
    Ok(())
}
