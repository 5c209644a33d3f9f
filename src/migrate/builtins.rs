//! Operators, string interpolation and the functions amavisd configs call
//! (`lc`, `new_RE`, `read_hash`, `include_config_files`, backticks ...).

use super::eval::{R, State};
use super::parser::E;
use super::value::{V, constant};
use std::collections::BTreeMap;

/// Functions that return lists (the rest return one scalar).
pub fn is_list_call(name: &str) -> bool {
    matches!(name, "read_array" | "read_cidr" | "split")
}

pub fn call_list(st: &mut State, name: &str, args: &[E]) -> R<Vec<V>> {
    match call(st, name, args)? {
        V::Array(a, _) => Ok(a),
        V::Ref('@', n) => Ok(st.get_array(&n)),
        v => Ok(vec![v]),
    }
}

fn args_list(st: &mut State, args: &[E]) -> R<Vec<V>> {
    let mut out = vec![];
    for a in args {
        out.extend(st.list(a)?);
    }
    Ok(out)
}

fn one(st: &mut State, args: &[E]) -> R<V> {
    match args.first() {
        Some(a) => st.scalar(a),
        None => Ok(st.get_scalar("_")),
    }
}

pub fn call(st: &mut State, name: &str, args: &[E]) -> R<V> {
    if let Some(n) = constant(name) {
        return Ok(V::Num(n));
    }
    Ok(match name {
        "lc" => V::Str(one(st, args)?.to_str().to_lowercase()),
        "uc" => V::Str(one(st, args)?.to_str().to_uppercase()),
        "lcfirst" | "ucfirst" => {
            let s = one(st, args)?.to_str();
            let mut c = s.chars();
            V::Str(match c.next() {
                Some(f) if name == "lcfirst" => f.to_lowercase().chain(c).collect(),
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            })
        }
        "length" => match one(st, args)? {
            V::Undef => V::Undef,
            v => V::Num(v.to_str().chars().count() as f64),
        },
        "defined" => {
            let d = match args.first() {
                Some(E::Array(n)) => !st.get_array(n).is_empty(),
                Some(E::Hash(n)) => !st.get_hash(n).is_empty(),
                _ => one(st, args)? != V::Undef,
            };
            V::Num(if d { 1.0 } else { 0.0 })
        }
        "scalar" => one(st, args)?,
        "int" => V::Num(one(st, args)?.to_num().trunc()),
        "abs" => V::Num(one(st, args)?.to_num().abs()),
        "quotemeta" => V::Str(
            one(st, args)?
                .to_str()
                .chars()
                .flat_map(|c| {
                    let esc = !(c.is_ascii_alphanumeric() || c == '_');
                    esc.then_some('\\').into_iter().chain(std::iter::once(c))
                })
                .collect(),
        ),
        "sprintf" => {
            let v = args_list(st, args)?;
            let (fmt, rest) = v.split_first().ok_or("sprintf without arguments")?;
            V::Str(sprintf(&fmt.to_str(), rest)?)
        }
        "keys" | "values" => {
            let Some(E::Hash(n)) = args.first() else {
                return Err(format!("{name} of a non-hash"));
            };
            V::Num(st.get_hash(n).len() as f64)
        }
        "join" => {
            let v = args_list(st, args)?;
            let (sep, rest) = v.split_first().ok_or("join without arguments")?;
            let sep = sep.to_str();
            V::Str(rest.iter().map(V::to_str).collect::<Vec<_>>().join(&sep))
        }
        "chomp" | "chop" => {
            let target = match args.first() {
                Some(E::Assign(l, ..)) => {
                    st.scalar(&args[0])?;
                    (**l).clone()
                }
                Some(e) => e.clone(),
                None => return Err(format!("{name} without argument")),
            };
            let v = st.scalar(&target)?;
            if let V::Str(mut s) = v {
                let removed = if name == "chomp" {
                    s.ends_with('\n') && s.pop().is_some()
                } else {
                    s.pop().is_some()
                };
                st.store_scalar(&target, V::Str(s))?;
                V::Num(removed as u8 as f64)
            } else {
                V::Num(0.0)
            }
        }
        "undef" => {
            if let Some(a) = args.first() {
                match a {
                    E::Array(n) => st.set_array(n, vec![]),
                    E::Hash(n) => st.set_hash(n, BTreeMap::new()),
                    other => st.store_scalar(other, V::Undef)?,
                }
            }
            V::Undef
        }
        "push" | "unshift" => {
            let (t, rest) = args.split_first().ok_or("push without arguments")?;
            let vals = args_list(st, rest)?;
            st.push(t, vals, name == "unshift")?;
            V::Undef
        }
        "new_RE" => {
            let mut out = vec![];
            for v in args_list(st, args)? {
                out.push(match v {
                    V::Array(mut a, _) if !a.is_empty() => {
                        let val = if a.len() > 1 {
                            a.swap_remove(1)
                        } else {
                            V::Num(1.0)
                        };
                        (a.swap_remove(0), val)
                    }
                    v => (v, V::Num(1.0)),
                });
            }
            V::NewRe(out)
        }
        "read_hash" | "read_array" | "read_cidr" => read_table(st, name, args)?,
        "read_text" => {
            let f = one(st, args)?.to_str();
            V::Opaque(format!("<read_text:{f}>"))
        }
        "read_l10n_templates" => {
            let v = args_list(st, args)?;
            let lang = v.first().map(V::to_str).unwrap_or_default();
            let dir = v
                .get(1)
                .map(V::to_str)
                .unwrap_or_else(|| "/etc/amavis".into());
            st.l10n = Some((format!("{dir}/{lang}"), st.cur.clone()));
            V::Num(1.0)
        }
        "include_config_files" | "include_optional_config_files" => {
            for f in args_list(st, args)? {
                super::include(st, &f.to_str(), name == "include_optional_config_files")?;
            }
            V::Num(1.0)
        }
        "-e" | "-f" | "-d" | "-r" | "-s" => {
            let p = std::path::PathBuf::from(one(st, args)?.to_str());
            let ok = match name {
                "-d" => p.is_dir(),
                "-f" => p.is_file(),
                "-s" => p.metadata().map(|m| m.len() > 0).unwrap_or(false),
                _ => p.exists(),
            };
            if ok {
                V::Num(1.0)
            } else {
                V::Str(String::new())
            }
        }
        "dkim_key" => return Err("dkim_key(): DKIM signing is not supported".into()),
        "new_IP" => return Err("new_IP(): IP lookup objects are not supported".into()),
        other => return Err(format!("calls {other}()")),
    })
}

