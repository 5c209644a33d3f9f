//! Per-message state for one `check`: header lookups with SpamAssassin's
//! modifiers (`PerMsgStatus::_get`), texts, relays; computed once and cached.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::msg::{self, Field, MimeFacts, Part};
use super::received::{self, Relays};
use super::text::{self, Bodies};

/// Everything the rules and eval functions look at for one message.
pub struct Ctx<'a> {
    /// The message as given (for `full` rules).
    pub pristine: &'a [u8],
    /// The same, owned, as one segment for the `full` prefilter.
    pub pristine_vec: Vec<u8>,
    /// Line ends normalised to LF.
    pub data: Vec<u8>,
    pub fields: Vec<Field>,
    /// The fields' names lower-cased, sorted, once each: `exists` is asked
    /// for ~120 names per message, most of them absent.
    names: Vec<Vec<u8>>,
    pub header_len: usize,
    pub has_separator: bool,
    pub parts: Vec<Part>,
    pub facts: MimeFacts,
    pub bodies: Bodies,
    pub relays: Relays,
    pub envelope_from: Option<String>,
    /// `envelope_sender_header`: the header EnvelopeFrom reads, if set.
    pub envelope_sender_header: Option<String>,
    cache: RefCell<fnv::FnvHashMap<String, Option<Rc<[u8]>>>>,
    /// Per-message results of eval helpers, computed on first use.
    pub memo: Memo,
}

/// Values several eval functions share (`$pms->{mime_*}`, `date_diff`, ...).
#[derive(Default)]
pub struct Memo {
    pub mime: std::cell::OnceCell<super::evalfns_mime::MimeStats>,
    pub date_diff: std::cell::OnceCell<i64>,
    pub madiff: std::cell::OnceCell<(f64, usize, usize)>,
    /// `check_for_uppercase`'s percentage (three rules ask for it).
    pub upper_pct: std::cell::OnceCell<f64>,
    /// `check_abundant_unicode_ratio`'s ratio (asked with two thresholds).
    pub unicode_ratio: std::cell::OnceCell<f64>,
}

/// Settings that shape a message's metadata: relay trust and the header
/// EnvelopeFrom reads.
#[derive(Debug, Clone, Default)]
pub struct MetaConfig {
    pub trust: received::Trust,
    pub envelope_sender_header: Option<String>,
    /// `originating_ip_headers`: their IP joins the relays as a last hop.
    pub originating_ip_headers: Vec<String>,
}

impl MetaConfig {
    /// From the settings the config reader kept.
    pub fn new(settings: &HashMap<String, Vec<String>>) -> MetaConfig {
        let get = |k: &str| settings.get(k).map_or(&[][..], Vec::as_slice);
        MetaConfig {
            trust: received::Trust::new(
                get("trusted_networks"),
                get("internal_networks"),
                get("msa_networks"),
            ),
            envelope_sender_header: get("envelope_sender_header").last().cloned(),
            originating_ip_headers: get("originating_ip_headers").to_vec(),
        }
    }
}

