//! One model of a Subsonic answer, two serialisers: an [`Element`] tree becomes XML (attributes, child elements,
//! text) or JSON (fields, objects, arrays, `value` for text) by the protocol's fixed mapping, so both formats
//! always carry the same data.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use quick_xml::{
    Writer,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event},
};
use serde::{Serialize, Serializer, ser::SerializeMap};

/// The protocol version Fermata speaks.
pub const API_VERSION: &str = "1.16.1";
/// `type` in every answer.
pub const SERVER_TYPE: &str = "fermata";
const XMLNS: &str = "http://subsonic.org/restapi";

/// A scalar: an XML attribute's text, a JSON number, string or boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// Text every XML 1.0 parser takes (see [`xml_chars`]); JSON carries the same, so both formats agree.
    fn xml_safe(self) -> Self {
        match self {
            Self::Str(s) => Self::Str(xml_chars(s)),
            other => other,
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Int(n) => n.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(s) => serializer.serialize_str(s),
            Self::Int(n) => serializer.serialize_i64(*n),
            Self::Float(f) => serializer.serialize_f64(*f),
            Self::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Self::$variant(<$as>::from(v))
            }
        })*
    };
}
value_from!(String => Str as String, &str => Str as String, i64 => Int as i64, i32 => Int as i64, i16 => Int as i64,
    u32 => Int as i64, u8 => Int as i64, bool => Bool as bool, f32 => Float as f64, f64 => Float as f64);

impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Self::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Text XML 1.0 can carry: control characters other than tab, newline and carriage return, and U+FFFE/U+FFFF,
/// are not allowed even as character references, so whatever a client stored (a player name, a comment) is
/// answered with U+FFFD in their place rather than as a document no XML client can parse. Applied as elements
/// are built, so the JSON answer carries the same text.
fn xml_chars(text: String) -> String {
    let allowed =
        |c: char| !matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if text.chars().all(allowed) {
        text
    } else {
        text.chars().map(|c| if allowed(c) { c } else { '\u{fffd}' }).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Children {
    One(Element),
    List(Vec<Element>),
    Values(Vec<Value>),
}

/// An element: attributes, optional text, named children (one, a list, or a list of scalars).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    attrs: Vec<(&'static str, Value)>,
    text: Option<String>,
    children: Vec<(&'static str, Children)>,
}

impl Element {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn attr(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.attrs.push((name, value.into().xml_safe()));
        self
    }

    /// The attribute when there is a value.
    pub fn opt<V: Into<Value>>(self, name: &'static str, value: Option<V>) -> Self {
        match value {
            Some(value) => self.attr(name, value),
            None => self,
        }
    }

    /// Text content (XML) / `value` (JSON).
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(xml_chars(text.into()));
        self
    }

    pub fn child(mut self, name: &'static str, child: Element) -> Self {
        self.children.push((name, Children::One(child)));
        self
    }

    /// Repeated elements (XML) / an array, empty or not (JSON).
    pub fn list(mut self, name: &'static str, items: impl IntoIterator<Item = Element>) -> Self {
        self.children.push((name, Children::List(items.into_iter().collect())));
        self
    }

    /// Repeated elements with text only (XML) / an array of scalars (JSON).
    pub fn values<V: Into<Value>>(mut self, name: &'static str, items: impl IntoIterator<Item = V>) -> Self {
        self.children.push((name, Children::Values(items.into_iter().map(|v| v.into().xml_safe()).collect())));
        self
    }

    fn write_xml<W: std::io::Write>(&self, name: &str, writer: &mut Writer<W>) -> std::io::Result<()> {
        let mut start = BytesStart::new(name);
        let texts: Vec<(&str, String)> = self.attrs.iter().map(|(k, v)| (*k, v.text())).collect();
        for (key, value) in &texts {
            start.push_attribute((*key, value.as_str()));
        }
        if self.text.is_none() && self.children.is_empty() {
            return writer.write_event(Event::Empty(start));
        }
        writer.write_event(Event::Start(start))?;
        if let Some(text) = &self.text {
            writer.write_event(Event::Text(BytesText::new(text)))?;
        }
        for (child_name, children) in &self.children {
            match children {
                Children::One(child) => child.write_xml(child_name, writer)?,
                Children::List(items) => {
                    for item in items {
                        item.write_xml(child_name, writer)?;
                    }
                }
                Children::Values(values) => {
                    for value in values {
                        writer.write_event(Event::Start(BytesStart::new(*child_name)))?;
                        writer.write_event(Event::Text(BytesText::new(&value.text())))?;
                        writer.write_event(Event::End(BytesEnd::new(*child_name)))?;
                    }
                }
            }
        }
        writer.write_event(Event::End(BytesEnd::new(name)))
    }
}

impl Serialize for Element {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.attrs.len() + self.children.len() + 1))?;
        for (key, value) in &self.attrs {
            map.serialize_entry(key, value)?;
        }
        if let Some(text) = &self.text {
            map.serialize_entry("value", text)?;
        }
        for (key, children) in &self.children {
            match children {
                Children::One(child) => map.serialize_entry(key, child)?,
                Children::List(items) => map.serialize_entry(key, items)?,
                Children::Values(values) => map.serialize_entry(key, values)?,
            }
        }
        map.end()
    }
}

/// The answer's format, from `f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Xml,
    Json,
}

impl Format {
    /// `f=json` is JSON; anything else (the default, `xml`, and the `jsonp` Fermata does not offer) is XML.
    pub fn parse(f: Option<&str>) -> Self {
        match f {
            Some(f) if f.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Xml,
        }
    }
}

/// A whole `subsonic-response`: ok with an optional payload element, or failed with an error.
#[derive(Debug, Clone)]
pub struct Envelope {
    failed: bool,
    body: Element,
}

