//! Runs parsed config statements against a state that starts at amavisd
//! 2.13's defaults, remembering for each variable where it was last set.

use super::builtins;
use super::known::{Default, KNOWN_VARS, SCALAR_DEFAULTS};
use super::parser::{E, Node, Stmt};
use super::value::V;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a value came from: file, line and the statement's first line.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub file: String,
    pub line: u32,
    pub text: String,
}

/// A variable's value and the assignment that set it (`None` = default).
#[derive(Debug, Clone)]
pub struct Slot<X> {
    pub v: X,
    pub at: Option<Origin>,
}

/// A line for stderr: something not carried over, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub file: String,
    pub line: u32,
    pub text: String,
    pub reason: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {} — {}",
            self.file, self.line, self.text, self.reason
        )
    }
}

/// Variables amavisd 2.13 retired: setting them has no effect.
pub const RETIRED: &[&str] = &[
    "$insert_received_line",
    "$relayhost_is_client",
    "$warnvirussender",
    "$warnspamsender",
    "$sa_spam_report_header",
    "$sa_spam_modifies_subj",
    "$sa_auto_whitelist",
    "$sa_timeout",
    "$syslog_priority",
    "$SYSLOG_LEVEL",
    "$notify_xmailer_header",
];

/// Pre-2.13 spellings amavisd still accepts (`$DO_SYSLOG` is `$do_syslog`).
pub const ALIASES: &[&str] = &[
    "$DO_SYSLOG",
    "$LOGFILE",
    "%final_destiny_by_ccat",
    "%defang_by_ccat",
    "$sql_partition_tag",
];

/// The variable an old name is a glob alias of (Amavis/Conf.pm:
/// `*DO_SYSLOG = \$do_syslog;` and friends): both names are one variable.
/// The two hash aliases stay under their old names: neither is carried, and
/// the "not carried" note should name what the user wrote.
fn alias(sigil: char, n: &str) -> &str {
    match (sigil, n) {
        ('$', "DO_SYSLOG") => "do_syslog",
        ('$', "LOGFILE") => "logfile",
        ('$', "sql_partition_tag") => "partition_tag",
        _ => n,
    }
}

/// Lookup families whose default `*_maps` is `(\%x, \@x_acl, \$x_re)`.
pub const FAMILIES: &[&str] = &[
    "local_domains",
    "spam_lovers",
    "virus_lovers",
    "banned_files_lovers",
    "bad_header_lovers",
    "bypass_virus_checks",
    "bypass_spam_checks",
    "bypass_banned_checks",
    "bypass_header_checks",
    "whitelist_sender",
    "blacklist_sender",
];

/// Evaluation result; the error says why a statement cannot be evaluated.
pub type R<X> = Result<X, String>;

/// The evaluator's whole state.
pub struct State {
    pub scalars: HashMap<String, Slot<V>>,
    pub arrays: HashMap<String, Slot<Vec<V>>>,
    pub hashes: HashMap<String, Slot<BTreeMap<String, V>>>,
    /// Per-key origin of hash elements (`$policy_bank{'X'} = ...`).
    pub key_at: HashMap<String, BTreeMap<String, Origin>>,
    pub warnings: Vec<Warning>,
    /// `read_l10n_templates(lang, dir)`: the directory and where it was called.
    pub l10n: Option<(String, Origin)>,
    /// `my` variables: never warned about.
    pub(super) locals: HashSet<String>,
    known: HashSet<&'static str>,
    pub(super) cur: Origin,
    pub(super) lines: Vec<String>,
    pub(super) include_depth: u32,
    /// Source lines of every file read, for warning texts.
    pub sources: HashMap<String, Vec<String>>,
    /// Files in the order they were read.
    pub files: Vec<String>,
}

