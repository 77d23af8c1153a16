//! The console's one error type, rendered as a page: the status REST would answer, the
//! service's public message, and a way back. A signed-out viewer is sent to sign in.

use maud::html;
use poem::Response;
use poem::http::StatusCode;

use super::page::{Section, frame, respond, see_other};
use crate::error::Error;

#[derive(Debug)]
pub enum ConsoleError {
    /// No live session: the sign-in page.
    SignedOut,
    /// A refusal or failure of a command, shown as REST would name it.
    Service(Error),
}

impl From<Error> for ConsoleError {
    fn from(e: Error) -> Self {
        ConsoleError::Service(e)
    }
}

pub type ConsoleResult<T = Response> = Result<T, ConsoleError>;

/// What the browser gets for an error.
pub fn render(err: ConsoleError) -> Response {
    let err = match err {
        ConsoleError::SignedOut => return see_other("/"),
        ConsoleError::Service(e) => e,
    };
    let status = status_of(&err);
    if let Error::Internal(detail) = &err {
        tracing::error!(error = %detail, "console internal error");
    }
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Check what you entered",
        StatusCode::CONFLICT => "It changed meanwhile",
        _ => "Something went wrong",
    };
    respond(
        status,
        frame(
            title,
            None,
            Section::None,
            html! {
                p class="error" role="alert" { (err.public_message()) }
                p class="source" { "Code: " code { (err.code()) } }
                p { a href="/" { "Back to the console" } }
            },
        ),
    )
}

/// A refusal made before any console handler ran (the body limit, a NUL, overload, an
/// unknown page), as a page.
pub fn refusal_page(status: StatusCode, message: &str) -> Response {
    respond(
        status,
        frame(
            "Something went wrong",
            None,
            Section::None,
            html! {
                p class="error" role="alert" { (message) }
                p { a href="/" { "Back to the console" } }
            },
        ),
    )
}

/// The status REST answers with for the same error.
fn status_of(err: &Error) -> StatusCode {
    match err {
        Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::ApprovalRequired(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A posted form, or 400 when it cannot be read.
pub fn form_of<T>(form: poem::Result<poem::web::Form<T>>) -> ConsoleResult<T> {
    form.map(|poem::web::Form(f)| f)
        .map_err(|_| Error::invalid("the form could not be read").into())
}

/// Runs a page's body and renders its error, so handlers stay one expression.
pub fn page_or_error(result: ConsoleResult) -> Response {
    result.unwrap_or_else(render)
}
