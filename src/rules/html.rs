//! A small HTML renderer modelled on SpamAssassin's `HTML.pm`: the rendered
//! text body rules see, plus the facts the HTMLEval functions read.
//!
//! Simplified: no CSS/colour analysis (invisible text and low contrast are
//! not detected), entity decoding covers the common entities.

use std::collections::HashMap;

use super::html_style::{StyleStack, is_style_tag};
use super::html_text::{decode_entities, font_face_ok};

/// Known HTML elements (`%elements` in HTML.pm).
const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "acronym",
    "address",
    "area",
    "b",
    "base",
    "bdo",
    "big",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "fieldset",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "html",
    "i",
    "img",
    "input",
    "ins",
    "kbd",
    "label",
    "legend",
    "li",
    "link",
    "map",
    "meta",
    "noscript",
    "object",
    "ol",
    "optgroup",
    "option",
    "p",
    "param",
    "pre",
    "q",
    "samp",
    "script",
    "select",
    "small",
    "span",
    "strong",
    "style",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "tt",
    "ul",
    "var",
    "applet",
    "basefont",
    "center",
    "dir",
    "font",
    "frame",
    "frameset",
    "iframe",
    "isindex",
    "menu",
    "noframes",
    "s",
    "strike",
    "u",
    "nobr",
    "x-sigsep",
    "x-tab",
];
const TRICKS: &[&str] = &["bgsound", "embed", "listing", "plaintext", "xmp"];

/// Results of rendering one HTML part (`$html->get_results()`).
#[derive(Debug, Default, Clone)]
pub struct HtmlResults {
    pub text: Vec<u8>,
    pub nums: HashMap<&'static str, f64>,
    pub comment: Vec<Vec<u8>>,
    pub title: Vec<Vec<u8>>,
    pub anchor: Vec<Vec<u8>>,
    pub script: Vec<Vec<u8>>,
    pub inside: HashMap<String, i64>,
    pub uris: Vec<String>,
    pub image_area: f64,
    pub length: usize,
    pub charsets: Vec<String>,
}

struct State {
    r: HtmlResults,
    pieces: Vec<(Vec<u8>, bool)>, // (text, is_whitespace)
    tags: usize,
    tags_seen: usize,
    elements: usize,
    elements_seen: usize,
    closed_extra: usize,
    obfuscation: usize,
    in_anchor: bool,
    max_size: f64,
    min_size: f64,
    basefont: f64,
    style: StyleStack,
}

/// Render `html` (decoded bytes of a text/html part).
pub fn render(html: &[u8]) -> HtmlResults {
    let mut st = State {
        r: HtmlResults::default(),
        pieces: Vec::new(),
        tags: 0,
        tags_seen: 0,
        elements: 0,
        elements_seen: 0,
        closed_extra: 0,
        obfuscation: 0,
        in_anchor: false,
        max_size: 3.0,
        min_size: 3.0,
        basefont: 3.0,
        style: StyleStack::default(),
    };
    // HTML.pm counts characters (the part is decoded to Unicode first).
    st.r.length = super::msg::lossy(html).chars().count();
    let src = preprocess(html);
    let b = &src[..];
    let mut i = 0;
    let mut text_start = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied().unwrap_or(0);
        let is_tag = next.is_ascii_alphabetic()
            || next == b'!'
            || next == b'?'
            || (next == b'/' && b.get(i + 2).is_some_and(|c| c.is_ascii_alphabetic()));
        if !is_tag {
            i += 1;
            continue;
        }
        if text_start < i {
            st.text(&b[text_start..i]);
        }
        if b[i..].starts_with(b"<!--") {
            let end = find_from(b, i + 4, b"-->").map_or(b.len(), |e| e + 3);
            st.r.comment.push(b[i..end].to_vec());
            i = end;
        } else if next == b'!' || next == b'?' {
            let end = find_from(b, i, b">").map_or(b.len(), |e| e + 1);
            if next == b'!' {
                st.r.comment.push(b[i..end].to_vec());
            }
            i = end;
        } else {
            let end = tag_end(b, i + 1);
            st.tag(&b[i + 1..end.min(b.len())]);
            i = (end + 1).min(b.len());
            // Skip raw text of script/style.
            for raw in ["script", "style"] {
                if st.r.inside.get(raw).copied().unwrap_or(0) > 0 {
                    let close = format!("</{raw}");
                    let e = find_ci(b, i, close.as_bytes()).unwrap_or(b.len());
                    if raw == "script" {
                        st.r.script.push(b[i..e].to_vec());
                    }
                    i = e;
                }
            }
        }
        text_start = i;
    }
    if text_start < b.len() {
        st.text(&b[text_start..]);
    }
    st.finish()
}