impl State {
    pub fn new() -> State {
        let mut s = State {
            scalars: HashMap::new(),
            arrays: HashMap::new(),
            hashes: HashMap::new(),
            key_at: HashMap::new(),
            warnings: vec![],
            l10n: None,
            locals: HashSet::new(),
            known: KNOWN_VARS.iter().copied().collect(),
            cur: Origin {
                file: String::new(),
                line: 0,
                text: String::new(),
            },
            lines: vec![],
            include_depth: 0,
            sources: HashMap::new(),
            files: vec![],
        };
        for (name, d) in SCALAR_DEFAULTS {
            let v = match d {
                Default::N(n) => V::Num(*n),
                Default::S(t) => V::Str(t.to_string()),
            };
            s.scalars.insert(name.to_string(), Slot { v, at: None });
        }
        s.scalars.insert(
            "myhostname".into(),
            Slot {
                v: V::Str(builtins::hostname()),
                at: None,
            },
        );
        s.scalars.insert(
            "inet_socket_bind".into(),
            Slot {
                v: V::Array(vec![V::Str("127.0.0.1".into()), V::Str("[::1]".into())], 0),
                at: None,
            },
        );
        let list = |v: &[&str]| v.iter().map(|x| V::Str(x.to_string())).collect::<Vec<_>>();
        let mynets = list(&[
            "127.0.0.0/8",
            "[::1]",
            "169.254.0.0/16",
            "[fe80::]/10",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "[fc00::]/7",
        ]);
        s.set_default_array("mynetworks", mynets);
        s.set_default_array("inet_acl", list(&["127.0.0.1", "[::1]"]));
        s.set_default_array("mynetworks_maps", vec![V::Ref('@', "mynetworks".into())]);
        s.set_default_array(
            "viruses_that_fake_sender_maps",
            vec![
                V::Ref('$', "viruses_that_fake_sender_re".into()),
                V::Num(1.0),
            ],
        );
        for f in FAMILIES {
            s.set_default_array(
                &format!("{f}_maps"),
                vec![
                    V::Ref('%', f.to_string()),
                    V::Ref('@', format!("{f}_acl")),
                    V::Ref('$', format!("{f}_re")),
                ],
            );
        }
        s
    }

    fn set_default_array(&mut self, name: &str, v: Vec<V>) {
        self.arrays.insert(name.into(), Slot { v, at: None });
    }

