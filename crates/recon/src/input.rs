//! Byte sources and the record splitter.
//!
//! A source yields UTF-8 bytes: a plain file, a gzip stream (detected by its magic bytes) and/or a
//! GBK/GB18030 transcoder. Transcoding happens *before* splitting because a GBK trail byte can be
//! any of 0x40–0xFE, so a `|` delimiter could otherwise be found inside a Chinese character.
//!
//! The splitter classifies 64 bytes at a time (delimiter, quote and line-feed bit masks); a line
//! without a quote byte is split from those masks (the fast path); a line containing a quote goes
//! through a small state machine that handles doubled quotes, embedded delimiters and embedded line
//! breaks.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use encoding_rs::DecoderResult;
use wide::u8x16;

use crate::job::Format;
use crate::ReconError;

/// Reads decoded (UTF-8) bytes.
trait Source: Send {
    /// Fill `dst` with decoded bytes; 0 at end of input.
    fn fill(&mut self, dst: &mut [u8]) -> Result<usize, SourceError>;
    /// Position the decoded stream at `off` cheaply (plain UTF-8 files only).
    fn seek_to(&mut self, _off: u64) -> Option<io::Result<()>> {
        None
    }
}

enum SourceError {
    Io(io::Error),
    /// Malformed bytes in the declared encoding (the decoded bytes before them were delivered).
    Malformed,
}

/// Counts raw (on-disk) bytes for the progress display.
struct Counting<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

struct PlainFile {
    file: Counting<File>,
}

impl Source for PlainFile {
    fn fill(&mut self, dst: &mut [u8]) -> Result<usize, SourceError> {
        loop {
            match self.file.read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SourceError::Io(e)),
            }
        }
    }
    fn seek_to(&mut self, off: u64) -> Option<io::Result<()>> {
        Some(self.file.inner.seek(SeekFrom::Start(off)).map(|_| ()))
    }
}

struct Stream<R> {
    inner: R,
}

impl<R: Read + Send> Source for Stream<R> {
    fn fill(&mut self, dst: &mut [u8]) -> Result<usize, SourceError> {
        loop {
            match self.inner.read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SourceError::Io(e)),
            }
        }
    }
}

struct Transcode<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_len: usize,
    raw_eof: bool,
    failed: bool,
}

impl<R: Read + Send> Source for Transcode<R> {
    fn fill(&mut self, dst: &mut [u8]) -> Result<usize, SourceError> {
        if self.failed {
            return Err(SourceError::Malformed);
        }
        loop {
            if self.raw_pos == self.raw_len && !self.raw_eof {
                self.raw_pos = 0;
                self.raw_len = loop {
                    match self.inner.read(&mut self.raw) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(SourceError::Io(e)),
                    }
                };
                self.raw_eof = self.raw_len == 0;
            }
            let (res, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.raw[self.raw_pos..self.raw_len],
                dst,
                self.raw_eof,
            );
            self.raw_pos += read;
            match res {
                DecoderResult::Malformed(_, _) => {
                    self.failed = true;
                    if written > 0 {
                        return Ok(written);
                    }
                    return Err(SourceError::Malformed);
                }
                DecoderResult::OutputFull => return Ok(written),
                DecoderResult::InputEmpty => {
                    if written > 0 || self.raw_eof {
                        return Ok(written);
                    }
                }
            }
        }
    }
}

/// One field of the current record: a range of the reader's buffer (or scratch) and whether it
/// was quoted (a quoted empty field is the empty string, an unquoted one is NULL by default).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldRef {
    start: usize,
    end: usize,
    pub quoted: bool,
    /// In the scratch buffer (unescaped) rather than the read buffer.
    scratch: bool,
}

