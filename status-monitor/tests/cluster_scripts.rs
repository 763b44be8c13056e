//! The development-cluster path as far as it runs without a cluster: which
//! cluster the targets act on, that `make functest` fails without one, unique
//! image tags, and a deploy that applies once with the right image.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::cluster::repo_root;
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `make -n TARGET VARS...` in the repository, with `env`: what it would run.
fn make_dry_run(target: &str, vars: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new("make");
    command
        .arg("-n")
        .arg(target)
        .args(vars)
        .current_dir(repo_root())
        .env_remove("KUBECTL")
        .env_remove("KUBECONFIG")
        .env_remove("IMAGE_TAG");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "make -n {target}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn cluster_targets_use_kubevirtcis_kubectl_even_with_another_kubeconfig_exported() {
    let kubevirtci = format!(
        "KUBECTL=\"{}/cluster/kubectl.sh\"",
        repo_root().canonicalize().unwrap().display()
    );
    for target in ["cluster-sync", "cluster-clean", "functest"] {
        let plan = make_dry_run(target, &[], &[("KUBECONFIG", "/home/me/.kube/prod")]);
        assert!(plan.contains(&kubevirtci), "{target}:\n{plan}");
        let explicit = make_dry_run(target, &["KUBECTL=kubectl"], &[]);
        assert!(
            explicit.contains("KUBECTL=\"kubectl\""),
            "{target}:\n{explicit}"
        );
    }
}

/// A kubeconfig for a server that refuses connections.
fn unreachable_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {server: 'https://127.0.0.1:1'}\n\
         contexts:\n- name: gone\n  context: {cluster: gone, user: me}\ncurrent-context: gone\n\
         users:\n- name: me\n  user: {token: x}\n",
    )
    .unwrap();
    path
}

fn functest_script(kubectl: &str) -> Output {
    Command::new(repo_root().join("hack/functest.sh"))
        .env("KUBECTL", kubectl)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap()
}

#[test]
fn make_functest_fails_when_no_cluster_answers() {
    let dir = tempfile::tempdir().unwrap();
    let kubectl = format!(
        "kubectl --kubeconfig={}",
        unreachable_kubeconfig(dir.path()).display()
    );
    let out = functest_script(&kubectl);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no cluster answers"), "{stderr}");
    assert!(
        !text(&out.stdout).contains("passed"),
        "no test ran: {}",
        text(&out.stdout)
    );
}

#[test]
fn image_tags_name_the_commit_and_a_dirty_tree_gets_a_fresh_one() {
    let out = Command::new(repo_root().join("hack/image-tag.sh"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tag = text(&out.stdout).trim().to_owned();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let commit = text(&head.stdout).trim().to_owned();
    let clean = format!("git-{commit}");
    let dirty_prefix = format!("git-{commit}-dirty-");
    assert!(
        tag == clean
            || tag
                .strip_prefix(&dirty_prefix)
                .is_some_and(|t| t.parse::<u64>().is_ok()),
        "{tag}"
    );
    assert!(tag.len() <= 128, "a valid image tag: {tag}");
}

/// Runs hack/deploy.sh with `env` and a kubectl that records each call and
/// renders what `apply -k` would send: (the calls, the objects applied).
fn deploy_recorded(env: &[(&str, &str)]) -> (String, Vec<Value>) {
    // One at a time: each checks that its temporary overlay is gone.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let recorder = dir.path().join("kubectl");
    std::fs::write(
        &recorder,
        format!(
            "#!/usr/bin/env bash\necho \"$*\" >>{calls}\n\
             if [ \"$1\" = apply ] && [ \"$2\" = -k ]; then kubectl kustomize \"$3\" >>{applied}; fi\n",
            calls = dir.path().join("calls").display(),
            applied = dir.path().join("applied.yaml").display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&recorder, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(repo_root().join("hack/deploy.sh"));
    command.env("KUBECTL", &recorder);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        std::fs::read_dir(repo_root()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".deploy-")),
        "the temporary overlay is removed"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    let applied = std::fs::read_to_string(dir.path().join("applied.yaml")).unwrap();
    (calls, serde_saphyr::from_multiple(&applied).unwrap())
}

#[test]
fn deploy_applies_once_with_the_image_and_settings_in_place() {
    let (calls, objects) = deploy_recorded(&[
        ("REGISTRY", "registry:5000"),
        ("IMG", "kubevirt-dns/status-monitor"),
        ("IMAGE_TAG", "git-0123456789ab"),
        ("DOMAIN", "example.org"),
        ("NAME_SERVER_IP", "192.0.2.53"),
    ]);
    let verbs: Vec<&str> = calls
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["apply", "-n"],
        "one apply, then the rollout wait:\n{calls}"
    );
    let find = |kind: &str| objects.iter().find(|o| o["kind"] == kind).unwrap();
    let pod = &find("Deployment")["spec"]["template"];
    let monitor = pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "status-monitor")
        .unwrap();
    assert_eq!(
        monitor["image"],
        "registry:5000/kubevirt-dns/status-monitor:git-0123456789ab"
    );
    let data = &find("ConfigMap")["data"];
    assert_eq!(
        (&data["DOMAIN"], &data["NAME_SERVER_IP"]),
        (&"example.org".into(), &"192.0.2.53".into())
    );
    assert!(
        pod["metadata"]["annotations"]["kubevirt-dns.io/settings"]
            .as_str()
            .is_some_and(|s| s.contains("example.org")),
        "a settings change rolls the pods"
    );
}

#[test]
fn the_dependency_layer_has_a_stand_in_for_every_target() {
    // Cargo refuses a manifest whose bench has no file: each [[bench]] needs
    // its stand-in in the Dockerfile's dependency layer.
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    for krate in ["status-monitor", "zone-manager"] {
        let manifest = std::fs::read_to_string(repo_root().join(krate).join("Cargo.toml")).unwrap();
        let benches: Vec<&str> = manifest
            .split("[[bench]]")
            .skip(1)
            .filter_map(|table| {
                let line = table.lines().find(|l| l.trim_start().starts_with("name"))?;
                line.split('"').nth(1)
            })
            .collect();
        assert!(
            !benches.is_empty() || krate == "zone-manager",
            "{krate} has benches"
        );
        for bench in benches {
            let stand_in = format!("{krate}/benches/{bench}.rs");
            assert!(
                dockerfile.contains(&stand_in),
                "no stand-in {stand_in} in the Dockerfile"
            );
        }
    }
}

#[test]
fn the_image_build_is_pinned_cached_and_fed_only_sources() {
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    let builder = dockerfile
        .lines()
        .find(|l| l.starts_with("FROM ") && l.contains(" AS build"))
        .unwrap();
    let tag = builder
        .split(':')
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let version = tag.split('-').next().unwrap();
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "the Rust toolchain is pinned to a release: {builder}"
    );
    // Dependencies build before the sources arrive, in a layer of their own.
    let first_build = dockerfile.find("cargo build").unwrap();
    let sources = dockerfile
        .find("COPY status-monitor status-monitor")
        .unwrap();
    assert!(
        first_build < sources,
        "a dependency layer before the sources"
    );

    let ignored = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    for pattern in [
        "**/target",
        "status-monitor/fuzz/corpus",
        "status-monitor/fuzz/artifacts",
    ] {
        assert!(
            ignored.lines().any(|l| l.trim() == pattern),
            "{pattern} in .dockerignore"
        );
    }
}

