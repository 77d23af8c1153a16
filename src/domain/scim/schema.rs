//! The SCIM schemas Gatehouse serves (RFC 7643 §4 and §8.7): their attributes with type,
//! plurality, mutability and case-exactness. One table drives discovery (`/Schemas`), the
//! normalisation of what an IdP sends, PATCH path resolution and filter translation.

/// Core User schema.
pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema.
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension.
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Gatehouse's User extension: `role` and `customRole`.
pub const GATEHOUSE_URN: &str = "urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User";
/// LaunchDarkly's User extension, accepted as an alias of Gatehouse's so existing IdP
/// configurations carry over. Not published in `/Schemas` (it would duplicate ours).
pub const LAUNCHDARKLY_URN: &str = "urn:ietf:params:scim:schemas:extension:launchdarkly:2.0:User";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadOnly => "readOnly",
            Self::ReadWrite => "readWrite",
            Self::Immutable => "immutable",
            Self::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::Never => "never",
            Self::Default => "default",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Server => "server",
            Self::Global => "global",
        }
    }
}

/// One attribute definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub sub_attributes: &'static [AttrDef],
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub description: &'static str,
    /// Text that may hold line breaks and tabs (a postal address); other strings hold no
    /// control characters.
    pub free_text: bool,
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
    AttrDef {
        name,
        ty,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        sub_attributes: &[],
        canonical_values: &[],
        reference_types: &[],
        description,
        free_text: false,
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::String, description)
}

const fn boolean(name: &'static str, description: &'static str) -> AttrDef {
    attr(name, AttrType::Boolean, description)
}

const fn complex(
    name: &'static str,
    sub: &'static [AttrDef],
    description: &'static str,
) -> AttrDef {
    let mut a = attr(name, AttrType::Complex, description);
    a.sub_attributes = sub;
    a
}

const fn reference(
    name: &'static str,
    refs: &'static [&'static str],
    description: &'static str,
) -> AttrDef {
    let mut a = attr(name, AttrType::Reference, description);
    a.reference_types = refs;
    a
}

impl AttrDef {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> Self {
        self.required = true;
        self
    }
    const fn exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    const fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    const fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    const fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self.returned = Returned::Never;
        self
    }
    const fn always(mut self) -> Self {
        self.returned = Returned::Always;
        self
    }
    const fn unique(mut self) -> Self {
        self.uniqueness = Uniqueness::Server;
        self
    }
    const fn free_text(mut self) -> Self {
        self.free_text = true;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> Self {
        self.canonical_values = values;
        self
    }

    /// The sub-attribute with this name (case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema: its URN and attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    /// The attribute with this name (case-insensitive).
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

const TYPE_PRIMARY_DISPLAY: [AttrDef; 3] = [
    string(
        "display",
        "A human-readable name, primarily used for display purposes.",
    ),
    string("type", "A label indicating the attribute's function."),
    boolean(
        "primary",
        "Indicates the 'primary' or preferred attribute value.",
    ),
];

const fn multi_sub(value: AttrDef, types: &'static [&'static str]) -> [AttrDef; 4] {
    [
        value,
        TYPE_PRIMARY_DISPLAY[0],
        TYPE_PRIMARY_DISPLAY[1].canonical(types),
        TYPE_PRIMARY_DISPLAY[2],
    ]
}

