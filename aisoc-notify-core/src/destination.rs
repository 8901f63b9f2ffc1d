//! The outbound guard: which addresses a delivery may connect to.
//!
//! Destination URLs come from administrators, playbook templates and end users' push
//! subscriptions, so a URL alone must not be able to reach the cloud metadata service, the
//! host's loopback, or the private network behind it. [`DestinationPolicy`] decides per address;
//! the [`DeliveryClient`](crate::delivery::DeliveryClient) enforces it in two places:
//!
//! - a URL whose host is an IP literal is checked before the request is built into a connection;
//! - a host name is resolved by the client's own resolver ([`GuardedResolver`]), which drops
//!   forbidden addresses and fails when none is left. The address checked is the address
//!   connected to, so a name that resolves to a public address once and to `10.0.0.1` on the
//!   next lookup (DNS rebinding) gains nothing.
//!
//! Refused by default: loopback, private (RFC 1918), CGNAT (100.64/10), link-local (169.254/16
//! and fe80::/10, the metadata address among them), unique-local (fc00::/7), unspecified,
//! multicast, broadcast, documentation and benchmarking ranges, other reserved IPv4 space, and
//! the IPv4-mapped, IPv4-compatible, NAT64 and 6to4 forms of all of those. An operator allows
//! named CIDRs or host names (an on-prem Jira, a Mattermost on the LAN) with
//! [`DestinationPolicy::allow`]; the gateway reads them from `AISOC_OUTBOUND_ALLOW`.
//!
//! ```
//! use aisoc_notify_core::destination::{DestinationPolicy, ForbiddenRange};
//!
//! let policy = DestinationPolicy::default();
//! assert_eq!(
//!     policy.check_ip("169.254.169.254".parse().unwrap()),
//!     Err(ForbiddenRange::LinkLocal)
//! );
//! assert_eq!(
//!     policy.check_ip("::ffff:10.0.0.1".parse().unwrap()),
//!     Err(ForbiddenRange::Private)
//! );
//! assert!(policy.check_ip("93.184.215.14".parse().unwrap()).is_ok());
//!
//! let on_prem = DestinationPolicy::parse_allow_list("10.20.0.0/16, jira.corp.example").unwrap();
//! assert!(on_prem.check_ip("10.20.1.5".parse().unwrap()).is_ok());
//! assert!(on_prem.allows_host("JIRA.corp.example"));
//! ```

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use ipnet::IpNet;

/// A range of addresses the guard refuses, named so an error can say which rule applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ForbiddenRange {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598).
    Cgnat,
    /// 169.254/16 (cloud metadata lives here) and fe80::/10.
    LinkLocal,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// 192.0.0/24, 240/4 and other space that is not routable on the internet.
    Reserved,
}

impl ForbiddenRange {
    /// A stable, short name for the rule (`loopback`, `private`, `link_local`, …).
    pub fn label(self) -> &'static str {
        match self {
            ForbiddenRange::Loopback => "loopback",
            ForbiddenRange::Private => "private",
            ForbiddenRange::Cgnat => "cgnat",
            ForbiddenRange::LinkLocal => "link_local",
            ForbiddenRange::UniqueLocal => "unique_local",
            ForbiddenRange::Unspecified => "unspecified",
            ForbiddenRange::Multicast => "multicast",
            ForbiddenRange::Broadcast => "broadcast",
            ForbiddenRange::Documentation => "documentation",
            ForbiddenRange::Benchmarking => "benchmarking",
            ForbiddenRange::Reserved => "reserved",
        }
    }
}

impl fmt::Display for ForbiddenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ForbiddenRange::Loopback => "loopback address",
            ForbiddenRange::Private => "private address (RFC 1918)",
            ForbiddenRange::Cgnat => "carrier-grade NAT address (100.64.0.0/10)",
            ForbiddenRange::LinkLocal => "link-local address (169.254.0.0/16, fe80::/10)",
            ForbiddenRange::UniqueLocal => "unique-local address (fc00::/7)",
            ForbiddenRange::Unspecified => "unspecified address",
            ForbiddenRange::Multicast => "multicast address",
            ForbiddenRange::Broadcast => "broadcast address",
            ForbiddenRange::Documentation => "documentation address",
            ForbiddenRange::Benchmarking => "benchmarking address",
            ForbiddenRange::Reserved => "reserved address",
        };
        f.write_str(text)
    }
}