/// Streaming record reader over one input.
pub(crate) struct RecordReader {
    display: String,
    src: Box<dyn Source>,
    buf: Vec<u8>,
    chunk: usize,
    pos: usize,
    len: usize,
    /// Decoded-stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    pending: Option<SourceError>,
    delim: u8,
    quote: u8,
    validate_utf8: bool,
    /// `buf[..valid_to]` is known to be valid UTF-8: each refill validates what it read in one call
    /// (far cheaper than per record); a record past it (an invalid or cut-off sequence) is checked
    /// on its own, so the error names its record.
    valid_to: usize,
    /// Validate whole reads (a scan reads every record); off for re-reads of scattered rows.
    eager_utf8: bool,
    /// A plain UTF-8 file: decoded offsets are file offsets and the reader can seek.
    seekable: bool,
    /// Physical lines consumed so far.
    line: u64,
    fields: Vec<FieldRef>,
    scratch: Vec<u8>,
    rec_start: usize,
    rec_end: usize,
    /// Line and decoded offset of the current record.
    pub rec_line: u64,
    pub rec_offset: u64,
    started: bool,
}

/// Outcome of reading one record.
pub(crate) enum Next {
    Record,
    /// The record's bytes are not valid in the declared encoding (UTF-8 only; other encodings fail
    /// in the transcoder, which is always an error).
    BadEncoding,
    End,
}

const SCAN_CHUNK: usize = 4 << 20;
/// Skips shorter than this read on instead of seeking.
const SEEK_DISTANCE: u64 = 256 << 10;

