//! The feed handler: OPRA-style wire format, A/B arbitration, gap detection and recovery,
//! normalization into [`tickwire_record::Tick`], and the feed simulator.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arbiter;
pub mod counters;
pub mod handler;
pub mod normalize;
pub mod pcap;
pub mod retrans;
pub mod sim;
pub mod wire;
