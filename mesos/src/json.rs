//! JSON conventions of Mesos' stout reader/writer: string enums with a catch-all, base64 `bytes`,
//! lenient numbers, and the `type` + payload-field unions used by `Call` and `Event`.

use std::fmt;

use base64::Engine as _;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Defines a proto enum that travels as its name string. Names this crate does not know decode to
/// `Unrecognized(name)` (a newer master must not break decoding); a JSON number is an error, as in
/// Mesos' reader.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A name this crate does not know (sent by a newer Mesos); kept verbatim.
            Unrecognized(String),
        }

        impl $name {
            /// The name Mesos uses on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )*
                    Self::Unrecognized(name) => name,
                }
            }

            /// Parses a wire name; unknown names become `Unrecognized`.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $( $wire => Self::$variant, )*
                    other => Self::Unrecognized(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = $crate::json::enum_name(d, stringify!($name))?;
                Ok(Self::from_name(&name))
            }
        }
    };
}
pub(crate) use string_enum;

/// Reads an enum name; Mesos rejects numbers for enum fields ("Not expecting a JSON number").
pub(crate) fn enum_name<'de, D: Deserializer<'de>>(
    d: D,
    what: &'static str,
) -> Result<String, D::Error> {
    struct NameVisitor(&'static str);
    impl Visitor<'_> for NameVisitor {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "the name of a {} value as a JSON string (numbers are rejected, as by Mesos)",
                self.0
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
    }
    d.deserialize_str(NameVisitor(what))
}

