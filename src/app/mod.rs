//! What wraps every edge (REST, SCIM, SSO, docs, operational endpoints): request ids and
//! metrics, the NUL refusal, the body limit and admission under overload. It stands above
//! the edges, since each refusal is rendered in the error JSON of the edge it refuses for.

pub mod admission;
pub mod middleware;
