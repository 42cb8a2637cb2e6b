//! The WhatsApp Web simulator (issue 3): under construction.
