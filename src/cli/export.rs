//! `tickwire export`: ticks from the journal to a Parquet file.
//!
//! `tickwire export [--config FILE] [--journal DIR] [--from POS] [--to POS]
//! [--filter ADDRESS] --parquet FILE` reads the same range and filter as `tickwire replay`
//! and writes one row per tick with the parquet crate's column writers (no Arrow):
//! timestamps as `INT64 TIMESTAMP(NANOS, UTC)`, prices as `DOUBLE` dollars, names as UTF8
//! strings, Snappy-compressed, in row groups of [`ROW_GROUP`] rows. Pandas, polars, DuckDB
//! and pyarrow read it directly. The file is written under a temporary name and renamed
//! when complete, so a reader never sees half a file. Gaps in the journal are reported on
//! stderr and listed in the file's key-value metadata under `tickwire.gaps`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int32Type, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use tickwire_record::{price, Tick};
use tickwire_replay::Status;

use super::progress::Progress;
use super::replay::{exchange, kind_name, GapReport, Source, SourceArgs};

/// Rows per row group.
pub const ROW_GROUP: usize = 1 << 20;
/// Values handed to a column writer at a time.
const CHUNK: usize = 1 << 16;
/// Ticks asked of the cursor at a time.
const BATCH: usize = 1 << 14;

/// The file's schema, in the order columns are written.
pub const SCHEMA: &str = "message tick {
  REQUIRED INT64 seq;
  REQUIRED INT64 ts_recv (TIMESTAMP(NANOS,true));
  REQUIRED INT64 ts_exchange (TIMESTAMP(NANOS,true));
  REQUIRED BYTE_ARRAY address (UTF8);
  REQUIRED BYTE_ARRAY underlying (UTF8);
  REQUIRED BYTE_ARRAY kind (UTF8);
  REQUIRED DOUBLE bid;
  REQUIRED DOUBLE ask;
  REQUIRED DOUBLE last;
  REQUIRED INT64 bid_size;
  REQUIRED INT64 ask_size;
  REQUIRED INT64 last_size;
  REQUIRED INT64 volume;
  REQUIRED INT64 feed_seq;
  REQUIRED INT32 line;
  REQUIRED BYTE_ARRAY exchange (UTF8);
  REQUIRED INT32 flags;
}";

/// Arguments of `tickwire export`.
#[derive(clap::Args, Debug)]
#[command(about = "Write ticks from the journal to a Parquet file")]
pub struct Args {
    /// The journal, the range and the filter.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The Parquet file to write (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub parquet: PathBuf,
}

/// Runs `tickwire export`.
pub fn run(args: Args) -> Result<(), String> {
    let mut source = Source::open(&args.source)?;
    let partial = partial_name(&args.parquet);
    let result = export(&mut source, &partial);
    if let Some(w) = source.warning() {
        eprintln!("tickwire: warning: {w}");
    }
    match result {
        Ok(rows) => {
            std::fs::rename(&partial, &args.parquet).map_err(|e| {
                format!(
                    "renaming {} to {}: {e}",
                    partial.display(),
                    args.parquet.display()
                )
            })?;
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprintln!("export: {rows} rows to {}", args.parquet.display());
            }
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// `FILE` as `FILE.partial` in the same folder (so the rename stays on one filesystem).
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// Writes the whole range to `path`; returns the rows written.
fn export(source: &mut Source, path: &Path) -> Result<u64, String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(|e| e.to_string())?);
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP)
        .set_created_by(format!("tickwire {}", env!("CARGO_PKG_VERSION")))
        .build();
    let failed = |e: ParquetError| format!("writing {}: {e}", path.display());
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(props)).map_err(failed)?;
    let mut progress = Progress::new("export", source.first_seq, source.end_seq);
    let mut values = Values::new();
    let mut group: Vec<Tick> = Vec::with_capacity(BATCH);
    let mut gaps = Vec::new();
    let mut report = GapReport::new("export");
    let result: Result<(), String> = loop {
        let before = group.len();
        let status = source.fill(&mut group, BATCH.min(ROW_GROUP - before));
        if let Some(t) = group.last().filter(|_| group.len() > before) {
            progress.rows((group.len() - before) as u64, t.seq.get(), t.ts_recv.get());
        }
        if group.len() == ROW_GROUP {
            values
                .write_group(&mut writer, &group, source)
                .map_err(failed)?;
            group.clear();
        }
        match status {
            Status::More => {}
            Status::Gap { first, count } => {
                report.report(first, count, &mut progress);
                gaps.push(format!("{{\"first\":{first},\"count\":{count}}}"));
            }
            Status::CaughtUp { .. } | Status::Ended { .. } => break Ok(()),
        }
    };
    progress.finish();
    report.finish();
    result?;
    if !group.is_empty() {
        values
            .write_group(&mut writer, &group, source)
            .map_err(failed)?;
    }
    let gaps = format!("[{}]", gaps.join(","));
    writer.append_key_value_metadata(KeyValue::new("tickwire.gaps".into(), gaps));
    writer.close().map_err(failed)?;
    Ok(progress.count())
}

