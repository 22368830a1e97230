//! Splits master-file text into logical records (RFC 1035 §5.1).
//!
//! A logical record is one line, or several lines joined by parentheses. Comments (`;` to
//! the end of the line) and the parentheses themselves are dropped. Tokens keep their raw
//! bytes with escapes *undecoded* (`\.` must still separate nothing when a name is parsed,
//! and `$GENERATE` substitutes into raw text); quoted tokens lose their quotes.
//! The text is bytes, not UTF-8: zone files carry Latin-1 and binary escapes.

/// One token of a logical record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// Raw bytes, escapes not decoded, quotes removed.
    pub text: Vec<u8>,
    /// Written in double quotes.
    pub quoted: bool,
    /// 1-based line the token starts on.
    pub line: usize,
    /// No white space between this token and the previous one (`port="1501"` is two
    /// adjacent tokens: `port=` and the quoted `1501`).
    pub adjacent: bool,
}

impl Token {
    /// The raw text for messages (lossy for non-UTF-8 bytes).
    pub fn show(&self) -> String {
        String::from_utf8_lossy(&self.text).into_owned()
    }
}

/// A logical record: its tokens, the line it starts on, and whether its first line
/// began with white space (the owner is then the previous record's).
#[derive(Debug)]
pub(crate) struct Logical {
    pub line: usize,
    pub blank_owner: bool,
    pub tokens: Vec<Token>,
}

impl Logical {
    /// The line of the last token (where a missing field is noticed).
    pub fn last_line(&self) -> usize {
        self.tokens.last().map(|t| t.line).unwrap_or(self.line)
    }
}

/// A syntax error found while splitting: the line and the problem.
pub(crate) type LexError = (usize, String);

/// Iterates over the logical records of a text; errors go to `errors` and the record they
/// break is skipped (the lexer resynchronises at the next line outside parentheses).
pub(crate) struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a [u8]) -> Lexer<'a> {
        Lexer { b: text, i: 0, line: 1 }
    }

    fn skip_to_eol(&mut self) {
        while self.i < self.b.len() && self.b[self.i] != b'\n' {
            self.i += 1;
        }
    }

    /// The next logical record, or `None` at the end of the text.
    pub fn next_record(&mut self, errors: &mut Vec<LexError>) -> Option<Logical> {
        loop {
            if self.i >= self.b.len() {
                return None;
            }
            match self.record(errors) {
                Some(rec) if !rec.tokens.is_empty() => return Some(rec),
                _ => continue,
            }
        }
    }

    /// Reads one logical record (possibly empty). On an error the record is dropped.
    fn record(&mut self, errors: &mut Vec<LexError>) -> Option<Logical> {
        let b = self.b;
        let start_line = self.line;
        let blank_owner = matches!(b.get(self.i), Some(b' ' | b'\t'));
        let mut rec = Logical { line: start_line, blank_owner, tokens: Vec::new() };
        let mut depth = 0usize;
        let mut paren_line = 0;
        let mut adjacent = false;
        while self.i < b.len() {
            let c = b[self.i];
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    adjacent = false;
                    if depth == 0 {
                        return Some(rec);
                    }
                }
                b' ' | b'\t' | b'\r' => {
                    self.i += 1;
                    adjacent = false;
                }
                b';' => self.skip_to_eol(),
                b'(' => {
                    if depth == 0 {
                        paren_line = self.line;
                    }
                    depth += 1;
                    self.i += 1;
                    adjacent = false;
                }
                b')' => {
                    if depth == 0 {
                        errors.push((self.line, "')' without a matching '('".into()));
                        self.skip_to_eol();
                        return None;
                    }
                    depth -= 1;
                    self.i += 1;
                    adjacent = false;
                }
                b'"' => {
                    let line = self.line;
                    self.i += 1;
                    let start = self.i;
                    loop {
                        match b.get(self.i) {
                            None | Some(b'\n') => {
                                errors.push((line, "quoted string is not closed on its line".into()));
                                self.skip_to_eol();
                                return None;
                            }
                            Some(b'\\') if self.i + 1 < b.len() && b[self.i + 1] != b'\n' => self.i += 2,
                            Some(b'"') => break,
                            Some(_) => self.i += 1,
                        }
                    }
                    rec.tokens.push(Token { text: b[start..self.i].to_vec(), quoted: true, line, adjacent });
                    self.i += 1;
                    adjacent = true;
                }
                _ => {
                    let start = self.i;
                    while self.i < b.len() {
                        match b[self.i] {
                            b'\\' if self.i + 1 < b.len() && b[self.i + 1] != b'\n' => self.i += 2,
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            _ => self.i += 1,
                        }
                    }
                    rec.tokens.push(Token {
                        text: b[start..self.i].to_vec(),
                        quoted: false,
                        line: self.line,
                        adjacent,
                    });
                    adjacent = true;
                }
            }
        }
        if depth > 0 {
            errors.push((paren_line, "'(' is never closed".into()));
            return None;
        }
        Some(rec)
    }
}

