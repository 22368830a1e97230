//! Reading a pool file one section at a time. The TOML parser holds a whole document at once:
//! its tokens, then its tree (a 60 MB file of 100,000 pools: about 2 GB, gone once the pools
//! are compiled, but the peak is what the machine must have). A pool file is a list of
//! sections (`[names]`, then `[pool.NAME]` with its `[pool.NAME.region.R]` tables, `[probe.NAME]`,
//! `[feedback.NAME]`), so each section is parsed on its own, read into its raw struct, and
//! its tree dropped before the next: the peak is one section's tree.
//!
//! A file laid out otherwise (keys before the first header, `[[arrays]]`, one pool's tables
//! apart, a header this reader does not take apart), or with any error, gives `None`, and the
//! caller reads it whole, as before: its errors are reported exactly as a whole-file read
//! reports them. A line that looks like a header inside a multi-line string or array would
//! cut that string or array open, which the parser then refuses (so such a file is read
//! whole too): a section is never read differently from how the whole file reads it.
//!
//! Spans (and so the lines in later errors) are the file's: each section's are moved by the
//! offset where it starts ([`Shift`]).
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::raw::{RawFeed, RawFile, RawGeo, RawMember, RawPool, RawProbe, RawRegion};
use crate::config::toml_doc;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Names,
    Pool,
    Probe,
    Feedback,
}

/// One section: its headers' kind and name (the second key), and where it is in the file.
struct Section<'a> {
    kind: Kind,
    name: &'a str,
    start: usize,
    end: usize,
}

/// The file read section by section, or `None` (see the module notes). The sections are parsed
/// on every core, each thread a run of consecutive sections, and put together in file order
/// (100,000 pools: the parse was most of the load).
pub(super) fn read(text: &str) -> Option<RawFile> {
    let sections = sections(text)?;
    let mut seen: HashSet<(Kind, &str)> = HashSet::with_capacity(sections.len());
    if !sections.iter().all(|s| seen.insert((s.kind, s.name))) {
        return None; // one pool's tables apart, or defined twice: read whole
    }
    drop(seen);
    let threads =
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(sections.len().div_ceil(SECTIONS_PER_THREAD));
    let failed = AtomicBool::new(false);
    let parse_run = |run: &[Section<'_>]| -> Option<RawFile> {
        let mut part = RawFile::default();
        part.pool.reserve(run.iter().filter(|s| s.kind == Kind::Pool).count());
        for s in run {
            if failed.load(Ordering::Relaxed) || section(text, s, &mut part).is_none() {
                failed.store(true, Ordering::Relaxed);
                return None;
            }
        }
        Some(part)
    };
    let runs: Vec<Option<RawFile>> = if threads <= 1 {
        vec![parse_run(&sections)]
    } else {
        let per = sections.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = sections.chunks(per).map(|run| scope.spawn(|| parse_run(run))).collect();
            handles.into_iter().map(|h| h.join().expect("a section parser does not panic")).collect()
        })
    };
    let mut raw = RawFile::default();
    // Each section is in one run, so `[names]` is in one run only. What a run read is moved,
    // not copied, where it can be (a copy of 100,000 names kept both for a while).
    for part in runs.into_iter().flatten() {
        if raw.names.is_empty() {
            raw.names = part.names;
        }
        if raw.pool.is_empty() {
            raw.pool = part.pool;
        } else {
            raw.pool.extend(part.pool);
        }
        raw.probe.extend(part.probe);
        raw.feedback.extend(part.feedback);
    }
    (!failed.into_inner()).then_some(raw)
}

/// Below this many sections a second thread costs more than it saves.
const SECTIONS_PER_THREAD: usize = 256;

