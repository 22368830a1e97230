//! RFC 1035 master-file loading with `file:line` errors.
//!
//! hickory-proto's `Parser` knows every record type's text form but reports no line
//! numbers and ignores trailing tokens (`www A 192.0.2.1 junk` loads). So this module
//! splits the file into logical records itself (comments, quotes, parentheses,
//! `$ORIGIN`/`$TTL`/`$INCLUDE`, blank owners), checks each record's token count, and
//! hands only the RDATA text of each record to hickory's parser. A and AAAA, the bulk
//! of large zones, are parsed directly.
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

use crate::diag::ConfigError;

/// One record as written in the file, with where it came from.
#[derive(Clone, Debug)]
pub struct SourceRecord {
    pub record: Record,
    /// Shared by every record of one file (a million records, one allocation).
    pub file: Arc<Path>,
    pub line: usize,
}

/// `$INCLUDE` may nest this deep; deeper is an error (and stops include loops).
const MAX_INCLUDE_DEPTH: usize = 16;

/// Reads and parses the master file at `path` for the zone `origin`.
/// All problems are collected; records are returned only when there are none.
pub fn load_master_file(path: &Path, origin: &Name) -> Result<Vec<SourceRecord>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut state = State { origin: origin.clone(), default_ttl: None, last_owner: None };
    load_into(path, &mut state, 0, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(errors)
    }
}

/// Parses master-file `text` (named `file` in errors) for the zone `origin`.
pub fn parse_master_text(text: &str, file: &Path, origin: &Name) -> Result<Vec<SourceRecord>, Vec<ConfigError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut state = State { origin: origin.clone(), default_ttl: None, last_owner: None };
    parse_into(text, file, &mut state, 0, &mut out, &mut errors);
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Err(errors)
    }
}

struct State {
    origin: Name,
    default_ttl: Option<u32>,
    last_owner: Option<Name>,
}

fn load_into(path: &Path, st: &mut State, depth: usize, out: &mut Vec<SourceRecord>, errors: &mut Vec<ConfigError>) {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_into(&text, path, st, depth, out, errors),
        Err(e) => errors.push(ConfigError::new(path, 0, format!("cannot read zone file: {e}"))),
    }
}

/// A token of a logical record: its raw text (quotes kept) and the line it starts on.
#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    text: &'a str,
    quoted: bool,
}

/// A logical record: tokens (parentheses removed), its first line, and whether the
/// line began with white space (blank owner).
struct Logical<'a> {
    line: usize,
    blank_owner: bool,
    toks: Vec<Tok<'a>>,
}

/// Splits `text` into logical records. Errors (unbalanced quotes or parentheses) are
/// reported with their line; the record they break is skipped.
fn logical_records<'a>(text: &'a str, file: &Path, errors: &mut Vec<ConfigError>) -> Vec<Logical<'a>> {
    let b = text.as_bytes();
    let mut recs = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut depth = 0usize; // parentheses
    let mut cur: Option<Logical<'a>> = None;
    let mut at_line_start = true;
    let mut paren_line = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
                if depth == 0 {
                    if let Some(l) = cur.take()
                        && !l.toks.is_empty()
                    {
                        recs.push(l);
                    }
                    at_line_start = true;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                if at_line_start && depth == 0 && cur.is_none() {
                    cur = Some(Logical { line, blank_owner: true, toks: Vec::new() });
                }
                at_line_start = false;
                i += 1;
                continue;
            }
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        at_line_start = false;
        let l = cur.get_or_insert_with(|| Logical { line, blank_owner: false, toks: Vec::new() });
        match c {
            b'(' => {
                if depth == 0 {
                    paren_line = line;
                }
                depth += 1;
                i += 1;
            }
            b')' => {
                if depth == 0 {
                    errors.push(ConfigError::new(file, line, "')' without a matching '('"));
                } else {
                    depth -= 1;
                }
                i += 1;
            }
            b'"' => {
                let start = i;
                let start_line = line;
                i += 1;
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        b'\n' => {
                            line += 1;
                            i += 1;
                        }
                        _ => i += 1,
                    }
                }
                if !closed {
                    errors.push(ConfigError::new(file, start_line, "unterminated quoted string"));
                    return recs;
                }
                let end = i.min(b.len());
                l.toks.push(Tok { text: &text[start..end], quoted: true });
            }
            _ => {
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                        _ => i += 1,
                    }
                }
                let end = i.min(b.len());
                l.toks.push(Tok { text: &text[start..end], quoted: false });
            }
        }
    }
    if depth > 0 {
        errors.push(ConfigError::new(file, paren_line, "'(' is never closed"));
    } else if let Some(l) = cur.take()
        && !l.toks.is_empty()
    {
        recs.push(l);
    }
    recs
}

