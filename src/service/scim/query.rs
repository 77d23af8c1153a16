//! SCIM filters as SQL: the AST becomes one sea-query condition over the `member` or `team`
//! row, never a scan in memory. Attributes kept in columns compare against them (userName
//! against its lower-cased column, active against status, meta dates against the epoch
//! milliseconds); every other attribute goes through the `scim_value` index with an
//! `IN (SELECT resource_id ...)` sub-query that the `(resource_kind, path, value_lower)`
//! index answers. Value paths correlate their conditions on one element (`elem`).
//!
//! Strings compare case-insensitively on values lower-cased in Rust (never by SQL, whose case
//! folding differs between SQLite and PostgreSQL) unless the attribute is `caseExact`; order
//! comparisons use byte order on both databases (`COLLATE "C"` on PostgreSQL). `LIKE`
//! patterns escape `%`, `_` and `\`; case-exact patterns on SQLite use `GLOB` with its own
//! escapes, since SQLite's `LIKE` ignores ASCII case.
//!
//! Unknown attributes are `invalidFilter` (RFC 7644 §3.4.2.2 lets a provider refuse what it
//! cannot evaluate; answering "no match" would hide a typo as an empty result).

use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{DatabaseBackend, Value as DbValue};

use crate::domain::scim::error::{ScimError, ScimResult};
use crate::domain::scim::filter::{AttrPath, CompareOp, Filter, Literal};
use crate::domain::scim::schema::{AttrDef, AttrType, Container, ResolvedAttr, ResourceSchema};

/// Which table a filter runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Group => "Group",
        }
    }
    fn table(self) -> &'static str {
        match self {
            Kind::User => "\"member\"",
            Kind::Group => "\"team\"",
        }
    }
    pub fn schema(self) -> &'static ResourceSchema {
        match self {
            Kind::User => &crate::domain::scim::schema::USER,
            Kind::Group => &crate::domain::scim::schema::GROUP,
        }
    }
}

