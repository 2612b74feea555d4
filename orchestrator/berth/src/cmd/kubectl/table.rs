//! Columns as kubectl prints them: left-aligned, three spaces apart, widths
//! counted in display columns (`tabwriter`, which measures with
//! `unicode-width`), so a value such as `日本` or `naïve` keeps its
//! column straight.

use std::io::Write as _;

use tabwriter::TabWriter;

/// The rows as aligned lines, each ending in a newline.
pub fn render(rows: &[Vec<String>]) -> String {
    let mut tw = TabWriter::new(Vec::new()).padding(3);
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writeln!(tw, "{}", row.join("\t"));
    }
    let bytes = tw.into_inner().unwrap_or_default();
    // An empty last cell leaves the padding of the one before it.
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|c| (*c).to_owned()).collect())
            .collect()
    }

    #[test]
    fn columns_line_up_by_display_width() {
        let out = render(&rows(&[
            &["NAME", "LABEL", "AGE"],
            &["web", "日本", "5s"],
            &["naïve", "x", "10m"],
        ]));
        assert_eq!(
            out,
            "NAME    LABEL   AGE\n\
             web     日本    5s\n\
             naïve   x       10m\n"
        );
    }

    #[test]
    fn the_last_column_is_not_padded() {
        let out = render(&rows(&[&["A", "LONG-HEADER"], &["bb", "c"], &["d", ""]]));
        assert_eq!(out, "A    LONG-HEADER\nbb   c\nd\n");
    }
}
