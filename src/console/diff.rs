//! A before/after shown as a line diff of pretty-printed JSON: what changed stands out,
//! the rest gives context.

use maud::{Markup, html};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::format::json;

/// The diff of `before` and `after` as a `pre` block; `null` on either side reads "(none)".
pub fn json_diff(before: &Value, after: &Value) -> Markup {
    let before = side(before);
    let after = side(after);
    let diff = TextDiff::from_lines(&before, &after);
    html! {
        pre class="diff" aria-label="Changes: lines starting with minus were removed, with plus were added" {
            @for change in diff.iter_all_changes() {
                @match change.tag() {
                    ChangeTag::Delete => span class="diff-del" { "- " (change.value()) },
                    ChangeTag::Insert => span class="diff-add" { "+ " (change.value()) },
                    ChangeTag::Equal => span { "  " (change.value()) },
                }
            }
        }
    }
}

fn side(value: &Value) -> String {
    let mut text = match value {
        Value::Null => "(none)".to_owned(),
        v => json(v),
    };
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_lines_are_marked_and_the_rest_is_context() {
        let html = json_diff(
            &json!({"on": false, "name": "a"}),
            &json!({"on": true, "name": "a"}),
        )
        .into_string();
        assert!(
            html.contains(r#"<span class="diff-del">-   &quot;on&quot;: false,"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="diff-add">+   &quot;on&quot;: true,"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span>    &quot;name&quot;: &quot;a&quot;"#),
            "{html}"
        );
    }

    #[test]
    fn a_created_or_deleted_thing_reads_none_on_its_empty_side() {
        let html = json_diff(&Value::Null, &json!({"value": "x"})).into_string();
        assert!(
            html.contains(r#"<span class="diff-del">- (none)"#),
            "{html}"
        );
    }

    #[test]
    fn markup_in_values_is_escaped() {
        let html = json_diff(&Value::Null, &json!({"v": "<script>"})).into_string();
        assert!(!html.contains("<script>"), "{html}");
    }
}
