//! Table mutations: every cell replaced by plausible wrong values, every
//! required row deleted or doubled. A checker that accepts any of them is
//! not checking what the table says.

use super::table::{split_top, Section, Table, NONE};

pub struct Mutant {
    pub what: String,
    pub table: Table,
}

/// How many other values of the same column each cell is replaced with.
const FROM_COLUMN: usize = 3;

pub fn mutants(table: &Table) -> Vec<Mutant> {
    let mut out = Vec::new();
    for (index, row) in table.rows.iter().enumerate() {
        for column in 0..row.cells.len() {
            let original = &row.cells[column];
            for value in replacements(table, index, column) {
                let mut mutated = table.clone();
                mutated.rows[index].cells[column] = value.clone();
                out.push(Mutant {
                    what: format!(
                        "line {} cell {}: {original:?} -> {value:?}",
                        row.line,
                        column + 1
                    ),
                    table: mutated,
                });
            }
        }
        // Sequences are extra scenarios: dropping or doubling one leaves a
        // table that is still true. Setup and transition rows are required.
        if row.section != Section::Sequences {
            let mut dropped = table.clone();
            dropped.rows.remove(index);
            out.push(Mutant {
                what: format!("line {} deleted", row.line),
                table: dropped,
            });
            let mut doubled = table.clone();
            doubled.rows.insert(index, row.clone());
            out.push(Mutant {
                what: format!("line {} doubled", row.line),
                table: doubled,
            });
        }
    }
    out
}

/// Different values for one cell: other values of its column, its numbers
/// moved by one, and, for lists, one item dropped, doubled or reordered.
fn replacements(table: &Table, index: usize, column: usize) -> Vec<String> {
    let row = &table.rows[index];
    let original = row.cells[column].as_str();
    let mut values: Vec<String> = Vec::new();
    let peers: Vec<&str> = table
        .rows
        .iter()
        .skip(index + 1)
        .chain(table.rows.iter().take(index))
        .filter(|r| r.section == row.section)
        .map(|r| r.cells[column].as_str())
        .collect();
    for peer in peers {
        if values.len() == FROM_COLUMN {
            break;
        }
        if peer != original && !values.iter().any(|v| v == peer) {
            values.push(peer.to_string());
        }
    }
    values.extend(bump_numbers(original));
    if let Some(sep) = row.section.list_separator(column) {
        values.extend(list_edits(original, sep));
    }
    values.retain(|v| v != original);
    values.dedup();
    if values.is_empty() {
        values.push(format!("{original}?"));
    }
    values
}

/// The first and the last number in the text, each increased by one.
fn bump_numbers(text: &str) -> Vec<String> {
    let runs: Vec<(usize, usize)> = {
        let bytes = text.as_bytes();
        let mut runs = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_digit() {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                runs.push((start, i));
            } else {
                i += 1;
            }
        }
        runs
    };
    let mut out = Vec::new();
    for &(start, end) in [runs.first(), runs.last()].into_iter().flatten() {
        let Ok(n) = text[start..end].parse::<u64>() else {
            continue;
        };
        out.push(format!("{}{}{}", &text[..start], n + 1, &text[end..]));
    }
    out
}

fn list_edits(text: &str, sep: &str) -> Vec<String> {
    let items: Vec<&str> = if text == NONE {
        Vec::new()
    } else {
        split_top(text, sep)
    };
    let mut out = Vec::new();
    if let Some(last) = items.last() {
        let shorter = &items[..items.len() - 1];
        out.push(if shorter.is_empty() {
            NONE.to_string()
        } else {
            shorter.join(sep)
        });
        out.push(format!("{text}{sep}{last}"));
    }
    if items.len() >= 2 {
        let mut swapped = items.clone();
        swapped.swap(0, 1);
        out.push(swapped.join(sep));
    }
    out
}
