//! The lab's signed mini-internet: worlds described in a few lines ([`world`]), signed at build
//! time ([`keys`]), answered in-process ([`resolve`], [`server`]) and exported for real DNS
//! software ([`export`]). [`fixtures`] holds a world with every fault knob and what a
//! validator must conclude for each name.

pub mod dynamic;
pub mod export;
pub mod fixtures;
pub mod forge;
pub mod interop;
pub mod keys;
pub mod message;
pub mod resolve;
pub mod server;
pub mod tamper;
pub mod world;

pub use mxdane_dns::{name, rdata};
pub use name::Name;
pub use world::World;
