//! Where an application's calls may go: the addresses, ports and schemes a portal named by the
//! network (an install event, a portal's rename redirect) may have.
//!
//! An install event names a portal's domain, and a portal can redirect its calls elsewhere; an
//! attacker can make either point at the application's own network — `127.0.0.1.nip.io:6379`,
//! `localhost.:8080`, the cloud metadata address, a name that resolves to a public address when
//! checked and to an internal one when connected to (DNS rebinding). [`NetworkPolicy`] says which
//! addresses are fine. Host names are checked where the connection is made: an
//! [`App`](crate::app::App)'s HTTP client resolves names through [`NetworkPolicy::resolver`], which
//! drops every address the policy refuses, so the address checked is the address connected to.
//! IP literals and ports are checked before anything is sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Which addresses, ports and schemes portals chosen by the network may have.
///
/// The default ([`NetworkPolicy::public`]) allows public addresses over HTTPS on the scheme's
/// default port only. Portals an operator names exactly (an entry of
/// [`InstallPolicy::Domains`](crate::app::InstallPolicy::Domains) without a leading dot, the
/// OAuth server, [`App::register`](crate::app::App::register)) are not subject to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPolicy {
    loopback: bool,
    private: bool,
    http: bool,
    ports: Vec<u16>,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        Self::public()
    }
}

impl NetworkPolicy {
    /// Public unicast addresses only, HTTPS only, on port 443.
    pub fn public() -> Self {
        Self {
            loopback: false,
            private: false,
            http: false,
            ports: Vec::new(),
        }
    }

    /// Also loopback addresses (`127.0.0.0/8`, `::1`) and `localhost` names: portals on this
    /// machine.
    pub fn allow_loopback(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// Also private and link-local networks (`10/8`, `172.16/12`, `192.168/16`, `100.64/10`,
    /// `169.254/16`, `fc00::/7`, `fe80::/10`): portals on an intranet.
    pub fn allow_private(mut self) -> Self {
        self.private = true;
        self
    }

    /// Also plain `http://` portals (and port 80), when their events say so.
    pub fn allow_http(mut self) -> Self {
        self.http = true;
        self
    }

    /// Also these ports besides the scheme's default.
    pub fn allow_ports(mut self, ports: impl IntoIterator<Item = u16>) -> Self {
        self.ports.extend(ports);
        self
    }

    /// Whether plain HTTP is allowed.
    pub(crate) fn allows_http(&self) -> bool {
        self.http
    }

    /// Whether `url` (scheme, port, and the host if it is an address or a `localhost` name) is
    /// allowed; other host names are checked when they are resolved.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.http => {}
            scheme => return Err(format!("{scheme}:// is not allowed")),
        }
        if let Some(port) = url.port()
            && !self.ports.contains(&port)
        {
            return Err(format!("port {port} is not allowed"));
        }
        self.check_host(url)
    }

    /// The host part of [`NetworkPolicy::check`].
    pub(crate) fn check_host(&self, url: &Url) -> Result<(), String> {
        let allowed = match url.host() {
            Some(Host::Ipv4(ip)) => self.allows(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.allows(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => !is_localhost(name) || self.loopback,
            None => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{} is not a public address",
                url.host_str().unwrap_or_default()
            ))
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match class(ip) {
            Class::Public => true,
            Class::Loopback => self.loopback,
            Class::Private => self.private,
            Class::Never => false,
        }
    }

    /// A resolver that looks names up with `lookup` (the system's resolver when `None`) and
    /// keeps only the addresses this policy allows; a name left with none fails to resolve.
    /// Names in `exempt` (exact host names, compared without regard to case) keep all of theirs.
    pub fn resolver(
        &self,
        lookup: Option<Arc<dyn Resolve>>,
        exempt: impl IntoIterator<Item = String>,
    ) -> Arc<dyn Resolve> {
        Arc::new(Guarded {
            policy: self.clone(),
            lookup: lookup.unwrap_or_else(|| Arc::new(SystemLookup)),
            exempt: exempt
                .into_iter()
                .map(|h| normalized(&h).to_owned())
                .collect(),
        })
    }
}

