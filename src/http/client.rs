//! Who is at the other end: the connecting address, or, when that address is a trusted proxy,
//! the client it forwarded for. Anyone can write `X-Forwarded-For`, so it is believed only
//! from the networks in `MDL_TRUSTED_PROXIES`.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address and whether it reached the edge over TLS.
    ///
    /// `X-Forwarded-For` is read right to left: each hop appends the address it received the
    /// request from, so the rightmost entries were written by our own proxies and the first
    /// address that is not a trusted proxy is the client. Entries left of it are the client's
    /// own claims and are ignored.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> (IpAddr, bool) {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return (peer, false);
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => {
                    client = ip;
                    break;
                }
                // An unreadable entry: stop at the last address we could vouch for.
                None => break,
            }
        }
        let tls = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next_back())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        (client, tls)
    }
}

/// An `X-Forwarded-For` entry: an address, possibly bracketed or with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sock) = hop.parse::<SocketAddr>() {
        return Some(canonical(sock.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The resolved client of a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// The request reached our edge over TLS (as a trusted proxy says).
    pub tls: bool,
}

impl FromRequestParts<super::AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &super::AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let (ip, tls) = state.proxies.resolve(peer, &parts.headers);
        Ok(ClientAddr { ip, tls })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let p = proxies(&[]);
        let (ip, _) = p.resolve("203.0.113.9".parse().unwrap(), &headers("198.51.100.1"));
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        let (ip, _) = p.resolve("10.0.0.2".parse().unwrap(), &headers("1.1.1.1, 198.51.100.7, 10.0.0.3"));
        assert_eq!(ip.to_string(), "198.51.100.7");
    }

    #[test]
    fn mapped_addresses_match_ipv4_networks() {
        let p = proxies(&["127.0.0.1/32"]);
        let (ip, _) = p.resolve("::ffff:127.0.0.1".parse().unwrap(), &headers("[2001:db8::1]"));
        assert_eq!(ip.to_string(), "2001:db8::1");
    }
}
