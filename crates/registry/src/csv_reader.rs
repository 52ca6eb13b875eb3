//! The one reader of donor CSV records, for every command that reads a donor file
//! (`donors import`, `search --donors`, `bench-search`): the delimiter (given, or sniffed
//! from the header line), the header checked before anything is read, each record with
//! its line number (LF, CRLF and CR-only files alike, blank lines counted), rows of the
//! wrong width or not UTF-8 as one rejected record, and validation by
//! [`RecordValidator`] on all cores.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Cursor, Read};
use std::rc::Rc;

use rayon::prelude::*;

use crate::csv_format::{is_known_column, REQUIRED_COLUMNS};
use crate::io::ImportError;
use crate::validate::{FieldError, Fields, RecordValidator, ValidRecord};

/// A delimiter as `--delimiter` takes it: `,` `;` `tab` or `\t`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        other => Err(format!("{other:?} is not a delimiter (, ; tab)")),
    }
}

fn delimiter_name(d: u8) -> &'static str {
    match d {
        b';' => "\";\"",
        b'\t' => "tabs",
        _ => "\",\"",
    }
}

fn delimiter_arg(d: u8) -> &'static str {
    match d {
        b';' => "';'",
        b'\t' => "tab",
        _ => "','",
    }
}

/// Where each line with content starts (byte offset, line number), as the bytes pass.
type Starts = Rc<RefCell<VecDeque<(u64, u64)>>>;

/// Counts line breaks (`\n`, `\r\n`, `\r`) of what the CSV parser reads, and notes where
/// each line with content starts: the parser's own line numbers are one too low after
/// CRLF and always 1 in a CR-only file.
struct LineCounter<R> {
    inner: R,
    starts: Starts,
    offset: u64,
    line: u64,
    /// The byte before was a line break (or this is the start of the file).
    at_break: bool,
    prev_cr: bool,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut starts = self.starts.borrow_mut();
        for &b in &buf[..n] {
            match b {
                b'\n' if self.prev_cr => {}
                b'\n' | b'\r' => self.line += 1,
                _ if self.at_break => starts.push_back((self.offset, self.line)),
                _ => {}
            }
            self.at_break = b == b'\n' || b == b'\r';
            self.prev_cr = b == b'\r';
            self.offset += 1;
        }
        Ok(n)
    }
}

/// The columns of a donor CSV, by name, checked.
#[derive(Debug, Clone)]
pub struct CsvHeader {
    index: Vec<(String, usize)>,
    width: usize,
    id_col: usize,
}

/// One record as read: its line, its fields (none when not UTF-8), and a problem that
/// rejects it whole (wrong number of fields, not UTF-8).
pub type RawRecord = (u64, Option<csv::StringRecord>, Option<FieldError>);

struct Row<'a> {
    index: &'a [(String, usize)],
    record: &'a csv::StringRecord,
}

impl Fields for Row<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        let i = self.index.iter().find(|(c, _)| c == column)?.1;
        // an exported cell's formula guard taken off again
        self.record
            .get(i)
            .map(|v| crate::csv_format::unquote_cell(v.trim()))
            .filter(|v| !v.is_empty())
    }
}