/// Defines a message that Mesos encodes as `{"type": "NAME", "<field>": {payload}}`: unit variants
/// (no payload), variants whose payload is required, and variants whose payload may be absent
/// (taken as empty). Generates conversion to and from a JSON object map.
macro_rules! tagged_union {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            units { $( $(#[$umeta:meta])* $unit:ident = $utag:literal, )* }
            required { $( $(#[$rmeta:meta])* $rvar:ident($rty:ty) = $rtag:literal / $rfield:literal, )* }
            optional { $( $(#[$ometa:meta])* $ovar:ident($oty:ty) = $otag:literal / $ofield:literal, )* }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        $vis enum $name {
            $( $(#[$umeta])* $unit, )*
            $( $(#[$rmeta])* $rvar($rty), )*
            $( $(#[$ometa])* $ovar($oty), )*
            /// A type this crate does not know, or `UNKNOWN`; any payload is dropped.
            Unrecognized(String),
        }

        impl $name {
            /// The `type` name on the wire.
            pub fn type_name(&self) -> &str {
                match self {
                    $( Self::$unit => $utag, )*
                    $( Self::$rvar(_) => $rtag, )*
                    $( Self::$ovar(_) => $otag, )*
                    Self::Unrecognized(name) => name,
                }
            }

            /// Writes `type` and the payload field into `map`.
            pub(crate) fn write_into(
                &self,
                map: &mut ::serde_json::Map<String, ::serde_json::Value>,
            ) -> Result<(), ::serde_json::Error> {
                map.insert("type".to_owned(), ::serde_json::Value::String(self.type_name().to_owned()));
                match self {
                    $( Self::$rvar(p) => { map.insert($rfield.to_owned(), ::serde_json::to_value(p)?); } )*
                    $( Self::$ovar(p) => { map.insert($ofield.to_owned(), ::serde_json::to_value(p)?); } )*
                    _ => {}
                }
                Ok(())
            }

            /// Reads `type` and the payload from `map`. With `strict`, a missing or unknown type
            /// is an error (what a Mesos master answers with 400); otherwise it is `Unrecognized`.
            pub(crate) fn read_from(
                map: &mut ::serde_json::Map<String, ::serde_json::Value>,
                strict: bool,
            ) -> Result<Self, String> {
                let type_name = match map.remove("type") {
                    Some(::serde_json::Value::String(s)) => Some(s),
                    None | Some(::serde_json::Value::Null) => None,
                    Some(other) => {
                        return Err(format!(
                            "expected 'type' to be a string naming the {} type, found {other}",
                            stringify!($name)
                        ))
                    }
                };
                fn payload<T: ::serde::de::DeserializeOwned>(
                    map: &mut ::serde_json::Map<String, ::serde_json::Value>,
                    field: &str,
                    required: bool,
                ) -> Result<T, String> {
                    let value = match map.remove(field) {
                        None | Some(::serde_json::Value::Null) if required => {
                            return Err(format!("expecting '{field}' to be present"));
                        }
                        None | Some(::serde_json::Value::Null) => {
                            ::serde_json::Value::Object(Default::default())
                        }
                        Some(v) => v,
                    };
                    ::serde_json::from_value(value).map_err(|e| format!("in '{field}': {e}"))
                }
                match type_name.as_deref() {
                    $( Some($utag) => Ok(Self::$unit), )*
                    $( Some($rtag) => Ok(Self::$rvar(payload(map, $rfield, true)?)), )*
                    $( Some($otag) => Ok(Self::$ovar(payload(map, $ofield, false)?)), )*
                    Some("UNKNOWN") => Ok(Self::Unrecognized("UNKNOWN".to_owned())),
                    _ if strict => Err("expecting 'type' to be present and a known call type".to_owned()),
                    Some(other) => Ok(Self::Unrecognized(other.to_owned())),
                    None => Ok(Self::Unrecognized(String::new())),
                }
            }
        }
    };
}
pub(crate) use tagged_union;

/// Raw bytes of a proto `bytes` field; JSON form is standard base64 with padding. Input also
/// accepts missing padding and embedded whitespace, never the URL-safe alphabet.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({})", base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl From<&str> for Bytes {
    fn from(v: &str) -> Self {
        Bytes(v.as_bytes().to_vec())
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

/// Decodes standard base64, tolerating missing padding and whitespace (as stout does).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(compact.trim_end_matches('='))
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        decode_base64(&text)
            .map(Bytes)
            .map_err(|e| de::Error::custom(format!("expected standard base64 bytes: {e}")))
    }
}

/// An empty proto message (`{}`), e.g. `Resource.revocable`; unknown keys are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Numbers the way stout reads them: a JSON number or a numeric string; doubles also accept
/// `"Infinity"`, `"-Infinity"` and `"NaN"`. Non-finite doubles are written as those strings.
pub(crate) trait Lenient: Sized {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

macro_rules! lenient_int {
    ($($t:ty),*) => {$(
        impl Lenient for $t {
            fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "an integer ({}) as a JSON number or numeric string", stringify!($t))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                        <$t>::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for {}", stringify!($t))))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                        <$t>::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for {}", stringify!($t))))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$t, E> {
                        if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 {
                            Ok(v as $t)
                        } else {
                            Err(E::custom(format!("{v} is not an integer in range for {}", stringify!($t))))
                        }
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$t, E> {
                        v.trim().parse().map_err(|_| E::custom(format!("'{v}' is not an integer")))
                    }
                }
                d.deserialize_any(V)
            }
            fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.serialize(s)
            }
        }
    )*};
}
lenient_int!(u64, i64, u32, i32);

impl Lenient for f64 {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a numeric string, \"Infinity\", \"-Infinity\" or \"NaN\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v.trim() {
                    "Infinity" | "inf" => Ok(f64::INFINITY),
                    "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                    "NaN" | "nan" => Ok(f64::NAN),
                    t => t.parse().map_err(|_| E::custom(format!("'{v}' is not a number"))),
                }
            }
        }
        d.deserialize_any(V)
    }
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.is_finite() {
            s.serialize_f64(*self)
        } else if self.is_nan() {
            s.serialize_str("NaN")
        } else if *self > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

impl Lenient for bool {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, \"true\" or \"false\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
                match v {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err(E::custom(format!("'{v}' is not a boolean"))),
                }
            }
        }
        d.deserialize_any(V)
    }
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(*self)
    }
}

impl<T: Lenient> Lenient for Option<T> {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Wrap<T>(T);
        impl<'de, T: Lenient> Deserialize<'de> for Wrap<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                T::read(d).map(Wrap)
            }
        }
        Ok(Option::<Wrap<T>>::deserialize(d)?.map(|w| w.0))
    }
    fn write<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => v.write(s),
            None => s.serialize_none(),
        }
    }
}

/// `#[serde(with = "crate::json::lenient")]` for numeric and boolean fields.
pub(crate) mod lenient {
    use super::Lenient;
    use serde::{Deserializer, Serializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: Lenient>(d: D) -> Result<T, D::Error> {
        T::read(d)
    }

    pub(crate) fn serialize<S: Serializer, T: Lenient>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        v.write(s)
    }
}

/// Decodes one event record. Plain JSON first: the bare non-finite tokens Mesos can write are
/// rare (`TaskInfo.limits`), so only a record that fails to parse is rescanned with
/// [`quote_non_finite`] and parsed again; when the scan changes nothing, the first error stands.
pub(crate) fn from_record<T: serde::de::DeserializeOwned>(
    record: &[u8],
) -> Result<T, serde_json::Error> {
    match serde_json::from_slice(record) {
        Ok(v) => Ok(v),
        Err(first) => match quote_non_finite(record) {
            std::borrow::Cow::Borrowed(_) => Err(first),
            std::borrow::Cow::Owned(quoted) => serde_json::from_slice(&quoted),
        },
    }
}