/// Parses one section into `raw` (spans the file's), or `None` if it has an error or is not
/// laid out as its header says.
fn section(text: &str, s: &Section<'_>, raw: &mut RawFile) -> Option<()> {
    let (doc, errors) = DeTable::parse_recoverable(&text[s.start..s.end]);
    if !errors.is_empty() {
        return None;
    }
    let mut top = toml_doc::entries(doc.into_inner());
    let (key, value) = top.pop()?;
    let want = match s.kind {
        Kind::Names => "names",
        Kind::Pool => "pool",
        Kind::Probe => "probe",
        Kind::Feedback => "feedback",
    };
    if !top.is_empty() || key.get_ref() != want {
        return None;
    }
    if s.kind == Kind::Names {
        raw.names = de::<BTreeMap<Spanned<String>, Spanned<String>>>(value)?.shift(s.start);
        return Some(());
    }
    let DeValue::Table(table) = value.into_inner() else { return None };
    let mut named = toml_doc::entries(table);
    let (name, value) = named.pop()?;
    if !named.is_empty() || name.get_ref() != s.name {
        return None;
    }
    let name = name.shift(s.start);
    match s.kind {
        Kind::Pool => raw.pool.push((name, de::<Spanned<RawPool>>(value)?.shift(s.start))),
        Kind::Probe => _ = raw.probe.insert(name, de::<Spanned<RawProbe>>(value)?.shift(s.start)),
        Kind::Feedback => _ = raw.feedback.insert(name, de::<Spanned<RawFeed>>(value)?.shift(s.start)),
        Kind::Names => unreachable!("handled above"),
    }
    Some(())
}

fn de<T: DeserializeOwned>(v: Spanned<DeValue<'_>>) -> Option<T> {
    T::deserialize(v.into_deserializer()).ok()
}

/// The sections of `text`, consecutive headers of one pool, probe or feed together; `None`
/// for a key before the first header or a header [`header`] does not take.
fn sections(text: &str) -> Option<Vec<Section<'_>>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let t = line.trim_start_matches([' ', '\t']);
        if t.starts_with('[') {
            let (kind, name) = header(t)?;
            match out.last_mut() {
                Some(last) if last.kind == kind && last.name == name => {}
                last => {
                    if let Some(last) = last {
                        last.end = start;
                    }
                    out.push(Section { kind, name, start, end: text.len() });
                }
            }
        } else if out.is_empty() && !t.trim_end().is_empty() && !t.starts_with('#') {
            return None;
        }
    }
    Some(out)
}

/// A table header line: `[names]`, or `[pool.NAME…]`, `[probe.NAME…]`, `[feedback.NAME…]`
/// with bare or quoted keys without escapes.
fn header(line: &str) -> Option<(Kind, &str)> {
    let mut rest = line.strip_prefix('[')?;
    if rest.starts_with('[') {
        return None;
    }
    let mut keys: Vec<&str> = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (k, after) = key(rest)?;
        keys.push(k);
        rest = after.trim_start_matches([' ', '\t']);
        match rest.as_bytes().first()? {
            b'.' => rest = &rest[1..],
            b']' => {
                rest = &rest[1..];
                break;
            }
            _ => return None,
        }
    }
    let tail = rest.trim_start_matches([' ', '\t']);
    if !(tail.trim_end_matches(['\r', '\n']).is_empty() || tail.starts_with('#')) {
        return None;
    }
    match (keys[0], keys.len()) {
        ("names", 1) => Some((Kind::Names, "")),
        ("pool", 2..) => Some((Kind::Pool, keys[1])),
        ("probe", 2..) => Some((Kind::Probe, keys[1])),
        ("feedback", 2..) => Some((Kind::Feedback, keys[1])),
        _ => None,
    }
}

/// One key at the start of `s` and what follows it.
fn key(s: &str) -> Option<(&str, &str)> {
    match s.as_bytes().first()? {
        q @ (b'"' | b'\'') => {
            let end = s[1..].find(*q as char)? + 1;
            let k = &s[1..end];
            (!k.contains(['\\', '\n'])).then_some((k, &s[end + 1..]))
        }
        _ => {
            let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(s.len());
            (end > 0).then(|| (&s[..end], &s[end..]))
        }
    }
}