const NAME_SUB: &[AttrDef] = &[
    string("formatted", "The full name, formatted for display."),
    string("familyName", "The family name of the User."),
    string("givenName", "The given name of the User."),
    string("middleName", "The middle name(s) of the User."),
    string("honorificPrefix", "The honorific prefix(es) of the User."),
    string("honorificSuffix", "The honorific suffix(es) of the User."),
];
const EMAIL_SUB: &[AttrDef] = &multi_sub(
    string("value", "Email address for the User.").required(),
    &["work", "home", "other"],
);
const PHONE_SUB: &[AttrDef] = &multi_sub(
    string("value", "Phone number of the User."),
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IMS_SUB: &[AttrDef] = &multi_sub(
    string("value", "Instant messaging address for the User."),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTO_SUB: &[AttrDef] = &multi_sub(
    reference("value", &["external"], "URL of a photo of the User."),
    &["photo", "thumbnail"],
);
const ADDRESS_SUB: &[AttrDef] = &[
    string("formatted", "The full mailing address.").free_text(),
    string("streetAddress", "The full street address component.").free_text(),
    string("locality", "The city or locality component."),
    string("region", "The state or region component."),
    string("postalCode", "The zip code or postal code component."),
    string("country", "The country name component."),
    string("type", "A label indicating the attribute's function.")
        .canonical(&["work", "home", "other"]),
    boolean("primary", "Indicates the primary mailing address."),
];
const GROUPS_SUB: &[AttrDef] = &[
    string("value", "The identifier of the User's group.").read_only(),
    reference("$ref", &["Group"], "The URI of the Group.").read_only(),
    string("display", "A human-readable name of the Group.").read_only(),
    string("type", "How the membership was derived.")
        .read_only()
        .canonical(&["direct", "indirect"]),
];
const PLAIN_MULTI_SUB: &[AttrDef] = &multi_sub(string("value", "The value."), &[]);
const X509_SUB: &[AttrDef] = &multi_sub(
    attr(
        "value",
        AttrType::Binary,
        "The value of an X.509 certificate.",
    ),
    &[],
);

const USER_ATTRS: &[AttrDef] = &[
    string(
        "userName",
        "Unique identifier for the User, used to authenticate.",
    )
    .required()
    .unique(),
    complex("name", NAME_SUB, "The components of the user's real name."),
    string("displayName", "The name of the User, suitable for display."),
    string("nickName", "The casual way to address the user."),
    reference(
        "profileUrl",
        &["external"],
        "A fully qualified URL to the User's profile.",
    ),
    string("title", "The user's title, such as \"Vice President\"."),
    string(
        "userType",
        "The relationship between the organization and the user.",
    ),
    string(
        "preferredLanguage",
        "The User's preferred written or spoken language.",
    ),
    string("locale", "The User's default location."),
    string("timezone", "The User's time zone in the Olson format."),
    boolean(
        "active",
        "The User's administrative status; false deactivates the member.",
    ),
    string(
        "password",
        "Not used: Gatehouse members sign in through SSO.",
    )
    .write_only(),
    // Required here: a member needs an email (LaunchDarkly's SCIM API requires one too).
    complex(
        "emails",
        EMAIL_SUB,
        "Email addresses for the user; at least one.",
    )
    .multi()
    .required(),
    complex("phoneNumbers", PHONE_SUB, "Phone numbers for the User.").multi(),
    complex("ims", IMS_SUB, "Instant messaging addresses for the User.").multi(),
    complex("photos", PHOTO_SUB, "URLs of photos of the User.").multi(),
    complex(
        "addresses",
        ADDRESS_SUB,
        "A physical mailing address for this User.",
    )
    .multi(),
    complex(
        "groups",
        GROUPS_SUB,
        "The synced teams the member belongs to.",
    )
    .multi()
    .read_only(),
    complex(
        "entitlements",
        PLAIN_MULTI_SUB,
        "A list of entitlements for the User.",
    )
    .multi(),
    complex(
        "roles",
        PLAIN_MULTI_SUB,
        "A list of roles for the User (kept, not used for access).",
    )
    .multi(),
    complex(
        "x509Certificates",
        X509_SUB,
        "A list of certificates issued to the User.",
    )
    .multi(),
];

const MANAGER_SUB: &[AttrDef] = &[
    string(
        "value",
        "The id of the SCIM resource representing the User's manager.",
    ),
    reference(
        "$ref",
        &["User"],
        "The URI of the SCIM resource representing the manager.",
    ),
    string("displayName", "The displayName of the User's manager.").read_only(),
];

const ENTERPRISE_ATTRS: &[AttrDef] = &[
    string(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    string("costCenter", "Identifies the name of a cost center."),
    string("organization", "Identifies the name of an organization."),
    string("division", "Identifies the name of a division."),
    string("department", "Identifies the name of a department."),
    complex("manager", MANAGER_SUB, "The User's manager."),
];

/// Base roles an IdP may assign (never `owner`).
pub const ASSIGNABLE_ROLES: &[&str] = &["reader", "writer", "admin", "no_access"];

const GATEHOUSE_ATTRS: &[AttrDef] = &[
    string(
        "role",
        "Base role: reader, writer, admin or no_access (never owner). Unset keeps the member's role or the connection's default.",
    )
    .canonical(ASSIGNABLE_ROLES),
    string(
        "customRole",
        "Keys of custom roles (an array, or comma-separated values); they replace the member's custom roles.",
    )
    .multi()
    .exact(),
];

const MEMBER_SUB: &[AttrDef] = &[
    string("value", "Identifier of the member of this Group.")
        .immutable()
        .exact(),
    reference("$ref", &["User"], "The URI of the member.").immutable(),
    string("type", "The type of member: only User (teams do not nest).")
        .immutable()
        .canonical(&["User"]),
];

const GROUP_ATTRS: &[AttrDef] = &[
    string("displayName", "The team's name.").required(),
    complex("members", MEMBER_SUB, "The members of the team.").multi(),
];

/// Attributes every resource has (RFC 7643 §3.1); not part of any schema document.
pub const COMMON_ATTRS: &[AttrDef] = &[
    string(
        "id",
        "Unique identifier of the resource, assigned by Gatehouse.",
    )
    .read_only()
    .always()
    .exact()
    .unique(),
    string("externalId", "The identifier the IdP gives the resource.").exact(),
    complex("meta", META_SUB, "Resource metadata.").read_only(),
];

const META_SUB: &[AttrDef] = &[
    string("resourceType", "The name of the resource type.")
        .read_only()
        .exact(),
    attr(
        "created",
        AttrType::DateTime,
        "When the resource was added.",
    )
    .read_only(),
    attr(
        "lastModified",
        AttrType::DateTime,
        "When the resource was last changed.",
    )
    .read_only(),
    reference("location", &["uri"], "The URI of the resource.").read_only(),
    string("version", "The version (weak ETag) of the resource.")
        .read_only()
        .exact(),
];

pub static USER_SCHEMA: SchemaDef = SchemaDef {
    id: USER_URN,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRS,
};
pub static ENTERPRISE_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};
pub static GATEHOUSE_SCHEMA: SchemaDef = SchemaDef {
    id: GATEHOUSE_URN,
    name: "GatehouseUser",
    description: "Gatehouse roles of a member",
    attributes: GATEHOUSE_ATTRS,
};
/// LaunchDarkly's extension has the same attributes as ours.
pub static LAUNCHDARKLY_SCHEMA: SchemaDef = SchemaDef {
    id: LAUNCHDARKLY_URN,
    name: "LaunchDarklyUser",
    description: "LaunchDarkly roles of a member (alias of the Gatehouse extension)",
    attributes: GATEHOUSE_ATTRS,
};
pub static GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: GROUP_URN,
    name: "Group",
    description: "Group: a Gatehouse team",
    attributes: GROUP_ATTRS,
};

/// A resource type: its core schema and the extensions it accepts.
#[derive(Debug, Clone, Copy)]
pub struct ResourceSchema {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub core: &'static SchemaDef,
    /// Extensions published in `/ResourceTypes` (none required).
    pub extensions: &'static [&'static SchemaDef],
    /// Extensions accepted on input as aliases (folded into a published one).
    pub aliases: &'static [&'static SchemaDef],
}

