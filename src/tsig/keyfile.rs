//! TSIG key files: BIND's `key "name" { algorithm hmac-sha256; secret "base64"; };` (what
//! `tsig-keygen` and `keymgr -t` write), or TOML (`[[key]] name = … algorithm = … secret = …`
//! for a file ending in `.toml`). The file holds secrets: it must not be readable or writable
//! by group or others (mode 0600 or stricter), like an ssh key.
use std::path::Path;

use serde::Deserialize;

use super::{Algorithm, Key, KeyRing};
use crate::diag::{ConfigError, line_of};

/// Reads and checks a key file: every problem with its line.
pub fn read(path: &Path) -> Result<KeyRing, Vec<ConfigError>> {
    let err = |line: usize, m: String| vec![ConfigError::new(path, line, m)];
    let meta = std::fs::metadata(path).map_err(|e| err(0, format!("cannot read TSIG key file: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(
                0,
                format!(
                    "TSIG key file has mode {mode:04o}: it holds secrets, so only its owner may read it (chmod 600 {})",
                    path.display()
                ),
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(0, format!("cannot read TSIG key file: {e}")))?;
    if path.extension().is_some_and(|e| e == "toml") { parse_toml(path, &text) } else { parse_bind(path, &text) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    key: Vec<toml::Spanned<RawKey>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: String,
    algorithm: String,
    secret: String,
}

/// `[[key]]` tables.
pub fn parse_toml(path: &Path, text: &str) -> Result<KeyRing, Vec<ConfigError>> {
    let raw: RawKeys = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
        vec![ConfigError::new(path, line, format!("TSIG key file: {}", e.message()))]
    })?;
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for k in raw.key {
        let line = line_of(text, k.span().start);
        let k = k.into_inner();
        match make(&k.name, &k.algorithm, &k.secret) {
            Ok(key) => push(&mut keys, &mut errors, path, line, key),
            Err(m) => errors.push(ConfigError::new(path, line, m)),
        }
    }
    finish(path, keys, errors)
}

/// BIND's `key` statements (comments `#`, `//` and `/* */`; other statements are refused).
pub fn parse_bind(path: &Path, text: &str) -> Result<KeyRing, Vec<ConfigError>> {
    let tokens = tokenize(text);
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    let mut i = 0;
    let tok = |i: usize| tokens.get(i).map(|t| t.1.as_str());
    while i < tokens.len() {
        let line = tokens[i].0;
        if tok(i) != Some("key") {
            errors.push(ConfigError::new(
                path,
                line,
                format!("expected `key \"name\" {{ … }};`, found `{}`", tokens[i].1),
            ));
            break;
        }
        let Some(name) = tok(i + 1).filter(|_| tok(i + 2) == Some("{")) else {
            errors.push(ConfigError::new(path, line, "expected `key \"name\" {`"));
            break;
        };
        i += 3;
        let (mut algorithm, mut secret) = (None, None);
        while i < tokens.len() && tok(i) != Some("}") {
            let (l, field) = (tokens[i].0, tokens[i].1.as_str());
            let value = tok(i + 1).filter(|_| tok(i + 2) == Some(";"));
            match (field, value) {
                ("algorithm", Some(v)) => algorithm = Some(v.to_string()),
                ("secret", Some(v)) => secret = Some(v.to_string()),
                (_, Some(_)) => errors.push(ConfigError::new(
                    path,
                    l,
                    format!("key {name}: unknown field `{field}` (expected algorithm, secret)"),
                )),
                (_, None) => {
                    errors.push(ConfigError::new(path, l, format!("key {name}: expected `{field} VALUE;`")));
                    return Err(errors);
                }
            }
            i += 3;
        }
        if tok(i) != Some("}") || tok(i + 1) != Some(";") {
            errors.push(ConfigError::new(path, line, format!("key {name}: missing `}};`")));
            break;
        }
        i += 2;
        match (algorithm, secret) {
            (Some(a), Some(s)) => match make(name, &a, &s) {
                Ok(key) => push(&mut keys, &mut errors, path, line, key),
                Err(m) => errors.push(ConfigError::new(path, line, m)),
            },
            _ => errors.push(ConfigError::new(path, line, format!("key {name}: needs both algorithm and secret"))),
        }
    }
    finish(path, keys, errors)
}

fn push(keys: &mut Vec<Key>, errors: &mut Vec<ConfigError>, path: &Path, line: usize, key: Key) {
    if keys.iter().any(|k: &Key| k.name == key.name) {
        errors.push(ConfigError::new(path, line, format!("key {} is defined twice", key.name)));
    } else {
        keys.push(key);
    }
}

fn finish(path: &Path, keys: Vec<Key>, errors: Vec<ConfigError>) -> Result<KeyRing, Vec<ConfigError>> {
    if !errors.is_empty() {
        return Err(errors);
    }
    if keys.is_empty() {
        return Err(vec![ConfigError::new(path, 0, "the TSIG key file holds no key")]);
    }
    Ok(KeyRing::new(keys))
}

fn make(name: &str, algorithm: &str, secret: &str) -> Result<Key, String> {
    let n = super::key_name(name).map_err(|e| format!("key name '{name}': {e}"))?;
    let alg = Algorithm::from_name(algorithm).ok_or_else(|| {
        format!("key {name}: algorithm '{algorithm}' is not supported (hmac-sha256, hmac-sha384 or hmac-sha512)")
    })?;
    let bytes = data_encoding::BASE64
        .decode(secret.as_bytes())
        .map_err(|e| format!("key {name}: the secret is not valid base64: {e}"))?;
    if bytes.len() < 16 {
        return Err(format!(
            "key {name}: the secret is {} octets; use at least 16 (tsig-keygen makes 32)",
            bytes.len()
        ));
    }
    Ok(Key::new(&n, alg, &bytes))
}

/// Tokens with their lines: words, quoted strings (quotes removed), `{`, `}` and `;`.
fn tokenize(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => skip_line(&mut chars, &mut line),
            '/' if chars.peek() == Some(&'/') => skip_line(&mut chars, &mut line),
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                    }
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '{' | '}' | ';' => out.push((line, c.to_string())),
            '"' => {
                let mut s = String::new();
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    if c == '\n' {
                        line += 1;
                    }
                    s.push(c);
                }
                out.push((line, s));
            }
            c => {
                let mut s = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push((line, s));
            }
        }
    }
    out
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, line: &mut usize) {
    for c in chars.by_ref() {
        if c == '\n' {
            *line += 1;
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";

    #[test]
    fn bind_syntax() {
        let text = format!(
            "# made by tsig-keygen\nkey \"xfr.example\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{SECRET}\";\n}};\n\
             /* two */ key other {{ algorithm hmac-sha512; secret \"{SECRET}\"; }};\n"
        );
        let ring = parse_bind(Path::new("k.conf"), &text).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.keys()[0].name.to_string(), "xfr.example.");
        assert_eq!(ring.keys()[1].algorithm, Algorithm::HmacSha512);
        let bad =
            format!("key \"a\" {{ algorithm hmac-md5; secret \"{SECRET}\"; }};\nkey \"b\" {{ secret \"!!\"; }};\n");
        let errs = parse_bind(Path::new("k.conf"), &bad).unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[1].line, 2);
        assert!(errs[0].message.contains("not supported"), "{}", errs[0].message);
    }

    #[test]
    fn toml_syntax() {
        let text = format!("[[key]]\nname = \"xfr\"\nalgorithm = \"hmac-sha384\"\nsecret = \"{SECRET}\"\n");
        let ring = parse_toml(Path::new("k.toml"), &text).unwrap();
        assert_eq!(ring.keys()[0].algorithm, Algorithm::HmacSha384);
        assert!(parse_toml(Path::new("k.toml"), "[[key]]\nname = \"x\"\n").is_err());
    }
}
