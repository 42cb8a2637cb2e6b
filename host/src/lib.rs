//! vigil
