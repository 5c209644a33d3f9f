//! Evaluating expressions in Perl's scalar and list contexts.

use super::builtins;
use super::eval::{R, Slot, State, index, lvalue_names, pairs};
use super::parser::E;
use super::value::V;

impl State {
    // ---- reading ----

    /// Scalar context.
    pub fn scalar(&mut self, e: &E) -> R<V> {
        Ok(match e {
            E::Undef => V::Undef,
            E::Num(n) => V::Num(*n),
            E::Str(s) => V::Str(s.clone()),
            E::IStr(s) => V::Str(builtins::interpolate(self, s, false)?),
            E::Qw(w) => {
                self.check_qw(w);
                w.last().map(|s| V::Str(s.clone())).unwrap_or(V::Undef)
            }
            E::Regex(src, flags, interp) => {
                let src = if *interp {
                    builtins::interpolate(self, src, true)?
                } else {
                    src.clone()
                };
                V::Regex(src, flags.clone())
            }
            E::Qx(cmd) => {
                let cmd = builtins::interpolate(self, cmd, false)?;
                builtins::qx(self, &cmd)?
            }
            E::Scalar(n) => self.get_scalar(n),
            E::Array(n) => V::Num(self.get_array(n).len() as f64),
            E::Hash(n) => V::Num(self.get_hash(n).len() as f64),
            E::LastIdx(n) => V::Num(self.get_array(n).len() as f64 - 1.0),
            E::HElem(base, k) => {
                let k = self.scalar(k)?.to_str();
                match self.container(base, '%')? {
                    V::Hash(h) => h.get(&k).cloned().unwrap_or(V::Undef),
                    _ => V::Undef,
                }
            }
            E::AElem(base, k) => {
                let i = self.scalar(k)?.to_num() as i64;
                match self.container(base, '@')? {
                    V::Array(a, _) => index(a.len(), i)
                        .ok()
                        .and_then(|i| a.get(i).cloned())
                        .unwrap_or(V::Undef),
                    _ => V::Undef,
                }
            }
            E::Deref('$', inner) => match self.scalar(inner)? {
                V::Ref('$', n) => self.get_scalar(&n),
                _ => return Err("dereference of a non-scalar reference".into()),
            },
            E::Deref(..) => V::Num(self.list(e)?.len() as f64),
            E::Ref(inner) => match &**inner {
                E::Scalar(n) => V::Ref('$', n.clone()),
                E::Array(n) => V::Ref('@', n.clone()),
                E::Hash(n) => V::Ref('%', n.clone()),
                E::List(items) => match items.last() {
                    Some(last) => self.scalar(&E::Ref(Box::new(last.clone())))?,
                    None => V::Undef,
                },
                other => self.scalar(other)?,
            },
            E::CodeRef(n) => V::Code(n.clone()),
            E::AnonSub => V::Code("ANON".into()),
            E::AnonArray(items, line) => {
                let mut v = vec![];
                for i in items {
                    v.extend(self.list(i)?);
                }
                V::Array(v, *line)
            }
            E::AnonHash(items) => {
                let mut v = vec![];
                for i in items {
                    v.extend(self.list(i)?);
                }
                V::Hash(pairs(v))
            }
            E::List(items) => {
                let mut last = V::Undef;
                for i in items {
                    last = self.scalar(i)?;
                }
                last
            }
            E::Call(name, args) => builtins::call(self, name, args)?,
            E::Bin(op, a, b) => {
                let a = self.scalar(a)?;
                builtins::binop(self, op, a, b)?
            }
            E::Un("!", a) => {
                if self.scalar(a)?.truthy() {
                    V::Str(String::new())
                } else {
                    V::Num(1.0)
                }
            }
            E::Un("-", a) => match self.scalar(a)? {
                V::Str(s) if s.starts_with(|c: char| c.is_alphabetic()) => V::Str(format!("-{s}")),
                v => V::Num(-v.to_num()),
            },
            E::Un("my", a) => {
                for n in lvalue_names(a) {
                    self.locals.insert(n);
                }
                self.scalar(a)?
            }
            E::Un(op, _) => return Err(format!("operator `{op}`")),
            E::Assign(..) => self.assign_expr(e)?,
            E::Map(..) => V::Num(self.list(e)?.len() as f64),
            E::Cond(c, a, b) => {
                if self.scalar(c)?.truthy() {
                    self.scalar(a)?
                } else {
                    self.scalar(b)?
                }
            }
        })
    }

