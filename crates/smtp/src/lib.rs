//! The SMTP client side: banner, EHLO, STARTTLS and the DANE-verified handshake.
//!
//! Not implemented yet (issue 6): this crate has no public API, so no code path can pretend to
//! deliver or probe mail.
#![forbid(unsafe_code)]
