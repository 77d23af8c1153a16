//! Success responses shared by the operations.

use poem_openapi::payload::Json;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use poem_openapi::{ApiResponse, Object};

use crate::service::paging::ListPage;

/// 201 with the created resource.
#[derive(ApiResponse)]
pub enum Created<T: ToJSON> {
    #[oai(status = 201)]
    Created(Json<T>),
}

/// 204 with no body.
#[derive(ApiResponse)]
pub enum NoContent {
    #[oai(status = 204)]
    NoContent,
}

/// A page of a list: `{"items": [...], "totalCount": n, "next"?: cursor}`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct Page<T: ParseFromJSON + ToJSON> {
    pub items: Vec<T>,
    pub total_count: u64,
    #[oai(skip_serializing_if_is_none)]
    pub next: Option<String>,
}

impl<T: ParseFromJSON + ToJSON> From<ListPage<T>> for Page<T> {
    fn from(page: ListPage<T>) -> Self {
        Page {
            items: page.items,
            total_count: page.total_count,
            next: page.next,
        }
    }
}

impl<T: ParseFromJSON + ToJSON> Page<T> {
    /// A complete list in one page.
    pub fn all(items: Vec<T>) -> Self {
        Page {
            total_count: items.len() as u64,
            items,
            next: None,
        }
    }
}
