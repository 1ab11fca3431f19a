//! Reading source files as streams: plain or gzip-compressed, with the line each
//! CSV record starts on, and directories expanded into the export files they hold.
//!
//! Nothing here loads a whole file: the decompressor and the CSV reader work
//! through fixed-size buffers, and the line tracker keeps only the line
//! terminators between the record being read and the reader's look-ahead.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use flate2::read::MultiGzDecoder;

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a file for reading its text: gzip files (told by their first bytes, not
/// their name) are decompressed on the fly, others are read as they are.
///
/// A truncated or corrupt gzip file is not noticed here but by the reads: they
/// fail with an error once the damage is reached.
pub fn open_decoded(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    file.seek(SeekFrom::Start(0))?;
    if filled == magic.len() && magic == GZIP_MAGIC {
        Ok(Box::new(MultiGzDecoder::new(file)))
    } else {
        Ok(Box::new(file))
    }
}

/// A local file as its absolute `file://` URI, as records and rejects name it.
pub fn file_uri(path: &Path) -> String {
    let absolute: PathBuf = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    format!("file://{}", absolute.display())
}

/// True for a path named like a gzip file.
fn is_gzip_name(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".gz")
}

/// Files as given, and under each directory (recursively, as an S3 export prefix
/// copied to disk is laid out) every file whose name ends in one of `suffixes`,
/// case-insensitively, in path order. Hidden entries (`.name`) are skipped.
pub fn expand_paths(paths: &[PathBuf], suffixes: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            walk(path, suffixes, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, suffixes: &[&str], found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(&path, suffixes, found)?;
        } else if suffixes
            .iter()
            .any(|s| name.ends_with(&s.to_ascii_lowercase()))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Wraps a stream and notes where its line terminators are, so that the line a
/// CSV record starts on can be told from the record's byte offset.
///
/// The csv crate's own line count is off after blank lines and CRLF endings, and
/// a second pass over a compressed file would decompress it twice; this sees the
/// bytes once, as the CSV reader pulls them.
pub struct LineTracked<R> {
    inner: R,
    offset: u64,
    state: Arc<Mutex<Terminators>>,
}

/// Answers "which line does the record at byte N start on" for a [`LineTracked`]
/// stream. Records must be asked about in the order they were read.
#[derive(Clone)]
pub struct LineLocator(Arc<Mutex<Terminators>>);

#[derive(Default)]
struct Terminators {
    /// Offsets and bytes (`\r` or `\n`) of terminators not yet passed.
    pending: VecDeque<(u64, u8)>,
    /// 1-based line at the oldest pending terminator.
    line: u64,
}

impl<R: Read> LineTracked<R> {
    /// Tracks `inner` from its first byte, which is on line 1.
    pub fn new(inner: R) -> (Self, LineLocator) {
        let state = Arc::new(Mutex::new(Terminators {
            pending: VecDeque::new(),
            line: 1,
        }));
        let tracked = Self {
            inner,
            offset: 0,
            state: Arc::clone(&state),
        };
        (tracked, LineLocator(state))
    }
}

impl<R: Read> Read for LineTracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut state = lock(&self.state);
        let seen = buf.get(..n).unwrap_or_default();
        for (i, byte) in seen.iter().enumerate() {
            if *byte == b'\n' || *byte == b'\r' {
                state.pending.push_back((self.offset + i as u64, *byte));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

impl LineLocator {
    /// The line of the record whose reading began at byte `start`: the line of
    /// the first byte at or after `start` that is not a line terminator (a record
    /// read after a blank line or a CRLF begins on the terminator before it).
    pub fn line_at(&self, start: u64) -> u64 {
        let mut state = lock(&self.0);
        while let Some(&(at, byte)) = state.pending.front() {
            if at >= start {
                break;
            }
            if byte == b'\n' {
                state.line += 1;
            }
            state.pending.pop_front();
        }
        let mut next = start;
        while let Some(&(at, byte)) = state.pending.front() {
            if at != next {
                break;
            }
            if byte == b'\n' {
                state.line += 1;
            }
            state.pending.pop_front();
            next += 1;
        }
        state.line
    }
}

/// A poisoned lock only means another holder panicked mid-update of plain
/// counters; the data is still usable for line numbers.
fn lock(state: &Mutex<Terminators>) -> MutexGuard<'_, Terminators> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The file name without a `.gz` suffix, lower-cased, for telling a file's format.
pub fn plain_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if is_gzip_name(&name) {
        name[..name.len() - 3].to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn lines_of(text: &str) -> Vec<(String, u64)> {
        let (tracked, locator) = LineTracked::new(text.as_bytes());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(tracked);
        let mut out = Vec::new();
        for record in reader.records() {
            let record = record.unwrap();
            let start = record.position().unwrap().byte();
            out.push((record[0].to_owned(), locator.line_at(start)));
        }
        out
    }

    #[test]
    fn lines_are_right_after_blank_lines_crlf_and_quoted_newlines() {
        let text = "h1,h2\r\na,1\r\n\r\nb,\"two\nlines\"\r\n\r\n\r\nc,3\nd,4";
        let found = lines_of(text);
        let expected = [("a", 2), ("b", 4), ("c", 8), ("d", 9)];
        let expected: Vec<(String, u64)> = expected
            .iter()
            .map(|(v, l)| ((*v).to_owned(), *l))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn gzip_is_told_by_content_and_truncation_fails_the_read() {
        let dir = std::env::temp_dir().join(format!("costflow-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "a,b\n".repeat(10_000);
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        let gz = encoder.finish().unwrap();

        let whole = dir.join("named-plain.csv");
        std::fs::write(&whole, &gz).unwrap();
        let mut read = String::new();
        open_decoded(&whole)
            .unwrap()
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read, text);

        let cut = dir.join("cut.csv.gz");
        std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
        let mut sink = Vec::new();
        assert!(open_decoded(&cut).unwrap().read_to_end(&mut sink).is_err());

        let plain = dir.join("plain.csv");
        std::fs::write(&plain, "x\n").unwrap();
        let mut read = String::new();
        open_decoded(&plain)
            .unwrap()
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read, "x\n");
        assert_eq!(plain_name(&cut), "cut.csv");
    }

    #[test]
    fn directories_expand_recursively_in_path_order() {
        let dir = std::env::temp_dir().join(format!("costflow-expand-{}", std::process::id()));
        let run = dir.join("20231101-20231201").join("assembly-1");
        std::fs::create_dir_all(&run).unwrap();
        for name in [
            "b-00002.csv.gz",
            "a-00001.CSV",
            "manifest.json",
            ".hidden.csv",
        ] {
            std::fs::write(run.join(name), "").unwrap();
        }
        let files = expand_paths(std::slice::from_ref(&dir), &[".csv", ".csv.gz"]).unwrap();
        let names: Vec<String> = files.iter().map(|p| plain_name(p)).collect();
        assert_eq!(names, ["a-00001.csv", "b-00002.csv"]);
    }
}
