//! Domain names as types: a validated [`Label`] and the zone [`Origin`].
//!
//! Everything that ends up in the zone file as a name goes through [`Label::new`],
//! so nothing a tenant puts into an object can inject zone-file syntax.

use std::fmt;
use std::sync::Arc;

/// The longest label RFC 1035 allows, in octets.
pub const MAX_LABEL_LEN: usize = 63;
/// The longest name in presentation form without the final dot (255 octets on the wire).
pub const MAX_NAME_LEN: usize = 253;

/// Why a string is not a valid label or name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is empty")]
    Empty,
    #[error("is {0} octets long, more than the {MAX_LABEL_LEN} a DNS label allows")]
    LabelTooLong(usize),
    #[error("contains {0:?}; a DNS label holds only a-z, 0-9 and inner '-'")]
    InvalidCharacter(char),
    #[error("starts or ends with '-'")]
    EdgeHyphen,
    #[error("makes a name of {0} octets, more than the {MAX_NAME_LEN} DNS allows")]
    NameTooLong(usize),
}

/// One lower-case RFC 1035/1123 label: `[a-z0-9]`, inner `-`, 1 to 63 octets.
///
/// Upper case is rejected rather than folded: Kubernetes names are lower case, so an
/// upper-case name is a sign of an object we do not understand.
/// Cloning is cheap (a shared string), which keeps 100k namespaces small.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(Arc<str>);

impl Label {
    pub fn new(text: &str) -> Result<Self, NameError> {
        validate_label(text)?;
        Ok(Self(Arc::from(text)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Octets of the label; never zero, so no `is_empty`.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

fn validate_label(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::InvalidCharacter(bad));
    }
    if text.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong(text.len()));
    }
    if text.starts_with('-') || text.ends_with('-') {
        return Err(NameError::EdgeHyphen);
    }
    Ok(())
}

/// Shares the labels that repeat across VMs (namespaces, network names), so that
/// 100k VMs in 100 namespaces hold 100 namespace strings, not 100k.
#[derive(Default, Debug)]
pub struct LabelInterner {
    labels: std::collections::HashSet<Label>,
}

impl LabelInterner {
    /// The shared label for `text`, validated like [`Label::new`].
    pub fn label(&mut self, text: &str) -> Result<Label, NameError> {
        if let Some(label) = self.labels.get(text) {
            return Ok(label.clone());
        }
        let label = Label::new(text)?;
        self.labels.insert(label.clone());
        Ok(label)
    }

    /// Forgets the labels nothing else holds any more (deleted namespaces).
    pub fn forget_unused(&mut self) {
        self.labels.retain(|label| Arc::strong_count(&label.0) > 1);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.labels.len()
    }
}

impl std::borrow::Borrow<str> for Label {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// A zone apex, kept as labels: the forward zone's `vm.` or `vm.<DOMAIN>.`, or a
/// reverse zone's `….in-addr.arpa.` / `….ip6.arpa.`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Origin {
    labels: Vec<Label>,
    /// The absolute form (`vm.example.com.`), made once: the render loops
    /// write it after every PTR target.
    text: Arc<str>,
}

/// `vm.`: the origin for an empty `DOMAIN`.
impl Default for Origin {
    fn default() -> Self {
        Self::new(vec![Label(Arc::from(FORWARD_LABEL))])
    }
}

/// The first label of every forward zone.
const FORWARD_LABEL: &str = "vm";

impl Origin {
    fn new(labels: Vec<Label>) -> Self {
        let mut text = String::new();
        for label in &labels {
            text.push_str(label.as_str());
            text.push('.');
        }
        Self {
            labels,
            text: text.into(),
        }
    }

