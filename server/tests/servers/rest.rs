//! aviso-rest end-to-end tests (written next).
