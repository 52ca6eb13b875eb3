//! The patient's own cells: stored autologous products, their status and history, and
//! the verdict on whether they are enough.

use std::fmt;
use std::str::FromStr;

use crate::db::{params, Connection, Row};
use chrono::{NaiveDate, NaiveDateTime};

use crate::patient::patient_in;
use crate::store::{Store, StoreError};

/// CD34+ cells per kg of the patient's weight an autologous transplant needs, by
/// default (x10^6/kg).
pub const DEFAULT_CD34_PER_KG: f64 = 2.0;
/// Post-thaw viability below which a product is not counted (%).
pub const MIN_VIABILITY: f64 = 70.0;

/// Where a product is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProductStatus {
    Stored,
    Reserved,
    Thawed,
    Infused,
    Discarded,
    Expired,
}

impl ProductStatus {
    pub const ALL: [ProductStatus; 6] = [
        ProductStatus::Stored,
        ProductStatus::Reserved,
        ProductStatus::Thawed,
        ProductStatus::Infused,
        ProductStatus::Discarded,
        ProductStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ProductStatus::Stored => "stored",
            ProductStatus::Reserved => "reserved",
            ProductStatus::Thawed => "thawed",
            ProductStatus::Infused => "infused",
            ProductStatus::Discarded => "discarded",
            ProductStatus::Expired => "expired",
        }
    }

    /// stored <-> reserved -> thawed -> infused; discarded from any but infused;
    /// expired from stored or reserved. Infused, discarded and expired are final.
    pub fn check_transition(self, next: ProductStatus) -> Result<(), String> {
        use ProductStatus::*;
        let ok = matches!(
            (self, next),
            (Stored, Reserved)
                | (Reserved, Stored)
                | (Stored | Reserved, Thawed)
                | (Thawed, Infused)
                | (Stored | Reserved | Thawed, Discarded)
                | (Stored | Reserved, Expired)
        );
        if ok {
            Ok(())
        } else {
            Err(format!(
                "a product cannot go from {} to {} (stored <-> reserved -> thawed -> infused; \
                 discarded; expired)",
                self.code(),
                next.code()
            ))
        }
    }

    /// Still available for a transplant.
    pub fn in_store(self) -> bool {
        matches!(self, ProductStatus::Stored | ProductStatus::Reserved)
    }
}

impl fmt::Display for ProductStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for ProductStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProductStatus::ALL
            .into_iter()
            .find(|x| x.code().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a product status (stored, reserved, thawed, infused, \
                     discarded, expired)"
                )
            })
    }
}

/// One stored autologous product (one mobilisation's collection, possibly over days).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Product {
    pub id: String,
    pub patient: String,
    pub collected: Vec<NaiveDate>,
    pub agents: Option<String>,
    pub volume_ml: Option<f64>,
    /// Total nucleated cells, x10^8.
    pub tnc_1e8: Option<f64>,
    /// CD34+ cells, x10^6 (total).
    pub cd34_1e6: f64,
    /// Viability, percent.
    pub viability: Option<f64>,
    pub bags: Option<u32>,
    pub tank: Option<String>,
    pub rack: Option<String>,
    pub position: Option<String>,
    pub expires: Option<NaiveDate>,
    pub status: ProductStatus,
}

/// Whether a product (or all of a patient's) can carry a transplant.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Verdict {
    /// CD34+ x10^6 per kg of the current weight (none without a weight).
    pub cd34_per_kg: Option<f64>,
    pub threshold: f64,
    pub enough: bool,
    pub viable: bool,
    pub in_date: bool,
    pub in_store: bool,
    /// Enough, viable, in date and in store.
    pub usable: bool,
    pub reasons: Vec<String>,
}

impl Product {
    /// The verdict on this product for a patient weighing `weight_kg` on `today`.
    pub fn verdict(&self, weight_kg: Option<f64>, threshold: f64, today: NaiveDate) -> Verdict {
        let per_kg = weight_kg.filter(|w| *w > 0.0).map(|w| self.cd34_1e6 / w);
        let viable = self.viability.is_none_or(|v| v >= MIN_VIABILITY);
        let in_date = self.expires.is_none_or(|e| e >= today);
        let in_store = self.status.in_store();
        let enough = per_kg.is_some_and(|x| x >= threshold);
        let mut reasons = Vec::new();
        match per_kg {
            None => reasons.push("no patient weight: CD34+/kg unknown".to_string()),
            Some(x) if x < threshold => {
                reasons.push(format!("{x:.2} x10^6 CD34+/kg is under {threshold:.1}"))
            }
            _ => {}
        }
        if !viable {
            reasons.push(format!(
                "viability {:.0}% is under {MIN_VIABILITY:.0}%",
                self.viability.unwrap_or(0.0)
            ));
        }
        if !in_date {
            reasons.push(format!(
                "expired on {}",
                self.expires.map(|d| d.to_string()).unwrap_or_default()
            ));
        }
        if !in_store {
            reasons.push(format!("status {}", self.status));
        }
        Verdict {
            cd34_per_kg: per_kg,
            threshold,
            enough,
            viable,
            in_date,
            in_store,
            usable: enough && viable && in_date && in_store,
            reasons,
        }
    }
}

