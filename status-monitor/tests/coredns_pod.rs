//! CoreDNS under the Deployment's own securityContext. The coredns/coredns images
//! (1.11+) carry `cap_net_bind_service=+ep` on `/coredns`; a container whose
//! bounding set lacks that capability cannot even exec it ("operation not
//! permitted", CrashLoopBackOff). Here `setpriv` applies what the manifest says
//! (uid, gid, fsGroup, no_new_privs, capabilities) to a copy of the tests'
//! CoreDNS carrying the image's file capability, as a container runtime would.

#![allow(clippy::unwrap_used)] // tests may panic on broken fixtures

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cluster::repo_root;
use common::coredns::{self, CoreDns};
use serde_json::Value;
use tempfile::TempDir;

/// What a container runtime applies to a process, as `setpriv` arguments.
#[derive(Debug)]
struct ProcessSecurity {
    uid: u64,
    gid: u64,
    supplementary_groups: Vec<u64>,
    no_new_privs: bool,
    /// Capability names, lower case, without `CAP_`.
    bounding_set: Vec<String>,
}

/// containerd's and CRI-O's default set, for a container that drops less than ALL.
const RUNTIME_DEFAULT_CAPABILITIES: [&str; 14] = [
    "chown",
    "dac_override",
    "fsetid",
    "fowner",
    "mknod",
    "net_raw",
    "setgid",
    "setuid",
    "setfcap",
    "setpcap",
    "net_bind_service",
    "sys_chroot",
    "kill",
    "audit_write",
];

impl ProcessSecurity {
    /// The container `name` of `deployment`, with the pod's securityContext as defaults.
    fn of(deployment: &Value, name: &str) -> Self {
        let pod = &deployment["spec"]["template"]["spec"];
        let container = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        let (pod_sc, sc) = (&pod["securityContext"], &container["securityContext"]);
        let setting = |key: &str| sc[key].as_u64().or_else(|| pod_sc[key].as_u64());
        let names = |list: &Value| -> Vec<String> {
            list.as_array()
                .map(|l| {
                    l.iter()
                        .map(|c| c.as_str().unwrap().to_lowercase())
                        .collect()
                })
                .unwrap_or_default()
        };
        let dropped = names(&sc["capabilities"]["drop"]);
        let mut bounding_set: Vec<String> = RUNTIME_DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !dropped.iter().any(|d| d == "all" || d == c))
            .collect();
        bounding_set.extend(names(&sc["capabilities"]["add"]));
        Self {
            uid: setting("runAsUser").expect("runAsUser"),
            gid: setting("runAsGroup").expect("runAsGroup"),
            supplementary_groups: pod_sc["fsGroup"].as_u64().into_iter().collect(),
            // Kubernetes: allowPrivilegeEscalation false is no_new_privs.
            no_new_privs: sc["allowPrivilegeEscalation"] == false,
            bounding_set,
        }
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid));
        if self.supplementary_groups.is_empty() {
            command.arg("--clear-groups");
        } else {
            let groups: Vec<String> = self
                .supplementary_groups
                .iter()
                .map(u64::to_string)
                .collect();
            command.arg(format!("--groups={}", groups.join(",")));
        }
        if self.no_new_privs {
            command.arg("--no-new-privs");
        }
        let mut bounding = vec!["-all".to_owned()];
        bounding.extend(self.bounding_set.iter().map(|c| format!("+{c}")));
        command.arg(format!("--bounding-set={}", bounding.join(",")));
        command.arg(program);
        command
    }
}

fn shipped_deployment() -> Value {
    let text =
        std::fs::read_to_string(repo_root().join("deploy/all-in-one/kubevirt-dns.yaml")).unwrap();
    let objects: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    objects
        .into_iter()
        .find(|o| o["kind"] == "Deployment")
        .unwrap()
}

/// A copy of CoreDNS with the image's file capability, and a zones directory
/// holding the example zone, both readable by the pod's user. `None`: skip.
fn image_like_coredns() -> Option<(TempDir, PathBuf, PathBuf)> {
    let binary = coredns::binary()?;
    if !common::running_as_root_or_skip("setcap and setpriv --reuid") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(dir.path(), 0o755);
    let program = dir.path().join("coredns");
    std::fs::copy(&binary, &program).unwrap();
    let out = Command::new("setcap")
        .args(["cap_net_bind_service=+ep"])
        .arg(&program)
        .output()
        .expect("setcap (apt-get install libcap2-bin)");
    assert!(
        out.status.success(),
        "setcap: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    mode(&zones, 0o755);
    let zone = zones.join("db.vm.example.com");
    std::fs::copy(
        repo_root().join("examples/expected/vm.example.com.zone"),
        &zone,
    )
    .unwrap();
    mode(&zone, 0o644);
    Some((dir, program, zones))
}

#[test]
fn coredns_with_the_images_file_capability_starts_as_the_manifest_says_and_answers() {
    let Some((_dir, program, zones)) = image_like_coredns() else {
        return;
    };
    let security = ProcessSecurity::of(&shipped_deployment(), "coredns");
    assert_eq!(
        (security.uid, security.no_new_privs),
        (65532, true),
        "{security:?}"
    );
    let coredns = CoreDns::serve_with(&zones, &coredns::shipped_corefile(), |corefile| {
        let mut command = security.command(&program);
        command.arg("-conf").arg(corefile);
        command
    });
    let response = coredns.dig(&["red.vm-bridge.default.vm.example.com", "A"]);
    assert_eq!(
        response.answer_data("A"),
        ["10.10.0.5"],
        "expected 10.10.0.5; CoreDNS answered:\n{}",
        response.text
    );
    assert!(response.is_authoritative(), "{}", response.text);
}

#[test]
fn without_net_bind_service_in_the_manifest_coredns_cannot_even_exec() {
    let Some((_dir, program, zones)) = image_like_coredns() else {
        return;
    };
    let mut deployment = shipped_deployment();
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap();
    let coredns_container = containers
        .iter_mut()
        .find(|c| c["name"] == "coredns")
        .unwrap();
    coredns_container["securityContext"]["capabilities"]
        .as_object_mut()
        .unwrap()
        .remove("add");
    let security = ProcessSecurity::of(&deployment, "coredns");
    let mut coredns = CoreDns::spawn(&zones, &coredns::shipped_corefile(), |corefile| {
        let mut command = security.command(&program);
        command.arg("-conf").arg(corefile);
        command
    });
    // setpriv exits 126 when the exec itself fails, as the kubelet reports
    // "exec /coredns: operation not permitted".
    assert_eq!(coredns.wait_exit(), Some(126), "{}", coredns.log());
    assert!(
        coredns.log().contains("Operation not permitted"),
        "{}",
        coredns.log()
    );
}
