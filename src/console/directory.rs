//! `/console/directory`: members and teams, a member's grants and sessions, connections.

use poem::Route;

/// The routes under `/console/directory`.
pub fn routes() -> Route {
    Route::new()
}