impl Envelope {
    pub fn ok() -> Self {
        Self { failed: false, body: Element::new() }
    }

    pub fn with(name: &'static str, payload: Element) -> Self {
        Self { failed: false, body: Element::new().child(name, payload) }
    }

    /// A payload that is a bare list (`openSubsonicExtensions`).
    pub fn with_list(name: &'static str, items: impl IntoIterator<Item = Element>) -> Self {
        Self { failed: false, body: Element::new().list(name, items) }
    }

    pub fn failed(code: i64, message: &str) -> Self {
        Self {
            failed: true,
            body: Element::new().child("error", Element::new().attr("code", code).attr("message", message)),
        }
    }

    fn root(&self) -> Element {
        let root = Element::new()
            .attr("status", if self.failed { "failed" } else { "ok" })
            .attr("version", API_VERSION)
            .attr("type", SERVER_TYPE)
            .attr("serverVersion", env!("CARGO_PKG_VERSION"))
            .attr("openSubsonic", true);
        Element { children: self.body.children.clone(), ..root }
    }

    pub fn to_xml(&self) -> Vec<u8> {
        let mut writer = Writer::new(Vec::with_capacity(1024));
        let write = |writer: &mut Writer<Vec<u8>>| -> std::io::Result<()> {
            writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
            let mut root = self.root();
            root.attrs.insert(0, ("xmlns", Value::from(XMLNS)));
            root.write_xml("subsonic-response", writer)
        };
        write(&mut writer).expect("writing to memory does not fail");
        writer.into_inner()
    }

    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wrapper<'a> {
            #[serde(rename = "subsonic-response")]
            response: &'a Element,
        }
        serde_json::to_vec(&Wrapper { response: &self.root() }).expect("an element always serialises")
    }

    pub fn render(&self, format: Format) -> Response {
        let (body, content_type) = match format {
            Format::Xml => (self.to_xml(), "text/xml; charset=utf-8"),
            Format::Json => (self.to_json(), "application/json"),
        };
        ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_model_gives_the_same_data_in_xml_and_json() {
        let album = Element::new()
            .attr("id", "al-1")
            .attr("name", "Tom & \"Jerry\" <live>")
            .attr("songCount", 2)
            .attr("isCompilation", false)
            .list("song", [Element::new().attr("id", "s1"), Element::new().attr("id", "s2")])
            .list("genres", Vec::new())
            .values("moods", ["calm"]);
        let envelope = Envelope::with("album", album);
        let json: serde_json::Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        let album = &json["subsonic-response"]["album"];
        assert_eq!(json["subsonic-response"]["status"], "ok");
        assert_eq!(json["subsonic-response"]["openSubsonic"], true);
        assert_eq!(album["name"], "Tom & \"Jerry\" <live>");
        assert_eq!(album["songCount"], 2);
        assert_eq!(album["song"].as_array().unwrap().len(), 2);
        assert_eq!(album["genres"], serde_json::json!([]), "an empty list is still an array in JSON");
        assert_eq!(album["moods"], serde_json::json!(["calm"]));
        let xml = String::from_utf8(envelope.to_xml()).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
        assert!(xml.contains("xmlns=\"http://subsonic.org/restapi\""), "{xml}");
        assert!(xml.contains("name=\"Tom &amp; &quot;Jerry&quot; &lt;live&gt;\""), "escaped: {xml}");
        assert!(xml.contains("<song id=\"s1\"/><song id=\"s2\"/>"), "{xml}");
        assert!(xml.contains("<moods>calm</moods>"), "{xml}");
        assert!(!xml.contains("genres"), "an empty list is no element in XML: {xml}");
    }

    #[test]
    fn whatever_a_client_stored_the_xml_stays_well_formed() {
        let hostile = "a\u{1}b\u{b}c\u{1f}d\u{fffe}e\tf\ng";
        let envelope = Envelope::with(
            "playlists",
            Element::new()
                .list("playlist", [Element::new().attr("comment", hostile).text(hostile)])
                .values("v", [hostile]),
        );
        let xml = envelope.to_xml();
        let mut reader = quick_xml::Reader::from_reader(&xml[..]);
        let mut buffer = Vec::new();
        let mut texts = Vec::new();
        loop {
            match reader.read_event_into(&mut buffer).expect("well-formed") {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    for attribute in e.attributes() {
                        texts.push(attribute.unwrap().unescape_value().unwrap().into_owned());
                    }
                }
                Event::Text(t) => texts.push(t.decode().unwrap().into_owned()),
                _ => {}
            }
            buffer.clear();
        }
        let allowed = |t: &String| t.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
        assert!(texts.iter().all(allowed), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e")), "{texts:?}");
        // JSON carries the same text as XML.
        let json: serde_json::Value = serde_json::from_slice(&envelope.to_json()).unwrap();
        let comment = &json["subsonic-response"]["playlists"]["playlist"][0]["comment"];
        assert_eq!(comment, "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\tf\ng");
    }

    #[test]
    fn errors_and_text_values() {
        let failed = Envelope::failed(70, "not found");
        let json: serde_json::Value = serde_json::from_slice(&failed.to_json()).unwrap();
        assert_eq!(json["subsonic-response"]["status"], "failed");
        assert_eq!(json["subsonic-response"]["error"]["code"], 70);
        let genre =
            Envelope::with("genres", Element::new().list("genre", [Element::new().attr("songCount", 3).text("Jazz")]));
        let json: serde_json::Value = serde_json::from_slice(&genre.to_json()).unwrap();
        assert_eq!(json["subsonic-response"]["genres"]["genre"][0]["value"], "Jazz");
        assert!(String::from_utf8(genre.to_xml()).unwrap().contains("<genre songCount=\"3\">Jazz</genre>"));
    }
}
