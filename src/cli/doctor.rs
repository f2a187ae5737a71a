//! `tickwire doctor`: what on this box is mistuned for the appliance, and the exact fix for
//! each (the `tickwire_hw` tuning report, as a table or JSON).

use tickwire_hw::{tuning_report, Severity, TuningReport};

/// Flags of `tickwire doctor`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the report as JSON (`findings` and `passed`).
    #[arg(long)]
    pub json: bool,
}

/// Prints the report; findings are advice, so a mistuned box is not an error.
pub fn run(args: Args) -> Result<(), String> {
    let report = tuning_report();
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

/// The report for people: one block per finding, most severe first, then what passed.
pub fn render(r: &TuningReport) -> String {
    let mut out = String::new();
    if r.findings.is_empty() {
        out.push_str("nothing mistuned\n");
    }
    for f in &r.findings {
        let sev = match f.severity {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "warning",
            _ => "info",
        };
        out.push_str(&format!("{sev:<8} {}\n", f.check));
        out.push_str(&format!("         found:    {}\n", f.found));
        out.push_str(&format!("         expected: {}\n", f.expected));
        out.push_str(&format!("         fix:      {}\n", f.fix));
    }
    out.push_str(&format!("passed: {}\n", r.passed.join(", ")));
    out
}

/// One line for a start-up banner: how many findings and their names, or `None`.
pub fn summary(r: &TuningReport) -> Option<String> {
    if r.findings.is_empty() {
        return None;
    }
    let names: Vec<&str> = r.findings.iter().map(|f| f.check).collect();
    Some(format!(
        "{} mistuned: {} (`tickwire doctor` prints each fix)",
        names.len(),
        names.join(", ")
    ))
}
