//! A small safe binding to NLnet Labs' libunbound, the validator behind the Unbound resolver.
//!
//! This is the only crate of the workspace with `unsafe` code: the FFI declarations in [`ffi`]
//! and the [`Context`] that owns one `ub_ctx`. Everything DNS-specific (parsing the answer
//! packet, CNAME steps, the RFC 7672 plan) lives in `mxdane-dns`; this crate hands back what
//! libunbound says: the rcode, the answer packet and the DNSSEC verdict.
//!
//! One [`Context`] (and so one cache) serves every query of a process. Queries are asynchronous
//! inside libunbound (its own resolver thread, `ub_ctx_async(ctx, 1)`); a pump thread of ours
//! waits on `ub_fd` and calls `ub_process`, which hands each result to the [`Query`] waiting for
//! it. A [`Query`] is a future (put a deadline on it with the runtime's timer); dropping it
//! before its answer cancels it (`ub_cancel`).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::thread::JoinHandle;

/// The raw declarations of `unbound.h` this crate uses (libunbound 1.13 and later).
pub mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// `struct ub_ctx`, opaque.
    #[repr(C)]
    pub struct UbCtx {
        _private: [u8; 0],
    }

    /// `struct ub_result` as laid out since libunbound 1.10 (`was_ratelimited` before `ttl`).
    #[repr(C)]
    pub struct UbResult {
        /// The question's name.
        pub qname: *mut c_char,
        /// The question's type.
        pub qtype: c_int,
        /// The question's class.
        pub qclass: c_int,
        /// The rdata of the answer, NULL-terminated.
        pub data: *mut *mut c_char,
        /// Lengths of `data`.
        pub len: *mut c_int,
        /// The canonical name, after CNAMEs.
        pub canonname: *mut c_char,
        /// The DNS rcode.
        pub rcode: c_int,
        /// The whole answer, in wire form.
        pub answer_packet: *mut c_void,
        /// Its length.
        pub answer_len: c_int,
        /// Whether there is data.
        pub havedata: c_int,
        /// Whether the name does not exist.
        pub nxdomain: c_int,
        /// Validated secure.
        pub secure: c_int,
        /// Validation failed.
        pub bogus: c_int,
        /// Why, when bogus.
        pub why_bogus: *mut c_char,
        /// Rate limited.
        pub was_ratelimited: c_int,
        /// TTL of the result.
        pub ttl: c_int,
    }

    /// `ub_callback_type`.
    pub type UbCallback = extern "C" fn(mydata: *mut c_void, err: c_int, result: *mut UbResult);

    unsafe extern "C" {
        pub fn ub_ctx_create() -> *mut UbCtx;
        pub fn ub_ctx_delete(ctx: *mut UbCtx);
        pub fn ub_ctx_set_option(ctx: *mut UbCtx, opt: *const c_char, val: *const c_char) -> c_int;
        pub fn ub_ctx_config(ctx: *mut UbCtx, fname: *const c_char) -> c_int;
        pub fn ub_ctx_set_fwd(ctx: *mut UbCtx, addr: *const c_char) -> c_int;
        pub fn ub_ctx_add_ta(ctx: *mut UbCtx, ta: *const c_char) -> c_int;
        pub fn ub_ctx_async(ctx: *mut UbCtx, dothread: c_int) -> c_int;
        pub fn ub_fd(ctx: *mut UbCtx) -> c_int;
        pub fn ub_process(ctx: *mut UbCtx) -> c_int;
        pub fn ub_resolve_async(
            ctx: *mut UbCtx,
            name: *const c_char,
            rrtype: c_int,
            rrclass: c_int,
            mydata: *mut c_void,
            callback: UbCallback,
            async_id: *mut c_int,
        ) -> c_int;
        pub fn ub_cancel(ctx: *mut UbCtx, async_id: c_int) -> c_int;
        pub fn ub_resolve_free(result: *mut UbResult);
        pub fn ub_strerror(err: c_int) -> *const c_char;
        pub fn ub_version() -> *const c_char;
    }
}

/// The libunbound version string, e.g. `1.17.1`.
pub fn version() -> String {
    // SAFETY: ub_version returns a pointer to a static NUL-terminated string.
    unsafe { CStr::from_ptr(ffi::ub_version()) }
        .to_string_lossy()
        .into_owned()
}

