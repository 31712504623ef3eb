//! Domain names: the workspace's one name type lives in `mxdane-tlsa` (the lowest crate) and is
//! re-exported here, so the DNS code, the TLSA code and the DANE-TA name checks share it.

pub use mxdane_tlsa::name::{Name, NameError, NameErrorKind};