/// Where the value of an attribute is read from.
#[derive(Debug, Clone)]
enum Source {
    /// A text column; `lowered` when it holds the lower-cased value.
    Column {
        column: &'static str,
        lowered: bool,
        nullable: bool,
    },
    /// `active`, from `member.status`.
    Status,
    /// `meta.created` / `meta.lastModified`, epoch milliseconds.
    Timestamp(&'static str),
    /// `members.value` of a group, or `groups.value` of a user: the `team_member` table.
    Membership,
    /// The `scim_value` index under this path.
    Index { path: String, def: &'static AttrDef },
}

fn unsupported(path: &AttrPath, why: &str) -> ScimError {
    ScimError::invalid_filter(format!("{path}: {why}"))
}

fn source(kind: Kind, path: &AttrPath) -> ScimResult<(Source, &'static AttrDef)> {
    let rs = kind.schema();
    let r = rs
        .resolve(path.uri.as_deref(), &path.name, path.sub.as_deref())
        .ok_or_else(|| unsupported(path, &format!("{} has no such attribute", rs.name)))?;
    let leaf = r.leaf();
    let src = match (kind, r.container, r.def.name, r.sub.map(|s| s.name)) {
        (_, Container::Core, "id", None) => Source::Column {
            column: "id",
            lowered: false,
            nullable: false,
        },
        (_, Container::Core, "externalId", None) => Source::Column {
            column: "external_id",
            lowered: false,
            nullable: true,
        },
        (Kind::User, Container::Core, "userName", None) => Source::Column {
            column: "user_name_lower",
            lowered: true,
            nullable: false,
        },
        (Kind::User, Container::Core, "active", None) => Source::Status,
        (_, Container::Core, "meta", Some("created")) => Source::Timestamp("created_at"),
        (_, Container::Core, "meta", Some("lastModified")) => Source::Timestamp("updated_at"),
        (_, Container::Core, "meta", _) => {
            return Err(unsupported(
                path,
                "only meta.created and meta.lastModified can be filtered",
            ));
        }
        (Kind::Group, Container::Core, "members", Some("value") | None) => Source::Membership,
        (Kind::User, Container::Core, "groups", Some("value") | None) => Source::Membership,
        (_, Container::Core, "members" | "groups", _) => {
            return Err(unsupported(path, "membership is filtered by value"));
        }
        (_, _, _, _) if leaf.ty == AttrType::Binary => {
            return Err(unsupported(path, "binary values cannot be filtered"));
        }
        (_, _, _, _) if leaf.mutability == crate::domain::scim::schema::Mutability::WriteOnly => {
            return Err(unsupported(
                path,
                "write-only attributes cannot be filtered",
            ));
        }
        _ => index_source(r)?,
    };
    Ok((src, leaf))
}

/// `emails co "x"` means `emails.value co "x"` (RFC 7644 §3.4.2.2).
fn index_source(r: ResolvedAttr) -> ScimResult<Source> {
    let r = match (r.def.ty, r.sub) {
        (AttrType::Complex, None) => match r.def.sub("value") {
            Some(value) => ResolvedAttr {
                sub: Some(value),
                ..r
            },
            None => r,
        },
        _ => r,
    };
    Ok(Source::Index {
        path: r.index_path(),
        def: r.leaf(),
    })
}

/// Builds SQL text with the backend's placeholders and collects the values.
pub struct Sql {
    pub text: String,
    pub values: Vec<DbValue>,
    backend: DatabaseBackend,
}

impl Sql {
    pub fn new(backend: DatabaseBackend) -> Self {
        Sql {
            text: String::new(),
            values: Vec::new(),
            backend,
        }
    }
    fn pg(&self) -> bool {
        self.backend == DatabaseBackend::Postgres
    }
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn param(&mut self, v: impl Into<DbValue>) {
        self.values.push(v.into());
        if self.pg() {
            self.text.push_str(&format!("${}", self.values.len()));
        } else {
            self.text.push('?');
        }
    }
    /// Byte-order comparison on both databases.
    fn collate(&self) -> &'static str {
        if self.pg() { " COLLATE \"C\"" } else { "" }
    }
    pub fn into_condition(self) -> Condition {
        Condition::all().add(Expr::cust_with_values(self.text, self.values))
    }
}

/// `%`, `_` and the escape itself are literal in a LIKE pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `*`, `?` and `[` are literal in a GLOB pattern when bracketed.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// Translates a filter into a condition on the resource row of `kind`.
pub fn condition(kind: Kind, filter: &Filter, backend: DatabaseBackend) -> ScimResult<Condition> {
    let mut sql = Sql::new(backend);
    write_filter(&mut sql, kind, filter)?;
    Ok(sql.into_condition())
}

/// Writes the SQL of a filter (used by `condition` and by the ordering expressions).
pub fn write_filter(sql: &mut Sql, kind: Kind, f: &Filter) -> ScimResult<()> {
    match f {
        Filter::And(a, b) | Filter::Or(a, b) => {
            sql.push("(");
            write_filter(sql, kind, a)?;
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            write_filter(sql, kind, b)?;
            sql.push(")");
            Ok(())
        }
        Filter::Not(a) => {
            sql.push("NOT (");
            write_filter(sql, kind, a)?;
            sql.push(")");
            Ok(())
        }
        Filter::Present(path) => {
            let (src, _) = source(kind, path)?;
            present(sql, kind, &src, true);
            Ok(())
        }
        Filter::Compare { path, op, value } => {
            let (src, def) = source(kind, path)?;
            compare(sql, kind, &src, def, path, *op, value)
        }
        Filter::ValuePath { path, filter } => value_path(sql, kind, path, filter),
    }
}

fn present(sql: &mut Sql, kind: Kind, src: &Source, positive: bool) {
    let t = kind.table();
    let not = if positive { "" } else { "NOT " };
    match src {
        Source::Column {
            column,
            nullable: true,
            ..
        } => {
            let test = if positive { "IS NOT NULL" } else { "IS NULL" };
            sql.push(&format!("{t}.\"{column}\" {test}"));
        }
        Source::Column { .. } | Source::Status | Source::Timestamp(_) => {
            sql.push(if positive { "1 = 1" } else { "1 = 0" });
        }
        Source::Membership => membership(sql, kind, !positive, None),
        Source::Index { path, .. } => {
            sql.push(&format!("{t}.\"id\" {not}IN (SELECT v.resource_id FROM scim_value v WHERE v.resource_kind = "));
            sql.param(kind.as_str());
            sql.push(" AND v.path = ");
            sql.param(path.clone());
            sql.push(")");
        }
    }
}

fn membership(sql: &mut Sql, kind: Kind, negated: bool, id: Option<&str>) {
    let not = if negated { "NOT " } else { "" };
    let (outer, select, by) = match kind {
        Kind::Group => ("\"team\"", "tm.team_id", "tm.member_id"),
        Kind::User => ("\"member\"", "tm.member_id", "tm.team_id"),
    };
    sql.push(&format!(
        "{outer}.\"id\" {not}IN (SELECT {select} FROM team_member tm"
    ));
    if let Some(id) = id {
        sql.push(&format!(" WHERE {by} = "));
        sql.param(id.to_owned());
    }
    sql.push(")");
}

/// The literal as the text the index or a column holds, checked against the attribute type.
fn text_literal(
    def: &AttrDef,
    path: &AttrPath,
    op: CompareOp,
    value: &Literal,
) -> ScimResult<String> {
    match (def.ty, value) {
        (AttrType::Boolean, Literal::Bool(b)) => {
            if matches!(op, CompareOp::Eq | CompareOp::Ne) {
                Ok(b.to_string())
            } else {
                Err(unsupported(path, "booleans compare with eq and ne"))
            }
        }
        (AttrType::Boolean, Literal::String(s))
            if crate::domain::scim::filter::as_bool(&serde_json::Value::String(s.clone()))
                .is_some()
                && matches!(op, CompareOp::Eq | CompareOp::Ne) =>
        {
            Ok(s.to_lowercase())
        }
        (AttrType::Boolean, _) => Err(unsupported(path, "compare a boolean with true or false")),
        (AttrType::Integer | AttrType::Decimal, Literal::Number(n)) => Ok(n.to_string()),
        (_, Literal::String(s)) => Ok(if def.case_exact {
            s.clone()
        } else {
            s.to_lowercase()
        }),
        (_, other) => Err(unsupported(
            path,
            &format!(
                "{} is a {}: compare it with a string, not {other}",
                def.name,
                def.ty.as_str()
            ),
        )),
    }
}

/// Writes `<expr> <op> <value>` for a text value; `exact` selects the case-exact form.
fn text_compare(sql: &mut Sql, expr: &str, exact: bool, op: CompareOp, value: String) {
    let pattern = |v: &str| match op {
        CompareOp::Co => (
            format!("%{}%", like_escape(v)),
            format!("*{}*", glob_escape(v)),
        ),
        CompareOp::Sw => (
            format!("{}%", like_escape(v)),
            format!("{}*", glob_escape(v)),
        ),
        _ => (
            format!("%{}", like_escape(v)),
            format!("*{}", glob_escape(v)),
        ),
    };
    match op {
        CompareOp::Eq | CompareOp::Ne => {
            sql.push(expr);
            sql.push(if op == CompareOp::Eq { " = " } else { " <> " });
            sql.param(value);
        }
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let (like, glob) = pattern(&value);
            if exact && !sql.pg() {
                sql.push(expr);
                sql.push(" GLOB ");
                sql.param(glob);
            } else {
                sql.push(expr);
                sql.push(" LIKE ");
                sql.param(like);
                sql.push(" ESCAPE '\\'");
            }
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            let sym = match op {
                CompareOp::Gt => " > ",
                CompareOp::Ge => " >= ",
                CompareOp::Lt => " < ",
                _ => " <= ",
            };
            sql.push(expr);
            let collate = sql.collate();
            sql.push(collate);
            sql.push(sym);
            sql.param(value);
        }
    }
}

