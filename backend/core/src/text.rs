//! Rules for text that comes from outside (names, titles, search words), shared by every API: each answers with
//! a `validator` error, which both the REST extractors and the core's own parsers use.

/// A one-line name or title: not blank (whitespace only would be stored as nothing, and a title of nothing
/// breaks sorting and display), and no control characters (NUL, line breaks, VT/NEL, U+2028/9 line and
/// paragraph separators), which would break the line it is shown on or written to (M3U, logs).
pub fn text_line(text: &str) -> Result<(), validator::ValidationError> {
    if text.trim().is_empty() {
        return Err(validator::ValidationError::new("blank").with_message("must not be blank".into()));
    }
    if text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(
            validator::ValidationError::new("control").with_message("must not contain control characters".into())
        );
    }
    Ok(())
}

/// PostgreSQL text cannot hold NUL; refusing it at the edge keeps such input a 422 instead of a failed query.
pub fn no_nul(text: &str) -> Result<(), validator::ValidationError> {
    if text.contains('\0') {
        Err(validator::ValidationError::new("nul").with_message("must not contain NUL characters".into()))
    } else {
        Ok(())
    }
}
