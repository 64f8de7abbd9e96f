//! aviso-auth end-to-end tests (written next).