fn compare(
    sql: &mut Sql,
    kind: Kind,
    src: &Source,
    def: &'static AttrDef,
    path: &AttrPath,
    op: CompareOp,
    value: &Literal,
) -> ScimResult<()> {
    let t = kind.table();
    if let Literal::Null = value {
        return match op {
            CompareOp::Eq => {
                present(sql, kind, src, false);
                Ok(())
            }
            CompareOp::Ne => {
                present(sql, kind, src, true);
                Ok(())
            }
            _ => Err(unsupported(path, "null compares with eq and ne")),
        };
    }
    match src {
        Source::Column {
            column,
            lowered,
            nullable,
        } => {
            let v = text_literal(def, path, op, value)?;
            let v = if *lowered { v.to_lowercase() } else { v };
            let expr = format!("{t}.\"{column}\"");
            if op == CompareOp::Ne && *nullable {
                sql.push(&format!("({expr} IS NULL OR "));
                text_compare(sql, &expr, !lowered, op, v);
                sql.push(")");
            } else {
                text_compare(sql, &expr, !lowered, op, v);
            }
            Ok(())
        }
        Source::Status => {
            let active = match value {
                Literal::Bool(b) => *b,
                Literal::String(s) => {
                    crate::domain::scim::filter::as_bool(&serde_json::Value::String(s.clone()))
                        .ok_or_else(|| unsupported(path, "compare active with true or false"))?
                }
                _ => return Err(unsupported(path, "compare active with true or false")),
            };
            let wanted = match op {
                CompareOp::Eq => active,
                CompareOp::Ne => !active,
                _ => return Err(unsupported(path, "booleans compare with eq and ne")),
            };
            sql.push(&format!(
                "{t}.\"status\" {} ",
                if wanted { "=" } else { "<>" }
            ));
            sql.param("active");
            Ok(())
        }
        Source::Timestamp(column) => {
            let Literal::String(s) = value else {
                return Err(unsupported(
                    path,
                    "compare a dateTime with an RFC 3339 string",
                ));
            };
            let ms = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| unsupported(path, &format!("{s:?} is not an RFC 3339 dateTime")))?
                .timestamp_millis();
            let sym = match op {
                CompareOp::Eq => "=",
                CompareOp::Ne => "<>",
                CompareOp::Gt => ">",
                CompareOp::Ge => ">=",
                CompareOp::Lt => "<",
                CompareOp::Le => "<=",
                _ => {
                    return Err(unsupported(
                        path,
                        "dateTimes compare with eq, ne, gt, ge, lt and le",
                    ));
                }
            };
            sql.push(&format!("{t}.\"{column}\" {sym} "));
            sql.param(ms);
            Ok(())
        }
        Source::Membership => {
            let Literal::String(id) = value else {
                return Err(unsupported(path, "compare members by id"));
            };
            match op {
                CompareOp::Eq => membership(sql, kind, false, Some(id)),
                CompareOp::Ne => membership(sql, kind, true, Some(id)),
                _ => return Err(unsupported(path, "members compare with eq and ne")),
            }
            Ok(())
        }
        Source::Index {
            path: index_path,
            def,
        } => {
            let v = text_literal(def, path, op, value)?;
            let negated = op == CompareOp::Ne;
            let op = if negated { CompareOp::Eq } else { op };
            sql.push(&format!(
                "{t}.\"id\" {}IN (SELECT v.resource_id FROM scim_value v WHERE v.resource_kind = ",
                if negated { "NOT " } else { "" }
            ));
            sql.param(kind.as_str());
            sql.push(" AND v.path = ");
            sql.param(index_path.clone());
            sql.push(" AND ");
            let column = if def.case_exact {
                "v.value"
            } else {
                "v.value_lower"
            };
            text_compare(sql, column, def.case_exact, op, v);
            sql.push(")");
            Ok(())
        }
    }
}