/// Splits one already-substituted text (a `$GENERATE` right-hand side) into tokens, all
/// placed on `line`. Parentheses and comments are not special here.
pub(crate) fn split_words(text: &[u8], line: usize) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut adjacent = false;
    while i < text.len() {
        match text[i] {
            b' ' | b'\t' => {
                i += 1;
                adjacent = false;
            }
            b'"' => {
                let start = i + 1;
                i = start;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if i >= text.len() {
                    return Err("quoted string is not closed".into());
                }
                out.push(Token { text: text[start..i].to_vec(), quoted: true, line, adjacent });
                i += 1;
                adjacent = true;
            }
            _ => {
                let start = i;
                while i < text.len() && !matches!(text[i], b' ' | b'\t' | b'"') {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(text.len());
                out.push(Token { text: text[start..end].to_vec(), quoted: false, line, adjacent });
                adjacent = true;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> (Vec<Logical>, Vec<LexError>) {
        let mut lx = Lexer::new(text.as_bytes());
        let mut errors = Vec::new();
        let mut recs = Vec::new();
        while let Some(r) = lx.next_record(&mut errors) {
            recs.push(r);
        }
        (recs, errors)
    }

    fn words(r: &Logical) -> Vec<String> {
        r.tokens.iter().map(|t| t.show()).collect()
    }

    #[test]
    fn parentheses_join_lines_and_comments_go() {
        let (r, e) = all("a SOA ( 1 ; c\n 2 )\nb A 1.2.3.4\n");
        assert!(e.is_empty());
        assert_eq!(words(&r[0]), ["a", "SOA", "1", "2"]);
        assert_eq!(r[0].tokens[3].line, 2);
        assert_eq!(r[1].line, 3);
    }

    #[test]
    fn quotes_escapes_and_adjacency() {
        let (r, _) = all("x TXT \"a;b\" c\\;d port=\"15\\\"01\"\n");
        let t = &r[0].tokens;
        assert_eq!(t[2].text, b"a;b");
        assert!(t[2].quoted);
        assert_eq!(t[3].text, b"c\\;d");
        assert_eq!(t[4].text, b"port=");
        assert_eq!(t[5].text, b"15\\\"01");
        assert!(t[5].adjacent && !t[4].adjacent);
    }

    #[test]
    fn blank_owner_and_errors_with_lines() {
        let (r, e) = all("a A 1.2.3.4\n  A 1.2.3.5\nb A 1.2.3.4 )\nc TXT \"open\nd A 1.2.3.4\ne TXT ( x\n");
        assert!(r[1].blank_owner);
        assert_eq!(words(&r[2]), ["d", "A", "1.2.3.4"]);
        assert_eq!(
            e,
            vec![
                (3, "')' without a matching '('".into()),
                (4, "quoted string is not closed on its line".into()),
                (6, "'(' is never closed".into())
            ]
        );
    }
}