impl RecordReader {
    /// Open `fmt.path`; `raw_counter` receives raw bytes read (progress). `chunk` is the read size.
    pub fn open(
        fmt: &Format,
        raw_counter: Arc<AtomicU64>,
        chunk: usize,
    ) -> Result<RecordReader, ReconError> {
        let path = &fmt.path;
        let display = path.display().to_string();
        let io_err = |e: io::Error| ReconError::Io {
            path: display.clone(),
            source: e,
        };
        let mut f = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 2];
        let mut got = 0;
        while got < 2 {
            let n = f.read(&mut magic[got..]).map_err(io_err)?;
            if n == 0 {
                break;
            }
            got += n;
        }
        f.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let gz = got == 2 && magic == [0x1f, 0x8b];
        let counting = Counting {
            inner: f,
            counter: raw_counter,
        };
        let utf8 = fmt.encoding == encoding_rs::UTF_8;
        let src: Box<dyn Source> = match (gz, utf8) {
            (false, true) => Box::new(PlainFile { file: counting }),
            (true, true) => Box::new(Stream {
                inner: flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
                    1 << 20,
                    counting,
                )),
            }),
            (false, false) => Box::new(Transcode {
                inner: counting,
                decoder: fmt.encoding.new_decoder(),
                raw: vec![0; 1 << 20],
                raw_pos: 0,
                raw_len: 0,
                raw_eof: false,
                failed: false,
            }),
            (true, false) => Box::new(Transcode {
                inner: flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
                    1 << 20,
                    counting,
                )),
                decoder: fmt.encoding.new_decoder(),
                raw: vec![0; 1 << 20],
                raw_pos: 0,
                raw_len: 0,
                raw_eof: false,
                failed: false,
            }),
        };
        Ok(RecordReader {
            display,
            src,
            buf: vec![0; chunk.max(1 << 16) * 2],
            chunk: chunk.max(1 << 16),
            pos: 0,
            len: 0,
            base: 0,
            eof: false,
            pending: None,
            delim: fmt.delimiter,
            quote: fmt.quote,
            validate_utf8: utf8,
            valid_to: 0,
            eager_utf8: true,
            seekable: !gz && utf8,
            line: 0,
            fields: Vec::with_capacity(64),
            scratch: Vec::new(),
            rec_start: 0,
            rec_end: 0,
            rec_line: 0,
            rec_offset: 0,
            started: false,
        })
    }

    /// Default read size for a full scan.
    pub fn scan_chunk() -> usize {
        SCAN_CHUNK
    }

    pub fn display(&self) -> &str {
        &self.display
    }

    fn err(&self, line: u64, msg: impl Into<String>) -> ReconError {
        ReconError::Input {
            path: self.display.clone(),
            line,
            msg: msg.into(),
        }
    }

    /// Read more decoded bytes; false at end of input.
    fn refill(&mut self) -> Result<bool, ReconError> {
        if self.eof {
            return Ok(false);
        }
        if let Some(e) = self.pending.take() {
            return Err(self.source_error(e));
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.base += self.pos as u64;
            self.rec_start = self.rec_start.saturating_sub(self.pos);
            self.valid_to = self.valid_to.saturating_sub(self.pos);
            self.pos = 0;
        }
        if self.buf.len() - self.len < self.chunk {
            let new_len = (self.len + self.chunk).max(self.buf.len() * 2);
            self.buf.resize(new_len, 0);
        }
        // Read at most one chunk: a re-read of scattered rows must not pull megabytes per row.
        let end = (self.len + self.chunk).min(self.buf.len());
        let n = match self.src.fill(&mut self.buf[self.len..end]) {
            Ok(n) => n,
            Err(e) => return Err(self.source_error(e)),
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.len += n;
        if !self.started {
            self.started = true;
            if self.buf[..self.len].starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
        }
        if self.validate_utf8 && self.eager_utf8 {
            // From the first byte not yet known valid (never behind the unread data, which starts on
            // a record boundary, so an invalid byte already consumed is not met again).
            let from = self.valid_to.max(self.pos);
            // A read usually ends inside a multi-byte character: check up to its start only.
            let cut = utf8_cut(&self.buf[from..self.len]) + from;
            let bytes = &self.buf[from..cut];
            self.valid_to = if simdutf8::basic::from_utf8(bytes).is_ok() {
                cut
            } else {
                // Rare: an invalid or cut-off sequence; find where (the slower, positional check).
                from + simdutf8::compat::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), |_| 0)
            };
        }
        Ok(true)
    }

    /// Whether the input is a plain UTF-8 file (offsets are file offsets; `skip_to` seeks).
    pub fn seekable(&self) -> bool {
        self.seekable
    }

    /// Decoded offset of the next unread byte.
    pub fn position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Consume input through the next line feed (or to the end): from an arbitrary offset, the
    /// next line starts after it. Line numbers are not counted.
    pub fn skip_line(&mut self) -> Result<(), ReconError> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.len]) {
                self.pos += i + 1;
                return Ok(());
            }
            self.pos = self.len;
            if !self.refill()? {
                return Ok(());
            }
        }
    }

    /// Check UTF-8 per record only (for a reader that skips most of its input).
    pub fn lazy_utf8(mut self) -> Self {
        self.eager_utf8 = false;
        self
    }

    /// Whether record bytes `[start, end)` are not valid UTF-8 (when the input is checked at all).
    #[inline]
    fn bad_utf8(&self, start: usize, end: usize) -> bool {
        self.validate_utf8
            && end > self.valid_to
            && simdutf8::basic::from_utf8(&self.buf[start..end]).is_err()
    }

    fn source_error(&self, e: SourceError) -> ReconError {
        match e {
            SourceError::Io(e) => ReconError::Io {
                path: self.display.clone(),
                source: e,
            },
            SourceError::Malformed => {
                // The decoded bytes before the bad sequence were delivered; the bad byte is on
                // the line after the complete lines of the unconsumed tail.
                let tail = &self.buf[self.pos..self.len];
                let line = self.line + 1 + memchr::memchr_iter(b'\n', tail).count() as u64;
                self.err(line, "invalid byte sequence for the declared encoding")
            }
        }
    }

    /// Skip to decoded offset `off` (must not be behind the current position); line numbers are
    /// not tracked after a skip.
    pub fn skip_to(&mut self, off: u64) -> Result<(), ReconError> {
        loop {
            if off < self.base + self.pos as u64 {
                return Err(self.err(self.line, "internal: cannot seek backwards"));
            }
            if off < self.base + self.len as u64 {
                self.pos = (off - self.base) as usize;
                return Ok(());
            }
            // Near targets are reached by reading on; far ones by seeking (plain files only).
            let far = off - (self.base + self.len as u64) > SEEK_DISTANCE;
            if let Some(r) = far.then(|| self.src.seek_to(off)).flatten() {
                r.map_err(|e| ReconError::Io {
                    path: self.display.clone(),
                    source: e,
                })?;
                self.base = off;
                self.pos = 0;
                self.valid_to = 0;
                self.len = 0;
                self.started = true;
                self.eof = false;
                return Ok(());
            }
            self.pos = self.len;
            if !self.refill()? {
                return Ok(());
            }
        }
    }

    /// Read the next record into the reader; see [`Next`].
    pub fn next(&mut self) -> Result<Next, ReconError> {
        loop {
            if self.pos >= self.len && !self.refill()? {
                return Ok(Next::End);
            }
            let start = self.pos;
            let plain = split_line(
                &self.buf[..self.len],
                start,
                self.delim,
                self.quote,
                &mut self.fields,
                &mut self.scratch,
            );
            let (line_end, next_pos) = match plain {
                Plain::Line(nl) => (nl, nl + 1),
                // At end of input the tail is the last record.
                Plain::Open if self.eof => (self.len, self.len),
                Plain::Open => {
                    self.refill()?;
                    continue;
                }
                Plain::General => match self.quoted_line_end() {
                    Some(e) => {
                        if let Some(r) = self.next_quoted(start, e)? {
                            return Ok(r);
                        }
                        continue;
                    }
                    None => {
                        self.refill()?;
                        continue;
                    }
                },
            };
            let mut end = line_end;
            if end > start && self.buf[end - 1] == b'\r' {
                end -= 1;
                // An unquoted last field ends at the line feed; a quoted one ended at its quote.
                if let Some(last) = self.fields.last_mut().filter(|f| !f.quoted) {
                    last.end = last.end.min(end).max(last.start);
                }
            }
            self.rec_start = start;
            self.rec_end = line_end;
            self.line += 1;
            self.rec_line = self.line;
            self.rec_offset = self.base + start as u64;
            self.pos = next_pos;
            if self.bad_utf8(start, end) {
                return Ok(Next::BadEncoding);
            }
            return Ok(Next::Record);
        }
    }

    /// End of the line starting at `self.pos` (its line feed, or the end of input), None when more
    /// input is needed to find it.
    fn quoted_line_end(&self) -> Option<usize> {
        match memchr::memchr(b'\n', &self.buf[self.pos..self.len]) {
            Some(i) => Some(self.pos + i),
            None if self.eof => Some(self.len),
            None => None,
        }
    }

    /// A record whose line `[start, line_end)` contains a quote byte; None when the buffer ends inside
    /// a quoted field and more input was read (the caller parses the record again).
    fn next_quoted(&mut self, start: usize, line_end: usize) -> Result<Option<Next>, ReconError> {
        // Most quoted lines end where the line does: split them within the line; only a quoted line
        // break (or a syntax error, reported by the general path) goes further.
        self.fields.clear();
        self.scratch.clear();
        if split_quoted_line(
            &self.buf,
            start,
            line_end,
            self.delim,
            self.quote,
            &mut self.fields,
            &mut self.scratch,
        ) {
            self.rec_start = start;
            self.rec_end = line_end;
            self.line += 1;
            self.rec_line = self.line;
            self.rec_offset = self.base + start as u64;
            self.pos = if line_end < self.len {
                line_end + 1
            } else {
                self.len
            };
            if self.bad_utf8(start, line_end) {
                return Ok(Some(Next::BadEncoding));
            }
            return Ok(Some(Next::Record));
        }
        match self.quoted_record()? {
            Some(consumed_end) => {
                self.rec_start = start;
                self.rec_end = consumed_end;
                self.rec_offset = self.base + start as u64;
                self.pos = consumed_end;
                if self.bad_utf8(start, consumed_end) {
                    return Ok(Some(Next::BadEncoding));
                }
                Ok(Some(Next::Record))
            }
            None => {
                // A quoted field spans the buffer end: read more and parse the record again (at end
                // of input the parser reports an unterminated quote itself).
                self.refill()?;
                Ok(None)
            }
        }
    }

    /// Parse a record containing quotes starting at `self.pos`. Returns the end (exclusive, after
    /// the line break) or None when the buffer ends inside the record (and input continues).
    ///
    /// One memchr3 pass finds the structural bytes (delimiter, quote, line feed); a quoted field
    /// without doubled quotes is referenced in place, only one with `""` is copied to scratch.
    fn quoted_record(&mut self) -> Result<Option<usize>, ReconError> {
        self.fields.clear();
        self.scratch.clear();
        let fields = &mut self.fields;
        let scratch = &mut self.scratch;
        let buf = &self.buf[..self.len];
        let (display, line) = (&self.display, self.line);
        let after_quote = |newlines: u64, nfields: usize| ReconError::Input {
            path: display.clone(),
            line: line + newlines + 1,
            msg: format!(
                "field {}: unexpected character after a closing quote",
                nfields + 1
            ),
        };
        let (q, d) = (self.quote, self.delim);
        let start = self.pos;
        let eof = self.eof;
        let mut newlines = 0u64;
        let mut field_start = start;
        let mut in_quotes = false;
        let mut quoted = false;
        let mut escaped = false;
        let mut content_end = 0usize;
        let mut it = memchr::memchr3_iter(d, q, b'\n', &buf[start..]);
        let end = loop {
            let Some(rel) = it.next() else {
                if !eof {
                    return Ok(None);
                }
                if in_quotes {
                    return Err(ReconError::Input {
                        path: display.clone(),
                        line: line + 1,
                        msg: "unterminated quoted field at end of input".into(),
                    });
                }
                // Last record without a line break.
                let p = buf.len();
                let mut fe = if quoted { content_end } else { p };
                if !quoted && fe > field_start && buf[fe - 1] == b'\r' {
                    fe -= 1;
                }
                if quoted
                    && !(p == content_end + 1 || (p == content_end + 2 && buf[p - 1] == b'\r'))
                {
                    return Err(after_quote(newlines, fields.len()));
                }
                let (s0, e0) = if quoted {
                    (field_start + 1, fe)
                } else {
                    (field_start, fe)
                };
                push_field(buf, fields, scratch, q, s0, e0, quoted, escaped);
                break p;
            };
            let p = start + rel;
            let c = buf[p];
            if in_quotes {
                if c == q {
                    if p + 1 < buf.len() && buf[p + 1] == q {
                        escaped = true;
                        it.next();
                        continue;
                    }
                    if p + 1 >= buf.len() && !eof {
                        return Ok(None);
                    }
                    in_quotes = false;
                    content_end = p;
                } else if c == b'\n' {
                    newlines += 1;
                }
                continue;
            }
            if c == q {
                if p == field_start {
                    in_quotes = true;
                    quoted = true;
                } else if quoted {
                    return Err(after_quote(newlines, fields.len()));
                }
                // A quote inside an unquoted field is an ordinary character.
                continue;
            }
            // Delimiter or line feed: the field ends here.
            if quoted {
                let ok = p == content_end + 1
                    || (c == b'\n' && p == content_end + 2 && buf[p - 1] == b'\r');
                if !ok {
                    return Err(after_quote(newlines, fields.len()));
                }
                push_field(
                    buf,
                    fields,
                    scratch,
                    q,
                    field_start + 1,
                    content_end,
                    true,
                    escaped,
                );
            } else {
                let mut fe = p;
                if c == b'\n' && fe > field_start && buf[fe - 1] == b'\r' {
                    fe -= 1;
                }
                push_field(buf, fields, scratch, q, field_start, fe, false, false);
            }
            if c == b'\n' {
                break p + 1;
            }
            field_start = p + 1;
            quoted = false;
            escaped = false;
        };
        self.rec_line = self.line + 1;
        self.line += newlines + 1;
        Ok(Some(end))
    }

    /// Number of fields of the current record.
    pub fn nfields(&self) -> usize {
        self.fields.len()
    }

    /// Field `i` of the current record (bytes, quotes removed).
    #[inline]
    pub fn field(&self, i: usize) -> (&[u8], bool) {
        let f = self.fields[i];
        let src = if f.scratch { &self.scratch } else { &self.buf };
        (&src[f.start..f.end], f.quoted)
    }

    /// The raw bytes of the current record (for reject files), without its line break.
    pub fn raw(&self) -> &[u8] {
        let mut end = self.rec_end.min(self.len);
        let s = &self.buf[self.rec_start.min(end)..end];
        if s.ends_with(b"\n") {
            end -= 1;
        }
        let s = &self.buf[self.rec_start.min(end)..end];
        s.strip_suffix(b"\r").unwrap_or(s)
    }
}