fn value_path(sql: &mut Sql, kind: Kind, path: &AttrPath, inner: &Filter) -> ScimResult<()> {
    let rs = kind.schema();
    let r = rs
        .resolve(path.uri.as_deref(), &path.name, None)
        .ok_or_else(|| unsupported(path, &format!("{} has no such attribute", rs.name)))?;
    if !(r.def.multi_valued && r.def.ty == AttrType::Complex) {
        return Err(unsupported(
            path,
            "[...] filters a multi-valued complex attribute",
        ));
    }
    if matches!(source(kind, path)?.0, Source::Membership) {
        // `members[value eq "id"]` is `members.value eq "id"`.
        let rewritten = rewrite_membership(path, inner)?;
        return write_filter(sql, kind, &rewritten);
    }
    let t = kind.table();
    sql.push(&format!(
        "{t}.\"id\" IN (SELECT a.resource_id FROM scim_value a WHERE a.resource_kind = "
    ));
    sql.param(kind.as_str());
    sql.push(" AND a.path = ");
    sql.param(r.index_path());
    sql.push(" AND ");
    element_filter(sql, kind, r, inner)?;
    sql.push(")");
    Ok(())
}

fn rewrite_membership(path: &AttrPath, inner: &Filter) -> ScimResult<Filter> {
    Ok(match inner {
        Filter::And(a, b) => {
            Filter::and(rewrite_membership(path, a)?, rewrite_membership(path, b)?)
        }
        Filter::Or(a, b) => Filter::or(rewrite_membership(path, a)?, rewrite_membership(path, b)?),
        Filter::Not(a) => Filter::Not(Box::new(rewrite_membership(path, a)?)),
        Filter::Compare { path: p, op, value }
            if p.name.eq_ignore_ascii_case("value") && p.sub.is_none() =>
        {
            Filter::Compare {
                path: AttrPath {
                    sub: Some("value".into()),
                    ..path.clone()
                },
                op: *op,
                value: value.clone(),
            }
        }
        Filter::Present(p) if p.name.eq_ignore_ascii_case("value") => Filter::Present(AttrPath {
            sub: Some("value".into()),
            ..path.clone()
        }),
        _ => return Err(unsupported(path, "members are filtered by value")),
    })
}

