use super::*;

fn key(n: u8) -> Key {
    Key {
        spki_sha256: format!("{n:02x}").repeat(32),
        file: format!("key{n}"),
    }
}

fn cert(k: u8, issuer: u8) -> Cert {
    Cert {
        spki_sha256: key(k).spki_sha256,
        issuer_spki_sha256: Some(format!("{issuer:02x}").repeat(32)),
        not_before: 0,
        not_after: 10_000_000,
        pem: format!("cert {k}/{issuer}"),
        key_file: None,
    }
}

fn adopted(scheme: Scheme) -> Lane {
    Lane::fold(&[Event::Adopted {
        key: key(1),
        cert: cert(1, 0xa0),
        scheme,
    }])
}

fn visible(lane: &mut Lane, rdata: &str, at: Ts, ttl: u32) {
    lane.apply(&Event::PublishRequested {
        rdata: rdata.into(),
        at,
        negative_ttl: 0,
    });
    lane.apply(&Event::Visible {
        rdata: rdata.into(),
        at,
        ttl,
    });
}

#[test]
fn p01_current_next_stages_publishes_and_waits_2_ttl() {
    let mut lane = adopted(Scheme::CurrentNext);
    assert_eq!(lane.decide(0).actions[0], Action::StageNext);
    lane.apply(&Event::NextStaged { key: key(2) });
    let d = lane.decide(0);
    assert_eq!(
        d.actions,
        vec![
            Action::Publish {
                rdata: ee(&key(1).spki_sha256)
            },
            Action::Publish {
                rdata: ee(&key(2).spki_sha256)
            },
        ]
    );
    visible(&mut lane, &ee(&key(1).spki_sha256), 100, 300);
    visible(&mut lane, &ee(&key(2).spki_sha256), 100, 300);
    lane.apply(&Event::CertSubmitted {
        cert: cert(2, 0xa0),
    });
    // 2 x 300 s after it was first seen everywhere, not a second earlier.
    let d = lane.decide(699);
    assert!(d.actions.is_empty(), "{d:?}");
    assert_eq!(d.waits[0].until, Some(700));
    let d = lane.decide(700);
    assert_eq!(
        d.actions,
        vec![Action::Deploy {
            cert: cert(2, 0xa0)
        }]
    );
}

#[test]
fn p01_a_record_seen_missing_again_restarts_the_gate() {
    let mut lane = adopted(Scheme::CurrentNext);
    lane.apply(&Event::NextStaged { key: key(2) });
    visible(&mut lane, &ee(&key(2).spki_sha256), 100, 300);
    lane.apply(&Event::CertSubmitted {
        cert: cert(2, 0xa0),
    });
    lane.apply(&Event::NotVisible {
        rdata: ee(&key(2).spki_sha256),
    });
    assert!(lane.gate(&cert(2, 0xa0), 10_000).is_err());
}

#[test]
fn p04_the_retired_record_stays_for_2_ttl_and_the_live_one_is_never_withdrawn() {
    let mut lane = adopted(Scheme::CurrentNext);
    lane.apply(&Event::NextStaged { key: key(2) });
    visible(&mut lane, &ee(&key(1).spki_sha256), 0, 300);
    visible(&mut lane, &ee(&key(2).spki_sha256), 0, 300);
    lane.apply(&Event::CertSubmitted {
        cert: cert(2, 0xa0),
    });
    lane.apply(&Event::DeployStarted {
        cert: cert(2, 0xa0),
        at: 1000,
    });
    lane.apply(&Event::Deployed { at: 1000 });
    assert_eq!(lane.current.as_ref().map(|c| c.0.clone()), Some(key(2)));
    assert!(lane.next.is_none());
    let d = lane.decide(1599);
    assert!(d.actions.contains(&Action::StageNext));
    assert!(
        !d.actions
            .iter()
            .any(|a| matches!(a, Action::Withdraw { .. })),
        "{d:?}"
    );
    let d = lane.decide(1600);
    assert!(
        d.actions.contains(&Action::Withdraw {
            rdata: ee(&key(1).spki_sha256)
        }),
        "{d:?}"
    );
    assert!(!d.actions.contains(&Action::Withdraw {
        rdata: ee(&key(2).spki_sha256)
    }));
}

