//! Pure parsers for the four feed formats: bytes in, a [`Sample`] or a short error out.
//! Total on any input (no panics, no indexing without a check), so a misbehaving load
//! balancer can only make its own feed fail.
//!
//! - HAProxy stats CSV (`/stats;csv`): the first line is the header `# pxname,svname,...`;
//!   columns are picked by header name (`scur`, `act`), so versions that add columns work.
//!   Load = `scur` (current sessions) of the row (`pxname` = frontend, `svname` = FRONTEND);
//!   backends up = `act` (active servers up) of the row (backend, BACKEND).
//! - nginx `stub_status`: load = the number after `Active connections:`.
//! - Prometheus text exposition (0.0.4): load = the sum of the samples whose name is the
//!   selector's and whose labels include each of the selector's labels with the same value.
//! - JSON: load = the number at a dot path (`load.sessions`, array indices as numbers).
use crate::pool::{FeedKind, MetricSel};

/// One good reading of a feed.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Sample {
    /// Finite and ≥ 0.
    pub load: f64,
    /// Backends (servers) up, when the feed reports them.
    pub backends_up: Option<u32>,
}

/// Parses a Prometheus metric selector as written in a pool file: a metric name, optionally
/// followed by `{label="value", ...}`.
pub fn selector(text: &str) -> Result<MetricSel, String> {
    let text = text.trim();
    let (name, labels) = split_series(text)
        .ok_or_else(|| format!("\"{text}\" is not a metric name with optional {{label=\"value\"}} labels"))?;
    if !valid_metric_name(name) {
        return Err(format!("\"{name}\" is not a Prometheus metric name"));
    }
    let labels = match labels {
        None => Vec::new(),
        Some(l) => parse_labels(l).ok_or_else(|| format!("the labels of \"{text}\" are not label=\"value\" pairs"))?,
    };
    Ok(MetricSel { name: name.to_string(), labels })
}

/// Whether a sample (name and labels) is one the selector picks: same name, and each of the
/// selector's labels present with the same value.
fn matches(sel: &MetricSel, name: &str, labels: &[(String, String)]) -> bool {
    name == sel.name && sel.labels.iter().all(|want| labels.iter().any(|have| have == want))
}

/// Reads one body of a feed of `kind`.
pub fn sample(kind: &FeedKind, body: &[u8]) -> Result<Sample, String> {
    let text = || std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string());
    let s = match kind {
        FeedKind::Haproxy { frontend, backend } => haproxy(text()?, frontend, backend.as_deref())?,
        FeedKind::Nginx => nginx(text()?)?,
        FeedKind::Prometheus { metric, backends } => {
            let t = text()?;
            let load = prometheus(t, metric)?;
            let backends_up = match backends {
                Some(b) => Some(count(prometheus(t, b)?, "backends_metric")?),
                None => None,
            };
            Sample { load, backends_up }
        }
        FeedKind::Json { path, backends_path } => {
            let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
            let load = json_number(&v, path)?;
            let backends_up = match backends_path {
                Some(p) => Some(count(json_number(&v, p)?, "backends_path")?),
                None => None,
            };
            Sample { load, backends_up }
        }
    };
    if !s.load.is_finite() || s.load < 0.0 {
        return Err(format!("load {} is not a finite number ≥ 0", s.load));
    }
    Ok(s)
}

/// A backends count from a number: finite, ≥ 0, at most u32::MAX (rounded down).
fn count(v: f64, what: &str) -> Result<u32, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v.min(f64::from(u32::MAX)) as u32)
    } else {
        Err(format!("{what}: {v} is not a count"))
    }
}

/// HAProxy stats CSV.
pub fn haproxy(text: &str, frontend: &str, backend: Option<&str>) -> Result<Sample, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty body")?;
    let header = header
        .strip_prefix("# ")
        .or_else(|| header.strip_prefix('#'))
        .ok_or("no `# pxname,svname,...` header line (is the URL the ;csv stats page?)")?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col =
        |name: &str| cols.iter().position(|c| *c == name).ok_or_else(|| format!("no `{name}` column in the header"));
    let (px, sv, scur, act) = (col("pxname")?, col("svname")?, col("scur")?, col("act")?);
    let mut load = None;
    let mut backends = None;
    for line in lines {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let (Some(p), Some(s)) = (f.get(px), f.get(sv)) else {
            continue;
        };
        if *s == "FRONTEND" && *p == frontend {
            let v = f.get(scur).copied().unwrap_or("");
            load = Some(
                v.trim().parse::<f64>().map_err(|_| format!("frontend {frontend}: scur \"{v}\" is not a number"))?,
            );
        } else if *s == "BACKEND" && Some(*p) == backend {
            let v = f.get(act).copied().unwrap_or("");
            backends = Some(v.trim().parse::<u32>().map_err(|_| format!("backend {p}: act \"{v}\" is not a count"))?);
        }
    }
    let load = load.ok_or_else(|| format!("no FRONTEND row for frontend \"{frontend}\""))?;
    if let (Some(b), None) = (backend, backends) {
        return Err(format!("no BACKEND row for backend \"{b}\""));
    }
    Ok(Sample { load, backends_up: backends })
}

