//! The SCIM filter index: one row per attribute value of a provisioned user or group, so a
//! filter on any attribute runs as SQL. Rewritten in the transaction of every SCIM write.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_value")]
pub struct Model {
    /// `User` or `Group`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource_kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub resource_id: String,
    /// Lower-case dotted attribute path: `emails.value`, `urn:...:enterprise:2.0:user:department`.
    /// A multi-valued complex attribute also has one row per element under its own name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub path: String,
    /// Index of the element in a multi-valued attribute (0 for singular ones): the
    /// sub-attributes of one element share it, which correlates `emails[type eq "work" and ...]`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub elem: i32,
    pub value: Option<String>,
    /// Lower-cased in Rust (not by SQL, whose case folding differs between databases).
    pub value_lower: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
