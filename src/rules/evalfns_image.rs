//! The ImageInfo plugin (SpamAssassin 4.0.1): size, count and pixel area
//! of base64 GIF/PNG/JPEG parts, read from the image headers as the Perl does.

use std::collections::{BTreeMap, BTreeSet};

use super::ctx::Ctx;
use super::msg::parse_ctype;
use super::parse::RuleKind;

/// `$pms->{imageinfo}`: per type (`gif`, `png`, `jpeg`, `all`) the pixel
/// area, the part count and the "HxW" sizes seen; plus all image names.
#[derive(Debug, Default)]
pub struct ImageInfo {
    pc: BTreeMap<String, f64>,
    count: BTreeMap<String, f64>,
    dems: BTreeMap<String, BTreeSet<(u64, u64)>>,
    names: BTreeSet<String>,
}

const TYPES: [&str; 3] = ["gif", "png", "jpeg"];

fn be16(d: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn be32(d: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?) as u64)
}

/// (height, width) from a GIF's logical screen descriptor.
fn gif_size(d: &[u8]) -> Option<(u64, u64)> {
    if !(d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a")) {
        return None;
    }
    let le16 = |at: usize| Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?) as u64);
    Some((le16(8)?, le16(6)?))
}

/// (height, width) from a PNG's IHDR. Like the Perl, a non-IHDR chunk
/// advances only past its 8-byte header (IHDR is always first anyway).
fn png_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    let mut pos = 8;
    while pos + 8 <= d.len() {
        let len = be32(d, pos)?;
        let ty = &d[pos + 4..pos + 8];
        pos += 8;
        if ty == b"IEND" {
            break;
        }
        if ty == b"IHDR" && len == 13 {
            return Some((be32(d, pos + 4)?, be32(d, pos)?));
        }
    }
    None
}

/// (height, width) from a JPEG's first SOFn marker.
fn jpeg_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\xff\xd8") {
        return None;
    }
    let mut pos = 2;
    loop {
        let (xx, mark, len) = (*d.get(pos)?, *d.get(pos + 1)?, be16(d, pos + 2)?);
        if xx != 0xff || mark == 0xda || mark == 0xd9 || len < 2 {
            return None;
        }
        pos += 4;
        let sof = matches!(mark, 0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf);
        if sof {
            return Some((be16(d, pos + 1)?, be16(d, pos + 3)?));
        }
        pos += (len as usize - 2).min(d.len().saturating_sub(pos));
    }
}

/// `_get_images`.
fn collect(ctx: &Ctx) -> ImageInfo {
    let mut info = ImageInfo::default();
    for t in TYPES.iter().chain(["all"].iter()) {
        info.pc.insert(t.to_string(), 0.0);
        info.count.insert(t.to_string(), 0.0);
    }
    for p in &ctx.parts {
        let ty = match p.ctype.as_str() {
            "image/gif" => "gif",
            "image/png" => "png",
            "image/jpeg" | "image/jpg" => "jpeg",
            _ => continue,
        };
        let cte = p
            .header("Content-Transfer-Encoding")
            .map(|v| super::msg::lossy(v).trim().to_ascii_lowercase())
            .unwrap_or_default();
        if cte != "base64" {
            continue;
        }
        let size = match ty {
            "gif" => gif_size(&p.decoded),
            "png" => png_size(&p.decoded),
            _ => jpeg_size(&p.decoded),
        };
        if let Some((h, w)) = size.filter(|(h, w)| *h > 0 && *w > 0) {
            *info.pc.entry(ty.into()).or_default() += (h * w) as f64;
            info.dems.entry(ty.into()).or_default().insert((h, w));
            if let Some(n) = part_name(p) {
                info.names.insert(n);
            }
        }
        *info.count.entry(ty.into()).or_default() += 1.0;
    }
    for t in TYPES {
        let (pc, n) = (info.pc[t], info.count[t]);
        *info.pc.get_mut("all").expect("set above") += pc;
        *info.count.get_mut("all").expect("set above") += n;
        let d = info.dems.get(t).cloned().unwrap_or_default();
        info.dems.entry("all".into()).or_default().extend(d);
    }
    info
}