/// The first libunbound release with the fixes for CVE-2023-50387 (KeyTrap: a zone with many
/// keys and signatures keeps the validator busy for minutes) and CVE-2023-50868 (NSEC3
/// closest-encloser proofs that cost as much): 1.19.1, February 2024.
pub const FIXED_IN: &str = "1.19.1";

/// A warning for the operator when the linked libunbound is older than [`FIXED_IN`] and not a
/// distribution build known to carry those fixes (Debian 12's `1.17.1-2+deb12u2` and later,
/// DSA-5620-1, read from dpkg's status file); `None` otherwise.
pub fn version_warning() -> Option<String> {
    let distribution = std::fs::read_to_string("/var/lib/dpkg/status")
        .ok()
        .and_then(|s| dpkg_version(&s, "libunbound8"));
    version_warning_for(&version(), distribution.as_deref())
}

fn version_warning_for(version: &str, distribution: Option<&str>) -> Option<String> {
    let triple = |v: &str| -> Option<(u32, u32, u32)> {
        let mut p = v.split(|c: char| !c.is_ascii_digit()).map(str::parse);
        Some((p.next()?.ok()?, p.next()?.ok()?, p.next()?.ok()?))
    };
    let fixed = triple(FIXED_IN)?;
    if triple(version).is_some_and(|v| v >= fixed) {
        return None;
    }
    // Debian 12 (bookworm) backported both fixes in 1.17.1-2+deb12u2.
    let patched = distribution.and_then(|d| {
        let rest = d.strip_prefix(version)?.strip_prefix("-2+deb12u")?;
        let n: u32 = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        (n >= 2).then_some(())
    });
    if patched.is_some() {
        return None;
    }
    Some(format!(
        "libunbound {version} is older than {FIXED_IN} and not a build known to carry its fixes for CVE-2023-50387 and CVE-2023-50868: a hostile zone can keep validation busy for minutes; upgrade libunbound"
    ))
}

/// The installed version of `package` in a dpkg status file, if it is installed.
fn dpkg_version(status: &str, package: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        };
        (field("Package") == Some(package) && field("Status")?.ends_with(" installed"))
            .then(|| field("Version").map(str::to_owned))?
    })
}

fn strerror(code: c_int) -> String {
    // SAFETY: ub_strerror returns a pointer to a static NUL-terminated string for any code.
    let s = unsafe { CStr::from_ptr(ffi::ub_strerror(code)) };
    s.to_string_lossy().into_owned()
}

/// The options that go through a configuration file (ub_ctx_set_option does not take
/// local-zone). Localhost is queried only where the configuration says a resolver is there:
/// a forwarder (libunbound then asks nothing else) or a root hints file that names a loopback
/// root (the lab); when iterating over the internet, a hostile zone whose nameserver is
/// `127.0.0.1` must not send questions to this machine's own port-53 services (unbound's
/// default `do-not-query-localhost: yes`).
fn config_text(config: &Config) -> Result<String, Error> {
    let mut text = String::from("server:\n");
    for zone in ["test.", "invalid.", "onion."] {
        text.push_str(&format!("  local-zone: \"{zone}\" nodefault\n"));
    }
    let localhost = match &config.upstream {
        Upstream::Forward(_) => true,
        Upstream::Recursive { root_hints: None } => false,
        Upstream::Recursive {
            root_hints: Some(hints),
        } => hints_name_loopback(hints)?,
    };
    if localhost {
        text.push_str("  do-not-query-localhost: no\n");
    }
    if let Upstream::Recursive {
        root_hints: Some(hints),
    } = &config.upstream
    {
        if hints.contains(['"', '\n']) {
            return Err(Error::Config(format!(
                "root hints path {hints:?} is malformed"
            )));
        }
        text.push_str(&format!("  root-hints: \"{hints}\"\n"));
    }
    if let Some(at) = config.override_date {
        text.push_str(&format!("  val-override-date: \"{at}\"\n"));
    }
    for (name, value) in &config.options {
        if name.contains(['\n', ':']) || value.contains('\n') {
            return Err(Error::Config(format!("option {name:?} is malformed")));
        }
        text.push_str(&format!("  {name}: {value}\n"));
    }
    Ok(text)
}

