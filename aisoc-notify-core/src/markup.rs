//! Escaping user-supplied text for the Markdown dialects chat tools render.
//!
//! Alert titles, host names and user names come from outside and must show as text: never as
//! a link of an attacker's choosing, never as formatting that hides part of the message, never
//! as an `@channel` that pages a whole team. Slack's mrkdwn has its own rules and lives in the
//! Slack crate; this covers Markdown as Mattermost and Microsoft Teams render it.

/// Escapes Markdown control characters with a backslash and neutralises `@` mentions with a
/// zero-width space.
///
/// ```
/// use aisoc_notify_core::markup::escape_markdown;
/// assert_eq!(escape_markdown("@channel *now* [x](y)"), "@\u{200b}channel \\*now\\* \\[x\\]\\(y\\)");
/// ```
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '~' | '|' | '<' | '>' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200b}"),
            other => out.push(other),
        }
    }
    out
}

/// Cuts `text` to at most `max_chars` characters on a character boundary, ending with `…` when
/// cut.
///
/// ```
/// use aisoc_notify_core::markup::truncate_chars;
/// assert_eq!(truncate_chars("héllo world", 5), "héll…");
/// assert_eq!(truncate_chars("short", 10), "short");
/// ```
pub fn truncate_chars(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    if max_chars == 0 {
        return std::borrow::Cow::Borrowed("");
    }
    match text.char_indices().nth(max_chars) {
        None => std::borrow::Cow::Borrowed(text),
        Some(_) => {
            let cut = text
                .char_indices()
                .nth(max_chars - 1)
                .map_or(text.len(), |(i, _)| i);
            let mut out = text[..cut].to_owned();
            // A backslash left dangling at the end would escape the ellipsis.
            if out.ends_with('\\') && !out.ends_with("\\\\") {
                out.pop();
            }
            out.push('…');
            std::borrow::Cow::Owned(out)
        }
    }
}