pub static USER: ResourceSchema = ResourceSchema {
    name: "User",
    endpoint: "/Users",
    description: "Members of the account",
    core: &USER_SCHEMA,
    extensions: &[&ENTERPRISE_SCHEMA, &GATEHOUSE_SCHEMA],
    aliases: &[&LAUNCHDARKLY_SCHEMA],
};

pub static GROUP: ResourceSchema = ResourceSchema {
    name: "Group",
    endpoint: "/Groups",
    description: "Teams synced from the identity provider",
    core: &GROUP_SCHEMA,
    extensions: &[],
    aliases: &[],
};

/// Every schema `/Schemas` publishes.
pub fn published_schemas() -> [&'static SchemaDef; 4] {
    [
        &USER_SCHEMA,
        &GROUP_SCHEMA,
        &ENTERPRISE_SCHEMA,
        &GATEHOUSE_SCHEMA,
    ]
}

/// Where an attribute lives: at the top level (core or common) or in an extension object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Core,
    Extension(&'static SchemaDef),
}

/// An attribute name resolved against a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedAttr {
    pub container: Container,
    pub def: &'static AttrDef,
    /// The sub-attribute, when the path names one.
    pub sub: Option<&'static AttrDef>,
}

impl ResolvedAttr {
    /// The lower-case dotted key the filter index stores values under, e.g. `emails.value`
    /// or `urn:...:enterprise:2.0:user:department`.
    pub fn index_path(&self) -> String {
        let mut p = match self.container {
            Container::Core => String::new(),
            Container::Extension(s) => format!("{}:", s.id),
        };
        p.push_str(self.def.name);
        if let Some(sub) = self.sub {
            p.push('.');
            p.push_str(sub.name);
        }
        p.to_lowercase()
    }

