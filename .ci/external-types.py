#!/usr/bin/env python3
"""Fail when a library crate's public API names a foreign type outside the allowlist.

The idea of hyper's `external-types.toml` (cargo-check-external-types), on the stable
toolchain: rustdoc's JSON output (`RUSTC_BOOTSTRAP=1 cargo rustdoc -- -Z unstable-options
--output-format json`) lists every public item; this walks them from the crate root (through
re-exports, fields, variants, function signatures, generics and bounds, trait and inherent
impls, associated types) and reports each path that belongs to another crate.

Always allowed: std, core, alloc and the eventgate crates. Everything else must be listed in
.ci/external-types.toml, under `[workspace]` or the crate's own table, each entry with the
reason it is there.

usage: external-types.py CRATE [CRATE...]   (run from the workspace root)
"""

import fnmatch
import json
import os
import subprocess
import sys
import tomllib

ALWAYS = {"std", "core", "alloc"}


# rustdoc's JSON needs RUSTC_BOOTSTRAP, which cargo counts in its fingerprints: a target
# directory of its own keeps the main one from being rebuilt after this check.
TARGET = os.environ.get("EXTERNAL_TYPES_TARGET_DIR", os.path.join("target", "external-types"))


def rustdoc_json(crate):
    env = dict(os.environ, RUSTC_BOOTSTRAP="1", CARGO_TARGET_DIR=TARGET)
    subprocess.run(
        [
            "cargo", "rustdoc", "-q", "--locked", "-p", crate, "--lib", "--all-features",
            "--", "-Z", "unstable-options", "--output-format", "json",
        ],
        check=True,
        env=env,
    )
    with open(os.path.join(TARGET, "doc", crate.replace("-", "_") + ".json")) as f:
        return json.load(f)