fn parse_into(
    text: &str,
    file: &Path,
    st: &mut State,
    depth: usize,
    out: &mut Vec<SourceRecord>,
    errors: &mut Vec<ConfigError>,
) {
    let shared_file: Arc<Path> = Arc::from(file);
    for rec in logical_records(text, file, errors) {
        let line = rec.line;
        let err = |errors: &mut Vec<ConfigError>, msg: String| errors.push(ConfigError::new(file, line, msg));
        let first = rec.toks[0];
        if !rec.blank_owner && first.text.starts_with('$') {
            let args = &rec.toks[1..];
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    if args.len() != 1 {
                        err(errors, "$ORIGIN takes exactly one domain name".into());
                        continue;
                    }
                    match Name::parse(args[0].text, Some(&st.origin)) {
                        Ok(mut n) => {
                            n.set_fqdn(true);
                            st.origin = n
                        }
                        Err(e) => err(errors, format!("$ORIGIN {}: {e}", args[0].text)),
                    }
                }
                "$TTL" => {
                    if args.len() != 1 {
                        err(errors, "$TTL takes exactly one TTL".into());
                        continue;
                    }
                    match parse_ttl(args[0].text) {
                        Ok(t) => st.default_ttl = Some(t),
                        Err(_) => err(errors, format!("$TTL: '{}' is not a TTL", args[0].text)),
                    }
                }
                "$INCLUDE" => {
                    if args.is_empty() || args.len() > 2 {
                        err(errors, "$INCLUDE takes a file name and an optional origin".into());
                        continue;
                    }
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        err(errors, format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"));
                        continue;
                    }
                    let inc = Path::new(args[0].text.trim_matches('"'));
                    let inc = if inc.is_absolute() {
                        inc.to_path_buf()
                    } else {
                        file.parent().unwrap_or(Path::new(".")).join(inc)
                    };
                    // RFC 1035 §5.1: the origin and owner in force are restored after the include.
                    let saved_origin = st.origin.clone();
                    let saved_owner = st.last_owner.clone();
                    if let Some(o) = args.get(1) {
                        match Name::parse(o.text, Some(&st.origin)) {
                            Ok(n) => st.origin = n,
                            Err(e) => {
                                err(errors, format!("$INCLUDE origin {}: {e}", o.text));
                                continue;
                            }
                        }
                    }
                    load_into(&inc, st, depth + 1, out, errors);
                    st.origin = saved_origin;
                    st.last_owner = saved_owner;
                }
                other => err(errors, format!("unknown directive {other}")),
            }
            continue;
        }
        match parse_record(&rec, st) {
            Ok(record) => out.push(SourceRecord { record, file: shared_file.clone(), line }),
            Err(msg) => err(errors, msg),
        }
    }
}

/// Parses one logical record: `[owner] [ttl] [class] type rdata...` (TTL and class in either order).
fn parse_record(rec: &Logical<'_>, st: &mut State) -> Result<Record, String> {
    let mut toks = rec.toks.iter().copied().peekable();
    let owner = if rec.blank_owner {
        st.last_owner.clone().ok_or_else(|| "record has no owner name and no previous owner to inherit".to_string())?
    } else {
        let t = toks.next().ok_or("empty record")?;
        let name = if t.text == "@" {
            st.origin.clone()
        } else {
            Name::parse(t.text, Some(&st.origin)).map_err(|e| format!("bad owner name '{}': {e}", t.text))?
        };
        let mut name = name;
        name.set_fqdn(true);
        st.last_owner = Some(name.clone());
        name
    };
    let mut ttl = None;
    let mut class = None;
    let rtype = loop {
        let t = toks.next().ok_or_else(|| format!("{owner}: record type missing"))?;
        if t.quoted {
            return Err(format!("{owner}: expected a TTL, class or type, found {}", t.text));
        }
        if ttl.is_none() && t.text.as_bytes()[0].is_ascii_digit() {
            ttl = Some(parse_ttl(t.text).map_err(|_| format!("{owner}: '{}' is not a TTL", t.text))?);
            continue;
        }
        let up = t.text.to_ascii_uppercase();
        if class.is_none()
            && let Ok(c) = DNSClass::from_str(&up)
            && (up == "IN" || up == "CH" || up == "HS" || up == "NONE" || up == "ANY")
        {
            class = Some(c);
            continue;
        }
        break RecordType::from_str(&up).map_err(|_| format!("{owner}: unknown record type '{}'", t.text))?;
    };
    if let Some(c) = class
        && c != DNSClass::IN
    {
        return Err(format!("{owner}: only class IN is served, found {c}"));
    }
    let ttl = match ttl.or(st.default_ttl) {
        Some(t) => t,
        // RFC 2308 §4: without $TTL, the SOA MINIMUM was the default; we ask for an explicit one.
        None => return Err(format!("{owner} {rtype}: no TTL given and no $TTL in force")),
    };
    let rdata_toks: Vec<Tok<'_>> = toks.collect();
    if rdata_toks.is_empty() {
        return Err(format!("{owner} {rtype}: record data missing"));
    }
    let rdata = parse_rdata(rtype, &rdata_toks, &st.origin).map_err(|m| format!("{owner} {rtype}: {m}"))?;
    Ok(Record::from_rdata(owner, ttl, rdata))
}

