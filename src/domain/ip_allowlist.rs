//! IP allowlists as pure logic: address ranges (`10.0.0.0/8`, `2001:db8::/32`, or one
//! address), a list of them, and the account's allowlist with its two switches (one for
//! requests signed in with a browser session, one for API tokens).
//!
//! Addresses are compared in their canonical form: an IPv4-mapped IPv6 peer (`::ffff:1.2.3.4`,
//! what a dual-stack socket reports for an IPv4 client) matches IPv4 ranges. For the same
//! reason ranges may not be written in the mapped form: they would never match anything.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Most entries an allowlist holds: enough for any office and VPN list, small enough that a
/// linear scan per request stays in the nanoseconds.
pub const MAX_ENTRIES: usize = 500;

/// Longest description of an entry, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// One address range: a CIDR block, or a single address (a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange(IpNet);

impl IpRange {
    /// Parses `a.b.c.d/n`, `x:y::/n` or a bare address. Refuses host bits past the prefix
    /// (`10.0.0.1/8`: did the writer mean the network or the host?) and IPv4-mapped IPv6.
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let trimmed = text.trim();
        let net = if trimmed.contains('/') {
            IpNet::from_str(trimmed).map_err(|_| {
                format!("{text:?} is not an IP address or CIDR range (like 203.0.113.0/24 or 2001:db8::/32)")
            })?
        } else {
            let addr = IpAddr::from_str(trimmed).map_err(|_| {
                format!("{text:?} is not an IP address or CIDR range (like 203.0.113.0/24 or 2001:db8::/32)")
            })?;
            IpNet::from(addr)
        };
        if net.trunc() != net {
            return Err(format!(
                "{text:?} has bits set past its /{} prefix; write the network, {}",
                net.prefix_len(),
                net.trunc()
            ));
        }
        if let IpAddr::V6(v6) = net.network()
            && v6.to_ipv4_mapped().is_some()
            && net.prefix_len() >= 96
        {
            return Err(format!(
                "{text:?} is an IPv4-mapped IPv6 range; write it as IPv4 (IPv4-mapped clients match IPv4 entries)"
            ));
        }
        Ok(IpRange(net))
    }

    /// Whether the range holds the address (compared in canonical form).
    pub fn contains(&self, addr: IpAddr) -> bool {
        self.0.contains(&addr.to_canonical())
    }
}

impl std::fmt::Display for IpRange {
    /// Single addresses print without their prefix length, as they are usually written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.prefix_len() == self.0.max_prefix_len() {
            self.0.addr().fmt(f)
        } else {
            self.0.fmt(f)
        }
    }
}

/// A list of address ranges; empty holds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressList {
    ranges: Vec<IpRange>,
}

impl AddressList {
    pub fn new(ranges: Vec<IpRange>) -> Self {
        AddressList { ranges }
    }

    /// Parses a comma-separated list (`10.0.0.0/8, 192.168.1.7`); blank items are skipped.
    pub fn parse_comma_separated(text: &str) -> Result<AddressList, String> {
        let ranges = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(IpRange::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AddressList { ranges })
    }

    /// Whether some range holds the address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.ranges.iter().any(|r| r.0.contains(&addr))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[IpRange] {
        &self.ranges
    }
}

/// One entry as stored and shown: the range as written back canonically, and a note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowlistEntry {
    pub cidr: String,
    #[serde(default)]
    pub description: String,
}

/// Checks the entries of a list as a request gives them (`field` names the list, e.g.
/// `entries` or `scimAllowlist`): each range parses, descriptions are short and plain,
/// no range twice. Returns the entries with canonical ranges, and the list to match against.
pub fn check_entries(
    field: &str,
    entries: &[AllowlistEntry],
) -> Result<(Vec<AllowlistEntry>, AddressList), String> {
    if entries.len() > MAX_ENTRIES {
        return Err(format!(
            "{field}: at most {MAX_ENTRIES} entries (got {})",
            entries.len()
        ));
    }
    let mut checked = Vec::with_capacity(entries.len());
    let mut ranges: Vec<IpRange> = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let range = IpRange::parse(&entry.cidr).map_err(|e| format!("{field}[{i}].cidr: {e}"))?;
        if ranges.contains(&range) {
            return Err(format!("{field}[{i}].cidr: {range} is listed twice"));
        }
        let description = entry.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS
            || description.chars().any(char::is_control)
        {
            return Err(format!(
                "{field}[{i}].description: at most {MAX_DESCRIPTION_CHARS} characters, no control characters"
            ));
        }
        ranges.push(range);
        checked.push(AllowlistEntry {
            cidr: range.to_string(),
            description: description.to_owned(),
        });
    }
    Ok((checked, AddressList::new(ranges)))
}

