//! An exact loader for RFC 1035 master files ("zone files"), our own: every construct of
//! RFC 1035 §5 (`$ORIGIN`, `$TTL`, `$INCLUDE` with origin), BIND's `$GENERATE`, RFC 3597
//! generic types and classes, and the presentation format of every type Knot 3.2 or NSD 4.6
//! reads (the issue-13 corpus, tests/fixtures/zone-corpus, checks each against both servers).
//! Chosen over NLnetLabs' `domain` 0.12.3, measured on the same corpus: it loaded 13 of the 24
//! files that must load (two with different data), stopped at the first error and named the
//! wrong line for 10 of 37; hickory's text parser has no line numbers and no DNAME, RFC 3597
//! or DNSSEC types.
//!
//! ```text
//! file bytes ─ lexer ─▶ logical records ─┬─ $ORIGIN / $TTL / $INCLUDE / $GENERATE ─┐
//!                                        └─ owner, TTL, class, type ─ rdata ───────┴▶ Entry
//! entries ─ check ─▶ zone-level errors and warnings;  rrsets(entries) ─▶ what to serve
//! ```
//!
//! What the file says is what goes on the wire: every record becomes an [`Entry`] holding
//! the owner and the RDATA in uncompressed wire form, letter case as written, octet for
//! octet what Knot and NSD build from the same text (the corpus test checks this against a
//! live Knot and NSD). Nothing is re-normalised: a type the loader does not know is kept
//! as the RFC 3597 octets given.
//!
//! Every problem is reported with its file and 1-based line, all of them at once; a file
//! with any error gives no entries.
//!
//! Invariants of a successful load:
//! - every owner is at or below the origin, and the apex holds one SOA and some NS;
//! - every RDATA of a type with names has a valid layout ([`wire::embedded_names`] is Ok);
//! - no CNAME shares a name with other data but RRSIG/NSEC, and nothing is below a DNAME.
mod check;
mod generate;
mod lexer;
mod loader;
pub mod name;
mod rdata;
mod text;
pub mod wire;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use check::{Grouping, RRset, RRsets, rrsets};
pub use loader::DEFAULT_TTL;
pub use rdata::types::{type_code, type_name};

/// One record as written in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Owner name, uncompressed wire form, case as written.
    pub owner: Box<[u8]>,
    pub rtype: u16,
    /// Always 1 (IN): other classes are refused.
    pub class: u16,
    pub ttl: u32,
    /// RDATA, uncompressed wire form, exactly as it goes out (names in RFC 1035 types may
    /// be compressed by the encoder, [`wire::compressible`]).
    pub rdata: Box<[u8]>,
    /// The file the record is in (shared by all its records).
    pub file: Arc<Path>,
    /// The 1-based line the record starts on (for `$GENERATE`, the directive's line).
    pub line: usize,
}

/// An error or warning with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line of the token at fault; 0 when the problem is the whole file or zone.
    pub line: usize,
    /// The line the record at fault begins on (equal to `line` for one-line records).
    pub record_line: usize,
    pub message: String,
}

/// Errors are diagnostics that refuse the zone.
pub type Error = Diagnostic;

impl Diagnostic {
    fn whole(file: &Path, message: String) -> Diagnostic {
        Diagnostic { file: file.to_path_buf(), line: 0, record_line: 0, message }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": {}", self.message)?;
        if self.record_line != self.line && self.record_line > 0 {
            write!(f, " (in the record that begins on line {})", self.record_line)?;
        }
        Ok(())
    }
}

/// Limits and switches.
#[derive(Clone, Debug)]
pub struct Options {
    /// `$INCLUDE` may nest this deep (loops are refused whatever the depth).
    pub max_include_depth: usize,
    /// One `$GENERATE` may make at most this many records.
    pub max_generate: usize,
    /// Run the zone-level checks (SOA, NS, CNAME, DNAME, out-of-zone).
    pub zone_checks: bool,
    /// Follow `$INCLUDE` (off for fuzzing: an included path can be any file).
    pub includes: bool,
    /// A file (top or included) larger than this is refused, so that `$INCLUDE /dev/zero`
    /// ends.
    pub max_file_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_include_depth: 16,
            max_generate: 65536,
            zone_checks: true,
            includes: true,
            max_file_bytes: 1 << 30,
        }
    }
}

/// A successful load: the records in file order (duplicates kept: [`rrsets`] removes them)
/// and the warnings.
#[derive(Debug)]
pub struct Loaded {
    pub entries: Vec<Entry>,
    pub warnings: Vec<Diagnostic>,
    /// The entries grouped into RRsets by the zone checks (none without them).
    grouping: Option<Grouping>,
}

impl Loaded {
    /// The grouping of [`Loaded::entries`] that the zone checks made, once (`None` without
    /// the checks, or the second time); for the entries as loaded, not changed since.
    pub fn take_grouping(&mut self) -> Option<Grouping> {
        self.grouping.take()
    }
}

/// Loads the zone `origin` (presentation form, e.g. `example.com.`) from the master file
/// at `path`, with the default [`Options`].
pub fn load(path: &Path, origin: &str) -> Result<Vec<Entry>, Vec<Error>> {
    load_with(path, origin, &Options::default()).map(|l| l.entries)
}

/// Loads with explicit options, returning warnings too.
pub fn load_with(path: &Path, origin: &str, opts: &Options) -> Result<Loaded, Vec<Error>> {
    let origin = parse_origin(origin).map_err(|m| vec![Diagnostic::whole(path, m)])?;
    run(path, origin, opts, |l| l.load_file(path, None))
}

/// [`load_with`] for an origin given in wire form (a name the server already holds: no
/// round trip through presentation form, which would have to escape it).
pub fn load_wire(path: &Path, origin: Vec<u8>, opts: &Options) -> Result<Loaded, Vec<Error>> {
    run(path, origin, opts, |l| l.load_file(path, None))
}

/// Parses master-file `text` as if it were the file `path` (`$INCLUDE` is relative to it).
pub fn parse_bytes(text: &[u8], path: &Path, origin: &str, opts: &Options) -> Result<Loaded, Vec<Error>> {
    let origin = parse_origin(origin).map_err(|m| vec![Diagnostic::whole(path, m)])?;
    run(path, origin, opts, |l| l.load_text(text, path))
}

fn run(
    path: &Path,
    origin: Vec<u8>,
    opts: &Options,
    go: impl FnOnce(&mut loader::Loader<'_>),
) -> Result<Loaded, Vec<Error>> {
    let mut l = loader::Loader::new(origin.clone(), opts);
    go(&mut l);
    let mut errors = std::mem::take(&mut l.errors);
    let mut warnings = std::mem::take(&mut l.warnings);
    let grouping = opts
        .zone_checks
        .then(|| check::check(&origin, &l.entries, errors.is_empty(), path, &mut errors, &mut warnings));
    if errors.is_empty() {
        Ok(Loaded { entries: l.entries, warnings, grouping })
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(errors)
    }
}

/// The wire form of an absolute domain name in presentation form.
pub fn parse_origin(origin: &str) -> Result<Vec<u8>, String> {
    if !origin.ends_with('.') || origin.ends_with("\\.") && !origin.ends_with("\\\\.") {
        return Err(format!("the zone name '{origin}' must be absolute (end in '.')"));
    }
    name::parse(origin.as_bytes(), name::ROOT).map_err(|m| format!("zone name: {m}"))
}
