//! EDNS Client Subnet (RFC 7871) as a client sends it and as a test reads it back, and the
//! answer section as comparable tuples.
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;

use super::query::{EdnsSpec, QuerySpec, rand_id};

/// The ECS option (code 8) for `net` ("81.2.69.0/24", "2a00:1::/48"), as a client sends it:
/// scope 0, the address truncated to the source prefix (whole bytes, trailing bits zero).
pub fn ecs_option(net: &str) -> (u16, Vec<u8>) {
    let net: ipnet::IpNet = net.parse().unwrap_or_else(|e| panic!("ECS subnet {net}: {e}"));
    let net = net.trunc();
    let (family, octets): (u16, Vec<u8>) = match net.addr() {
        std::net::IpAddr::V4(a) => (1, a.octets().to_vec()),
        std::net::IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let prefix = net.prefix_len();
    let mut data = family.to_be_bytes().to_vec();
    data.extend_from_slice(&[prefix, 0]);
    data.extend_from_slice(&octets[..usize::from(prefix).div_ceil(8)]);
    (8, data)
}

/// An EDNS query (payload 1232, RD clear) for `qname`/`qtype`, with an ECS option for `ecs`
/// ("a.b.c.d/len") or none.
pub fn ecs_query(qname: &str, qtype: RecordType, ecs: Option<&str>) -> Message {
    let mut q = QuerySpec::new(qname, qtype);
    q.edns = Some(EdnsSpec { options: ecs.map(ecs_option).into_iter().collect(), ..EdnsSpec::default() });
    q.to_message(rand_id())
}

/// The ECS options of a reply, each as `address/source/scope` (as dig's CLIENT-SUBNET line).
pub fn ecs_of(m: &Message) -> Vec<String> {
    use hickory_proto::rr::rdata::opt::EdnsCode;
    m.edns
        .as_ref()
        .map(|e| {
            e.options()
                .get_all(EdnsCode::Subnet)
                .into_iter()
                .map(|o| match o {
                    EdnsOption::Subnet(s) => {
                        format!("{}/{}/{}", s.addr(), s.source_prefix(), s.scope_prefix())
                    }
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The answer section as `(owner lowercase, TTL, TYPE, RDATA)`, sorted.
pub fn answers_of(m: &Message) -> Vec<(String, u32, String, String)> {
    let mut v: Vec<_> = m
        .answers
        .iter()
        .map(|r| (r.name.to_lowercase().to_string(), r.ttl, r.record_type().to_string(), r.data.to_string()))
        .collect();
    v.sort();
    v
}