/// Whether a root hints file gives a root server a loopback address (an `A` or `AAAA` record
/// for 127.0.0.0/8 or ::1). The file is read as unbound reads it, one record per line,
/// comments after `;`; at most 1 MiB.
fn hints_name_loopback(path: &str) -> Result<bool, Error> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 20).read_to_string(&mut text))
        .map_err(|e| Error::Config(format!("root hints {path}: cannot read: {e}")))?;
    Ok(text.lines().any(|line| {
        let fields: Vec<&str> = line
            .split(';')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        fields.windows(2).any(|w| {
            (w[0].eq_ignore_ascii_case("A") || w[0].eq_ignore_ascii_case("AAAA"))
                && w[1]
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|a| a.is_loopback())
        })
    }))
}

/// Where libunbound sends its questions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Forward to these resolvers (`ADDR` or `ADDR@PORT`); libunbound still validates every
    /// answer itself (it asks with the CD bit and fetches DNSKEY and DS records).
    Forward(Vec<String>),
    /// Iterate from the root servers (the built-in hints, or a hints file).
    Recursive {
        /// A root hints file instead of the built-in IANA root servers (for private roots).
        root_hints: Option<String>,
    },
}

/// How to set up a [`Context`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Where questions go.
    pub upstream: Upstream,
    /// Trust anchors, one DS or DNSKEY record per entry in presentation form
    /// (`. IN DS 20326 8 2 E06D...`).
    pub trust_anchors: Vec<String>,
    /// Validate as if the time were this (seconds since 1970): for tests and `--at`.
    pub override_date: Option<u32>,
    /// Further `unbound.conf` `server:` options (name without the colon, value).
    pub options: Vec<(String, String)>,
}

impl Config {
    /// Forward to `upstreams`, validate from `trust_anchors`.
    pub fn forward(upstreams: Vec<String>, trust_anchors: Vec<String>) -> Self {
        Self {
            upstream: Upstream::Forward(upstreams),
            trust_anchors,
            override_date: None,
            options: Vec::new(),
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// libunbound refused the configuration; the text names the setting.
    Config(String),
    /// libunbound could not resolve (its own error, not a DNS rcode).
    Resolve(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(s) => write!(f, "libunbound configuration: {s}"),
            Self::Resolve(s) => write!(f, "libunbound: {s}"),
        }
    }
}

impl std::error::Error for Error {}

/// libunbound's answer to one question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, ...).
    pub rcode: u8,
    /// The answer in wire form (empty if libunbound made none, e.g. after a failure).
    pub packet: Vec<u8>,
    /// Validated from a trust anchor.
    pub secure: bool,
    /// Failed validation; `why_bogus` says why.
    pub bogus: bool,
    /// libunbound's reason for a bogus verdict.
    pub why_bogus: Option<String>,
    /// The name does not exist.
    pub nxdomain: bool,
    /// The result's TTL.
    pub ttl: u32,
}

/// Shared between a [`Query`] and the callback that completes it.
#[derive(Default)]
struct Slot {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    result: Option<Result<Response, Error>>,
    waker: Option<Waker>,
    taken: bool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn complete(&self, result: Result<Response, Error>) {
        let mut st = self.lock();
        st.result = Some(result);
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
}

/// libunbound's set-up is not thread-safe across contexts: its configuration parser is a
/// global lexer, and finalisation and deletion set process-wide state (logging, TTL limits).
/// Creating, configuring, finalising (the first query) and deleting contexts take this lock.
static SETUP: Mutex<()> = Mutex::new(());

fn setup_lock() -> MutexGuard<'static, ()> {
    SETUP.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    ctx: *mut ffi::UbCtx,
    /// Whether a query has finalised the context (see [`SETUP`]).
    finalized: AtomicBool,
}

// SAFETY: libunbound's context is thread-safe once finalised: every entry point used after
// `Context::new` (ub_resolve_async, ub_cancel, ub_process, ub_fd) takes the context's own locks.
// The pointer is deleted only in `Drop`, when no other reference exists.
unsafe impl Send for Inner {}
// SAFETY: see `Send`; shared access only goes through those locked entry points.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        let _setup = setup_lock();
        // SAFETY: `ctx` came from ub_ctx_create, is deleted exactly once, here, and no other
        // reference to it remains (the pump thread and every Query hold an Arc to this Inner).
        unsafe { ffi::ub_ctx_delete(self.ctx) };
    }
}

