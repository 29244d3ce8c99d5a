//! OCI images from the real definitions in `images/`, checked with skopeo, umoci and by running the
//! packaged binary from the unpacked root filesystem.

use std::fs;
use std::path::{Path, PathBuf};

use packaging::oci::{
    self, BuildInputs, DEFAULT_LIBRARY_DIRS, ImageDefinition, VerifyError, WrittenImage,
};
use serde_json::Value;

use crate::archive::{output, run};

const TAG: &str = "1.2.3";
const EPOCH: u64 = 1_700_000_000;

fn definition(name: &str) -> ImageDefinition {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../images").join(format!("{name}.toml"));
    ImageDefinition::load(&path).unwrap()
}

/// A small glibc program standing in for the real binaries: `--version` prints `<greeting> 1.0`.
fn compile(dir: &Path, greeting: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let source = dir.join("hello.c");
    fs::write(
        &source,
        format!(
            "#include <stdio.h>\n#include <string.h>\n#include <math.h>\n\
             int main(int argc, char **argv) {{\n\
               if (argc > 1 && strcmp(argv[1], \"--version\") == 0) {{\n\
                 printf(\"{greeting} 1.0 sqrt2=%.3f\\n\", sqrt((double)argc));\n\
                 return 0;\n\
               }}\n\
               fprintf(stderr, \"usage: hello --version\\n\");\n\
               return 2;\n\
             }}\n"
        ),
    )
    .unwrap();
    run("cc", &["-O2", "-o", "hello", "hello.c", "-lm"], dir);
    dir.join("hello")
}

fn build(def: &ImageDefinition, binary: &Path, out: &Path) -> WrittenImage {
    let inputs = BuildInputs {
        binary: binary.to_owned(),
        tag: TAG.to_owned(),
        source_date_epoch: EPOCH,
        library_dirs: DEFAULT_LIBRARY_DIRS.iter().map(PathBuf::from).collect(),
    };
    let image = oci::build_image(def, &inputs, &out.join(&def.name)).unwrap();
    oci::write_docker_archive(&image, &out.join(format!("{}.tar", def.name))).unwrap();
    image
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn skopeo_reads_the_layout_and_the_docker_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = compile(&tmp.path().join("src"), "scheduler");
    let def = definition("scaleio-scheduler");
    let image = build(&def, &binary, &tmp.path().join("out"));
    let layout = format!("oci:{}:{TAG}", image.dir.display());

    let inspect = json(&run("skopeo", &["inspect", &layout], tmp.path()).stdout);
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(inspect["Digest"], image.manifest.oci());
    assert_eq!(inspect["Labels"]["org.opencontainers.image.version"], TAG);
    let layers: Vec<String> = image.layers.iter().map(|l| l.blob.oci()).collect();
    assert_eq!(inspect["Layers"], serde_json::json!(layers));

    let config = json(&run("skopeo", &["inspect", "--config", &layout], tmp.path()).stdout);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/scaleio-scheduler"])
    );
    assert_eq!(config["config"]["User"], "10001:10001");
    assert_eq!(config["config"]["ExposedPorts"], serde_json::json!({ "8080/tcp": {} }));

    let archive =
        format!("docker-archive:{}", tmp.path().join("out/scaleio-scheduler.tar").display());
    let inspect = json(&run("skopeo", &["inspect", &archive], tmp.path()).stdout);
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(
        inspect["RepoTags"],
        serde_json::json!([]),
        "skopeo lists no tags of a tar: {inspect}"
    );
    let config = json(&run("skopeo", &["inspect", "--config", &archive], tmp.path()).stdout);
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    let listing = run(
        "tar",
        &["--numeric-owner", "--full-time", "-tvf", "out/scaleio-scheduler.tar"],
        tmp.path(),
    );
    let listing = String::from_utf8(listing.stdout).unwrap();
    let manifest_line = listing.lines().find(|l| l.ends_with(" manifest.json")).unwrap();
    assert!(
        manifest_line.contains(" 0/0 ") && manifest_line.contains("2023-11-14 22:13:20"),
        "{listing}"
    );
    let manifest = run("tar", &["-xOf", "out/scaleio-scheduler.tar", "manifest.json"], tmp.path());
    let manifest = json(&manifest.stdout);
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([format!("scaleio-scheduler:{TAG}")]));
}

#[test]
fn skopeo_copy_rechecks_every_blob_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = compile(&tmp.path().join("src"), "executor");
    let image = build(&definition("scaleio-executor"), &binary, &tmp.path().join("out"));
    let target = tmp.path().join("copied");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            &format!("oci:{}:{TAG}", image.dir.display()),
            &format!("dir:{}", target.display()),
        ],
        tmp.path(),
    );
    for layer in &image.layers {
        let copied = fs::read(target.join(layer.blob.hex())).unwrap();
        let ours = fs::read(image.dir.join("blobs/sha256").join(layer.blob.hex())).unwrap();
        assert!(copied == ours, "layer {} copied unchanged", layer.blob);
    }
    assert!(target.join(image.config.hex()).is_file());
}

