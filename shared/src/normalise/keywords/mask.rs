//! Phone masking of trace texts: carrier text quotes couriers' and recipients'
//! numbers, which must never reach logs or messages. Unrelated to classification
//! but about the same texts, hence its place here.

/// Masks every run of seven or more digits (ASCII or full-width) so that phone
/// numbers in trace texts never reach logs: the first three and last four digits
/// stay, e.g. `13812345678` → `138****5678`. A run of exactly seven digits keeps
/// only its first three (`1234567` → `123****`), so something is always hidden.
pub fn mask_phones(text: &str) -> String {
    fn is_digit(c: char) -> bool {
        c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&c)
    }
    let mut out = String::with_capacity(text.len());
    let mut run: Vec<char> = Vec::new();
    let flush = |run: &mut Vec<char>, out: &mut String| {
        let n = run.len();
        if n >= 8 {
            out.extend(run.iter().take(3));
            out.extend(std::iter::repeat_n('*', n - 7));
            out.extend(run.iter().skip(n - 4));
        } else if n == 7 {
            out.extend(run.iter().take(3));
            out.push_str("****");
        } else {
            out.extend(run.iter());
        }
        run.clear();
    };
    for c in text.chars() {
        if is_digit(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking() {
        assert_eq!(mask_phones("13812345678"), "138****5678");
        assert_eq!(
            mask_phones("派件员 张三（电话13812345678）正在派件"),
            "派件员 张三（电话138****5678）正在派件"
        );
        assert_eq!(
            mask_phones("电话１３８１２３４５６７８"),
            "电话１３８****５６７８"
        );
        assert_eq!(mask_phones("取件码12345678"), "取件码123*5678");
        assert_eq!(mask_phones("1234567"), "123****");
        assert_eq!(mask_phones("123456 号柜"), "123456 号柜");
        assert_eq!(
            mask_phones("a13812345678b010-1234"),
            "a138****5678b010-1234"
        );
        assert_eq!(mask_phones(""), "");
        assert_eq!(
            mask_phones("1381234567813900001111"),
            "138***************1111"
        );
    }
}
