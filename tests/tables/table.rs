//! The table file format (described for readers in spec/README.md).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// `state | events from a new machine`
    Setup,
    /// `state | event | next state | effects`
    Transitions,
    /// `from state | events | final state | effects of each step`
    Sequences,
}

impl Section {
    pub fn columns(self) -> usize {
        match self {
            Section::Setup => 2,
            Section::Transitions | Section::Sequences => 4,
        }
    }

    /// The separator of the list a cell holds, if it holds one.
    pub fn list_separator(self, column: usize) -> Option<&'static str> {
        match (self, column) {
            (Section::Setup, 1) | (Section::Sequences, 1) => Some(EVENTS),
            (Section::Transitions, 3) => Some(EFFECTS),
            (Section::Sequences, 3) => Some(STEPS),
            _ => None,
        }
    }
}

pub const EVENTS: &str = ", ";
pub const EFFECTS: &str = "; ";
pub const STEPS: &str = " / ";
/// A cell that holds no event or no effect.
pub const NONE: &str = "-";
/// Both result cells of a row whose (state, event) pair cannot happen.
pub const IMPOSSIBLE: &str = "—";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub section: Section,
    /// 1-based line in the file, for messages.
    pub line: usize,
    pub cells: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    pub fn section(&self, section: Section) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(move |r| r.section == section)
    }
}

pub fn parse(text: &str) -> Result<Table, String> {
    let mut table = Table::default();
    let mut section = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if content.starts_with('[') {
            section = Some(match content {
                "[setup]" => Section::Setup,
                "[transitions]" => Section::Transitions,
                "[sequences]" => Section::Sequences,
                other => return Err(format!("line {line}: unknown section {other}")),
            });
            continue;
        }
        let Some(section) = section else {
            return Err(format!("line {line}: a row before any [section]"));
        };
        let cells: Vec<String> = content.split('|').map(|c| c.trim().to_string()).collect();
        if cells.len() != section.columns() {
            return Err(format!(
                "line {line}: {} cells, {section:?} rows have {}",
                cells.len(),
                section.columns()
            ));
        }
        if let Some(empty) = cells.iter().position(String::is_empty) {
            return Err(format!("line {line}: cell {} is empty", empty + 1));
        }
        table.rows.push(Row {
            section,
            line,
            cells,
        });
    }
    Ok(table)
}

/// Splits at `sep` where it is outside parentheses.
pub fn split_top<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth -= 1,
            _ if depth == 0 && bytes[i..].starts_with(sep.as_bytes()) => {
                parts.push(&text[start..i]);
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

/// Expands a `sep`-separated list in which any item may end in ` xN`
/// (repeat N times) and may be a parenthesised group of items.
pub fn expand(text: &str, sep: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for item in split_top(text, sep) {
        let item = item.trim();
        let (body, times) = match item.rsplit_once(" x") {
            Some((body, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let n: usize = n.parse().map_err(|e| format!("{item:?}: {e}"))?;
                (body.trim(), n)
            }
            _ => (item, 1),
        };
        if body.is_empty() {
            return Err(format!("an empty item in {text:?}"));
        }
        let inner = match body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
            Some(inner) if is_group(body) => expand(inner, sep)?,
            _ => vec![body.to_string()],
        };
        for _ in 0..times {
            out.extend(inner.iter().cloned());
        }
    }
    Ok(out)
}

/// Whether the first `(` closes at the last character.
fn is_group(body: &str) -> bool {
    let mut depth = 0;
    for (i, c) in body.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == body.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_repeats_and_groups() {
        let got = expand("a, (b, c) x2, d x3", EVENTS).unwrap();
        assert_eq!(got, ["a", "b", "c", "b", "c", "d", "d", "d"]);
        let got = expand("W(1 1/3) / (S / -) x2 / E(1 3/3)", STEPS).unwrap();
        assert_eq!(got, ["W(1 1/3)", "S", "-", "S", "-", "E(1 3/3)"]);
        assert_eq!(expand("f(a) x2", EVENTS).unwrap(), ["f(a)", "f(a)"]);
    }

    #[test]
    fn parse_rejects_malformed_tables() {
        assert!(parse("a | b").unwrap_err().contains("before any"));
        assert!(parse("[nope]").unwrap_err().contains("unknown section"));
        assert!(parse("[setup]\na | b | c").unwrap_err().contains("3 cells"));
        assert!(parse("[transitions]\na | | c | d")
            .unwrap_err()
            .contains("empty"));
        let table = parse("# c\n[setup]\n  a | b  \n\n[transitions]\nw | x | y | z").unwrap();
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].cells, ["a", "b"]);
        assert_eq!(table.rows[1].line, 6);
    }
}
