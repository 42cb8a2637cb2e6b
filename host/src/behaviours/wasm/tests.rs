//! The WIT contract against the rhai binding: the same functions under the same names
//! (`send-text` ↔ `send_text`), every WIT item documented, and the version the host checks
//! is the version the files declare.

use std::collections::BTreeSet;
use std::path::Path;

use wit_parser::{Resolve, WorldItem};

use crate::behaviours::api::{Api, Services};

fn wit_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/wit")
}

/// The functions of every interface the `behaviour` world imports, in rhai spelling.
fn wit_imports() -> (Resolve, BTreeSet<String>) {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_dir(wit_dir()).expect("plugins/wit parses");
    let world = resolve.select_world(&[pkg], Some("behaviour")).expect("world `behaviour`");
    let mut names = BTreeSet::new();
    for item in resolve.worlds[world].imports.values() {
        if let WorldItem::Interface { id, .. } = item {
            for f in resolve.interfaces[*id].functions.keys() {
                names.insert(f.replace('-', "_"));
            }
        }
    }
    (resolve, names)
}

fn rhai_functions() -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let svc = rt.block_on(Services::sandbox(&crate::config::Config::default()));
    let api = Api::new("parity", Vec::new(), &toml::Table::new(), svc);
    crate::behaviours::rhai::host_function_names(&api)
}

#[test]
fn every_wit_function_has_its_rhai_twin_and_back() {
    let (_, wit) = wit_imports();
    let rhai = rhai_functions();
    assert!(wit.len() >= 20 && rhai.len() >= 20, "both sides were read: wit {wit:?}, rhai {rhai:?}");
    let only_wit: Vec<_> = wit.difference(&rhai).collect();
    let only_rhai: Vec<_> = rhai.difference(&wit).collect();
    assert!(only_wit.is_empty(), "WIT functions with no rhai twin: {only_wit:?}");
    assert!(only_rhai.is_empty(), "rhai host functions missing from plugins/wit: {only_rhai:?}");
}

#[test]
fn every_wit_item_is_documented() {
    let (resolve, _) = wit_imports();
    let mut missing = Vec::new();
    for (_, iface) in resolve.interfaces.iter() {
        let name = iface.name.clone().unwrap_or_default();
        if iface.docs.contents.is_none() {
            missing.push(format!("interface {name}"));
        }
        for (f, func) in &iface.functions {
            if func.docs.contents.is_none() {
                missing.push(format!("{name}.{f}"));
            }
        }
        for (t, id) in &iface.types {
            let ty = &resolve.types[*id];
            if ty.docs.contents.is_none() && !matches!(ty.kind, wit_parser::TypeDefKind::Type(_)) {
                missing.push(format!("{name}.{t}"));
            }
            if let wit_parser::TypeDefKind::Record(r) = &ty.kind {
                missing.extend(
                    r.fields.iter().filter(|f| f.docs.contents.is_none()).map(|f| format!("{name}.{t}.{}", f.name)),
                );
            }
            if let wit_parser::TypeDefKind::Enum(e) = &ty.kind {
                missing.extend(
                    e.cases.iter().filter(|c| c.docs.contents.is_none()).map(|c| format!("{name}.{t}.{}", c.name)),
                );
            }
        }
    }
    assert!(missing.is_empty(), "undocumented WIT items: {missing:?}");
}

#[test]
fn the_checked_version_is_the_packages() {
    let (resolve, _) = wit_imports();
    let pkg = resolve.packages.iter().map(|(_, p)| &p.name).find(|n| n.namespace == "vigil").unwrap();
    assert_eq!(format!("{}:{}", pkg.namespace, pkg.name), super::bindings::PACKAGE);
    assert_eq!(pkg.version.as_ref().unwrap().to_string(), super::bindings::VERSION);
}
