use std::collections::BTreeMap;
use std::path::Path;

use custody_oci::{Image, ImageRef, OpenOptions};
use custody_sbom::{Ecosystem, ImageSboms, Options, generate};

fn open(path: &Path) -> Image {
    Image::open(&ImageRef::path(path), &OpenOptions::default()).unwrap()
}

fn sboms(path: &Path) -> ImageSboms {
    generate(&open(path), &Options::default()).unwrap()
}

#[test]
fn debian_py_node_summary() {
    let data = custody_testkit::testdata_or_skip!();
    let s = sboms(&data.join("images/debian-py-node/oci"));
    let mut by_eco: BTreeMap<Ecosystem, usize> = BTreeMap::new();
    for c in &s.image.components {
        *by_eco.entry(c.ecosystem).or_default() += 1;
    }
    eprintln!("{by_eco:?}");
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    assert_eq!(by_eco[&Ecosystem::Deb], 116);
}
