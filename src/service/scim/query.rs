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
            let c = Comparison {
                path,
                op: *op,
                value,
            };
            compare(sql, kind, &src, def, &c)
        }
        Filter::ValuePath { path, filter } => value_path(sql, kind, path, filter),
    }
}

fn present(sql: &mut Sql, kind: Kind, src: &Source, positive: bool) {
    let t = kind.table();
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
            open_index_subquery(sql, kind, path, !positive);
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

/// One comparison of a filter: `path op value`.
#[derive(Debug, Clone, Copy)]
struct Comparison<'a> {
    path: &'a AttrPath,
    op: CompareOp,
    value: &'a Literal,
}

/// How an operator compares; each family writes its own SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `eq` and `ne`, with their SQL symbol.
    Equality(&'static str),
    /// `co`, `sw` and `ew`: a pattern, open before and/or after the value.
    Pattern { before: bool, after: bool },
    /// `gt`, `ge`, `lt` and `le`, with their SQL symbol; byte order.
    Order(&'static str),
}

fn family(op: CompareOp) -> Family {
    match op {
        CompareOp::Eq => Family::Equality("="),
        CompareOp::Ne => Family::Equality("<>"),
        CompareOp::Co => Family::Pattern {
            before: true,
            after: true,
        },
        CompareOp::Sw => Family::Pattern {
            before: false,
            after: true,
        },
        CompareOp::Ew => Family::Pattern {
            before: true,
            after: false,
        },
        CompareOp::Gt => Family::Order(">"),
        CompareOp::Ge => Family::Order(">="),
        CompareOp::Lt => Family::Order("<"),
        CompareOp::Le => Family::Order("<="),
    }
}

/// An escaped value with `wildcard` on the sides the operator leaves open.
fn pattern(escaped: &str, wildcard: char, before: bool, after: bool) -> String {
    let mut out = String::with_capacity(escaped.len() + 2);
    if before {
        out.push(wildcard);
    }
    out.push_str(escaped);
    if after {
        out.push(wildcard);
    }
    out
}

/// `ne` against a set of rows is "no row equals", so it becomes a negated `eq`: the answer
/// is whether to negate, and the operator to write.
fn split_negation(op: CompareOp) -> (bool, CompareOp) {
    match op {
        CompareOp::Ne => (true, CompareOp::Eq),
        other => (false, other),
    }
}

/// `eq null` asks for absence and `ne null` for presence: whether the value must be present.
fn null_means_present(c: &Comparison) -> ScimResult<bool> {
    match c.op {
        CompareOp::Eq => Ok(false),
        CompareOp::Ne => Ok(true),
        _ => Err(unsupported(c.path, "null compares with eq and ne")),
    }
}

/// The index column a value compares against: the stored text when case matters, else its
/// lower-cased copy.
fn value_column(alias: &str, case_exact: bool) -> String {
    if case_exact {
        format!("{alias}.value")
    } else {
        format!("{alias}.value_lower")
    }
}

/// The literal as the text the index or a column holds, checked against the attribute type.
fn text_literal(def: &AttrDef, c: &Comparison) -> ScimResult<String> {
    let (path, op) = (c.path, c.op);
    match (def.ty, c.value) {
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
    sql.push(expr);
    match family(op) {
        Family::Equality(symbol) => {
            sql.push(&format!(" {symbol} "));
            sql.param(value);
        }
        // SQLite's LIKE ignores ASCII case, so case-exact patterns there use GLOB.
        Family::Pattern { before, after } if exact && !sql.pg() => {
            sql.push(" GLOB ");
            sql.param(pattern(&glob_escape(&value), '*', before, after));
        }
        Family::Pattern { before, after } => {
            sql.push(" LIKE ");
            sql.param(pattern(&like_escape(&value), '%', before, after));
            sql.push(" ESCAPE '\\'");
        }
        Family::Order(symbol) => {
            let collate = sql.collate();
            sql.push(collate);
            sql.push(&format!(" {symbol} "));
            sql.param(value);
        }
    }
}

/// Writes a comparison against the place `src` keeps the attribute.
fn compare(
    sql: &mut Sql,
    kind: Kind,
    src: &Source,
    def: &'static AttrDef,
    c: &Comparison,
) -> ScimResult<()> {
    if let Literal::Null = c.value {
        present(sql, kind, src, null_means_present(c)?);
        return Ok(());
    }
    let t = kind.table();
    match src {
        Source::Column {
            column,
            lowered,
            nullable,
        } => {
            let expr = format!("{t}.\"{column}\"");
            compare_column(sql, &expr, *lowered, *nullable, def, c)
        }
        Source::Status => {
            let wanted = status_is_active(c)?;
            sql.push(&format!(
                "{t}.\"status\" {} ",
                if wanted { "=" } else { "<>" }
            ));
            sql.param("active");
            Ok(())
        }
        Source::Timestamp(column) => {
            let (symbol, ms) = timestamp_comparison(c)?;
            sql.push(&format!("{t}.\"{column}\" {symbol} "));
            sql.param(ms);
            Ok(())
        }
        Source::Membership => {
            let (negated, id) = membership_comparison(c)?;
            membership(sql, kind, negated, Some(id));
            Ok(())
        }
        Source::Index { path, def } => compare_index(sql, kind, path, def, c),
    }
}

/// A text column; `ne` on a nullable column also matches the rows without a value.
fn compare_column(
    sql: &mut Sql,
    expr: &str,
    lowered: bool,
    nullable: bool,
    def: &AttrDef,
    c: &Comparison,
) -> ScimResult<()> {
    let v = text_literal(def, c)?;
    let v = if lowered { v.to_lowercase() } else { v };
    if c.op == CompareOp::Ne && nullable {
        sql.push(&format!("({expr} IS NULL OR "));
        text_compare(sql, expr, !lowered, c.op, v);
        sql.push(")");
    } else {
        text_compare(sql, expr, !lowered, c.op, v);
    }
    Ok(())
}

/// `active` as a condition on `status`: true when the rows wanted have `status = 'active'`.
fn status_is_active(c: &Comparison) -> ScimResult<bool> {
    let active = match c.value {
        Literal::Bool(b) => *b,
        Literal::String(s) => {
            crate::domain::scim::filter::as_bool(&serde_json::Value::String(s.clone()))
                .ok_or_else(|| unsupported(c.path, "compare active with true or false"))?
        }
        _ => return Err(unsupported(c.path, "compare active with true or false")),
    };
    match c.op {
        CompareOp::Eq => Ok(active),
        CompareOp::Ne => Ok(!active),
        _ => Err(unsupported(c.path, "booleans compare with eq and ne")),
    }
}

/// A `meta` date as the SQL symbol and the epoch milliseconds the column holds.
fn timestamp_comparison(c: &Comparison) -> ScimResult<(&'static str, i64)> {
    let Literal::String(s) = c.value else {
        return Err(unsupported(
            c.path,
            "compare a dateTime with an RFC 3339 string",
        ));
    };
    let ms = chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| unsupported(c.path, &format!("{s:?} is not an RFC 3339 dateTime")))?
        .timestamp_millis();
    match family(c.op) {
        Family::Equality(symbol) | Family::Order(symbol) => Ok((symbol, ms)),
        Family::Pattern { .. } => Err(unsupported(
            c.path,
            "dateTimes compare with eq, ne, gt, ge, lt and le",
        )),
    }
}

/// A membership comparison: whether it is negated (`ne`), and the id it names.
fn membership_comparison<'a>(c: &Comparison<'a>) -> ScimResult<(bool, &'a str)> {
    let Literal::String(id) = c.value else {
        return Err(unsupported(c.path, "compare members by id"));
    };
    match c.op {
        CompareOp::Eq => Ok((false, id)),
        CompareOp::Ne => Ok((true, id)),
        _ => Err(unsupported(c.path, "members compare with eq and ne")),
    }
}

