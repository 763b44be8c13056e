//! CNI calls as Multus makes them, with Debian's containernetworking-plugins:
//! each plugin of a network's conflist in turn, the list's name and version
//! merged in and the previous result passed on (DEL in reverse order). The
//! plugins run in the host side's network namespace; the interface goes into
//! the container's.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub const CNI_PATH: &str = "/usr/lib/cni";

/// Where a network is attached: the host side's namespace (by `ip netns`
/// name), the container's (a path, as CNI_NETNS takes it) and its interface.
pub struct Attachment<'a> {
    pub host_netns: &'a str,
    pub container_netns: &'a str,
    pub container_id: &'a str,
    pub ifname: &'a str,
}

/// One CNI call of `plugin` (a member of `list`).
pub fn call(
    command_name: &str,
    plugin: &Value,
    list: &Value,
    previous: Option<&Value>,
    attachment: &Attachment,
) -> Result<Value, String> {
    let mut config = plugin.clone();
    config["name"] = list["name"].clone();
    config["cniVersion"] = list["cniVersion"].clone();
    if let Some(previous) = previous {
        config["prevResult"] = previous.clone();
    }
    let plugin_type = plugin["type"].as_str().ok_or("a plugin without a type")?;
    let program = format!("{CNI_PATH}/{plugin_type}");
    if !Path::new(&program).exists() {
        return Err(format!(
            "{program} is missing: apt-get install containernetworking-plugins (or run `make unit`)"
        ));
    }
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", attachment.host_netns, &program])
        .env("CNI_COMMAND", command_name)
        .env("CNI_CONTAINERID", attachment.container_id)
        .env("CNI_NETNS", attachment.container_netns)
        .env("CNI_IFNAME", attachment.ifname)
        .env("CNI_PATH", CNI_PATH);
    let out = super::output_with_stdin(&mut command, config.to_string().as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "CNI {command_name} with {config} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if stdout.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&stdout).map_err(|e| format!("CNI {command_name}: {e}: {stdout}"))
}

/// CNI ADD of every plugin of `list`: the last plugin's result.
pub fn add(list: &Value, attachment: &Attachment) -> Result<Value, String> {
    let mut result: Option<Value> = None;
    for plugin in plugins(list)? {
        result = Some(call("ADD", plugin, list, result.as_ref(), attachment)?);
    }
    result.ok_or_else(|| "a network without plugins".into())
}

/// CNI DEL of every plugin of `list`, last first, given ADD's result.
pub fn del(list: &Value, result: Option<&Value>, attachment: &Attachment) -> Result<(), String> {
    for plugin in plugins(list)?.iter().rev() {
        call("DEL", plugin, list, result, attachment)?;
    }
    Ok(())
}

fn plugins(list: &Value) -> Result<&Vec<Value>, String> {
    list["plugins"]
        .as_array()
        .ok_or_else(|| format!("not a conflist: {list}"))
}