/// How a REST request proved who it is, as far as the allowlist cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie of an SSO sign-in.
    Session,
    /// An API token (personal or service).
    Token,
}

/// The account's allowlist: its ranges and which kinds of requests it applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAllowlist {
    pub addresses: AddressList,
    pub sessions_enabled: bool,
    pub tokens_enabled: bool,
}

impl AccountAllowlist {
    /// Whether the list applies to requests made with this credential.
    pub fn applies_to(&self, credential: Credential) -> bool {
        match credential {
            Credential::Session => self.sessions_enabled,
            Credential::Token => self.tokens_enabled,
        }
    }

    /// Whether a request with this credential from this address gets in. An unknown address
    /// (no socket address, which TCP always has) does not, where the list applies.
    pub fn admits(&self, credential: Credential, addr: Option<IpAddr>) -> bool {
        !self.applies_to(credential) || addr.is_some_and(|a| self.addresses.contains(a))
    }

    /// Refuses a switch turned on over an empty list: it would shut out everyone, the one
    /// changing it included.
    pub fn check_switches(&self) -> Result<(), String> {
        if self.addresses.is_empty() && (self.sessions_enabled || self.tokens_enabled) {
            return Err(
                "entries: an empty allowlist with sessionsEnabled or tokensEnabled would refuse every request; add entries or turn the switches off".to_owned(),
            );
        }
        Ok(())
    }
}

/// The account's allowlist as stored, shown and audited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowlistSettings {
    pub entries: Vec<AllowlistEntry>,
    pub sessions_enabled: bool,
    pub tokens_enabled: bool,
}

