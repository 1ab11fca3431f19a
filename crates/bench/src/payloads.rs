//! Already-encoded messages in a file: `u32` little-endian key length, key, `u32`
//! payload length, payload, repeated. The bare producer streams them back, so its
//! run does nothing but send.

use std::fs::File;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// Writes messages to a payload file.
pub struct PayloadWriter {
    out: BufWriter<File>,
}

impl PayloadWriter {
    /// Creates (or truncates) the file.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            out: BufWriter::new(file),
        })
    }

    /// Appends one message.
    pub fn write(&mut self, key: &[u8], payload: &[u8]) -> Result<()> {
        for part in [key, payload] {
            let len = u32::try_from(part.len()).context("message part over 4 GiB")?;
            self.out.write_all(&len.to_le_bytes())?;
            self.out.write_all(part)?;
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// Reads messages back, one at a time, into reused buffers.
pub struct PayloadReader {
    input: BufReader<File>,
    /// Key of the message last read.
    pub key: Vec<u8>,
    /// Payload of the message last read.
    pub payload: Vec<u8>,
}

impl PayloadReader {
    /// Opens a payload file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Self {
            input: BufReader::with_capacity(1 << 20, file),
            key: Vec::new(),
            payload: Vec::new(),
        })
    }

    /// Reads the next message into `key` and `payload`; false at the end.
    pub fn next_message(&mut self) -> Result<bool> {
        let mut len = [0u8; 4];
        match self.input.read_exact(&mut len) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        read_part(&mut self.input, u32::from_le_bytes(len), &mut self.key)?;
        self.input.read_exact(&mut len)?;
        read_part(&mut self.input, u32::from_le_bytes(len), &mut self.payload)?;
        Ok(true)
    }
}

fn read_part(input: &mut impl Read, len: u32, buf: &mut Vec<u8>) -> Result<()> {
    buf.resize(len as usize, 0);
    input.read_exact(buf).context("truncated payload file")?;
    Ok(())
}
