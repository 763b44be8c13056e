//! Short text built on the stack, for the render loops.

use std::fmt::{self, Write};

/// Short ASCII text built on the stack, for the addresses and reverse names
/// the render loops write hundreds of thousands of times, where `write!` and
/// allocation cost more than the text itself.
pub(crate) struct AsciiText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> AsciiText<N> {
    pub(crate) fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Appends one ASCII byte; beyond `N` bytes the text is cut, which the
    /// callers' sizes rule out.
    pub(crate) fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// Appends `value` in decimal, without leading zeros.
    pub(crate) fn push_decimal(&mut self, value: u8) {
        if value >= 100 {
            self.push(b'0' + value / 100);
        }
        if value >= 10 {
            self.push(b'0' + value / 10 % 10);
        }
        self.push(b'0' + value % 10);
    }

    pub(crate) fn write_to(&self, out: &mut (impl Write + ?Sized)) -> fmt::Result {
        // Only ASCII was pushed.
        out.write_str(std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| fmt::Error)?)
    }
}
