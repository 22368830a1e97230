//! The layering rule of `src/lib.rs`, checked: every `crate::X` a top-level module of `src/`
//! names must be a module of a layer above it in the table (or one listed before it in its own
//! row). The table is read from `src/lib.rs` itself, so the documentation is the rule.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Module → (layer, position in its row), from the `| n name | `a`, `b` | ... |` rows.
fn layer_table(lib: &str) -> HashMap<String, (usize, usize)> {
    let mut table = HashMap::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! |") else { continue };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(layer), Some(modules)) = (cells.first(), cells.get(1)) else { continue };
        let Some(layer) = layer.split_whitespace().next().and_then(|n| n.parse::<usize>().ok()) else { continue };
        for (pos, m) in modules.split(',').map(|m| m.trim().trim_matches('`')).enumerate() {
            table.insert(m.to_string(), (layer, pos));
        }
    }
    table
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source text names as `crate::X` or in `crate::{X, ..}` (comments
/// and string literals are not code).
fn imports(text: &str) -> Vec<String> {
    let mut code = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut kept = String::new();
        for (i, c) in line.char_indices() {
            if !in_str && c == '/' && line[i..].starts_with("//") {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                kept.push(c);
            }
            prev = c;
        }
        code.push_str(&kept);
        code.push('\n');
    }
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            // Top-level items of the group: split at depth-0 commas.
            let (mut depth, mut item) = (0, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(item.trim().split("::").next().unwrap_or("").to_string());
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    item.push(c);
                }
            }
            found.push(item.trim().split("::").next().unwrap_or("").to_string());
        } else {
            found.push(after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
        rest = after;
    }
    found.retain(|m| !m.is_empty());
    found
}

/// Every wrong-way import: (file, importing module, imported module).
fn violations(src: &Path) -> (HashMap<String, (usize, usize)>, Vec<String>) {
    let table = layer_table(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap();
        let first = rel.iter().next().unwrap().to_string_lossy().trim_end_matches(".rs").to_string();
        if first == "lib" || first == "main" || first == "bin" {
            continue; // the crate root and the binaries sit above every layer
        }
        let Some(&(layer, pos)) = table.get(&first) else {
            bad.push(format!("{}: module `{first}` is not in the layer table of src/lib.rs", rel.display()));
            continue;
        };
        for m in imports(&std::fs::read_to_string(&f).unwrap()) {
            if m == first || m == "self" || m == "super" {
                continue;
            }
            match table.get(&m) {
                Some(&(l, p)) if l < layer || (l == layer && p < pos) => {}
                Some(&(l, _)) => bad.push(format!(
                    "{}: `{first}` (layer {layer}) imports crate::{m} (layer {l}), which is not below it",
                    rel.display()
                )),
                None => bad.push(format!("{}: crate::{m} is not a module in the layer table", rel.display())),
            }
        }
    }
    (table, bad)
}

#[test]
fn every_import_goes_down_the_layer_table() {
    let (table, bad) = violations(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(table.len() >= 10, "the layer table of src/lib.rs was not found: {table:?}");
    assert!(bad.is_empty(), "imports against the layering of src/lib.rs:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_imports_in_every_form() {
    let text = "use crate::zone::{A, B};\nuse crate::{dns::x, pool::{Y, Z}};\nlet a = crate::steer::decide;\n\
                // crate::ops in a comment\nlet s = \"crate::app in a string\";\n";
    assert_eq!(imports(text), vec!["zone", "dns", "pool", "steer"]);
}

#[test]
fn a_wrong_way_import_is_caught() {
    // A scratch copy of src/ with one deliberate upward import: the check must fail on it.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = std::env::temp_dir().join(format!("gslbd-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("zone")).unwrap();
    std::fs::copy(src.join("lib.rs"), dir.join("lib.rs")).unwrap();
    std::fs::write(dir.join("zone/mod.rs"), "use crate::dns::Transport;\n").unwrap();
    let (_, bad) = violations(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("`zone` (layer 1) imports crate::dns (layer 7)"), "{bad:?}");
}
