//! Installing providers the way a user does: filesystem mirrors in the unpacked layout, and copies
//! of the repository's configurations to work on (Terraform writes `.terraform/` next to them).

use std::path::Path;

use super::{provider_binary, SOURCE};

/// A filesystem mirror under `dir` holding the provider cargo built for this run, and a CLI
/// configuration that installs mlops/mlops only from it (what examples/local/run.sh does).
/// `extra` adds mirrors for other providers: `(mirror path, source address)`.
pub fn cli_config(dir: &Path, extra: &[(&Path, &str)]) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mirror = dir.join("mirror");
    let platform = mirror.join(format!("{SOURCE}/{version}/linux_amd64"));
    std::fs::create_dir_all(&platform).expect("mirror dir");
    std::fs::copy(provider_binary(), platform.join(format!("terraform-provider-mlops_v{version}")))
        .expect("copy the provider into the mirror");
    let mut mirrors = vec![(mirror.as_path(), SOURCE)];
    mirrors.extend_from_slice(extra);
    let mut text = String::from("provider_installation {\n");
    for (path, source) in &mirrors {
        text.push_str(&format!(
            "  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"{source}\"]\n  }}\n",
            path.display()
        ));
    }
    let sources: Vec<String> = mirrors.iter().map(|(_, s)| format!("\"{s}\"")).collect();
    text.push_str(&format!("  direct {{\n    exclude = [{}]\n  }}\n}}\n", sources.join(", ")));
    text
}

/// Copies a directory tree, leaving out Terraform's own files from an earlier local run.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if name == ".terraform" || name.to_string_lossy().starts_with("terraform.tfstate") {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy file");
        }
    }
}
