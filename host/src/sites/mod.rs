//! The sites sessions open. Only WhatsApp Web today; everything that knows its internals lives
//! in [`whatsapp`], and the rest of the host speaks of states, QR codes and messages.

pub mod whatsapp;
