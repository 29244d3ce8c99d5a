//! `cargo xtask image`: Build daemon-less OCI images of the scheduler and executor.
//!
//! Reads every `images/*.toml` definition, builds the release binaries, and writes for each image
//! an OCI image layout `<out>/<name>/` and a `docker load`-able `<out>/<name>.tar`, checked by our
//! own verifier. Prints `<name> <tag> <manifest digest>` per image on stdout.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use packaging::archive::source_date_epoch;
use packaging::oci::{self, BuildInputs, DEFAULT_LIBRARY_DIRS, ImageDefinition};
use xshell::{Shell, cmd};

use crate::project_root;

/// Build daemon-less OCI images of the scheduler and executor.
#[derive(Debug, clap::Args)]
pub struct Image {
    /// Directory for the image layouts and docker archives.
    #[arg(long, value_name = "DIR", default_value = "target/images")]
    out: PathBuf,
    /// Image tag (`org.opencontainers.image.ref.name`); defaults to the workspace version.
    #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
    tag: String,
    /// Use the release binaries already in `target/release` instead of building them.
    #[arg(long)]
    no_build: bool,
}

/// The image definitions in `images/`, sorted by file name.
fn definitions(dir: &Path) -> anyhow::Result<Vec<ImageDefinition>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list image definitions in {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot list image definitions in {}", dir.display()))?;
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "toml"));
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "no image definitions (*.toml) in {}", dir.display());
    paths.iter().map(|path| Ok(ImageDefinition::load(path)?)).collect()
}

fn check_tag(tag: &str) -> anyhow::Result<()> {
    // The OCI distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
    let valid = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    anyhow::ensure!(
        valid,
        "tag `{tag}` is not a valid image tag\nhint: use letters, digits, `.`, `_` and `-`, not starting with `.` or `-`, at most 128 characters"
    );
    Ok(())
}

impl Image {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        check_tag(&self.tag)?;
        let root = project_root();
        let defs = definitions(&root.join("images"))?;
        let epoch = source_date_epoch()?;
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        if !self.no_build {
            eprintln!("building release binaries of the scheduler and executor");
            cmd!(sh, "cargo build --release -p scheduler -p executor")
                .run()
                .context("cannot build the release binaries")?;
        }
        let out = root.join(&self.out);
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        let library_dirs: Vec<PathBuf> = DEFAULT_LIBRARY_DIRS.iter().map(PathBuf::from).collect();
        for def in defs {
            let binary = target_dir.join("release").join(&def.binary);
            anyhow::ensure!(
                binary.is_file(),
                "image `{}` needs {}, which is not built\nhint: run without --no-build",
                def.name,
                binary.display()
            );
            let layout = out.join(&def.name);
            let archive = out.join(format!("{}.tar", def.name));
            if layout.exists() {
                std::fs::remove_dir_all(&layout)
                    .with_context(|| format!("cannot remove the old {}", layout.display()))?;
            }
            let inputs = BuildInputs {
                binary,
                tag: self.tag.clone(),
                source_date_epoch: epoch,
                library_dirs: library_dirs.clone(),
            };
            let image = oci::build_image(&def, &inputs, &layout)
                .with_context(|| format!("cannot build image `{}`", def.name))?;
            oci::write_docker_archive(&image, &archive)
                .with_context(|| format!("cannot write the docker archive of `{}`", def.name))?;
            oci::verify_layout(&layout, &self.tag)
                .with_context(|| format!("image `{}` does not verify", def.name))?;
            eprintln!("wrote {} and {}", layout.display(), archive.display());
            println!("{} {} {}", def.name, self.tag, image.manifest);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_in_images_load_and_name_workspace_binaries() {
        let defs = definitions(&project_root().join("images")).unwrap();
        let names: Vec<(&str, &str)> =
            defs.iter().map(|d| (d.name.as_str(), d.binary.as_str())).collect();
        assert_eq!(
            names,
            [("scaleio-executor", "scaleio-executor"), ("scaleio-scheduler", "scaleio-scheduler")]
        );
        for (crate_dir, binary) in
            [("scheduler", "scaleio-scheduler"), ("executor", "scaleio-executor")]
        {
            let manifest =
                std::fs::read_to_string(project_root().join(crate_dir).join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{binary}\"")),
                "{crate_dir} builds {binary}"
            );
        }
        let scheduler = &defs[1];
        assert_ne!(scheduler.user.split(':').next(), Some("0"), "the scheduler runs as non-root");
        assert_eq!(scheduler.exposed_ports, ["8080/tcp"]);
    }

    #[test]
    fn tags_follow_the_oci_grammar() {
        for tag in ["0.1.0", "latest", "v1_2-rc.3"] {
            check_tag(tag).unwrap();
        }
        for tag in ["", "-x", ".x", "a/b", "a:b", &"x".repeat(129)] {
            let err = check_tag(tag).unwrap_err().to_string();
            assert!(err.contains("not a valid image tag"), "{tag}: {err}");
        }
    }
}