    pub(super) fn warn_now(&mut self, reason: impl Into<String>) {
        let w = Warning {
            file: self.cur.file.clone(),
            line: self.cur.line,
            text: self.cur.text.clone(),
            reason: reason.into(),
        };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Run one file's statements.
    pub fn run_file(&mut self, file: &str, src: &str, nodes: &[Node]) {
        let saved = (std::mem::take(&mut self.lines), self.cur.clone());
        self.lines = src.lines().map(str::to_string).collect();
        self.sources.insert(file.to_string(), self.lines.clone());
        self.files.push(file.to_string());
        self.cur.file = file.to_string();
        self.run(nodes);
        self.lines = saved.0;
        self.cur = saved.1;
    }

    fn run(&mut self, nodes: &[Node]) {
        for n in nodes {
            self.cur.line = n.line;
            self.cur.text = statement_text(&self.lines, n.line);
            match &n.stmt {
                Stmt::Ignored => {}
                Stmt::Unsupported(why) => {
                    self.warn_now(format!("cannot evaluate this Perl ({why}); skipped"))
                }
                Stmt::Expr(e) => {
                    if let Err(why) = self.void(e) {
                        self.warn_now(format!("cannot evaluate this Perl ({why}); skipped"));
                    }
                }
                Stmt::If(arms) => {
                    for (cond, body) in arms {
                        let take = match cond {
                            None => true,
                            Some(c) => match self.scalar(c) {
                                Ok(v) => v.truthy(),
                                Err(why) => {
                                    self.warn_now(format!(
                                        "cannot evaluate condition ({why}); block skipped"
                                    ));
                                    break;
                                }
                            },
                        };
                        if take {
                            self.run(body);
                            break;
                        }
                    }
                }
            }
        }
    }

    fn void(&mut self, e: &E) -> R<()> {
        match e {
            E::Assign(..) => self.assign_expr(e).map(|_| ()),
            E::List(items) => items.iter().try_for_each(|i| self.void(i)),
            e => self.list(e).map(|_| ()),
        }
    }

    // ---- variables ----

    pub fn get_scalar(&self, n: &str) -> V {
        let n = alias('$', n);
        self.scalars.get(n).map(|s| s.v.clone()).unwrap_or(V::Undef)
    }
    pub fn get_array(&self, n: &str) -> Vec<V> {
        self.arrays.get(n).map(|s| s.v.clone()).unwrap_or_default()
    }
    pub fn get_hash(&self, n: &str) -> BTreeMap<String, V> {
        let n = alias('%', n);
        self.hashes.get(n).map(|s| s.v.clone()).unwrap_or_default()
    }

    /// Warnings that belong to the moment of assignment: retired and unknown names.
    fn check_name(&mut self, sigil: char, n: &str) {
        let full = format!("{sigil}{n}");
        if RETIRED.contains(&full.as_str()) {
            self.warn_now(format!(
                "{full} was retired in amavisd-new 2.13; setting it has no effect"
            ));
        } else {
            let fine = self.known.contains(full.as_str())
                || ALIASES.contains(&full.as_str())
                || self.locals.contains(&full)
                || n.contains("::")
                || (sigil == '%' && n == "ENV")
                || (sigil == '$' && n.len() == 1 && !n.as_bytes()[0].is_ascii_alphabetic());
            if fine {
                return;
            }
            self.warn_now(format!(
                "{full} is not an amavisd 2.13 variable (misspelt?); amavisd ignores it, or refuses to start under `use strict`"
            ));
        }
    }

    pub fn set_scalar(&mut self, n: &str, v: V) {
        self.check_name('$', n);
        let n = alias('$', n);
        let at = Some(self.cur.clone());
        self.scalars.insert(n.to_string(), Slot { v, at });
    }
    pub fn set_array(&mut self, n: &str, v: Vec<V>) {
        self.check_name('@', n);
        let at = Some(self.cur.clone());
        self.arrays.insert(n.to_string(), Slot { v, at });
    }
    pub fn set_hash(&mut self, n: &str, v: BTreeMap<String, V>) {
        self.check_name('%', n);
        let n = alias('%', n);
        let at = Some(self.cur.clone());
        self.key_at.remove(n);
        self.hashes.insert(n.to_string(), Slot { v, at });
    }
    pub(super) fn array_mut(&mut self, n: &str) -> &mut Vec<V> {
        self.check_name('@', n);
        let at = Some(self.cur.clone());
        let slot = self.arrays.entry(n.to_string()).or_insert(Slot {
            v: vec![],
            at: None,
        });
        slot.at = at;
        &mut slot.v
    }
    fn hash_mut(&mut self, n: &str, key: &str) -> &mut BTreeMap<String, V> {
        self.check_name('%', n);
        let n = alias('%', n);
        let at = self.cur.clone();
        self.key_at
            .entry(n.to_string())
            .or_default()
            .insert(key.to_string(), at.clone());
        let slot = self.hashes.entry(n.to_string()).or_insert(Slot {
            v: BTreeMap::new(),
            at: None,
        });
        slot.at = Some(at);
        &mut slot.v
    }

    // ---- assignment ----

    pub(super) fn assign_expr(&mut self, e: &E) -> R<V> {
        let E::Assign(l, op, r) = e else {
            return self.scalar(e);
        };
        let (l, is_my) = match &**l {
            E::Un("my", inner) => (&**inner, true),
            l => (l, false),
        };
        if is_my {
            for name in lvalue_names(l) {
                self.locals.insert(name);
            }
        }
        if *op != "=" {
            let cur = self.scalar(l)?;
            let newv = match *op {
                "||=" if cur.truthy() => return Ok(cur),
                "//=" if cur != V::Undef => return Ok(cur),
                "&&=" if !cur.truthy() => return Ok(cur),
                "||=" | "//=" | "&&=" => self.scalar(r)?,
                _ => {
                    let op = op.trim_end_matches('=');
                    builtins::binop(self, op, cur, r)?
                }
            };
            self.store_scalar(l, newv.clone())?;
            return Ok(newv);
        }
        match l {
            E::Array(n) => {
                let v = self.list(r)?;
                self.set_array(n, v);
                Ok(V::Undef)
            }
            E::Hash(n) => {
                let v = pairs(self.list(r)?);
                self.set_hash(n, v);
                Ok(V::Undef)
            }
            E::List(targets) => {
                let mut vals = self.list(r)?.into_iter();
                for t in targets {
                    match t {
                        E::Array(n) => {
                            let rest: Vec<V> = vals.by_ref().collect();
                            self.set_array(n, rest);
                        }
                        E::Undef => {
                            vals.next();
                        }
                        t => self.store_scalar(t, vals.next().unwrap_or(V::Undef))?,
                    }
                }
                Ok(V::Undef)
            }
            l => {
                let v = self.scalar(r)?;
                self.store_scalar(l, v.clone())?;
                Ok(v)
            }
        }
    }

    /// Store into a scalar lvalue: `$x`, `$h{k}`, `$a[i]`, `$h{a}{b}`.
    pub fn store_scalar(&mut self, l: &E, v: V) -> R<()> {
        match l {
            E::Scalar(n) => {
                self.set_scalar(n, v);
                Ok(())
            }
            E::Un("my", inner) => self.store_scalar(inner, v),
            E::HElem(..) | E::AElem(..) => {
                let (root, path) = self.lvalue_path(l)?;
                let (first, rest) = path.split_first().ok_or("empty subscript")?;
                let slot: &mut V = match (&root, first) {
                    (E::Hash(n), Key::H(k)) => {
                        self.hash_mut(n, k).entry(k.clone()).or_insert(V::Undef)
                    }
                    (E::Array(n), Key::A(i)) => {
                        let a = self.array_mut(n);
                        let i = index(a.len(), *i)?;
                        if a.len() <= i {
                            a.resize(i + 1, V::Undef);
                        }
                        &mut a[i]
                    }
                    _ => return Err("assignment through a reference".into()),
                };
                let mut slot = slot;
                for k in rest {
                    slot = step(slot, k)?;
                }
                *slot = v;
                Ok(())
            }
            E::Call(f, _) if f == "undef" => Ok(()),
            _ => Err("cannot assign to this expression".into()),
        }
    }

    fn lvalue_path(&mut self, e: &E) -> R<(E, Vec<Key>)> {
        match e {
            E::HElem(base, k) => {
                let (root, mut p) = self.lvalue_path(base)?;
                p.push(Key::H(self.scalar(k)?.to_str()));
                Ok((root, p))
            }
            E::AElem(base, k) => {
                let (root, mut p) = self.lvalue_path(base)?;
                p.push(Key::A(self.scalar(k)?.to_num() as i64));
                Ok((root, p))
            }
            E::Hash(_) | E::Array(_) => Ok((e.clone(), vec![])),
            _ => Err("assignment through a reference".into()),
        }
    }
}

impl std::default::Default for State {
    fn default() -> Self {
        State::new()
    }
}

/// One subscript of an lvalue path (`{key}` or `[index]`).
enum Key {
    H(String),
    A(i64),
}

/// Walk one subscript down, creating hashes/arrays as Perl autovivifies them.
fn step<'a>(slot: &'a mut V, k: &Key) -> R<&'a mut V> {
    match k {
        Key::H(k) => {
            if *slot == V::Undef {
                *slot = V::Hash(BTreeMap::new());
            }
            match slot {
                V::Hash(h) => Ok(h.entry(k.clone()).or_insert(V::Undef)),
                _ => Err("assignment through a reference".into()),
            }
        }
        Key::A(i) => {
            if *slot == V::Undef {
                *slot = V::Array(vec![], 0);
            }
            match slot {
                V::Array(a, _) => {
                    let i = index(a.len(), *i)?;
                    if a.len() <= i {
                        a.resize(i + 1, V::Undef);
                    }
                    Ok(&mut a[i])
                }
                _ => Err("assignment through a reference".into()),
            }
        }
    }
}