impl<'a> Ctx<'a> {
    pub fn new(message: &'a [u8], envelope_from: Option<&str>) -> Ctx<'a> {
        Ctx::with_config(message, envelope_from, &MetaConfig::default())
    }

    /// [`Ctx::new`] with the rule set's metadata settings.
    pub fn with_config(
        message: &'a [u8],
        envelope_from: Option<&str>,
        cfg: &MetaConfig,
    ) -> Ctx<'a> {
        let data = if message.windows(2).any(|w| w == b"\r\n") {
            let mut v = Vec::with_capacity(message.len());
            let mut i = 0;
            while i < message.len() {
                if message[i] == b'\r' && message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                v.push(message[i]);
                i += 1;
            }
            v
        } else {
            message.to_vec()
        };
        let (fields, header_len, has_separator) = msg::parse_header_block(&data);
        let (parts, facts) = super::evalfns_mimeflags::leaf_parts(&data);
        let subject = fields
            .iter()
            .rfind(|f| f.name.eq_ignore_ascii_case("subject"))
            .map(|f| f.decoded.clone())
            .unwrap_or_default();
        let bodies = text::build(&parts, &subject);
        let mut rcvd: Vec<String> = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case("received"))
            .map(|f| super::msg::lossy(&f.decoded).into_owned())
            .collect();
        rcvd.extend(received::originating_ip_lines(
            &cfg.originating_ip_headers,
            &fields,
        ));
        let relays = received::parse_relays_with(&rcvd, &cfg.trust);
        let mut names: Vec<Vec<u8>> = fields
            .iter()
            .map(|f| f.name.as_bytes().to_ascii_lowercase())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ctx {
            pristine: message,
            pristine_vec: message.to_vec(),
            data,
            fields,
            names,
            header_len,
            has_separator,
            parts,
            facts,
            bodies,
            relays,
            envelope_from: envelope_from.map(str::to_string),
            envelope_sender_header: cfg.envelope_sender_header.clone(),
            // FNV, not SipHash: the keys are the rules' own requests, never
            // the message's (a map keyed by message text keeps SipHash, so
            // crafted collisions cannot make it quadratic). Sized up front:
            // growing it rehashed every entry.
            cache: RefCell::new(fnv::FnvHashMap::with_capacity_and_hasher(
                64,
                Default::default(),
            )),
            memo: Memo::default(),
        }
    }

    /// All values of a header (decoded or raw), in order.
    pub fn values(&self, name: &str, raw: bool) -> Vec<Vec<u8>> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| {
                if raw {
                    unfold_raw(&f.raw)
                } else {
                    let mut v = Vec::with_capacity(f.decoded.len() + 1);
                    v.extend_from_slice(&f.decoded);
                    v.push(b'\n');
                    v
                }
            })
            .collect()
    }

    /// Is a header present?
    pub fn exists(&self, name: &str) -> bool {
        let lower = || name.bytes().map(|b| b.to_ascii_lowercase());
        self.names
            .binary_search_by(|n| n.iter().copied().cmp(lower()))
            .is_ok()
    }

    /// `$pms->get('Name:mods')` in scalar context; `None` when unset.
    pub fn get(&self, request: &str) -> Option<Vec<u8>> {
        self.get_ref(request).map(|v| v.to_vec())
    }

    /// Like [`Ctx::get`], sharing the cached value (the header-rule path).
    pub fn get_ref(&self, request: &str) -> Option<Rc<[u8]>> {
        // Most requests the rules make name headers a message lacks:
        // answered without the cache's key copy and hashing.
        if self.plainly_absent(request) {
            return None;
        }
        if let Some(v) = self.cache.borrow().get(request) {
            return v.clone();
        }
        let v: Option<Rc<[u8]>> = self.get_uncached(request).map(Rc::from);
        self.cache
            .borrow_mut()
            .insert(request.to_string(), v.clone());
        v
    }

    /// A request for an ordinary header (not a pseudo-header such as
    /// `ALL` or `ToCc`) that no field of the message has.
    fn plainly_absent(&self, request: &str) -> bool {
        // A byte loop: `split(':')`'s searcher set-up cost more than these
        // short names (~200 requests a message).
        let name = &request[..request
            .bytes()
            .position(|b| b == b':')
            .unwrap_or(request.len())];
        const PSEUDO: [&str; 11] = [
            "all",
            "all-trusted",
            "all-internal",
            "all-untrusted",
            "all-external",
            "envelopefrom",
            "x-spam-relays-untrusted",
            "x-spam-relays-trusted",
            "x-spam-relays-external",
            "x-spam-relays-internal",
            "tocc",
        ];
        name != "MESSAGEID"
            && !PSEUDO.iter().any(|p| name.eq_ignore_ascii_case(p))
            && !self.exists(name)
    }

    /// Decoded value of a header as a string ("" when absent).
    pub fn get_str(&self, request: &str) -> String {
        self.get_ref(request)
            .map_or_else(String::new, |v| super::msg::lossy(&v).into_owned())
    }

    fn get_uncached(&self, request: &str) -> Option<Vec<u8>> {
        let mut it = request.split(':');
        let name = it.next().unwrap_or("");
        let mods: Vec<&str> = it.collect();
        let has = |m: &str| mods.contains(&m);
        let (raw, addr, dname) = (has("raw"), has("addr"), has("name"));
        let needraw = raw || addr || dname;
        let lname = name.to_ascii_lowercase();
        let mut results: Vec<Vec<u8>> = match lname.as_str() {
            "all" => {
                if raw {
                    vec![self.data[..self.header_len].to_vec()]
                } else {
                    self.fields.iter().map(field_line).collect()
                }
            }
            "all-trusted" => {
                self.hdrs_in_rcvd_range(None, Some(self.relays.last_trusted_index + 1))
            }
            "all-internal" => {
                self.hdrs_in_rcvd_range(None, Some(self.relays.last_internal_index + 1))
            }
            "all-untrusted" => {
                self.hdrs_in_rcvd_range(Some(self.relays.last_trusted_index + 1), None)
            }
            "all-external" => {
                self.hdrs_in_rcvd_range(Some(self.relays.last_internal_index + 1), None)
            }
            "envelopefrom" => self.envelope_from_value().into_iter().collect(),
            "x-spam-relays-untrusted" => vec![self.relays.untrusted_str().into_bytes()],
            "x-spam-relays-trusted" => vec![self.relays.trusted_str().into_bytes()],
            "x-spam-relays-external" => vec![self.relays.external_str().into_bytes()],
            "x-spam-relays-internal" => vec![self.relays.internal_str().into_bytes()],
            "tocc" => {
                let mut v = self.values("To", raw);
                v.extend(self.values("Cc", raw));
                v
            }
            _ if name == "MESSAGEID" => {
                let mut v = Vec::new();
                for h in [
                    "X-Message-Id",
                    "Resent-Message-Id",
                    "X-Original-Message-ID",
                    "Message-Id",
                ] {
                    v.extend(self.values(h, raw).into_iter().filter(|x| !x.is_empty()));
                }
                v
            }
            _ => self.values(name, needraw),
        };
        if results.is_empty() {
            return None;
        }
        if has("first") {
            results.truncate(1);
        } else if has("last") {
            let l = results.pop();
            results = l.into_iter().collect();
        }
        if addr || dname {
            let mut out = Vec::new();
            for line in &results {
                for (phrase, address) in parse_addresses(line) {
                    if addr {
                        if let Some(a) = address {
                            out.push(a);
                        }
                    } else if let Some(p) = phrase {
                        let d = if raw { p } else { msg::decode_2047(&p) };
                        let s = super::msg::lossy(&d);
                        let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
                        let s = s
                            .strip_prefix('\'')
                            .and_then(|x| x.strip_suffix('\''))
                            .unwrap_or(&s)
                            .to_string();
                        out.push(s.into_bytes());
                    }
                }
            }
            // Scalar context returns the first one only.
            return out.into_iter().next();
        }
        if lname == "envelopefrom" {
            return results.into_iter().next();
        }
        Some(results.concat())
    }

    /// `get_all_hdrs_in_rcvd_index_range` with both ends included, on the
    /// decoded `Name: value` lines.
    fn hdrs_in_rcvd_range(&self, start: Option<i64>, end: Option<i64>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cur: i64 = -1;
        for f in &self.fields {
            if f.name.eq_ignore_ascii_case("received") {
                cur += 1;
            }
            if start.is_none_or(|s| s <= cur) && end.is_none_or(|e| cur < e) {
                out.push(field_line(f));
            } else if end == Some(cur) {
                out.push(field_line(f));
                break;
            }
        }
        out
    }

    /// `get_envelope_from`: the MTA's envelope sender, else a header that
    /// records it.
    fn envelope_from_value(&self) -> Option<Vec<u8>> {
        if let Some(e) = &self.envelope_from {
            return Some(e.clone().into_bytes());
        }
        super::evalfns_header::sa_envelope_from(self)
    }
}

