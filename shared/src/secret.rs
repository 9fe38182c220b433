//! Secrets (carrier keys, webhook URLs and signing secrets, push salts): a type
//! that never shows its value in `Debug`, logs or errors, so a secret can only
//! leak through an explicit [`Secret::expose`].

/// A credential: shown as `***` everywhere.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}