pub(super) fn index(len: usize, i: i64) -> R<usize> {
    let j = if i < 0 { len as i64 + i } else { i };
    if !(0..=100_000).contains(&j) {
        return Err("array index out of range".into());
    }
    Ok(j as usize)
}

/// `(k1, v1, k2, v2)` → hash; an odd trailing key gets undef, as in Perl.
pub fn pairs(v: Vec<V>) -> BTreeMap<String, V> {
    let mut out = BTreeMap::new();
    let mut it = v.into_iter();
    while let Some(k) = it.next() {
        out.insert(k.to_str(), it.next().unwrap_or(V::Undef));
    }
    out
}

pub(super) fn lvalue_names(e: &E) -> Vec<String> {
    match e {
        E::Scalar(n) => vec![format!("${n}")],
        E::Array(n) => vec![format!("@{n}")],
        E::Hash(n) => vec![format!("%{n}")],
        E::List(v) => v.iter().flat_map(lvalue_names).collect(),
        _ => vec![],
    }
}

/// The statement's first source line, trimmed and without a trailing comment.
pub fn statement_text(lines: &[String], line: u32) -> String {
    let l = lines
        .get(line.saturating_sub(1) as usize)
        .map(|s| s.trim())
        .unwrap_or("");
    // A `#` outside quotes starts a comment.
    let (mut sq, mut dq, mut cut) = (false, false, l.len());
    for (i, c) in l.char_indices() {
        match c {
            '\'' if !dq => sq = !sq,
            '"' if !sq => dq = !dq,
            '#' if !sq && !dq && i > 0 && l[..i].ends_with(char::is_whitespace) => {
                cut = i;
                break;
            }
            _ => {}
        }
    }
    let l = l[..cut].trim_end();
    if l.chars().count() > 120 {
        format!("{}...", l.chars().take(117).collect::<String>())
    } else {
        l.to_string()
    }
}
