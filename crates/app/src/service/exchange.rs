//! The service's side of the exchange with foreign registries: a partner delivers
//! messages and compares requests; a search coordinator's international search fans out.

use std::time::Duration;

use medulla_registry::exchange as store;

use super::{lock, now, SearchAnswer, Service};
use crate::auth::{Actor, Permission};
use crate::error::AppError;
use crate::exchange::inbox::{receive, Sender};
use crate::exchange::message::{Batch, BatchAnswer, Info, LinkedRequest};
use crate::search::SearchOptions;

impl Service {
    /// How long an international search waits for each partner (3 s unless set).
    pub fn set_partner_timeout(&mut self, d: Duration) {
        self.partner_timeout = d;
    }

    /// The national answer merged with every partner's (see
    /// [`crate::exchange::search`]).
    pub(crate) fn international(
        &self,
        options: &SearchOptions,
        national: SearchAnswer,
    ) -> Result<SearchAnswer, AppError> {
        let (ion, partners) = {
            let reader = lock(&self.reader);
            let ion = crate::exchange::our_ion(reader.connection())?.ok_or_else(|| {
                AppError::Conflict(
                    "an international search needs this registry's ION: start medulla serve \
                     --ion ION"
                        .into(),
                )
            })?;
            (ion, store::partners(reader.connection())?)
        };
        Ok(crate::exchange::search::international(
            &partners,
            options,
            national,
            &ion,
            self.partner_timeout,
        ))
    }

    /// This registry's ION, once `medulla serve --ion` has set it.
    pub fn ion(&self) -> Option<String> {
        crate::exchange::our_ion(lock(&self.reader).connection())
            .ok()
            .flatten()
    }

    /// What this registry says of itself to a partner.
    pub fn exchange_info(&self, actor: &Actor) -> Result<Info, AppError> {
        actor.require(Permission::Exchange)?;
        let ion = crate::exchange::our_ion(lock(&self.reader).connection())?
            .ok_or_else(|| AppError::Unavailable("this registry has no ION yet".into()))?;
        Ok(Info {
            ion,
            donors: self.donors(),
        })
    }

    /// Messages from a partner: stored, answered, applied once and in order; donors
    /// whose status they changed are indexed again. Audited (counts, no content).
    pub fn exchange_receive(&self, actor: &Actor, batch: &Batch) -> Result<BatchAnswer, AppError> {
        actor.require(Permission::Exchange)?;
        let received = self.change(
            actor,
            "exchange-receive",
            batch.messages.first().map_or("-", |m| m.sender.as_str()),
            serde_json::json!({ "messages": batch.messages.len() }),
            |w| {
                let r = receive(
                    w,
                    &Sender {
                        user: actor.user.clone(),
                    },
                    batch,
                    now(),
                    &|t: &str| {
                        self.reducer
                            .validate(t)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    },
                )?;
                for id in &r.touched {
                    self.refresh_donor(w, id)?;
                }
                Ok(r)
            },
        )?;
        // every denial on its own: what was refused and why (references and rules, no
        // identity)
        for d in &received.denied {
            self.audit(
                &actor.user,
                "exchange-denied",
                &d.reference,
                serde_json::json!({
                    "id": d.id, "seq": d.seq, "kind": d.kind, "reason": d.reason,
                }),
            )?;
        }
        Ok(received.answer)
    }

    /// The requests the calling partner holds with us (its reconciliation).
    pub fn exchange_requests(&self, actor: &Actor) -> Result<Vec<LinkedRequest>, AppError> {
        actor.require(Permission::Exchange)?;
        crate::exchange::linked_requests(&lock(&self.reader), &actor.user)
    }
}
