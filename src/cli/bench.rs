//! `tickwire bench` (being written).

/// Arguments of `tickwire bench`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `tickwire bench`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("tickwire bench is not available in this build".into())
}
