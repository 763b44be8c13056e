//! Splits a JSON manifest into the items of its list and the rest of the
//! document, as text, so that each piece is parsed from a slice.
//!
//! Why by hand: serde_json reading from an `io::Read` takes the bytes one by
//! one (slow: BENCHMARKS.md, `render`), and from a slice it needs the whole
//! file in memory. Finding where a value ends
//! only takes counting brackets outside strings. The pieces are not checked
//! here: each one is then parsed in full, so a file is accepted only if it is
//! valid JSON, and only one item (or top-level member) is held at a time.

use std::io::Read;

use serde::de::Error as _;

/// Bytes read at a time (more for a value longer than that).
const READ_SIZE: usize = 1 << 20;

/// Hands `on_piece` every item of the document's top-level `items` array, in
/// order, then the document itself with `"items": []` in their place. The
/// elements of a top-level array are checked and dropped (a document that is
/// an array holds no object). The first error from `on_piece` stops the split.
pub fn split_json(
    reader: impl Read,
    on_piece: impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    split_with(Window::new(reader, READ_SIZE), on_piece)
}

fn split_with<R: Read>(
    mut window: Window<R>,
    mut on_piece: impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    match window.peek()? {
        Some(b'{') => {
            window.pos += 1;
            let rest = object_members(&mut window, &mut on_piece)?;
            on_piece(&rest)?;
        }
        Some(b'[') => {
            window.pos += 1;
            // A Value, not IgnoredAny: only the former checks UTF-8.
            elements(&mut window, |element| {
                serde_json::from_slice::<serde_json::Value>(element).map(drop)
            })?;
            on_piece(b"[]")?;
        }
        Some(_) => {
            let value = window.value()?;
            on_piece(value)?;
        }
        None => return Err(window.error("the file holds no JSON value")),
    }
    match window.peek()? {
        None => Ok(()),
        Some(_) => Err(window.error("trailing characters after the JSON value")),
    }
}

