use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::domain::scim::schema::{GROUP, USER};

fn p(s: &str) -> Filter {
    parse_filter(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn cmp(name: &str, op: CompareOp, v: Literal) -> Filter {
    Filter::Compare {
        path: AttrPath::simple(name),
        op,
        value: v,
    }
}

fn s(v: &str) -> Literal {
    Literal::String(v.to_owned())
}

#[test]
fn every_operator_parses_case_insensitively() {
    for op in ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"] {
        let f = p(&format!("userName {} \"x\"", op.to_uppercase()));
        assert_eq!(f, cmp("userName", CompareOp::parse(op).unwrap(), s("x")));
    }
    assert_eq!(p("title PR"), Filter::Present(AttrPath::simple("title")));
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let f = p("a eq 1 or b eq 2 and c eq 3");
    let n = |x: i64| Literal::Number(x.into());
    assert_eq!(
        f,
        Filter::or(
            cmp("a", CompareOp::Eq, n(1)),
            Filter::and(cmp("b", CompareOp::Eq, n(2)), cmp("c", CompareOp::Eq, n(3)))
        )
    );
    let f = p("(a eq 1 or b eq 2) and not (c eq 3)");
    assert_eq!(
        f,
        Filter::and(
            Filter::or(cmp("a", CompareOp::Eq, n(1)), cmp("b", CompareOp::Eq, n(2))),
            Filter::Not(Box::new(cmp("c", CompareOp::Eq, n(3))))
        )
    );
    // RFC 7644's own example, with a space after `not`.
    p(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    );
    p(r#"userType eq "Employee" and (emails.type eq "work")"#);
    p(r#"userType eq "Employee" AND not(emails co "x") OR title pr"#);
}

#[test]
fn value_paths_sub_attributes_and_uris() {
    let f = p(r#"emails[type eq "work" and value co "@example.com"]"#);
    let Filter::ValuePath { path, filter } = f else {
        panic!("not a value path")
    };
    assert_eq!(path, AttrPath::simple("emails"));
    assert!(matches!(*filter, Filter::And(..)));

    let f = p(r#"name.familyName co "O'Malley""#);
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(path.sub.as_deref(), Some("familyName"));

    let f = p(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#);
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(
        path.uri.as_deref(),
        Some("urn:ietf:params:scim:schemas:core:2.0:User")
    );
    assert_eq!(path.name, "userName");

    let f = p(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
    );
    let Filter::Compare { path, .. } = f else {
        panic!()
    };
    assert_eq!(path.name, "manager");
    assert_eq!(path.sub.as_deref(), Some("value"));

    // Entra's `attr[filter].sub op value` is the same as filtering the element on both.
    assert_eq!(
        p(r#"emails[type eq "work"].value eq "a@b.c""#),
        p(r#"emails[type eq "work" and value eq "a@b.c"]"#)
    );
}

#[test]
fn literals_are_json() {
    assert_eq!(
        p(r#"a eq "q\"uote\\ \u00e9 \n""#),
        cmp("a", CompareOp::Eq, s("q\"uote\\ é \n"))
    );
    assert_eq!(p("a eq true"), cmp("a", CompareOp::Eq, Literal::Bool(true)));
    assert_eq!(
        p("a eq False"),
        cmp("a", CompareOp::Eq, Literal::Bool(false))
    );
    assert_eq!(p("a eq null"), cmp("a", CompareOp::Eq, Literal::Null));
    assert_eq!(
        p("a gt -1.5e3"),
        cmp(
            "a",
            CompareOp::Gt,
            Literal::Number(serde_json::Number::from_f64(-1500.0).unwrap())
        )
    );
}

#[test]
fn errors_say_where() {
    let cases = [
        ("userName eq", 11, "expected a value"),
        ("userName xx \"a\"", 9, "expected an operator"),
        ("userName eq bob", 12, "need double quotes"),
        ("(userName eq \"a\"", 16, "expected ')'"),
        ("emails[type eq \"work\"", 21, "expected ']'"),
        ("userName eq \"a\" junk", 16, "unexpected"),
        ("userName eq \"a", 12, "unterminated"),
        ("emails[value[x pr]]", 12, "cannot nest"),
        ("", 0, "expected an attribute name"),
        ("1abc pr", 0, "not an attribute path"),
        ("a eq \"\\x\"", 5, "invalid string literal"),
        ("a eq \"é\" or b eq", 16, "expected a value"),
    ];
    for (input, offset, message) in cases {
        let err = parse_filter(input).expect_err(input);
        assert_eq!(err.offset, offset, "{input}: {err}");
        assert!(err.message.contains(message), "{input}: {err}");
    }
    let deep = format!("{}a pr{}", "(".repeat(40), ")".repeat(40));
    assert!(
        parse_filter(&deep)
            .unwrap_err()
            .message
            .contains("levels deep")
    );
    assert!(parse_filter(&"a pr and ".repeat(2000)).is_err());
}

#[test]
fn elements_match_with_case_rules_of_the_schema() {
    let emails = USER.resolve(None, "emails", None).unwrap().def;
    let e = json!({"value": "Bob@Example.com", "type": "work", "primary": true});
    let yes = |f: &str| matches(&p(f), &e, emails).unwrap();
    assert!(yes(r#"type eq "WORK""#));
    assert!(yes(r#"value ew "example.COM" and primary eq true"#));
    assert!(!yes(r#"type ne "work""#));
    assert!(yes(r#"display eq null"#));
    assert!(yes(r#"not (display pr)"#));
    assert!(matches(&p(r#"nope eq "x""#), &e, emails).is_err());
    assert!(matches(&p(r#"primary gt true"#), &e, emails).is_err());

    let members = GROUP.resolve(None, "members", None).unwrap().def;
    let m = json!({"value": "AbC"});
    assert!(
        !matches(&p(r#"value eq "abc""#), &m, members).unwrap(),
        "value is caseExact"
    );
    assert!(matches(&p(r#"value eq "AbC""#), &m, members).unwrap());
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,8}".prop_filter("keywords read as keywords", |n| {
        !["not", "and", "or"].contains(&n.to_ascii_lowercase().as_str())
    })
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (
        prop_oneof![
            Just(None),
            Just(Some(
                "urn:ietf:params:scim:schemas:core:2.0:User".to_owned()
            )),
            Just(Some(
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".to_owned()
            )),
        ],
        name(),
        proptest::option::of(name()),
    )
        .prop_map(|(uri, name, sub)| AttrPath { uri, name, sub })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::String),
        any::<i64>().prop_map(|n| Literal::Number(n.into())),
        (-1e12f64..1e12).prop_map(|f| Literal::Number(serde_json::Number::from_f64(f).unwrap())),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn leaf(in_value: bool) -> BoxedStrategy<Filter> {
    let path = if in_value {
        name().prop_map(|n| AttrPath::simple(&n)).boxed()
    } else {
        attr_path().boxed()
    };
    prop_oneof![
        (path.clone(), op(), literal()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        path.prop_map(Filter::Present),
    ]
    .boxed()
}

fn tree(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
        inner.prop_map(|a| Filter::Not(Box::new(a))),
    ]
    .boxed()
}

fn filter() -> impl Strategy<Value = Filter> {
    let value_filter = leaf(true).prop_recursive(3, 8, 2, tree);
    let outer_leaf = prop_oneof![
        3 => leaf(false),
        1 => (name(), value_filter).prop_map(|(n, f)| Filter::ValuePath {
            path: AttrPath::simple(&n),
            filter: Box::new(f)
        }),
    ];
    outer_leaf.prop_recursive(4, 24, 2, tree)
}

proptest! {
    #[test]
    fn printing_parses_back_to_the_same_tree(f in filter()) {
        let printed = f.to_string();
        let parsed = parse_filter(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&f), "{}", printed);
    }

    #[test]
    fn any_input_parses_or_fails_without_panicking(input in any::<String>()) {
        if let Err(e) = parse_filter(&input) {
            prop_assert!(e.offset <= input.chars().count());
        }
    }

    #[test]
    fn filter_like_noise_never_panics(input in r#"[a-z.:\[\]() "\\0-9]{0,60}"#) {
        if let Err(e) = parse_filter(&input) {
            prop_assert!(e.offset <= input.chars().count());
        }
    }
}
