//! The reply normaliser: a reply's bytes reduced to what two servers must agree on
//! ([`Normal`]: rcode, flags, sorted sections, the OPT record apart), printable as dig does,
//! and field-by-field [`diff`]s between two of them.
use std::fmt;

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::opt::EdnsOption;

/// The OPT record of a reply, compared on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptNorm {
    pub version: u8,
    pub payload: u16,
    /// Upper 8 bits of the 12-bit rcode.
    pub ext_rcode: u8,
    /// The whole flags field (DO = 0x8000).
    pub flags: u16,
    /// (code, data as hex or debug text), in wire order.
    pub options: Vec<(u16, String)>,
}

/// A reply reduced to what must match between two servers: header rcode and flags,
/// the question (case kept, for 0x20), each section as a sorted multiset of
/// `owner(lowercase) TTL CLASS TYPE RDATA`, and the OPT record apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normal {
    pub opcode: u8,
    /// The 4-bit header rcode.
    pub rcode: u8,
    /// Set flags among qr aa tc rd ra ad cd, in that order.
    pub flags: Vec<&'static str>,
    pub question: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    /// Without the OPT record.
    pub additional: Vec<String>,
    pub opt: Option<OptNorm>,
    /// Set when hickory could not decode the sections (header fields are still valid).
    pub decode_error: Option<String>,
}

impl Normal {
    /// The full 12-bit rcode (header + EDNS extended bits).
    pub fn full_rcode(&self) -> u16 {
        u16::from(self.opt.as_ref().map_or(0, |o| o.ext_rcode)) << 4 | u16::from(self.rcode)
    }

    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.contains(&f)
    }

    /// Name of the full rcode as dig prints it.
    pub fn rcode_name(&self) -> String {
        gslbd::dns::explain::rcode_mnemonic(self.full_rcode())
    }
}

pub fn normalise(bytes: &[u8]) -> Normal {
    assert!(bytes.len() >= 12, "reply shorter than a DNS header");
    let (b2, b3) = (bytes[2], bytes[3]);
    let mut flags = Vec::new();
    for (bit, name) in [
        (b2 & 0x80 != 0, "qr"),
        (b2 & 0x04 != 0, "aa"),
        (b2 & 0x02 != 0, "tc"),
        (b2 & 0x01 != 0, "rd"),
        (b3 & 0x80 != 0, "ra"),
        (b3 & 0x20 != 0, "ad"),
        (b3 & 0x10 != 0, "cd"),
    ] {
        if bit {
            flags.push(name);
        }
    }
    let mut n = Normal {
        opcode: (b2 >> 3) & 0x0f,
        rcode: b3 & 0x0f,
        flags,
        question: Vec::new(),
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        opt: None,
        decode_error: None,
    };
    let m = match Message::from_vec(bytes) {
        Ok(m) => m,
        Err(e) => {
            n.decode_error = Some(e.to_string());
            return n;
        }
    };
    n.question = m.queries.iter().map(|q| format!("{} {} {}", q.name(), q.query_class(), q.query_type())).collect();
    let fmt_rr = |r: &hickory_proto::rr::Record| {
        let rdata = match &r.data {
            // Quote each character-string: hickory's Display runs them together.
            RData::TXT(t) => {
                t.txt_data.iter().map(|s| format!("{:?}", String::from_utf8_lossy(s))).collect::<Vec<_>>().join(" ")
            }
            // RDATA made only of names and numbers: names compare case-insensitively
            // (RFC 4343), and Knot compresses them against a 0x20 qname.
            d @ (RData::SOA(_) | RData::NS(_) | RData::CNAME(_) | RData::MX(_) | RData::SRV(_) | RData::PTR(_)) => {
                d.to_string().to_lowercase()
            }
            d => d.to_string(),
        };
        format!("{} {} {} {} {}", r.name.to_lowercase(), r.ttl, r.dns_class, r.record_type(), rdata)
    };
    let section = |rs: &[hickory_proto::rr::Record]| {
        let mut v: Vec<String> = rs.iter().map(fmt_rr).collect();
        v.sort();
        v
    };
    n.answer = section(&m.answers);
    n.authority = section(&m.authorities);
    n.additional = section(&m.additionals);
    n.opt = m.edns.as_ref().map(|e| OptNorm {
        version: e.version(),
        payload: e.max_payload(),
        ext_rcode: e.rcode_high(),
        flags: u16::from(*e.flags()),
        options: e
            .options()
            .options
            .iter()
            .map(|(code, opt)| {
                let text = match opt {
                    EdnsOption::Unknown(_, data) => hex(data),
                    EdnsOption::NSID(p) => hex(p.as_ref()),
                    other => format!("{other:?}"),
                };
                (u16::from(*code), text)
            })
            .collect(),
    });
    n
}

