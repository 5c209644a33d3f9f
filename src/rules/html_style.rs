//! The text-style stack of `HTML.pm` (`text_style`, `close_tag`,
//! `close_table_tag`, `html_font_invisible`), reduced to what decides
//! `font_low_contrast`: foreground and background colours per open element.

use std::collections::HashMap;

#[derive(Debug, Clone)]
struct Style {
    tag: String,
    fg: Option<[u8; 3]>,
    bg: Option<[u8; 3]>,
}

/// Open styled elements, innermost last.
#[derive(Debug)]
pub struct StyleStack {
    stack: Vec<Style>,
}

impl Default for StyleStack {
    fn default() -> Self {
        StyleStack {
            stack: vec![Style {
                tag: String::new(),
                fg: Some([0, 0, 0]),
                bg: Some([255, 255, 255]),
            }],
        }
    }
}

/// Elements that change text style (`%elements_text_style`).
pub fn is_style_tag(tag: &str) -> bool {
    matches!(
        tag,
        "body"
            | "font"
            | "table"
            | "tr"
            | "th"
            | "td"
            | "big"
            | "small"
            | "basefont"
            | "marquee"
            | "span"
            | "p"
            | "div"
            | "a"
    )
}

impl StyleStack {
    /// An element opened (`text_style` with `$num == 1`).
    pub fn open(&mut self, tag: &str, attrs: &HashMap<String, String>) {
        let tag = if tag == "th" { "td" } else { tag };
        if tag == "basefont" {
            return; // only changes the base size
        }
        if tag == "td" || tag == "tr" {
            self.close_table_tag(tag);
        }
        let mut new = self.stack.last().cloned().unwrap_or_else(|| Style {
            tag: String::new(),
            fg: None,
            bg: None,
        });
        new.tag = tag.to_string();
        for (name, value) in attrs {
            let ok = match tag {
                "body" => name == "text",
                "font" => name == "color",
                "table" | "td" | "tr" | "span" | "p" | "div" | "a" => name == "style",
                _ => false,
            };
            if !ok {
                continue;
            }
            if name == "style" {
                self.apply_css(&mut new, value);
            } else {
                // `text`/`color`; `bgcolor` attributes never reach the
                // style in HTML.pm (it only rewrites the attribute).
                new.fg = name_to_rgb(value);
            }
        }
        self.stack.push(new);
    }

    fn apply_css(&self, new: &mut Style, css: &str) {
        let parent_bg = self.stack.last().and_then(|s| s.bg);
        let mut transparent_fg = false;
        for part in css.split(';') {
            let p = part.trim();
            let lower = p.to_ascii_lowercase();
            let (bgp, rest) = if let Some(r) = lower.strip_prefix("background-color:") {
                (true, r)
            } else if let Some(r) = lower.strip_prefix("color:") {
                (false, r)
            } else if let Some(r) = lower.strip_prefix("background:") {
                if let Some(c) = r.split_whitespace().rev().find_map(name_to_rgb) {
                    new.bg = Some(c);
                }
                continue;
            } else {
                continue;
            };
            let v = rest.trim().trim_end_matches("!important").trim();
            let c = if v.contains("rgb") {
                let nums: Vec<u32> = v
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == ',')
                    .collect::<String>()
                    .split(',')
                    .map(|x| x.parse().unwrap_or(0).min(255))
                    .collect();
                Some([0, 1, 2].map(|i| nums.get(i).copied().unwrap_or(0) as u8))
            } else if v == "inherit" {
                continue;
            } else if v == "transparent" {
                if bgp {
                    new.bg = parent_bg;
                } else {
                    transparent_fg = true;
                }
                continue;
            } else {
                name_to_rgb(v)
            };
            if bgp {
                new.bg = c;
            } else {
                new.fg = c;
            }
        }
        if transparent_fg {
            new.fg = new.bg;
        }
    }

    /// An element closed (`close_tag`); `</body>` is ignored as in HTML.pm.
    pub fn close(&mut self, tag: &str) {
        let tag = if tag == "th" { "td" } else { tag };
        if tag == "body" || !self.stack.iter().any(|s| s.tag == tag) {
            return;
        }
        while self.stack.len() > 1 {
            let s = self.stack.pop();
            if s.is_some_and(|s| s.tag == tag) {
                break;
            }
        }
    }

    fn close_table_tag(&mut self, tag: &str) {
        if !self.stack.iter().any(|s| s.tag == tag) {
            return;
        }
        while self.stack.len() > 1 {
            let top = self.stack.last().map(|s| s.tag.as_str()).unwrap_or("");
            let pop = (tag == "td" && (top == "font" || top == "td"))
                || (tag == "tr" && matches!(top, "font" | "td" | "tr"));
            if !pop {
                break;
            }
            self.stack.pop();
        }
    }

    /// Would visible text now be in a colour too close to its background?
    pub fn low_contrast(&self) -> bool {
        let Some(s) = self.stack.last() else {
            return false;
        };
        let (Some(fg), Some(bg)) = (s.fg, s.bg) else {
            return false;
        };
        let d = |i: usize| f64::from(fg[i]) - f64::from(bg[i]);
        let dist =
            ((0.2126 * d(0)).powi(2) + (0.7152 * d(1)).powi(2) + (0.0722 * d(2)).powi(2)).sqrt();
        fg == bg || dist < 12.0
    }
}

/// `HTML.pm::name_to_rgb` for names and `#hex` forms; `None` when invalid
/// (or a colour name this table lacks).
pub fn name_to_rgb(color: &str) -> Option<[u8; 3]> {
    let c = color.trim().to_ascii_lowercase();
    let named = match c.as_str() {
        "black" => Some(0x000000),
        "white" => Some(0xffffff),
        "red" => Some(0xff0000),
        "green" => Some(0x008000),
        "blue" => Some(0x0000ff),
        "yellow" => Some(0xffff00),
        "gray" | "grey" => Some(0x808080),
        "silver" => Some(0xc0c0c0),
        "maroon" => Some(0x800000),
        "navy" => Some(0x000080),
        "purple" => Some(0x800080),
        "teal" => Some(0x008080),
        "olive" => Some(0x808000),
        "lime" => Some(0x00ff00),
        "aqua" | "cyan" => Some(0x00ffff),
        "fuchsia" | "magenta" => Some(0xff00ff),
        "orange" => Some(0xffa500),
        _ => None,
    };
    if let Some(v) = named {
        return Some([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let hex = c.strip_prefix('#')?;
    let mut h: String = hex.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    if h.len() > 6 {
        h.truncate(6);
    }
    if h.len() > 3 && h.len() < 6 {
        h.truncate(3);
    }
    while !h.len().is_multiple_of(3) || h.is_empty() {
        h.push('0');
    }
    if h.len() == 3 {
        h = h.chars().flat_map(|c| [c, c]).collect();
    }
    let v = u32::from_str_radix(&h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_contrast() {
        assert_eq!(name_to_rgb("#FFF"), Some([255, 255, 255]));
        assert_eq!(name_to_rgb("003399"), None, "hex without # is invalid");
        let mut s = StyleStack::default();
        let attrs: HashMap<String, String> = [("color".to_string(), "#FFFFFF".to_string())].into();
        s.open("font", &attrs);
        assert!(s.low_contrast(), "white on the default white");
        s.close("font");
        assert!(!s.low_contrast());
    }
}