/// The verdict on all of a patient's products together: the CD34+ of those viable, in
/// date and in store, added up.
pub fn total_verdict(
    products: &[Product],
    weight_kg: Option<f64>,
    threshold: f64,
    today: NaiveDate,
) -> Verdict {
    let counted: Vec<&Product> = products
        .iter()
        .filter(|p| {
            let v = p.verdict(weight_kg, threshold, today);
            v.viable && v.in_date && v.in_store
        })
        .collect();
    let cd34: f64 = counted.iter().map(|p| p.cd34_1e6).sum();
    let per_kg = weight_kg.filter(|w| *w > 0.0).map(|w| cd34 / w);
    let enough = per_kg.is_some_and(|x| x >= threshold);
    let mut reasons = Vec::new();
    if counted.is_empty() {
        reasons.push("no viable, in-date product in store".into());
    }
    match per_kg {
        None => reasons.push("no patient weight: CD34+/kg unknown".into()),
        Some(x) if x < threshold => reasons.push(format!(
            "{x:.2} x10^6 CD34+/kg in {} product(s) is under {threshold:.1}",
            counted.len()
        )),
        _ => {}
    }
    Verdict {
        cd34_per_kg: per_kg,
        threshold,
        enough,
        viable: !counted.is_empty(),
        in_date: !counted.is_empty(),
        in_store: !counted.is_empty(),
        usable: enough && !counted.is_empty(),
        reasons,
    }
}

fn corrupt(id: &str, column: &'static str, e: impl fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: id.into(),
        column,
        reason: e.to_string(),
    }
}

fn row_to_product(r: &Row<'_>) -> Result<Product, StoreError> {
    let id: String = r.get("id")?;
    let collected: String = r.get("collected")?;
    let status: String = r.get("status")?;
    let expires: Option<String> = r.get("expires")?;
    Ok(Product {
        collected: collected
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|d| d.parse().map_err(|e| corrupt(&id, "collected", e)))
            .collect::<Result<_, _>>()?,
        patient: r.get("patient_id")?,
        agents: r.get("agents")?,
        volume_ml: r.get("volume_ml")?,
        tnc_1e8: r.get("tnc_1e8")?,
        cd34_1e6: r.get("cd34_1e6")?,
        viability: r.get("viability")?,
        bags: r.get("bags")?,
        tank: r.get("tank")?,
        rack: r.get("rack")?,
        position: r.get("position")?,
        expires: expires
            .map(|d| d.parse().map_err(|e| corrupt(&id, "expires", e)))
            .transpose()?,
        status: status.parse().map_err(|e| corrupt(&id, "status", e))?,
        id,
    })
}

fn product_in(conn: &Connection, id: &str) -> Result<Option<Product>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT * FROM products WHERE id = ?1")?;
    let mut rows = stmt.query([id])?;
    rows.next()?.map(|r| row_to_product(&r)).transpose()
}

/// One status change of a product.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProductChange {
    pub at: String,
    pub by: String,
    pub status: String,
    pub note: String,
}