/// Length of `b` without a multi-byte UTF-8 sequence cut off at its end (at most 3 bytes go).
fn utf8_cut(b: &[u8]) -> usize {
    for k in 1..=b.len().min(3) {
        let c = b[b.len() - k];
        if c < 0x80 {
            break;
        }
        if c >= 0xC0 {
            let need = if c >= 0xF0 {
                4
            } else if c >= 0xE0 {
                3
            } else {
                2
            };
            if k < need {
                return b.len() - k;
            }
            break;
        }
    }
    b.len()
}

/// What the line splitter found.
enum Plain {
    /// A record on one line ending with the line feed at this index; its fields are split.
    Line(usize),
    /// Something the general parser must handle: a quoted line break, a quote in the wrong place
    /// (reported there with its line), or a quoted field at the end of the buffer.
    General,
    /// The buffer ends inside an unquoted field (fields are split up to the buffer's end).
    Open,
}

/// Bit `i` of each mask is set when byte `i` of the 64-byte block is the delimiter, the quote or a
/// line feed. `wide` lowers this to SSE2 compares and movemasks on x86-64 (NEON or scalar elsewhere):
/// one pass finds every structural byte, where a memchr per field paid a call per short field.
#[inline(always)]
fn block_masks(block: &[u8; 64], d: u8x16, q: u8x16, n: u8x16) -> (u64, u64, u64) {
    let (mut dm, mut qm, mut nm) = (0u64, 0u64, 0u64);
    for (k, lane) in block.chunks_exact(16).enumerate() {
        let mut a = [0u8; 16];
        a.copy_from_slice(lane);
        let v = u8x16::new(a);
        let shift = k * 16;
        dm |= u64::from(v.simd_eq(d).to_bitmask()) << shift;
        qm |= u64::from(v.simd_eq(q).to_bitmask()) << shift;
        nm |= u64::from(v.simd_eq(n).to_bitmask()) << shift;
    }
    (dm, qm, nm)
}

