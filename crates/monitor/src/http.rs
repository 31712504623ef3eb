//! The monitor's HTTP endpoints (axum), served from the runner's snapshot, never probing on a
//! request (a scrape costs nothing and cannot be used to hammer a mail server):
//!
//! - `/metrics`: Prometheus text format (prometheus-client); labels are names and addresses,
//!   never digests or free text. Served from the start (empty until the first round).
//! - `/status` (short text), `/api/v1/status` and `/api/v1/targets/{name}` (JSON, see
//!   docs/json.md), `/` (an HTML table with a week's history strip per target) and
//!   `/targets/{name}` (the target's latest report): 503 until the first round has completed, so that a
//!   load balancer or a probe never reads "no problems" from a monitor that has not looked.

use std::fmt::Write as _;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::runner::Snapshot;
use crate::state::Level;

type Shared = Arc<RwLock<Snapshot>>;

/// The router over a runner's snapshot.
pub fn router(snapshot: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/api/v1/status", get(api_status))
        .route("/api/v1/targets/{name}", get(api_target))
        .route("/", get(page))
        .route("/targets/{name}", get(target_page))
        .with_state(snapshot)
}

fn not_ready() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "mxdane monitor: the first round of checks has not completed yet\n",
    )
        .into_response()
}

fn read(s: &Shared) -> Snapshot {
    s.read().map(|g| g.clone()).unwrap_or_default()
}

type Labels = Vec<(String, LabelText)>;

/// A label value, escaped as the Prometheus text format and OpenMetrics require (a backslash,
/// a double quote and a line feed inside the quotes are `\\`, `\"` and `\n`):
/// prometheus-client 0.24 writes `String` values as they are, so a hostile name from the wire
/// could otherwise end the label and write lines of its own into the exposition.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct LabelText(String);

