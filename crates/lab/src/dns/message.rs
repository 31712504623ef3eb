//! DNS messages for the lab's servers: the workspace's one codec, `mxdane_dns::message`
//! (queries in, responses out, and a raw reader for tests), re-exported under the lab's path.

pub use mxdane_dns::message::{
    Query, RawMessage, RawRecord, Response, WireError, build_query, encode, parse_query,
    parse_response_raw as parse_response, rcode,
};
