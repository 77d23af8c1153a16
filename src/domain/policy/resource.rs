//! Concrete resources: the thing a member acts on, e.g.
//! `proj/default;mobile:env/production;{critical:true}:flag/my-flag;beta`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of one resource segment. Each kind is valid only in its scope
/// (see [`ResourceType::parent`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceType {
    /// `proj/*`
    #[serde(rename = "proj")]
    Proj,
    /// `proj/*:env/*`
    #[serde(rename = "env")]
    Env,
    /// `proj/*:env/*:flag/*`
    #[serde(rename = "flag")]
    Flag,
    /// `proj/*:env/*:segment/*`
    #[serde(rename = "segment")]
    Segment,
    /// `proj/*:env/*:var/*` (environment variables)
    #[serde(rename = "var")]
    Var,
    /// `proj/*:env/*:request/*` (approval requests)
    #[serde(rename = "request")]
    Request,
    /// `member/*`
    #[serde(rename = "member")]
    Member,
    /// `member/*:token/*` (personal access tokens)
    #[serde(rename = "token")]
    Token,
    /// `service-token/*`
    #[serde(rename = "service-token")]
    ServiceToken,
    /// `team/*`
    #[serde(rename = "team")]
    Team,
    /// `role/*`
    #[serde(rename = "role")]
    Role,
    /// `connection/*` (identity connections)
    #[serde(rename = "connection")]
    Connection,
    /// `acct` (account-level settings; no name)
    #[serde(rename = "acct")]
    Acct,
    /// `webhook/*` (outbound webhooks; last, so the other types keep their index)
    #[serde(rename = "webhook")]
    Webhook,
}

impl ResourceType {
    /// Every resource type, in a stable order.
    pub const ALL: [ResourceType; 14] = [
        ResourceType::Proj,
        ResourceType::Env,
        ResourceType::Flag,
        ResourceType::Segment,
        ResourceType::Var,
        ResourceType::Request,
        ResourceType::Member,
        ResourceType::Token,
        ResourceType::ServiceToken,
        ResourceType::Team,
        ResourceType::Role,
        ResourceType::Connection,
        ResourceType::Acct,
        ResourceType::Webhook,
    ];

    /// The type's name as written in specifiers (`proj`, `service-token`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceType::Proj => "proj",
            ResourceType::Env => "env",
            ResourceType::Flag => "flag",
            ResourceType::Segment => "segment",
            ResourceType::Var => "var",
            ResourceType::Request => "request",
            ResourceType::Member => "member",
            ResourceType::Token => "token",
            ResourceType::ServiceToken => "service-token",
            ResourceType::Team => "team",
            ResourceType::Role => "role",
            ResourceType::Connection => "connection",
            ResourceType::Acct => "acct",
            ResourceType::Webhook => "webhook",
        }
    }

    /// Parses a type name (case-sensitive).
    pub fn from_name(name: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type this one must be nested in, if any (`env` lives in `proj`, `flag` in `env`,
    /// `token` in `member`).
    pub const fn parent(self) -> Option<ResourceType> {
        match self {
            ResourceType::Env => Some(ResourceType::Proj),
            ResourceType::Flag
            | ResourceType::Segment
            | ResourceType::Var
            | ResourceType::Request => Some(ResourceType::Env),
            ResourceType::Token => Some(ResourceType::Member),
            _ => None,
        }
    }

    /// The wildcard specifier that covers every resource of this type,
    /// e.g. `proj/*:env/*:flag/*`, `member/*:token/*`, `acct`.
    pub const fn scope(self) -> &'static str {
        match self {
            ResourceType::Proj => "proj/*",
            ResourceType::Env => "proj/*:env/*",
            ResourceType::Flag => "proj/*:env/*:flag/*",
            ResourceType::Segment => "proj/*:env/*:segment/*",
            ResourceType::Var => "proj/*:env/*:var/*",
            ResourceType::Request => "proj/*:env/*:request/*",
            ResourceType::Member => "member/*",
            ResourceType::Token => "member/*:token/*",
            ResourceType::ServiceToken => "service-token/*",
            ResourceType::Team => "team/*",
            ResourceType::Role => "role/*",
            ResourceType::Connection => "connection/*",
            ResourceType::Acct => "acct",
            ResourceType::Webhook => "webhook/*",
        }
    }

    /// A dense index (0..14), used for per-type tables.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `c` may appear in a resource key or tag: `[A-Za-z0-9._@+-]`.
pub const fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-')
}

/// Whether `c` may appear in a property name: `[A-Za-z0-9_]`.
pub const fn is_property_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The value of a resource property such as `critical`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    /// `true` / `false`
    Bool(bool),
    /// Any other value (key characters only); never the text `true` or `false`.
    String(String),
}

impl PropertyValue {
    /// Parses a property value as written between `{name:` and `}`: `true`/`false` are
    /// booleans, anything else is a string.
    pub fn parse(text: &str) -> PropertyValue {
        match text {
            "true" => PropertyValue::Bool(true),
            "false" => PropertyValue::Bool(false),
            other => PropertyValue::String(other.to_owned()),
        }
    }
}

