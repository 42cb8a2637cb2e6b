//! A session's QR as PNG, SVG or text. PNG is written here (1-bit grayscale, stored deflate
//! blocks): a QR is a few KiB either way, and no image library is worth its build time for it.

use qrcode::render::svg;
use qrcode::{Color, QrCode};

/// Pixels per module in the PNG.
const SCALE: usize = 8;
/// Modules of white border (the QR standard asks for 4).
const QUIET: usize = 4;

fn code(text: &str) -> Result<QrCode, String> {
    QrCode::new(text.as_bytes()).map_err(|e| format!("cannot draw the QR: {e}"))
}

/// An SVG document, at least 256 × 256.
pub(crate) fn svg(text: &str) -> Result<String, String> {
    Ok(code(text)?.render::<svg::Color>().min_dimensions(256, 256).quiet_zone(true).build())
}

/// A PNG image: black modules on white, [`SCALE`] pixels each, with the quiet zone.
pub(crate) fn png(text: &str) -> Result<Vec<u8>, String> {
    let code = code(text)?;
    let n = code.width();
    let colors = code.to_colors();
    let side = (n + 2 * QUIET) * SCALE;
    let row_bytes = side.div_ceil(8);
    let mut raw = Vec::with_capacity((row_bytes + 1) * side);
    for y in 0..side {
        raw.push(0); // filter: none
        let my = (y / SCALE).checked_sub(QUIET).filter(|m| *m < n);
        let mut byte = 0u8;
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(QUIET).filter(|m| *m < n);
            let dark = matches!((mx, my), (Some(mx), Some(my)) if colors[my * n + mx] == Color::Dark);
            // 1-bit grayscale: 1 = white.
            byte = (byte << 1) | u8::from(!dark);
            if x % 8 == 7 {
                raw.push(byte);
                byte = 0;
            }
        }
        let rest = side % 8;
        if rest != 0 {
            raw.push(byte << (8 - rest));
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // bit depth 1, grayscale, deflate, no filter set, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() { vec![&[][..]] } else { data.chunks(65_535).collect() };
    let last = blocks.len() - 1;
    for (i, block) in blocks.into_iter().enumerate() {
        out.push(u8::from(i == last));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_and_png_shape() {
        assert_eq!(super::crc32(b"IEND"), 0xae42_6082);
        let png = super::png("2@abc,def,ghi,1").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]));
        assert!(super::svg("x").unwrap().contains("<svg"));
    }
}