/// A condition on the element row `a` (path = the attribute, elem = the element).
fn element_filter(sql: &mut Sql, kind: Kind, r: ResolvedAttr, f: &Filter) -> ScimResult<()> {
    match f {
        Filter::And(x, y) | Filter::Or(x, y) => {
            sql.push("(");
            element_filter(sql, kind, r, x)?;
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            element_filter(sql, kind, r, y)?;
            sql.push(")");
            Ok(())
        }
        Filter::Not(x) => {
            sql.push("NOT (");
            element_filter(sql, kind, r, x)?;
            sql.push(")");
            Ok(())
        }
        Filter::ValuePath { path, .. } => Err(unsupported(path, "value paths cannot nest")),
        Filter::Present(p) | Filter::Compare { path: p, .. } => {
            if p.uri.is_some() || p.sub.is_some() {
                return Err(unsupported(
                    p,
                    &format!("inside [...] name a sub-attribute of {}", r.def.name),
                ));
            }
            let sub = r.def.sub(&p.name).ok_or_else(|| {
                unsupported(
                    p,
                    &format!("{} has no sub-attribute {:?}", r.def.name, p.name),
                )
            })?;
            let sub_path = ResolvedAttr {
                sub: Some(sub),
                ..r
            }
            .index_path();
            let (op, value) = match f {
                Filter::Compare { op, value, .. } => (Some(*op), Some(value)),
                _ => (None, None),
            };
            let exists = |sql: &mut Sql, negated: bool| {
                sql.push(if negated { "NOT EXISTS (" } else { "EXISTS (" });
                sql.push("SELECT 1 FROM scim_value s WHERE s.resource_kind = a.resource_kind AND s.resource_id = a.resource_id AND s.elem = a.elem AND s.path = ");
                sql.param(sub_path.clone());
            };
            match (op, value) {
                (None, _) => {
                    exists(sql, false);
                    sql.push(")");
                }
                (Some(op), Some(Literal::Null)) => {
                    match op {
                        CompareOp::Eq => exists(sql, true),
                        CompareOp::Ne => exists(sql, false),
                        _ => return Err(unsupported(p, "null compares with eq and ne")),
                    }
                    sql.push(")");
                }
                (Some(op), Some(value)) => {
                    let v = text_literal(sub, p, op, value)?;
                    let negated = op == CompareOp::Ne;
                    let op = if negated { CompareOp::Eq } else { op };
                    exists(sql, negated);
                    sql.push(" AND ");
                    let column = if sub.case_exact {
                        "s.value"
                    } else {
                        "s.value_lower"
                    };
                    text_compare(sql, column, sub.case_exact, op, v);
                    sql.push(")");
                }
                (Some(_), None) => {}
            }
            let _ = kind;
            Ok(())
        }
    }
}