    /// The hash/array a subscript indexes: the named variable or what a reference points to.
    fn container(&mut self, base: &E, sigil: char) -> R<V> {
        Ok(match base {
            E::Hash(n) => V::Hash(self.get_hash(n)),
            E::Array(n) => V::Array(self.get_array(n), 0),
            other => match self.scalar(other)? {
                V::Ref('%', n) => V::Hash(self.get_hash(&n)),
                V::Ref('@', n) => V::Array(self.get_array(&n), 0),
                v @ (V::Hash(_) | V::Array(..)) => v,
                V::Undef => V::Undef,
                _ => return Err(format!("subscript of a non-{sigil} value")),
            },
        })
    }

    /// List context.
    pub fn list(&mut self, e: &E) -> R<Vec<V>> {
        Ok(match e {
            E::Array(n) => self.get_array(n),
            E::Hash(n) => self
                .get_hash(n)
                .into_iter()
                .flat_map(|(k, v)| [V::Str(k), v])
                .collect(),
            E::List(items) => {
                let mut out = vec![];
                for i in items {
                    out.extend(self.list(i)?);
                }
                out
            }
            E::Qw(w) => {
                self.check_qw(w);
                w.iter().map(|s| V::Str(s.clone())).collect()
            }
            E::Ref(inner) if matches!(**inner, E::List(_)) => {
                let E::List(items) = &**inner else {
                    unreachable!()
                };
                let mut out = vec![];
                for i in items {
                    out.push(self.scalar(&E::Ref(Box::new(i.clone())))?);
                }
                out
            }
            E::Deref(sig @ ('@' | '%'), inner) => match self.scalar(inner)? {
                V::Ref(s, n) if s == *sig => {
                    self.list(&if s == '@' { E::Array(n) } else { E::Hash(n) })?
                }
                V::Array(a, _) if *sig == '@' => a,
                V::Hash(h) if *sig == '%' => {
                    h.into_iter().flat_map(|(k, v)| [V::Str(k), v]).collect()
                }
                _ => return Err("dereference of a value of the wrong type".into()),
            },
            E::Bin("..", a, b) => {
                let (a, b) = (
                    self.scalar(a)?.to_num() as i64,
                    self.scalar(b)?.to_num() as i64,
                );
                if b - a > 100_000 {
                    return Err("range too large".into());
                }
                (a..=b).map(|i| V::Num(i as f64)).collect()
            }
            E::Cond(c, a, b) => {
                if self.scalar(c)?.truthy() {
                    self.list(a)?
                } else {
                    self.list(b)?
                }
            }
            E::Map(body, items) => {
                let mut out = vec![];
                for item in self.list(items)? {
                    self.scalars.insert("_".into(), Slot { v: item, at: None });
                    out.extend(self.list(body)?);
                }
                self.scalars.remove("_");
                out
            }
            E::Call(name, args) if builtins::is_list_call(name) => {
                builtins::call_list(self, name, args)?
            }
            E::Assign(l, _, _) if matches!(**l, E::Array(_) | E::Hash(_)) => {
                self.assign_expr(e)?;
                self.list(l)?
            }
            other => vec![self.scalar(other)?],
        })
    }

    /// `qw( ".$mydomain" )` is the literal text, quotes and all: warn.
    fn check_qw(&mut self, words: &[String]) {
        for w in words {
            // `@` is fine (qw is how one writes `user@example.com` safely); `$` is the trap.
            let sigil = w.find('$').is_some_and(|i| {
                w[i + 1..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '{')
            });
            if sigil || w.contains(['"', '\'', ',']) {
                self.warn_now(format!(
                    "qw() does not interpolate: the entry is literally `{w}`; \
                     migrated as Perl reads it (write ( \"...\" ) to interpolate)"
                ));
            }
        }
    }

    /// Array variable named by a `push`/`unshift` first argument.
    pub fn push(&mut self, target: &E, vals: Vec<V>, front: bool) -> R<()> {
        let name = match target {
            E::Array(n) => n.clone(),
            E::Deref('@', inner) => match self.scalar(inner)? {
                V::Ref('@', n) => n,
                _ => return Err("push onto a non-array".into()),
            },
            _ => return Err("push onto a non-array".into()),
        };
        let a = self.array_mut(&name);
        if front {
            a.splice(0..0, vals);
        } else {
            a.extend(vals);
        }
        Ok(())
    }
}
