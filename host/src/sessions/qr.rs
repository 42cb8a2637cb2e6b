//! The QR of a session waiting to be linked, drawn for a terminal (as whatsapp-web.js users
//! are used to from qrcode-terminal).

use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// `text` as a QR code in half-block characters, light on dark terminals and dark on light.
pub fn render(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot draw the QR: {e}"))?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_a_whatsapp_sized_qr() {
        let text = format!("2@{},{},{},{},1", "A".repeat(60), "B".repeat(44), "C".repeat(44), "D".repeat(44));
        let out = super::render(&text).unwrap();
        assert!(out.lines().count() > 20, "{out}");
        assert!(out.contains('█') || out.contains('▀') || out.contains('▄'));
    }
}
