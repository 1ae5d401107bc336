//! Headers and their ten wire types.

use bytes::Bytes;
use bytestring::ByteString;
use core::fmt;

/// The largest string or byte array value the wire format allows: 32,767 bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 32_767;
/// The largest header name the wire format allows: 255 bytes (names are never empty).
pub const MAX_HEADER_NAME_LEN: usize = 255;

/// A header value, one variant per wire type.
///
/// The wire has ten type codes; `Bool` covers two of them (0 for `true`, 1 for `false`).
/// `Bytes` and `String` values decoded from a frame are views into that frame's buffer, not copies.
///
/// ```
/// use eventstream::frame::HeaderValue;
///
/// let v = HeaderValue::from("Chunk");
/// assert_eq!(v.as_str(), Some("Chunk"));
/// assert_eq!(v.type_name(), "string");
/// assert_eq!(HeaderValue::from(7i32).as_int(), Some(7));
/// assert_eq!(HeaderValue::Timestamp(1_700_000_000_000).type_code(), 8);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum HeaderValue {
    /// Type codes 0 (`true`) and 1 (`false`); no value bytes.
    Bool(bool),
    /// Type code 2: a signed 8-bit integer.
    Byte(i8),
    /// Type code 3: a signed 16-bit integer, big-endian.
    Short(i16),
    /// Type code 4: a signed 32-bit integer, big-endian.
    Int(i32),
    /// Type code 5: a signed 64-bit integer, big-endian.
    Long(i64),
    /// Type code 6: a byte array of at most 32,767 bytes (u16 length prefix).
    Bytes(Bytes),
    /// Type code 7: a UTF-8 string of at most 32,767 bytes (u16 length prefix), validated once.
    String(ByteString),
    /// Type code 8: milliseconds since the Unix epoch, big-endian `i64`.
    Timestamp(i64),
    /// Type code 9: a UUID, 16 bytes.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The wire type code: 0 to 9.
    pub const fn type_code(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Short(_) => 3,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) => 5,
            HeaderValue::Bytes(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }

    /// The type's name, as used in the JSON Lines format of the `evs` tool: `bool`, `byte`,
    /// `short`, `int`, `long`, `bytes`, `string`, `timestamp` or `uuid`.
    pub const fn type_name(&self) -> &'static str {
        match self {
            HeaderValue::Bool(_) => "bool",
            HeaderValue::Byte(_) => "byte",
            HeaderValue::Short(_) => "short",
            HeaderValue::Int(_) => "int",
            HeaderValue::Long(_) => "long",
            HeaderValue::Bytes(_) => "bytes",
            HeaderValue::String(_) => "string",
            HeaderValue::Timestamp(_) => "timestamp",
            HeaderValue::Uuid(_) => "uuid",
        }
    }

    /// How many bytes the value takes on the wire, type code included.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            HeaderValue::Bool(_) => 0,
            HeaderValue::Byte(_) => 1,
            HeaderValue::Short(_) => 2,
            HeaderValue::Int(_) => 4,
            HeaderValue::Long(_) | HeaderValue::Timestamp(_) => 8,
            HeaderValue::Bytes(b) => 2 + b.len(),
            HeaderValue::String(s) => 2 + s.len(),
            HeaderValue::Uuid(_) => 16,
        }
    }

    /// A string value without copying a `&'static str`.
    pub const fn from_static(value: &'static str) -> Self {
        HeaderValue::String(ByteString::from_static(value))
    }

    /// The value of a `Bool`.
    pub const fn as_bool(&self) -> Option<bool> {
        match self {
            HeaderValue::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Byte`.
    pub const fn as_byte(&self) -> Option<i8> {
        match self {
            HeaderValue::Byte(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Short`.
    pub const fn as_short(&self) -> Option<i16> {
        match self {
            HeaderValue::Short(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of an `Int`.
    pub const fn as_int(&self) -> Option<i32> {
        match self {
            HeaderValue::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Long`.
    pub const fn as_long(&self) -> Option<i64> {
        match self {
            HeaderValue::Long(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Bytes` (a byte array).
    pub const fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            HeaderValue::Bytes(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a `Timestamp`, in milliseconds since the Unix epoch.
    pub const fn as_timestamp(&self) -> Option<i64> {
        match self {
            HeaderValue::Timestamp(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a `Uuid`.
    pub const fn as_uuid(&self) -> Option<&[u8; 16]> {
        match self {
            HeaderValue::Uuid(v) => Some(v),
            _ => None,
        }
    }
}

/// Shows scalar values and short strings; byte arrays and long strings show only their length.
impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::Bool(v) => write!(f, "Bool({v})"),
            HeaderValue::Byte(v) => write!(f, "Byte({v})"),
            HeaderValue::Short(v) => write!(f, "Short({v})"),
            HeaderValue::Int(v) => write!(f, "Int({v})"),
            HeaderValue::Long(v) => write!(f, "Long({v})"),
            HeaderValue::Bytes(v) => write!(f, "Bytes(len={})", v.len()),
            HeaderValue::String(v) if v.len() <= 64 => write!(f, "String({:?})", &**v),
            HeaderValue::String(v) => write!(f, "String(len={})", v.len()),
            HeaderValue::Timestamp(v) => write!(f, "Timestamp({v}ms)"),
            HeaderValue::Uuid(_) => write!(f, "Uuid(..)"),
        }
    }
}

macro_rules! from_scalar {
    ($($t:ty => $variant:ident),* $(,)?) => {$(
        impl From<$t> for HeaderValue {
            fn from(value: $t) -> Self {
                HeaderValue::$variant(value)
            }
        }
    )*};
}

from_scalar! {
    bool => Bool,
    i8 => Byte,
    i16 => Short,
    i32 => Int,
    i64 => Long,
    Bytes => Bytes,
    ByteString => String,
    [u8; 16] => Uuid,
}

impl From<&str> for HeaderValue {
    fn from(value: &str) -> Self {
        HeaderValue::String(ByteString::from(value))
    }
}

impl From<alloc::string::String> for HeaderValue {
    fn from(value: alloc::string::String) -> Self {
        HeaderValue::String(ByteString::from(value))
    }
}

/// One header: a name and a value. A message keeps its headers in wire order, and names may repeat.
///
/// ```
/// use eventstream::frame::{Header, HeaderValue};
///
/// let h = Header::new(":event-type", "Chunk");
/// assert_eq!(h.name(), ":event-type");
/// assert_eq!(h.value(), &HeaderValue::from("Chunk"));
/// assert_eq!(h.encoded_len(), 1 + 11 + 1 + 2 + 5);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Header {
    name: ByteString,
    value: HeaderValue,
}

impl Header {
    /// A header from a name and anything that converts into a value.
    ///
    /// Names from a `&str` are copied once; use [`Header::from_static`] or pass a
    /// [`ByteString`] to avoid it. The name's length (1 to 255 bytes) is checked when the message
    /// is encoded.
    pub fn new(name: impl Into<ByteString>, value: impl Into<HeaderValue>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// A header whose name is a `&'static str`, without copying it.
    pub fn from_static(name: &'static str, value: impl Into<HeaderValue>) -> Self {
        Header {
            name: ByteString::from_static(name),
            value: value.into(),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header's name as a shared [`ByteString`] (a view into the decoded frame).
    pub fn name_bytes(&self) -> &ByteString {
        &self.name
    }

    /// The header's value.
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }

    /// Replaces the value.
    pub fn set_value(&mut self, value: impl Into<HeaderValue>) {
        self.value = value.into();
    }

    /// The name and the value.
    pub fn into_parts(self) -> (ByteString, HeaderValue) {
        (self.name, self.value)
    }

    /// How many bytes the header takes on the wire: name length byte, name, type code, value.
    pub fn encoded_len(&self) -> usize {
        1 + self.name.len() + self.value.encoded_len()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:?}", &*self.name, self.value)
    }
}