    /// The definition of the value the path ends at.
    pub fn leaf(&self) -> &'static AttrDef {
        self.sub.unwrap_or(self.def)
    }
}

impl ResourceSchema {
    /// The schema (core, extension or alias) with this URN, case-insensitively.
    pub fn schema(&self, urn: &str) -> Option<&'static SchemaDef> {
        std::iter::once(self.core)
            .chain(self.extensions.iter().copied())
            .chain(self.aliases.iter().copied())
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The extension (or alias) with this URN.
    pub fn extension(&self, urn: &str) -> Option<&'static SchemaDef> {
        self.extensions
            .iter()
            .chain(self.aliases.iter())
            .copied()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Resolves `[uri:]name[.sub]`; `None` when the resource type has no such attribute.
    pub fn resolve(
        &self,
        uri: Option<&str>,
        name: &str,
        sub: Option<&str>,
    ) -> Option<ResolvedAttr> {
        let (container, def) = match uri {
            None => (Container::Core, self.core_attr(name)?),
            Some(u) if u.eq_ignore_ascii_case(self.core.id) => {
                (Container::Core, self.core_attr(name)?)
            }
            Some(u) => {
                let ext = self.extension(u)?;
                (Container::Extension(ext), ext.attr(name)?)
            }
        };
        let sub = match sub {
            None => None,
            Some(s) => Some(def.sub(s)?),
        };
        Some(ResolvedAttr {
            container,
            def,
            sub,
        })
    }

    fn core_attr(&self, name: &str) -> Option<&'static AttrDef> {
        COMMON_ATTRS
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .or_else(|| self.core.attr(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_case_insensitively_in_core_and_extensions() {
        let r = USER.resolve(None, "USERNAME", None).unwrap();
        assert_eq!(r.def.name, "userName");
        assert_eq!(r.index_path(), "username");
        let r = USER
            .resolve(Some(USER_URN), "name", Some("familyname"))
            .unwrap();
        assert_eq!(r.index_path(), "name.familyname");
        let r = USER
            .resolve(Some(&ENTERPRISE_URN.to_uppercase()), "Department", None)
            .unwrap();
        assert_eq!(r.container, Container::Extension(&ENTERPRISE_SCHEMA));
        assert_eq!(
            r.index_path(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department"
        );
        assert!(USER.resolve(None, "department", None).is_none());
        assert!(USER.resolve(None, "emails", Some("nope")).is_none());
        assert!(
            USER.resolve(Some(LAUNCHDARKLY_URN), "customRole", None)
                .is_some()
        );
        assert!(GROUP.resolve(None, "members", Some("value")).is_some());
        assert!(GROUP.resolve(None, "id", None).is_some());
    }
}
