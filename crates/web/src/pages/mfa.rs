//! `/account/mfa`: a logged-in user enables multi-factor authentication (TOTP) for
//! themselves. The page offers a new secret as a QR code (and as text, with its
//! `otpauth://` URI); nothing is stored until the form comes back with the password and
//! a current code of that secret. Disabling is an administrator's
//! (`medulla users mfa disable NAME`).

use crate::extract::Form;
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use maud::{html, Markup};
use serde::Deserialize;

use super::html;
use crate::layout;
use crate::session::Session;
use crate::{blocking, Shared, WebError};

#[derive(Deserialize)]
pub struct EnableForm {
    csrf: String,
    secret: String,
    password: String,
    totp: String,
}

/// The `otpauth://` URI as a QR code: an SVG image in a `data:` URL (the pages' policy
/// allows `data:` images and no inline anything else).
fn qr_image(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

fn offer(s: &Session, secret: &str, uri: &str, message: Option<&str>) -> Markup {
    html! {
        h1 { "Multi-factor authentication" }
        @if let Some(m) = message {
            div.error role="alert" id="mfa-error" { p { (m) } }
        }
        p { "Scan this code with an authenticator app (any app for TOTP codes), then enter your password and the 6-digit code the app shows. From then on, logging in needs the code as well." }
        @if let Some(img) = qr_image(uri) {
            p { img id="mfa-qr" src=(img) alt="QR code of the authenticator secret" width="200" height="200"; }
        }
        p { "Or type the secret into the app: " code id="mfa-secret" { (secret) } }
        details { summary { "The otpauth URI" } p { code id="mfa-uri" { (uri) } } }
        form.stack.narrow method="post" action="/account/mfa" {
            input type="hidden" name="csrf" value=(s.csrf());
            input type="hidden" name="secret" value=(secret);
            label for="password" { "Password" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            label for="totp" { "Code from the app" }
            input type="text" id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code"
                pattern="[0-9]{6}" maxlength="6" required;
            p { button type="submit" id="mfa-enable" { "Enable" } }
        }
    }
}

fn enabled_page(s: &Session, just_now: bool) -> Response {
    html(layout::page(
        s,
        "",
        "Multi-factor authentication",
        html! {
            h1 { "Multi-factor authentication" }
            p id="mfa-state" {
                @if just_now { "Enabled. " } @else { "Enabled for your account. " }
                "Logging in needs your password and the code of your authenticator app. An administrator can disable it (medulla users mfa disable) if the app is lost."
            }
        },
    ))
}

/// The page: the state, or a new secret to enrol.
pub async fn show(State(svc): State<Shared>, s: Session) -> Result<Response, WebError> {
    let actor = s.actor.clone();
    let (enabled, secret, uri) = blocking(move || {
        let enabled = svc.mfa_enabled(&actor)?;
        let (secret, uri) = svc.mfa_offer(&actor)?;
        Ok((enabled, secret, uri))
    })
    .await?;
    if enabled {
        return Ok(enabled_page(&s, false));
    }
    Ok(html(layout::page(
        &s,
        "",
        "Multi-factor authentication",
        offer(&s, &secret, &uri, None),
    )))
}

/// Enable with the offered secret, once the password and a current code are right.
pub async fn enable(
    State(svc): State<Shared>,
    s: Session,
    Form(f): Form<EnableForm>,
) -> Result<Response, WebError> {
    s.check_csrf(&f.csrf)?;
    let actor = s.actor.clone();
    let secret = f.secret.trim().to_string();
    let sec = secret.clone();
    let done = blocking(move || svc.mfa_confirm(&actor, &sec, &f.password, &f.totp)).await;
    match done {
        Ok(()) => Ok(enabled_page(&s, true)),
        Err(e) if e.status == axum::http::StatusCode::BAD_REQUEST => {
            let uri = medulla_app::totp::otpauth_uri(&s.actor.user, &secret);
            Ok(super::html_status(
                e.status,
                layout::page(
                    &s,
                    "",
                    "Multi-factor authentication",
                    offer(&s, &secret, &uri, Some(&e.message)),
                ),
            ))
        }
        Err(e) => Err(e),
    }
}