/// The exact number of RDATA tokens of the fixed-shape types; `None` = variable.
fn expected_tokens(t: RecordType) -> Option<usize> {
    Some(match t {
        RecordType::A | RecordType::AAAA | RecordType::NS | RecordType::CNAME | RecordType::PTR => 1,
        RecordType::MX | RecordType::HINFO => 2,
        RecordType::CAA | RecordType::SSHFP => 3,
        RecordType::SRV => 4,
        RecordType::NAPTR => 6,
        RecordType::SOA => 7,
        _ => return None,
    })
}

fn parse_rdata(rtype: RecordType, toks: &[Tok<'_>], origin: &Name) -> Result<RData, String> {
    if let Some(n) = expected_tokens(rtype) {
        if toks.len() > n {
            let extra: Vec<&str> = toks[n..].iter().map(|t| t.text).collect();
            return Err(format!("trailing data after the record: '{}'", extra.join(" ")));
        }
        if toks.len() < n {
            return Err(format!("expected {n} fields of record data, found {}", toks.len()));
        }
    }
    match rtype {
        RecordType::A => Ipv4Addr::from_str(toks[0].text)
            .map(|a| RData::A(A(a)))
            .map_err(|_| format!("'{}' is not an IPv4 address", toks[0].text)),
        RecordType::AAAA => Ipv6Addr::from_str(toks[0].text)
            .map(|a| RData::AAAA(AAAA(a)))
            .map_err(|_| format!("'{}' is not an IPv6 address", toks[0].text)),
        RecordType::OPT | RecordType::ANY | RecordType::AXFR | RecordType::IXFR => {
            Err("not a record type that can be stored in a zone".into())
        }
        _ => {
            // Hand the RDATA alone to hickory's parser, with the origin in force.
            let mut text = String::with_capacity(64);
            text.push_str("@ 0 IN ");
            text.push_str(&rtype.to_string());
            for t in toks {
                text.push(' ');
                text.push_str(t.text);
            }
            text.push('\n');
            let (_, sets) = Parser::new(text, None, Some(origin.clone())).parse().map_err(|e| e.to_string())?;
            sets.into_values()
                .next()
                .and_then(|rs| rs.records_without_rrsigs().next().map(|r| r.data.clone()))
                .ok_or_else(|| "record data did not parse".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<SourceRecord>, Vec<ConfigError>> {
        parse_master_text(text, Path::new("t.zone"), &Name::from_ascii("example.com.").unwrap())
    }

    #[test]
    fn trailing_tokens_are_rejected_with_the_line() {
        let e = parse("$TTL 60\n@ SOA ns hm 1 2 3 4 5\nwww A 192.0.2.1 junk\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 3);
        assert!(e[0].message.contains("trailing data after the record: 'junk'"), "{}", e[0].message);
    }

    #[test]
    fn multi_line_soa_blank_owner_and_comments() {
        let r = parse(
            "$TTL 1h\n@ IN SOA ns1 host ( 1 ; serial\n 2 3 4\n 5 )\n  IN NS ns1 ; apex\nns1 300 IN A 192.0.2.1\n",
        )
        .unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].record.record_type(), RecordType::NS);
        assert_eq!(r[1].record.name.to_ascii(), "example.com.");
        assert_eq!(r[1].line, 5);
        assert_eq!(r[2].record.ttl, 300);
        assert_eq!(r[0].record.ttl, 3600);
    }

    #[test]
    fn every_error_is_collected() {
        let e = parse("$TTL 60\nwww A 192.0.2.300\nmail AAAAA ::1\nx MX 10\ny TXT \"unterminated\n").unwrap_err();
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5], "{e:?}");
        assert!(e[0].message.contains("not an IPv4 address"));
        assert!(e[1].message.contains("unknown record type 'AAAAA'"));
        assert!(e[2].message.contains("expected 2 fields"));
        assert!(e[3].message.contains("unterminated quoted string"));
    }

    #[test]
    fn txt_with_quotes_and_semicolons() {
        let r = parse("$TTL 60\nt TXT \"a;b\" \"c d\"\n").unwrap();
        let RData::TXT(t) = &r[0].record.data else { panic!("not TXT") };
        let strings: Vec<&[u8]> = t.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(strings, vec![&b"a;b"[..], &b"c d"[..]]);
    }
}
