//! A donor as people and partner registries name it (this registry's donor id, its GRID,
//! or the GRID of a partner registry's donor), resolved once at the edge of a use case,
//! before any rule runs. Rules, stored requests and lists then know one name per donor:
//! this registry's donor id, or, for a partner's donor, the GRID (the partner's
//! reference; that donor is not here).

use medulla_registry::exchange::Partner;
use medulla_registry::requests::{open_of_donor, requests_of_pair};
use medulla_registry::store::DbConnection;
use medulla_registry::{Status, Store, StoreError};
use medulla_workflow::Request;

use crate::error::AppError;
use crate::exchange::outbox;

/// This registry's id of one of its donors. Made only by [`resolve`] (or
/// [`DonorId::of_local`]), from a donor that exists here: never a GRID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorId {
    id: String,
    /// The donor's GRID, under which requests made before references were resolved
    /// may still be stored.
    grid: Option<String>,
}

impl DonorId {
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The donor's GRID, if it has one.
    pub fn grid(&self) -> Option<&str> {
        self.grid.as_deref()
    }

    /// The names stored requests may hold for this donor: the id, then the GRID.
    fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.grid.as_deref().filter(|g| *g != self.id))
    }

    /// The donor of this registry that `reference` (an id or a GRID) names.
    pub fn of_local(conn: &DbConnection, reference: &str) -> Result<(DonorId, Status), AppError> {
        let (d, status) = Store::donor_in(conn, reference.trim())?;
        Ok((
            DonorId {
                id: d.id,
                grid: d.grid.map(|g| g.to_string()),
            },
            status,
        ))
    }
}

/// What a donor reference names.
#[derive(Debug, Clone)]
pub enum DonorRef {
    /// A donor of this registry (named by its id or its GRID), with its status.
    Local { id: DonorId, status: Status },
    /// A partner registry's donor: its GRID, and the partner that holds it.
    Partner { grid: String, partner: Partner },
}

impl DonorRef {
    /// The one name requests store and rules compare.
    pub fn key(&self) -> &str {
        match self {
            DonorRef::Local { id, .. } => id.as_str(),
            DonorRef::Partner { grid, .. } => grid,
        }
    }
}

/// Resolve a donor reference: a donor here (by id or GRID) is always local, whatever
/// its GRID's ION; only a GRID naming no donor here, whose ION is a partner's, is a
/// partner's donor. Anything else is not found.
pub fn resolve(conn: &DbConnection, reference: &str) -> Result<DonorRef, AppError> {
    let reference = reference.trim();
    match DonorId::of_local(conn, reference) {
        Ok((id, status)) => return Ok(DonorRef::Local { id, status }),
        Err(AppError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    match outbox::partner_of_donor(conn, reference)? {
        Some(partner) => Ok(DonorRef::Partner {
            grid: reference.to_string(),
            partner,
        }),
        None => Err(StoreError::NoSuchDonor(reference.to_string()).into()),
    }
}

/// Every request of a patient and a donor, oldest first, under any name the donor's
/// requests are stored with.
pub(crate) fn pair_requests(
    conn: &DbConnection,
    patient: &str,
    donor: &DonorRef,
) -> Result<Vec<Request>, StoreError> {
    match donor {
        DonorRef::Local { id, .. } => {
            let mut out = Vec::new();
            for name in id.names() {
                out.extend(requests_of_pair(conn, patient, name)?);
            }
            out.sort_by(|a, b| (a.id.len(), &a.id).cmp(&(b.id.len(), &b.id)));
            out.dedup_by(|a, b| a.id == b.id);
            Ok(out)
        }
        DonorRef::Partner { grid, .. } => requests_of_pair(conn, patient, grid),
    }
}

/// The open requests holding a donor of this registry, any patient, oldest first.
pub(crate) fn open_requests(conn: &DbConnection, id: &DonorId) -> Result<Vec<Request>, StoreError> {
    let mut out = Vec::new();
    for name in id.names() {
        out.extend(open_of_donor(conn, name)?);
    }
    out.sort_by(|a, b| (a.id.len(), &a.id).cmp(&(b.id.len(), &b.id)));
    out.dedup_by(|a, b| a.id == b.id);
    Ok(out)
}