/// One libunbound context: its configuration, cache and resolver thread.
pub struct Context {
    inner: Arc<Inner>,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<()>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

/// A name for the temporary configuration file.
fn temp_conf_path() -> std::path::PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "mxdane-unbound-{}-{}.conf",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn cstring(what: &str, s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Config(format!("{what} contains a NUL byte")))
}

impl Context {
    /// Creates and finalises a context. Special-use names that libunbound would answer from
    /// built-in local zones (`test.`, `invalid.`, `onion.`; RFC 6761) are resolved like any
    /// other name, and loopback upstreams are allowed.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let setup = setup_lock();
        // SAFETY: ub_ctx_create has no preconditions; a NULL result is checked below.
        let ctx = unsafe { ffi::ub_ctx_create() };
        if ctx.is_null() {
            return Err(Error::Config(
                "ub_ctx_create failed (out of memory?)".into(),
            ));
        }
        // From here the Inner owns ctx and deletes it on every return path (after the set-up
        // lock is released: deletion takes it too).
        let inner = Arc::new(Inner {
            ctx,
            finalized: AtomicBool::new(false),
        });
        let configured = Self::configure(&inner, config);
        drop(setup);
        configured?;
        // SAFETY: ctx is valid; ub_fd finalises the context and returns the result pipe's
        // read end (or -1).
        let fd = unsafe { ffi::ub_fd(inner.ctx) };
        if fd < 0 {
            return Err(Error::Config(
                "the configuration was not accepted (ub_fd failed)".into(),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let pump = {
            let inner = inner.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("libunbound-pump".into())
                .spawn(move || pump(&inner, fd, &stop))
                .map_err(|e| Error::Config(format!("cannot start the pump thread: {e}")))?
        };
        let this = Self {
            inner,
            stop,
            pump: Some(pump),
        };
        // libunbound reads the trust anchors and applies the options when the first query
        // finalises the context: do it now with a name its built-in `localhost.` zone answers
        // without any network, so that a bad setting is an error here, not on every lookup.
        let probe = this.query("localhost.", 1);
        let refused = match probe.slot.lock().result.as_ref() {
            Some(Err(e)) => Some(e.to_string()),
            _ => None,
        };
        if let Some(e) = refused {
            return Err(Error::Config(format!(
                "libunbound did not accept the trust anchors or options ({e})"
            )));
        }
        Ok(this)
    }

    fn configure(inner: &Inner, config: &Config) -> Result<(), Error> {
        let ctx = inner.ctx;
        let check = |what: &str, rc: c_int| -> Result<(), Error> {
            if rc == 0 {
                Ok(())
            } else {
                Err(Error::Config(format!("{what}: {}", strerror(rc))))
            }
        };
        // SAFETY: ctx is valid and not yet finalised; 1 selects a resolver thread instead of a
        // forked process.
        check("async threads", unsafe { ffi::ub_ctx_async(ctx, 1) })?;

        let text = config_text(config)?;
        let path = temp_conf_path();
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            return Err(Error::Config(format!(
                "cannot write {}: {e}",
                path.display()
            )));
        }
        let cpath = cstring("the temporary path", &path.to_string_lossy());
        let rc = cpath.map(|p| {
            // SAFETY: ctx is valid and not finalised; p is a NUL-terminated path that lives
            // across the call.
            unsafe { ffi::ub_ctx_config(ctx, p.as_ptr()) }
        });
        let _ = std::fs::remove_file(&path);
        check("options", rc?)?;

        if let Upstream::Forward(addrs) = &config.upstream {
            if addrs.is_empty() {
                return Err(Error::Config("no upstream resolver given".into()));
            }
            for a in addrs {
                let c = cstring("the upstream address", a)?;
                // SAFETY: ctx is valid and not finalised; c lives across the call.
                let rc = unsafe { ffi::ub_ctx_set_fwd(ctx, c.as_ptr()) };
                check(&format!("upstream {a}"), rc)?;
            }
        }
        if config.trust_anchors.is_empty() {
            return Err(Error::Config("no trust anchor given".into()));
        }
        for ta in &config.trust_anchors {
            let c = cstring("a trust anchor", ta)?;
            // SAFETY: ctx is valid and not finalised; c lives across the call.
            let rc = unsafe { ffi::ub_ctx_add_ta(ctx, c.as_ptr()) };
            check(&format!("trust anchor {ta:?}"), rc)?;
        }
        Ok(())
    }

    /// Asks `name` (presentation form) for `rrtype` in class IN. The query runs at once; wait
    /// for it with [`Query::wait`] or `.await`.
    pub fn query(&self, name: &str, rrtype: u16) -> Query {
        let slot = Arc::new(Slot::default());
        let mut query = Query {
            inner: self.inner.clone(),
            slot: slot.clone(),
            id: None,
        };
        let cname = match CString::new(name) {
            Ok(c) => c,
            Err(_) => {
                slot.complete(Err(Error::Resolve(format!(
                    "the name {name:?} contains a NUL byte"
                ))));
                return query;
            }
        };
        let mydata = Arc::into_raw(slot.clone()) as *mut c_void;
        let mut id: c_int = 0;
        let setup = (!self.inner.finalized.load(Ordering::Acquire)).then(setup_lock);
        // SAFETY: ctx is valid (finalised by this call if it is the first); cname lives across the call; mydata is one strong
        // count of an Arc<Slot> that the callback takes back (Arc::from_raw) exactly once, or
        // that we take back below if libunbound refuses the query or it is cancelled before
        // its callback ran.
        let rc = unsafe {
            ffi::ub_resolve_async(
                self.inner.ctx,
                cname.as_ptr(),
                c_int::from(rrtype),
                1,
                mydata,
                callback,
                &mut id,
            )
        };
        if let Some(guard) = setup {
            self.inner.finalized.store(true, Ordering::Release);
            drop(guard);
        }
        if rc != 0 {
            // SAFETY: libunbound refused the query, so the callback will never run: the count
            // handed over above is still ours to release, once.
            drop(unsafe { Arc::from_raw(mydata as *const Slot) });
            slot.complete(Err(Error::Resolve(strerror(rc))));
        } else {
            query.id = Some(id);
        }
        query
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.pump.take() {
            let _ = p.join();
        }
    }
}

/// Waits for results and hands them to their queries, until `stop`.
fn pump(inner: &Inner, fd: c_int, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd array of length 1 for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, 50) };
        if n > 0 {
            // SAFETY: ctx is valid (this thread holds an Arc to it); only this thread calls
            // ub_process, which runs the callbacks of finished queries.
            unsafe { ffi::ub_process(inner.ctx) };
        }
    }
}