impl Store {
    pub fn add_product(
        &mut self,
        p: &Product,
        at: NaiveDateTime,
        by: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| -> Result<(), StoreError> {
            if patient_in(tx, &p.patient)?.is_none() {
                return Err(StoreError::NotFound(format!(
                    "patient {} is not registered",
                    p.patient
                )));
            }
            if product_in(tx, &p.id)?.is_some() {
                return Err(StoreError::Conflict(format!("product {} exists", p.id)));
            }
            let now = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            let collected: Vec<String> = p.collected.iter().map(|d| d.to_string()).collect();
            tx.execute(
                "INSERT INTO products (id, patient_id, collected, agents, volume_ml, tnc_1e8,
                    cd34_1e6, viability, bags, tank, rack, position, expires, status, created_at,
                    updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
                params![
                    p.id,
                    p.patient,
                    collected.join(","),
                    p.agents,
                    p.volume_ml,
                    p.tnc_1e8,
                    p.cd34_1e6,
                    p.viability,
                    p.bags,
                    p.tank,
                    p.rack,
                    p.position,
                    p.expires.map(|d| d.to_string()),
                    p.status.code(),
                    now
                ],
            )?;
            tx.execute(
                "INSERT INTO product_history (product_id, changed_at, changed_by, status, note)
                 VALUES (?1, ?2, ?3, ?4, 'stored')",
                params![p.id, now, by, p.status.code()],
            )?;
            Ok(())
        })
    }

    pub fn product(&self, id: &str) -> Result<Option<Product>, StoreError> {
        product_in(self.conn(), id)
    }

    pub fn products_of(&self, patient: &str) -> Result<Vec<Product>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare("SELECT * FROM products WHERE patient_id = ?1 ORDER BY id")?;
        let mut rows = stmt.query([patient])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(row_to_product(&r)?);
        }
        Ok(out)
    }

    pub fn product_history(&self, id: &str) -> Result<Vec<ProductChange>, StoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT changed_at, changed_by, status, note FROM product_history
             WHERE product_id = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(ProductChange {
                at: r.get(0)?,
                by: r.get(1)?,
                status: r.get(2)?,
                note: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Move a product to a new status (checked), kept in its history.
    pub fn set_product_status(
        &mut self,
        id: &str,
        next: ProductStatus,
        at: NaiveDateTime,
        by: &str,
        note: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| -> Result<(), StoreError> {
            let p = product_in(tx, id)?
                .ok_or_else(|| StoreError::NotFound(format!("product {id} is not registered")))?;
            p.status
                .check_transition(next)
                .map_err(|reason| StoreError::Status {
                    id: id.to_string(),
                    reason,
                })?;
            let now = at.format("%Y-%m-%dT%H:%M:%S").to_string();
            tx.execute(
                "UPDATE products SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, next.code(), now],
            )?;
            tx.execute(
                "INSERT INTO product_history (product_id, changed_at, changed_by, status, note)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, now, by, next.code(), note],
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn product(cd34: f64) -> Product {
        Product {
            id: "AP1".into(),
            patient: "P1".into(),
            collected: vec![day("2026-01-10"), day("2026-01-11")],
            agents: Some("G-CSF".into()),
            volume_ml: Some(250.0),
            tnc_1e8: Some(400.0),
            cd34_1e6: cd34,
            viability: Some(92.0),
            bags: Some(4),
            tank: Some("T1".into()),
            rack: Some("R3".into()),
            position: Some("12".into()),
            expires: Some(day("2036-01-10")),
            status: ProductStatus::Stored,
        }
    }

    #[test]
    fn enough_cd34_per_kg_at_the_threshold() {
        let today = day("2026-06-01");
        // 140 x10^6 CD34+ for 70 kg: exactly 2.0 x10^6/kg
        let at = product(140.0).verdict(Some(70.0), DEFAULT_CD34_PER_KG, today);
        assert!(at.enough && at.usable, "{at:?}");
        let under = product(139.9).verdict(Some(70.0), DEFAULT_CD34_PER_KG, today);
        assert!(!under.enough && !under.usable);
        assert!(
            under.reasons[0].contains("under 2.0"),
            "{:?}",
            under.reasons
        );
        // a higher threshold, and the weight the patient has now
        assert!(!product(140.0).verdict(Some(70.0), 2.5, today).enough);
        assert!(product(140.0).verdict(Some(56.0), 2.5, today).enough);
        // not viable, expired, out of store
        let mut p = product(400.0);
        p.viability = Some(60.0);
        assert!(!p.verdict(Some(70.0), 2.0, today).usable);
        let mut p = product(400.0);
        p.expires = Some(day("2026-05-31"));
        assert!(!p.verdict(Some(70.0), 2.0, today).in_date);
        let mut p = product(400.0);
        p.status = ProductStatus::Thawed;
        assert!(!p.verdict(Some(70.0), 2.0, today).usable);
        assert!(!product(400.0).verdict(None, 2.0, today).usable);
        // two products together reach what one does not
        let mut a = product(80.0);
        let mut b = product(70.0);
        b.id = "AP2".into();
        assert!(total_verdict(&[a.clone(), b.clone()], Some(70.0), 2.0, today).enough);
        a.status = ProductStatus::Discarded;
        assert!(!total_verdict(&[a, b], Some(70.0), 2.0, today).enough);
    }

    #[test]
    fn product_transitions() {
        use ProductStatus::*;
        assert!(Stored.check_transition(Thawed).is_ok());
        assert!(Thawed.check_transition(Infused).is_ok());
        assert!(Infused.check_transition(Stored).is_err());
        assert!(Expired.check_transition(Thawed).is_err());
        assert!(Stored.check_transition(Infused).is_err());
    }
}
