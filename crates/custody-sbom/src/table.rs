//! The human-readable table: one line per component, columns aligned.

use crate::model::{Bom, Subject};

pub(crate) fn write(bom: &Bom) -> String {
    let per_layer = matches!(bom.subject, Subject::Layer { .. });
    let mut rows: Vec<[String; 4]> = vec![[
        "NAME".to_owned(),
        "VERSION".to_owned(),
        "TYPE".to_owned(),
        if per_layer { "CHANGE" } else { "LAYER" }.to_owned(),
    ]];
    for c in &bom.components {
        let name = match &c.group {
            Some(g) => format!("{g}:{}", c.name),
            None => c.name.clone(),
        };
        let ty = if c.purl.is_empty() {
            "os"
        } else {
            c.ecosystem.purl_type()
        };
        let last = if per_layer {
            if c.layers.removed.is_some() {
                "removed".to_owned()
            } else if let (Subject::Layer { layer, .. }, Some(ch)) =
                (&bom.subject, &c.layers.changed)
            {
                if c.layers.introduced.index == layer.index && ch.index == layer.index {
                    "upgraded".to_owned()
                } else {
                    "changed".to_owned()
                }
            } else {
                "added".to_owned()
            }
        } else {
            c.layers.introduced.index.to_string()
        };
        rows.push([name, c.version.clone(), ty.to_owned(), last]);
    }
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