impl LabelText {
    fn new(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl prometheus_client::encoding::EncodeLabelValue for LabelText {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The metrics in Prometheus text format.
pub fn render_metrics(snap: &Snapshot) -> String {
    let mut reg = Registry::default();
    let state = Family::<Labels, Gauge>::default();
    let last_check = Family::<Labels, Gauge>::default();
    let last_ok = Family::<Labels, Gauge>::default();
    let duration = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let verified = Family::<Labels, Gauge>::default();
    let rrsig = Family::<Labels, Gauge>::default();
    let ta = Family::<Labels, Gauge>::default();
    let agree = Family::<Labels, Gauge>::default();
    let last_round = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
    reg.register(
        "mxdane_target_state",
        "The target's confirmed state: 0 ok, 1 warning, 2 critical, 3 unknown",
        state.clone(),
    );
    reg.register(
        "mxdane_target_last_check_timestamp_seconds",
        "When the target was last checked (seconds since 1970)",
        last_check.clone(),
    );
    reg.register(
        "mxdane_target_last_ok_timestamp_seconds",
        "When a check of the target last found everything ok (seconds since 1970)",
        last_ok.clone(),
    );
    reg.register(
        "mxdane_target_check_duration_seconds",
        "How long the target's last check took",
        duration.clone(),
    );
    reg.register(
        "mxdane_target_rrsig_expiry_timestamp_seconds",
        "When the earliest DNSSEC signature the last check relied on expires",
        rrsig.clone(),
    );
    reg.register(
        "mxdane_target_dane_ta_expiry_timestamp_seconds",
        "When the earliest certificate above the leaf of a DANE-TA-matched chain expires",
        ta.clone(),
    );
    reg.register(
        "mxdane_probe_verified",
        "1 when the probe of this host, address and key algorithm was DANE-verified, else 0",
        verified.clone(),
    );
    reg.register(
        "mxdane_nameservers_agree",
        "1 when every authoritative server served the host's TLSA RRset alike, else 0",
        agree.clone(),
    );
    // A gauge, not a counter: `promtool check metrics` lints the Prometheus text format,
    // where an OpenMetrics counter's family name (without _total) has no help text.
    reg.register(
        "mxdane_last_round_timestamp_seconds",
        "When the last round of checks completed (seconds since 1970; a stuck monitor stops it)",
        last_round.clone(),
    );
    if let Some(t) = snap.last_round {
        last_round.set(t);
    }
    for (name, t) in &snap.targets {
        let target: Labels = vec![("target".into(), LabelText::new(name))];
        if let Some(l) = t.state {
            state.get_or_create(&target).set(l.code());
        }
        if let Some(at) = t.last_check {
            last_check.get_or_create(&target).set(at);
            duration
                .get_or_create(&target)
                .set(t.duration_ms as f64 / 1000.0);
        }
        if let Some(at) = t.last_ok {
            last_ok.get_or_create(&target).set(at);
        }
        // Timestamps, as Prometheus prefers (days until: `(metric - time()) / 86400`).
        if let Some(e) = t.rrsig_expires {
            rrsig.get_or_create(&target).set(e);
        }
        if let Some(e) = t.dane_ta_expires {
            ta.get_or_create(&target).set(e);
        }
        // A key algorithm the server has no certificate for is not a failed probe: no sample,
        // so a healthy ECDSA-only server raises no alert.
        for p in t
            .probes
            .iter()
            .filter(|p| p.result != "no-such-certificate")
        {
            let labels: Labels = vec![
                ("target".into(), LabelText::new(name)),
                ("host".into(), LabelText::new(&p.host)),
                ("address".into(), LabelText::new(&p.address)),
                ("algorithm".into(), LabelText::new(&p.algorithm)),
            ];
            verified
                .get_or_create(&labels)
                .set(i64::from(p.result == "verified"));
        }
        for (host, a) in &t.nameservers_agree {
            let labels: Labels = vec![
                ("target".into(), LabelText::new(name)),
                ("host".into(), LabelText::new(host)),
            ];
            agree.get_or_create(&labels).set(i64::from(*a));
        }
    }
    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

async fn metrics(State(s): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render_metrics(&read(&s)),
    )
        .into_response()
}

fn counts(snap: &Snapshot) -> [usize; 4] {
    let mut c = [0; 4];
    for t in snap.targets.values() {
        match t.state {
            Some(Level::Ok) => c[0] += 1,
            Some(Level::Warning) => c[1] += 1,
            Some(Level::Critical) => c[2] += 1,
            Some(Level::Unknown) | None => c[3] += 1,
        }
    }
    c
}

async fn status(State(s): State<Shared>) -> Response {
    let snap = read(&s);
    if !snap.ready {
        return not_ready();
    }
    let [ok, warning, critical, unknown] = counts(&snap);
    let mut text = format!("ok {ok}, warning {warning}, critical {critical}, unknown {unknown}\n");
    for t in snap.targets.values() {
        if t.state != Some(Level::Ok) {
            let _ = writeln!(
                text,
                "{} {}: {}",
                t.name,
                t.state.map_or("unknown", Level::name),
                t.problems.first().map_or("", String::as_str)
            );
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

async fn api_status(State(s): State<Shared>) -> Response {
    let snap = read(&s);
    if !snap.ready {
        return not_ready();
    }
    axum::Json(snap).into_response()
}

async fn api_target(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let snap = read(&s);
    if !snap.ready {
        return not_ready();
    }
    match snap.targets.get(&name.to_ascii_lowercase()) {
        Some(t) => axum::Json(t.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no target {name}\n")).into_response(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn show(t: Option<i64>) -> String {
    t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}\
td,th{padding:.3em .6em;text-align:left;border-bottom:1px solid #ccc}\
tr.ok td.state,span.ok{background:#2e7d32;color:#fff}\
tr.warning td.state,span.warning{background:#f9a825}\
tr.critical td.state,span.critical{background:#c62828;color:#fff}\
tr.unknown td.state,span.unknown{background:#757575;color:#fff}\
.strip{white-space:nowrap}.strip span{display:inline-block;width:4px;height:1.2em;margin-right:1px}\
span.none{background:#eee}pre{background:#f6f6f6;padding:1em;overflow:auto}";

/// The history strip: one block per hour of the last week, coloured by the worst result.
fn strip_html(t: &crate::runner::TargetView) -> String {
    let mut out = String::from("<span class=\"strip\">");
    for (i, l) in t.strip.iter().enumerate() {
        let (class, what) = match l {
            Some(l) => (l.name(), l.name()),
            None => ("none", "not checked"),
        };
        let hours_ago = t.strip.len() - i;
        let _ = write!(
            out,
            "<span class=\"{class}\" title=\"{hours_ago} h ago: {what}\"></span>"
        );
    }
    out.push_str("</span>");
    out
}

fn html(title: &str, body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
            escape(title)
        ),
    )
        .into_response()
}

async fn page(State(s): State<Shared>) -> Response {
    let snap = read(&s);
    if !snap.ready {
        return not_ready();
    }
    let [ok, warning, critical, unknown] = counts(&snap);
    let mut rows = String::new();
    for t in snap.targets.values() {
        let level = t.state.map_or("unknown", Level::name);
        let _ = writeln!(
            rows,
            "<tr class=\"{level}\" data-target=\"{n}\"><td><a href=\"/targets/{n}\">{n}</a></td><td class=\"state\">{level}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            show(t.since),
            strip_html(t),
            escape(t.problems.first().map_or("", String::as_str)),
            n = escape(&t.name),
        );
    }
    html(
        "mxdane monitor",
        &format!(
            "<h1>mxdane monitor</h1><p id=\"counts\">ok {ok}, warning {warning}, critical {critical}, unknown {unknown}; last round {}</p>\
             <table id=\"targets\"><tr><th>target</th><th>state</th><th>since</th><th>last week (hourly)</th><th>problem</th></tr>\n{rows}</table>",
            show(snap.last_round)
        ),
    )
}

async fn target_page(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    let snap = read(&s);
    if !snap.ready {
        return not_ready();
    }
    let Some(t) = snap.targets.get(&name.to_ascii_lowercase()) else {
        return (StatusCode::NOT_FOUND, format!("no target {name}\n")).into_response();
    };
    let level = t.state.map_or("unknown", Level::name);
    let mut body = format!(
        "<p><a href=\"/\">all targets</a></p><h1>{n}</h1><table><tr class=\"{level}\"><th>state</th><td class=\"state\">{level}</td></tr>\
         <tr><th>since</th><td>{}</td></tr><tr><th>last check</th><td>{}</td></tr><tr><th>last ok</th><td>{}</td></tr>\
         <tr><th>last week</th><td>{}</td></tr></table>",
        show(t.since),
        show(t.last_check),
        show(t.last_ok),
        strip_html(t),
        n = escape(&t.name),
    );
    if !t.problems.is_empty() {
        body.push_str("<h2>Problems</h2><ul id=\"problems\">");
        for p in &t.problems {
            let _ = write!(body, "<li>{}</li>", escape(p));
        }
        body.push_str("</ul>");
    }
    body.push_str("<h2>Probes</h2><table id=\"probes\"><tr><th>host</th><th>address</th><th>algorithm</th><th>result</th><th>reason</th></tr>");
    for p in &t.probes {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.host),
            escape(&p.address),
            escape(&p.algorithm),
            escape(&p.result),
            escape(p.reason.as_deref().unwrap_or(""))
        );
    }
    body.push_str("</table>");
    if let Some(report) = snap.reports.get(&t.name) {
        let pretty = serde_json::from_str::<serde_json::Value>(report)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| report.clone());
        let _ = write!(
            body,
            "<h2>Latest report</h2><pre id=\"report\">{}</pre>",
            escape(&pretty)
        );
    }
    html(&format!("mxdane monitor: {}", t.name), &body)
}
