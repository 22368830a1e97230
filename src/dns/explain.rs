//! `gslbd explain`: what the server would answer to one query from one client, and why.
//! It runs the same lookup and the same steering decision as [`super::respond`], with the
//! decision's trace switched on, and prints both. The admin API serves the same text.
use std::fmt::Write;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;

use super::{SteerCtx, steer_pooled};
use crate::serving::AnswerSource;
use crate::steer::Explain;
use crate::util::rng::Random;
use crate::zone::{Signing, Synthesized, ZoneChoice, lookup};

/// Reads the arguments of an explain request (the CLI's and the admin API's): a name, a
/// record type and a client that is an ECS subnet (`81.2.69.0/24`) or an address.
pub fn parse_args(name: &str, qtype: &str, client: &str) -> Result<(Name, RecordType, IpNet), String> {
    use std::str::FromStr;
    let mut qname = Name::from_ascii(name).map_err(|_| format!("'{name}' is not a domain name"))?;
    qname.set_fqdn(true);
    let qtype =
        RecordType::from_str(&qtype.to_ascii_uppercase()).map_err(|_| format!("'{qtype}' is not a record type"))?;
    let client = match client.parse::<IpNet>() {
        Ok(n) => n.trunc(),
        Err(_) => match client.parse::<std::net::IpAddr>() {
            Ok(a) => IpNet::from(a),
            Err(_) => return Err(format!("client '{client}' is neither an address nor a subnet")),
        },
    };
    Ok((qname, qtype, client))
}

/// The RFC mnemonic of an rcode, as dig prints it (NOERROR, NXDOMAIN, ...).
pub fn rcode_mnemonic(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        9 => "NOTAUTH".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}

/// The RDATA in presentation form; the DNSSEC types hickory reads only as unknown data
/// (RRSIG, NSEC, DNSKEY, DS, CDS, CDNSKEY) spelled out as zone files write them.
fn rdata_text(r: &hickory_proto::rr::Record) -> String {
    use crate::dnssec::{nsec, rrsig, text};
    use crate::zone::master::{name::to_text, type_name};
    let hickory_proto::rr::RData::Unknown { code, rdata } = &r.data else { return r.data.to_string() };
    let b = rdata.anything.as_slice();
    let code = u16::from(*code);
    let spelled = match code {
        46 => rrsig::parse_rrsig(b).ok().map(|v| {
            let t = |x: u32| crate::util::clock::compact_utc(u64::from(x));
            format!(
                "{} {} {} {} {} {} {} {} {}",
                type_name(v.type_covered),
                v.algorithm,
                v.labels,
                v.original_ttl,
                t(v.expiration),
                t(v.inception),
                v.key_tag,
                to_text(v.signer),
                text::base64(v.signature)
            )
        }),
        47 => nsec::parse_nsec(b).ok().and_then(|(next, bm)| {
            let types: Vec<String> = nsec::bitmap_types(bm).ok()?.into_iter().map(type_name).collect();
            Some(format!("{} {}", to_text(next), types.join(" ")))
        }),
        43 | 48 | 59 | 60 => text::rdata_to_text(code, b).ok(),
        _ => None,
    };
    spelled.unwrap_or_else(|| r.data.to_string())
}

/// Whether the answer (to a DO=1 query) is signed, and where its signatures come from.
fn dnssec_line(zone: &crate::zone::Zone, synth: &Synthesized) -> String {
    match (zone.signing, zone.signer.as_deref()) {
        (Signing::None, _) => "unsigned zone: no RRSIG, even with DO=1".into(),
        (Signing::Presigned, _) => "pre-signed zone: the RRSIGs and NSEC/NSEC3 proofs of the zone file (DO=1)".into(),
        (Signing::Online, None) => "signed online, but not signed yet (no keys)".into(),
        (Signing::Online, Some(s)) => {
            let (hits, made) = synth.cache_use();
            let zsk = s.zsk().map_or(0, |k| k.key_tag());
            let cached = match (hits, made) {
                (0, 0) => "zone data signed at load, nothing from the caches".to_string(),
                (h, 0) => format!("{h} signed record(s) from the cache (hit: no signature made)"),
                (0, m) => format!("{m} record(s) signed for this answer (cache miss), now cached"),
                (h, m) => format!("{h} from the cache, {m} signed for this answer (cache miss)"),
            };
            format!("signed online with ZSK {zsk} (DO=1 answers carry RRSIGs): {cached}")
        }
    }
}