impl AllowlistSettings {
    /// The actions (on `acct`) that replacing these settings with `next` exercises, in the
    /// catalogue's words: entries added, changed (same range, new description) and removed,
    /// and a switch turned. Replacing with the same settings exercises none.
    pub fn actions_changing_to(&self, next: &AllowlistSettings) -> Vec<&'static str> {
        let find = |list: &[AllowlistEntry], cidr: &str| {
            list.iter()
                .find(|e| e.cidr == cidr)
                .map(|e| e.description.clone())
        };
        let mut actions = Vec::new();
        if next
            .entries
            .iter()
            .any(|e| find(&self.entries, &e.cidr).is_none())
        {
            actions.push("createIpAllowlistEntry");
        }
        if next
            .entries
            .iter()
            .any(|e| find(&self.entries, &e.cidr).is_some_and(|d| d != e.description))
        {
            actions.push("updateIpAllowlistEntry");
        }
        if self
            .entries
            .iter()
            .any(|e| find(&next.entries, &e.cidr).is_none())
        {
            actions.push("deleteIpAllowlistEntry");
        }
        if self.sessions_enabled != next.sessions_enabled
            || self.tokens_enabled != next.tokens_enabled
        {
            actions.push("updateIpAllowlistEnabled");
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn list(items: &[&str]) -> AddressList {
        AddressList::new(items.iter().map(|i| IpRange::parse(i).unwrap()).collect())
    }

    #[test]
    fn ranges_and_single_addresses_parse_and_match() {
        let l = list(&["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]);
        assert!(l.contains(ip("203.0.113.200")));
        assert!(!l.contains(ip("203.0.114.1")));
        assert!(l.contains(ip("198.51.100.7")));
        assert!(!l.contains(ip("198.51.100.8")));
        assert!(l.contains(ip("2001:db8:1::5")));
        assert!(!l.contains(ip("2001:db9::1")));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_entries() {
        let l = list(&["10.0.0.0/8"]);
        assert!(l.contains(ip("::ffff:10.1.2.3")));
        assert!(!l.contains(ip("::ffff:11.1.2.3")));
        // An IPv4 entry never holds a plain IPv6 address, nor the other way round.
        assert!(!l.contains(ip("::a01:203")));
        assert!(!list(&["::/0"]).contains(ip("10.1.2.3")));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        for (text, expected) in [
            ("10.0.0.300/8", "not an IP address"),
            ("10.0.0.0/33", "not an IP address"),
            ("banana", "not an IP address"),
            ("", "not an IP address"),
            ("10.0.0.1/8", "write the network, 10.0.0.0/8"),
            ("::ffff:10.0.0.0/104", "IPv4-mapped"),
            ("::ffff:10.0.0.1", "IPv4-mapped"),
        ] {
            let err = IpRange::parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn entries_are_checked_by_index_and_written_back_canonically() {
        let e = |cidr: &str| AllowlistEntry {
            cidr: cidr.to_owned(),
            description: " office ".to_owned(),
        };
        let (checked, addresses) =
            check_entries("entries", &[e(" 10.0.0.0/8"), e("2001:DB8::/32")]).unwrap();
        assert_eq!(checked[0].cidr, "10.0.0.0/8");
        assert_eq!(checked[0].description, "office");
        assert_eq!(checked[1].cidr, "2001:db8::/32");
        assert_eq!(addresses.ranges().len(), 2);
        let err = check_entries("entries", &[e("10.0.0.0/8"), e("nope")]).unwrap_err();
        assert!(err.starts_with("entries[1].cidr: "), "{err}");
        let err = check_entries("entries", &[e("10.0.0.0/8"), e("10.0.0.0/8")]).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        let long = AllowlistEntry {
            cidr: "10.0.0.0/8".into(),
            description: "x".repeat(257),
        };
        assert!(
            check_entries("scimAllowlist", &[long])
                .unwrap_err()
                .starts_with("scimAllowlist[0].description")
        );
    }

    #[test]
    fn switches_decide_which_requests_the_list_applies_to() {
        let allowlist = AccountAllowlist {
            addresses: list(&["203.0.113.0/24"]),
            sessions_enabled: true,
            tokens_enabled: false,
        };
        let inside = Some(ip("203.0.113.9"));
        let outside = Some(ip("192.0.2.1"));
        assert!(allowlist.admits(Credential::Session, inside));
        assert!(!allowlist.admits(Credential::Session, outside));
        assert!(!allowlist.admits(Credential::Session, None));
        assert!(allowlist.admits(Credential::Token, outside));
        assert!(allowlist.check_switches().is_ok());
        let empty = AccountAllowlist {
            tokens_enabled: true,
            ..AccountAllowlist::default()
        };
        assert!(empty.check_switches().is_err());
        assert!(AccountAllowlist::default().check_switches().is_ok());
    }

    #[test]
    fn comma_separated_lists_parse_or_name_the_bad_item() {
        let l = AddressList::parse_comma_separated(" 10.0.0.0/8, ,::1 ").unwrap();
        assert_eq!(l.ranges().len(), 2);
        assert!(l.contains(ip("::1")));
        assert!(
            AddressList::parse_comma_separated("10.0.0.0/8,x")
                .unwrap_err()
                .contains("\"x\"")
        );
    }

    #[test]
    fn a_replacement_exercises_the_actions_of_what_it_changes() {
        let e = |cidr: &str, d: &str| AllowlistEntry {
            cidr: cidr.to_owned(),
            description: d.to_owned(),
        };
        let before = AllowlistSettings {
            entries: vec![e("10.0.0.0/8", "office"), e("192.0.2.1", "vpn")],
            sessions_enabled: true,
            tokens_enabled: false,
        };
        assert!(before.actions_changing_to(&before).is_empty());
        let after = AllowlistSettings {
            entries: vec![e("10.0.0.0/8", "HQ"), e("203.0.113.0/24", "new")],
            sessions_enabled: true,
            tokens_enabled: true,
        };
        assert_eq!(
            before.actions_changing_to(&after),
            [
                "createIpAllowlistEntry",
                "updateIpAllowlistEntry",
                "deleteIpAllowlistEntry",
                "updateIpAllowlistEnabled"
            ]
        );
        let reordered = AllowlistSettings {
            entries: vec![e("192.0.2.1", "vpn"), e("10.0.0.0/8", "office")],
            ..before.clone()
        };
        assert!(before.actions_changing_to(&reordered).is_empty());
    }

    proptest! {
        /// Any network written canonically parses back to itself and holds its addresses.
        #[test]
        fn v4_networks_round_trip(addr: u32, prefix in 0u8..=32, host: u32) {
            let net = ipnet::Ipv4Net::new(Ipv4Addr::from(addr), prefix).unwrap().trunc();
            let range = IpRange::parse(&net.to_string()).unwrap();
            prop_assert_eq!(IpRange::parse(&range.to_string()).unwrap(), range);
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            let member = Ipv4Addr::from((u32::from(net.network()) & mask) | (host & !mask));
            prop_assert!(range.contains(IpAddr::V4(member)));
            prop_assert!(range.contains(IpAddr::V6(member.to_ipv6_mapped())));
        }

        #[test]
        fn v6_networks_round_trip(addr: u128, prefix in 0u8..=128) {
            let net = ipnet::Ipv6Net::new(Ipv6Addr::from(addr), prefix).unwrap().trunc();
            if net.network().to_ipv4_mapped().is_none() || prefix < 96 {
                let range = IpRange::parse(&net.to_string()).unwrap();
                prop_assert_eq!(IpRange::parse(&range.to_string()).unwrap(), range);
                prop_assert!(range.contains(IpAddr::V6(net.network())));
            }
        }

        /// No text makes the parser panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}") {
            let _ = IpRange::parse(&text);
        }
    }
}
