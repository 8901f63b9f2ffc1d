//! Slack `mrkdwn` text: escaping user-supplied text and cutting text to a length limit.
//!
//! Slack gives `&`, `<` and `>` control meaning: `<!channel>` notifies everyone, `<@U123>`
//! mentions a user, `<https://x|label>` is a link. Text that came from users or alerts is
//! escaped so it can never mention anyone or open a link of the author's choosing.
//!
//! Limits in Slack are counted in characters. [`truncate`] cuts on a character boundary and
//! never inside an `&amp;`-style entity or a `<…>` control sequence, ending with `…`.

use std::borrow::Cow;

/// The ellipsis appended to cut text.
pub const ELLIPSIS: char = '…';

/// Escapes `&`, `<` and `>` as Slack requires for user-supplied text.
///
/// ```
/// use aisoc_notify_slack::mrkdwn::escape;
/// assert_eq!(escape("<!channel> & <@U123>"), "&lt;!channel&gt; &amp; &lt;@U123&gt;");
/// assert_eq!(escape("plain"), "plain");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Cuts `text` to at most `max_chars` characters, ending with `…` when cut.
///
/// The cut never splits a character, an entity (`&amp;`) or a `<…>` sequence: those are
/// dropped whole instead, so the result stays valid mrkdwn.
///
/// ```
/// use aisoc_notify_slack::mrkdwn::truncate;
/// assert_eq!(truncate("héllo world", 5), "héll…");
/// assert_eq!(truncate("a &amp; b", 4), "a …");
/// assert_eq!(truncate("short", 10), "short");
/// ```
pub fn truncate(text: &str, max_chars: usize) -> Cow<'_, str> {
    if text.chars().count() <= max_chars {
        return Cow::Borrowed(text);
    }
    if max_chars == 0 {
        return Cow::Borrowed("");
    }
    let budget = max_chars - 1; // room for the ellipsis
    let mut cut = 0; // byte offset of the last safe cut point
    let mut count = 0; // characters up to `cut`
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        // A unit is one character, or a whole entity / control sequence.
        let closing = match c {
            '&' => Some(';'),
            '<' => Some('>'),
            _ => None,
        };
        let mut end = start + c.len_utf8();
        let mut unit_chars = 1;
        if let Some(closing) = closing {
            let rest = &text[end..];
            if let Some(offset) = rest.find(closing) {
                let unit = &rest[..offset + closing.len_utf8()];
                unit_chars += unit.chars().count();
                end += unit.len();
                while chars.peek().is_some_and(|&(i, _)| i < end) {
                    chars.next();
                }
            }
        }
        if count + unit_chars > budget {
            break;
        }
        count += unit_chars;
        cut = end;
    }
    let mut out = String::with_capacity(cut + ELLIPSIS.len_utf8());
    out.push_str(&text[..cut]);
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

/// Escapes user text and fits it into `max_chars`.
pub fn escape_and_truncate(text: &str, max_chars: usize) -> String {
    truncate(&escape(text), max_chars).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_keeps_units_whole() {
        let long = "é".repeat(10);
        let cut = truncate(&long, 5);
        assert_eq!(cut.chars().count(), 5);
        assert!(cut.ends_with(ELLIPSIS));

        let link = "see <https://example.com/a|the case> now";
        let cut = truncate(link, 10);
        assert_eq!(cut, "see …", "the link is dropped whole, not cut open");

        let escaped = escape("&&&&&&&&");
        let cut = truncate(&escaped, 12);
        assert_eq!(cut, "&amp;&amp;…");
        assert!(cut.chars().count() <= 12);
    }

    #[test]
    fn an_unclosed_bracket_is_treated_as_text() {
        assert_eq!(truncate("a < b and more text", 6), "a < b…");
    }

    #[test]
    fn zero_budget_yields_empty_text() {
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("abc", 1), "…");
    }
}