/// `sprintf` with the conversions configs use: `%s %d %i %f %.Nf %x %o %e %g %%`.
fn sprintf(fmt: &str, args: &[V]) -> R<String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = it.peek() {
            if n.is_ascii_digit() || matches!(n, '.' | '-' | '+' | ' ' | '0') {
                spec.push(n);
                it.next();
            } else {
                break;
            }
        }
        let conv = it.next().ok_or("sprintf: format ends in %")?;
        if conv == '%' {
            out.push('%');
            continue;
        }
        let a = args.next().cloned().unwrap_or(V::Undef);
        let prec = spec
            .split_once('.')
            .and_then(|(_, p)| p.parse::<usize>().ok());
        let width: usize = spec
            .split('.')
            .next()
            .unwrap_or("")
            .trim_start_matches(['-', '+', ' ', '0'])
            .parse()
            .unwrap_or(0);
        let body = match conv {
            's' => a.to_str(),
            'd' | 'i' => format!("{}", a.to_num().trunc() as i64),
            'f' => format!("{:.*}", prec.unwrap_or(6), a.to_num()),
            'e' => format!("{:.*e}", prec.unwrap_or(6), a.to_num()),
            'g' => super::value::fmt_num(a.to_num()),
            'x' => format!("{:x}", a.to_num() as i64),
            'o' => format!("{:o}", a.to_num() as i64),
            other => return Err(format!("sprintf conversion %{other}")),
        };
        let pad = width.saturating_sub(body.chars().count()).min(1 << 16);
        if spec.starts_with('-') {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else {
            let fill = if spec.starts_with('0') && conv != 's' {
                "0"
            } else {
                " "
            };
            out.push_str(&fill.repeat(pad));
            out.push_str(&body);
        }
    }
    Ok(out)
}