pub fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Display for Normal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, ";; opcode {} status {} flags: {}", self.opcode, self.rcode_name(), self.flags.join(" "))?;
        if let Some(e) = &self.decode_error {
            writeln!(f, ";; UNDECODABLE: {e}")?;
        }
        match &self.opt {
            Some(o) => writeln!(
                f,
                ";; OPT version {} payload {} flags {:#06x} ext-rcode {} options {:?}",
                o.version, o.payload, o.flags, o.ext_rcode, o.options
            )?,
            None => writeln!(f, ";; no OPT")?,
        }
        for (title, sec) in [
            ("QUESTION", &self.question),
            ("ANSWER", &self.answer),
            ("AUTHORITY", &self.authority),
            ("ADDITIONAL", &self.additional),
        ] {
            if !sec.is_empty() {
                writeln!(f, ";; {title}")?;
                for r in sec {
                    writeln!(f, "  {r}")?;
                }
            }
        }
        Ok(())
    }
}

/// Field-by-field differences between two normalised replies (empty when equal).
pub fn diff(a_name: &str, a: &Normal, b_name: &str, b: &Normal) -> Vec<String> {
    let mut out = Vec::new();
    if a.opcode != b.opcode {
        out.push(format!("opcode: {a_name} {} vs {b_name} {}", a.opcode, b.opcode));
    }
    if a.full_rcode() != b.full_rcode() {
        out.push(format!("rcode: {a_name} {} vs {b_name} {}", a.rcode_name(), b.rcode_name()));
    }
    if a.flags != b.flags {
        out.push(format!("flags: {a_name} [{}] vs {b_name} [{}]", a.flags.join(" "), b.flags.join(" ")));
    }
    if a.decode_error != b.decode_error {
        out.push(format!("decode: {a_name} {:?} vs {b_name} {:?}", a.decode_error, b.decode_error));
    }
    for (title, x, y) in [
        ("question", &a.question, &b.question),
        ("answer", &a.answer, &b.answer),
        ("authority", &a.authority, &b.authority),
        ("additional", &a.additional, &b.additional),
    ] {
        if x != y {
            let only_a: Vec<_> = multiset_minus(x, y);
            let only_b: Vec<_> = multiset_minus(y, x);
            out.push(format!("{title}: only {a_name} {only_a:?}; only {b_name} {only_b:?}"));
        }
    }
    if a.opt != b.opt {
        out.push(format!("opt: {a_name} {:?} vs {b_name} {:?}", a.opt, b.opt));
    }
    out
}

/// Elements of `x` not matched one-for-one in `y` (both sorted or not; counts matter).
pub fn multiset_minus(x: &[String], y: &[String]) -> Vec<String> {
    let mut left: Vec<&String> = y.iter().collect();
    let mut out = Vec::new();
    for e in x {
        if let Some(i) = left.iter().position(|l| *l == e) {
            left.swap_remove(i);
        } else {
            out.push(e.clone());
        }
    }
    out
}
