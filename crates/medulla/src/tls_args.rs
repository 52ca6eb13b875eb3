//! The options of every command that calls partner registries: the private CAs their
//! certificates may come from, and whether plain `http://` is allowed off loopback.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args, Clone, Debug, Default)]
pub struct PartnerTlsArgs {
    /// A PEM file of one or more CA certificates trusted for partners' `https://` URLs,
    /// besides the system's roots (a private CA). Repeat for several files.
    #[arg(
        long = "ca-cert",
        value_name = "FILE",
        env = "MEDULLA_CA_CERT",
        global = true
    )]
    pub ca_cert: Vec<PathBuf>,
    /// Allow plain `http://` partner URLs off this machine (without it only loopback
    /// partners, 127.0.0.0/8, ::1 and localhost, may be plain HTTP).
    #[arg(long, env = "MEDULLA_ALLOW_PLAIN_HTTP", global = true)]
    pub allow_plain_http: bool,
}

impl PartnerTlsArgs {
    /// Make these the rules of every call to a partner from now on.
    pub fn install(&self) -> Result<()> {
        medulla_app::exchange::transport::configure(&self.ca_cert, self.allow_plain_http)
            .context("--ca-cert")
    }
}
