//! Embedding tables as delimited text, in the layouts people have: `symbol,v1..vN` without a
//! header; the same with a header row; pandas `DataFrame.to_csv` with the genes as the index
//! (header row whose first cell is empty, e.g. `,0,1,…`) or with a RangeIndex column before a
//! gene column (`,gene,0,1,…` / `0,FOSB,…`); and all of these tab-separated. The layout is
//! detected from the first rows; quoting follows the `csv` crate (RFC 4180, as pandas writes).

use std::path::Path;

use crate::error::TableError;

/// Where the gene symbol is in each row, and whether the first row is a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub header: bool,
    /// Column of the gene symbol: 0, or 1 after a pandas RangeIndex column.
    pub symbol_col: usize,
}

fn is_number(s: &str) -> bool {
    s.trim().parse::<f64>().is_ok()
}

/// A header row: an empty first cell (pandas' unnamed index), a non-numeric cell after the first,
/// or column names that count 0, 1, 2, … (pandas' default labels, e.g. under a named index:
/// `gene,0,1,2`) over at least three columns while the next row holds a non-integer value.
fn looks_like_header(row: &[String], next: Option<&[String]>) -> bool {
    let rest = &row[1.min(row.len())..];
    let counting = |from: usize| {
        rest.iter()
            .enumerate()
            .all(|(i, c)| c.trim() == (i + from).to_string())
    };
    let next_has_fraction = next.is_some_and(|n| {
        n.iter()
            .skip(1)
            .any(|c| is_number(c) && c.trim().parse::<i64>().is_err())
    });
    row.first().is_some_and(|c| c.trim().is_empty())
        || rest.iter().any(|c| !is_number(c))
        || (rest.len() >= 3 && next_has_fraction && (counting(0) || counting(1)))
}

/// pandas' RangeIndex before the symbol: an integer, then a symbol, then numbers.
fn indexed_row(r: &[String]) -> bool {
    r.len() > 2
        && r[0].trim().parse::<u64>().is_ok()
        && !is_number(&r[1])
        && r[2..].iter().all(|c| is_number(c))
}

/// Detects the layout from the first two rows.
pub fn detect(rows: &[Vec<String>]) -> Layout {
    let header = rows
        .first()
        .is_some_and(|r| looks_like_header(r, rows.get(1).map(Vec::as_slice)) && !indexed_row(r));
    let index_col = rows
        .get(usize::from(header))
        .is_some_and(|r| indexed_row(r));
    Layout {
        header,
        symbol_col: usize::from(index_col),
    }
}

/// Reads `path` with the given delimiter (`b','` or `b'\t'`) into (symbol, vector) pairs.
pub fn read_delimited(path: &Path, delimiter: u8) -> Result<Vec<(String, Vec<f32>)>, TableError> {
    let err = |reason: String| TableError {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((line, rec.iter().map(String::from).collect()));
    }
    let cells: Vec<Vec<String>> = rows.iter().take(2).map(|(_, r)| r.clone()).collect();
    let layout = detect(&cells);
    let sep = if delimiter == b'\t' { "<TAB>" } else { "," };
    let expected = match layout.symbol_col {
        0 => format!("symbol{sep}v1{sep}...{sep}vN"),
        _ => format!("index{sep}symbol{sep}v1{sep}...{sep}vN"),
    };
    let mut out = Vec::with_capacity(rows.len());
    let mut width = None;
    for (line, row) in rows.into_iter().skip(usize::from(layout.header)) {
        let symbol = row.get(layout.symbol_col).map_or("", |s| s.trim());
        let values: Vec<&String> = row.iter().skip(layout.symbol_col + 1).collect();
        if symbol.is_empty() || values.is_empty() {
            let what = if symbol.is_empty() {
                " without a gene symbol"
            } else {
                ""
            };
            return Err(err(format!(
                "line {line}: expected `{expected}`; found {} cell{}{what}{}",
                row.len(),
                if row.len() == 1 { "" } else { "s" },
                other_delimiter_hint(&row, delimiter)
            )));
        }
        let v = values
            .iter()
            .map(|c| c.trim().parse::<f32>().map_err(|_| c.trim()))
            .collect::<Result<Vec<f32>, &str>>()
            .map_err(|bad| {
                err(format!(
                    "line {line}: '{bad}' is not a number (expected `{expected}`){}",
                    other_delimiter_hint(&row, delimiter)
                ))
            })?;
        match width {
            None => width = Some((line, v.len())),
            Some((first, w)) if w != v.len() => {
                return Err(err(format!(
                    "line {line} has {} values but line {first} has {w}",
                    v.len()
                )))
            }
            Some(_) => {}
        }
        out.push((symbol.to_string(), v));
    }
    Ok(out)
}

/// "; the file looks tab-separated: pass --format tsv" when the row holds the other delimiter.
fn other_delimiter_hint(row: &[String], delimiter: u8) -> &'static str {
    let (other, hint) = if delimiter == b'\t' {
        (',', "; the file looks comma-separated: pass --format csv")
    } else {
        ('\t', "; the file looks tab-separated: pass --format tsv")
    };
    if row.iter().any(|c| c.contains(other)) {
        hint
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        text.lines()
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    }

    #[test]
    fn layouts_are_detected() {
        let plain = Layout {
            header: false,
            symbol_col: 0,
        };
        assert_eq!(detect(&rows("FOSB,0.1,0.2\nKLF1,1,2")), plain);
        // Values that happen to count are data, not pandas' column labels.
        assert_eq!(detect(&rows("A,1,2\nA,3,4")), plain);
        assert_eq!(detect(&rows("A,0,1,2\nB,3,4,5")), plain);
        let header = Layout {
            header: true,
            ..plain
        };
        assert_eq!(detect(&rows("symbol,v1,v2\nFOSB,0.1,0.2")), header);
        assert_eq!(detect(&rows(",0,1\nFOSB,0.1,0.2")), header);
        assert_eq!(detect(&rows("gene,0,1,2\nFOSB,0.1,0.2,3")), header);
        assert_eq!(
            detect(&rows(",gene,0,1\n0,FOSB,0.1,0.2")),
            Layout {
                header: true,
                symbol_col: 1
            }
        );
        assert_eq!(
            detect(&rows("0,FOSB,0.1,0.2\n1,KLF1,1,2")),
            Layout {
                header: false,
                symbol_col: 1
            }
        );
        // A gene named like a number is still data when the values are not a count.
        assert_eq!(detect(&rows("7SK,0.5,0.25\n")), plain);
    }
}