/// The forbidden range `ip` falls in, if any; IPv6 forms that embed an IPv4 address
/// (mapped, compatible, NAT64, 6to4) are judged by the address they embed.
pub fn forbidden_range(ip: IpAddr) -> Option<ForbiddenRange> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<ForbiddenRange> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        (127, _, _) => ForbiddenRange::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => ForbiddenRange::Private,
        (100, 64..=127, _) => ForbiddenRange::Cgnat,
        (169, 254, _) => ForbiddenRange::LinkLocal,
        (0, _, _) => ForbiddenRange::Unspecified,
        _ if ip.is_broadcast() => ForbiddenRange::Broadcast,
        (224..=239, _, _) => ForbiddenRange::Multicast,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => ForbiddenRange::Documentation,
        (198, 18..=19, _) => ForbiddenRange::Benchmarking,
        (192, 0, 0) | (240..=255, _, _) => ForbiddenRange::Reserved,
        _ => return None,
    };
    Some(range)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<ForbiddenRange> {
    if let Some(v4) = embedded_v4(ip) {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    let range = match segments {
        _ if ip.is_unspecified() => ForbiddenRange::Unspecified,
        _ if ip.is_loopback() => ForbiddenRange::Loopback,
        [s, ..] if s & 0xffc0 == 0xfe80 => ForbiddenRange::LinkLocal,
        [s, ..] if s & 0xffc0 == 0xfec0 => ForbiddenRange::UniqueLocal,
        [s, ..] if s & 0xfe00 == 0xfc00 => ForbiddenRange::UniqueLocal,
        [s, ..] if s & 0xff00 == 0xff00 => ForbiddenRange::Multicast,
        [0x2001, 0x0db8, ..] => ForbiddenRange::Documentation,
        [0x2001, 0x0002, 0, ..] => ForbiddenRange::Benchmarking,
        // The rest of ::/96 that is not a compatible address (handled above) is reserved.
        [0, 0, 0, 0, 0, 0, _, _] => ForbiddenRange::Reserved,
        _ => return None,
    };
    Some(range)
}

/// The IPv4 address an IPv6 address stands for: `::ffff:a.b.c.d` (mapped), `::a.b.c.d`
/// (compatible, deprecated but still routed by some stacks), `64:ff9b::a.b.c.d` (NAT64) and
/// `2002:aabb:ccdd::` (6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail()),
        // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Why an allow-list entry was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationPolicyError {
    /// The entry is neither a CIDR, an IP address nor a host name.
    #[error("'{0}' is not a CIDR (10.0.0.0/8), an IP address or a host name")]
    InvalidEntry(String),
}

/// Which destinations outbound requests may reach. The default refuses every
/// [`ForbiddenRange`] and follows no redirects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DestinationPolicy {
    allowed_nets: Vec<IpNet>,
    allowed_hosts: Vec<String>,
    unrestricted: bool,
    max_redirects: usize,
}

impl DestinationPolicy {
    /// The default guard: every forbidden range refused, no redirects followed.
    pub fn guarded() -> Self {
        Self::default()
    }

    /// No address checks at all. For tools where the operator types the URL themselves (the
    /// CLI); never for URLs that come from configuration, templates or end users.
    pub fn unrestricted() -> Self {
        Self {
            unrestricted: true,
            ..Self::default()
        }
    }