impl CsvHeader {
    /// The trimmed id of a record as read (empty when it has none).
    pub fn id_of(&self, rec: &RawRecord) -> String {
        rec.1
            .as_ref()
            .and_then(|r| r.get(self.id_col))
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Validate a chunk of records on all cores, in order.
    pub fn validate(
        &self,
        chunk: &[RawRecord],
        validator: &RecordValidator<'_>,
    ) -> Vec<Result<ValidRecord, Vec<FieldError>>> {
        chunk
            .par_iter()
            .map(|(_, rec, problem)| match (rec, problem) {
                (Some(rec), None) => validator.validate(&Row {
                    index: &self.index,
                    record: rec,
                }),
                (_, Some(e)) => Err(vec![e.clone()]),
                (None, None) => Err(vec![FieldError {
                    field: "row".into(),
                    reason: "unreadable".into(),
                }]),
            })
            .collect()
    }
}

/// The longest cell a record may have (a GL String's own limit): a longer one refuses
/// its record, naming the column, before any parser sees it.
pub const MAX_CELL_BYTES: usize = 64 * 1024;

/// A donor CSV being read, record by record.
pub struct CsvRecords<R: Read> {
    records: csv::StringRecordsIntoIter<LineCounter<std::io::Chain<Cursor<Vec<u8>>, R>>>,
    starts: Starts,
    header: CsvHeader,
    file: String,
}

/// The first line of `input` (up to 1 MB), and the reader of what follows.
fn first_line<R: Read>(input: &mut R) -> std::io::Result<Vec<u8>> {
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while first.len() < 1 << 20 {
        if input.read(&mut byte)? == 0 {
            break;
        }
        first.push(byte[0]);
        if byte[0] == b'\n' || byte[0] == b'\r' {
            break;
        }
    }
    Ok(first)
}

impl<R: Read> CsvRecords<R> {
    /// Read and check the header of `input` (`file` names it in messages), separated by
    /// `delimiter`, or when `None` by what the header line shows: a comma, else `;` or a
    /// tab.
    pub fn new(mut input: R, file: &str, delimiter: Option<u8>) -> Result<Self, ImportError> {
        let header_error = |reason: String| ImportError::Header {
            file: file.into(),
            reason,
        };
        let first = first_line(&mut input).map_err(|e| header_error(e.to_string()))?;
        let sniffed = if first.contains(&b',') {
            b','
        } else if first.contains(&b';') {
            b';'
        } else if first.contains(&b'\t') {
            b'\t'
        } else {
            b','
        };
        let delimiter = delimiter.unwrap_or(sniffed);
        let starts: Starts = Rc::default();
        let counter = LineCounter {
            inner: Cursor::new(first).chain(input),
            starts: starts.clone(),
            offset: 0,
            line: 1,
            at_break: true,
            prev_cr: false,
        };
        // rows of the wrong length are rejected one by one (not the whole file): flexible
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(counter);
        let headers = reader
            .headers()
            .map_err(|e| header_error(e.to_string()))?
            .clone();
        let index: Vec<(String, usize)> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_string(), i))
            .collect();
        for (h, _) in &index {
            if !is_known_column(h) {
                let other = [b';', b'\t', b',']
                    .into_iter()
                    .find(|d| *d != delimiter && h.as_bytes().contains(d));
                let hint = match other {
                    Some(d) if index.len() == 1 => format!(
                        ": the file seems to be separated by {} (give --delimiter {})",
                        delimiter_name(d),
                        delimiter_arg(d)
                    ),
                    _ => " (see docs/donor-csv.md)".into(),
                };
                return Err(header_error(format!("unknown column {h:?}{hint}")));
            }
        }
        for c in REQUIRED_COLUMNS {
            if !index.iter().any(|(h, _)| h == c) {
                return Err(header_error(format!("missing column {c:?}")));
            }
        }
        let id_col = index.iter().find(|(h, _)| h == "id").map_or(0, |x| x.1);
        Ok(CsvRecords {
            records: reader.into_records(),
            starts,
            header: CsvHeader {
                width: index.len(),
                index,
                id_col,
            },
            file: file.into(),
        })
    }

    pub fn header(&self) -> &CsvHeader {
        &self.header
    }

    /// The line on which the record starting at byte `at` starts (blank lines before it
    /// skipped, as the parser skips them).
    fn line_at(&self, at: u64) -> u64 {
        let mut starts = self.starts.borrow_mut();
        while starts.front().is_some_and(|(o, _)| *o < at) {
            starts.pop_front();
        }
        starts.front().map_or(0, |(_, l)| *l)
    }

    /// The next records, up to `n` (none at the end of the file). A record that is not
    /// UTF-8 or has the wrong number of fields is returned with its problem; any other
    /// CSV error stops the reading with its line.
    pub fn next_chunk(&mut self, n: usize) -> Result<Vec<RawRecord>, ImportError> {
        let mut chunk = Vec::with_capacity(n.min(8192));
        while chunk.len() < n {
            let Some(r) = self.records.next() else { break };
            let width = self.header.width;
            match r {
                Ok(rec) => {
                    let line = rec.position().map_or(0, |p| self.line_at(p.byte()));
                    let long = rec.iter().position(|c| c.len() > MAX_CELL_BYTES);
                    let problem = if rec.len() != width {
                        Some(FieldError {
                            field: "row".into(),
                            reason: format!("expected {width} fields, found {}", rec.len()),
                        })
                    } else {
                        long.map(|at| FieldError {
                            field: self
                                .header
                                .index
                                .iter()
                                .find(|(_, i)| *i == at)
                                .map_or_else(|| format!("column {}", at + 1), |(h, _)| h.clone()),
                            reason: format!(
                                "{} bytes: a cell holds at most {MAX_CELL_BYTES}",
                                rec.get(at).map_or(0, str::len)
                            ),
                        })
                    };
                    chunk.push((line, Some(rec), problem));
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| self.line_at(p.byte()));
                    if !matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                        return Err(ImportError::Csv {
                            file: self.file.clone(),
                            line,
                            source: e,
                        });
                    }
                    let problem = FieldError {
                        field: "row".into(),
                        reason: "not valid UTF-8 text".into(),
                    };
                    chunk.push((line, None, Some(problem)));
                }
            }
        }
        Ok(chunk)
    }
}
