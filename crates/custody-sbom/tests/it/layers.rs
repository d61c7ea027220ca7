//! Small synthetic images, one behaviour each: bad records as warnings, upgrades and
//! rewrites, whiteouts, every cataloger reached through a real layer stream.

use custody_oci::{Image, ImageRef, OpenOptions};
use custody_sbom::{
    Ecosystem, Format, ImageSboms, License, Limits, Options, SpecVersion, generate, render,
};

use crate::support::{E, elf, go_buildinfo, jar, layout, tar, zlib};

const DEBIAN: &[u8] =
    b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";

fn status(entries: &[(&str, &str)]) -> String {
    entries
        .iter()
        .map(|(n, v)| {
            format!(
                "Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(layers: &[Vec<u8>], options: &Options) -> ImageSboms {
    let tmp = tempfile::tempdir().unwrap();
    layout(tmp.path(), layers);
    let image = Image::open(&ImageRef::path(tmp.path()), &OpenOptions::default()).unwrap();
    generate(&image, options).unwrap()
}

fn names(s: &ImageSboms, eco: Ecosystem) -> Vec<(String, String)> {
    s.image
        .components
        .iter()
        .filter(|c| c.ecosystem == eco)
        .map(|c| (c.name.clone(), c.version.clone()))
        .collect()
}

fn pair(n: &str, v: &str) -> (String, String) {
    (n.to_owned(), v.to_owned())
}

#[test]
fn one_bad_record_or_file_is_a_warning_naming_it_and_the_rest_is_right() {
    let mut bad_status = status(&[("bash", "5.2.15-2+b13"), ("libc6", "2.36-9")]);
    bad_status.push_str("\nthis line is not a field\nPackage: ghost\n");
    let bomb = jar(&[("META-INF/maven/g/a/pom.properties", &vec![b'a'; 8 << 20])]);
    let good_jar = jar(&[(
        "META-INF/maven/org.slf4j/slf4j-api/pom.properties",
        b"groupId=org.slf4j\nartifactId=slf4j-api\nversion=1.7.36\n",
    )]);
    let mut truncated_elf = elf(&[(".dep-v0", &zlib(b"{}"))]);
    truncated_elf.truncate(70);
    let layer = tar(&[
        E::File("usr/lib/os-release", DEBIAN),
        E::Symlink("etc/os-release", "../usr/lib/os-release"),
        E::File("var/lib/dpkg/status", bad_status.as_bytes()),
        E::File(
            "app/node_modules/good/package.json",
            br#"{"name":"good","version":"1.0.0"}"#,
        ),
        E::File(
            "app/node_modules/broken/package.json",
            b"{ this is not json",
        ),
        E::File(
            "usr/lib/python3/dist-packages/ok-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: ok\nVersion: 1.0\n",
        ),
        E::File(
            "usr/lib/python3/dist-packages/latin-2.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: latin\nVersion: 2.0\nAuthor: Fran\xe7ois\n",
        ),
        E::File(
            "usr/lib/python3/dist-packages/empty-1.0.dist-info/METADATA",
            b"",
        ),
        E::File("usr/local/bin/truncated", &truncated_elf),
        E::File("opt/bomb.jar", &bomb),
        E::File("opt/good.jar", &good_jar),
        E::File("src/x/Cargo.lock", b"[[package]\nname = "),
        E::File(
            "var/lib/rpm/rpmdb.sqlite",
            b"SQLite format 3\0 and then nothing",
        ),
    ]);
    let options = Options {
        limits: Limits {
            max_archive_inflated_bytes: 1 << 20,
            ..Limits::default()
        },
        ..Options::default()
    };
    let s = run(&[layer], &options);
    assert_eq!(
        names(&s, Ecosystem::Deb),
        [pair("bash", "5.2.15-2+b13"), pair("libc6", "2.36-9")]
    );
    assert_eq!(names(&s, Ecosystem::Npm), [pair("good", "1.0.0")]);
    assert_eq!(
        names(&s, Ecosystem::Python),
        [pair("latin", "2.0"), pair("ok", "1.0")]
    );
    assert_eq!(names(&s, Ecosystem::Maven), [pair("slf4j-api", "1.7.36")]);
    let warned = |path: &str, what: &str| {
        assert!(
            s.warnings
                .iter()
                .any(|w| w.path == path && w.layer == Some(0) && w.message.contains(what)),
            "no warning for {path} containing {what:?}: {:#?}",
            s.warnings
        );
    };
    warned("/var/lib/dpkg/status", "malformed record at line 11");
    warned("/app/node_modules/broken/package.json", "not valid JSON");
    warned(
        "/usr/lib/python3/dist-packages/latin-2.0.dist-info/METADATA",
        "not valid UTF-8",
    );
    warned(
        "/usr/lib/python3/dist-packages/empty-1.0.dist-info/METADATA",
        "not readable",
    );
    warned("/usr/local/bin/truncated", "ELF");
    warned("/opt/bomb.jar", "zip bomb");
    warned("/src/x/Cargo.lock", "not a valid lock file");
    warned(
        "/var/lib/rpm/rpmdb.sqlite",
        "rpm database could not be read",
    );
    // Every warning renders with its layer and path for the CLI.
    assert!(
        s.warnings
            .iter()
            .all(|w| w.to_string().starts_with("layer 0: /"))
    );
}

#[test]
fn oversized_metadata_is_skipped_with_a_warning() {
    let big = format!(
        r#"{{"name":"big","version":"1.0.0","description":"{}"}}"#,
        "x".repeat(4096)
    );
    let layer = tar(&[
        E::File("app/node_modules/big/package.json", big.as_bytes()),
        E::File(
            "app/node_modules/small/package.json",
            br#"{"name":"small","version":"1.0.0"}"#,
        ),
    ]);
    let options = Options {
        limits: Limits {
            max_metadata_bytes: 1024,
            ..Limits::default()
        },
        ..Options::default()
    };
    let s = run(&[layer], &options);
    assert_eq!(names(&s, Ecosystem::Npm), [pair("small", "1.0.0")]);
    assert!(
        s.warnings[0]
            .message
            .contains("more than the 1024-byte limit"),
        "{:?}",
        s.warnings
    );
}

#[test]
fn upgrades_rewrites_and_whiteouts_across_layers() {
    let l0 = tar(&[
        E::File("etc/os-release", DEBIAN),
        E::File(
            "var/lib/dpkg/status",
            status(&[("libfoo", "1.0-1"), ("bar", "2.0-1"), ("gone", "1.0")]).as_bytes(),
        ),
        E::File(
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n",
        ),
        E::File(
            "usr/lib/python3/dist-packages/keep-1.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: keep\nVersion: 1.0\n",
        ),
    ]);
    // Layer 1 rewrites the whole database: libfoo upgraded, bar's record rewritten (same
    // version), gone purged; python six removed with a whiteout.
    let mut rewritten = status(&[("libfoo", "1.1-1"), ("bar", "2.0-1")]);
    rewritten = rewritten.replace("Version: 2.0-1", "Version: 2.0-1\nInstalled-Size: 12");
    let l1 = tar(&[
        E::File("var/lib/dpkg/status", rewritten.as_bytes()),
        E::File(
            "usr/lib/python3/dist-packages/.wh.six-1.16.0.dist-info",
            b"",
        ),
    ]);
    // Layer 2 rewrites the database byte for byte: nothing changes.
    let l2 = tar(&[E::File("var/lib/dpkg/status", rewritten.as_bytes())]);
    let s = run(&[l0, l1, l2], &Options::default());
    let get = |name: &str| s.image.components.iter().find(|c| c.name == name).unwrap();
    let libfoo = get("libfoo");
    assert_eq!(libfoo.version, "1.1-1");
    assert_eq!(libfoo.layers.introduced.index, 1);
    assert_eq!(libfoo.layers.changed.as_ref().map(|l| l.index), Some(1));
    let bar = get("bar");
    assert_eq!(
        bar.layers.introduced.index, 0,
        "a rewritten record keeps its layer"
    );
    assert_eq!(bar.layers.changed.as_ref().map(|l| l.index), Some(1));
    assert!(
        s.image
            .components
            .iter()
            .all(|c| c.name != "gone" && c.name != "six")
    );
    assert_eq!(get("keep").layers.introduced.index, 0);

    let l1_doc = &s.layers[1].bom;
    let summary: Vec<(String, String, bool)> = l1_doc
        .components
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                c.version.clone(),
                c.layers.removed.is_some(),
            )
        })
        .collect();
    let t = |n: &str, v: &str, r: bool| (n.to_owned(), v.to_owned(), r);
    assert_eq!(
        summary,
        [
            t("bar", "2.0-1", false),
            t("gone", "1.0", true),
            t("libfoo", "1.0-1", true),
            t("libfoo", "1.1-1", false),
            t("six", "1.16.0", true)
        ]
    );
    assert!(
        s.layers[2].bom.components.is_empty(),
        "a byte-identical rewrite changes nothing"
    );
    let table = String::from_utf8(render(l1_doc, Format::Table, SpecVersion::V1_6)).unwrap();
    assert!(
        table.contains("upgraded") && table.contains("removed") && table.contains("changed"),
        "{table}"
    );
}

