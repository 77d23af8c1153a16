//! Any JSON body: PATCH parses and applies to a user, or fails with a 4xx; the original
//! document never changes and a successful result is canonical.
#![no_main]

use gatehouse::domain::scim::patch::{apply, parse_patch, split_member_ops};
use gatehouse::domain::scim::resource::canonicalize;
use gatehouse::domain::scim::schema::{GROUP, USER};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let user = canonicalize(
        &USER,
        &json!({"userName": "ann@example.com", "active": true, "name": {"givenName": "Ann"},
                "emails": [{"value": "ann@example.com", "type": "work", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}}),
    )
    .unwrap();
    let before = user.clone();
    match parse_patch(&body) {
        Ok(ops) => {
            match apply(&USER, &user, "id-1", &ops) {
                Ok(out) => {
                    let again = canonicalize(&USER, &Value::Object(out.clone())).unwrap();
                    assert_eq!(again, out);
                }
                Err(e) => assert!((400..500).contains(&e.status), "{e:?}"),
            }
            let _ = split_member_ops(&GROUP, ops);
        }
        Err(e) => assert!((400..500).contains(&e.status), "{e:?}"),
    }
    assert_eq!(user, before);
});