/// The part's name as `Message::_parse_normal` finds it: a `name=` in
/// Content-Disposition (which also catches `filename=`), else the
/// Content-Type name parameter.
fn part_name(p: &super::msg::Part) -> Option<String> {
    let cd = super::msg::lossy(p.header("Content-Disposition").unwrap_or_default());
    let lower = cd.to_ascii_lowercase();
    if let Some(i) = lower.find("name=") {
        let rest = cd[i + 5..].trim_start();
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        let n: String = rest
            .chars()
            .take_while(|c| *c != '"' && *c != ';')
            .collect();
        if !n.is_empty() {
            return Some(n);
        }
    }
    let ct = p.header("Content-Type")?;
    let (_, params) = parse_ctype(ct);
    params
        .into_iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// `result_check`: min ≤ value ≤ max (max excluded when `no_max_equal`).
fn result_check(min: f64, max: Option<f64>, value: Option<f64>, no_max_equal: bool) -> bool {
    let Some(v) = value else { return false };
    !(v < min || max.is_some_and(|m| v > m) || (no_max_equal && Some(v) == max))
}

/// The ImageInfo eval functions; `None` for any other name.
pub fn call(ctx: &Ctx, kind: RuleKind, func: &str, args: &[String]) -> Option<bool> {
    if !matches!(
        func,
        "image_count"
            | "pixel_coverage"
            | "image_size_exact"
            | "image_size_range"
            | "image_named"
            | "image_name_regex"
            | "image_to_text_ratio"
    ) {
        return None;
    }
    // Recomputed per rule: only image parts cost anything, and ctx.rs
    // (another module's file) has no slot for it.
    let info = &collect(ctx);
    let s = |i: usize| args.get(i).map(String::as_str);
    let n = |i: usize| s(i).and_then(|v| v.trim().parse::<f64>().ok());
    let ty = s(0).unwrap_or("");
    Some(match func {
        "image_named" => s(0).is_some_and(|name| info.names.contains(name)),
        "image_name_regex" => {
            // `$name =~ /$re/`; a /delimited/ argument is taken as such.
            let Some(arg) = s(0) else { return Some(false) };
            let delimited = arg.starts_with('/')
                || (arg.starts_with('m')
                    && arg[1..].starts_with(|c: char| c.is_ascii_punctuation()));
            let re = if delimited {
                super::regex::PerlRegex::from_delimited(arg)
            } else {
                super::regex::PerlRegex::new(arg, "")
            };
            re.is_ok_and(|re| info.names.iter().any(|n| re.is_match(n.as_bytes())))
        }
        "image_count" => {
            n(1).is_some_and(|min| result_check(min, n(2), info.count.get(ty).copied(), false))
        }
        "pixel_coverage" => {
            n(1).is_some_and(|min| result_check(min, n(2), info.pc.get(ty).copied(), false))
        }
        "image_to_text_ratio" => {
            let (Some(min), Some(max)) = (n(1), n(2)) else {
                return Some(false);
            };
            let body = match kind {
                RuleKind::RawbodyEval => &ctx.bodies.rawbody,
                _ => &ctx.bodies.body_lines,
            };
            let textlen: usize = body.iter().map(Vec::len).sum();
            let pc = info.pc.get(ty).copied().unwrap_or(0.0);
            textlen > 0 && pc > 0.0 && result_check(min, Some(max), Some(textlen as f64 / pc), true)
        }
        "image_size_exact" => {
            let (Some(h), Some(w)) = (n(1), n(2)) else {
                return Some(false);
            };
            info.dems
                .get(ty)
                .is_some_and(|d| d.contains(&(h as u64, w as u64)))
        }
        _ => {
            // image_size_range(type, minh, minw[, maxh, maxw])
            let (Some(minh), Some(minw)) = (n(1), n(2)) else {
                return Some(false);
            };
            info.dems.get(ty).is_some_and(|d| {
                d.iter().any(|&(h, w)| {
                    let (h, w) = (h as f64, w as f64);
                    h >= minh
                        && w >= minw
                        && n(3).is_none_or(|m| h <= m)
                        && n(4).is_none_or(|m| w <= m)
                })
            })
        }
    })
}
