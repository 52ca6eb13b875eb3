//! Donor identity (name and contact details), kept apart from the HLA and search facts:
//! its own table, read only through [`Store::identity`], never part of a donor
//! record, an export made for searching or a search result.

use crate::db::{params, OptionalExtension, Transaction};

use crate::store::{Store, StoreError};

/// The identity columns a donor CSV may carry (and the `medulla` fields of donor JSON).
pub const IDENTITY_COLUMNS: [&str; 4] = ["name", "address", "phone", "email"];

/// Who a donor is and how to reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub name: Option<String>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl Identity {
    /// An identity from the optional columns, `None` when none is given.
    pub fn from_fields(get: impl Fn(&str) -> Option<String>) -> Option<Identity> {
        let id = Identity {
            name: get("name"),
            address: get("address"),
            phone: get("phone"),
            email: get("email"),
        };
        (id != Identity::default()).then_some(id)
    }
}

/// Write (or replace) a donor's identity inside an import transaction.
pub(crate) fn upsert(tx: &Transaction<'_>, donor: &str, i: &Identity) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO donor_identity (donor_id, name, address, phone, email)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (donor_id) DO UPDATE SET name = excluded.name,
            address = excluded.address, phone = excluded.phone, email = excluded.email",
    )?
    .execute(params![donor, i.name, i.address, i.phone, i.email])?;
    Ok(())
}

impl Store {
    /// A donor's identity, when the registry holds one. Callers record the read in the
    /// audit trail.
    pub fn identity(&self, donor: &str) -> Result<Option<Identity>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, address, phone, email FROM donor_identity WHERE donor_id = ?1",
                [donor],
                |r| {
                    Ok(Identity {
                        name: r.get(0)?,
                        address: r.get(1)?,
                        phone: r.get(2)?,
                        email: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }
}