impl fmt::Display for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyValue::Bool(b) => write!(f, "{b}"),
            PropertyValue::String(s) => f.write_str(s),
        }
    }
}

/// One segment of a concrete resource: its type, key, tags and properties.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceSegment {
    /// The segment's type.
    pub kind: ResourceType,
    /// The resource key (empty for `acct`). Case-sensitive.
    pub key: String,
    /// Tags, sorted and de-duplicated by the builders.
    pub tags: Vec<String>,
    /// Properties, sorted by name by the builders (e.g. `critical` on environments).
    pub properties: Vec<(String, PropertyValue)>,
}

impl ResourceSegment {
    /// A segment with sorted, de-duplicated tags and properties sorted by name.
    pub fn new(
        kind: ResourceType,
        key: impl Into<String>,
        tags: &[impl AsRef<str>],
        properties: Vec<(String, PropertyValue)>,
    ) -> ResourceSegment {
        let mut tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        tags.sort();
        tags.dedup();
        let mut properties = properties;
        properties.sort_by(|a, b| a.0.cmp(&b.0));
        properties.dedup_by(|a, b| a.0 == b.0);
        ResourceSegment {
            kind,
            key: key.into(),
            tags,
            properties,
        }
    }

    /// The value of property `name`, if set.
    pub fn property(&self, name: &str) -> Option<&PropertyValue> {
        self.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// A concrete resource: a path of segments from a top-level type down to the target.
///
/// Builders do not validate keys (they take data the service already stored); use
/// [`Resource::is_well_formed`] or [`FromStr`] when the input is untrusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resource {
    /// The segments, outermost first.
    pub segments: Vec<ResourceSegment>,
}

/// An empty tag list for segments without tags.
pub const NO_TAGS: &[&str] = &[];

impl Resource {
    fn push(mut self, seg: ResourceSegment) -> Resource {
        self.segments.push(seg);
        self
    }

    fn top(seg: ResourceSegment) -> Resource {
        Resource {
            segments: vec![seg],
        }
    }

    /// `proj/<key>;<tags>`
    pub fn project(key: impl Into<String>, tags: &[impl AsRef<str>]) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Proj,
            key,
            tags,
            Vec::new(),
        ))
    }

    /// Appends `env/<key>;<tags>,{critical:<critical>}` (the `critical` property is always set).
    pub fn env(self, key: impl Into<String>, tags: &[impl AsRef<str>], critical: bool) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Env,
            key,
            tags,
            vec![("critical".to_owned(), PropertyValue::Bool(critical))],
        ))
    }

    /// Appends `flag/<key>;<tags>`.
    pub fn flag(self, key: impl Into<String>, tags: &[impl AsRef<str>]) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Flag,
            key,
            tags,
            Vec::new(),
        ))
    }

    /// Appends `segment/<key>;<tags>`.
    pub fn segment(self, key: impl Into<String>, tags: &[impl AsRef<str>]) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Segment,
            key,
            tags,
            Vec::new(),
        ))
    }

    /// Appends `var/<name>` (an environment variable).
    pub fn var(self, name: impl Into<String>) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Var,
            name,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// Appends `request/<id>` (an approval request).
    pub fn request(self, id: impl Into<String>) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Request,
            id,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `member/<id>`
    pub fn member(id: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Member,
            id,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// Appends `token/<id>` (a personal token of the member).
    pub fn token(self, id: impl Into<String>) -> Resource {
        self.push(ResourceSegment::new(
            ResourceType::Token,
            id,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `service-token/<id>`
    pub fn service_token(id: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::ServiceToken,
            id,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `team/<key>`
    pub fn team(key: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Team,
            key,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `role/<key>`
    pub fn role(key: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Role,
            key,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `connection/<key>`
    pub fn connection(key: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Connection,
            key,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `webhook/<id>`
    pub fn webhook(id: impl Into<String>) -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Webhook,
            id,
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// `acct`
    pub fn acct() -> Resource {
        Resource::top(ResourceSegment::new(
            ResourceType::Acct,
            "",
            NO_TAGS,
            Vec::new(),
        ))
    }

    /// The type of the innermost segment (what the resource *is*).
    pub fn kind(&self) -> Option<ResourceType> {
        self.segments.last().map(|s| s.kind)
    }

    /// Whether the resource respects the scoping rules and character sets, i.e. whether
    /// its [`Display`](fmt::Display) form parses back to itself.
    pub fn is_well_formed(&self) -> bool {
        self.to_string().parse::<Resource>().as_ref() == Ok(self)
    }
}

impl fmt::Display for ResourceSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if self.kind != ResourceType::Acct {
            write!(f, "/{}", self.key)?;
        }
        let mut first = true;
        for tag in &self.tags {
            f.write_str(if first { ";" } else { "," })?;
            first = false;
            f.write_str(tag)?;
        }
        for (name, value) in &self.properties {
            f.write_str(if first { ";" } else { "," })?;
            first = false;
            write!(f, "{{{name}:{value}}}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            seg.fmt(f)?;
        }
        Ok(())
    }
}

/// Why a concrete resource string did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ResourceParseError {
    /// Character offset of the problem.
    pub position: usize,
    /// Human-readable description, naming the offending character.
    pub message: String,
}
