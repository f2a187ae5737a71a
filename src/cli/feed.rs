//! `tickwire feed` (being written).

/// Arguments of `tickwire feed`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `tickwire feed`.
pub fn run(_args: Args) -> Result<(), String> {
    Err("tickwire feed is not available in this build".into())
}