    /// Allows one entry: a CIDR (`10.20.0.0/16`, `fd00::/8`), an IP address, a host name
    /// (`jira.corp.example`, any address it resolves to is allowed) or a wildcard suffix
    /// (`*.corp.example`).
    pub fn allow(mut self, entry: &str) -> Result<Self, DestinationPolicyError> {
        let entry = entry.trim();
        if let Ok(net) = entry.parse::<IpNet>() {
            self.allowed_nets.push(net.trunc());
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            self.allowed_nets.push(IpNet::from(ip));
        } else if is_host_pattern(entry) {
            self.allowed_hosts.push(entry.to_ascii_lowercase());
        } else {
            return Err(DestinationPolicyError::InvalidEntry(entry.to_owned()));
        }
        Ok(self)
    }

    /// The guard with a comma-separated allow list (`AISOC_OUTBOUND_ALLOW`); blanks are skipped.
    pub fn parse_allow_list(list: &str) -> Result<Self, DestinationPolicyError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .try_fold(Self::default(), |policy, entry| policy.allow(entry))
    }

    /// Follows up to `max` redirects, each hop checked like the first request (and never from
    /// https down to http). The default is 0: a 3xx answer is a non-retryable failure.
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// How many redirects are followed.
    pub fn max_redirects(&self) -> usize {
        self.max_redirects
    }

    /// Whether the guard is off.
    pub fn is_unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// Whether `host` (a name, not an address) is on the allow list: any address it resolves
    /// to may be reached.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allowed_hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix("*.") {
                Some(suffix) => host
                    .strip_suffix(suffix)
                    .is_some_and(|rest| rest.ends_with('.')),
                None => *allowed == host,
            })
    }

    /// `Ok` when `ip` may be connected to; otherwise the range that forbids it.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ForbiddenRange> {
        if self.unrestricted || self.allowed_nets.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        // An allowed IPv4 range also allows the IPv6 forms that embed its addresses.
        if let IpAddr::V6(v6) = ip
            && let Some(v4) = embedded_v4(v6)
            && self
                .allowed_nets
                .iter()
                .any(|net| net.contains(&IpAddr::V4(v4)))
        {
            return Ok(());
        }
        forbidden_range(ip).map_or(Ok(()), Err)
    }

    /// Checks a URL's host without resolving it: IP literals are judged, names pass (they are
    /// judged at connect time, or by [`check_url_resolved`](Self::check_url_resolved)).
    pub fn check_url(&self, url: &url::Url) -> Result<(), ForbiddenDestination> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.check_ip(ip)
            .map_err(|rule| ForbiddenDestination::new(&ip.to_string(), rule))
    }

    /// Checks a URL's host, resolving a name through `lookup`: refused when every address it
    /// resolves to is forbidden. For validating configuration before it is saved (a channel, a
    /// push subscription); delivery checks again at connect time.
    pub async fn check_url_resolved(
        &self,
        url: &url::Url,
        lookup: &dyn HostLookup,
    ) -> Result<(), ForbiddenDestination> {
        self.check_url(url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        if self.unrestricted || self.allows_host(name) {
            return Ok(());
        }
        match lookup.lookup(name).await {
            Ok(addresses) => self.permitted(name, addresses).map(drop),
            // A name that does not resolve now is not a forbidden address; delivery will report
            // the connect error.
            Err(_) => Ok(()),
        }
    }

    /// The addresses of `host` that may be connected to; an error naming the first refusal
    /// when none may.
    pub(crate) fn permitted(
        &self,
        host: &str,
        addresses: Vec<IpAddr>,
    ) -> Result<Vec<IpAddr>, ForbiddenDestination> {
        if self.unrestricted || self.allows_host(host) {
            return Ok(addresses);
        }
        let mut refusal = None;
        let allowed: Vec<IpAddr> = addresses
            .into_iter()
            .filter(|ip| match self.check_ip(*ip) {
                Ok(()) => true,
                Err(rule) => {
                    refusal.get_or_insert(rule);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), refusal) {
            (true, Some(rule)) => Err(ForbiddenDestination::new(host, rule)),
            _ => Ok(allowed),
        }
    }
}

fn is_host_pattern(entry: &str) -> bool {
    let name = entry.strip_prefix("*.").unwrap_or(entry);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A destination the guard refused: the host (never a path) and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("destination {host} is a {rule}, which outbound requests may not reach")]
pub struct ForbiddenDestination {
    /// The host name or address refused.
    pub host: String,
    /// The rule that refused it.
    pub rule: ForbiddenRange,
}

impl ForbiddenDestination {
    fn new(host: &str, rule: ForbiddenRange) -> Self {
        Self {
            host: host.to_owned(),
            rule,
        }
    }
}

/// A boxed future of addresses, as [`HostLookup`] returns it.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves host names to addresses. The system resolver is the default; tests and hosts with
/// their own DNS supply another.
pub trait HostLookup: Send + Sync + fmt::Debug {
    /// The addresses `host` resolves to.
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        Box::pin(async move {
            let addresses = tokio::net::lookup_host((host, 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        })
    }
}

/// A fixed table of names to addresses, for tests ("a name that resolves to a private
/// address") and for pinning a destination.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    entries: Vec<(String, Vec<IpAddr>)>,
}

impl StaticLookup {
    /// An empty table: every name fails to resolve.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `host` resolve to `addresses`.
    pub fn with(mut self, host: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.entries
            .push((host.to_ascii_lowercase(), addresses.into_iter().collect()));
        self
    }
}

impl HostLookup for StaticLookup {
    fn lookup<'a>(&'a self, host: &'a str) -> LookupFuture<'a> {
        let found = self
            .entries
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, addresses)| addresses.clone());
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "name not in the table")
            })
        })
    }
}