/// nginx stub_status.
pub fn nginx(text: &str) -> Result<Sample, String> {
    for line in text.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("Active connections:") {
            let v = rest.trim();
            let load = v.parse::<u64>().map_err(|_| format!("\"Active connections: {v}\" is not a count"))?;
            return Ok(Sample { load: load as f64, backends_up: None });
        }
    }
    Err("no \"Active connections:\" line (is the URL nginx's stub_status?)".into())
}

/// The sum of the samples matching `sel` in a Prometheus text exposition; an error when none does.
pub fn prometheus(text: &str, sel: &MetricSel) -> Result<f64, String> {
    let mut sum = 0.0;
    let mut found = 0usize;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, rest)) = split_sample_line(line) else {
            continue;
        };
        let Some((name, labels)) = split_series(series) else {
            continue;
        };
        if name != sel.name {
            continue;
        }
        let labels = match labels {
            None => Vec::new(),
            Some(l) => match parse_labels(l) {
                Some(l) => l,
                None => continue,
            },
        };
        if !matches(sel, name, &labels) {
            continue;
        }
        let value = rest.split_whitespace().next().unwrap_or("");
        let v = parse_prom_float(value).ok_or_else(|| format!("{series}: value \"{value}\" is not a number"))?;
        sum += v;
        found += 1;
    }
    if found == 0 {
        return Err(format!("no sample matches {sel}"));
    }
    Ok(sum)
}

/// Splits `series value [timestamp]` at the end of the series (after `}` when labelled).
fn split_sample_line(line: &str) -> Option<(&str, &str)> {
    match (line.find('{'), line.find(char::is_whitespace)) {
        (Some(b), ws) if ws.is_none_or(|w| b < w) => {
            let close = closing_brace(line, b)?;
            Some((line.get(..=close)?, line.get(close + 1..)?))
        }
        (_, Some(w)) => Some((line.get(..w)?, line.get(w..)?)),
        _ => None,
    }
}

/// The index of the `}` that closes the label set opened at `open`, skipping quoted values.
fn closing_brace(s: &str, open: usize) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '}' if !in_quote => return Some(i),
            _ => {}
        }
    }
    None
}

