//! What the external-dns DNSEndpoint sink publishes for one VMI: the
//! `DNSEndpoint` type (externaldns.k8s.io/v1alpha1), the annotations a VMI asks
//! with, and the endpoints they give. Pure: the API calls live in the sink (`sink.rs`).

use std::net::IpAddr;

use kube::CustomResource;
use serde::{Deserialize, Serialize};
use zone_manager::name::MAX_NAME_LEN;
use zone_manager::{Label, VmAddresses};

/// Comma-separated names the VMI's addresses are published under: ExternalDNS's
/// current annotation, then the alpha one it dropped in v0.22.0 (which users
/// still have). The current one wins when both are set.
pub const HOSTNAME_ANNOTATIONS: [&str; 2] = [
    "external-dns.kubernetes.io/hostname",
    "external-dns.alpha.kubernetes.io/hostname",
];
/// Their TTL: seconds, or a duration such as `5m` or `1h30m`; the same two
/// prefixes, in the same order.
pub const TTL_ANNOTATIONS: [&str; 2] = [
    "external-dns.kubernetes.io/ttl",
    "external-dns.alpha.kubernetes.io/ttl",
];
/// The field manager of our server-side applies, and the value of the
/// `app.kubernetes.io/managed-by` label on every DNSEndpoint we create.
pub const MANAGER: &str = "kubevirt-secondary-dns";
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The part of external-dns' DNSEndpoint we write. external-dns ships the CRD;
/// its schema is not ours to declare.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[kube(
    group = "externaldns.k8s.io",
    version = "v1alpha1",
    kind = "DNSEndpoint",
    namespaced,
    schema = "disabled"
)]
pub struct DnsEndpointSpec {
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub dns_name: String,
    pub record_type: String,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Absent: the DNS provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "recordTTL")]
    pub record_ttl: Option<i64>,
}

/// What a VMI's annotations ask for, validated; problems are reported, not fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointRequest {
    /// Valid names, lower case, without the final dot, sorted, unique.
    pub hostnames: Vec<String>,
    /// `None`: no TTL annotation, or an invalid one (the provider's default).
    pub ttl: Option<i64>,
    /// One message per rejected name or TTL, to log with the VMI's name.
    pub problems: Vec<String>,
}

impl EndpointRequest {
    /// Reads the two annotations; `None` when the VMI has no hostname annotation.
    pub fn from_annotations(hostname: Option<&str>, ttl: Option<&str>) -> Option<Self> {
        let hostname = hostname?;
        let mut problems = Vec::new();
        let mut hostnames = Vec::new();
        for name in hostname.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match validate_hostname(name) {
                Ok(name) => hostnames.push(name),
                Err(why) => problems.push(format!("hostname {name:?} {why}; left out")),
            }
        }
        hostnames.sort();
        hostnames.dedup();
        let ttl = ttl.and_then(|text| match parse_ttl(text) {
            Ok(seconds) => Some(seconds),
            Err(why) => {
                problems.push(format!(
                    "TTL {text:?} {why}; the DNS provider's default is used"
                ));
                None
            }
        });
        Some(Self {
            hostnames,
            ttl,
            problems,
        })
    }

    /// The endpoints for `vm`'s VM-level addresses (the same as
    /// `<vmi>.<namespace>` in the zone); `None` when it has no address.
    pub fn endpoints(&self, vm: Option<&VmAddresses>) -> Option<DnsEndpointSpec> {
        let (mut ipv4, mut ipv6) = (Vec::new(), Vec::new());
        for address in vm.iter().flat_map(|vm| vm.vm_name_addresses()) {
            match address {
                IpAddr::V4(_) => ipv4.push(address.to_string()),
                IpAddr::V6(_) => ipv6.push(address.to_string()),
            }
        }
        if ipv4.is_empty() && ipv6.is_empty() {
            return None;
        }
        let mut endpoints = Vec::new();
        for name in &self.hostnames {
            for (record_type, targets) in [("A", &ipv4), ("AAAA", &ipv6)] {
                if !targets.is_empty() {
                    endpoints.push(Endpoint {
                        dns_name: name.clone(),
                        record_type: record_type.to_owned(),
                        targets: targets.clone(),
                        record_ttl: self.ttl,
                    });
                }
            }
        }
        Some(DnsEndpointSpec { endpoints })
    }
}

/// A name external-dns can publish A/AAAA records at: lower-case LDH labels,
/// an optional leading `*` wildcard, at least two labels, at most 253 octets.
fn validate_hostname(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is longer than {MAX_NAME_LEN} octets"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("is not a fully qualified name".to_owned());
    }
    for (i, label) in labels.iter().enumerate() {
        if i == 0 && *label == "*" {
            continue;
        }
        Label::new(label).map_err(|e| format!("has a label {label:?} that {e}"))?;
    }
    Ok(name)
}

/// Seconds, or a duration of hours, minutes and seconds (`90s`, `5m`, `1h30m`),
/// as external-dns reads the annotation; 1 to 2147483647 seconds (RFC 2181).
fn parse_ttl(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let seconds = match text.parse::<i64>() {
        Ok(seconds) => seconds,
        Err(_) => parse_duration(text).ok_or("is neither seconds nor a duration like 5m")?,
    };
    if !(1..=i64::from(i32::MAX)).contains(&seconds) {
        return Err("is outside 1 to 2147483647 seconds".to_owned());
    }
    Ok(seconds)
}