fn preprocess(html: &[u8]) -> Vec<u8> {
    // `&nbsp;` → space, `<br/>` → `<br>` (HTML.pm::parse)
    let mut out = Vec::with_capacity(html.len());
    let mut i = 0;
    while i < html.len() {
        if html[i..].starts_with(b"&nbsp;") {
            out.push(b' ');
            i += 6;
            continue;
        }
        out.push(html[i]);
        i += 1;
    }
    out
}

fn find_from(h: &[u8], from: usize, n: &[u8]) -> Option<usize> {
    super::msg::find(&h[from.min(h.len())..], n).map(|p| p + from)
}

fn find_ci(h: &[u8], from: usize, n: &[u8]) -> Option<usize> {
    let h2 = &h[from.min(h.len())..];
    h2.windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
        .map(|p| p + from)
}

/// Index of the `>` closing a tag, honouring quoted attribute values.
fn tag_end(b: &[u8], mut i: usize) -> usize {
    let mut quote = 0u8;
    while i < b.len() {
        let c = b[i];
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'"' || c == b'\'' {
            // Only a quote right after `=` opens a value.
            if i > 0 && b[i - 1] == b'=' {
                quote = c;
            }
        } else if c == b'>' {
            return i;
        }
        i += 1;
    }
    b.len()
}

fn parse_attrs(s: &[u8]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && (s[i].is_ascii_whitespace() || s[i] == b'/') {
            i += 1;
        }
        let ns = i;
        while i < s.len() && !s[i].is_ascii_whitespace() && s[i] != b'=' && s[i] != b'/' {
            i += 1;
        }
        if ns == i {
            i += 1;
            continue;
        }
        let name = super::msg::lossy(&s[ns..i]).to_ascii_lowercase();
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut val = String::new();
        if i < s.len() && s[i] == b'=' {
            i += 1;
            while i < s.len() && s[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < s.len() && (s[i] == b'"' || s[i] == b'\'') {
                let q = s[i];
                let vs = i + 1;
                i = vs;
                while i < s.len() && s[i] != q {
                    i += 1;
                }
                val = super::msg::lossy(&decode_entities(&s[vs..i])).into_owned();
                i += 1;
            } else {
                let vs = i;
                while i < s.len() && !s[i].is_ascii_whitespace() {
                    i += 1;
                }
                val = super::msg::lossy(&decode_entities(&s[vs..i])).into_owned();
            }
        }
        m.entry(name).or_insert(val);
    }
    m
}

fn is_punct_or_space(c: u8) -> bool {
    c.is_ascii_whitespace()
        || (0x21..=0x2f).contains(&c)
        || (0x3a..=0x40).contains(&c)
        || (0x5b..=0x60).contains(&c)
        || (0x7b..=0x7e).contains(&c)
}

