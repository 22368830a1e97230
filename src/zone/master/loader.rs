//! The file driver: reads files, follows `$INCLUDE`, applies `$ORIGIN`, `$TTL` and
//! `$GENERATE`, and turns each logical record into an [`Entry`]. Every error is recorded
//! with its file and line and loading goes on with the next record.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::zone::master::lexer::{Lexer, Logical, Token, split_words};
use crate::zone::master::rdata::{self, Ctx, FieldError, types};
use crate::zone::master::{Diagnostic, Entry, Options, generate, name, text};

/// The TTL of a record that gives none when no `$TTL` is in force: what Knot 3.2 and
/// NSD 4.6 use (RFC 1035 §5.1 says the last explicit TTL; BIND uses the SOA MINIMUM).
pub const DEFAULT_TTL: u32 = 3600;

pub(crate) struct Loader<'o> {
    opts: &'o Options,
    origin: Vec<u8>,
    /// The owner a blank-owner record takes. `Err(())` after an owner that did not parse.
    last_owner: Result<Option<Vec<u8>>, ()>,
    default_ttl: Option<u32>,
    warned_default_ttl: bool,
    /// Files being read, outermost first (for `$INCLUDE` cycles and depth).
    stack: Vec<PathBuf>,
    pub entries: Vec<Entry>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl<'o> Loader<'o> {
    pub fn new(origin: Vec<u8>, opts: &'o Options) -> Loader<'o> {
        Loader {
            opts,
            origin,
            last_owner: Ok(None),
            default_ttl: None,
            warned_default_ttl: false,
            stack: Vec::new(),
            entries: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn error(&mut self, file: &Arc<Path>, line: usize, record_line: usize, message: String) {
        self.errors.push(Diagnostic { file: file.to_path_buf(), line, record_line, message });
    }

    /// Reads and loads `path`; `at` is where the include was asked for (file, line), if any.
    pub fn load_file(&mut self, path: &Path, at: Option<(&Arc<Path>, usize)>) {
        match read_bounded(path, self.opts.max_file_bytes) {
            Ok(bytes) => self.load_text(&bytes, path),
            Err(e) => match at {
                Some((file, line)) => self.error(file, line, line, format!("cannot read {}: {e}", path.display())),
                None => self.errors.push(Diagnostic {
                    file: path.to_path_buf(),
                    line: 0,
                    record_line: 0,
                    message: format!("cannot read the zone file: {e}"),
                }),
            },
        }
    }

    /// Loads master-file text that came from `path` (includes are relative to its directory).
    pub fn load_text(&mut self, bytes: &[u8], path: &Path) {
        let file: Arc<Path> = Arc::from(path);
        self.stack.push(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        let mut lexer = Lexer::new(bytes);
        let mut lex_errors = Vec::new();
        while let Some(rec) = lexer.next_record(&mut lex_errors) {
            for (line, msg) in lex_errors.drain(..) {
                self.error(&file, line, line, msg);
            }
            let first = &rec.tokens[0];
            if !rec.blank_owner && !first.quoted && first.text.first() == Some(&b'$') {
                self.directive(&rec, &file);
            } else {
                self.record(&rec, &file);
            }
        }
        for (line, msg) in lex_errors {
            self.error(&file, line, line, msg);
        }
        self.stack.pop();
    }

    fn directive(&mut self, rec: &Logical, file: &Arc<Path>) {
        let name = rec.tokens[0].show().to_ascii_uppercase();
        let args = &rec.tokens[1..];
        let line = rec.line;
        let wrong = |l: &mut Self, msg: &str| l.error(file, line, line, msg.to_string());
        match name.as_str() {
            "$ORIGIN" => {
                if args.len() != 1 {
                    return wrong(self, "$ORIGIN takes one domain name");
                }
                match name::parse(&args[0].text, &self.origin) {
                    Ok(o) => self.origin = o,
                    Err(m) => self.error(file, args[0].line, line, format!("$ORIGIN: {m}")),
                }
            }
            "$TTL" => {
                if args.len() != 1 {
                    return wrong(self, "$TTL takes one TTL");
                }
                match text::ttl(&args[0].text) {
                    Ok(t) => self.default_ttl = Some(t),
                    Err(m) => self.error(file, args[0].line, line, format!("$TTL: {m}")),
                }
            }
            "$INCLUDE" => self.include(args, line, file),
            "$GENERATE" => self.generate(rec, file),
            _ => wrong(self, &format!("unknown directive {name} (known: $ORIGIN, $TTL, $INCLUDE, $GENERATE)")),
        }
    }

    /// `$INCLUDE file [origin]` (RFC 1035 §5.1): the origin and the current owner come back
    /// afterwards; a `$TTL` set inside stays in force (NSD and BIND; Knot restores it).
    fn include(&mut self, args: &[Token], line: usize, file: &Arc<Path>) {
        if args.is_empty() || args.len() > 2 {
            return self.error(file, line, line, "$INCLUDE takes a file name and an optional origin".into());
        }
        if !self.opts.includes {
            return self.error(file, line, line, "$INCLUDE is switched off".into());
        }
        let raw = match text::unescape(&args[0].text) {
            Ok(r) => r,
            Err(m) => return self.error(file, line, line, format!("$INCLUDE: {m}")),
        };
        let rel = PathBuf::from(String::from_utf8_lossy(&raw).into_owned());
        let path = if rel.is_absolute() { rel } else { file.parent().unwrap_or(Path::new(".")).join(rel) };
        if self.stack.len() > self.opts.max_include_depth {
            let msg = format!("$INCLUDE nested more than {} deep", self.opts.max_include_depth);
            return self.error(file, line, line, msg);
        }
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.stack.contains(&canon) {
            let chain: Vec<String> = self.stack.iter().map(|p| p.display().to_string()).collect();
            let msg = format!("$INCLUDE of {} loops: {} -> {}", path.display(), chain.join(" -> "), canon.display());
            return self.error(file, line, line, msg);
        }
        let saved_origin = self.origin.clone();
        let saved_owner = self.last_owner.clone();
        if let Some(o) = args.get(1) {
            match name::parse(&o.text, &self.origin) {
                Ok(n) => self.origin = n,
                Err(m) => return self.error(file, o.line, line, format!("$INCLUDE origin: {m}")),
            }
        }
        self.load_file(&path, Some((file, line)));
        self.origin = saved_origin;
        self.last_owner = saved_owner;
    }

    /// Reads `[ttl] [class]` in either order and the type, from `toks`; returns them and
    /// the number of tokens used.
    fn ttl_class_type(&self, toks: &[Token], end_line: usize) -> Result<(Option<u32>, u16, usize), FieldError> {
        let mut ttl = None;
        let mut class = false;
        for (i, t) in toks.iter().enumerate() {
            let err = |msg: String| FieldError { line: t.line, msg };
            if t.quoted {
                return Err(err(format!("expected a TTL, class or type, found \"{}\"", t.show())));
            }
            let s = text::ascii(&t.text).map_err(err)?;
            let up = s.to_ascii_uppercase();
            if !class && (up == "IN" || up == "CLASS1") {
                class = true;
                continue;
            }
            if !class && (["CH", "CS", "HS", "NONE", "ANY"].contains(&up.as_str()) || class_number(&up).is_some()) {
                return Err(err(format!("class {s}: only class IN (1) is served")));
            }
            if ttl.is_none() && up.as_bytes()[0].is_ascii_digit() {
                ttl = Some(text::ttl(&t.text).map_err(err)?);
                continue;
            }
            let code = types::type_code(&up).ok_or_else(|| err(format!("'{s}' is not a record type")))?;
            if !types::storable(code) {
                return Err(err(format!("{s} records cannot be in a zone")));
            }
            return Ok((ttl, code, i + 1));
        }
        Err(FieldError { line: end_line, msg: "record type missing".into() })
    }

    fn record(&mut self, rec: &Logical, file: &Arc<Path>) {
        let end_line = rec.last_line();
        let (owner, rest) = if rec.blank_owner {
            match &self.last_owner {
                Ok(Some(o)) => (o.clone(), &rec.tokens[..]),
                Ok(None) => {
                    return self.error(file, rec.line, rec.line, "record has no owner and no previous owner".into());
                }
                Err(()) => return self.error(file, rec.line, rec.line, "the previous owner name is invalid".into()),
            }
        } else {
            let t = &rec.tokens[0];
            match name::parse(&t.text, &self.origin) {
                Ok(o) => {
                    self.last_owner = Ok(Some(o.clone()));
                    (o, &rec.tokens[1..])
                }
                Err(m) => {
                    self.last_owner = Err(());
                    return self.error(file, t.line, rec.line, format!("owner: {m}"));
                }
            }
        };
        // The owner as text, for a message only (made for every record, it was a twentieth of
        // loading a million records).
        let shown = || name::to_text(&owner);
        let (ttl, rtype, used) = match self.ttl_class_type(rest, end_line) {
            Ok(v) => v,
            Err(e) => return self.error(file, e.line, rec.line, format!("{}: {}", shown(), e.msg)),
        };
        let ctx = Ctx { origin: &self.origin };
        match rdata::parse(rtype, &rest[used..], end_line, &ctx) {
            Ok(rdata) => {
                let ttl = self.ttl_or_default(ttl, file, rec.line);
                self.push(owner, rtype, ttl, rdata, file, rec.line);
            }
            Err(e) => {
                let msg = format!("{} {}: {}", shown(), types::type_name(rtype), e.msg);
                self.error(file, e.line, rec.line, msg)
            }
        }
    }

    fn ttl_or_default(&mut self, ttl: Option<u32>, file: &Arc<Path>, line: usize) -> u32 {
        if let Some(t) = ttl.or(self.default_ttl) {
            return t;
        }
        if !self.warned_default_ttl {
            self.warned_default_ttl = true;
            self.warnings.push(Diagnostic {
                file: file.to_path_buf(),
                line,
                record_line: line,
                message: format!("no TTL and no $TTL: using {DEFAULT_TTL}, as Knot and NSD do"),
            });
        }
        DEFAULT_TTL
    }

    fn push(&mut self, owner: Vec<u8>, rtype: u16, ttl: u32, rdata: Vec<u8>, file: &Arc<Path>, line: usize) {
        self.entries.push(Entry {
            owner: owner.into_boxed_slice(),
            rtype,
            class: 1,
            ttl,
            rdata: rdata.into_boxed_slice(),
            file: file.clone(),
            line,
        });
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs`: see [`generate`].
    fn generate(&mut self, rec: &Logical, file: &Arc<Path>) {
        let line = rec.line;
        let toks = &rec.tokens[1..];
        if toks.len() < 4 {
            return self.error(file, line, line, "$GENERATE takes a range, an owner, a type and the RDATA".into());
        }
        let range = match text::ascii(&toks[0].text).and_then(|s| generate::range(&s)) {
            Ok(r) => r,
            Err(m) => return self.error(file, toks[0].line, line, m),
        };
        if range.count() > self.opts.max_generate as u64 {
            let msg = format!("$GENERATE makes {} records: the limit is {}", range.count(), self.opts.max_generate);
            return self.error(file, toks[0].line, line, msg);
        }
        let (ttl, rtype, used) = match self.ttl_class_type(&toks[2..], rec.last_line()) {
            Ok(v) => v,
            Err(e) => return self.error(file, e.line, line, format!("$GENERATE: {}", e.msg)),
        };
        let rhs = &toks[2 + used..];
        match rhs.len() {
            0 => return self.error(file, line, line, "$GENERATE: RDATA missing".into()),
            1 => {}
            _ => {
                let msg = "$GENERATE: the RDATA must be one token; quote it when it has several fields".into();
                return self.error(file, rhs[1].line, line, msg);
            }
        }
        let (lhs, rhs) = (&toks[1], &rhs[0]);
        for i in range.values() {
            let owner = generate::substitute(&lhs.text, i).and_then(|o| name::parse(&o, &self.origin));
            let owner = match owner {
                Ok(o) => o,
                Err(m) => return self.error(file, lhs.line, line, format!("$GENERATE owner for {i}: {m}")),
            };
            let words = generate::substitute(&rhs.text, i).and_then(|t| split_words(&t, rhs.line));
            let words = match words {
                Ok(w) => w,
                Err(m) => return self.error(file, rhs.line, line, format!("$GENERATE RDATA for {i}: {m}")),
            };
            let ctx = Ctx { origin: &self.origin };
            match rdata::parse(rtype, &words, rhs.line, &ctx) {
                Ok(rdata) => {
                    let ttl = self.ttl_or_default(ttl, file, line);
                    self.push(owner, rtype, ttl, rdata, file, line);
                }
                Err(e) => {
                    let msg = format!("$GENERATE {} for {i}: {}", types::type_name(rtype), e.msg);
                    return self.error(file, e.line, line, msg);
                }
            }
        }
    }
}

/// Reads a whole file, refusing one over `limit` bytes (a device or pipe has no useful
/// length, so the read itself is bounded).
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!("the file is larger than {limit} bytes")));
    }
    Ok(bytes)
}

/// `CLASSnnn` as a number.
fn class_number(up: &str) -> Option<u16> {
    up.strip_prefix("CLASS").filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}