/// Rewrites the bare `Infinity`, `-Infinity` and `NaN` tokens that Mesos' rapidjson writer can
/// emit (e.g. `TaskInfo.limits`) into strings, so that a strict JSON parser accepts the record.
/// Text inside JSON strings is left alone. Returns the input unchanged when there is nothing to do.
///
/// A single pass that jumps over string contents to the next quote or backslash and looks for a
/// token only at `-`, `I` and `N` outside strings.
pub fn quote_non_finite(record: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out: Option<Vec<u8>> = None;
    // `record[..copied]` is already in `out` (when `out` exists).
    let mut copied = 0;
    let mut i = 0;
    while i < record.len() {
        match record[i] {
            b'"' => {
                // Skip the string: to the closing quote, stepping over escapes.
                i += 1;
                loop {
                    match record[i.min(record.len())..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\')
                    {
                        None => return finish(record, out, copied),
                        Some(p) if record[i + p] == b'\\' => i += p + 2,
                        Some(p) => {
                            i += p + 1;
                            break;
                        }
                    }
                }
            }
            b'-' | b'I' | b'N' => {
                let rest = &record[i..];
                if let Some(token) = TOKENS.into_iter().find(|t| rest.starts_with(t)) {
                    let buf = out.get_or_insert_with(|| Vec::with_capacity(record.len() + 8));
                    buf.extend_from_slice(&record[copied..i]);
                    buf.push(b'"');
                    buf.extend_from_slice(token);
                    buf.push(b'"');
                    i += token.len();
                    copied = i;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    finish(record, out, copied)
}

fn finish(record: &[u8], out: Option<Vec<u8>>, copied: usize) -> std::borrow::Cow<'_, [u8]> {
    match out {
        Some(mut buf) => {
            buf.extend_from_slice(&record[copied..]);
            std::borrow::Cow::Owned(buf)
        }
        None => std::borrow::Cow::Borrowed(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_accepts_missing_padding_and_rejects_url_safe() {
        let b: Bytes = serde_json::from_str("\"cGluZw\"").expect("unpadded");
        assert_eq!(b.as_slice(), b"ping");
        assert_eq!(serde_json::to_string(&b).expect("encode"), "\"cGluZw==\"");
        assert!(serde_json::from_str::<Bytes>("\"-_8=\"").is_err());
        let b: Bytes = serde_json::from_str("\"+/8=\"").expect("standard alphabet");
        assert_eq!(b.as_slice(), &[0xfb, 0xff]);
    }

    #[test]
    fn non_finite_tokens_are_quoted_outside_strings_only() {
        let raw = br#"{"a":Infinity,"b":-Infinity,"c":"NaN Infinity","d":NaN}"#;
        let fixed = quote_non_finite(raw);
        assert_eq!(
            std::str::from_utf8(&fixed).expect("utf8"),
            r#"{"a":"Infinity","b":"-Infinity","c":"NaN Infinity","d":"NaN"}"#
        );
        assert!(matches!(quote_non_finite(b"{\"a\":1}"), std::borrow::Cow::Borrowed(_)));
        let escaped = br#"{"a":"x\"NaN","b":NaN,"c":"\\","d":Infinity}"#;
        assert_eq!(
            std::str::from_utf8(&quote_non_finite(escaped)).expect("utf8"),
            r#"{"a":"x\"NaN","b":"NaN","c":"\\","d":"Infinity"}"#
        );
    }

    /// The first, byte-at-a-time version: the specification the fast one must match.
    fn reference(record: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut in_string, mut escaped, mut i) = (false, false, 0);
        while i < record.len() {
            let b = record[i];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            } else if let Some(t) = [&b"-Infinity"[..], b"Infinity", b"NaN"]
                .into_iter()
                .find(|t| record[i..].starts_with(t))
            {
                out.push(b'"');
                out.extend_from_slice(t);
                out.push(b'"');
                i += t.len();
                continue;
            }
            out.push(b);
            i += 1;
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, ..Default::default() })]
        #[test]
        fn the_fast_scan_matches_the_reference(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b"NaN".to_vec()),
                    proptest::strategy::Just(b"-Infinity".to_vec()),
                    proptest::strategy::Just(b"Infinity".to_vec()),
                    proptest::strategy::Just(b"\"".to_vec()),
                    proptest::strategy::Just(b"\\".to_vec()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
                ],
                0..24,
            )
        ) {
            let record: Vec<u8> = parts.concat();
            proptest::prop_assert_eq!(quote_non_finite(&record).into_owned(), reference(&record));
        }
    }
}
