//! A small, strict XML tree for reading SAML: namespaces resolved, entities limited to the five
//! predefined ones and character references, no DTDs, bounded size and depth.
//!
//! Text is read as the concatenation of all text children with comments removed (the
//! canonical reading), and the tree remembers where comments were, so a caller can refuse
//! comment injection (`admin@example.com<!---->.evil.com`) outright.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, XmlVersion};

/// The largest document accepted (SAML responses are a few KiB; 512 KiB is generous).
pub const MAX_XML_BYTES: usize = 512 * 1024;
const MAX_DEPTH: usize = 64;
const MAX_ELEMENTS: usize = 20_000;

pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the XML document is larger than {MAX_XML_BYTES} bytes")]
    TooLarge,
    #[error("the XML document declares a DTD, which SAML never needs")]
    Doctype,
    #[error("the XML document is nested too deeply or has too many elements")]
    TooComplex,
    #[error("the XML document is not well-formed")]
    Malformed,
    #[error("the XML document has no root element")]
    Empty,
}

/// A child of an element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
    /// A comment (its content is not kept).
    Comment,
}

/// An element with its resolved namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub namespace: Option<String>,
    pub name: String,
    /// Attributes by name as written (`ID`, `xsi:type`); namespace declarations are left out.
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    /// Whether this is `{namespace}name`.
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.name == name && self.namespace.as_deref() == Some(namespace)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Child elements in document order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element `{namespace}name`.
    pub fn child(&self, namespace: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(namespace, name))
    }

    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(namespace, name))
    }

    /// All text below this element, comments removed, trimmed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out.trim().to_owned()
    }

    fn collect_text(&self, out: &mut String) {
        for child in &self.children {
            match child {
                Node::Text(t) => out.push_str(t),
                Node::Element(e) => e.collect_text(out),
                Node::Comment => {}
            }
        }
    }

    /// Whether a comment appears anywhere below this element.
    pub fn contains_comment(&self) -> bool {
        self.children.iter().any(|c| match c {
            Node::Comment => true,
            Node::Element(e) => e.contains_comment(),
            Node::Text(_) => false,
        })
    }

    /// Every element below (and including) this one named `{namespace}name`.
    pub fn descendants_named<'a>(
        &'a self,
        namespace: &str,
        name: &str,
        out: &mut Vec<&'a Element>,
    ) {
        if self.is(namespace, name) {
            out.push(self);
        }
        for e in self.elements() {
            e.descendants_named(namespace, name, out);
        }
    }

    /// How many elements below (and including) this one are named `{namespace}name`.
    pub fn count_named(&self, namespace: &str, name: &str) -> usize {
        let mut found = Vec::new();
        self.descendants_named(namespace, name, &mut found);
        found.len()
    }
}

fn namespace_of(resolved: &ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(Some(String::from_utf8_lossy(ns.as_ref()).into_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(XmlError::Malformed),
    }
}

fn open_element(
    resolved: &ResolveResult<'_>,
    start: &quick_xml::events::BytesStart<'_>,
) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(start.local_name().as_ref())
        .map_err(|_| XmlError::Malformed)?
        .to_owned();
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|_| XmlError::Malformed)?;
        let key = std::str::from_utf8(attr.key.as_ref()).map_err(|_| XmlError::Malformed)?;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| XmlError::Malformed)?;
        if attributes.iter().any(|(k, _): &(String, String)| k == key) {
            return Err(XmlError::Malformed);
        }
        attributes.push((key.to_owned(), value.into_owned()));
    }
    Ok(Element {
        namespace: namespace_of(resolved)?,
        name,
        attributes,
        children: Vec::new(),
    })
}

/// Parses a whole document into its root element.
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(XmlError::TooLarge);
    }
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|_| XmlError::Malformed)?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::Malformed);
                }
                elements += 1;
                if stack.len() >= MAX_DEPTH || elements > MAX_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                let element = open_element(&resolved, &start)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(XmlError::Malformed);
                }
                elements += 1;
                if elements > MAX_ELEMENTS {
                    return Err(XmlError::TooComplex);
                }
                let element = open_element(&resolved, &start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or(XmlError::Malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                let content = text.xml10_content().map_err(|_| XmlError::Malformed)?;
                push_text(&mut stack, &content)?;
            }
            Event::CData(cdata) => {
                let content = cdata.xml10_content().map_err(|_| XmlError::Malformed)?;
                push_text(&mut stack, &content)?;
            }
            Event::GeneralRef(reference) => {
                let resolved_text = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = reference.decode().map_err(|_| XmlError::Malformed)?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or(XmlError::Malformed)?
                            .to_owned()
                    }
                    Err(_) => return Err(XmlError::Malformed),
                };
                push_text(&mut stack, &resolved_text)?;
            }
            Event::Comment(_) => {
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node::Comment);
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed);
    }
    root.ok_or(XmlError::Empty)
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(text);
            } else {
                parent.children.push(Node::Text(text.to_owned()));
            }
            Ok(())
        }
        // Only whitespace may stand outside the root element.
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed),
    }
}

/// Escapes text for an XML attribute or element.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_namespaces_attributes_and_text() {
        let root = parse(
            r#"<?xml version="1.0"?><p:R xmlns:p="urn:x" ID="a&amp;b"><p:C>one &lt;two&gt; &#51;</p:C><D/></p:R>"#,
        )
        .unwrap();
        assert!(root.is("urn:x", "R"));
        assert_eq!(root.attr("ID"), Some("a&b"));
        assert_eq!(root.child("urn:x", "C").unwrap().text(), "one <two> 3");
        assert_eq!(root.elements().count(), 2);
    }

    #[test]
    fn comments_are_removed_from_text_but_remembered() {
        let root = parse("<a><n>admin@example.com<!---->.evil.com</n></a>").unwrap();
        let n = root.elements().next().unwrap();
        assert_eq!(n.text(), "admin@example.com.evil.com");
        assert!(root.contains_comment());
    }

    #[test]
    fn refuses_dtds_entities_and_garbage() {
        assert_eq!(
            parse(r#"<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>"#),
            Err(XmlError::Doctype)
        );
        assert_eq!(parse("<a>&x;</a>"), Err(XmlError::Malformed));
        assert_eq!(parse("<a><b></a>"), Err(XmlError::Malformed));
        assert_eq!(parse("<a/><b/>"), Err(XmlError::Malformed));
        assert_eq!(parse("text"), Err(XmlError::Malformed));
        assert_eq!(parse(""), Err(XmlError::Empty));
        assert_eq!(parse("<a x='1' x='2'/>"), Err(XmlError::Malformed));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert_eq!(parse(&deep), Err(XmlError::TooComplex));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(input in ".{0,400}") {
            let _ = parse(&input);
        }
    }
}
