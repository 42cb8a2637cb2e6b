//! The WIT contract against the declarations of `behaviours/host_fns` (and so against the rhai
//! binding they drive): the same functions under the same names (`send-text` ↔ `send_text`)
//! with the same arguments, optional arguments and types; the rhai engine registering exactly
//! the declared shapes; every WIT item documented; and the version the host checks is the
//! version the files declare.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use wit_parser::{Resolve, Type, TypeDefKind, WorldItem};

use crate::behaviours::host_calls::{HostCalls, Services};
use crate::behaviours::host_fns::{self, HostFn, Presence, Ret, Ty};

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

/// A WIT type as text: named types by their name (`json`, `level`, `session`, `error`).
fn wit_type(resolve: &Resolve, ty: &Type) -> String {
    let Type::Id(id) = ty else {
        return match ty {
            Type::String => "string",
            Type::S64 => "s64",
            Type::U64 => "u64",
            Type::Bool => "bool",
            _ => "another primitive",
        }
        .to_string();
    };
    let def = &resolve.types[*id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let or_unit = |t: &Option<Type>| t.as_ref().map_or("_".to_string(), |t| wit_type(resolve, t));
    match &def.kind {
        TypeDefKind::Option(t) => format!("option<{}>", wit_type(resolve, t)),
        TypeDefKind::List(t) => format!("list<{}>", wit_type(resolve, t)),
        TypeDefKind::Result(r) => format!("result<{}, {}>", or_unit(&r.ok), or_unit(&r.err)),
        TypeDefKind::Type(t) => wit_type(resolve, t),
        other => format!("{other:?}"),
    }
}

/// The WIT type a declared type must have.
fn expected_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Str | Ty::Duration | Ty::Phone | Ty::Item => "string",
        Ty::Int => "s64",
        Ty::Count => "u64",
        Ty::Bool => "bool",
        Ty::Json => "json",
        Ty::Level => "level",
        Ty::Items | Ty::Names => "list<string>",
        Ty::Sessions => "list<session>",
    }
}

/// The WIT signature a declaration must have: `(id: string, timeout: option<string>) ->
/// result<string, error>`.
fn expected_signature(f: &HostFn) -> String {
    let params: Vec<String> = f
        .args
        .iter()
        .map(|a| {
            let t = expected_type(a.ty);
            let t = match a.presence {
                Presence::Optional | Presence::Named => format!("option<{t}>"),
                Presence::Required | Presence::RhaiOptional => t.to_string(),
            };
            format!("{}: {t}", a.name.replace('_', "-"))
        })
        .collect();
    let value = match f.ret {
        Ret::Unit => None,
        Ret::Value(t) => Some(expected_type(t).to_string()),
        Ret::Maybe(t) => Some(format!("option<{}>", expected_type(t))),
    };
    let result = match (f.fallible, value) {
        (true, v) => Some(format!("result<{}, error>", v.unwrap_or_else(|| "_".into()))),
        (false, v) => v,
    };
    format!("({}){}", params.join(", "), result.map(|r| format!(" -> {r}")).unwrap_or_default())
}

/// The WIT functions' signatures in the same form, by `interface.function` (rhai spelling).
fn wit_signatures() -> BTreeMap<String, String> {
    let (resolve, _) = wit_imports();
    let world = resolve.worlds.iter().find(|(_, w)| w.name == "behaviour").unwrap().1;
    let mut out = BTreeMap::new();
    for item in world.imports.values() {
        if let WorldItem::Interface { id, .. } = item {
            let iface = &resolve.interfaces[*id];
            for (name, func) in &iface.functions {
                let params: Vec<String> =
                    func.params.iter().map(|p| format!("{}: {}", p.name, wit_type(&resolve, &p.ty))).collect();
                let result = func.result.as_ref().map(|r| format!(" -> {}", wit_type(&resolve, r))).unwrap_or_default();
                let key = format!("{}.{}", iface.name.clone().unwrap_or_default(), name.replace('-', "_"));
                out.insert(key, format!("({}){result}", params.join(", ")));
            }
        }
    }
    out
}

#[test]
fn every_declaration_has_the_signature_of_its_wit_function_and_back() {
    let wit = wit_signatures();
    let declared: BTreeMap<String, String> =
        host_fns::all().map(|f| (format!("{}.{}", f.interface, f.name), expected_signature(f))).collect();
    assert!(wit.len() >= 30 && declared.len() >= 30, "both sides were read: wit {wit:?}, declared {declared:?}");
    let mut wrong = Vec::new();
    for (name, sig) in &declared {
        match wit.get(name) {
            None => wrong.push(format!("{name}{sig} is declared but not in plugins/wit")),
            Some(w) if w != sig => wrong.push(format!("{name}: the WIT has {w}, the declaration means {sig}")),
            Some(_) => {}
        }
    }
    for (name, sig) in &wit {
        if !declared.contains_key(name) {
            wrong.push(format!("{name}{sig} is in plugins/wit but has no declaration in behaviours/host_fns"));
        }
    }
    assert!(wrong.is_empty(), "the host API's two bindings disagree:\n{}", wrong.join("\n"));
}

/// What the rhai engine registered, as `name(a: T, b: T) -> R` lines.
fn rhai_signatures() -> BTreeSet<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let svc = rt.block_on(Services::sandbox(&crate::config::Config::default()));
    let api = HostCalls::new("parity", Vec::new(), &toml::Table::new(), svc);
    crate::behaviours::rhai::host_signatures(&api).into_iter().collect()
}

#[test]
fn the_rhai_engine_offers_exactly_the_declared_shapes() {
    let actual: BTreeSet<String> = rhai_signatures().into_iter().map(|s| s.to_lowercase()).collect();
    let mut expected = BTreeSet::new();
    for f in host_fns::all() {
        for shape in f.rhai_shapes() {
            let mut info = f.params_info(&shape);
            let ret = info.pop().unwrap();
            let ret = if ret == "()" { String::new() } else { format!(" -> {ret}") };
            // rhai's own spelling: lower-case `array`/`map`, no type where any goes.
            let sig = format!("{}({}){ret}", f.name, info.join(", "));
            expected.insert(sig.replace(": ?", "").to_lowercase());
        }
    }
    let missing: Vec<_> = expected.difference(&actual).collect();
    let extra: Vec<_> = actual.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the rhai engine and the declarations disagree: declared but not registered {missing:?}; registered but \
         not declared {extra:?}"
    );
    // Each WIT function's arities: rhai may leave out its optional arguments and no others.
    for f in host_fns::all() {
        let arities: BTreeSet<usize> = actual
            .iter()
            .filter(|s| s.split('(').next() == Some(f.name))
            .map(|s| {
                s.split('(').nth(1).unwrap().split(')').next().unwrap().split(", ").filter(|p| !p.is_empty()).count()
            })
            .collect();
        let required = f.args.iter().filter(|a| a.presence == Presence::Required).count();
        assert_eq!(arities.first(), Some(&required), "{}: the shortest rhai call takes the required arguments", f.name);
    }
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