/// `Name: decoded value\n`, allocated once at its final size.
fn field_line(f: &Field) -> Vec<u8> {
    let mut v = Vec::with_capacity(f.name.len() + f.decoded.len() + 3);
    v.extend_from_slice(f.name.as_bytes());
    v.extend_from_slice(b": ");
    v.extend_from_slice(&f.decoded);
    v.push(b'\n');
    v
}

/// `s/\r?\n\s+/ /g` on a raw value (leading space after the colon kept).
fn unfold_raw(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\n' && i + 1 < raw.len() && raw[i + 1].is_ascii_whitespace() {
            i += 1;
            while i < raw.len() && raw[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(b' ');
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// Split an address header into (display phrase, address) pairs, like
/// `Util::parse_header_addresses` for the usual forms.
/// (display phrase, address) of one mailbox.
pub type AddrPair = (Option<Vec<u8>>, Option<Vec<u8>>);

pub fn parse_addresses(line: &[u8]) -> Vec<AddrPair> {
    let s = line;
    let mut out = Vec::new();
    // Each item is a range of `line`: it starts after a separator or a
    // group name's colon, so no byte is copied to split the list.
    let mut items: Vec<&[u8]> = Vec::new();
    let (mut start, mut q, mut angle, mut paren) = (0, false, false, 0i32);
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'"' if paren == 0 => q = !q,
            b'<' if !q && paren == 0 => angle = true,
            b'>' if !q && paren == 0 => angle = false,
            b'(' if !q => paren += 1,
            b')' if !q && paren > 0 => paren -= 1,
            b',' | b';' if !q && !angle && paren == 0 => {
                items.push(&s[start..i]);
                start = i + 1;
            }
            b':' if !q && !angle && paren == 0 && !s[start..i].contains(&b'@') => {
                // group name: drop it
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&s[start..]);
    for it in items {
        let t = msg::trim_ws(it);
        if t.is_empty() {
            continue;
        }
        if let (Some(a), Some(b)) = (
            t.iter().position(|&c| c == b'<'),
            t.iter().rposition(|&c| c == b'>'),
        ) && a < b
        {
            let addr = msg::trim_ws(&t[a + 1..b]).to_vec();
            let ph = msg::trim_ws(&t[..a]);
            let ph = ph
                .strip_prefix(b"\"")
                .and_then(|x| x.strip_suffix(b"\""))
                .unwrap_or(ph);
            out.push((
                (!ph.is_empty()).then(|| ph.to_vec()),
                (!addr.is_empty()).then_some(addr),
            ));
            continue;
        }
        // bare address with optional (comment)
        let mut addr = Vec::new();
        let mut comment = Vec::new();
        let mut depth = 0;
        for &c in t {
            match c {
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                _ if depth > 0 => comment.push(c),
                _ => addr.push(c),
            }
        }
        let a = msg::trim_ws(&addr).to_vec();
        let cm = msg::trim_ws(&comment).to_vec();
        out.push(((!cm.is_empty()).then_some(cm), (!a.is_empty()).then_some(a)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items split at top-level `,`/`;` only; a group name is dropped,
    /// a colon after an `@` is not a group.
    #[test]
    fn addresses_split_and_groups() {
        let v = parse_addresses(b"Team: \"A, B\" <a@x.example>, c@y.example (C; x);, u@h:1;");
        let s = |o: &Option<Vec<u8>>| o.as_deref().map(|b| super::msg::lossy(b).into_owned());
        let got: Vec<_> = v.iter().map(|(p, a)| (s(p), s(a))).collect();
        let o = |x: &str| Some(x.to_string());
        assert_eq!(
            got,
            vec![
                (o("A, B"), o("a@x.example")),
                (o("C; x"), o("c@y.example")),
                (None, o("u@h:1")),
            ]
        );
    }

    #[test]
    fn get_with_modifiers() {
        let m = b"From: \"Joe X\" <joe@example.com>\nTo: a@b.example, C <c@d.example>\nX-A: 1\nX-A: 2\nSubject: =?utf-8?q?hi?=\n\nbody\n";
        let c = Ctx::new(m, None);
        assert_eq!(c.get("From:addr").unwrap(), b"joe@example.com");
        assert_eq!(c.get("From:name").unwrap(), b"Joe X");
        assert_eq!(c.get("X-A").unwrap(), b"1\n2\n");
        assert_eq!(c.get("Subject").unwrap(), b"hi\n");
        assert_eq!(c.get("Subject:raw").unwrap(), b" =?utf-8?q?hi?=\n");
        assert_eq!(c.get("ToCc:addr").unwrap(), b"a@b.example");
        assert!(c.get("Cc").is_none());
        let all = c.get("ALL").unwrap();
        assert!(all.starts_with(b"From: \"Joe X\" <joe@example.com>\nTo: "));
        assert!(all.ends_with(b"X-A: 2\nSubject: hi\n"));
    }
}
