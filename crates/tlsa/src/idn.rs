//! Names typed by a user. DNS names on the wire are ASCII (`mxdane_tlsa::Name` refuses
//! anything else); a user may type an internationalised name, which becomes its A-label form
//! by UTS 46 processing (the IDNA2008 mapping that browsers and mail clients use), as
//! RFC 6531 section 3.2 and RFC 5891 section 4 expect of software that turns user input into
//! DNS lookups.

use crate::Name;

/// Parses a domain or host name typed by a user: ASCII names as they are, others converted
/// to A-labels (`bücher.example` becomes `xn--bcher-kva.example`). The error names the
/// input and the problem.
pub fn domain(text: &str) -> Result<Name, String> {
    if text.is_ascii() {
        return Name::try_parse(text).map_err(|e| e.to_string());
    }
    let ascii = idna::domain_to_ascii(text).map_err(|_| {
        format!(
            "\"{}\" is not a valid internationalised domain name (UTS 46 cannot convert it to A-labels)",
            text.escape_debug()
        )
    })?;
    Name::try_parse(&ascii).map_err(|e| format!("\"{}\" (as A-labels): {e}", text.escape_debug()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idn_input_becomes_a_labels() {
        assert_eq!(
            domain("Bücher.Example").unwrap().as_str(),
            "xn--bcher-kva.example."
        );
        assert_eq!(
            domain("mail.例え.テスト.").unwrap().as_str(),
            "mail.xn--r8jz45g.xn--zckzah."
        );
        // ASCII names pass unchanged (underscored TLSA owners included).
        assert_eq!(
            domain("_25._tcp.MX.example").unwrap().as_str(),
            "_25._tcp.mx.example."
        );
    }

    #[test]
    fn bad_idn_input_is_an_error_that_names_it() {
        // A bidi violation and a disallowed code point (U+2028 LINE SEPARATOR).
        for bad in ["a\u{2028}b.example", "\u{05D0}1a.example"] {
            let e = domain(bad).unwrap_err();
            assert!(e.contains("not a valid internationalised"), "{bad}: {e}");
        }
        // A label that becomes too long as an A-label is refused by the name type.
        let long = "ü".repeat(60);
        assert!(domain(&format!("{long}.example")).is_err());
    }
}