/// The string values rows share, made once: per instrument, per kind, per exchange.
struct Values {
    /// Address and underlying per [`Source::names_index`].
    names: Vec<(ByteArray, ByteArray)>,
    kinds: Vec<ByteArray>,
    exchanges: Vec<ByteArray>,
}

impl Values {
    fn new() -> Self {
        let kinds = (0..=255u8)
            .map(|b| {
                let t = Tick {
                    kind: b,
                    ..Tick::default()
                };
                ByteArray::from(kind_name(&t))
            })
            .collect();
        let exchanges = (0..=255u8)
            .map(|b| {
                let t = Tick {
                    exchange: b,
                    ..Tick::default()
                };
                ByteArray::from(exchange(&t).map(|c| vec![c]).unwrap_or_default())
            })
            .collect();
        Self {
            names: Vec::new(),
            kinds,
            exchanges,
        }
    }

    /// Writes `ticks` as one row group.
    fn write_group(
        &mut self,
        writer: &mut SerializedFileWriter<File>,
        ticks: &[Tick],
        source: &Source,
    ) -> Result<(), ParquetError> {
        for n in &source.all_names()[self.names.len()..] {
            let address = ByteArray::from(n.address.as_str());
            self.names
                .push((address, ByteArray::from(n.underlying.as_str())));
        }
        let names = |t: &Tick| &self.names[source.names_index(t)];
        let dollars = |units: i32| units as f64 / price::SCALE as f64;
        let mut rg = writer.next_row_group()?;
        let g = &mut rg;
        column::<Int64Type>(g, ticks, |t| t.seq.get() as i64)?;
        column::<Int64Type>(g, ticks, |t| t.ts_recv.get() as i64)?;
        column::<Int64Type>(g, ticks, |t| t.ts_exchange.get() as i64)?;
        column::<ByteArrayType>(g, ticks, |t| names(t).0.clone())?;
        column::<ByteArrayType>(g, ticks, |t| names(t).1.clone())?;
        column::<ByteArrayType>(g, ticks, |t| self.kinds[t.kind as usize].clone())?;
        column::<DoubleType>(g, ticks, |t| dollars(t.bid.get()))?;
        column::<DoubleType>(g, ticks, |t| dollars(t.ask.get()))?;
        column::<DoubleType>(g, ticks, |t| dollars(t.last.get()))?;
        column::<Int64Type>(g, ticks, |t| i64::from(t.bid_size.get()))?;
        column::<Int64Type>(g, ticks, |t| i64::from(t.ask_size.get()))?;
        column::<Int64Type>(g, ticks, |t| i64::from(t.last_size.get()))?;
        column::<Int64Type>(g, ticks, |t| i64::from(t.volume.get()))?;
        column::<Int64Type>(g, ticks, |t| i64::from(t.feed_seq.get()))?;
        column::<Int32Type>(g, ticks, |t| i32::from(t.line))?;
        column::<ByteArrayType>(g, ticks, |t| self.exchanges[t.exchange as usize].clone())?;
        column::<Int32Type>(g, ticks, |t| i32::from(t.flags))?;
        rg.close()?;
        Ok(())
    }
}

/// Writes the next column of the row group: `value` of each tick, in chunks.
fn column<T: DataType>(
    rg: &mut SerializedRowGroupWriter<'_, File>,
    ticks: &[Tick],
    value: impl Fn(&Tick) -> T::T,
) -> Result<(), ParquetError> {
    let mut col = rg
        .next_column()?
        .ok_or_else(|| ParquetError::General("more values than schema columns".into()))?;
    let mut scratch = Vec::with_capacity(CHUNK.min(ticks.len()));
    for chunk in ticks.chunks(CHUNK) {
        scratch.clear();
        scratch.extend(chunk.iter().map(&value));
        col.typed::<T>().write_batch(&scratch, None, None)?;
    }
    col.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses_with_a_column_per_field() {
        let schema = parse_message_type(SCHEMA).unwrap();
        assert_eq!(schema.get_fields().len(), 17);
        assert_eq!(
            partial_name(Path::new("/tmp/a.parquet")),
            Path::new("/tmp/a.parquet.partial")
        );
    }
}