class Walker:
    def __init__(self, doc):
        self.doc = doc
        self.index = doc["index"]
        self.paths = doc["paths"]
        self.crates = {int(k): v["name"] for k, v in doc["external_crates"].items()}
        self.seen = set()
        # foreign path -> the public items that expose it
        self.found = {}
        self.where = []

    def note(self, id_):
        info = self.paths.get(str(id_))
        if info is None or info["crate_id"] == 0:
            return
        crate = self.crates.get(info["crate_id"], "?")
        path = "::".join(info["path"])
        if crate in ALWAYS or crate.startswith("eventgate") or path.startswith("eventgate"):
            return
        self.found.setdefault(path, set()).add(" > ".join(self.where[-2:]) or "<root>")

    # --- types -------------------------------------------------------------------------
    def ty(self, t):
        if t is None or isinstance(t, str):
            return
        (kind, v), = t.items()
        if kind == "resolved_path":
            self.path(v)
        elif kind == "dyn_trait":
            for pt in v["traits"]:
                self.path(pt["trait"])
                self.generic_params(pt.get("generic_params", []))
        elif kind in ("borrowed_ref", "raw_pointer"):
            self.ty(v["type"])
        elif kind == "slice":
            self.ty(v)
        elif kind == "array":
            self.ty(v["type"])
        elif kind == "tuple":
            for x in v:
                self.ty(x)
        elif kind == "impl_trait":
            self.bounds(v)
        elif kind == "qualified_path":
            self.ty(v["self_type"])
            if v.get("trait"):
                self.path(v["trait"])
            self.args(v.get("args"))
        elif kind == "function_pointer":
            self.sig(v["sig"])
        elif kind == "pat":
            self.ty(v["type"])

    def path(self, p):
        self.note(p["id"])
        self.args(p.get("args"))

    def args(self, a):
        if not a or isinstance(a, str):
            return
        (kind, v), = a.items()
        if kind == "angle_bracketed":
            for arg in v["args"]:
                if isinstance(arg, dict) and "type" in arg:
                    self.ty(arg["type"])
            for c in v["constraints"]:
                self.args(c.get("args"))
                b = c["binding"]
                if "equality" in b and isinstance(b["equality"], dict) and "type" in b["equality"]:
                    self.ty(b["equality"]["type"])
                if "constraint" in b:
                    self.bounds(b["constraint"])
        elif kind == "parenthesized":
            for x in v["inputs"]:
                self.ty(x)
            self.ty(v.get("output"))

    def bounds(self, bs):
        for b in bs:
            if isinstance(b, dict) and "trait_bound" in b:
                self.path(b["trait_bound"]["trait"])
                self.generic_params(b["trait_bound"].get("generic_params", []))

    def generic_params(self, params):
        for p in params:
            kind = p["kind"]
            if "type" in kind:
                self.bounds(kind["type"]["bounds"])
                self.ty(kind["type"].get("default"))
            elif "const" in kind:
                self.ty(kind["const"]["type"])

    def generics(self, g):
        self.generic_params(g["params"])
        for w in g["where_predicates"]:
            if "bound_predicate" in w:
                self.ty(w["bound_predicate"]["type"])
                self.bounds(w["bound_predicate"]["bounds"])
            elif "eq_predicate" in w:
                self.ty(w["eq_predicate"]["lhs"])
                rhs = w["eq_predicate"]["rhs"]
                if isinstance(rhs, dict) and "type" in rhs:
                    self.ty(rhs["type"])

    def sig(self, s):
        for _, t in s["inputs"]:
            self.ty(t)
        self.ty(s.get("output"))

    # --- items -------------------------------------------------------------------------
    def item(self, id_):
        if id_ is None or id_ in self.seen:
            return
        self.seen.add(id_)
        it = self.index.get(str(id_))
        if it is None:
            # A re-export of an item of another crate.
            self.note(id_)
            return
        if it["crate_id"] != 0:
            self.note(id_)
        if it["visibility"] not in ("public", "default"):
            return
        self.where.append(it.get("name") or "impl")
        try:
            self.inner(it["inner"])
        finally:
            self.where.pop()

    def inner(self, inner):
        (kind, v), = inner.items()
        if kind == "module":
            for i in v["items"]:
                self.item(i)
        elif kind == "use":
            self.item(v.get("id"))
        elif kind in ("struct", "union"):
            self.generics(v["generics"])
            k = v["kind"]
            if isinstance(k, dict):
                fields = k.get("tuple") or k.get("plain", {}).get("fields") or []
                for f in fields:
                    self.item(f)
            for i in v["impls"]:
                self.impl(i)
        elif kind == "enum":
            self.generics(v["generics"])
            for i in v["variants"]:
                self.item(i)
            for i in v["impls"]:
                self.impl(i)
        elif kind == "variant":
            k = v["kind"]
            if isinstance(k, dict):
                fields = k.get("tuple") or k.get("struct", {}).get("fields") or []
                for f in fields:
                    self.item(f)
        elif kind == "struct_field":
            self.ty(v)
        elif kind == "function":
            self.generics(v["generics"])
            self.sig(v["sig"])
        elif kind == "trait":
            self.generics(v["generics"])
            self.bounds(v["bounds"])
            for i in v["items"]:
                self.item(i)
        elif kind == "type_alias":
            self.generics(v["generics"])
            self.ty(v["type"])
        elif kind in ("constant", "static"):
            self.ty(v["type"])
        elif kind == "assoc_type":
            self.generics(v["generics"])
            self.bounds(v["bounds"])
            self.ty(v.get("type"))
        elif kind == "assoc_const":
            self.ty(v["type"])
        elif kind == "impl":
            self.impl_inner(v)

    def impl(self, id_):
        it = self.index.get(str(id_))
        if it is None or id_ in self.seen:
            return
        v = it["inner"]["impl"]
        # Auto traits and blanket impls (`impl<T> From<T> for T`) say nothing about our API.
        if v["is_synthetic"] or v.get("blanket_impl") is not None:
            return
        self.seen.add(id_)
        self.where.append("impl")
        try:
            self.impl_inner(v)
        finally:
            self.where.pop()

    def impl_inner(self, v):
        self.generics(v["generics"])
        if v.get("trait"):
            self.path(v["trait"])
        for i in v["items"]:
            self.item(i)

    def run(self):
        self.item(self.doc["root"])
        return self.found


def allowed(path, patterns):
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def main(argv):
    with open(os.path.join(os.path.dirname(__file__), "external-types.toml"), "rb") as f:
        config = tomllib.load(f)
    common = config.get("workspace", {}).get("allowed", [])
    failed = False
    for crate in argv:
        patterns = common + config.get("crate", {}).get(crate, {}).get("allowed", [])
        found = Walker(rustdoc_json(crate)).run()
        bad = {p: w for p, w in found.items() if not allowed(p, patterns)}
        unused = [
            p for p in config.get("crate", {}).get(crate, {}).get("allowed", [])
            if not any(fnmatch.fnmatchcase(f, p) for f in found)
        ]
        print(f"{crate}: {len(found)} foreign paths, {len(bad)} outside the allowlist")
        for p in sorted(bad):
            failed = True
            print(f"  not allowed: {p}  (in {', '.join(sorted(bad[p])[:3])})")
        for p in unused:
            print(f"  warning: allowlist entry matches nothing (remove it): {p}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
