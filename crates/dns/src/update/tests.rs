use super::*;

fn key() -> TsigKey {
    TsigKey::parse_file(
        "key \"update.example.\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=\";\n};\n",
    )
    .unwrap()
}

fn update() -> Update {
    Update {
        id: 4242,
        zone: Name::parse("example."),
        prerequisites: vec![Prerequisite::Exactly {
            owner: Name::parse("_25._tcp.mx.example."),
            rtype: rtype::TLSA,
            rdatas: vec![vec![3, 1, 1, 0xaa], vec![3, 1, 1, 0xbb]],
        }],
        changes: vec![
            Change::Add {
                owner: Name::parse("_25._tcp.mx.example."),
                rtype: rtype::TLSA,
                ttl: 300,
                rdata: vec![3, 1, 1, 0xcc],
            },
            Change::Delete {
                owner: Name::parse("_25._tcp.mx.example."),
                rtype: rtype::TLSA,
                rdata: vec![3, 1, 1, 0xaa],
            },
        ],
    }
}

#[test]
fn p03_key_files_as_bind_and_knot_write_them() {
    let bind = key();
    let knot = TsigKey::parse_file(
        "key:\n  - id: update.example.\n    algorithm: hmac-sha256\n    secret: c2VjcmV0LXNlY3JldC1zZWNyZXQtMTIzNDU2Nzg=\n",
    )
    .unwrap();
    assert_eq!(bind, knot);
    assert_eq!(bind.secret, b"secret-secret-secret-12345678");
    for (bad, why) in [
        (
            "key \"k\" { algorithm hmac-md5; secret \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\"; };",
            "only hmac-sha256",
        ),
        (
            "key \"k\" { algorithm hmac-sha256; secret \"!!!\"; };",
            "not base64",
        ),
        (
            "key \"k\" { algorithm hmac-sha256; secret \"c2hvcnQ=\"; };",
            "at least 16",
        ),
        ("key \"k\" { algorithm hmac-sha256; };", "no `secret`"),
        ("nothing here", "no `id:`"),
    ] {
        let e = TsigKey::parse_file(bad).unwrap_err();
        assert!(e.contains(why), "{bad}: {e}");
    }
    assert!(
        !format!("{bind:?}").contains("secret-"),
        "the secret never prints"
    );
}

#[test]
fn p03_update_round_trips_and_tsig_verifies() {
    let u = update();
    let wire = u.encode();
    assert_eq!(Update::parse(&wire).unwrap(), u);
    let (signed, mac) = sign(&wire, &key(), 1_700_000_000, None, 0);
    assert_eq!(mac.len(), 32);
    let keys = [key()];
    let (t, k) = verify(&signed, &keys, 1_700_000_100, None).unwrap();
    assert_eq!((t.mac.clone(), k.name.clone()), (mac.clone(), key().name));
    assert_eq!(
        Update::parse(&signed).unwrap(),
        u,
        "the TSIG record is skipped"
    );
    // The response is signed over the request's MAC.
    let resp = response(4242, &u.zone, rcode::NOERROR);
    let (signed_resp, _) = sign(&resp, &key(), 1_700_000_001, Some(&mac), 0);
    assert!(verify(&signed_resp, &[key()], 1_700_000_001, Some(&mac)).is_ok());
    assert_eq!(
        verify(&signed_resp, &[key()], 1_700_000_001, Some(&[0; 32])).unwrap_err(),
        TsigFailure::BadSig,
        "a response to another request"
    );
    assert_eq!(response_code(&signed_resp).unwrap(), (4242, rcode::NOERROR));
}

#[test]
fn p03_forged_unsigned_late_or_wrong_key_updates_are_refused() {
    let wire = update().encode();
    let (signed, _) = sign(&wire, &key(), 1_700_000_000, None, 0);
    assert_eq!(
        verify(&wire, &[key()], 1_700_000_000, None).unwrap_err(),
        TsigFailure::Unsigned
    );
    // One changed octet anywhere in the signed part: BADSIG. (The header id is not: the
    // MAC covers the original id in the TSIG record, RFC 8945 section 4.3.1.)
    for i in [2, 7, 12, 40, signed.len() - 40] {
        let mut bad = signed.clone();
        bad[i] ^= 1;
        let e = verify(&bad, &[key()], 1_700_000_000, None).unwrap_err();
        assert!(
            matches!(
                e,
                TsigFailure::BadSig | TsigFailure::Malformed(_) | TsigFailure::BadKey(_)
            ),
            "octet {i}: {e:?}"
        );
    }
    let other = TsigKey {
        secret: b"another-secret-of-32-octets-long".to_vec(),
        ..key()
    };
    assert_eq!(
        verify(&signed, &[other], 1_700_000_000, None).unwrap_err(),
        TsigFailure::BadSig
    );
    let renamed = TsigKey {
        name: Name::parse("other.example."),
        ..key()
    };
    assert!(matches!(
        verify(&signed, &[renamed], 1_700_000_000, None).unwrap_err(),
        TsigFailure::BadKey(_)
    ));
    assert!(matches!(
        verify(&signed, &[key()], 1_700_000_301, None).unwrap_err(),
        TsigFailure::BadTime { .. }
    ));
    // A replayed request is caught by the time check only outside the fudge; the server
    // also refuses to apply an update whose prerequisites no longer hold.
    assert!(
        Update::parse(&signed[..signed.len() - 5]).is_err()
            || find_tsig(&signed[..signed.len() - 5]).is_err()
    );
}