extern "C" fn callback(mydata: *mut c_void, err: c_int, result: *mut ffi::UbResult) {
    // SAFETY: mydata is the Arc<Slot> count handed to ub_resolve_async; libunbound calls this
    // callback at most once per query and never after a successful ub_cancel, so the count is
    // released exactly once.
    let slot = unsafe { Arc::from_raw(mydata as *const Slot) };
    let out = if err != 0 || result.is_null() {
        Err(Error::Resolve(strerror(err)))
    } else {
        // SAFETY: result is non-null and points to a ub_result that libunbound allocated for
        // us; we read it, then free it once with ub_resolve_free.
        let r = unsafe { &*result };
        let packet = if r.answer_packet.is_null() || r.answer_len <= 0 {
            Vec::new()
        } else {
            let len = usize::try_from(r.answer_len).unwrap_or(0);
            // SAFETY: answer_packet points to answer_len readable bytes owned by the result.
            unsafe { std::slice::from_raw_parts(r.answer_packet as *const u8, len) }.to_vec()
        };
        let why_bogus = if r.why_bogus.is_null() {
            None
        } else {
            // SAFETY: why_bogus is a NUL-terminated string owned by the result.
            Some(
                unsafe { CStr::from_ptr(r.why_bogus as *const c_char) }
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        let resp = Response {
            rcode: u8::try_from(r.rcode).unwrap_or(2),
            packet,
            secure: r.secure != 0,
            bogus: r.bogus != 0,
            why_bogus,
            nxdomain: r.nxdomain != 0,
            ttl: u32::try_from(r.ttl).unwrap_or(0),
        };
        // SAFETY: the result was allocated by libunbound for this callback and is not used
        // after this point.
        unsafe { ffi::ub_resolve_free(result) };
        Ok(resp)
    };
    slot.complete(out);
}

/// A question on its way. Dropping it before its answer cancels it.
pub struct Query {
    inner: Arc<Inner>,
    slot: Arc<Slot>,
    id: Option<c_int>,
}

impl fmt::Debug for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query").field("id", &self.id).finish()
    }
}