/// `read_hash(\%h, FILE)` / `read_array(\@a, FILE)`: read the file now, as
/// amavisd does at start-up. The link to the file is lost, so we warn.
fn read_table(st: &mut State, name: &str, args: &[E]) -> R<V> {
    let mut v = args_list(st, args)?;
    let target = match v.first() {
        Some(V::Ref(s, n)) if matches!(s, '%' | '@') => Some((*s, n.clone())),
        _ => None,
    };
    if target.is_some() {
        v.remove(0);
    }
    let file = v
        .first()
        .map(V::to_str)
        .ok_or(format!("{name} without a file"))?;
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) => {
            st.warn_now(format!(
                "{name}({file}): cannot read it here ({e}); the table is migrated empty"
            ));
            String::new()
        }
    };
    let mut hash = BTreeMap::new();
    let mut arr = vec![];
    for l in text.lines() {
        let l = l.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let (k, rest) = l.split_once([' ', '\t']).unwrap_or((l, ""));
        let rest = rest.trim();
        hash.insert(
            k.to_lowercase(),
            if rest.is_empty() {
                V::Num(1.0)
            } else {
                V::Str(rest.to_string())
            },
        );
        arr.push(V::Str(k.to_lowercase()));
    }
    if !text.is_empty() {
        st.warn_now(format!(
            "{name}({file}): {} entries copied at migration time; later edits of the file are not seen",
            arr.len()
        ));
    }
    let is_hash = name == "read_hash";
    Ok(match target {
        Some(('%', n)) => {
            let mut h = st.get_hash(&n);
            h.extend(hash);
            st.set_hash(&n, h);
            V::Ref('%', n)
        }
        Some(('@', n)) => {
            let mut a = st.get_array(&n);
            a.extend(arr);
            st.set_array(&n, a);
            V::Ref('@', n)
        }
        _ if is_hash => V::Hash(hash),
        _ => V::Array(arr, st.cur.line),
    })
}

pub fn binop(st: &mut State, op: &str, a: V, b: &E) -> R<V> {
    // Short-circuit operators evaluate the right side only when needed.
    match op {
        "||" => return if a.truthy() { Ok(a) } else { st.scalar(b) },
        "&&" => return if !a.truthy() { Ok(a) } else { st.scalar(b) },
        "//" => return if a != V::Undef { Ok(a) } else { st.scalar(b) },
        _ => {}
    }
    let b = st.scalar(b)?;
    let (x, y) = (a.to_num(), b.to_num());
    let bool_v = |t: bool| {
        if t {
            V::Num(1.0)
        } else {
            V::Str(String::new())
        }
    };
    Ok(match op {
        "+" => V::Num(x + y),
        "-" => V::Num(x - y),
        "*" => V::Num(x * y),
        "/" => {
            if y == 0.0 {
                return Err("division by zero".into());
            }
            V::Num(x / y)
        }
        "%" => {
            let (x, y) = (x as i64, y as i64);
            if y == 0 {
                return Err("modulus zero".into());
            }
            V::Num(x.rem_euclid(y) as f64)
        }
        "**" => V::Num(x.powf(y)),
        "." => {
            let (a, b) = (a.to_str(), b.to_str());
            if a.len() + b.len() > 1 << 24 {
                return Err("string too large".into());
            }
            V::Str(a + &b)
        }
        "x" => {
            let n = y.max(0.0) as usize;
            if n.saturating_mul(a.to_str().len()) > 1 << 20 {
                return Err("string repetition too large".into());
            }
            V::Str(a.to_str().repeat(n))
        }
        "==" => bool_v(x == y),
        "!=" => bool_v(x != y),
        "<" => bool_v(x < y),
        ">" => bool_v(x > y),
        "<=" => bool_v(x <= y),
        ">=" => bool_v(x >= y),
        "<=>" => V::Num(x.partial_cmp(&y).map(|o| o as i8 as f64).unwrap_or(0.0)),
        "eq" => bool_v(a.to_str() == b.to_str()),
        "ne" => bool_v(a.to_str() != b.to_str()),
        "lt" => bool_v(a.to_str() < b.to_str()),
        "gt" => bool_v(a.to_str() > b.to_str()),
        "le" => bool_v(a.to_str() <= b.to_str()),
        "ge" => bool_v(a.to_str() >= b.to_str()),
        "cmp" => V::Num(a.to_str().cmp(&b.to_str()) as i8 as f64),
        other => return Err(format!("operator `{other}`")),
    })
}