fn uid() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn umoci_unpacks_it_and_the_binary_runs_from_the_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = compile(&tmp.path().join("src"), "scheduler");
    let image = build(&definition("scaleio-scheduler"), &binary, &tmp.path().join("out"));
    let bundle = tmp.path().join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:{TAG}", image.dir.display()),
            &bundle.display().to_string(),
        ],
        tmp.path(),
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    assert_eq!(
        fs::read(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap()
    );
    let runtime = fs::read_to_string(bundle.join("config.json")).unwrap();
    let runtime = json(runtime.as_bytes());
    assert_eq!(runtime["process"]["args"], serde_json::json!(["/usr/local/bin/scaleio-scheduler"]));

    // The rootfs's own loader, finding libraries only inside the rootfs.
    let loader = rootfs.join("lib64/ld-linux-x86-64.so.2");
    let lib_dirs = format!(
        "{}:{}",
        rootfs.join("lib/x86_64-linux-gnu").display(),
        rootfs.join("usr/lib/x86_64-linux-gnu").display()
    );
    let out = run(
        &loader.display().to_string(),
        &[
            "--inhibit-cache",
            "--library-path",
            &lib_dirs,
            &rootfs.join("usr/local/bin/scaleio-scheduler").display().to_string(),
            "--version",
        ],
        tmp.path(),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "scheduler 1.0 sqrt2=1.414\n");

    // As root, the real thing: nothing but the image's files are visible.
    if uid() == 0 {
        let rootfs = rootfs.display().to_string();
        let out =
            run("chroot", &[&rootfs, "/usr/local/bin/scaleio-scheduler", "--version"], tmp.path());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "scheduler 1.0 sqrt2=1.414\n");
    }
}

#[test]
fn two_builds_are_identical_and_one_changed_binary_changes_only_its_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let one = compile(&tmp.path().join("one"), "scheduler");
    let two = compile(&tmp.path().join("two"), "scheduler, changed");
    let def = definition("scaleio-scheduler");
    let first = build(&def, &one, &tmp.path().join("a"));
    let second = build(&def, &one, &tmp.path().join("b"));
    assert_eq!(first.manifest, second.manifest);
    assert!(
        all_files(&tmp.path().join("a")) == all_files(&tmp.path().join("b")),
        "layout and docker archive are byte-for-byte identical"
    );

    let changed = build(&def, &two, &tmp.path().join("c"));
    assert_eq!(changed.layers[0], first.layers[0], "the runtime layer is untouched");
    assert_ne!(changed.layers[1], first.layers[1]);
    assert_ne!(changed.config, first.config);
    assert_ne!(changed.manifest, first.manifest);

    // Both images share their runtime layer.
    let executor = build(&definition("scaleio-executor"), &two, &tmp.path().join("d"));
    assert_eq!(executor.layers[0], first.layers[0]);
    oci::verify_layout(&executor.dir, TAG).unwrap();
}

/// Rewrite the image's config with a wrong diff_id, consistently re-hashed all the way up to the
/// index, as a builder that hashed the gzip instead of the tar would.
fn corrupt_diff_id(image: &WrittenImage) {
    let blobs = image.dir.join("blobs/sha256");
    let mut config = json(&fs::read(blobs.join(image.config.hex())).unwrap());
    config["rootfs"]["diff_ids"][1] = Value::String(image.layers[1].blob.oci());
    let config = oci::write_json_blob(&blobs, &config).unwrap();
    let mut manifest = json(&fs::read(blobs.join(image.manifest.hex())).unwrap());
    manifest["config"]["digest"] = Value::String(config.oci());
    manifest["config"]["size"] = config.size.into();
    let manifest = oci::write_json_blob(&blobs, &manifest).unwrap();
    oci::write_index(&image.dir, &image.name, &image.tag, manifest).unwrap();
}

#[test]
fn a_wrong_diff_id_is_caught_by_our_verifier_and_by_umoci() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = compile(&tmp.path().join("src"), "executor");
    let image = build(&definition("scaleio-executor"), &binary, &tmp.path().join("out"));
    let verified = oci::verify_layout(&image.dir, TAG).unwrap();
    assert_eq!(verified.manifest, image.manifest.oci());

    corrupt_diff_id(&image);
    let err = oci::verify_layout(&image.dir, TAG).unwrap_err();
    match &err {
        VerifyError::DiffIdMismatch { layer, expected, found } => {
            assert_eq!(*layer, 1);
            assert_eq!(*expected, image.layers[1].blob.oci());
            assert_eq!(*found, image.layers[1].diff_id.oci());
        }
        other => panic!("expected a diff_id mismatch, got {other}"),
    }

    let layout = format!("{}:{TAG}", image.dir.display());
    let umoci =
        output("umoci", &["unpack", "--rootless", "--image", &layout, "bundle"], tmp.path());
    let stderr = String::from_utf8_lossy(&umoci.stderr);
    assert!(!umoci.status.success(), "umoci also refuses the wrong diff_id: {stderr}");
    assert!(stderr.contains("diffid"), "umoci names the diff_id: {stderr}");
}

#[test]
fn a_tampered_blob_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = compile(&tmp.path().join("src"), "executor");
    let image = build(&definition("scaleio-executor"), &binary, &tmp.path().join("out"));
    let blob = image.dir.join("blobs/sha256").join(image.layers[1].blob.hex());
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 9;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let err = oci::verify_layout(&image.dir, TAG).unwrap_err();
    assert!(matches!(err, VerifyError::BlobMismatch { .. } | VerifyError::Read { .. }), "{err}");
}