fn parse_duration(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let value: i64 = rest[..digits].parse().ok()?;
        let unit = match rest[digits..].chars().next()? {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(value.checked_mul(unit)?)?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zone_manager::InterfaceAddresses;

    fn request(hostname: &str, ttl: Option<&str>) -> EndpointRequest {
        EndpointRequest::from_annotations(Some(hostname), ttl).unwrap()
    }

    fn vm(interfaces: &[(&str, &[&str])]) -> VmAddresses {
        let label = |s: &str| Label::new(s).unwrap();
        VmAddresses::new(
            label("lab"),
            label("web"),
            interfaces.iter().map(|(name, addresses)| {
                InterfaceAddresses::new(label(name), addresses.iter().map(|a| a.parse().unwrap()))
            }),
        )
    }

    #[test]
    fn no_hostname_annotation_asks_for_nothing() {
        assert_eq!(EndpointRequest::from_annotations(None, Some("60")), None);
    }

    #[test]
    fn names_are_validated_one_by_one() {
        let r = request(
            " web.example.com., WEB.example.com,*.apps.example.com,bad_name.example.com,single,,",
            None,
        );
        assert_eq!(r.hostnames, ["*.apps.example.com", "web.example.com"]);
        assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
        assert!(r.problems[0].contains("bad_name.example.com"));
        assert!(r.problems[1].contains("\"single\" is not a fully qualified name"));
        let long = format!("{}.com", "a.".repeat(130));
        assert!(request(&long, None).problems[0].contains("longer than 253"));
        assert!(request("a.*.example.com", None).hostnames.is_empty());
    }

    #[test]
    fn ttl_is_seconds_or_a_duration_and_invalid_means_the_default() {
        for (text, seconds) in [("60", 60), ("90s", 90), ("5m", 300), ("1h30m", 5400)] {
            assert_eq!(
                request("a.example.com", Some(text)).ttl,
                Some(seconds),
                "{text}"
            );
        }
        for bad in ["0", "-5", "soon", "5d", "1.5h", "", "99999999999"] {
            let r = request("a.example.com", Some(bad));
            assert_eq!(r.ttl, None, "{bad}");
            assert!(r.problems[0].contains("default"), "{bad}: {:?}", r.problems);
        }
    }

    #[test]
    fn endpoints_carry_the_vm_level_addresses_of_each_name() {
        let r = request("b.example.com,a.example.com", Some("120"));
        let vm = vm(&[("red", &["10.0.0.5", "fd00::5"]), ("blue", &["10.0.1.5"])]);
        let spec = r.endpoints(Some(&vm)).unwrap();
        // The VM-level name's rule: the first interface by name with IPv4 (blue),
        // the first with IPv6 (red).
        let summary: Vec<(String, String, Vec<String>, Option<i64>)> = spec
            .endpoints
            .into_iter()
            .map(|e| (e.dns_name, e.record_type, e.targets, e.record_ttl))
            .collect();
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            summary,
            [
                (
                    "a.example.com".into(),
                    "A".into(),
                    s(&["10.0.1.5"]),
                    Some(120)
                ),
                (
                    "a.example.com".into(),
                    "AAAA".into(),
                    s(&["fd00::5"]),
                    Some(120)
                ),
                (
                    "b.example.com".into(),
                    "A".into(),
                    s(&["10.0.1.5"]),
                    Some(120)
                ),
                (
                    "b.example.com".into(),
                    "AAAA".into(),
                    s(&["fd00::5"]),
                    Some(120)
                ),
            ]
        );
        assert_eq!(r.endpoints(None), None, "no address, no endpoints");
        let v4_only = request("a.example.com", None)
            .endpoints(Some(&vm_v4()))
            .unwrap();
        assert_eq!(v4_only.endpoints.len(), 1);
        assert_eq!(v4_only.endpoints[0].record_ttl, None);
    }

    fn vm_v4() -> VmAddresses {
        vm(&[("red", &["10.0.0.5"])])
    }

    #[test]
    fn the_endpoints_follow_the_interface_chosen_for_the_vm_name() {
        let label = |s: &str| Label::new(s).unwrap();
        let interfaces = [
            ("data", &["10.1.0.5", "fd00:1::5"][..]),
            ("service", &["10.2.0.5"][..]),
        ]
        .map(|(name, addresses)| {
            InterfaceAddresses::new(label(name), addresses.iter().map(|a| a.parse().unwrap()))
        });
        let chosen = VmAddresses::with_vm_name_interface(
            label("lab"),
            label("web"),
            interfaces,
            Some(&label("service")),
        );
        let spec = request("web.example.org", None)
            .endpoints(Some(&chosen))
            .unwrap();
        let targets: Vec<(&str, &[String])> = spec
            .endpoints
            .iter()
            .map(|e| (e.record_type.as_str(), e.targets.as_slice()))
            .collect();
        assert_eq!(
            targets,
            [("A", &["10.2.0.5".to_owned()][..])],
            "service's addresses only"
        );
    }

    #[test]
    fn the_applied_object_has_the_fields_external_dns_reads() {
        let spec = request("a.example.com", Some("60"))
            .endpoints(Some(&vm_v4()))
            .unwrap();
        let json = serde_json::to_value(DNSEndpoint::new("web", spec)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "externaldns.k8s.io/v1alpha1",
                "kind": "DNSEndpoint",
                "metadata": {"name": "web"},
                "spec": {"endpoints": [
                    {"dnsName": "a.example.com", "recordType": "A", "targets": ["10.0.0.5"], "recordTTL": 60}
                ]}
            })
        );
    }
}