impl State {
    fn display(&mut self, text: &[u8], whitespace: bool) {
        if whitespace {
            if let Some((last, ws)) = self.pieces.last_mut()
                && !*ws
                && last.last() == Some(&b' ')
            {
                last.pop();
            }
            self.pieces.push((text.to_vec(), true));
            return;
        }
        // Collapse whitespace runs (and UTF-8 NBSP) to one space.
        let mut t = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            let is_ws = matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b)
                || (c == 0xc2 && text.get(i + 1) == Some(&0xa0));
            if is_ws {
                let mut j = i;
                loop {
                    if j < text.len()
                        && matches!(text[j], b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b)
                    {
                        j += 1;
                    } else if text[j..].starts_with(&[0xc2, 0xa0]) {
                        j += 2;
                    } else {
                        break;
                    }
                }
                t.push(b' ');
                i = j;
            } else {
                t.push(c);
                i += 1;
            }
        }
        if self.pieces.last().is_some_and(|p| p.1) && t.first() == Some(&b' ') {
            t.remove(0);
        }
        self.pieces.push((t, false));
    }

    fn text(&mut self, raw: &[u8]) {
        let text = decode_entities(raw);
        let visible = text
            .iter()
            .any(|&c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0c | 0x0b | 0xc2 | 0xa0));
        if visible && self.style.low_contrast() {
            self.r.nums.insert("font_low_contrast", 1.0);
        }
        if self.in_anchor
            && let Some(a) = self.r.anchor.last_mut()
        {
            a.extend_from_slice(&text);
        }
        if self.r.inside.get("title").copied().unwrap_or(0) > 0
            && let Some(t) = self.r.title.last_mut()
        {
            t.extend_from_slice(&text);
        }
        if let Some((last, _)) = self.pieces.last()
            && text.first().is_some_and(|&c| !is_punct_or_space(c))
            && last.last().is_some_and(|&c| !is_punct_or_space(c))
        {
            self.obfuscation += 1;
        }
        self.display(&text, false);
    }

    fn tag(&mut self, body: &[u8]) {
        let (close, body) = match body.strip_prefix(b"/") {
            Some(b) => (true, b),
            None => (false, body),
        };
        let name_end = body
            .iter()
            .position(|c| c.is_ascii_whitespace() || *c == b'/')
            .unwrap_or(body.len());
        let name = super::msg::lossy(&body[..name_end]).to_ascii_lowercase();
        let num: i64 = if close { -1 } else { 1 };
        let known = ELEMENTS.contains(&name.as_str());
        let seen = self.r.inside.contains_key(&name);
        if known {
            self.elements += 1;
            if !seen {
                self.elements_seen += 1;
            }
        }
        self.tags += 1;
        if !seen {
            self.tags_seen += 1;
        }
        let e = self.r.inside.entry(name.clone()).or_insert(0);
        *e += num;
        if *e < 0 {
            *e = 0;
            self.closed_extra += 1;
        }
        if !(known || TRICKS.contains(&name.as_str())) {
            return;
        }
        match name.as_str() {
            "br" | "div" => self.display(b"\n", true),
            "li" | "th" | "td" | "dt" | "dd" | "embed" | "h1" | "h2" | "h3" | "h4" | "h5"
            | "h6" => self.display(b" ", true),
            "p" | "hr" | "blockquote" | "pre" | "listing" | "plaintext" | "xmp" | "title" => {
                self.display(b"\n\n", true)
            }
            _ => {}
        }
        if close {
            if name == "a" {
                self.in_anchor = false;
            }
            if is_style_tag(&name) {
                self.style.close(&name);
            }
            return;
        }
        let attrs = parse_attrs(&body[name_end..]);
        if is_style_tag(&name) {
            self.style.open(&name, &attrs);
        }
        self.uris(&name, &attrs);
        match name.as_str() {
            "a" => {
                self.in_anchor = true;
                self.r.anchor.push(Vec::new());
            }
            "title" => self.r.title.push(Vec::new()),
            "img" => {
                if self.in_anchor
                    && let Some(a) = self.r.anchor.last_mut()
                {
                    a.extend_from_slice(b"<img>\n");
                }
                if let (Some(w), Some(h)) = (attrs.get("width"), attrs.get("height")) {
                    let dim = |v: &str, pct: f64| -> f64 {
                        let v = v.trim();
                        let (n, p) = match v.strip_suffix('%') {
                            Some(n) => (n, true),
                            None => (v, false),
                        };
                        match n.parse::<f64>() {
                            Ok(x) if n.bytes().all(|c| c.is_ascii_digit()) => {
                                if p {
                                    x * pct
                                } else {
                                    x
                                }
                            }
                            _ => 0.0,
                        }
                    };
                    let mut wv = dim(w, 8.0);
                    let mut hv = dim(h, 6.0);
                    if wv <= 0.0 {
                        wv = 200.0;
                    }
                    if hv <= 0.0 {
                        hv = 200.0;
                    }
                    self.r.image_area += wv * hv;
                }
            }
            "font" => {
                if let Some(face) = attrs.get("face")
                    && !font_face_ok(face)
                {
                    self.r.nums.insert("font_face_bad", 1.0);
                }
                if let Some(sz) = attrs.get("size") {
                    // /^\s*([+-]\d+)/ relative to basefont, /^\s*(\d+)/ absolute
                    let sz = sz.trim_start();
                    let digits = |t: &str| -> Option<f64> {
                        let d: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
                        d.parse().ok()
                    };
                    let v = if let Some(r) = sz.strip_prefix('+') {
                        digits(r).map(|x| self.basefont + x)
                    } else if let Some(r) = sz.strip_prefix('-') {
                        digits(r).map(|x| self.basefont - x)
                    } else {
                        digits(sz)
                    };
                    if let Some(v) = v {
                        if v > self.max_size {
                            self.max_size = v;
                        } else if v < self.min_size {
                            self.min_size = v;
                        }
                    }
                }
            }
            "basefont" => {
                if let Some(sz) = attrs.get("size") {
                    let d: String = sz
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if let Ok(v) = d.parse() {
                        self.basefont = v;
                    }
                }
            }
            "form"
                if attrs
                    .get("action")
                    .is_some_and(|a| a.to_ascii_lowercase().contains("mailto:")) =>
            {
                self.r.nums.insert("form_action_mailto", 1.0);
            }
            "object" | "embed" => {
                self.r.nums.insert("embeds", 1.0);
            }
            "meta" => {
                if let (Some(he), Some(c)) = (attrs.get("http-equiv"), attrs.get("content")) {
                    let cl = c.to_ascii_lowercase();
                    if he.eq_ignore_ascii_case("content-type")
                        && let Some(p) = cl.find("charset")
                    {
                        let cs = cl[p + 7..]
                            .trim_start_matches([' ', '='])
                            .trim_matches(['"', '\'']);
                        self.r.charsets.push(cs.to_string());
                    }
                }
            }
            _ => {}
        }
    }

    fn uris(&mut self, tag: &str, attrs: &HashMap<String, String>) {
        let keys: &[&str] = match tag {
            "a" | "area" | "link" | "base" => &["href"],
            "img" | "frame" | "iframe" | "embed" | "script" | "bgsound" => &["src"],
            "form" => &["action"],
            "body" | "table" | "tr" | "td" => &["background"],
            _ => &[],
        };
        for k in keys {
            if let Some(v) = attrs.get(*k) {
                let v = v.trim();
                if !v.is_empty() {
                    self.r.uris.push(v.to_string());
                }
            }
        }
    }

    fn finish(mut self) -> HtmlResults {
        self.r.text = self
            .pieces
            .iter()
            .flat_map(|p| p.0.iter().copied())
            .collect();
        let n = &mut self.r.nums;
        n.insert("html", 1.0);
        n.insert("image_area", self.r.image_area);
        n.insert("length", self.r.length as f64);
        n.insert("max_size", self.max_size);
        n.insert("min_size", self.min_size);
        if self.tags > 0 {
            let t = self.tags as f64;
            n.insert("closed_extra_ratio", self.closed_extra as f64 / t);
            n.insert("bad_tag_ratio", (self.tags - self.elements) as f64 / t);
            n.insert("obfuscation_ratio", self.obfuscation as f64 / t);
        }
        if self.tags_seen > 0 {
            n.insert(
                "non_element_ratio",
                (self.tags_seen - self.elements_seen) as f64 / self.tags_seen as f64,
            );
        }
        self.r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks_and_entities() {
        let r = render(b"<html><head><title>T</title><style>x{}</style></head><body><p>Hello&amp;bye<br>next <a href=\"http://x.example/\">link</a></body></html>");
        let t = String::from_utf8_lossy(&r.text);
        assert!(t.contains("Hello&bye\nnext link"), "{t:?}");
        assert!(!t.contains("x{}"));
        assert_eq!(r.uris, vec!["http://x.example/"]);
        assert_eq!(r.anchor[0], b"link");
    }
}
