//! Emitting the lookup tables, scanners and regex rule lists.

use super::emit::Emitter;
use super::eval::Origin;
use super::notes::{clamd_socket, kind_name};
use super::value::V;
use super::yaml::{num, with_flags};
use serde_json::{Map, Value as J, json};
use std::collections::BTreeMap;

impl Emitter<'_> {
    pub(super) fn family(&mut self, f: &str) {
        if let Some((h, at)) = self.hash(f) {
            let j = self.lookup_hash(&h, &at);
            self.put(f, &j, &at, "");
        }
        if let Some((a, at)) = self.array(&format!("{f}_acl")) {
            let items: Vec<String> = a.iter().map(V::to_str).collect();
            self.put(&format!("{f}_acl"), &json!(items), &at, "");
        }
        if let Some((v, at)) = self.scalar(&format!("{f}_re"))
            && v != V::Undef
        {
            self.warn(
                &at,
                0,
                format!("${f}_re: regular-expression lookup tables are not supported; not carried"),
            );
        }
        let maps = format!("{f}_maps");
        let Some((members, at)) = self.array(&maps) else {
            return;
        };
        let default = [
            V::Ref('%', f.to_string()),
            V::Ref('@', format!("{f}_acl")),
            V::Ref('$', format!("{f}_re")),
        ];
        if members == default {
            self.yaml.push_str(&format!(
                "# {maps}: amavisd's default (\\%{f}, \\@{f}_acl, \\${f}_re) set again at {}:{}\n",
                at.file, at.line
            ));
            return;
        }
        let mut out = vec![];
        for m in members {
            let m = match m {
                V::Ref('%', n) => V::Hash(self.st.get_hash(&n)),
                V::Ref('@', n) => V::Array(self.st.get_array(&n), 0),
                V::Ref('$', n) => self.st.get_scalar(&n),
                m => m,
            };
            match m {
                V::Undef => {}
                V::Num(n) => out.push(num(n)),
                V::Str(s) => out.push(json!(s)),
                V::Hash(h) => out.push(self.lookup_hash(&h, &at)),
                V::Array(a, _) => out.push(json!(a.iter().map(V::to_str).collect::<Vec<_>>())),
                other => self.warn(
                    &at,
                    0,
                    format!(
                        "@{maps}: a {} member is not supported; dropped",
                        kind_name(&other)
                    ),
                ),
            }
        }
        self.put(&maps, &json!(out), &at, "");
    }

    fn lookup_hash(&mut self, h: &BTreeMap<String, V>, at: &Origin) -> J {
        let mut o = Map::new();
        for (k, v) in h {
            match v {
                V::Num(n) => {
                    o.insert(k.clone(), num(*n));
                }
                V::Str(s) => {
                    o.insert(k.clone(), json!(s));
                }
                V::Undef => {
                    o.insert(k.clone(), json!(false));
                }
                other => self.warn(
                    at,
                    0,
                    format!(
                        "lookup key `{k}`: a {} value is not supported; dropped",
                        kind_name(other)
                    ),
                ),
            }
        }
        J::Object(o)
    }

    pub(super) fn av_scanners(&mut self, var: &str) {
        let Some((list, at)) = self.array(var) else {
            return;
        };
        let mut out = vec![];
        for entry in list {
            let (items, line) = match entry {
                V::Array(a, l) => (a, l),
                V::Undef => continue,
                other => {
                    self.warn(
                        &at,
                        0,
                        format!(
                            "@{var}: entry {} is not a scanner list; dropped",
                            kind_name(&other)
                        ),
                    );
                    continue;
                }
            };
            let name = items.first().map(V::to_str).unwrap_or_default();
            match clamd_socket(&items) {
                Ok((socket, extra)) => {
                    if extra > 0 {
                        self.warn(
                            &at,
                            line,
                            format!(
                                "{name}: {extra} further socket(s) listed; only {socket} is carried"
                            ),
                        );
                    }
                    out.push(json!({"name": name, "kind": "clamd", "socket": socket}));
                }
                Err(why) => self.warn(
                    &at,
                    line,
                    format!("@{var} entry `{name}`: {why}; not carried"),
                ),
            }
        }
        self.put(var, &json!(out), &at, "");
    }

    pub(super) fn banned(&mut self) {
        if let Some((v, at)) = self.scalar("banned_filename_re") {
            let rules = self.rules(&v, &at, "$banned_filename_re", false);
            self.put("banned_filename_re", &json!(rules), &at, "");
        }
        for (var, what) in [
            ("%banned_rules", "named banned-rule sets"),
            (
                "@banned_filename_maps",
                "per-recipient choice of banned rules",
            ),
            (
                "$banned_namepath_re",
                "banned rules on the part's attribute path",
            ),
        ] {
            let set = match var.split_at(1) {
                ("%", n) => self.hash(n).map(|x| x.1),
                ("@", n) => self.array(n).map(|x| x.1),
                (_, n) => self.scalar(n).map(|x| x.1),
            };
            if let Some(at) = set {
                self.warn(
                    &at,
                    0,
                    format!("{var} ({what}) is not supported; only $banned_filename_re is carried"),
                );
            }
        }
    }

    /// `new_RE(...)` (or a single regex) as an ordered list of rules.
    fn rules(&mut self, v: &V, at: &Origin, var: &str, trailing_true: bool) -> Vec<J> {
        let pairs: Vec<(V, V)> = match v {
            V::NewRe(p) => p.clone(),
            V::Regex(..) | V::Str(_) => vec![(v.clone(), V::Num(1.0))],
            V::Undef => vec![],
            other => {
                self.warn(
                    at,
                    0,
                    format!(
                        "{var}: a {} is not supported; not carried",
                        kind_name(other)
                    ),
                );
                vec![]
            }
        };
        let mut out = vec![];
        for (k, val) in pairs {
            let re = match &k {
                V::Regex(src, flags) => with_flags(src, flags),
                V::Str(s) => s.clone(),
                other => {
                    self.warn(
                        at,
                        0,
                        format!(
                            "{var}: a {} key is not supported; dropped",
                            kind_name(other)
                        ),
                    );
                    continue;
                }
            };
            if let Err(e) = pcre2::bytes::RegexBuilder::new().build(&re) {
                self.warn(
                    at,
                    0,
                    format!("{var}: regex `{re}` does not compile here ({e}); dropped"),
                );
                continue;
            }
            out.push(if val.truthy() {
                json!(re)
            } else {
                json!({"re": re, "ban": false})
            });
        }
        if trailing_true {
            out.push(json!("."));
        }
        out
    }

    pub(super) fn fake_sender(&mut self) {
        let maps = self.array("viruses_that_fake_sender_maps");
        let re = self.scalar("viruses_that_fake_sender_re");
        let (members, at) = match (maps, re) {
            (Some(m), _) => m,
            (None, Some((_, at))) => (self.st.get_array("viruses_that_fake_sender_maps"), at),
            (None, None) => return,
        };
        let mut out = vec![];
        for m in members {
            let m = match m {
                V::Ref('$', n) => self.st.get_scalar(&n),
                m => m,
            };
            match m {
                V::Undef => {}
                V::Num(_) | V::Str(_) if m.truthy() => out.push(json!(".")),
                V::Num(_) | V::Str(_) => {}
                other => {
                    out.extend(self.rules(&other, &at, "@viruses_that_fake_sender_maps", false))
                }
            }
        }
        self.put("viruses_that_fake_sender_re", &json!(out), &at, "");
    }
}
