//! Client settings: endpoints, timeouts, bounds, credentials and TLS material.

use std::time::Duration;

use super::Error;

/// User and password for etcd's auth (`POST /v3/auth/authenticate`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("Credentials").field("user", &self.user).field("password", &"…").finish()
    }
}

/// TLS material, all PEM. The CA replaces the system roots: a fleet's etcd has its own CA.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// CA certificate(s) that signed the etcd members' serving certificates.
    pub ca_pem: Vec<u8>,
    /// Client certificate chain, for etcd started with `--client-cert-auth`.
    pub cert_pem: Option<Vec<u8>>,
    /// The client certificate's private key (PKCS#8, PKCS#1 or SEC1 PEM).
    pub key_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("cert_pem", &self.cert_pem.as_ref().map(|c| c.len()))
            .field("key_pem", &self.key_pem.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Everything [`super::Client::new`] needs. `ClientConfig::new(endpoints)` gives the defaults.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Client URLs of the etcd members, e.g. `http://127.0.0.1:2379`. Tried in order; the client
    /// stays on the one that last worked and moves to the next on a connection failure.
    pub endpoints: Vec<String>,
    /// Upper bound of a whole call, all endpoints and retries included.
    pub timeout: Duration,
    /// Upper bound of one HTTP exchange with one endpoint (a stopped member must not eat the
    /// whole call's budget).
    pub attempt_timeout: Duration,
    /// TCP connect (and TLS handshake) bound.
    pub connect_timeout: Duration,
    /// Largest response body accepted from a unary call, and largest single watch message.
    pub max_response_bytes: usize,
    /// A watch stream silent this long is checked with a status call to its endpoint; if that
    /// fails, the stream is dropped and re-opened elsewhere (a hung member keeps TCP open).
    pub watch_idle_check: Duration,
    /// Optional user/password auth; the token is fetched on first use and refreshed when etcd
    /// calls it invalid.
    pub credentials: Option<Credentials>,
    /// Optional TLS (endpoints must then be `https://`).
    pub tls: Option<TlsConfig>,
}

impl ClientConfig {
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> ClientConfig {
        ClientConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_millis(1000),
            max_response_bytes: 4 << 20,
            watch_idle_check: Duration::from_secs(5),
            credentials: None,
            tls: None,
        }
    }

    /// Checks the settings; every problem is reported, not only the first.
    pub(crate) fn validate(&self) -> Result<Vec<reqwest::Url>, Error> {
        let mut problems = Vec::new();
        let mut urls = Vec::new();
        if self.endpoints.is_empty() {
            problems.push("no endpoints".to_string());
        }
        for (i, ep) in self.endpoints.iter().enumerate() {
            match reqwest::Url::parse(ep) {
                Err(e) => problems.push(format!("endpoints[{i}] {ep:?}: {e}")),
                Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
                    problems.push(format!("endpoints[{i}] {ep:?}: scheme must be http or https"))
                }
                Ok(u) if u.host().is_none() => problems.push(format!("endpoints[{i}] {ep:?}: no host")),
                Ok(u) if u.scheme() == "https" && self.tls.is_none() => {
                    problems.push(format!("endpoints[{i}] {ep:?}: https needs a tls section (ca)"))
                }
                Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                    problems.push(format!("endpoints[{i}] {ep:?}: no query or fragment allowed"))
                }
                Ok(u) => urls.push(u),
            }
        }
        for (name, d) in [
            ("timeout", self.timeout),
            ("attempt_timeout", self.attempt_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if d.is_zero() {
                problems.push(format!("{name} must be above zero"));
            }
        }
        if self.watch_idle_check.is_zero() {
            problems.push("watch_idle_check must be above zero".into());
        }
        if self.max_response_bytes < 4096 {
            problems.push("max_response_bytes must be at least 4096".into());
        }
        if let Some(t) = &self.tls
            && t.cert_pem.is_some() != t.key_pem.is_some()
        {
            problems.push("tls: cert and key go together".into());
        }
        if let Some(c) = &self.credentials
            && c.user.is_empty()
        {
            problems.push("credentials: empty user".into());
        }
        if problems.is_empty() { Ok(urls) } else { Err(Error::Config(problems.join("; "))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_problems_are_reported_together() {
        let mut c = ClientConfig::new(["ftp://x", "not a url", "https://127.0.0.1:1"]);
        c.timeout = Duration::ZERO;
        let Err(Error::Config(m)) = c.validate() else { panic!("expected a config error") };
        assert!(m.contains("endpoints[0]") && m.contains("scheme"), "{m}");
        assert!(m.contains("endpoints[1]"), "{m}");
        assert!(m.contains("endpoints[2]") && m.contains("tls"), "{m}");
        assert!(m.contains("timeout must be above zero"), "{m}");
    }

    #[test]
    fn defaults_are_valid() {
        let urls = ClientConfig::new(["http://127.0.0.1:2379", "http://127.0.0.2:2379/"]).validate().unwrap();
        assert_eq!(urls.len(), 2);
    }
}