    /// Absolute form with the final dot: `vm.example.com.`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The origin for `DOMAIN`: `vm.` when empty, `vm.<domain>.` otherwise.
    /// A trailing dot is accepted and upper case is folded (DNS names are
    /// case-insensitive and operators write `Example.COM`).
    pub fn for_domain(domain: &str) -> Result<Self, NameError> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut labels = vec![Label::new(FORWARD_LABEL)?];
        if !domain.is_empty() {
            for part in domain.split('.') {
                labels.push(Label::new(part)?);
            }
        }
        let origin = Self::new(labels);
        let len = origin.text_len();
        if len > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(len));
        }
        Ok(origin)
    }

    /// Any zone name an operator gives (the catalog zone's): labels as
    /// [`Label::new`] takes them, at least one, a trailing dot and upper case
    /// accepted as in [`Self::for_domain`].
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        let labels = text
            .split('.')
            .map(Label::new)
            .collect::<Result<Vec<_>, _>>()?;
        let origin = Self::new(labels);
        let len = origin.text_len();
        if len > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(len));
        }
        Ok(origin)
    }

    /// Whether this name is `other` or a name below it.
    pub fn is_at_or_below(&self, other: &Origin) -> bool {
        self.labels.ends_with(&other.labels)
    }

    /// An origin from labels already validated and short enough (reverse zones).
    pub(crate) fn from_labels(labels: Vec<Label>) -> Self {
        Self::new(labels)
    }

    /// The origin one label below this one: a namespace's zone
    /// `<namespace>.vm.<DOMAIN>.`. Its length is not checked: every name of
    /// a VM in that namespace is longer, and was checked with [`Self::check_fits`].
    pub fn child(&self, label: &Label) -> Self {
        let mut labels = Vec::with_capacity(self.labels.len() + 1);
        labels.push(label.clone());
        labels.extend(self.labels.iter().cloned());
        Self::new(labels)
    }

    /// Length of the origin in presentation form without the final dot.
    pub fn text_len(&self) -> usize {
        self.labels.iter().map(Label::len).sum::<usize>() + self.labels.len() - 1
    }

    /// Checks that `labels` (left to right, relative to this origin) make a name
    /// of at most 253 octets.
    pub fn check_fits(&self, relative: &[&Label]) -> Result<(), NameError> {
        let len = relative.iter().map(|l| l.len() + 1).sum::<usize>() + self.text_len();
        if len > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(len));
        }
        Ok(())
    }

    /// The file name CoreDNS's `auto` plugin maps to this zone: `db.<origin>`.
    pub fn file_name(&self) -> String {
        format!("db.{}", self.without_final_dot())
    }

    /// `vm.example.com` (no final dot).
    pub fn without_final_dot(&self) -> String {
        self.text.trim_end_matches('.').to_owned()
    }
}

