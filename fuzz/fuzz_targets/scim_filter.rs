//! Any string: the filter parser returns a tree or an error with an offset inside the input,
//! never panics; a parsed tree prints to a filter that parses back to the same tree.
#![no_main]

use gatehouse::domain::scim::filter::parse_filter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_filter(input) {
        Ok(tree) => {
            let printed = tree.to_string();
            assert_eq!(parse_filter(&printed).as_ref(), Ok(&tree), "{printed}");
        }
        Err(e) => assert!(e.offset <= input.chars().count()),
    }
});
