//! The binding on its own: configuration errors are named, a query that cannot be sent is an
//! error, and queries dropped before their answers (cancelled) or a context dropped with
//! queries in flight are safe. The validation itself is tested through mxdane-dns against the
//! lab's signed worlds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mxdane_unbound::{Config, Context, Error};

const ROOT_DS: &str =
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

/// A forwarder nobody listens on (the discard port): nothing is ever answered.
fn config() -> Config {
    Config::forward(vec!["127.0.0.1@9".into()], vec![ROOT_DS.into()])
}

#[test]
fn configuration_errors_name_the_setting() {
    let mut bad_option = config();
    bad_option
        .options
        .push(("no-such-option".into(), "yes".into()));
    assert!(matches!(Context::new(&bad_option), Err(Error::Config(_))));
    let mut no_anchor = config();
    no_anchor.trust_anchors.clear();
    let e = Context::new(&no_anchor).unwrap_err();
    assert!(e.to_string().contains("trust anchor"), "{e}");
    let mut bad_anchor = config();
    bad_anchor.trust_anchors = vec![". IN DS not a ds record".into()];
    let e = Context::new(&bad_anchor).unwrap_err();
    assert!(e.to_string().contains("trust anchors"), "{e}");
    let mut injected = config();
    injected
        .options
        .push(("verbosity".into(), "1\nserver:\n do-ip4: no".into()));
    assert!(
        Context::new(&injected).is_err(),
        "a newline cannot add options"
    );
    let no_upstream = Config::forward(Vec::new(), vec![ROOT_DS.into()]);
    assert!(Context::new(&no_upstream).is_err());
    assert!(!mxdane_unbound::version().is_empty());
}

#[tokio::test]
async fn a_name_with_a_nul_byte_is_an_error_not_a_query() {
    let ctx = Context::new(&config()).unwrap();
    let r = ctx.query("bad\0name.", 1).await;
    assert!(matches!(r, Err(Error::Resolve(_))), "{r:?}");
}

#[tokio::test]
async fn dropped_queries_are_cancelled_and_contexts_drop_with_queries_in_flight() {
    let ctx = Context::new(&config()).unwrap();
    for i in 0..50 {
        let q = ctx.query(&format!("n{i}.example."), 1);
        // Either answered (SERVFAIL) in time or cancelled when dropped.
        let _ = tokio::time::timeout(Duration::from_millis(2), q).await;
    }
    let in_flight: Vec<_> = (0..20)
        .map(|i| ctx.query(&format!("f{i}.example."), 1))
        .collect();
    drop(ctx);
    drop(in_flight);
    // A second context in the same process still works (set-up is serialised).
    let again = Context::new(&config()).unwrap();
    let _ = tokio::time::timeout(Duration::from_millis(50), again.query("example.", 1)).await;
}
