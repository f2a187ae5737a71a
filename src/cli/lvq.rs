//! `tickwire lvq` (being written).

/// Arguments of `tickwire lvq`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `tickwire lvq`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("tickwire lvq is not available in this build".into())
}