/// The delivery client's resolver: resolves through a [`HostLookup`] and hands the connector
/// only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: Arc<DestinationPolicy>,
    lookup: Arc<dyn HostLookup>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy` over `lookup`.
    pub fn new(policy: Arc<DestinationPolicy>, lookup: Arc<dyn HostLookup>) -> Self {
        Self { policy, lookup }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let lookup = Arc::clone(&self.lookup);
        Box::pin(async move {
            let host = name.as_str();
            let addresses = lookup.lookup(host).await?;
            let allowed = policy.permitted(host, addresses)?;
            let addrs: reqwest::dns::Addrs =
                Box::new(allowed.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Finds a guard refusal anywhere in an error's source chain (reqwest wraps the resolver's
/// error in its own connect error).
pub(crate) fn find_refusal<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a ForbiddenDestination> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = current {
        if let Some(refusal) = error.downcast_ref::<ForbiddenDestination>() {
            return Some(refusal);
        }
        current = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> Option<ForbiddenRange> {
        DestinationPolicy::default()
            .check_ip(ip.parse().unwrap())
            .err()
    }

    #[test]
    fn each_forbidden_ipv4_range_is_refused_by_name() {
        let cases = [
            ("127.0.0.1", ForbiddenRange::Loopback),
            ("127.255.255.254", ForbiddenRange::Loopback),
            ("10.0.0.1", ForbiddenRange::Private),
            ("172.16.0.1", ForbiddenRange::Private),
            ("172.31.255.255", ForbiddenRange::Private),
            ("192.168.1.1", ForbiddenRange::Private),
            ("100.64.0.1", ForbiddenRange::Cgnat),
            ("100.127.255.255", ForbiddenRange::Cgnat),
            ("169.254.169.254", ForbiddenRange::LinkLocal),
            ("0.0.0.0", ForbiddenRange::Unspecified),
            ("0.1.2.3", ForbiddenRange::Unspecified),
            ("224.0.0.1", ForbiddenRange::Multicast),
            ("239.255.255.250", ForbiddenRange::Multicast),
            ("255.255.255.255", ForbiddenRange::Broadcast),
            ("192.0.2.10", ForbiddenRange::Documentation),
            ("198.51.100.7", ForbiddenRange::Documentation),
            ("203.0.113.9", ForbiddenRange::Documentation),
            ("198.18.0.1", ForbiddenRange::Benchmarking),
            ("198.19.255.1", ForbiddenRange::Benchmarking),
            ("192.0.0.8", ForbiddenRange::Reserved),
            ("240.0.0.1", ForbiddenRange::Reserved),
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn each_forbidden_ipv6_range_is_refused_by_name() {
        let cases = [
            ("::1", ForbiddenRange::Loopback),
            ("::", ForbiddenRange::Unspecified),
            ("fe80::1", ForbiddenRange::LinkLocal),
            ("febf::1", ForbiddenRange::LinkLocal),
            ("fc00::1", ForbiddenRange::UniqueLocal),
            ("fd12:3456::1", ForbiddenRange::UniqueLocal),
            ("fec0::1", ForbiddenRange::UniqueLocal),
            ("ff02::1", ForbiddenRange::Multicast),
            ("2001:db8::1", ForbiddenRange::Documentation),
            ("2001:2::1", ForbiddenRange::Benchmarking),
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_the_ipv4_address() {
        let cases = [
            ("::ffff:127.0.0.1", ForbiddenRange::Loopback),
            ("::ffff:169.254.169.254", ForbiddenRange::LinkLocal),
            ("::ffff:a9fe:a9fe", ForbiddenRange::LinkLocal),
            ("::10.0.0.1", ForbiddenRange::Private),
            ("::127.0.0.1", ForbiddenRange::Loopback),
            ("64:ff9b::192.168.0.1", ForbiddenRange::Private),
            ("2002:a9fe:a9fe::1", ForbiddenRange::LinkLocal),
            ("2002:0a00:0001::", ForbiddenRange::Private),
        ];
        for (ip, range) in cases {
            assert_eq!(refused(ip), Some(range), "{ip}");
        }
        assert_eq!(refused("::ffff:93.184.215.14"), None);
        assert_eq!(refused("64:ff9b::8.8.8.8"), None);
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::6810:84e5",
            "2a00:1450:4001:82b::200e",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn allowed_cidrs_and_hosts_open_exactly_what_they_name() {
        let policy =
            DestinationPolicy::parse_allow_list(" 10.20.0.0/16 , 192.168.1.7, jira.corp, *.lan ")
                .unwrap();
        assert!(policy.check_ip("10.20.255.1".parse().unwrap()).is_ok());
        assert!(policy.check_ip("::ffff:10.20.0.9".parse().unwrap()).is_ok());
        assert_eq!(
            policy.check_ip("10.21.0.1".parse().unwrap()),
            Err(ForbiddenRange::Private)
        );
        assert!(policy.check_ip("192.168.1.7".parse().unwrap()).is_ok());
        assert!(policy.check_ip("192.168.1.8".parse().unwrap()).is_err());
        assert!(policy.allows_host("jira.corp"));
        assert!(policy.allows_host("Jira.Corp."));
        assert!(!policy.allows_host("evil-jira.corp"));
        assert!(policy.allows_host("mattermost.lan"));
        assert!(!policy.allows_host("lan"));
        assert!(!policy.allows_host("evillan"));
        assert_eq!(
            DestinationPolicy::parse_allow_list("10.0.0.0/8, not a host!"),
            Err(DestinationPolicyError::InvalidEntry("not a host!".into()))
        );
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_forbidden_addresses_is_refused_and_mixed_answers_are_filtered()
     {
        let lookup = StaticLookup::new()
            .with("internal.example", ["10.0.0.5".parse().unwrap()])
            .with(
                "mixed.example",
                [
                    "169.254.169.254".parse().unwrap(),
                    "8.8.8.8".parse().unwrap(),
                ],
            );
        let policy = DestinationPolicy::default();
        let url = url::Url::parse("https://internal.example/hook/secret").unwrap();
        let refusal = policy.check_url_resolved(&url, &lookup).await.unwrap_err();
        assert_eq!(refusal.rule, ForbiddenRange::Private);
        assert!(!refusal.to_string().contains("secret"));
        assert_eq!(
            policy
                .permitted(
                    "mixed.example",
                    lookup.lookup("mixed.example").await.unwrap()
                )
                .unwrap(),
            vec!["8.8.8.8".parse::<IpAddr>().unwrap()]
        );
    }
}
