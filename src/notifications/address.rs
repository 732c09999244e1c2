//! Which addresses notifications may be sent to (issue 15 item 10).
//!
//! A callback URL is chosen by whoever registers a client; without a check
//! the server would POST to anything it can reach: its own loopback
//! services, the cloud metadata endpoint (169.254.169.254), the private
//! network behind it. So in production a callback must resolve to global
//! addresses only: not loopback, private (RFC 1918, ULA `fc00::/7`),
//! link-local (`169.254/16`, `fe80::/10`), unspecified, CGNAT
//! (`100.64/10`), multicast, documentation, benchmarking or reserved
//! ranges, nor an IPv6 form that embeds such an IPv4 address. Networks an
//! operator lists in `notifications.allowed_private_networks` are allowed
//! anyway; `notifications.allow_private_addresses` turns the check off
//! (local development and the tests deliver to 127.0.0.1).
//!
//! The check runs at registration (422 `callback_url_not_allowed`) and
//! again at every delivery, because a name can resolve elsewhere later (DNS
//! rebinding): the worker's HTTP client resolves through
//! [`CheckedResolver`], which refuses a name when any of its addresses is
//! not allowed, so the address that was checked is the address connected
//! to; a literal IP in the URL is checked before the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::NotificationSettings;

/// Whether `ip` is an ordinary public (globally routed) address.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", unspecified
        || a == 10                             // RFC 1918
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // RFC 1918
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 168)              // RFC 1918
        || (a == 198 && (b == 18 || b == 19))  // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible and NAT64 (64:ff9b::/96)
    // forms reach the IPv4 address they embed.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[..6] == [0; 6] && !ip.is_loopback()) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return !ip.is_unspecified() && is_global_v4(v4);
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only 100::/64
}

/// A network in CIDR notation (`10.1.0.0/16`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Self> {
        let (ip, prefix) = match text.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { base: ip, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// What addresses callbacks may reach, from the settings.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow_private: bool,
    allowed: Vec<Network>,
}

impl AddressPolicy {
    /// The policy of `s`; an entry of `allowed_private_networks` that is no
    /// network is an error (the server refuses to start with it).
    pub fn from_settings(s: &NotificationSettings) -> anyhow::Result<Self> {
        let allowed = s
            .allowed_private_networks
            .iter()
            .map(|n| {
                Network::parse(n).ok_or_else(|| {
                    anyhow::anyhow!("notifications.allowed_private_networks: {n:?} is no network")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            allow_private: s.allow_private_addresses,
            allowed,
        })
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_global(ip) || self.allowed.iter().any(|n| n.contains(ip))
    }

    /// The addresses `url` reaches, when every one is permitted; the reason
    /// otherwise (without the URL, which may carry a token).
    pub async fn check_url(&self, url: &str) -> Result<Vec<SocketAddr>, RefusedAddress> {
        let parsed = url::Url::parse(url).map_err(|_| RefusedAddress("the URL is invalid"))?;
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Domain(name)) => self.resolve(name, port).await?,
            None => return Err(RefusedAddress("the URL has no host")),
        };
        self.check_all(addrs)
    }

    async fn resolve(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, RefusedAddress> {
        let lookup = tokio::net::lookup_host((name, port));
        match tokio::time::timeout(Duration::from_secs(5), lookup).await {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            _ => Err(RefusedAddress("the host name does not resolve")),
        }
    }

    fn check_all(&self, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, RefusedAddress> {
        if addrs.is_empty() {
            return Err(RefusedAddress("the host name does not resolve"));
        }
        if addrs.iter().all(|a| self.permits(a.ip())) {
            Ok(addrs)
        } else {
            Err(RefusedAddress(
                "the callback address is loopback, private, link-local or otherwise not public",
            ))
        }
    }
}

/// Why a callback address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedAddress(pub &'static str);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RefusedAddress {}

/// The worker's DNS resolver: resolves, checks every address against the
/// policy, and hands the HTTP client only checked addresses to connect to.
pub struct CheckedResolver(pub Arc<AddressPolicy>);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy.resolve(name.as_str(), 0).await?;
            let checked = policy.check_all(addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(checked.into_iter());
            Ok(addrs)
        })
    }
}

/// Whether `e` (a reqwest error) is a refusal of [`CheckedResolver`], and
/// why.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<RefusedAddress> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(refused) = err.downcast_ref::<RefusedAddress>() {
            return Some(*refused);
        }
        next = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15 item 10: the address classes a callback may not reach.
    #[test]
    fn loopback_private_link_local_and_cgnat_are_not_global() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2001:db8::1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "100.128.0.1",
        ] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn allow_listed_networks_are_permitted() {
        let policy = AddressPolicy {
            allow_private: false,
            allowed: vec![
                Network::parse("10.1.0.0/16").unwrap(),
                Network::parse("fd00::5").unwrap(),
            ],
        };
        assert!(policy.permits("10.1.2.3".parse().unwrap()));
        assert!(!policy.permits("10.2.0.1".parse().unwrap()));
        assert!(policy.permits("fd00::5".parse().unwrap()));
        assert!(!policy.permits("fd00::6".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_none());
        assert!(Network::parse("nope").is_none());
        assert!(Network::parse("0.0.0.0/0")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
    }
}