/// Split the record starting at `start` when it lies on one line (the fast path: machine-written
/// files, quoted fields included). Fields follow the general parser's rules exactly: a quote opens a
/// quoted field only at the field's start, `""` inside one is a quote (unescaped into `scratch`), and
/// a quoted field must end at a delimiter or the line's end; anything else is left to it.
fn split_line(
    buf: &[u8],
    start: usize,
    d: u8,
    q: u8,
    fields: &mut Vec<FieldRef>,
    scratch: &mut Vec<u8>,
) -> Plain {
    fields.clear();
    scratch.clear();
    let (dv, qv, nv) = (u8x16::splat(d), u8x16::splat(q), u8x16::splat(b'\n'));
    // Padding for the last partial block: a byte that is none of the structural ones.
    let pad = (0u8..4)
        .find(|b| *b != d && *b != q && *b != b'\n')
        .unwrap_or(0);
    let mut fs = start;
    let (mut in_q, mut quoted, mut escaped, mut skip) = (false, false, false, false);
    let mut content_end = 0usize;
    let mut i = start;
    while i < buf.len() {
        let n = (buf.len() - i).min(64);
        let mut ev = match <&[u8; 64]>::try_from(&buf[i..i + n]) {
            Ok(block) => {
                let (dm, qm, nm) = block_masks(block, dv, qv, nv);
                dm | qm | nm
            }
            Err(_) => {
                let mut block = [pad; 64];
                block[..n].copy_from_slice(&buf[i..i + n]);
                let (dm, qm, nm) = block_masks(&block, dv, qv, nv);
                (dm | qm | nm) & ((1u64 << n) - 1)
            }
        };
        while ev != 0 {
            let p = i + ev.trailing_zeros() as usize;
            ev &= ev - 1;
            if skip {
                // The second quote of a `""` pair.
                skip = false;
                continue;
            }
            let c = buf[p];
            if in_q {
                if c == q {
                    match buf.get(p + 1) {
                        Some(&n) if n == q => {
                            escaped = true;
                            skip = true;
                        }
                        Some(_) => {
                            in_q = false;
                            content_end = p;
                        }
                        None => return Plain::General,
                    }
                } else if c == b'\n' {
                    return Plain::General;
                }
                continue;
            }
            if c == q {
                if p == fs {
                    in_q = true;
                    quoted = true;
                } else if quoted {
                    return Plain::General;
                }
                // A quote inside an unquoted field is an ordinary character.
                continue;
            }
            // Delimiter or line feed: the field ends here.
            if quoted {
                let ok = p == content_end + 1
                    || (c == b'\n' && p == content_end + 2 && buf[p - 1] == b'\r');
                if !ok {
                    return Plain::General;
                }
                push_field(buf, fields, scratch, q, fs + 1, content_end, true, escaped);
            } else {
                fields.push(FieldRef {
                    start: fs,
                    end: p,
                    quoted: false,
                    scratch: false,
                });
            }
            if c == b'\n' {
                return Plain::Line(p);
            }
            fs = p + 1;
            quoted = false;
            escaped = false;
        }
        i += 64;
    }
    if in_q || quoted {
        return Plain::General;
    }
    fields.push(FieldRef {
        start: fs,
        end: buf.len(),
        quoted: false,
        scratch: false,
    });
    Plain::Open
}

