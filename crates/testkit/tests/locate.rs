//! Tool locators and `TempDir`.

use ccp_testkit::{find_codex_in, workspace_root, TempDir};

#[test]
fn workspace_root_is_the_cargo_workspace() {
    let root = workspace_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root manifest");
    assert!(manifest.contains("[workspace]"));
    assert!(root.join("crates/testkit").is_dir());
}

#[test]
fn temp_dirs_are_unique_and_removed_on_drop() {
    let a = TempDir::new("selftest");
    let b = TempDir::new("selftest");
    assert_ne!(a.path(), b.path());
    assert!(a.path().starts_with(std::env::temp_dir()));
    std::fs::create_dir_all(a.join("nested/dir")).expect("mkdir");
    std::fs::write(a.join("nested/dir/file"), "x").expect("write");
    let path = a.path().to_path_buf();
    drop(a);
    assert!(!path.exists(), "{} should be removed", path.display());
    assert!(b.path().is_dir());
}

fn fake_binary(scope: &std::path::Path, rel: &str) -> std::path::PathBuf {
    let path = scope.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, "#!/bin/sh\n").expect("write");
    path
}

#[test]
fn finds_codex_for_any_platform_package() {
    let scope = TempDir::new("scope");
    assert_eq!(find_codex_in(scope.path()), None);
    let arm = fake_binary(
        scope.path(),
        "codex-linux-arm64/vendor/aarch64-unknown-linux-musl/bin/codex",
    );
    assert_eq!(find_codex_in(scope.path()), Some(arm.clone()));
    let x86 = fake_binary(
        scope.path(),
        "codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
    );
    let expected = if std::env::consts::ARCH == "aarch64" {
        arm
    } else {
        x86
    };
    assert_eq!(find_codex_in(scope.path()), Some(expected));
}

#[test]
fn finds_codex_in_the_older_vendor_layout() {
    let scope = TempDir::new("scope");
    let old = fake_binary(
        scope.path(),
        "codex/vendor/x86_64-unknown-linux-musl/codex/codex",
    );
    assert_eq!(find_codex_in(scope.path()), Some(old));
}