/// Moves every span in a value by an offset (a section's spans are from its own start).
/// Structs are taken apart field by field without `..`: a field added to a raw struct and
/// not moved here does not compile.
trait Shift: Sized {
    fn shift(self, by: usize) -> Self;
}

macro_rules! leaves {
    ($($t:ty),*) => { $(impl Shift for $t { fn shift(self, _: usize) -> Self { self } })* };
}
leaves!(i64, bool, f64, String, toml::Value);

impl<T: Shift> Shift for Spanned<T> {
    fn shift(self, by: usize) -> Self {
        let s = self.span();
        Spanned::new(s.start + by..s.end + by, self.into_inner().shift(by))
    }
}

impl<T: Shift> Shift for Option<T> {
    fn shift(self, by: usize) -> Self {
        self.map(|v| v.shift(by))
    }
}

impl<T: Shift> Shift for Vec<T> {
    fn shift(self, by: usize) -> Self {
        self.into_iter().map(|v| v.shift(by)).collect()
    }
}

impl<A: Shift, B: Shift> Shift for (A, B) {
    fn shift(self, by: usize) -> Self {
        (self.0.shift(by), self.1.shift(by))
    }
}

impl<K: Shift + Ord, V: Shift> Shift for BTreeMap<K, V> {
    fn shift(self, by: usize) -> Self {
        self.into_iter().map(|(k, v)| (k.shift(by), v.shift(by))).collect()
    }
}

macro_rules! fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Shift for $t {
            fn shift(self, by: usize) -> Self {
                let $t { $($f),* } = self;
                $t { $($f: $f.shift(by)),* }
            }
        }
    };
}
fields!(RawPool {
    ttl,
    max_answers,
    region_policy,
    member_policy,
    failover_order,
    default_region,
    when_empty,
    min_usable_fraction,
    degraded_ttl,
    health_assume,
    latency_min_samples,
    latency_hysteresis,
    latency_client_samples,
    regions_per_answer,
    extra_random,
    transfer,
    region,
});
fields!(RawRegion {
    location,
    bias,
    weight,
    geo,
    members,
    cname,
    probe,
    delegate,
    feedback,
    capacity,
    high_watermark,
    low_watermark,
});
fields!(RawGeo { countries, continents, networks, asns });
fields!(RawMember { address, weight, down, probe });
fields!(RawProbe {
    kind,
    port,
    path,
    expect_status,
    body_contains,
    host,
    sni,
    user_agent,
    insecure,
    ca_file,
    interval_ms,
    jitter_ms,
    timeout_ms,
    rise,
    fall,
    decide,
    min_voters,
});
fields!(RawFeed {
    kind,
    url,
    frontend,
    backend,
    metric,
    backends_metric,
    path,
    backends_path,
    interval_ms,
    timeout_ms,
    stale_after_ms,
});

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every key of every section, with comments, quoted names and blank lines between.
    const FULL: &str = r#"# a pool file
[names]
www = "web"
"api" = 'web'

[probe.web-check]
kind = "https"
port = 8443
path = "/health"
expect_status = [200, 204]
body_contains = "ok"
host = "www.example.com"
sni = "www.example.com"
user_agent = "gslbd-test"
insecure = true
ca_file = "ca.pem"
interval_ms = 2000
jitter_ms = 100
timeout_ms = 500
rise = 2
fall = 3
decide = "quorum"
min_voters = 2

[feedback.lb]
kind = "haproxy"
url = "http://127.0.0.1:8404/stats;csv"
frontend = "fe"
backend = "be"
metric = "m"
backends_metric = "b"
path = "a.b"
backends_path = "c.d"
interval_ms = 1000
timeout_ms = 500
stale_after_ms = 3000

