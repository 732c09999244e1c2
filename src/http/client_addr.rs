//! The client's address (issue 15 item 10). Behind a reverse proxy the TCP
//! peer is the proxy, and the client's address arrives in
//! `X-Forwarded-For`; but anyone can send that header, so it is believed
//! only from a peer listed in `server.trusted_proxies`. Each trusted proxy
//! appends the address it saw to the right of the list, so the walk goes
//! right to left: while the current address is a trusted proxy, the next
//! one is the right-most entry not yet used. Entries a client put in front
//! (to the left) are never reached past an untrusted hop, so they cannot
//! spoof the address. An entry that is no IP address ends the walk at the
//! last address that was (a proxy would not write one).
//!
//! Used for the request context's `ip` (audit events, the per-address
//! login limit); the per-peer connection limit stays on the TCP peer.

use std::net::IpAddr;

use crate::notifications::address::Network;

/// The configured trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// The proxies of `server.trusted_proxies`; an entry that is no IP
    /// address or CIDR network is an error (the server refuses to start).
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        entries
            .iter()
            .map(|e| {
                Network::parse(e).ok_or_else(|| {
                    anyhow::anyhow!("server.trusted_proxies: {e:?} is no IP address or network")
                })
            })
            .collect::<anyhow::Result<_>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address for a request from `peer` with the given
    /// `X-Forwarded-For` header values (in the order they came).
    pub fn client_addr<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .collect();
        let mut current = peer;
        for entry in entries.iter().rev() {
            if !self.trusts(current) {
                break;
            }
            match parse_entry(entry) {
                Some(ip) => current = ip,
                None => break,
            }
        }
        current
    }
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, also in the
/// bracketed or with-port forms some proxies write.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse::<IpAddr>().ok())
        .map(canonical)
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`) as IPv4, so it
/// matches IPv4 networks and is recorded in one form.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client's address of `req`: its TCP peer, or what trusted proxies
/// say in `X-Forwarded-For` (see the module).
pub fn of(req: &actix_web::HttpRequest) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    let proxies = req
        .app_data::<actix_web::web::Data<std::sync::Arc<crate::state::AppState>>>()
        .map(|s| &s.trusted_proxies);
    let Some(proxies) = proxies else {
        return Some(peer);
    };
    let values = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok());
    Some(proxies.client_addr(peer, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Issue 15 item 10: without trusted proxies (the default) the header
    /// is ignored; before the fix no setting existed and the peer was used
    /// anyway, this pins the default.
    #[test]
    fn untrusted_peer_ignores_the_header() {
        let none = proxies(&[]);
        assert_eq!(
            none.client_addr(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        let other = proxies(&["10.0.0.1"]);
        assert_eq!(
            other.client_addr(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
    }

    /// Issue 15 item 10: a trusted proxy's right-most entry is the client.
    #[test]
    fn trusted_peer_uses_the_right_most_entry() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Two proxies in a row: both trusted hops are walked past.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["198.51.100.7, 10.0.0.2"]),
            ip("198.51.100.7")
        );
        // No header: the peer itself.
        assert_eq!(p.client_addr(ip("10.0.0.1"), []), ip("10.0.0.1"));
    }

    /// Issue 15 item 10: entries a client prepends are never reached.
    #[test]
    fn spoofed_left_entries_are_ignored() {
        let p = proxies(&["10.0.0.1"]);
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["127.0.0.1, 1.1.1.1", "198.51.100.7"]),
            ip("198.51.100.7")
        );
        // A spoofed trusted-looking entry left of an untrusted one is not used.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["10.0.0.1, 198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    /// Issue 15 item 10: garbage stops the walk at the last real address.
    #[test]
    fn invalid_entries_end_the_walk() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_addr(ip("10.0.0.1"), ["nonsense"]), ip("10.0.0.1"));
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), ["198.51.100.7, unknown, 10.0.0.2"]),
            ip("10.0.0.2")
        );
        assert_eq!(p.client_addr(ip("10.0.0.1"), [""]), ip("10.0.0.1"));
        assert!(TrustedProxies::parse(&["nope".into()]).is_err());
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
    }

    /// Issue 15 item 10: IPv6 proxies and clients, and the forms with port.
    #[test]
    fn ipv6() {
        let p = proxies(&["fd00::/8", "127.0.0.1"]);
        assert_eq!(
            p.client_addr(ip("fd00::1"), ["2001:db8::5"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            p.client_addr(ip("fd00::1"), ["[2001:db8::5]:443"]),
            ip("2001:db8::5")
        );
        assert_eq!(
            p.client_addr(ip("fd00::1"), ["[2001:db8::6]"]),
            ip("2001:db8::6")
        );
        assert_eq!(
            p.client_addr(ip("fd00::1"), ["198.51.100.7:80"]),
            ip("198.51.100.7")
        );
        // A mapped IPv4 entry is treated as IPv4.
        assert_eq!(
            p.client_addr(ip("fd00::1"), ["198.51.100.7, ::ffff:127.0.0.1"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            p.client_addr(ip("2001:db8::9"), ["198.51.100.7"]),
            ip("2001:db8::9")
        );
    }
}
