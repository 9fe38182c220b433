//! (stub, being written) Carrier reply normalisation.
use crate::carrier::CarrierReply;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Kdniao,
    Kuaidi100,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("not JSON: {0}")]
    NotJson(String),
}

pub fn parse_reply(_body: &str, _format: Option<Format>) -> Result<CarrierReply, NormaliseError> {
    Ok(CarrierReply::default())
}
