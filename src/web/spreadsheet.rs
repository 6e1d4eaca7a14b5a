//! Text for CSV files that people open in Excel or WPS: a cell that starts
//! like a formula is shown as text, so user-typed titles cannot run formulas
//! (CSV injection).

use std::borrow::Cow;

/// `text`, with a leading `'` when a spreadsheet would read it as a formula.
pub fn inert(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("3号楼漏水"), "3号楼漏水");
    }
}
