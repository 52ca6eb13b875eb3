//! The HTTP client of a partner's `medulla serve`: its API key as the bearer, a deadline
//! on every call. Errors say which partner and why, never the key.

use std::time::Duration;

use medulla_registry::exchange::Partner;
use serde::de::DeserializeOwned;

use super::message::{Batch, BatchAnswer, Info, LinkedRequest};

/// Why a call to a partner failed.
#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// No answer: refused, unreachable, or too slow.
    #[error("partner {partner} did not answer: {reason}")]
    Unreachable { partner: String, reason: String },
    /// An answer that is not a success.
    #[error("partner {partner} answered {status}: {message}")]
    Refused {
        partner: String,
        status: u16,
        message: String,
    },
    #[error("partner {partner} answered something unreadable: {reason}")]
    Unreadable { partner: String, reason: String },
}

impl PartnerError {
    /// Whether sending again later may succeed (no answer, or the partner is busy).
    pub fn transient(&self) -> bool {
        match self {
            PartnerError::Unreachable { .. } => true,
            PartnerError::Refused { status, .. } => *status >= 500 || *status == 429,
            PartnerError::Unreadable { .. } => false,
        }
    }
}

/// A partner, called with a deadline.
pub struct PartnerClient<'a> {
    partner: &'a Partner,
    agent: ureq::Agent,
}

impl<'a> PartnerClient<'a> {
    pub fn new(partner: &'a Partner, timeout: Duration) -> Self {
        PartnerClient {
            partner,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(timeout.min(Duration::from_secs(3)))
                .timeout(timeout)
                .build(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.partner.url.trim_end_matches('/'))
    }

    fn answer<T: DeserializeOwned>(
        &self,
        r: Result<ureq::Response, ureq::Error>,
    ) -> Result<T, PartnerError> {
        let partner = self.partner.name.clone();
        match r {
            Ok(resp) => resp.into_json::<T>().map_err(|e| PartnerError::Unreadable {
                partner,
                reason: e.to_string(),
            }),
            Err(ureq::Error::Status(status, resp)) => {
                let body: serde_json::Value = resp.into_json().unwrap_or_default();
                Err(PartnerError::Refused {
                    partner,
                    status,
                    message: body["error"]["message"]
                        .as_str()
                        .unwrap_or("no message")
                        .to_string(),
                })
            }
            Err(e) => Err(PartnerError::Unreachable {
                partner,
                reason: e.kind().to_string(),
            }),
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.partner.api_key)
    }

    /// The partner's ION.
    pub fn info(&self) -> Result<Info, PartnerError> {
        let r = self
            .agent
            .get(&self.url("/api/v1/exchange/info"))
            .set("Authorization", &self.bearer())
            .call();
        self.answer(r)
    }

    /// Deliver messages; the partner's answer to each.
    pub fn deliver(&self, batch: &Batch) -> Result<BatchAnswer, PartnerError> {
        let r = self
            .agent
            .post(&self.url("/api/v1/exchange/messages"))
            .set("Authorization", &self.bearer())
            .send_json(batch);
        self.answer(r)
    }

    /// A search at the partner (its national search: the request as given, never
    /// forwarded further).
    pub fn search(&self, request: &serde_json::Value) -> Result<serde_json::Value, PartnerError> {
        let r = self
            .agent
            .post(&self.url("/api/v1/search"))
            .set("Authorization", &self.bearer())
            .send_json(request);
        self.answer(r)
    }

    /// The requests the partner holds with us (reconciliation).
    pub fn linked_requests(&self) -> Result<Vec<LinkedRequest>, PartnerError> {
        let r = self
            .agent
            .get(&self.url("/api/v1/exchange/requests"))
            .set("Authorization", &self.bearer())
            .call();
        self.answer::<serde_json::Value>(r).and_then(|v| {
            serde_json::from_value(v["requests"].clone()).map_err(|e| PartnerError::Unreadable {
                partner: self.partner.name.clone(),
                reason: e.to_string(),
            })
        })
    }
}
