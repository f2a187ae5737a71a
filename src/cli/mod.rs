//! Subcommands of the `tickwire` binary beyond `run`: each module defines its clap
//! arguments (`Args`) and a `run` function.

pub mod bench;
pub mod doctor;
pub mod export;
pub mod feed;
pub mod harness;
pub mod lvq;
pub mod progress;
pub mod replay;