/// Explains the answer to `name`/`qtype` for a client in `client` (an ECS subnet, or a
/// resolver address as /32 or /128).
pub fn explain<S: AnswerSource, R: Random + ?Sized>(
    src: &S,
    name: &Name,
    qtype: RecordType,
    client: IpNet,
    rng: &mut R,
) -> String {
    let snap = src.config();
    let mut out = String::new();
    let _ = writeln!(out, "query      {name} {qtype} from {client}");
    let synth = Synthesized::default();
    // As a validating resolver asks (DO=1): the signatures show, and where they came from.
    let mut result = lookup(&snap.zones, name, qtype, true, &synth);
    let mut scope = 0;
    let mut steered = None;
    match (snap.zones.zone_for(name, qtype), result.pooled.take()) {
        (ZoneChoice::None, _) => {
            let _ = writeln!(out, "zone       none: the name is outside every zone (REFUSED)");
        }
        (ZoneChoice::Failed(p), _) => {
            let _ = writeln!(out, "zone       {}: not served, its files have errors (SERVFAIL):", p.origin);
            for e in &p.errors {
                let _ = writeln!(out, "           {e}");
            }
        }
        (ZoneChoice::Zone(_, zone), None) => {
            let _ = writeln!(out, "zone       {}", zone.origin);
            let _ = writeln!(out, "steering   none: answered from the zone file, the same for every client");
        }
        (ZoneChoice::Zone(_, zone), Some(pooled)) => {
            let pool_name = zone.pools.pool(pooled.pool).map(|p| p.name.clone()).unwrap_or_default();
            let _ = writeln!(out, "zone       {}", zone.origin);
            let _ = writeln!(out, "pooled     {} -> pool {pool_name}", pooled.owner);
            let mut trace = Explain::new();
            let ctx = SteerCtx { qtype, dnssec_ok: true, synth: &synth };
            scope = steer_pooled(src, pooled, ctx, client, rng, &mut result, Some(&mut trace), &mut steered);
            let _ = write!(out, "{trace}");
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    if let ZoneChoice::Zone(_, zone) = snap.zones.zone_for(name, qtype) {
        let _ = writeln!(out, "dnssec     {}", dnssec_line(zone, &synth));
    }
    let _ = writeln!(
        out,
        "reply      rcode {} aa {} ecs-scope {}",
        rcode_mnemonic(u16::from(result.rcode)),
        if result.authoritative { 1 } else { 0 },
        scope
    );
    let addrs = steered.as_ref().map_or(&[][..], |s: &crate::serving::Steered| s.answer.addresses());
    let [answer, authority, additional] = result.records(addrs);
    for (section, records) in [("answer", &answer), ("authority", &authority), ("additional", &additional)] {
        for r in records.iter() {
            let _ = writeln!(out, "{section:<10} {} {} IN {} {}", r.name, r.ttl, r.record_type(), rdata_text(r));
        }
    }
    server_lines(snap, &mut out);
    out
}

/// What the server does besides the answer: cookies, DNS over TLS, CHAOS identity.
fn server_lines(snap: &crate::config::Snapshot, out: &mut String) {
    if let (Some(c), Some(s)) = (&snap.cookies, &snap.server.cookies) {
        let _ = writeln!(
            out,
            "cookies    on (RFC 7873/9018): secret {}{}; {}; a UDP query with a valid server cookie is not rate limited",
            s.secret_file.display(),
            if c.file.also_accepted.is_some() { " (and a second accepted secret)" } else { "" },
            if c.policy.require_on_udp {
                "require: UDP queries with a client cookie but no valid server cookie get BADCOOKIE"
            } else {
                "UDP queries without a valid server cookie are answered (and rate limited)"
            }
        );
    }
    if let (Some(t), Some(k)) = (&snap.server.tls, &snap.tls_key) {
        let addrs: Vec<String> = t.listen.iter().map(|a| a.to_string()).collect();
        let quic: Vec<String> = t.quic_listen.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(
            out,
            "dot        DNS over TLS on {}{}: certificate {} ({} in the chain), reloaded with the config",
            addrs.join(", "),
            if quic.is_empty() { String::new() } else { format!(", over QUIC on {}", quic.join(", ")) },
            t.certificate.display(),
            k.cert.len()
        );
    }
    let chaos = &snap.server.chaos;
    if chaos.identity.is_some() || chaos.version.is_some() {
        let show = |v: &Option<String>| v.as_ref().map_or("off (REFUSED)".to_string(), |s| format!("{s:?}"));
        let _ = writeln!(
            out,
            "chaos      CH TXT id.server/hostname.bind {}, version.bind/version.server {}",
            show(&chaos.identity),
            show(&chaos.version)
        );
    }
}