#[test]
fn go_binaries_rpm_apk_and_java_through_real_layer_streams() {
    let modinfo = "path\texample.com/hello\nmod\texample.com/hello\t(devel)\t\ndep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n";
    let go = elf(&[(".go.buildinfo", &go_buildinfo("go1.22.1", modinfo))]);
    let rpmdb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rpmdb.sqlite"
    ))
    .unwrap();
    let apk = b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\nP:py3-six\nV:1.16.0-r0\nA:noarch\nL:MIT\no:py-six\nF:usr/lib/python3.11/site-packages/six-1.16.0.dist-info\nR:METADATA\n";
    let war = jar(&[(
        "WEB-INF/lib/slf4j-api-1.7.36.jar",
        &jar(&[(
            "META-INF/maven/org.slf4j/slf4j-api/pom.properties",
            b"groupId=org.slf4j\nartifactId=slf4j-api\nversion=1.7.36\n",
        )]),
    )]);
    let layer = tar(&[
        E::File("etc/os-release", b"ID=fedora\nVERSION_ID=40\n"),
        E::File("var/lib/rpm/rpmdb.sqlite", &rpmdb),
        E::File("lib/apk/db/installed", apk),
        E::File(
            "usr/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n",
        ),
        E::File("usr/bin/hello", &go),
        E::Dir("srv"),
        E::File("srv/shop.war", &war),
    ]);
    let s = run(&[layer], &Options::default());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let purls: Vec<&str> = s.image.components.iter().map(|c| c.purl.as_str()).collect();
    for want in [
        "pkg:golang/example.com/hello@(devel)",
        "pkg:golang/golang.org/x/text@v0.14.0",
        "pkg:golang/stdlib@go1.22.1",
        "pkg:rpm/fedora/custody-hello@1.2.3-4.fc40?arch=x86_64&distro=fedora-40&epoch=2",
        "pkg:rpm/fedora/zlib-demo@1.3-1.el9?arch=x86_64&distro=fedora-40",
        "pkg:apk/fedora/musl@1.2.4-r2?arch=x86_64&distro=fedora-40",
        "pkg:maven/org.slf4j/slf4j-api@1.7.36",
        "pkg:pypi/six@1.16.0",
    ] {
        assert!(purls.contains(&want), "{want} not in {purls:#?}");
    }
    let rpm = s
        .image
        .components
        .iter()
        .find(|c| c.name == "custody-hello")
        .unwrap();
    assert_eq!(rpm.version, "2:1.2.3-4.fc40");
    assert_eq!(
        rpm.licenses,
        [License::Spdx("MIT AND (Apache-2.0 OR BSD-3-Clause)".into())]
    );
    let six = s.image.components.iter().find(|c| c.name == "six").unwrap();
    let apk_six = s
        .image
        .components
        .iter()
        .find(|c| c.name == "py3-six")
        .unwrap();
    assert_eq!(
        six.owned_by.as_deref(),
        Some(apk_six.bom_ref.as_str()),
        "apk ownership"
    );
    let slf4j = s
        .image
        .components
        .iter()
        .find(|c| c.name == "slf4j-api")
        .unwrap();
    assert_eq!(slf4j.group.as_deref(), Some("org.slf4j"));
    assert_eq!(
        slf4j.evidence,
        ["/srv/shop.war!/WEB-INF/lib/slf4j-api-1.7.36.jar"]
    );
}