impl Future for Query {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.lock();
        match st.result.take() {
            Some(r) => {
                st.taken = true;
                Poll::Ready(r)
            }
            None => {
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Query {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let done = {
            let st = self.slot.lock();
            st.result.is_some() || st.taken
        };
        if done {
            return;
        }
        // SAFETY: ctx is valid (we hold an Arc to it); id came from ub_resolve_async.
        let rc = unsafe { ffi::ub_cancel(self.inner.ctx, id) };
        if rc == 0 {
            let raw = Arc::as_ptr(&self.slot);
            // SAFETY: ub_cancel succeeded, so libunbound will never run the callback for this
            // query: the count handed to ub_resolve_async is released here, once. It is the
            // same allocation as self.slot, so `raw` is a pointer Arc::into_raw produced.
            drop(unsafe { Arc::from_raw(raw) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(upstream: Upstream) -> Config {
        Config {
            upstream,
            trust_anchors: Vec::new(),
            override_date: None,
            options: Vec::new(),
        }
    }

    /// Breaks if `config_text` always writes `do-not-query-localhost: no` (as it did).
    #[test]
    fn localhost_is_queried_only_for_a_forwarder_or_a_loopback_root() {
        let dir = std::env::temp_dir().join(format!("mxdane-unbound-hints-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hints = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            Some(p.display().to_string())
        };
        let lab = hints("lab.hints", ". 3600 IN NS ns1.\nns1. 3600 IN A 127.0.0.1\n");
        let lab6 = hints("lab6.hints", ". NS ns1.\nns1. AAAA ::1 ; the lab\n");
        let iana = hints(
            "iana.hints",
            ".  3600000  NS  A.ROOT-SERVERS.NET.\n; 127.0.0.1 in a comment\nA.ROOT-SERVERS.NET. 3600000 A 198.41.0.4\nA.ROOT-SERVERS.NET. 3600000 AAAA 2001:503:ba3e::2:30\n",
        );
        let allows = |u: Upstream| {
            config_text(&config(u))
                .unwrap()
                .contains("do-not-query-localhost: no")
        };
        assert!(allows(Upstream::Forward(vec!["127.0.0.1@5353".into()])));
        assert!(allows(Upstream::Recursive { root_hints: lab }));
        assert!(allows(Upstream::Recursive { root_hints: lab6 }));
        assert!(!allows(Upstream::Recursive { root_hints: None }));
        assert!(!allows(Upstream::Recursive { root_hints: iana }));
        let missing = config_text(&config(Upstream::Recursive {
            root_hints: Some(dir.join("none").display().to_string()),
        }));
        assert!(matches!(missing, Err(Error::Config(e)) if e.contains("cannot read")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_old_libunbound_is_named_unless_its_build_carries_the_fixes() {
        assert_eq!(version_warning_for("1.19.1", None), None);
        assert_eq!(version_warning_for("1.22.0", None), None);
        assert!(version_warning_for("1.19.0", None).is_some_and(|w| w.contains("1.19.0")));
        assert!(version_warning_for("1.17.1", Some("1.17.1-2+deb12u1")).is_some());
        assert_eq!(
            version_warning_for("1.17.1", Some("1.17.1-2+deb12u2")),
            None
        );
        assert_eq!(
            version_warning_for("1.17.1", Some("1.17.1-2+deb12u4")),
            None
        );
        assert!(version_warning_for("1.17.1", Some("1.18.0-2+deb12u9")).is_some());
        let status = "Package: libunbound8\nStatus: install ok installed\nVersion: 1.17.1-2+deb12u4\n\nPackage: other\nStatus: install ok installed\nVersion: 9\n";
        assert_eq!(
            dpkg_version(status, "libunbound8").as_deref(),
            Some("1.17.1-2+deb12u4")
        );
        assert_eq!(dpkg_version(status, "libunbound-dev"), None);
        let removed =
            "Package: libunbound8\nStatus: deinstall ok config-files\nVersion: 1.17.1-2\n";
        assert_eq!(dpkg_version(removed, "libunbound8"), None);
    }
}
