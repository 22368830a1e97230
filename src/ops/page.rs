//! The status page for people, at `GET /` of the admin listener: every zone (one whose files
//! have errors with each error's file:line, and whether it is not served or its previous version
//! serves), pool, region and member on one screen, with effective health (after overrides), the
//! probe state and its last change, load and shedding, the serving config's generation and
//! digest, the last reload, and the most recent health transitions.
//!
//! ```text
//! GET /?refresh=N ─► status::collect ─► HTML written here (no template engine, no build step,
//!                                        no external asset: the CSS and the script are inline)
//! the script: every N s (default 5) fetch the same URL, swap <main>; drain/undrain buttons
//!             POST the API with the token typed into the page (the API's own token rules)
//! ```
//! Every value from the config or the network is HTML-escaped. The page works without the
//! script (reload it by hand); the script only refreshes it and sends the actions.
use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::http::AdminState;
use super::reload::ErrorReport;
use super::status::{MemberJson, RegionJson, StatusJson, collect};

/// `?refresh=N`: seconds between refreshes (1..=300, default 5).
#[derive(Deserialize)]
pub struct PageParams {
    refresh: Option<u32>,
}

pub async fn page(State(st): State<AdminState>, Query(p): Query<PageParams>) -> Response {
    let refresh = p.refresh.unwrap_or(5).clamp(1, 300);
    let status = collect(&st);
    let html = render(&status, refresh);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        html,
    )
        .into_response()
}

/// Nothing from elsewhere: inline style and script only, requests to this origin only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// Escapes text for HTML element content and double-quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "12 s", "4 min", "3 h", "2 d".
fn ago(secs: f64) -> String {
    let s = secs.max(0.0);
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.0} h", s / 3600.0)
    } else {
        format!("{:.0} d", s / 86_400.0)
    }
}

/// The CSS class of a member state badge.
fn badge(state: &str) -> &'static str {
    match state {
        "up" | "forced-up" => "ok",
        "drained" => "drain",
        "unknown" => "unknown",
        _ => "bad",
    }
}

