//! The HTTP client of a partner's `medulla serve`: its API key as the bearer, a deadline
//! on every call, TLS with the roots of [`super::transport`] (plain HTTP only where it
//! allows it). Errors say which partner and why, never the key.

use std::time::Duration;

use medulla_registry::exchange::Partner;
use serde::de::DeserializeOwned;

use super::message::{Batch, BatchAnswer, Info, LinkedRequest};
use super::transport::{self, UrlRefused};

/// Why a call to a partner failed.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// Its URL is not used (plain HTTP off loopback, not an HTTP URL).
    #[error(transparent)]
    Url(#[from] UrlRefused),
    /// Its TLS certificate is not trusted (or not its own).
    #[error(
        "partner {partner}: TLS certificate refused: {reason} (a partner with a private CA \
         needs --ca-cert FILE)"
    )]
    Certificate { partner: String, reason: String },
    /// This registry's TLS client could not be set up.
    #[error("partner {partner}: no TLS client: {reason}")]
    Tls { partner: String, reason: String },
}

impl PartnerError {
    /// Whether sending again later may succeed (no answer, or the partner is busy).
    pub fn transient(&self) -> bool {
        match self {
            PartnerError::Unreachable { .. } => true,
            PartnerError::Refused { status, .. } => *status >= 500 || *status == 429,
            PartnerError::Unreadable { .. } => false,
            // the message waits in the outbox until the configuration is put right
            PartnerError::Url(_) | PartnerError::Certificate { .. } | PartnerError::Tls { .. } => {
                true
            }
        }
    }
}

/// A partner, called with a deadline.
pub struct PartnerClient<'a> {
    partner: &'a Partner,
    /// The agent, or why the partner is not called.
    agent: Result<ureq::Agent, PartnerError>,
}

impl<'a> PartnerClient<'a> {
    pub fn new(partner: &'a Partner, timeout: Duration) -> Self {
        let agent = transport::current()
            .map_err(|e| PartnerError::Tls {
                partner: partner.name.clone(),
                reason: e.to_string(),
            })
            .and_then(|t| {
                transport::check_url(t.allow_plain_http, &partner.name, &partner.url)?;
                Ok(ureq::AgentBuilder::new()
                    .timeout_connect(timeout.min(Duration::from_secs(3)))
                    .timeout(timeout)
                    .tls_config(t.tls.clone())
                    .build())
            });
        PartnerClient { partner, agent }
    }

    /// The agent, when the partner may be called.
    fn agent(&self) -> Result<&ureq::Agent, PartnerError> {
        self.agent.as_ref().map_err(Clone::clone)
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
            Err(ureq::Error::Transport(t)) => match medulla_tls::certificate_problem(&t) {
                Some(reason) => Err(PartnerError::Certificate { partner, reason }),
                None => Err(PartnerError::Unreachable {
                    partner,
                    reason: match t.message() {
                        Some(m) => format!("{}: {m}", t.kind()),
                        None => t.kind().to_string(),
                    },
                }),
            },
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.partner.api_key)
    }

    /// The partner's ION.
    pub fn info(&self) -> Result<Info, PartnerError> {
        let r = self
            .agent()?
            .get(&self.url("/api/v1/exchange/info"))
            .set("Authorization", &self.bearer())
            .call();
        self.answer(r)
    }

    /// Deliver messages; the partner's answer to each.
    pub fn deliver(&self, batch: &Batch) -> Result<BatchAnswer, PartnerError> {
        let r = self
            .agent()?
            .post(&self.url("/api/v1/exchange/messages"))
            .set("Authorization", &self.bearer())
            .send_json(batch);
        self.answer(r)
    }

    /// A search at the partner (its national search: the request as given, never
    /// forwarded further).
    pub fn search(&self, request: &serde_json::Value) -> Result<serde_json::Value, PartnerError> {
        let r = self
            .agent()?
            .post(&self.url("/api/v1/search"))
            .set("Authorization", &self.bearer())
            .send_json(request);
        self.answer(r)
    }

    /// The requests the partner holds with us (reconciliation).
    pub fn linked_requests(&self) -> Result<Vec<LinkedRequest>, PartnerError> {
        let r = self
            .agent()?
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