/// `name` or `name{...}` → (name, the text between the braces).
fn split_series(s: &str) -> Option<(&str, Option<&str>)> {
    match s.find('{') {
        None => Some((s.trim(), None)),
        Some(b) => {
            let close = closing_brace(s, b)?;
            if !s.get(close + 1..)?.trim().is_empty() {
                return None;
            }
            Some((s.get(..b)?.trim(), Some(s.get(b + 1..close)?)))
        }
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `a="x",b="y\"z",` → pairs (escapes \\ \" \n undone); `None` when malformed.
fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    // Each pass consumes at least one character (a name and a quoted value), so this ends.
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest.get(..eq)?.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let after = rest.get(eq + 1..)?.trim_start();
        let body = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in body.char_indices() {
            if escaped {
                value.push(match c {
                    'n' => '\n',
                    other => other,
                });
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i);
                break;
            } else {
                value.push(c);
            }
        }
        let end = end?;
        out.push((name.to_string(), value));
        rest = body.get(end + 1..)?.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

fn parse_prom_float(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

/// The number at a dot path; a segment of digits indexes an array.
pub fn json_number(v: &serde_json::Value, path: &str) -> Result<f64, String> {
    let mut cur = v;
    for seg in path.split('.') {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(seg),
            serde_json::Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("no value at \"{path}\" (missing \"{seg}\")"))?;
    }
    cur.as_f64().ok_or_else(|| format!("the value at \"{path}\" is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HAProxy 2.6 `show stat` / `/stats;csv` output (the first 52 columns, which every
    /// version since 1.5 prints in this order; later columns are left out here because the
    /// parser selects by name). Frontend `web` has 85 current sessions of a 2000 limit;
    /// backend `web_servers` has 2 of its 3 servers up.
    pub(crate) const HAPROXY_26: &str = "\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,
stats,FRONTEND,,,1,2,262124,5,1229,21394,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,1,0,2,,,,0,4,0,0,0,0,,1,2,5,,,0,
stats,BACKEND,0,0,0,0,26213,0,1229,21394,0,0,,0,0,0,0,UP,0,0,0,,0,3597,,,1,2,0,,0,,1,0,,0,,,,0,0,0,0,0,0,,,,0,0,0,0,
web,FRONTEND,,,85,120,2000,10450,5120333,88200431,0,0,3,,,,,OPEN,,,,,,,,,1,3,0,,,,0,12,0,40,,,,0,10200,10,230,7,0,,12,40,10447,,,0,
web_servers,s1,0,0,45,61,,5230,2560100,44100200,,0,,0,0,0,0,UP,1,1,0,0,0,3597,0,,1,4,1,,5230,,2,6,,20,L4OK,,0,0,5100,5,115,3,0,,,,5223,2,0,,
web_servers,s2,0,0,40,59,,5220,2560233,44100231,,0,,0,0,0,0,UP,1,1,0,0,0,3597,0,,1,4,2,,5220,,2,6,,20,L4OK,,0,0,5100,5,115,4,0,,,,5224,1,0,,
web_servers,s3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,120,120,,1,4,3,,0,,2,0,,0,L4CON,,0,0,0,0,0,0,0,,,,0,0,0,,
web_servers,BACKEND,0,0,85,120,200,10450,5120333,88200431,0,0,,0,0,0,0,UP,2,2,0,,0,3597,0,,1,4,0,,10450,,1,12,,40,,,,0,10200,10,230,7,0,,,,10447,3,0,0,
";

    /// nginx's ngx_http_stub_status_module output, byte for byte (note the trailing spaces).
    pub(crate) const NGINX: &str = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";

    /// The HAProxy 2.6 built-in Prometheus exporter's format (an excerpt).
    pub(crate) const PROMETHEUS: &str = r#"# HELP haproxy_frontend_current_sessions Number of current sessions on the frontend, backend or server
# TYPE haproxy_frontend_current_sessions gauge
haproxy_frontend_current_sessions{proxy="stats"} 1
haproxy_frontend_current_sessions{proxy="web"} 85
haproxy_frontend_current_sessions{proxy="api"} 12
# HELP haproxy_backend_active_servers Number of active UP servers.
# TYPE haproxy_backend_active_servers gauge
haproxy_backend_active_servers{proxy="web_servers"} 2
haproxy_backend_active_servers{proxy="api_servers"} 0
# HELP nginx_connections_active Active client connections
# TYPE nginx_connections_active gauge
nginx_connections_active{instance="a",job="lb"} 30 1700000000000
nginx_connections_active{instance="b",job="lb"} 12.5
nginx_connections_active{instance="c",job="other"} 1000
"#;

    #[test]
    fn haproxy_frontend_sessions_and_backends_up() {
        let s = haproxy(HAPROXY_26, "web", Some("web_servers")).unwrap();
        assert_eq!(s, Sample { load: 85.0, backends_up: Some(2) });
        assert_eq!(haproxy(HAPROXY_26, "web", None).unwrap(), Sample { load: 85.0, backends_up: None });
        assert_eq!(haproxy(HAPROXY_26, "stats", Some("stats")).unwrap(), Sample { load: 1.0, backends_up: Some(0) });
        assert!(haproxy(HAPROXY_26, "nope", None).unwrap_err().contains("no FRONTEND row for frontend \"nope\""));
        assert!(haproxy(HAPROXY_26, "web", Some("nope")).unwrap_err().contains("no BACKEND row"));
        // Columns are found by name, wherever they are.
        let moved = "# svname,pxname,act,scur\nFRONTEND,web,,7\nBACKEND,b,0,3\n";
        assert_eq!(haproxy(moved, "web", Some("b")).unwrap(), Sample { load: 7.0, backends_up: Some(0) });
        assert!(haproxy("<html>stats</html>", "web", None).unwrap_err().contains("header"));
        assert!(haproxy("# pxname,svname,scur\n", "web", None).unwrap_err().contains("no `act` column"));
    }

    #[test]
    fn nginx_active_connections() {
        assert_eq!(nginx(NGINX).unwrap(), Sample { load: 291.0, backends_up: None });
        assert!(nginx("Active connections: lots\n").is_err());
        assert!(nginx("").is_err());
    }

    #[test]
    fn prometheus_sums_matching_samples() {
        let sel = |s: &str| selector(s).unwrap();
        assert_eq!(prometheus(PROMETHEUS, &sel(r#"haproxy_frontend_current_sessions{proxy="web"}"#)).unwrap(), 85.0);
        assert_eq!(prometheus(PROMETHEUS, &sel("haproxy_frontend_current_sessions")).unwrap(), 98.0);
        assert_eq!(prometheus(PROMETHEUS, &sel(r#"nginx_connections_active{job="lb"}"#)).unwrap(), 42.5);
        assert_eq!(
            prometheus(PROMETHEUS, &sel(r#"haproxy_backend_active_servers{proxy="api_servers"}"#)).unwrap(),
            0.0
        );
        assert!(prometheus(PROMETHEUS, &sel(r#"haproxy_frontend_current_sessions{proxy="x"}"#)).is_err());
        let kind = FeedKind::Prometheus {
            metric: sel(r#"haproxy_frontend_current_sessions{proxy="web"}"#),
            backends: Some(sel(r#"haproxy_backend_active_servers{proxy="web_servers"}"#)),
        };
        assert_eq!(sample(&kind, PROMETHEUS.as_bytes()).unwrap(), Sample { load: 85.0, backends_up: Some(2) });
        // Escaped quotes and braces inside label values.
        let text = "m{a=\"x\\\"}y\",b=\"2\"} 3\nm{a=\"z\"} 4\n";
        assert_eq!(prometheus(text, &sel(r#"m{a="x\"}y"}"#)).unwrap(), 3.0);
    }

    #[test]
    fn metric_selectors() {
        assert_eq!(selector("up").unwrap(), MetricSel { name: "up".into(), labels: vec![] });
        let s = selector(r#"a_b:c{x="1", y="two"}"#).unwrap();
        assert_eq!(s.labels, vec![("x".to_string(), "1".to_string()), ("y".to_string(), "two".to_string())]);
        assert_eq!(s.to_string(), r#"a_b:c{x="1",y="two"}"#);
        for bad in ["", "1abc", "a{b}", "a{b=c}", "a{b=\"c\"", "a b", "a{\"x\"=\"y\"}"] {
            assert!(selector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_paths() {
        let kind = FeedKind::Json { path: "load.sessions".into(), backends_path: Some("pools.0.up".into()) };
        let body = br#"{"load":{"sessions":42.5},"pools":[{"up":3}]}"#;
        assert_eq!(sample(&kind, body).unwrap(), Sample { load: 42.5, backends_up: Some(3) });
        assert!(sample(&kind, br#"{"load":{"sessions":"42"}}"#).unwrap_err().contains("not a number"));
        assert!(sample(&kind, br#"{"load":{}}"#).unwrap_err().contains("missing \"sessions\""));
        assert!(sample(&kind, b"not json").is_err());
        let neg = FeedKind::Json { path: "x".into(), backends_path: None };
        assert!(sample(&neg, br#"{"x":-1}"#).is_err(), "a negative load is an error");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
            /// Every parser answers (a sample or an error) for arbitrary bytes, and a sample's
            /// load is finite and ≥ 0.
            #[test]
            fn parsers_are_total(body in proptest::collection::vec(any::<u8>(), 0..600), pick in 0usize..4) {
                let kinds = [
                    FeedKind::Haproxy { frontend: "web".into(), backend: Some("b".into()) },
                    FeedKind::Nginx,
                    FeedKind::Prometheus { metric: selector(r#"m{a="1"}"#).unwrap(), backends: Some(selector("b").unwrap()) },
                    FeedKind::Json { path: "a.0.b".into(), backends_path: Some("c".into()) },
                ];
                if let Ok(s) = sample(&kinds[pick], &body) {
                    prop_assert!(s.load.is_finite() && s.load >= 0.0);
                }
            }

            /// Text that looks like each format (made of its own punctuation) never panics either.
            #[test]
            fn format_shaped_text_is_total(s in "[#a-z_{}=\",.\\\\ 0-9:\n-]{0,300}") {
                let _ = haproxy(&s, "a", Some("b"));
                let _ = nginx(&s);
                let _ = selector(&s);
                if let Ok(sel) = selector("a") {
                    let _ = prometheus(&s, &sel);
                }
            }
        }
    }
}