[pool.web]   # the main pool
ttl = 30
max_answers = 2
region_policy = "nearest"
member_policy = "weighted"
failover_order = ["eu", "us"]
default_region = "eu"
when_empty = { fallback = "other" }
min_usable_fraction = 0.5
degraded_ttl = 10
health_assume = "down"
latency_min_samples = 3
latency_hysteresis = 0.2
latency_client_samples = true
regions_per_answer = 1
extra_random = 1
transfer = { static = ["192.0.2.1"] }

[pool.web.region.eu]
location = [53.35, -6.26]
bias = 10
weight = 2
geo = { countries = ["IE"], continents = ["EU"], networks = ["10.0.0.0/8"], asns = [64500, "AS64501"] }
members = [
  { address = "192.0.2.1", weight = 3, down = true, probe = "web-check" },
  { address = "2001:db8::1" },
]
probe = "web-check"
feedback = "lb"
capacity = 100
high_watermark = 0.8
low_watermark = 0.6

[ pool . "web" . region . "us" ]
cname = { name = "lb.example.net.", down = true }
delegate = "www.us"

[pool.other.region.x]
members = [{ address = "198.51.100.1" }]
"#;

    fn same(text: &str) {
        let whole = raw::read_whole(Path::new("p.toml"), text).expect("the file reads");
        let parts = read(text).expect("read section by section");
        assert_eq!(format!("{parts:?}"), format!("{whole:?}"));
    }

    use super::super::raw;

    #[test]
    fn sections_read_as_the_whole_file_does() {
        same(FULL);
        assert_eq!(sections(FULL).unwrap().len(), 5);
    }

    #[test]
    fn many_sections_read_on_several_threads_as_the_whole_file_does() {
        let mut text = String::from("[names]\n");
        for i in 0..3 * SECTIONS_PER_THREAD {
            text.push_str(&format!("p{i} = \"pool{i}\"\n"));
        }
        for i in 0..3 * SECTIONS_PER_THREAD {
            text.push_str(&format!("[pool.pool{i}]\nttl = {}\n[pool.pool{i}.region.r]\n", i % 60 + 1));
            text.push_str(&format!("members = [{{ address = \"192.0.2.{}\" }}]\n", i % 250 + 1));
        }
        same(&text);
        // An error in any run, or a pool defined twice far apart, and the file is read whole.
        assert!(read(&format!("{text}[pool.last]\nttl = \n")).is_none());
        assert!(read(&format!("{text}[pool.pool3]\nttl = 1\n")).is_none());
    }

    #[test]
    fn other_layouts_are_read_whole() {
        // One pool's tables apart, keys before the first header, an array of tables, dotted
        // keys at the top, a header line inside a multi-line string.
        for text in [
            "[pool.a]\nttl = 30\n[pool.b.region.x]\n[pool.a.region.y]\n",
            "names.www = \"a\"\n[pool.a.region.x]\n",
            "[[pool]]\nttl = 1\n",
            "[pool]\na.ttl = 1\n",
            "[pool.a]\nwhen_empty = \"\"\"\n[pool.b]\n\"\"\"\n",
            "[pool.a]\nttl = 1\n[pool.\"a\"]\nmax_answers = 1\n",
        ] {
            assert!(read(text).is_none(), "{text}");
        }
        // The whole-file read takes those that are valid TOML.
        assert!(
            raw::read_whole(Path::new("p.toml"), "[pool.a]\nttl = 30\n[pool.b.region.x]\n[pool.a.region.y]\n").is_ok()
        );
    }

    #[test]
    fn spans_are_the_files() {
        let parts = read(FULL).unwrap();
        let (name, pool) = parts.pool.iter().find(|(k, _)| k.get_ref() == "web").unwrap();
        assert_eq!(&FULL[name.span()], "web");
        let ttl = pool.get_ref().ttl.as_ref().unwrap();
        assert_eq!(crate::diag::line_of(FULL, ttl.span().start), 39);
    }
}