fn render(st: &StatusJson, refresh: u32) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gslbd status</title>
<style>{STYLE}</style></head>
<body data-refresh="{refresh}" data-refreshes="0">
<header><h1>gslbd</h1><span class="muted">{version} (commit {commit})</span>
<span id="updated" class="muted"></span>
<label class="token">admin token <input id="token" type="password" autocomplete="off" placeholder="for drain / undrain"></label></header>
"#,
        version = esc(st.build.version),
        commit = esc(st.build.commit),
    );
    h.push_str(&main(st));
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// The part the script swaps on every refresh.
fn main(st: &StatusJson) -> String {
    let mut h = String::with_capacity(12 * 1024);
    h.push_str("<main id=\"main\">\n<section class=\"summary\">");
    let v = &st.version;
    let digest = v.digest.strip_prefix("sha256:").unwrap_or(&v.digest);
    let _ = write!(
        h,
        r#"<div><b>config</b> generation <span id="generation">{}</span>, loaded {} <span class="muted" title="{}">sha256 {}</span></div>"#,
        v.generation,
        esc(&v.loaded_at),
        esc(&v.digest),
        esc(digest.get(..16).unwrap_or(digest)),
    );
    let r = &st.last_reload;
    if r.ok {
        let what = if r.changed_files.is_empty() { String::new() } else { format!(": {}", r.changed_files.join(", ")) };
        let _ = write!(
            h,
            r#"<div><b>last reload</b> <span class="badge ok">ok</span> {} ({}){}</div>"#,
            esc(&r.at),
            r.trigger.as_str(),
            esc(&what)
        );
    } else {
        let (badge, what) = if r.published {
            ("zone errors", "the zones without errors were swapped in; each zone below says what it serves")
        } else {
            ("failed", "the previous config keeps serving")
        };
        let _ = write!(
            h,
            r#"<div><b>last reload</b> <span class="badge bad">{badge}</span> {} ({}): {what}"#,
            esc(&r.at),
            r.trigger.as_str()
        );
        errors_list(&mut h, &r.errors);
        h.push_str("</div>");
    }
    for n in &st.restart_needed {
        let _ = write!(h, r#"<div><span class="badge bad">restart needed</span> {}</div>"#, esc(n));
    }
    let _ = write!(h, r#"<div><b>health</b> {}</div>"#, esc(&st.health_source));
    h.push_str("</section>\n");

    for z in &st.zones {
        let _ = write!(
            h,
            r#"<section class="zone" data-zone="{}" data-state="{}"><h2>zone {}"#,
            esc(&z.origin),
            z.state,
            esc(&z.origin)
        );
        if let Some(signing) = z.signing {
            let _ = write!(h, r#" <span class="muted">{} record(s), signing {signing}</span>"#, z.records);
        }
        h.push_str("</h2>");
        match z.state {
            "failed" => h.push_str(
                r#"<p><span class="badge bad">not served</span> its files have errors: answered with SERVFAIL until they are fixed</p>"#,
            ),
            "stale" => h.push_str(
                r#"<p><span class="badge bad">stale</span> the last reload found errors: the previous version keeps serving</p>"#,
            ),
            _ => {}
        }
        errors_list(&mut h, &z.errors);
        if !z.warnings.is_empty() {
            let _ = write!(h, r#"<details class="warnings"><summary>{} warning(s)</summary>"#, z.warnings.len());
            errors_list(&mut h, &z.warnings);
            h.push_str("</details>");
        }
        if z.state == "failed" {
            h.push_str("</section>\n");
            continue;
        }
        if z.pools.is_empty() {
            h.push_str("<p class=\"muted\">no pooled names: answered from the zone file</p>");
        }
        for p in &z.pools {
            let names: Vec<String> = z.pooled_names.iter().filter(|n| n.pool == p.name).map(|n| esc(&n.name)).collect();
            let ttl = match p.degraded_ttl {
                Some(d) => format!("ttl {} (degraded {d})", p.ttl),
                None => format!("ttl {}", p.ttl),
            };
            let _ = write!(
                h,
                r#"<div class="pool"><h3>pool {} <span class="muted">{} · region {} · member {} · {}</span></h3>"#,
                esc(&p.name),
                names.join(", "),
                p.region_policy,
                p.member_policy,
                ttl
            );
            h.push_str("<div class=\"scroll\"><table><thead><tr><th>region</th><th>member</th><th>state</th><th>probe</th><th>last change</th><th>answers</th><th></th></tr></thead><tbody>");
            for region in &p.regions {
                region_rows(&mut h, &z.origin, &p.name, region);
            }
            h.push_str("</tbody></table></div></div>\n");
        }
        h.push_str("</section>\n");
    }

    h.push_str("<section><h2>admin overrides</h2>");
    if st.overrides.is_empty() {
        h.push_str("<p class=\"muted\">none</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>target</th><th>override</th><th>since</th><th>by</th><th>reason</th></tr></thead><tbody>");
        for o in &st.overrides {
            let t = &o.target;
            let target = format!(
                "{}/{}/{}{}",
                t.zone,
                t.pool,
                t.region,
                t.member.as_ref().map(|m| format!("/{m}")).unwrap_or_default()
            );
            let orphan = if o.orphaned { r#" <span class="badge bad">orphaned: not in the config</span>"# } else { "" };
            let _ = write!(
                h,
                "<tr class=\"override\"><td>{}{orphan}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&target),
                o.value,
                esc(&o.at),
                esc(&o.by),
                esc(o.reason.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>\n<section><h2>recent health transitions</h2>");
    if st.transitions.is_empty() {
        h.push_str("<p class=\"muted\">none since start</p>");
    } else {
        h.push_str("<div class=\"scroll\"><table><thead><tr><th>when</th><th>target</th><th>probe</th><th>change</th><th>reason</th></tr></thead><tbody>");
        for t in st.transitions.iter().take(20) {
            let _ = write!(
                h,
                "<tr class=\"transition\"><td>{}</td><td>{}</td><td>{}</td><td>{} → <span class=\"badge {}\">{}</span> ({} in a row)</td><td>{}</td></tr>",
                esc(&t.at),
                esc(&t.target),
                esc(&t.probe),
                t.from,
                badge(t.to),
                t.to,
                t.streak,
                esc(&t.reason)
            );
        }
        h.push_str("</tbody></table></div>");
    }
    h.push_str("</section>\n</main>\n");
    h
}

/// `file:line message` items (nothing when there are none).
fn errors_list(h: &mut String, errors: &[ErrorReport]) {
    if errors.is_empty() {
        return;
    }
    h.push_str("<ul class=\"errors\">");
    for e in errors {
        let _ = write!(h, "<li><code>{}:{}</code> {}</li>", esc(&e.file), e.line, esc(&e.message));
    }
    h.push_str("</ul>");
}

fn region_rows(h: &mut String, zone: &str, pool: &str, r: &RegionJson) {
    let usable =
        if r.usable { r#"<span class="badge ok">usable</span>"# } else { r#"<span class="badge bad">unusable</span>"# };
    let load = r.feedback.as_ref().map(|f| {
        let cap = f.capacity.map(|c| format!("/{c}")).unwrap_or_default();
        let shed = if f.shed > 0.0 { format!(", shedding {:.0}%", f.shed * 100.0) } else { String::new() };
        format!("load {}{cap} ({}){shed}", f.load, f.state)
    });
    let n = r.members.len().max(1);
    for (i, m) in r.members.iter().enumerate() {
        h.push_str("<tr class=\"member\"");
        let _ = write!(
            h,
            r#" data-zone="{}" data-pool="{}" data-region="{}" data-member="{}" data-state="{}">"#,
            esc(zone),
            esc(pool),
            esc(&r.name),
            esc(&m.member),
            m.state
        );
        if i == 0 {
            let _ = write!(
                h,
                r#"<td rowspan="{n}" class="region"><b>{}</b><br>{usable}{}</td>"#,
                esc(&r.name),
                load.as_ref().map(|l| format!("<br><span class=\"muted\">{}</span>", esc(l))).unwrap_or_default()
            );
        }
        member_cells(h, m);
        h.push_str("</tr>");
    }
}

fn member_cells(h: &mut String, m: &MemberJson) {
    let weight = m.weight.map(|w| format!(" <span class=\"muted\">w{w}</span>")).unwrap_or_default();
    let probe = match (&m.probe, m.probe_state, &m.last_result) {
        (Some(name), Some(state), last) => format!(
            "{} <span class=\"badge {}\">{}</span> <span class=\"muted\">{}</span>",
            esc(name),
            badge(state),
            state,
            esc(last.as_deref().unwrap_or(""))
        ),
        _ => "<span class=\"muted\">not probed</span>".into(),
    };
    let changed = m.changed_s.map(|s| format!("{} ago", ago(s))).unwrap_or_else(|| "-".into());
    let action = if m.state == "drained" { "undrain" } else { "drain" };
    let _ = write!(
        h,
        r#"<td><code>{}</code>{weight}</td><td><span class="badge {}">{}</span></td><td>{probe}</td><td>{changed}</td><td>{}</td><td><button type="button" data-action="{action}">{action}</button></td>"#,
        esc(&m.member),
        badge(m.state),
        m.state,
        m.answers
    );
}

const STYLE: &str = r#"
:root{--fg:#1b1f24;--muted:#5b6570;--line:#d8dde3;--bg:#fff;--ok:#1a7f37;--bad:#cf222e;--drain:#9a6700;--unk:#6e7781}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:baseline;padding:.6rem 1rem;border-bottom:1px solid var(--line);position:sticky;top:0;background:var(--bg)}
h1{font-size:1.2rem;margin:0}h2{font-size:1.05rem;margin:1rem 0 .4rem}h3{font-size:.95rem;margin:.8rem 0 .3rem}
main{padding:0 1rem 2rem;max-width:1800px}.muted{color:var(--muted);font-weight:normal}
.token{margin-left:auto;font-size:.85rem}.token input{width:12rem;max-width:45vw}
.summary{display:grid;gap:.2rem;margin-top:.6rem}.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;min-width:640px}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;color:var(--muted);font-weight:600}td.region{background:#f6f8fa;min-width:9rem}code{font-size:.9em}
.badge{display:inline-block;white-space:nowrap;padding:0 .45em;border-radius:1em;font-size:.8rem;color:#fff;background:var(--unk)}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.drain{background:var(--drain)}
button{font:inherit;font-size:.8rem;padding:.1rem .6rem}ul.errors{margin:.2rem 0}
@media (max-width:700px){body{font-size:13px}main{padding:0 .5rem 1rem}header{padding:.5rem}}
"#;

const SCRIPT: &str = r#"
(function(){
  var body=document.body, every=(+body.dataset.refresh||5)*1000, tok=document.getElementById('token');
  try{tok.value=sessionStorage.getItem('gslbd-token')||'';}catch(e){}
  tok.addEventListener('change',function(){try{sessionStorage.setItem('gslbd-token',tok.value);}catch(e){}});
  function stamp(){document.getElementById('updated').textContent='updated '+new Date().toLocaleTimeString();}
  function refresh(){
    fetch(location.href,{cache:'no-store'}).then(function(r){return r.text();}).then(function(t){
      var doc=new DOMParser().parseFromString(t,'text/html'), m=doc.getElementById('main');
      if(m){document.getElementById('main').replaceWith(m);body.dataset.refreshes=(+body.dataset.refreshes+1);stamp();}
    }).catch(function(){document.getElementById('updated').textContent='cannot reach gslbd';});
  }
  document.addEventListener('click',function(ev){
    var b=ev.target.closest('button[data-action]'); if(!b)return;
    var row=b.closest('tr.member'), d=row.dataset;
    var path='/members/'+[d.zone,d.pool,d.region,d.member,b.dataset.action].map(encodeURIComponent).join('/')+'?by=status-page';
    fetch(path,{method:'POST',headers:{'Authorization':'Bearer '+tok.value}}).then(function(r){
      return r.json().then(function(j){ if(!r.ok){alert(j.error||('HTTP '+r.status));} refresh(); });
    });
  });
  stamp(); setInterval(refresh,every);
})();
"#;