/// The members of the object whose `{` was just read, but for the items of
/// `items`, which go to `on_piece`: the object's text without them.
fn object_members<R: Read>(
    window: &mut Window<R>,
    on_piece: &mut impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<Vec<u8>, serde_json::Error> {
    let mut rest = b"{".to_vec();
    if window.peek()? == Some(b'}') {
        window.pos += 1;
        rest.push(b'}');
        return Ok(rest);
    }
    loop {
        if window.peek()? != Some(b'"') {
            return Err(window.error("expected a member name"));
        }
        let key = window.value()?.to_vec();
        window.expect(b':')?;
        rest.extend_from_slice(&key);
        rest.push(b':');
        if key == b"\"items\"" && window.peek()? == Some(b'[') {
            window.pos += 1;
            elements(window, &mut *on_piece)?;
            rest.extend_from_slice(b"[]");
        } else {
            rest.extend_from_slice(window.value()?);
        }
        match window.peek()? {
            Some(b',') => rest.push(b','),
            Some(b'}') => {
                window.pos += 1;
                rest.push(b'}');
                return Ok(rest);
            }
            _ => return Err(window.error("expected `,` or `}` after a member")),
        }
        window.pos += 1;
    }
}

/// The elements of the array whose `[` was just read, each to `on_element`.
fn elements<R: Read>(
    window: &mut Window<R>,
    mut on_element: impl FnMut(&[u8]) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    if window.peek()? == Some(b']') {
        window.pos += 1;
        return Ok(());
    }
    loop {
        on_element(window.value()?)?;
        match window.peek()? {
            Some(b',') => window.pos += 1,
            Some(b']') => {
                window.pos += 1;
                return Ok(());
            }
            _ => return Err(window.error("expected `,` or `]` after an element")),
        }
    }
}

/// The part of the file being looked at: bytes before `pos` are done with.
struct Window<R> {
    reader: R,
    read_size: usize,
    buffer: Vec<u8>,
    pos: usize,
    /// Where `buffer` starts in the file, for messages.
    offset: usize,
    at_end: bool,
}

impl<R: Read> Window<R> {
    fn new(reader: R, read_size: usize) -> Self {
        Self {
            reader,
            read_size,
            buffer: Vec::new(),
            pos: 0,
            offset: 0,
            at_end: false,
        }
    }

    /// Reads more, dropping what is done with; false at the end of the file.
    fn fill(&mut self) -> Result<bool, serde_json::Error> {
        if self.at_end {
            return Ok(false);
        }
        self.buffer.drain(..self.pos);
        self.offset += self.pos;
        self.pos = 0;
        // At least as much as is held, so a long value is read in O(n).
        let wanted = self.read_size.max(self.buffer.len());
        let read = (&mut self.reader)
            .take(wanted as u64)
            .read_to_end(&mut self.buffer)
            .map_err(serde_json::Error::io)?;
        self.at_end = read == 0;
        Ok(!self.at_end)
    }

    /// The next byte that is not whitespace, left unread; None at the end.
    fn peek(&mut self) -> Result<Option<u8>, serde_json::Error> {
        loop {
            while let Some(&byte) = self.buffer.get(self.pos) {
                if !matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(byte));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads `byte`, after whitespace.
    fn expect(&mut self, byte: u8) -> Result<(), serde_json::Error> {
        if self.peek()? != Some(byte) {
            return Err(self.error(&format!("expected `{}`", byte as char)));
        }
        self.pos += 1;
        Ok(())
    }

    /// The text of the value that starts at the next byte, which is then read.
    fn value(&mut self) -> Result<&[u8], serde_json::Error> {
        self.peek()?;
        let mut scan = ValueEnd::default();
        let len = loop {
            if let Some(len) = scan.find(&self.buffer[self.pos..]) {
                break len;
            }
            let scanned = self.buffer.len() - self.pos;
            if !self.fill()? {
                // A number or a literal may end the file.
                match scan.at_file_end(scanned) {
                    Some(len) => break len,
                    None => return Err(self.error("the file ends inside a value")),
                }
            }
        };
        let start = self.pos;
        self.pos += len;
        Ok(&self.buffer[start..self.pos])
    }

    fn error(&self, what: &str) -> serde_json::Error {
        serde_json::Error::custom(format_args!("{what} at byte {}", self.offset + self.pos))
    }
}

/// The bytes that open or close a string, an object or an array.
static STRUCTURAL: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table
};

/// Where a value ends, found across reads.
#[derive(Default)]
struct ValueEnd {
    /// How far the value has been scanned.
    scanned: usize,
    depth: usize,
    in_string: bool,
}

impl ValueEnd {
    /// The length of the value at the start of `text` (which grows between
    /// calls), if it ends in `text`.
    fn find(&mut self, text: &[u8]) -> Option<usize> {
        let mut at = self.scanned;
        while at < text.len() {
            if self.in_string {
                // Strings are most of a manifest: skip to the next quote or escape.
                match memchr::memchr2(b'"', b'\\', &text[at..]) {
                    Some(found) if text[at + found] == b'\\' => at += found + 2,
                    Some(found) => {
                        at += found + 1;
                        self.in_string = false;
                        if self.depth == 0 {
                            return Some(at);
                        }
                    }
                    None => at = text.len(),
                }
                continue;
            }
            if self.depth > 0 {
                // Inside brackets only quotes and brackets matter.
                match text[at..]
                    .iter()
                    .position(|&byte| STRUCTURAL[usize::from(byte)])
                {
                    Some(skipped) => at += skipped,
                    None => {
                        at = text.len();
                        break;
                    }
                }
            }
            match text[at] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(at + 1);
                    }
                }
                // A number or literal ends at the first delimiter.
                b'}' | b']' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' if self.depth == 0 => {
                    return Some(at);
                }
                _ => {}
            }
            at += 1;
        }
        // An escape's second byte may not have been read yet.
        self.scanned = at;
        None
    }

    /// The value's length if the file ends after `scanned` bytes of it.
    fn at_file_end(&self, scanned: usize) -> Option<usize> {
        (self.depth == 0 && !self.in_string && scanned > 0).then_some(scanned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of `text`, read `read_size` bytes at a time.
    fn pieces(text: &str, read_size: usize) -> Result<Vec<String>, String> {
        let mut pieces = Vec::new();
        split_with(Window::new(text.as_bytes(), read_size), |piece| {
            pieces.push(String::from_utf8_lossy(piece).into_owned());
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok(pieces)
    }

    /// The same pieces, whatever the size of the reads.
    fn split(text: &str) -> Result<Vec<String>, String> {
        let whole = pieces(text, READ_SIZE);
        for read_size in [1, 2, 3, 7] {
            assert_eq!(pieces(text, read_size), whole, "read {read_size} at a time");
        }
        whole
    }

    #[test]
    fn a_list_gives_its_items_then_the_rest_with_an_empty_items() {
        let text = r#"{
            "apiVersion": "v1",
            "items": [ {"a": [1, {"b": "]}"}]}, {"c": "\"{["} , 7, "x\\"],
            "kind": "List", "metadata": {}
        }"#;
        assert_eq!(
            split(text).unwrap(),
            [
                r#"{"a": [1, {"b": "]}"}]}"#,
                r#"{"c": "\"{["}"#,
                "7",
                r#""x\\""#,
                r#"{"apiVersion":"v1","items":[],"kind":"List","metadata":{}}"#,
            ]
        );
    }

    #[test]
    fn a_document_without_items_is_one_piece() {
        assert_eq!(
            split(r#" {"kind": "VirtualMachineInstance", "items": null} "#).unwrap(),
            [r#"{"kind":"VirtualMachineInstance","items":null}"#]
        );
        assert_eq!(split("{ }").unwrap(), ["{}"]);
        assert_eq!(split("12").unwrap(), ["12"]);
        assert_eq!(split(r#""a b""#).unwrap(), [r#""a b""#]);
        assert_eq!(split("[{\"items\": [1]}, 2]").unwrap(), ["[]"]);
    }

    #[test]
    fn text_that_is_not_one_json_value_is_an_error_naming_the_byte() {
        for (text, error) in [
            ("", "the file holds no JSON value at byte 0"),
            ("  \n", "the file holds no JSON value at byte 3"),
            (
                r#"{"items": [{"a": 1}, {"b": "#,
                "the file ends inside a value at byte 21",
            ),
            (
                r#"{"items": [{"a": 1}"#,
                "expected `,` or `]` after an element at byte 19",
            ),
            (r#"{"a" 1}"#, "expected `:` at byte 5"),
            (
                r#"{"a": 1 "b": 2}"#,
                "expected `,` or `}` after a member at byte 8",
            ),
            (r#"{1: 2}"#, "expected a member name at byte 1"),
            (
                r#"{"a": 1} {}"#,
                "trailing characters after the JSON value at byte 9",
            ),
            ("[1 2]", "expected `,` or `]` after an element at byte 3"),
        ] {
            assert_eq!(split(text), Err(error.to_string()), "{text}");
        }
    }

    #[test]
    fn pieces_are_not_checked_here_but_elements_of_a_top_level_array_are() {
        // The reader parses every piece; an array's elements are parsed here.
        assert_eq!(
            split(r#"{"items": [{"a": tru}]}"#).unwrap()[0],
            r#"{"a": tru}"#
        );
        assert!(
            split("[{\"a\": tru}]")
                .unwrap_err()
                .contains("expected ident")
        );
        let not_utf8 = split_with(Window::new(&b"[\"\xff\"]"[..], 7), |_| Ok(()));
        assert!(not_utf8.is_err(), "{not_utf8:?}");
    }

    #[test]
    fn an_error_from_a_piece_stops_the_split() {
        let mut seen = 0;
        let result = split_json(&br#"{"items": [1, 2, 3]}"#[..], |_| {
            seen += 1;
            Err(serde_json::Error::custom("stop"))
        });
        assert_eq!(result.unwrap_err().to_string(), "stop");
        assert_eq!(seen, 1);
    }
}