/// Double-quote interpolation; `regex` keeps backslash escapes for the regex engine.
pub fn interpolate(st: &mut State, raw: &str, regex: bool) -> R<String> {
    let c: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let word = |ch: char| ch.is_ascii_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        if ch == '\\' && i + 1 < c.len() {
            let n = c[i + 1];
            i += 2;
            if regex {
                out.push('\\');
                out.push(n);
                continue;
            }
            match n {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'e' => out.push('\x1b'),
                'a' => out.push('\x07'),
                '0' => out.push('\0'),
                'x' => {
                    let (hex, used) = if c.get(i) == Some(&'{') {
                        let end = c[i..].iter().position(|&x| x == '}').map(|p| i + p);
                        let end = end.ok_or("unterminated \\x{")?;
                        (c[i + 1..end].iter().collect::<String>(), end + 1 - i)
                    } else {
                        let h: String = c[i..]
                            .iter()
                            .take(2)
                            .take_while(|x| x.is_ascii_hexdigit())
                            .collect();
                        let l = h.len();
                        (h, l)
                    };
                    i += used;
                    let cp = u32::from_str_radix(hex.trim(), 16).unwrap_or(0);
                    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                }
                other => out.push(other),
            }
            continue;
        }
        if (ch == '$' || ch == '@') && i + 1 < c.len() {
            let braced = c[i + 1] == '{';
            let start = if braced { i + 2 } else { i + 1 };
            let mut j = start;
            while j < c.len() && (word(c[j]) || (c[j] == ':' && c.get(j + 1) == Some(&':'))) {
                j += if c[j] == ':' { 2 } else { 1 };
            }
            let name: String = c[start..j].iter().collect();
            let starts_ok = name
                .chars()
                .next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_');
            if starts_ok && (!braced || c.get(j) == Some(&'}')) {
                if braced {
                    j += 1;
                }
                let name = name.trim_start_matches("Amavis::Conf::").to_string();
                i = j;
                if ch == '@' {
                    if !st.arrays.contains_key(&name) {
                        st.warn_now(format!(
                            "\"@{name}\" interpolates an empty array; write \\@ for a literal @"
                        ));
                    }
                    let a = st.get_array(&name);
                    out.push_str(&a.iter().map(V::to_str).collect::<Vec<_>>().join(" "));
                    continue;
                }
                // `$h{key}` / `$a[1]` element interpolation.
                if !regex
                    && c.get(i) == Some(&'{')
                    && let Some(end) = c[i..].iter().position(|&x| x == '}').map(|p| i + p)
                {
                    let key: String = c[i + 1..end].iter().collect();
                    let key = key.trim_matches(|q| q == '\'' || q == '"').to_string();
                    let h = st.get_hash(&name);
                    out.push_str(&h.get(&key).map(V::to_str).unwrap_or_default());
                    i = end + 1;
                    continue;
                }
                out.push_str(&st.get_scalar(&name).to_str());
                continue;
            }
        }
        out.push(ch);
        i += 1;
    }
    Ok(out)
}

/// Backticks. amavisd runs the command at every start; we run only the
/// read-only commands Debian's files use, and warn that the result is frozen.
pub fn qx(st: &mut State, cmd: &str) -> R<V> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let out = match words.as_slice() {
        ["head", "-n", n, file] | ["head", "-n", n, "--", file] => {
            head(file, n.parse().unwrap_or(10))
        }
        ["head", flag, file] if flag.starts_with('-') && flag[1..].parse::<usize>().is_ok() => {
            head(file, flag[1..].parse().unwrap_or(10))
        }
        ["cat", file] => std::fs::read_to_string(file).unwrap_or_default(),
        // Backticks capture stdout only, whatever the exit status (amavisd does the same).
        ["hostname", rest @ ..]
            if matches!(rest, [] | ["-f" | "--fqdn" | "--long" | "-s" | "--short"]) =>
        {
            std::process::Command::new("hostname")
                .args(rest)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        }
        _ => return Err(format!("runs shell command `{cmd}`")),
    };
    st.warn_now(format!(
        "runs `{cmd}` at every amavisd start; migrated with its output on this host ({:?})",
        out.trim_end()
    ));
    Ok(V::Str(out))
}

fn head(file: &str, n: usize) -> String {
    std::fs::read_to_string(file)
        .map(|t| t.split_inclusive('\n').take(n).collect())
        .unwrap_or_default()
}

/// This host's name as `uname -n` gives it (amavisd's default `$myhostname`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