/// Split one line `[start, end)` that contains quotes, when every quoted field closes on this line.
/// Returns false (fields undefined) when a quoted field runs past the line or the syntax is wrong.
#[allow(clippy::too_many_arguments)]
fn split_quoted_line(
    buf: &[u8],
    start: usize,
    end: usize,
    d: u8,
    q: u8,
    fields: &mut Vec<FieldRef>,
    scratch: &mut Vec<u8>,
) -> bool {
    let mut end = end;
    if end > start && buf[end - 1] == b'\r' {
        end -= 1;
    }
    let mut i = start;
    loop {
        if i < end && buf[i] == q {
            let mut j = i + 1;
            let mut escaped = false;
            let close = loop {
                match memchr::memchr(q, &buf[j..end]) {
                    None => return false,
                    Some(k) => {
                        let at = j + k;
                        if at + 1 < end && buf[at + 1] == q {
                            escaped = true;
                            j = at + 2;
                        } else {
                            break at;
                        }
                    }
                }
            };
            push_field(buf, fields, scratch, q, i + 1, close, true, escaped);
            let after = close + 1;
            if after == end {
                return true;
            }
            if buf[after] != d {
                return false;
            }
            i = after + 1;
        } else {
            match memchr::memchr(d, &buf[i..end]) {
                Some(k) => {
                    push_field(buf, fields, scratch, q, i, i + k, false, false);
                    i += k + 1;
                }
                None => {
                    push_field(buf, fields, scratch, q, i, end, false, false);
                    return true;
                }
            }
        }
    }
}