/// Opens `<row> [NOT] IN (SELECT ... FROM scim_value v WHERE <kind and path>`; the caller
/// closes it.
fn open_index_subquery(sql: &mut Sql, kind: Kind, index_path: &str, negated: bool) {
    let t = kind.table();
    let not = if negated { "NOT " } else { "" };
    sql.push(&format!(
        "{t}.\"id\" {not}IN (SELECT v.resource_id FROM scim_value v WHERE v.resource_kind = "
    ));
    sql.param(kind.as_str());
    sql.push(" AND v.path = ");
    sql.param(index_path.to_owned());
}

/// An attribute of the `scim_value` index: the rows with (or, for `ne`, without) a value
/// that compares.
fn compare_index(
    sql: &mut Sql,
    kind: Kind,
    index_path: &str,
    def: &AttrDef,
    c: &Comparison,
) -> ScimResult<()> {
    let v = text_literal(def, c)?;
    let (negated, op) = split_negation(c.op);
    open_index_subquery(sql, kind, index_path, negated);
    sql.push(" AND ");
    text_compare(
        sql,
        &value_column("v", def.case_exact),
        def.case_exact,
        op,
        v,
    );
    sql.push(")");
    Ok(())
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
    element_filter(sql, r, inner)?;
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
fn element_filter(sql: &mut Sql, r: ResolvedAttr, f: &Filter) -> ScimResult<()> {
    match f {
        Filter::And(x, y) | Filter::Or(x, y) => {
            sql.push("(");
            element_filter(sql, r, x)?;
            sql.push(if matches!(f, Filter::And(..)) {
                " AND "
            } else {
                " OR "
            });
            element_filter(sql, r, y)?;
            sql.push(")");
            Ok(())
        }
        Filter::Not(x) => {
            sql.push("NOT (");
            element_filter(sql, r, x)?;
            sql.push(")");
            Ok(())
        }
        Filter::ValuePath { path, .. } => Err(unsupported(path, "value paths cannot nest")),
        Filter::Present(p) => {
            let (_, sub_path) = element_sub(r, p)?;
            open_element_exists(sql, &sub_path, false);
            sql.push(")");
            Ok(())
        }
        Filter::Compare { path, op, value } => {
            let c = Comparison {
                path,
                op: *op,
                value,
            };
            element_compare(sql, r, &c)
        }
    }
}

/// The sub-attribute a condition inside `[...]` names, and its index path.
fn element_sub(r: ResolvedAttr, p: &AttrPath) -> ScimResult<(&'static AttrDef, String)> {
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
    Ok((sub, sub_path))
}

/// Opens `[NOT] EXISTS (` a value of `sub_path` in the same element; the caller closes it.
fn open_element_exists(sql: &mut Sql, sub_path: &str, negated: bool) {
    sql.push(if negated { "NOT EXISTS (" } else { "EXISTS (" });
    sql.push("SELECT 1 FROM scim_value s WHERE s.resource_kind = a.resource_kind AND s.resource_id = a.resource_id AND s.elem = a.elem AND s.path = ");
    sql.param(sub_path.to_owned());
}

/// A comparison on a sub-attribute of the element: a value of it that compares exists (or,
/// for `ne`, none does).
fn element_compare(sql: &mut Sql, r: ResolvedAttr, c: &Comparison) -> ScimResult<()> {
    let (sub, sub_path) = element_sub(r, c.path)?;
    if let Literal::Null = c.value {
        let present = null_means_present(c)?;
        open_element_exists(sql, &sub_path, !present);
        sql.push(")");
        return Ok(());
    }
    let v = text_literal(sub, c)?;
    let (negated, op) = split_negation(c.op);
    open_element_exists(sql, &sub_path, negated);
    sql.push(" AND ");
    text_compare(
        sql,
        &value_column("s", sub.case_exact),
        sub.case_exact,
        op,
        v,
    );
    sql.push(")");
    Ok(())
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

    fn cmp<'a>(path: &'a AttrPath, op: CompareOp, value: &'a Literal) -> Comparison<'a> {
        Comparison { path, op, value }
    }

    fn attr(name: &str) -> AttrPath {
        AttrPath {
            uri: None,
            name: name.into(),
            sub: None,
        }
    }

    fn detail(e: ScimError) -> String {
        assert_eq!(e.scim_type.map(|t| t.as_str()), Some("invalidFilter"));
        e.detail
    }

    #[test]
    fn every_operator_has_one_family() {
        use CompareOp::*;
        assert_eq!(family(Eq), Family::Equality("="));
        assert_eq!(family(Ne), Family::Equality("<>"));
        assert_eq!(family(Gt), Family::Order(">"));
        assert_eq!(family(Ge), Family::Order(">="));
        assert_eq!(family(Lt), Family::Order("<"));
        assert_eq!(family(Le), Family::Order("<="));
        let open = |op| match family(op) {
            Family::Pattern { before, after } => Some((before, after)),
            _ => None,
        };
        assert_eq!(open(Co), Some((true, true)));
        assert_eq!(open(Sw), Some((false, true)));
        assert_eq!(open(Ew), Some((true, false)));
    }

    #[test]
    fn patterns_open_the_sides_the_operator_leaves_open() {
        assert_eq!(pattern(&like_escape("a_b"), '%', true, true), r"%a\_b%");
        assert_eq!(pattern(&like_escape("a"), '%', false, true), "a%");
        assert_eq!(pattern(&glob_escape("a*"), '*', true, false), "*a[*]");
    }

    #[test]
    fn ne_on_a_set_is_a_negated_eq() {
        assert_eq!(split_negation(CompareOp::Ne), (true, CompareOp::Eq));
        assert_eq!(split_negation(CompareOp::Eq), (false, CompareOp::Eq));
        assert_eq!(split_negation(CompareOp::Co), (false, CompareOp::Co));
        assert_eq!(value_column("v", true), "v.value");
        assert_eq!(value_column("s", false), "s.value_lower");
    }

    #[test]
    fn null_asks_for_presence_with_eq_and_ne_only() {
        let p = attr("externalId");
        let null = Literal::Null;
        assert!(!null_means_present(&cmp(&p, CompareOp::Eq, &null)).unwrap());
        assert!(null_means_present(&cmp(&p, CompareOp::Ne, &null)).unwrap());
        let e = null_means_present(&cmp(&p, CompareOp::Gt, &null)).unwrap_err();
        assert_eq!(detail(e), "externalId: null compares with eq and ne");
    }

    #[test]
    fn active_becomes_a_status_test() {
        let p = attr("active");
        let yes = Literal::Bool(true);
        let no = Literal::String("False".into());
        assert!(status_is_active(&cmp(&p, CompareOp::Eq, &yes)).unwrap());
        assert!(!status_is_active(&cmp(&p, CompareOp::Ne, &yes)).unwrap());
        assert!(!status_is_active(&cmp(&p, CompareOp::Eq, &no)).unwrap());
        assert!(status_is_active(&cmp(&p, CompareOp::Ne, &no)).unwrap());
        // The value is checked before the operator.
        let word = Literal::String("yes".into());
        let e = status_is_active(&cmp(&p, CompareOp::Gt, &word)).unwrap_err();
        assert_eq!(detail(e), "active: compare active with true or false");
        let e = status_is_active(&cmp(&p, CompareOp::Co, &yes)).unwrap_err();
        assert_eq!(detail(e), "active: booleans compare with eq and ne");
    }

    #[test]
    fn dates_compare_as_epoch_milliseconds() {
        let p = attr("created");
        let date = Literal::String("2024-01-01T00:00:00.5+01:00".into());
        assert_eq!(
            timestamp_comparison(&cmp(&p, CompareOp::Ge, &date)).unwrap(),
            (">=", 1_704_063_600_500)
        );
        let e = timestamp_comparison(&cmp(&p, CompareOp::Sw, &date)).unwrap_err();
        assert_eq!(
            detail(e),
            "created: dateTimes compare with eq, ne, gt, ge, lt and le"
        );
        let bad = Literal::String("yesterday".into());
        let e = timestamp_comparison(&cmp(&p, CompareOp::Sw, &bad)).unwrap_err();
        assert_eq!(
            detail(e),
            r#"created: "yesterday" is not an RFC 3339 dateTime"#
        );
        let e = timestamp_comparison(&cmp(&p, CompareOp::Eq, &Literal::Bool(true))).unwrap_err();
        assert_eq!(
            detail(e),
            "created: compare a dateTime with an RFC 3339 string"
        );
    }

    #[test]
    fn members_compare_by_id_with_eq_and_ne() {
        let p = attr("members");
        let id = Literal::String("u1".into());
        assert_eq!(
            membership_comparison(&cmp(&p, CompareOp::Eq, &id)).unwrap(),
            (false, "u1")
        );
        assert_eq!(
            membership_comparison(&cmp(&p, CompareOp::Ne, &id)).unwrap(),
            (true, "u1")
        );
        let e = membership_comparison(&cmp(&p, CompareOp::Co, &id)).unwrap_err();
        assert_eq!(detail(e), "members: members compare with eq and ne");
        let e = membership_comparison(&cmp(&p, CompareOp::Co, &Literal::Null)).unwrap_err();
        assert_eq!(detail(e), "members: compare members by id");
    }

    #[test]
    fn conditions_in_brackets_name_a_sub_attribute() {
        let emails = Kind::User.schema().resolve(None, "emails", None).unwrap();
        let (sub, path) = element_sub(emails, &attr("Type")).unwrap();
        assert_eq!((sub.name, path.as_str()), ("type", "emails.type"));
        let e = element_sub(emails, &attr("nope")).unwrap_err();
        assert_eq!(detail(e), r#"nope: emails has no sub-attribute "nope""#);
        let dotted = AttrPath {
            sub: Some("x".into()),
            ..attr("type")
        };
        let e = element_sub(emails, &dotted).unwrap_err();
        assert_eq!(
            detail(e),
            "type.x: inside [...] name a sub-attribute of emails"
        );
    }

    #[test]
    fn each_attribute_kind_writes_its_sql() {
        let gh = crate::domain::scim::schema::GATEHOUSE_URN;
        let cases = [
            (
                Kind::User,
                r#"externalId ne "X""#.to_owned(),
                DatabaseBackend::Sqlite,
                r#"("member"."external_id" IS NULL OR "member"."external_id" <> ?)"#,
            ),
            (
                Kind::User,
                r#"externalId co "X*""#.to_owned(),
                DatabaseBackend::Sqlite,
                r#""member"."external_id" GLOB ?"#,
            ),
            (
                Kind::User,
                r#"externalId co "X*""#.to_owned(),
                DatabaseBackend::Postgres,
                r#""member"."external_id" LIKE $1 ESCAPE '\'"#,
            ),
            (
                Kind::User,
                "userName eq null".to_owned(),
                DatabaseBackend::Sqlite,
                "1 = 0",
            ),
            (
                Kind::User,
                "active eq false".to_owned(),
                DatabaseBackend::Postgres,
                r#""member"."status" <> $1"#,
            ),
            (
                Kind::Group,
                r#"meta.lastModified le "2024-01-01T00:00:00Z""#.to_owned(),
                DatabaseBackend::Postgres,
                r#""team"."updated_at" <= $1"#,
            ),
            (
                Kind::User,
                r#"groups.value ne "g""#.to_owned(),
                DatabaseBackend::Sqlite,
                r#""member"."id" NOT IN (SELECT tm.member_id FROM team_member tm WHERE tm.team_id = ?)"#,
            ),
            (
                Kind::User,
                format!(r#"{gh}:customRole lt "b""#),
                DatabaseBackend::Postgres,
                r#""member"."id" IN (SELECT v.resource_id FROM scim_value v WHERE v.resource_kind = $1 AND v.path = $2 AND v.value COLLATE "C" < $3)"#,
            ),
            (
                Kind::User,
                r#"emails.type ne "Work""#.to_owned(),
                DatabaseBackend::Sqlite,
                r#""member"."id" NOT IN (SELECT v.resource_id FROM scim_value v WHERE v.resource_kind = ? AND v.path = ? AND v.value_lower = ?)"#,
            ),
            (
                Kind::User,
                "emails[type eq null]".to_owned(),
                DatabaseBackend::Sqlite,
                "\"member\".\"id\" IN (SELECT a.resource_id FROM scim_value a WHERE a.resource_kind = ? AND a.path = ? AND NOT EXISTS (SELECT 1 FROM scim_value s WHERE s.resource_kind = a.resource_kind AND s.resource_id = a.resource_id AND s.elem = a.elem AND s.path = ?))",
            ),
            (
                Kind::User,
                r#"emails[type ne "X"]"#.to_owned(),
                DatabaseBackend::Sqlite,
                "\"member\".\"id\" IN (SELECT a.resource_id FROM scim_value a WHERE a.resource_kind = ? AND a.path = ? AND NOT EXISTS (SELECT 1 FROM scim_value s WHERE s.resource_kind = a.resource_kind AND s.resource_id = a.resource_id AND s.elem = a.elem AND s.path = ? AND s.value_lower = ?))",
            ),
        ];
        for (kind, f, backend, want) in cases {
            let (text, _) = sql(kind, &f, backend).unwrap();
            assert_eq!(text, want, "{f}");
        }
    }
}
