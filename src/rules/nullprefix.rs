//! A yes/no search does not need a pattern's leading part that can match
//! the empty string: `N R` matches somewhere iff `R` does (`N` can always
//! match empty where `R` starts, and `R`'s look-arounds see the same text
//! either way). PCRE2 still backtracks through `N` at every start
//! position: SpamAssassin's `__FILL_THIS_FORM_*` rules open with three
//! optional groups (`<FF_YOUR>`), and one of them alone was 12% of all rule
//! instructions on the fixtures. Match counts (`tflags multiple`) keep the
//! whole pattern: where a match starts can change.

use regex_syntax::ast::Ast;

use super::regex::translate;

/// `pattern` from its first item that can consume input or assert, if at
/// least one leading item was dropped (`ast` is `pattern` parsed). Only
/// repetitions and groups that match empty and hold no assertion are
/// dropped; a flag-setting item, an assertion or anything else stops it.
pub fn strip(pattern: &str, ast: &Ast, flags: &str) -> Option<String> {
    let Ast::Concat(c) = ast else {
        return None;
    };
    let ci = flags.contains('i');
    let keep = c.asts.iter().position(|item| {
        let droppable = matches!(item, Ast::Repetition(_) | Ast::Group(_))
            && translate(pattern, item, flags, ci).is_some_and(|h| {
                h.properties().minimum_len() == Some(0) && h.properties().look_set().is_empty()
            });
        !droppable
    })?;
    if keep == 0 {
        return None;
    }
    Some(pattern[c.asts[keep].span().start.offset..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::regex::parse_ast;

    fn stripped(p: &str, f: &str) -> Option<String> {
        strip(p, &parse_ast(p, f)?, f)
    }

    #[test]
    fn only_empty_matching_leading_items_go() {
        assert_eq!(
            stripped(r"(?:a\s)?(?:b|c){0,3}x+y", "i").as_deref(),
            Some("x+y")
        );
        assert_eq!(stripped(r"(your\s)?x", "").as_deref(), Some("x"));
        assert_eq!(stripped(r"x(?:a)?", ""), None, "nothing leading");
        assert_eq!(stripped(r"(?:a)?\bx", "").as_deref(), Some(r"\bx"));
        assert_eq!(stripped(r"(?:\ba)?x", ""), None, "an assertion inside");
        assert_eq!(stripped(r"(?i)(?:a)?x", ""), None, "flags stay");
        assert_eq!(stripped(r"(?:a)?(?:b)?", ""), None, "all empty: keep it");
        assert_eq!(stripped("(?:a )? # c\n x", "x").as_deref(), Some("x"));
    }

    fn pcre(p: &str, f: &str) -> pcre2::bytes::Regex {
        pcre2::bytes::RegexBuilder::new()
            .caseless(f.contains('i'))
            .multi_line(f.contains('m'))
            .build(p)
            .unwrap()
    }

    proptest::proptest! {
        /// PCRE2 gives the same yes/no answer for the cut pattern as for
        /// the whole one, on random texts.
        #[test]
        fn same_answer_as_the_whole_pattern(text in "[abxy \n.]{0,24}") {
            for (p, f) in [
                (r"(?:a\s?)?(?:b|y){0,3}x+\b", "i"),
                (r"(?:ab)*(a|)x", ""),
                (r"(a|)?(?:b\.)?y$", "m"),
                (r"(?:x\s)*^y", "m"),
            ] {
                let cut = stripped(p, f).unwrap();
                proptest::prop_assert_eq!(
                    pcre(p, f).is_match(text.as_bytes()).unwrap(),
                    pcre(&cut, f).is_match(text.as_bytes()).unwrap(),
                    "{} -> {} on {:?}", p, cut, text
                );
            }
        }
    }
}
