//! The client's address: the socket peer, unless the peer is a trusted proxy
//! (`GATEHOUSE_TRUSTED_PROXIES`); then the right-most `X-Forwarded-For` address that is not
//! itself a trusted proxy. Every edge reads it from here, for the audit log's source IP and
//! for the IP allowlists.
//!
//! Why the right-most: each proxy appends the address it saw, so only the entries added by
//! our own proxies are trustworthy; everything to their left was written by the client and
//! may be forged. Without a trusted peer the header is ignored altogether.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use poem::Request;

use crate::domain::ip_allowlist::AddressList;

/// The header proxies append the address they saw to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The proxies whose `X-Forwarded-For` is believed. Empty: none, the peer is the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<AddressList>);

impl TrustedProxies {
    pub fn new(list: AddressList) -> Self {
        TrustedProxies(Arc::new(list))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The client's address as the middleware resolved it, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The client address of a request: what the middleware resolved, else the socket peer.
pub fn of(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ClientAddress>()
        .map(|c| c.0)
        .or_else(|| peer(req))
}

/// The socket peer in canonical form (an IPv4-mapped IPv6 peer becomes IPv4).
fn peer(req: &Request) -> Option<IpAddr> {
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_canonical())
}

/// Resolves a request's client address against the trusted proxies.
pub fn resolve_request(req: &Request, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = peer(req)?;
    if !trusted.0.contains(peer) {
        return Some(peer);
    }
    let lines: Vec<&str> = req
        .headers()
        .get_all(FORWARDED_FOR)
        .iter()
        // A line that is not text cannot be read: it stops the walk like a bad entry.
        .map(|v| v.to_str().unwrap_or("?"))
        .collect();
    Some(resolve(peer, &lines, &trusted.0))
}

/// The walk itself: from the right, skip trusted proxies; the first other address is the
/// client. An entry that is not an address stops the walk at the hop that appended it; when
/// every entry is a trusted proxy, the left-most one is the best that is known.
pub fn resolve(peer: IpAddr, forwarded_for: &[&str], trusted: &AddressList) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut client = peer;
    let items = forwarded_for.iter().flat_map(|line| line.split(','));
    for item in items.rev() {
        match parse_item(item) {
            Some(addr) => {
                client = addr;
                if !trusted.contains(addr) {
                    return addr;
                }
            }
            None => return client,
        }
    }
    client
}

/// An entry: an address, or an address with a port (`203.0.113.7:4711`, `[2001:db8::1]:443`),
/// which some load balancers write.
fn parse_item(item: &str) -> Option<IpAddr> {
    let item = item.trim();
    item.parse::<IpAddr>()
        .or_else(|_| item.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(text: &str) -> AddressList {
        AddressList::parse_comma_separated(text).unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let t = trusted("10.0.0.0/8");
        assert_eq!(
            resolve(ip("192.0.2.1"), &["203.0.113.5"], &t),
            ip("192.0.2.1")
        );
        assert_eq!(
            resolve(ip("192.0.2.1"), &[], &AddressList::default()),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn a_trusted_peer_yields_the_right_most_untrusted_entry() {
        let t = trusted("10.0.0.0/8, 2001:db8:ffff::/48");
        // The client forged the left-most entry; our proxies appended the rest.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                &["198.51.100.66, 203.0.113.5", "10.0.0.1"],
                &t
            ),
            ip("203.0.113.5")
        );
        assert_eq!(
            resolve(ip("2001:db8:ffff::1"), &["2001:db8::7"], &t),
            ip("2001:db8::7")
        );
        // No header: the proxy itself is the client.
        assert_eq!(resolve(ip("10.0.0.2"), &[], &t), ip("10.0.0.2"));
        // Every entry a trusted proxy: the left-most.
        assert_eq!(
            resolve(ip("10.0.0.2"), &["10.9.9.9, 10.0.0.1"], &t),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn mapped_peers_and_entries_with_ports_are_understood() {
        let t = trusted("127.0.0.1");
        assert_eq!(
            resolve(ip("::ffff:127.0.0.1"), &["203.0.113.5:4711"], &t),
            ip("203.0.113.5")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), &["[2001:db8::1]:443"], &t),
            ip("2001:db8::1")
        );
        assert_eq!(
            resolve(ip("127.0.0.1"), &["::ffff:203.0.113.5"], &t),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_hop_that_appended_it() {
        let t = trusted("10.0.0.0/8");
        assert_eq!(
            resolve(ip("10.0.0.2"), &["203.0.113.5, unknown, 10.0.0.1"], &t),
            ip("10.0.0.1")
        );
        assert_eq!(resolve(ip("10.0.0.2"), &["?"], &t), ip("10.0.0.2"));
    }
}