/// Record field `[s, e)` of the buffer; a field with doubled quotes is unescaped into scratch.
#[inline]
#[allow(clippy::too_many_arguments)]
fn push_field(
    buf: &[u8],
    fields: &mut Vec<FieldRef>,
    scratch: &mut Vec<u8>,
    q: u8,
    s: usize,
    e: usize,
    quoted: bool,
    escaped: bool,
) {
    if !escaped {
        fields.push(FieldRef {
            start: s,
            end: e,
            quoted,
            scratch: false,
        });
        return;
    }
    let from = scratch.len();
    let mut i = s;
    while i < e {
        let b = buf[i];
        scratch.push(b);
        i += if b == q && i + 1 < e && buf[i + 1] == q {
            2
        } else {
            1
        };
    }
    fields.push(FieldRef {
        start: from,
        end: scratch.len(),
        quoted,
        scratch: true,
    });
}

/// Check that a path exists and is a file, for early errors naming the side.
pub(crate) fn check_file(path: &Path) -> Result<u64, ReconError> {
    let md = std::fs::metadata(path).map_err(|e| ReconError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(md.len())
}

#[cfg(test)]
mod tests {
    //! The block splitter against a reference: random records rendered with and without quotes, long
    //! enough that records straddle the 64-byte blocks and the reader's refills.
    use super::*;
    use proptest::prelude::*;

    /// A field as written: its value and whether it is quoted.
    type Cell = (String, bool);

    fn cell() -> impl Strategy<Value = Cell> {
        (
            prop_oneof![
                3 => "[a-z0-9 ]{0,12}",
                2 => "[a-c,;|\"\n\r张三億]{0,9}",
                1 => "[x]{50,140}",
            ],
            any::<bool>(),
        )
            .prop_map(|(v, quoted)| {
                // Values with structural bytes must be quoted to be written at all.
                let needs = v.contains([',', ';', '|', '"', '\n', '\r']);
                (v, quoted || needs)
            })
    }

    fn render(rows: &[Vec<Cell>], d: u8, crlf: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            for (i, (v, quoted)) in r.iter().enumerate() {
                if i > 0 {
                    out.push(d);
                }
                if *quoted {
                    out.push(b'"');
                    out.extend_from_slice(v.replace('"', "\"\"").as_bytes());
                    out.push(b'"');
                } else {
                    out.extend_from_slice(v.as_bytes());
                }
            }
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        }
        out
    }

    #[test]
    fn a_read_cut_inside_a_character_is_checked_up_to_its_start() {
        let s = "a张𝄞".as_bytes(); // 1 + 3 + 4 bytes
        assert_eq!(utf8_cut(s), s.len());
        for cut in 5..8 {
            assert_eq!(utf8_cut(&s[..cut]), 4, "cut at {cut}");
        }
        assert_eq!(utf8_cut(&s[..4]), 4);
        assert_eq!(utf8_cut(&s[..2]), 1);
        assert_eq!(utf8_cut(&s[..3]), 1);
        assert_eq!(utf8_cut(b""), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

        #[test]
        fn records_read_back_as_written(
            ncols in 1usize..8,
            seed_rows in prop::collection::vec(prop::collection::vec(cell(), 8), 100..700),
            d in prop::sample::select(vec![b',', b'\t', b'|', b';']),
            crlf in any::<bool>(),
        ) {
            let rows: Vec<Vec<Cell>> = seed_rows
                .into_iter()
                .map(|mut r| {
                    r.truncate(ncols);
                    // The delimiter in use must be quoted too.
                    for c in &mut r {
                        if c.0.as_bytes().contains(&d) {
                            c.1 = true;
                        }
                    }
                    r
                })
                .collect();
            let bytes = render(&rows, d, crlf);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.csv");
            std::fs::write(&path, &bytes).unwrap();
            let fmt = Format {
                path,
                delimiter: d,
                quote: b'"',
                encoding: encoding_rs::UTF_8,
                header: false,
                columns: None,
                rename: Default::default(),
                null_token: Vec::new(),
            };
            let mut rd = RecordReader::open(&fmt, Arc::new(AtomicU64::new(0)), 1 << 16).unwrap();
            let mut offsets = Vec::new();
            for (n, r) in rows.iter().enumerate() {
                prop_assert!(matches!(rd.next().unwrap(), Next::Record), "record {}", n);
                prop_assert_eq!(rd.nfields(), r.len(), "record {}", n);
                for (i, (v, quoted)) in r.iter().enumerate() {
                    let (f, q) = rd.field(i);
                    prop_assert_eq!(f, v.as_bytes(), "record {} field {}", n, i);
                    prop_assert_eq!(q, *quoted, "record {} field {}", n, i);
                }
                offsets.push(rd.rec_offset);
            }
            prop_assert!(matches!(rd.next().unwrap(), Next::End));
            // Re-reading scattered records by offset finds the same ones.
            let mut rd = RecordReader::open(&fmt, Arc::new(AtomicU64::new(0)), 1 << 16)
                .unwrap()
                .lazy_utf8();
            for n in (0..rows.len()).step_by(37) {
                rd.skip_to(offsets[n]).unwrap();
                prop_assert!(matches!(rd.next().unwrap(), Next::Record));
                prop_assert_eq!(rd.field(0).0, rows[n][0].0.as_bytes(), "re-read record {}", n);
            }
        }
    }
}