#[test]
fn same_image_same_bytes_in_every_format() {
    let layer = tar(&[
        E::File("etc/os-release", DEBIAN),
        E::File(
            "var/lib/dpkg/status",
            status(&[("a", "1"), ("b", "2")]).as_bytes(),
        ),
        E::File(
            "app/node_modules/x/package.json",
            br#"{"name":"x","version":"1.0.0","license":"MIT OR Apache-2.0"}"#,
        ),
    ]);
    // Two temporary layouts: the name is given, since a layout's folder name would differ.
    let named = Options {
        name: Some("localhost/test:1".into()),
        ..Options::default()
    };
    let a = run(std::slice::from_ref(&layer), &named);
    let b = run(&[layer], &named);
    for format in [Format::CycloneDxJson, Format::SpdxJson, Format::Table] {
        for spec in [SpecVersion::V1_5, SpecVersion::V1_6] {
            assert!(
                render(&a.image, format, spec) == render(&b.image, format, spec),
                "{format:?} {spec:?}"
            );
        }
    }
    let (bytes, digest) = a.layers[0].cyclonedx(SpecVersion::V1_6);
    assert_eq!(digest, custody_types::Digest::sha256_of(&bytes));
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let x = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "x")
        .unwrap();
    assert_eq!(
        x["licenses"],
        serde_json::json!([{"expression": "MIT OR Apache-2.0", "acknowledgement": "declared"}])
    );
    let v15: serde_json::Value =
        serde_json::from_slice(&render(&a.image, Format::CycloneDxJson, SpecVersion::V1_5))
            .unwrap();
    assert_eq!(v15["specVersion"], "1.5");
    assert!(
        !v15.to_string().contains("acknowledgement"),
        "1.5 has no licence acknowledgement"
    );
    assert_eq!(doc["metadata"]["timestamp"], "2026-01-02T03:04:05Z");
}
