//! aviso-auth (being written).
