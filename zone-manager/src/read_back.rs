//! Reading a zone file's serial back, as a real zone parser reads it: at
//! startup, for the file a previous run left, and for `explain`.

use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;

use crate::name::Origin;
use crate::serial::Serial;

/// Why the serial of an existing zone file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SerialReadError {
    #[error("it does not parse as a zone: {0}")]
    Parse(String),
    #[error("it has no SOA record for {0}")]
    NoSoa(String),
}

/// The SOA serial of zone-file text, parsed with a real zone parser. Only the
/// head of the file up to the SOA record is parsed when that is enough: a 100k-VM
/// zone need not be parsed whole at every start.
pub fn read_serial(content: &str, origin: &Origin) -> Result<Serial, SerialReadError> {
    head_through_soa(content)
        .and_then(|head| parse_serial(head, origin).ok())
        .map_or_else(|| parse_serial(content, origin), Ok)
}

fn parse_serial(content: &str, origin: &Origin) -> Result<Serial, SerialReadError> {
    let origin_name =
        Name::from_ascii(origin.to_string()).map_err(|e| SerialReadError::Parse(e.to_string()))?;
    let apex = LowerName::from(origin_name.clone());
    let (_, records) = Parser::new(content, None, Some(origin_name))
        .parse()
        .map_err(|e| SerialReadError::Parse(e.to_string()))?;
    records
        .iter()
        .filter(|(key, _)| key.record_type == RecordType::SOA && key.name == apex)
        .flat_map(|(_, set)| set.records_without_rrsigs())
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some(Serial::new(soa.serial)),
            _ => None,
        })
        .ok_or_else(|| SerialReadError::NoSoa(origin.to_string()))
}

/// The text up to the end of the first SOA record (its parentheses closed).
fn head_through_soa(content: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut seen_soa = false;
    let mut offset = 0;
    for line in content.split_inclusive('\n') {
        offset += line.len();
        let code = line.split(';').next().unwrap_or_default();
        seen_soa |= code
            .split_whitespace()
            .any(|word| word.eq_ignore_ascii_case("SOA"));
        depth += code.matches('(').count();
        depth = depth.saturating_sub(code.matches(')').count());
        if seen_soa && depth == 0 {
            return Some(&content[..offset]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::for_domain("example.com").unwrap()
    }

    #[test]
    fn serial_of_a_multi_line_soa_from_another_tool() {
        let text = "$TTL 60\n; a comment (with parentheses\n@ IN SOA ns.vm.example.com. admin.example.com. (\n  2026112105 ; serial\n  3600 600 86400 60 )\n@ IN NS ns\nns IN A 192.0.2.1\n";
        assert_eq!(
            read_serial(&format!("$ORIGIN vm.example.com.\n{text}"), &origin())
                .unwrap()
                .get(),
            2026112105
        );
    }

    #[test]
    fn head_through_soa_stops_after_the_soa_record() {
        let text = "$ORIGIN vm.\n@ IN SOA a. b. ( 1\n 2 3 4 5 )\nx IN A 10.0.0.1\n";
        assert_eq!(
            head_through_soa(text),
            Some("$ORIGIN vm.\n@ IN SOA a. b. ( 1\n 2 3 4 5 )\n")
        );
        assert_eq!(head_through_soa("x IN A 10.0.0.1\n"), None);
    }

    #[test]
    fn a_soa_of_another_zone_is_no_serial_of_ours() {
        let text = "$ORIGIN other.org.\n@ 30 IN SOA a. b. 7 1 1 1 1\n";
        assert!(matches!(
            read_serial(text, &origin()),
            Err(SerialReadError::NoSoa(_))
        ));
    }
}
