//! The browser console: server-rendered pages for the people behind the identities — who
//! am I and what may I do (`/`), what needs my review (`/console/approvals`), what happened
//! (`/console/audit`) and who is here (`/console/directory`).
//!
//! Pages call the same service commands as REST with the viewer's session, so permissions,
//! the approval gate and audit entries are the same. Templates are `maud` macros: checked at
//! compile time, and everything they interpolate is escaped. Every page goes out with a
//! strict Content-Security-Policy (no inline script or style, forms only to this origin);
//! every form carries the session's CSRF token; nothing needs JavaScript.

mod approvals;
mod assets;
mod audit;
mod auth;
mod diff;
mod directory;
mod error;
mod format;
mod page;
mod you;

use poem::{Route, get, post};

pub use error::refusal_page;
pub use you::home;

/// Whether a path is the console's (its pages render refusals as pages, not REST JSON).
pub fn is_console_path(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}

/// The routes under `/console` (the "You" page is `/`).
pub fn routes() -> Route {
    Route::new()
        .at("/assets/console.css", get(assets::stylesheet))
        .at("/assets/favicon.svg", get(assets::icon))
        .at("/sessions/end-others", post(you::end_other_sessions))
        .at("/tokens", post(you::create_token))
        .at("/tokens/:id/revoke", post(you::revoke_token))
        .at("/approvals", get(approvals::inbox))
        .at("/approvals/:id", get(approvals::detail))
        .at("/approvals/:id/reviews", post(approvals::review))
        .at("/approvals/:id/apply", post(approvals::apply))
        .at("/audit", get(audit::list))
        .at("/audit/chain", get(audit::chain))
        .at("/audit/:id", get(audit::entry))
        .nest("/directory", directory::routes())
}