#[test]
fn deploy_can_replace_the_coredns_image_and_the_pdb_api_for_older_clusters() {
    let (_, objects) = deploy_recorded(&[
        (
            "COREDNS_IMAGE",
            "198.51.100.2:5000/coredns/coredns:git-0123456789ab",
        ),
        ("PDB_API_VERSION", "policy/v1beta1"),
    ]);
    let find = |kind: &str| objects.iter().find(|o| o["kind"] == kind).unwrap();
    let containers = find("Deployment")["spec"]["template"]["spec"]["containers"].clone();
    let coredns = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "coredns")
        .unwrap();
    assert_eq!(
        coredns["image"],
        "198.51.100.2:5000/coredns/coredns:git-0123456789ab"
    );
    let pdb = find("PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1beta1");
    assert_eq!(pdb["spec"]["minAvailable"], 1, "the same fields");
    // Without them, the shipped ones.
    let (_, objects) = deploy_recorded(&[]);
    let pdb = objects
        .iter()
        .find(|o| o["kind"] == "PodDisruptionBudget")
        .unwrap();
    assert_eq!(pdb["apiVersion"], "policy/v1");
}

#[test]
fn cluster_sync_pushes_a_tag_unique_to_the_tree_unless_one_is_given() {
    let plan = make_dry_run("cluster-sync", &[], &[]);
    assert!(plan.contains("IMAGE_TAG=\"git-"), "{plan}");
    let given = make_dry_run("cluster-sync", &["IMAGE_TAG=v1.2.3"], &[]);
    assert!(given.contains("IMAGE_TAG=\"v1.2.3\""), "{given}");
}

#[test]
fn undeploy_goes_by_namespace_and_label_so_missing_kinds_do_not_stop_it() {
    let plan = make_dry_run("undeploy", &[], &[]);
    assert!(
        plan.contains("delete --ignore-not-found --wait=true namespace kubevirt-dns"),
        "{plan}"
    );
    assert!(
        plan.contains("-l app.kubernetes.io/name=kubevirt-dns"),
        "{plan}"
    );
    assert!(!plan.contains(" -k "), "no manifest-based delete:\n{plan}");
    // Every cluster-scoped object deploy/ and its overlays create carries the label.
    for overlay in [
        "deploy",
        "deploy/network-addresses",
        "deploy/dns-endpoints",
        "deploy/zone-transfer",
    ] {
        let out = Command::new("kubectl")
            .args(["kustomize", overlay])
            .current_dir(repo_root())
            .output()
            .unwrap();
        let objects: Vec<Value> = serde_saphyr::from_multiple(&text(&out.stdout)).unwrap();
        for object in objects
            .iter()
            .filter(|o| o["metadata"]["namespace"].is_null())
        {
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/name"], "kubevirt-dns",
                "{overlay}: {object}"
            );
        }
    }
}
