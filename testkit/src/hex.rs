//! Hex: lowercase out, either case in.

/// Lowercase hex, two digits a byte.
///
/// ```
/// assert_eq!(eventstream_testkit::hex::to_hex(&[0x0a, 0xff]), "0aff");
/// ```
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decodes hex (either case, no separators).
///
/// # Errors
///
/// An odd number of digits, or a character that is not a hex digit.
///
/// ```
/// use eventstream_testkit::hex::from_hex;
///
/// assert_eq!(from_hex("0aFf"), Ok(vec![0x0a, 0xff]));
/// assert!(from_hex("abc").is_err());
/// ```
pub fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits: {}", hex.len()));
    }
    hex.chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(format!("not a hex digit pair at offset {}", 2 * i)),
        })
        .collect()
}

/// [`from_hex`] for literals a test trusts.
///
/// # Panics
///
/// When `hex` is not hex; the message says where.
pub fn hex(hex: &str) -> Vec<u8> {
    from_hex(hex).unwrap_or_else(|e| panic!("{hex:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_hex(&to_hex(&bytes)), Ok(bytes));
        assert_eq!(from_hex("0aFf"), Ok(vec![0x0a, 0xff]));
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
