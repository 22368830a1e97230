//! The COOKIE option (RFC 7873 §4): what a query carries, and what a reply carries.
//!
//! A query's option is a client cookie of exactly 8 bytes, optionally followed by a server
//! cookie of 8 to 32 bytes, so its length is 8 or 16..=40. Any other length is malformed and
//! the query gets FORMERR (RFC 7873 §5.2.2). Both types are fixed-size and `Copy`, so a
//! parsed query can carry its cookie without allocating.
use std::fmt;

use super::OPTION_CODE;

pub const CLIENT_LEN: usize = 8;
pub const MIN_SERVER_LEN: usize = 8;
pub const MAX_SERVER_LEN: usize = 32;
/// Code, length, client cookie and the longest server cookie.
pub const MAX_REPLY_OPTION: usize = 4 + CLIENT_LEN + MAX_SERVER_LEN;

/// Why a COOKIE option (or the OPT RDATA holding it) is malformed: answer FORMERR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The option's length is not 8 and not within 16..=40 (RFC 7873 §5.2.2).
    Length(usize),
    /// An option header or body runs past the end of the OPT RDATA (RFC 6891 §6.1.2).
    Truncated,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Length(n) => {
                write!(f, "COOKIE option of {n} bytes (RFC 7873 §5.2.2 allows 8, or 16 to 40)")
            }
            Malformed::Truncated => f.write_str("EDNS option runs past the end of the OPT record"),
        }
    }
}

impl std::error::Error for Malformed {}

/// The COOKIE option of a query, checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueryCookie {
    client: [u8; CLIENT_LEN],
    server: [u8; MAX_SERVER_LEN],
    /// 0 (client cookie only) or 8..=32.
    server_len: u8,
}

impl QueryCookie {
    /// Parses the option's data (after its code and length).
    pub fn parse(data: &[u8]) -> Result<QueryCookie, Malformed> {
        let n = data.len();
        if n != CLIENT_LEN && !(CLIENT_LEN + MIN_SERVER_LEN..=CLIENT_LEN + MAX_SERVER_LEN).contains(&n) {
            return Err(Malformed::Length(n));
        }
        let mut c = QueryCookie { client: [0; CLIENT_LEN], server: [0; MAX_SERVER_LEN], server_len: 0 };
        c.client.copy_from_slice(&data[..CLIENT_LEN]);
        let server = &data[CLIENT_LEN..];
        c.server[..server.len()].copy_from_slice(server);
        c.server_len = server.len() as u8;
        Ok(c)
    }

    pub fn client(&self) -> &[u8; CLIENT_LEN] {
        &self.client
    }

    /// The server cookie the client sent back, if any (8..=32 bytes, not yet verified).
    pub fn server(&self) -> Option<&[u8]> {
        (self.server_len > 0).then(|| &self.server[..self.server_len as usize])
    }
}

impl fmt::Debug for QueryCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueryCookie(")?;
        hex(f, &self.client)?;
        if let Some(s) = self.server() {
            f.write_str(" ")?;
            hex(f, s)?;
        }
        f.write_str(")")
    }
}

/// Finds the COOKIE option in an OPT record's RDATA. Only the first one counts; later ones are
/// ignored (RFC 7873 §5.2). For callers that do not already walk the options themselves.
pub fn find_in_opt_rdata(mut rdata: &[u8]) -> Result<Option<QueryCookie>, Malformed> {
    while !rdata.is_empty() {
        let (Some(head), rest) = (rdata.get(..4), rdata.get(4..).unwrap_or(&[])) else {
            return Err(Malformed::Truncated);
        };
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        let data = rest.get(..len).ok_or(Malformed::Truncated)?;
        if code == OPTION_CODE {
            return QueryCookie::parse(data).map(Some);
        }
        rdata = &rest[len..];
    }
    Ok(None)
}

/// The COOKIE option of a reply, whole (code, length, client cookie, server cookie), ready to
/// be appended to the reply's OPT RDATA.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReplyCookie {
    bytes: [u8; MAX_REPLY_OPTION],
    len: u8,
}

impl ReplyCookie {
    /// `server` must be 8..=32 bytes; a longer one is cut to 32 (never happens with our cookies).
    pub fn new(client: &[u8; CLIENT_LEN], server: &[u8]) -> ReplyCookie {
        let server = &server[..server.len().min(MAX_SERVER_LEN)];
        debug_assert!(server.len() >= MIN_SERVER_LEN);
        let data_len = CLIENT_LEN + server.len();
        let mut bytes = [0u8; MAX_REPLY_OPTION];
        bytes[..2].copy_from_slice(&OPTION_CODE.to_be_bytes());
        bytes[2..4].copy_from_slice(&(data_len as u16).to_be_bytes());
        bytes[4..4 + CLIENT_LEN].copy_from_slice(client);
        bytes[4 + CLIENT_LEN..4 + data_len].copy_from_slice(server);
        ReplyCookie { bytes, len: (4 + data_len) as u8 }
    }

    /// The whole option: code (10), length, data.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The option's data: the client cookie, then the server cookie.
    pub fn data(&self) -> &[u8] {
        &self.bytes[4..self.len as usize]
    }

    /// The server cookie part.
    pub fn server(&self) -> &[u8] {
        &self.bytes[4 + CLIENT_LEN..self.len as usize]
    }
}

impl fmt::Debug for ReplyCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyCookie(")?;
        hex(f, self.data())?;
        f.write_str(")")
    }
}

fn hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_rfc7873_5_2_2() {
        for n in 0..=48 {
            let ok = n == 8 || (16..=40).contains(&n);
            assert_eq!(QueryCookie::parse(&vec![7u8; n]).is_ok(), ok, "length {n}");
            if !ok {
                assert_eq!(QueryCookie::parse(&vec![7u8; n]), Err(Malformed::Length(n)));
            }
        }
        let c = QueryCookie::parse(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!((c.client(), c.server()), (&[1, 2, 3, 4, 5, 6, 7, 8], None));
        let c = QueryCookie::parse(&[9; 24]).unwrap();
        assert_eq!(c.server(), Some(&[9u8; 16][..]));
    }

    #[test]
    fn first_cookie_option_counts_and_framing_is_checked() {
        // NSID (empty), COOKIE client-only, then a second (malformed) COOKIE that is ignored.
        let rdata = [0, 3, 0, 0, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 0, 3, 1, 2, 3];
        assert_eq!(find_in_opt_rdata(&rdata).unwrap().unwrap().client(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(find_in_opt_rdata(&[0, 3, 0, 0]), Ok(None));
        assert_eq!(find_in_opt_rdata(&[0, 10, 0, 8, 1, 2]), Err(Malformed::Truncated));
        assert_eq!(find_in_opt_rdata(&[0, 10, 0]), Err(Malformed::Truncated));
        assert_eq!(find_in_opt_rdata(&[0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9]), Err(Malformed::Length(9)));
    }

    #[test]
    fn reply_option_layout() {
        let r = ReplyCookie::new(&[1; 8], &[2; 16]);
        assert_eq!(&r.as_bytes()[..4], &[0, 10, 0, 24]);
        assert_eq!(r.as_bytes().len(), 28);
        assert_eq!(r.data(), &[[1u8; 8].as_slice(), &[2u8; 16]].concat()[..]);
        assert_eq!(r.server(), &[2u8; 16]);
    }
}
