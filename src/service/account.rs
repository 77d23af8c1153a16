//! Who the caller is.

use poem_openapi::Object;
use serde::Serialize;

use super::{Ctx, Principal, Service, member_rows, members};
use crate::error::Result;

/// The caller: the member a session or personal token acts as, or a service token itself.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Me {
    /// The member id, or the token id for a service token.
    pub id: String,
    #[oai(nullable)]
    pub email: Option<String>,
    /// The base role in force for this caller.
    pub role: String,
    pub custom_roles: Vec<String>,
    pub teams: Vec<String>,
    pub status: String,
    /// `member` or `serviceToken`.
    pub kind: String,
    /// The API token used, if any.
    #[oai(nullable)]
    pub token_id: Option<String>,
    /// For a browser session: the token cookie-authenticated writes send in `X-Gatehouse-CSRF`.
    #[oai(skip_serializing_if_is_none)]
    pub csrf_token: Option<String>,
}

impl Service {
    pub async fn me(&self, ctx: &Ctx) -> Result<Me> {
        match &ctx.principal {
            Principal::Token(t) => match &t.owner {
                Some(owner) => {
                    let m = member_rows::find(self.db(), &owner.id).await?;
                    let rep = members::to_rep(self.db(), &m).await?;
                    Ok(Me {
                        id: rep.id,
                        email: Some(rep.email),
                        role: t.role.as_str().to_owned(),
                        custom_roles: rep.custom_roles,
                        teams: rep.teams,
                        status: rep.status,
                        kind: "member".to_owned(),
                        token_id: Some(t.token_id.clone()),
                        csrf_token: None,
                    })
                }
                None => Ok(Me {
                    id: t.token_id.clone(),
                    email: None,
                    role: t.role.as_str().to_owned(),
                    custom_roles: vec![],
                    teams: vec![],
                    status: "active".to_owned(),
                    kind: "serviceToken".to_owned(),
                    token_id: Some(t.token_id.clone()),
                    csrf_token: None,
                }),
            },
            Principal::Session(s) => {
                let m = member_rows::find(self.db(), &s.member.id).await?;
                let rep = members::to_rep(self.db(), &m).await?;
                Ok(Me {
                    id: rep.id,
                    email: Some(rep.email),
                    role: rep.role,
                    custom_roles: rep.custom_roles,
                    teams: rep.teams,
                    status: rep.status,
                    kind: "member".to_owned(),
                    token_id: None,
                    csrf_token: Some(s.csrf_token.clone()),
                })
            }
            Principal::App(a) => Ok(Me {
                id: a.connection_id.clone(),
                email: None,
                role: "no_access".to_owned(),
                custom_roles: vec![],
                teams: vec![],
                status: "active".to_owned(),
                kind: "connection".to_owned(),
                token_id: None,
                csrf_token: None,
            }),
            Principal::System => Ok(Me {
                id: "system".to_owned(),
                email: None,
                role: "owner".to_owned(),
                custom_roles: vec![],
                teams: vec![],
                status: "active".to_owned(),
                kind: "system".to_owned(),
                token_id: None,
                csrf_token: None,
            }),
        }
    }
}