#[test]
fn p02_current_issuer_deploys_a_new_key_from_the_same_issuer_at_once() {
    let mut lane = adopted(Scheme::CurrentIssuer);
    lane.apply(&Event::NextStaged { key: key(2) });
    visible(&mut lane, &ee(&key(1).spki_sha256), 0, 300);
    visible(&mut lane, &ta(&"a0".repeat(32)), 0, 300);
    let mut fresh = cert(3, 0xa0);
    assert!(
        lane.accepts(&fresh, 1000).is_err(),
        "a fresh key needs its key file"
    );
    fresh.key_file = Some("key3".into());
    assert!(lane.accepts(&fresh, 1000).is_ok());
    lane.apply(&Event::CertSubmitted {
        cert: fresh.clone(),
    });
    assert_eq!(
        lane.decide(1000).actions,
        vec![Action::Deploy { cert: fresh }]
    );
    // A new issuer: its 2 1 1 is published first, and the certificate waits for it.
    let mut other = cert(4, 0xb0);
    other.key_file = Some("key4".into());
    lane.apply(&Event::CertSubmitted {
        cert: other.clone(),
    });
    let d = lane.decide(1000);
    assert_eq!(
        d.actions,
        vec![Action::Publish {
            rdata: ta(&"b0".repeat(32))
        }]
    );
}

#[test]
fn p01_a_withdrawn_record_is_added_again_only_once_it_is_gone_everywhere() {
    let mut lane = adopted(Scheme::CurrentIssuer);
    lane.apply(&Event::NextStaged { key: key(2) });
    let other = ta(&"b0".repeat(32));
    visible(&mut lane, &other, 0, 300);
    lane.apply(&Event::WithdrawRequested {
        rdata: other.clone(),
        at: 10,
    });
    // A certificate from that issuer arrives: the record is wanted again, but a lagging
    // server may still be about to apply the withdrawal.
    let mut c = cert(5, 0xb0);
    c.key_file = Some("key5".into());
    lane.apply(&Event::CertSubmitted { cert: c });
    let d = lane.decide(20);
    assert!(
        !d.actions.contains(&Action::Publish {
            rdata: other.clone()
        }),
        "{d:?}"
    );
    assert!(
        d.waits.iter().any(|w| w.what.contains("to be gone")),
        "{d:?}"
    );
    lane.apply(&Event::Gone {
        rdata: other.clone(),
    });
    assert!(
        lane.decide(30)
            .actions
            .contains(&Action::Publish { rdata: other })
    );
}

#[test]
fn p07_a_certificate_for_an_unknown_key_is_refused() {
    let mut lane = adopted(Scheme::CurrentNext);
    lane.apply(&Event::NextStaged { key: key(2) });
    let e = lane.accepts(&cert(9, 0xa0), 0).unwrap_err();
    assert!(e.contains("neither the staged next key"), "{e}");
    assert!(lane.accepts(&cert(2, 0xa0), 0).is_ok());
}

#[test]
fn p05_p08_a_failed_deployment_needs_a_human_and_is_retried_later() {
    let mut lane = adopted(Scheme::CurrentNext);
    lane.apply(&Event::NextStaged { key: key(2) });
    visible(&mut lane, &ee(&key(2).spki_sha256), 0, 300);
    lane.apply(&Event::CertSubmitted {
        cert: cert(2, 0xa0),
    });
    lane.apply(&Event::DeployStarted {
        cert: cert(2, 0xa0),
        at: 1000,
    });
    // Killed here: the next decision finishes the deployment first.
    assert_eq!(
        lane.decide(1001).actions,
        vec![Action::Deploy {
            cert: cert(2, 0xa0)
        }]
    );
    lane.apply(&Event::DeployFailed {
        why: "reload failed".into(),
        at: 1001,
    });
    let d = lane.decide(1002);
    assert!(d.needs_human.is_some());
    assert!(!d.actions.iter().any(|a| matches!(a, Action::Deploy { .. })));
    assert_eq!(lane.current.as_ref().map(|c| c.0.clone()), Some(key(1)));
    assert!(
        lane.decide(1001 + RETRY_AFTER)
            .actions
            .iter()
            .any(|a| matches!(a, Action::Deploy { .. }))
    );
}

#[test]
fn events_round_trip_as_json() {
    let e = Event::CertSubmitted { cert: cert(2, 1) };
    let text = serde_json::to_string(&e).unwrap();
    assert!(text.starts_with("{\"event\":\"cert-submitted\""), "{text}");
    assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
}