/// `name` without one trailing dot, lower case: `LocalHost.` and `localhost` are one name.
fn normalized(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// `localhost` and every name under it resolve to the machine itself (RFC 6761).
fn is_localhost(name: &str) -> bool {
    let name = normalized(name);
    name == "localhost" || name.ends_with(".localhost")
}

/// What kind of network an address is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    /// Unspecified, broadcast, multicast, documentation, benchmarking and reserved ranges: no
    /// portal lives there.
    Never,
}

fn class(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(ip) => class_v4(ip),
        IpAddr::V6(ip) => class_v6(ip),
    }
}

fn class_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if a == 0
        || a >= 224
        || ip.is_documentation()
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0)
    {
        Class::Never
    } else {
        Class::Public
    }
}

fn class_v6(ip: Ipv6Addr) -> Class {
    let segments = ip.segments();
    // Addresses that carry an IPv4 address: mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::/96).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return class_v4(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return class_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() || segments[..2] == [0x2001, 0x0db8] {
        Class::Never
    } else if (segments[0] & 0xfe00) == 0xfc00 || (segments[0] & 0xffc0) == 0xfe80 {
        // Unique local (fc00::/7) and link-local (fe80::/10).
        Class::Private
    } else if (segments[0] & 0xffc0) == 0xfec0 {
        // Deprecated site-local (fec0::/10): private in practice.
        Class::Private
    } else {
        Class::Public
    }
}

/// The system's resolver (`getaddrinfo`, on a blocking thread).
struct SystemLookup;

impl Resolve for SystemLookup {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Looks up, then drops what the policy refuses: the addresses handed to the connector are the
/// checked ones.
struct Guarded {
    policy: NetworkPolicy,
    lookup: Arc<dyn Resolve>,
    exempt: Vec<String>,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let host = normalized(name.as_str());
        let exempt = self.exempt.contains(&host);
        let refuse_all = is_localhost(&host) && !self.policy.loopback && !exempt;
        let policy = self.policy.clone();
        let lookup = self.lookup.resolve(name);
        Box::pin(async move {
            if refuse_all {
                return Err(format!("{host} is not a public address").into());
            }
            let addrs = lookup.await?;
            if exempt {
                return Ok(addrs);
            }
            let allowed: Vec<SocketAddr> = addrs.filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    format!("{host} resolves to no address the network policy allows").into(),
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn address_classes() {
        let public = NetworkPolicy::public();
        for ip in [
            "93.184.216.34",
            "2a00:1450:4001::200e",
            "::ffff:93.184.216.34",
        ] {
            assert!(public.allows(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "0.0.0.0",
            "::",
            "255.255.255.255",
            "224.0.0.1",
            "ff02::1",
            "192.0.2.1",
            "2001:db8::1",
            "198.18.0.1",
        ] {
            assert!(!public.allows(ip.parse().unwrap()), "{ip}");
        }
        let local = NetworkPolicy::public().allow_loopback();
        assert!(local.allows("127.0.0.1".parse().unwrap()));
        assert!(local.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!local.allows("10.0.0.1".parse().unwrap()));
        let intranet = NetworkPolicy::public().allow_private();
        assert!(intranet.allows("10.0.0.1".parse().unwrap()));
        assert!(intranet.allows("fd12::1".parse().unwrap()));
        assert!(!intranet.allows("0.0.0.0".parse().unwrap()));
    }

    #[test]
    fn urls_schemes_and_ports() {
        let public = NetworkPolicy::public();
        assert!(public.check(&url("https://portal.bitrix24.com/")).is_ok());
        assert!(
            public
                .check(&url("https://portal.bitrix24.com:443/"))
                .is_ok()
        );
        for refused in [
            "http://portal.bitrix24.com/",
            "https://portal.bitrix24.com:6379/",
            "https://127.0.0.1.nip.io:6379/",
            "https://localhost./",
            "https://LOCALHOST/",
            "https://api.localhost/",
            "https://127.0.0.1/",
            "https://0x7f000001/",
            "https://[::1]/",
            "https://169.254.169.254/",
        ] {
            assert!(public.check(&url(refused)).is_err(), "{refused}");
        }
        let dev = NetworkPolicy::public()
            .allow_http()
            .allow_loopback()
            .allow_ports([8080]);
        assert!(dev.check(&url("http://localhost.:8080/")).is_ok());
        assert!(dev.check(&url("http://127.0.0.1:8080/")).is_ok());
        assert!(dev.check(&url("http://127.0.0.1:6379/")).is_err());
    }
}
