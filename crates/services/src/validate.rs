//! Field checks shared by every use case, with messages in English and Chinese.

use crate::error::{ServiceError, ServiceResult};

/// A required text field: trimmed non-empty, at most `max` characters, no control characters
/// (line breaks allowed only where `multiline`).
pub fn text(field: &str, v: &str, max: usize, multiline: bool) -> ServiceResult<()> {
    let n = v.trim().chars().count();
    if n == 0 {
        return Err(ServiceError::invalid_zh(
            field,
            "must not be empty",
            "不能为空",
        ));
    }
    if n > max {
        return Err(ServiceError::invalid_zh(
            field,
            format!("must have at most {max} characters"),
            format!("不能超过 {max} 个字符"),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
    if v.chars().any(bad) {
        return Err(ServiceError::invalid_zh(
            field,
            "must not contain control characters",
            "不能包含控制字符",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_field_and_allows_line_breaks_only_where_asked() {
        assert!(text("title", "  ", 10, false).is_err());
        assert!(text("title", "abcdefghijk", 10, false).is_err());
        assert!(text("title", "a\nb", 10, false).is_err());
        assert!(text("symptom", "a\nb", 10, true).is_ok());
        match text("title", "", 10, false) {
            Err(ServiceError::Invalid { field, .. }) => assert_eq!(field, "title"),
            other => panic!("{other:?}"),
        }
    }
}
