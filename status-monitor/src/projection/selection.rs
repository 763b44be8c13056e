//! `VMI_LABEL_SELECTOR`: the Kubernetes label selector syntax (`a=b`, `a==b`,
//! `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a`, `!a`, comma-separated, all of
//! them required) read into kube's [`Selector`], which both sends it to the API
//! server with the watch and matches manifests' labels locally.

use std::collections::BTreeSet;

use kube::core::{Expression, Selector};

/// The selector of `text`; `None` when it is empty (every VMI).
pub fn parse_selector(text: &str) -> Result<Option<Selector>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let expressions = requirements(text)?
        .into_iter()
        .map(parse_requirement)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(expressions.into_iter().collect()))
}

/// The comma-separated requirements; commas inside `( )` belong to a set.
fn requirements(text: &str) -> Result<Vec<&str>, String> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(requirement: &str) -> Result<Expression, String> {
    let requirement = requirement.trim();
    if requirement.is_empty() {
        return Err("an empty requirement (a stray comma?)".into());
    }
    if let Some(key) = requirement.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key)?));
    }
    if let Some(open) = requirement.find('(') {
        let (head, set) = requirement.split_at(open);
        let mut words = head.split_whitespace();
        let (key, operator) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if words.next().is_some() {
            return Err(format!(
                "{requirement:?}: expected `key in (...)` or `key notin (...)`"
            ));
        }
        let values = set_of(set)?;
        return match operator {
            "in" => Ok(Expression::In(key_of(key)?, values)),
            "notin" => Ok(Expression::NotIn(key_of(key)?, values)),
            _ => Err(format!(
                "{requirement:?}: expected `in` or `notin`, not {operator:?}"
            )),
        };
    }
    for (operator, negated) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = requirement.split_once(operator) {
            let (key, value) = (key_of(key)?, value_of(value)?);
            return Ok(if negated {
                Expression::NotEqual(key, value)
            } else {
                Expression::Equal(key, value)
            });
        }
    }
    if requirement.contains(['<', '>']) {
        return Err(format!(
            "{requirement:?}: `<` and `>` do not apply to labels here"
        ));
    }
    Ok(Expression::Exists(key_of(requirement)?))
}

/// `(a, b)`: the values of a set, at least one.
fn set_of(text: &str) -> Result<BTreeSet<String>, String> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("{text:?}: a set is `(value, ...)`"))?;
    let values = inner
        .split(',')
        .map(value_of)
        .collect::<Result<BTreeSet<_>, _>>()?;
    if inner.trim().is_empty() {
        return Err("an empty set".into());
    }
    Ok(values)
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name.
fn key_of(text: &str) -> Result<String, String> {
    let key = text.trim();
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let is_subdomain = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !is_subdomain {
            return Err(format!("{key:?}: the key's prefix is not a DNS subdomain"));
        }
    }
    if name.is_empty() || !is_label_value(name) {
        return Err(format!(
            "{key:?}: a key's name is 1-63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
        ));
    }
    Ok(key.to_owned())
}

/// A label value: empty, or like a key's name.
fn value_of(text: &str) -> Result<String, String> {
    let value = text.trim();
    if value.is_empty() || is_label_value(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?}: a value is at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric"
        ))
    }
}

fn is_label_value(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use kube::core::SelectorExt;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn selects(selector: &str, pairs: &[(&str, &str)]) -> bool {
        parse_selector(selector)
            .unwrap()
            .unwrap()
            .matches(&labels(pairs))
    }

    #[test]
    fn every_operator_of_the_kubernetes_syntax() {
        assert!(selects("dns=on", &[("dns", "on")]));
        assert!(selects("dns==on", &[("dns", "on")]));
        assert!(!selects("dns=on", &[("dns", "off")]));
        assert!(selects("dns!=off", &[]));
        assert!(selects("tier in (web, db)", &[("tier", "db")]));
        assert!(!selects("tier in (web,db)", &[]));
        assert!(selects("tier notin (web,db)", &[]));
        assert!(selects("example.com/dns", &[("example.com/dns", "")]));
        assert!(selects("!legacy", &[]));
        assert!(selects("note=", &[("note", "")]), "an empty value");
        assert!(selects("note!=", &[("note", "x")]));
        let prefix = [63, 63, 63, 61].map(|n| "p".repeat(n)).join(".");
        assert_eq!(prefix.len(), 253);
        let longest = format!("{prefix}/{}", "k".repeat(63));
        assert!(selects(&longest, &[(longest.as_str(), "v")]));
        assert!(!selects("!legacy", &[("legacy", "1")]));
        assert!(selects(
            " dns=on , tier in (web,db),!legacy ",
            &[("dns", "on"), ("tier", "web")]
        ));
    }

    #[test]
    fn it_is_sent_to_the_api_server_in_canonical_form() {
        let selector = parse_selector("tier in (web, db),dns==on")
            .unwrap()
            .unwrap();
        assert_eq!(selector.to_string(), "tier in (db,web),dns=on");
    }

    #[test]
    fn empty_selects_everything_and_bad_syntax_says_why() {
        assert_eq!(parse_selector("  ").unwrap(), None);
        for (bad, why) in [
            ("dns=on,", "empty requirement"),
            ("tier in (web", "parentheses"),
            ("tier in ()", "empty set"),
            ("tier within (a)", "`in` or `notin`"),
            ("Bad Key=1", "key's name"),
            ("-dns=on", "key's name"),
            ("UPPER.example.com/x=1", "prefix"),
            ("dns=on off", "value"),
            ("size>3", "do not apply"),
            (&format!("k={}", "v".repeat(64)), "value"),
            ("=on", "key's name"),
            ("in (a)", "`in` or `notin`"),
            ("a=b=c", "value"),
            ("dns€=on", "key's name"),
            ("dns=on\nevil", "value"),
            (&format!("{}/k=v", "p".repeat(254)), "prefix"),
            ("example.com/=v", "key's name"),
            ("a in (x),,b", "empty requirement"),
            ("a in (x))", "parentheses"),
        ] {
            let error = parse_selector(bad).expect_err(bad);
            assert!(error.contains(why), "{bad:?}: {error}");
        }
    }
}
