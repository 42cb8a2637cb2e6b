//! A session's QR as PNG, SVG or text. The PNG is 1-bit grayscale, compressed by the `png`
//! crate (about 1 KiB for a WhatsApp QR).

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
    let mut raw = vec![0u8; row_bytes * side];
    for y in 0..side {
        let my = (y / SCALE).checked_sub(QUIET).filter(|m| *m < n);
        for x in 0..side {
            let mx = (x / SCALE).checked_sub(QUIET).filter(|m| *m < n);
            let dark = matches!((mx, my), (Some(mx), Some(my)) if colors[my * n + mx] == Color::Dark);
            // 1-bit grayscale: 1 = white.
            if !dark {
                raw[y * row_bytes + x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::High);
    let fail = |e: png::EncodingError| format!("cannot encode the QR as PNG: {e}");
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&raw).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{QUIET, SCALE};

    #[test]
    fn the_png_decodes_to_the_qr_with_its_quiet_zone() {
        let text = "2@abcdefghijklmnopqrstuvwxyz0123456789,Zm9vYmFyYmF6cXV4,YmF6cXV4Zm9vYmFy,c2VjcmV0,WINDOWS";
        let bytes = super::png(text).unwrap();
        assert!(bytes.len() < 4096, "compressed: {} bytes", bytes.len());
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let n = qrcode::QrCode::new(text.as_bytes()).unwrap().width();
        assert_eq!(info.width as usize, (n + 2 * QUIET) * SCALE);
        let white = |x: usize, y: usize| buf[y * info.line_size + x / 8] & (0x80 >> (x % 8)) != 0;
        assert!(white(0, 0), "the quiet zone is white");
        let corner = QUIET * SCALE + 1;
        assert!(!white(corner, corner), "the top-left finder pattern is dark");
        assert!(super::svg("x").unwrap().contains("<svg"));
    }
}
