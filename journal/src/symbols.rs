//! The symbol log: which instrument each `Tick::instrument` id in the journal names.
//!
//! Ticks carry a dense instrument id, given in order of first sight by the appliance's
//! [`Directory`]. The journal keeps that mapping beside the segments in `symbols.tsv`,
//! one line per id in id order: `<underlying>\t<compact OSI symbol>` (the second field
//! empty for an underlying). On start the appliance loads it into its empty directory
//! before the feed runs, so ids stay the same across restarts and old records still name
//! the right instrument; offline readers (`tickwire replay`, `export`) load it to print
//! names. A torn last line (a crash mid-write) is ignored and cut off on the next open
//! for writing. The file is small (about 25 bytes a series) and written only when the
//! directory grows, with buffered IO: see `docs/journal.md` for when it is synced.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use tickwire_record::{Directory, OsiSymbol};

use crate::error::Error;

/// The file's name inside the journal folder.
pub const FILE_NAME: &str = "symbols.tsv";

/// Appends new directory entries to `symbols.tsv`.
pub struct SymbolLog {
    path: PathBuf,
    file: File,
    /// Ids written so far (the next id to write).
    written: u32,
    /// Written since the last [`SymbolLog::sync`].
    dirty: bool,
    line: Vec<u8>,
}

impl std::fmt::Debug for SymbolLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SymbolLog({}, {} ids)",
            self.path.display(),
            self.written
        )
    }
}

/// Reads the complete lines of `path` (none if it does not exist) into `directory`, in
/// order. Returns the ids loaded and the byte length of the complete lines.
fn read_into(path: &Path, directory: &Directory) -> Result<(u32, u64), Error> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let (mut ids, mut good) = (0u32, 0u64);
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        let text = line.trim_end_matches('\n');
        let (underlying, series) = text.split_once('\t').unwrap_or((text, ""));
        let osi = if series.is_empty() {
            None
        } else {
            Some(OsiSymbol::parse(series).map_err(|_| bad_line(path, good))?)
        };
        let id = directory
            .intern(underlying, osi)
            .map_err(|_| Error::Misuse("directory too small for the journal's symbol log"))?;
        if id != ids {
            // A duplicate line or a directory that was not empty: ids would not match.
            return Err(bad_line(path, good));
        }
        ids += 1;
        good += n as u64;
    }
    Ok((ids, good))
}

fn bad_line(path: &Path, offset: u64) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        offset,
        error: crate::decode::BatchError::BadHeaderField("symbol log line"),
    }
}

/// Loads the symbol log of the journal in `dir` into `directory` (which must be empty).
/// Returns how many ids it named. For readers: never writes.
pub fn load(dir: &Path, directory: &Directory) -> Result<u32, Error> {
    Ok(read_into(&dir.join(FILE_NAME), directory)?.0)
}

impl SymbolLog {
    /// Opens (creating) the log in `dir`, loads it into `directory` (which must be
    /// empty), and cuts off a torn last line.
    pub fn open(dir: &Path, directory: &Directory) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let path = dir.join(FILE_NAME);
        let (written, good) = read_into(&path, directory)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        file.set_len(good)
            .map_err(|e| Error::io("truncate", &path, e))?;
        Ok(Self {
            path,
            file,
            written,
            dirty: false,
            line: Vec::with_capacity(64),
        })
    }

    /// Ids written so far.
    pub fn len(&self) -> u32 {
        self.written
    }

    /// Whether no id is written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Writes the entries `directory` gained since the last call (one `write` for all of
    /// them). Returns how many. Cheap when there are none: one atomic load.
    pub fn append_new(&mut self, directory: &Directory) -> Result<u32, Error> {
        let len = directory.len();
        if len <= self.written {
            return Ok(0);
        }
        self.line.clear();
        let mut compact = [0u8; 21];
        let start = self.written;
        for id in start..len {
            let Some(inst) = directory.get(id) else { break };
            self.line.extend_from_slice(inst.underlying().as_bytes());
            self.line.push(b'\t');
            if let Some(osi) = &inst.osi {
                let n = osi.write_compact(&mut compact);
                self.line.extend_from_slice(&compact[..n]);
            }
            self.line.push(b'\n');
            self.written = id + 1;
        }
        self.file
            .write_all(&self.line)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.dirty = true;
        Ok(self.written - start)
    }

    /// Makes what was written durable (fdatasync), if anything was.
    pub fn sync(&mut self) -> Result<(), Error> {
        if std::mem::take(&mut self.dirty) {
            self.file
                .sync_data()
                .map_err(|e| Error::io("fdatasync", &self.path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn osi(s: &str) -> Option<OsiSymbol> {
        Some(OsiSymbol::parse(s).unwrap())
    }

    #[test]
    fn ids_survive_a_restart_and_a_torn_line_is_cut() {
        let dir = std::env::temp_dir().join(format!("tw-symlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let d = Directory::with_capacity(16);
        let mut log = SymbolLog::open(&dir, &d).unwrap();
        d.intern("SPY", None).unwrap();
        d.intern("SPY", osi("SPY261218C00450000")).unwrap();
        assert_eq!(log.append_new(&d).unwrap(), 2);
        d.intern("AAPL", osi("AAPL270115P00190000")).unwrap();
        assert_eq!(log.append_new(&d).unwrap(), 1);
        assert_eq!(log.append_new(&d).unwrap(), 0);
        log.sync().unwrap();
        drop(log);
        // A crash in the middle of a line.
        let path = dir.join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"QQQ\tQQQ2612").unwrap();
        drop(f);

        let again = Directory::with_capacity(16);
        let log = SymbolLog::open(&dir, &again).unwrap();
        assert_eq!(log.len(), 3);
        for id in 0..3 {
            assert_eq!(
                d.id_in(id, &again),
                Some(id),
                "id {id} names the same instrument"
            );
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("AAPL270115P00190000\n"),
            "torn tail cut: {text:?}"
        );
        let offline = Directory::with_capacity(16);
        assert_eq!(load(&dir, &offline).unwrap(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_damaged_line_is_an_error_not_a_wrong_name() {
        let dir = std::env::temp_dir().join(format!("tw-symlog-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), "SPY\t\nSPY\tNOT-A-SYMBOL\n").unwrap();
        let err = load(&dir, &Directory::with_capacity(4)).unwrap_err();
        assert!(matches!(err, Error::Corrupt { offset: 5, .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
