//! The real images (../shared/testdata/images, README there): layer digests and sizes against
//! `truth/layers.txt`, DiffIDs against the config, whiteouts, symlink resolution.

use std::path::Path;

use custody_oci::{EntryKind, Image, ImageView, MetadataOnly};

fn truth_layers(dir: &Path) -> Vec<(String, u64, String)> {
    std::fs::read_to_string(dir.join("truth/layers.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_owned(), f[1].parse().unwrap(), f[2].to_owned())
        })
        .collect()
}

#[test]
fn debian_py_node_oci_layout_layers_match_truth() {
    let data = custody_testkit::testdata_or_skip!();
    let dir = data.join("images/debian-py-node");
    let image = Image::open_path(dir.join("oci")).unwrap();
    let truth = truth_layers(&dir);
    assert_eq!(image.layers().len(), truth.len());
    for (layer, (digest, size, mt)) in image.layers().iter().zip(&truth) {
        assert_eq!(&layer.digest().to_string(), digest);
        assert_eq!(layer.size(), *size);
        assert_eq!(layer.media_type(), mt);
    }
    let reports = image.verify_layers().unwrap();
    for (r, l) in reports.iter().zip(image.layers()) {
        assert_eq!(&r.diff_id, l.diff_id());
    }
    let layers = image.read_layers(|_| MetadataOnly).unwrap();
    let whiteouts = |i: usize| {
        layers[i]
            .entries()
            .iter()
            .filter(|e| e.entry.kind == EntryKind::Whiteout)
            .count()
    };
    assert_eq!(whiteouts(1), 82);
    assert_eq!(whiteouts(3), 3);
    let mut view = ImageView::new(40);
    for l in layers {
        view.apply(l).unwrap();
    }
    let (path, node) = view.lookup("/etc/os-release").unwrap().unwrap();
    assert_eq!(path, "usr/lib/os-release");
    assert_eq!(node.layer(), 0);
}
