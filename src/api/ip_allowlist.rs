//! `/api/v2/account/ip-allowlist`: the addresses REST requests must come from.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::Tag;
use super::auth::{ApiToken, context};
use super::error::ApiResult;
use crate::service::Service;
use crate::service::ip_allowlist::{IpAllowlist, IpAllowlistPut};

pub struct IpAllowlistApi;

#[OpenApi(prefix_path = "/api/v2", tag = "Tag::Account")]
impl IpAllowlistApi {
    /// The account's IP allowlist
    ///
    /// The address ranges REST requests must come from: those signed in with a browser
    /// session when `sessionsEnabled`, those with an API token when `tokensEnabled`. Other
    /// requests get 403 naming their address. `callerAddress` is this request's address as
    /// the server sees it (behind a proxy listed in `GATEHOUSE_TRUSTED_PROXIES`, the
    /// forwarded client address).
    ///
    /// **Permission:** `viewIpAllowlist` on `acct` (every base role but `no_access`).
    #[oai(
        path = "/account/ip-allowlist",
        method = "get",
        operation_id = "getIpAllowlist"
    )]
    async fn get_ip_allowlist(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
    ) -> ApiResult<Json<IpAllowlist>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.get_ip_allowlist(&ctx).await?))
    }

    /// Replace the account's IP allowlist
    ///
    /// Sets the whole list and both switches. Refused with 400 when a range does not parse
    /// (naming `entries[i].cidr`) or a switch is on over an empty list, and with 409 when the
    /// change would refuse the caller's own address (nothing is written). Takes effect at
    /// once on this server, within 5 seconds on other replicas. Audited with the actions it
    /// exercises, before and after.
    ///
    /// **Permission:** each action the change exercises on `acct`: `createIpAllowlistEntry`,
    /// `updateIpAllowlistEntry`, `deleteIpAllowlistEntry`, `updateIpAllowlistEnabled`
    /// (admins and the owner).
    #[oai(
        path = "/account/ip-allowlist",
        method = "put",
        operation_id = "putIpAllowlist"
    )]
    async fn put_ip_allowlist(
        &self,
        service: Data<&Service>,
        auth: ApiToken,
        req: &Request,
        body: Json<IpAllowlistPut>,
    ) -> ApiResult<Json<IpAllowlist>> {
        let ctx = context(&service, &auth, req).await?;
        Ok(Json(service.put_ip_allowlist(&ctx, body.0).await?))
    }
}
