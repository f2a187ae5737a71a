//! tickwire, the appliance: configuration, wiring of the data plane, the AMQP endpoint and
//! the console. The `tickwire` binary is a thin command line over this library, so tests
//! can start the whole appliance in-process.
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod config;
pub mod console;