/// `ORDER BY` terms for `sortBy`: missing values sort last ascending and first descending,
/// identically on both databases; ties break by creation then id, so pages are stable.
pub fn order_by(
    kind: Kind,
    sort_by: Option<&AttrPath>,
    descending: bool,
    backend: DatabaseBackend,
) -> ScimResult<Vec<(String, sea_orm::Order)>> {
    use sea_orm::Order;
    let t = kind.table();
    let dir = || if descending { Order::Desc } else { Order::Asc };
    let stable = |dir: Order| {
        vec![
            (format!("{t}.\"created_at\""), dir.clone()),
            (format!("{t}.\"id\""), dir),
        ]
    };
    let Some(path) = sort_by else {
        return Ok(stable(Order::Asc));
    };
    let (src, _) = source(kind, path)
        .map_err(|e| ScimError::invalid_value(format!("sortBy: {}", e.detail)))?;
    let collate = if backend == DatabaseBackend::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    let expr = match src {
        Source::Column { column, .. } => format!("{t}.\"{column}\""),
        Source::Status => format!("{t}.\"status\""),
        Source::Timestamp(column) => {
            let mut terms = vec![(format!("{t}.\"{column}\""), dir())];
            terms.extend(stable(dir()));
            return Ok(terms);
        }
        Source::Membership => {
            return Err(ScimError::invalid_value(
                "sortBy: cannot sort by membership",
            ));
        }
        Source::Index { path, .. } => {
            // Kinds and paths come from the schema table, never from the request: safe to inline.
            let kind = kind.as_str();
            format!(
                "(SELECT MIN(v.value_lower) FROM scim_value v WHERE v.resource_kind = '{kind}' AND v.resource_id = {t}.\"id\" AND v.path = '{path}')"
            )
        }
    };
    let mut terms = vec![
        (
            format!("CASE WHEN {expr} IS NULL THEN 1 ELSE 0 END"),
            if descending { Order::Desc } else { Order::Asc },
        ),
        (format!("{expr}{collate}"), dir()),
    ];
    terms.extend(stable(dir()));
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scim::filter::parse_filter;

    fn sql(kind: Kind, f: &str, backend: DatabaseBackend) -> ScimResult<(String, Vec<DbValue>)> {
        let mut s = Sql::new(backend);
        write_filter(&mut s, kind, &parse_filter(f).unwrap())?;
        Ok((s.text, s.values))
    }

    #[test]
    fn escapes() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
        assert_eq!(glob_escape("a*b?[c]"), "a[*]b[?][[]c]");
    }

    #[test]
    fn columns_and_index_and_placeholders() {
        let (text, values) = sql(
            Kind::User,
            r#"userName eq "Ann@X.io""#,
            DatabaseBackend::Sqlite,
        )
        .unwrap();
        assert_eq!(text, "\"member\".\"user_name_lower\" = ?");
        assert_eq!(values, vec![DbValue::from("ann@x.io")]);
        let (text, _) = sql(
            Kind::User,
            r#"externalId sw "a_b" and active eq true"#,
            DatabaseBackend::Sqlite,
        )
        .unwrap();
        assert!(text.contains("GLOB ?"), "{text}");
        let (text, values) = sql(
            Kind::User,
            r#"emails[type eq "work" and value co "50%"]"#,
            DatabaseBackend::Postgres,
        )
        .unwrap();
        assert!(text.contains("$5"), "{text}");
        assert!(text.contains("LIKE $6 ESCAPE"), "{text}");
        assert_eq!(values.last(), Some(&DbValue::from("%50\\%%")));
        let (text, _) = sql(
            Kind::User,
            r#"name.familyName gt "m""#,
            DatabaseBackend::Postgres,
        )
        .unwrap();
        assert!(text.contains("COLLATE \"C\" >"), "{text}");
        let (text, _) = sql(
            Kind::Group,
            r#"members[value eq "x"] or members.value eq "y""#,
            DatabaseBackend::Sqlite,
        )
        .unwrap();
        assert!(text.contains("team_member"), "{text}");
    }

    #[test]
    fn unknown_and_unsupported_are_invalid_filter() {
        for f in [
            "nope eq \"x\"",
            "name.nope pr",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope pr",
            "active gt true",
            "userName eq 5",
            "meta.location eq \"x\"",
            "meta.created eq \"yesterday\"",
            "x509Certificates.value eq \"x\"",
            "members.display eq \"x\"",
        ] {
            let Ok(parsed) = parse_filter(f) else {
                continue;
            };
            let mut s = Sql::new(DatabaseBackend::Sqlite);
            let kind = if f.starts_with("members") {
                Kind::Group
            } else {
                Kind::User
            };
            let e = write_filter(&mut s, kind, &parsed).unwrap_err();
            assert_eq!(
                e.scim_type.map(|t| t.as_str()),
                Some("invalidFilter"),
                "{f}"
            );
        }
    }
}
