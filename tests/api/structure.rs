//! The shape of `src/`, held by tests: no function outside data tables is
//! 80 lines or longer (a function that long does several things, and the
//! next change to it will not be safe), and nothing but the route tables
//! names what a `routes` module holds (handlers are the edge; what they
//! call lives in services and queries).

use std::path::{Path, PathBuf};

use syn::spanned::Spanned;
use syn::visit::Visit;

/// The longest a function may be, in lines, signature to closing brace.
const MAX_LINES: usize = 79;

/// Functions that are data rather than logic, and may be longer: a table
/// of the demo's families or of the generator's statements reads best in
/// one piece.
const DATA_TABLES: &[&str] = &[
    // The thirty named invariant checks, one SQL text each.
    "src/db/invariants.rs:checks",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

struct Lengths<'a> {
    file: &'a str,
    found: Vec<(usize, String)>,
    in_test: bool,
}

impl Lengths<'_> {
    fn measure(&mut self, name: &syn::Ident, span: proc_macro2::Span) {
        let lines = span.end().line - span.start().line + 1;
        self.found.push((lines, format!("{}:{}", self.file, name)));
    }
}

impl<'ast> Visit<'ast> for Lengths<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // Unit tests inside a module are not held to this.
        let test = m.attrs.iter().any(|a| {
            a.path().is_ident("cfg") && a.parse_args::<syn::Ident>().is_ok_and(|i| i == "test")
        });
        let outer = self.in_test;
        self.in_test |= test;
        syn::visit::visit_item_mod(self, m);
        self.in_test = outer;
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !self.in_test {
            self.measure(&f.sig.ident, f.span());
        }
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !self.in_test {
            self.measure(&f.sig.ident, f.span());
        }
        syn::visit::visit_impl_item_fn(self, f);
    }
}

fn functions() -> Vec<(usize, String)> {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.display().to_string();
        let mut lengths = Lengths {
            file: &name,
            found: Vec::new(),
            in_test: false,
        };
        lengths.visit_file(&file);
        found.extend(lengths.found);
    }
    found.sort_by(|a, b| b.cmp(a));
    found
}

#[test]
fn no_function_outside_data_tables_reaches_80_lines() {
    let found = functions();
    assert!(found.len() > 500, "only {} functions found", found.len());
    let too_long: Vec<String> = found
        .iter()
        .filter(|(lines, name)| *lines > MAX_LINES && !DATA_TABLES.contains(&name.as_str()))
        .map(|(lines, name)| format!("{lines:>4} lines  {name}"))
        .collect();
    assert!(
        too_long.is_empty(),
        "functions of 80 lines or more:\n{}",
        too_long.join("\n")
    );
}

#[test]
fn nothing_but_the_route_tables_names_what_a_routes_module_holds() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let mut offenders = Vec::new();
    for path in files {
        // The OpenAPI document lists the handlers: that is what it is for.
        if path.ends_with("openapi.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("routes::") {
                let item: String = line[at + "routes::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                    .collect();
                // `x::routes::routes(cfg)`: a route table registering a
                // module's handlers. Anything else reaches into the edge.
                if item != "routes" {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