impl fmt::Display for Origin {
    /// Absolute form with the final dot: `vm.example.com.`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The RNAME of the SOA: a mailbox as a domain name (`hostmaster.vm.example.com.`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Mailbox(String);

impl Mailbox {
    /// Accepts `user@example.com` or `user.example.com` (trailing dot optional).
    /// The local part must be a single label, so no escaping is ever needed.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Some((local, _)) = text.split_once('@') {
            // `first.last@` would need `first\.last`: keep RNAME free of escapes.
            Label::new(local)?;
        }
        let dotted = text.replacen('@', ".", 1);
        let labels = dotted
            .split('.')
            .map(Label::new)
            .collect::<Result<Vec<_>, _>>()?;
        let len = dotted.len();
        if len > MAX_NAME_LEN {
            return Err(NameError::NameTooLong(len));
        }
        if labels.len() < 2 {
            return Err(NameError::Empty);
        }
        Ok(Self(format!("{dotted}.")))
    }

    /// `hostmaster.<origin>`, the conventional default.
    pub fn hostmaster(origin: &Origin) -> Self {
        Self(format!("hostmaster.{origin}"))
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_origin_is_the_one_of_an_empty_domain() {
        assert_eq!(Origin::default(), Origin::for_domain("").unwrap());
        assert_eq!(Origin::default().as_str(), "vm.");
    }

    #[test]
    fn accepts_lower_case_ldh_labels() {
        for ok in ["a", "eth0", "net-1", "0abc", &"a".repeat(63)] {
            assert!(Label::new(ok).is_ok(), "{ok:?} should be valid");
        }
    }

    #[test]
    fn rejects_anything_that_could_leak_zone_syntax() {
        let cases = [
            ("", NameError::Empty),
            ("a.b", NameError::InvalidCharacter('.')),
            ("under_score", NameError::InvalidCharacter('_')),
            ("Upper", NameError::InvalidCharacter('U')),
            ("sp ace", NameError::InvalidCharacter(' ')),
            ("semi;colon", NameError::InvalidCharacter(';')),
            ("$ORIGIN", NameError::InvalidCharacter('$')),
            ("new\nline", NameError::InvalidCharacter('\n')),
            ("@", NameError::InvalidCharacter('@')),
            ("*", NameError::InvalidCharacter('*')),
            ("é", NameError::InvalidCharacter('é')),
            ("-lead", NameError::EdgeHyphen),
            ("trail-", NameError::EdgeHyphen),
            (&"a".repeat(64), NameError::LabelTooLong(64)),
        ];
        for (text, expected) in cases {
            assert_eq!(Label::new(text).err(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn the_interner_shares_labels_and_forgets_unused_ones() {
        let mut interner = LabelInterner::default();
        let a = interner.label("tenant").unwrap();
        let b = interner.label("tenant").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(interner.label("Bad"), Err(NameError::InvalidCharacter('B')));
        drop((a, b));
        let kept = interner.label("kept").unwrap();
        interner.forget_unused();
        assert_eq!(interner.len(), 1, "only the label still in use");
        drop(kept);
    }

    #[test]
    fn origin_is_vm_under_the_domain() {
        assert_eq!(Origin::for_domain("").unwrap().to_string(), "vm.");
        assert_eq!(
            Origin::for_domain("Example.com.").unwrap().to_string(),
            "vm.example.com."
        );
        assert_eq!(
            Origin::for_domain("example.com").unwrap().file_name(),
            "db.vm.example.com"
        );
        assert_eq!(Origin::for_domain("").unwrap().file_name(), "db.vm");
    }

    #[test]
    fn origin_rejects_bad_domains() {
        assert!(Origin::for_domain("exa mple.com").is_err());
        assert!(Origin::for_domain("a..b").is_err());
        assert!(Origin::for_domain("x;y").is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(matches!(
            Origin::for_domain(&long),
            Err(NameError::NameTooLong(_))
        ));
    }

    #[test]
    fn any_zone_name_parses_and_knows_what_it_is_below() {
        let catalog = Origin::parse("Catalog.Example.com.").unwrap();
        assert_eq!(catalog.to_string(), "catalog.example.com.");
        assert_eq!(catalog.file_name(), "db.catalog.example.com");
        for bad in ["", ".", "a..b", "x;y", "under_score.example"] {
            assert!(Origin::parse(bad).is_err(), "{bad:?}");
        }
        let forward = Origin::for_domain("example.com").unwrap();
        assert!(
            Origin::parse("vm.example.com")
                .unwrap()
                .is_at_or_below(&forward)
        );
        assert!(
            Origin::parse("a.vm.example.com")
                .unwrap()
                .is_at_or_below(&forward)
        );
        assert!(!catalog.is_at_or_below(&forward));
        assert!(
            !Origin::parse("xvm.example.com")
                .unwrap()
                .is_at_or_below(&forward)
        );
        assert!(!forward.is_at_or_below(&Origin::parse("a.vm.example.com").unwrap()));
    }

    #[test]
    fn check_fits_counts_octets_of_the_whole_name() {
        // vm. + 3 labels of 63 (+ dots) = 2 + 3*64 = 194: fits; a fourth label does not.
        let origin = Origin::for_domain("").unwrap();
        let l = Label::new(&"a".repeat(63)).unwrap();
        assert!(origin.check_fits(&[&l, &l, &l]).is_ok());
        assert_eq!(
            origin.check_fits(&[&l, &l, &l, &l]),
            Err(NameError::NameTooLong(258))
        );
    }

    #[test]
    fn mailbox_accepts_email_or_dotted_form() {
        assert_eq!(
            Mailbox::parse("admin@example.com").unwrap().to_string(),
            "admin.example.com."
        );
        assert_eq!(
            Mailbox::parse("admin.example.com.").unwrap().to_string(),
            "admin.example.com."
        );
        assert_eq!(
            Mailbox::parse("first.last@example.com"),
            Err(NameError::InvalidCharacter('.'))
        );
        assert!(Mailbox::parse("a b@example.com").is_err());
        assert!(Mailbox::parse("root").is_err());
    }
}
