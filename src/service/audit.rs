//! Reading the audit log: filtered listing, export, chain verification and signed checkpoints.

use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::Value;

use super::authz::authorize;
use super::chain_scan;
use super::util::snapshot;
use super::write::decode_hash;
use super::{AuditDraft, Ctx, Service};
use crate::domain::audit::{self, AuditEntry, ChainHead, ChainVerifier};
use crate::domain::policy::{Resource, ResourceMatcher, Specifier};
use crate::error::{Error, Result};

const CHECKPOINT_SEED_KEY: &str = "audit.checkpoint_seed";
/// Rows fetched per round trip while verifying or exporting.
const BATCH: u64 = 5_000;

/// One audit entry as the API shows it: the recorded entry plus its chain links.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct AuditEntryRep {
    /// The entry's id.
    #[oai(rename = "_id")]
    #[serde(rename = "_id")]
    pub id: String,
    /// Position in the chain (1-based, gap-free).
    pub seq: i64,
    /// Epoch milliseconds.
    pub date: i64,
    /// `[{action, resource}]`: the policy actions and resources the change exercised.
    pub accesses: Value,
    pub kind: String,
    /// The entry's stable event type (`member.created`, `flag.updated`, ...), derived from it
    /// and not part of the hashed content.
    pub event: String,
    pub name: String,
    pub description: String,
    /// `{kind: member|token|app|system, ...}`.
    pub actor: Value,
    #[oai(skip_serializing_if_is_none)]
    pub target: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub parent: Option<Value>,
    /// The environment the change touched, if any.
    #[oai(skip_serializing_if_is_none)]
    pub environment: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub previous_version: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub current_version: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub delta: Option<Value>,
    #[oai(skip_serializing_if_is_none)]
    pub comment: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub approval_request_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub source_ip: Option<String>,
    /// Who an approval event is for: the request's `notifyMemberIds` and the members of its
    /// `notifyTeamKeys`, active ones, with emails, resolved when the event is read (like
    /// `event`, not part of the hashed content).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<Recipient>>,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256(prevHash || canonical entry).
    pub hash: String,
}

/// A member to notify of an approval event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct Recipient {
    pub id: String,
    pub email: String,
}

/// What `GET /api/v2/auditlog` filters by.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// A resource specifier with globs, matched against each access's resource.
    pub spec: Option<String>,
    /// Actor id (member, token or connection id), or a member's email.
    pub actor: Option<String>,
    /// An action name; a trailing `*` matches a prefix.
    pub action: Option<String>,
    /// Entries at or after this epoch-ms time.
    pub after: Option<i64>,
    /// Entries before this epoch-ms time.
    pub before: Option<i64>,
    /// Case-insensitive text in name, description or comment.
    pub q: Option<String>,
    pub limit: Option<u64>,
    /// The `next` value of the previous page.
    pub cursor: Option<String>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEntryRep>,
    pub total_count: u64,
    pub next: Option<String>,
}

/// The outcome of recomputing the chain.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct VerifyReport {
    /// True when every link recomputes and the head matches the last entry.
    pub valid: bool,
    /// Entries checked.
    pub entries: u64,
    /// Hex hash of the last entry checked.
    pub head_hash: String,
    /// The first entry whose link does not hold.
    #[oai(skip_serializing_if_is_none)]
    pub first_broken_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub first_broken_seq: Option<i64>,
    /// Why the first broken entry fails.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
}

/// An Ed25519-signed statement of the chain head, to keep outside the database.
#[derive(Debug, Clone, Serialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase")]
pub struct CheckpointRep {
    pub seq: i64,
    pub hash: String,
    pub signature: String,
    pub public_key: String,
    /// What was signed: `gatehouse-audit-checkpoint-v1\n` || seq (8 bytes, big-endian) || hash (32 bytes).
    pub algorithm: String,
}

/// Parses a stored entry into its API shape.
pub(crate) fn rep_from_row(row: &entity::audit_entry::Model) -> Result<AuditEntryRep> {
    let e: AuditEntry = serde_json::from_str(&row.body)?;
    rep_from_entry(e, row.prev_hash.clone(), row.hash.clone())
}

fn rep_from_entry(e: AuditEntry, prev_hash: String, hash: String) -> Result<AuditEntryRep> {
    Ok(AuditEntryRep {
        id: e.id.clone(),
        seq: e.seq,
        date: e.date,
        accesses: snapshot(&e.accesses)?,
        kind: e.kind.clone(),
        event: audit::event_of(&e).name().to_owned(),
        name: e.name.clone(),
        description: e.description.clone(),
        actor: snapshot(&e.actor)?,
        target: e.target.as_ref().map(snapshot).transpose()?,
        parent: e.parent.as_ref().map(snapshot).transpose()?,
        environment: e.environment,
        previous_version: e.previous_version,
        current_version: e.current_version,
        delta: e.delta,
        comment: e.comment,
        approval_request_id: e.approval_request_id,
        request_id: e.request_id,
        source_ip: e.source_ip,
        recipients: None,
        prev_hash,
        hash,
    })
}

/// Whether the principal may view the resource an audit entry is about: the view action of
/// its type (`viewProject` on the project for everything inside one).
fn visible(principal: &super::Principal, resource: &Resource) -> bool {
    use crate::domain::policy::ResourceType as T;
    let Some(first) = resource.segments.first() else {
        return false;
    };
    let (action, target) = match first.kind {
        T::Proj => {
            let project = Resource {
                segments: vec![first.clone()],
            };
            ("viewProject", project)
        }
        T::Member if resource.segments.len() > 1 => ("viewToken", resource.clone()),
        T::Member => ("viewMember", resource.clone()),
        T::ServiceToken => ("viewToken", resource.clone()),
        T::Team => ("viewTeam", resource.clone()),
        T::Role => ("viewRole", resource.clone()),
        T::Connection => ("viewConnection", resource.clone()),
        _ => ("viewAuditLog", Resource::acct()),
    };
    authorize(principal, action, &target).is_ok()
}

fn parse_cursor(cursor: &str) -> Result<i64> {
    cursor
        .parse::<i64>()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| Error::invalid("cursor: not a cursor this API returned"))
}

/// Where a page starts (entries before the cursor's seq) and how long it is.
#[derive(Clone, Copy)]
struct Page {
    cursor: Option<i64>,
    limit: u64,
}

/// A `spec` filter, compiled, with the texts every entry it matches holds in its
/// `resources` column.
fn spec_matcher(spec: &str) -> Result<(ResourceMatcher, Vec<String>)> {
    let parsed = Specifier::parse(spec).map_err(|e| Error::invalid(format!("spec: {e}")))?;
    let matcher = ResourceMatcher::compile(&parsed)
        .map_err(|e| Error::invalid(format!("spec: {}", e.message)))?;
    Ok((matcher, parsed.required_texts()))
}

/// Narrows a `spec` query in the database to entries whose resources hold the specifier's
/// required texts, so that only those are read and matched (`_` in a key is a LIKE wildcard
/// and SQLite's LIKE ignores case: both only let more through, which the matcher then drops).
fn narrowed_by_texts(cond: Condition, texts: &[String]) -> Condition {
    texts.iter().fold(cond, |cond, text| {
        cond.add(entity::audit_entry::Column::Resources.like(format!("%{text}%")))
    })
}

impl Service {
    /// Lists entries newest first, filtered; a role sees only what it may view.
    pub async fn list_audit(&self, ctx: &Ctx, query: AuditQuery) -> Result<AuditPage> {
        // With `viewAuditLog` on `acct` the whole log is readable; without it, a caller sees
        // the entries about resources it may view, decided by the same engine.
        let full = authorize(&ctx.principal, "viewAuditLog", &Resource::acct()).is_ok();
        let limit = query.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit: must be between 1 and 1000"));
        }
        let spec = query.spec.as_deref().map(spec_matcher).transpose()?;
        let mut cond = self.audit_condition(&query).await?;
        if let Some((_, texts)) = &spec {
            cond = narrowed_by_texts(cond, texts);
        }
        let cursor = query.cursor.as_deref().map(parse_cursor).transpose()?;
        let page = Page { cursor, limit };
        match spec {
            None if full => self.audit_page_by_sql(cond, page).await,
            spec => {
                let viewer = (!full).then_some(&ctx.principal);
                let matcher = spec.as_ref().map(|(m, _)| m);
                self.audit_page_by_match(cond, matcher, viewer, page).await
            }
        }
    }

    /// The SQL part of the filters: actor (an id, or a member's email), action (a name or a
    /// `prefix*`), dates, and free text.
    async fn audit_condition(&self, query: &AuditQuery) -> Result<Condition> {
        let mut cond = Condition::all();
        if let Some(actor) = &query.actor {
            let mut ids: Vec<String> = entity::member::Entity::find()
                .filter(entity::member::Column::EmailLower.eq(actor.to_lowercase()))
                .select_only()
                .column(entity::member::Column::Id)
                .into_tuple()
                .all(self.db())
                .await?;
            ids.push(actor.clone());
            cond = cond.add(entity::audit_entry::Column::ActorId.is_in(ids));
        }
        if let Some(action) = &query.action {
            if action.is_empty()
                || action.contains(|c: char| c.is_whitespace() || c == '%' || c == '_')
            {
                return Err(Error::invalid("action: not an action name"));
            }
            let pattern = match action.strip_suffix('*') {
                Some(prefix) => format!("% {prefix}%"),
                None => format!("% {action} %"),
            };
            cond = cond.add(entity::audit_entry::Column::Actions.like(pattern));
        }
        if let Some(after) = query.after {
            cond = cond.add(entity::audit_entry::Column::Date.gte(after));
        }
        if let Some(before) = query.before {
            cond = cond.add(entity::audit_entry::Column::Date.lt(before));
        }
        if let Some(q) = &query.q {
            let escaped = q
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            cond = cond.add(sea_orm::sea_query::ExprTrait::like(
                sea_orm::sea_query::Expr::col(entity::audit_entry::Column::SearchText),
                sea_orm::sea_query::LikeExpr::new(format!("%{escaped}%")).escape('\\'),
            ));
        }
        Ok(cond)
    }

    /// A page of a log the caller may read whole, filtered by SQL alone.
    async fn audit_page_by_sql(&self, cond: Condition, page: Page) -> Result<AuditPage> {
        let total_count = if cond.is_empty() {
            self.chain_length().await?
        } else {
            entity::audit_entry::Entity::find()
                .filter(cond.clone())
                .count(self.db())
                .await?
        };
        let mut page_cond = cond;
        if let Some(c) = page.cursor {
            page_cond = page_cond.add(entity::audit_entry::Column::Seq.lt(c));
        }
        let rows = entity::audit_entry::Entity::find()
            .filter(page_cond)
            .order_by_desc(entity::audit_entry::Column::Seq)
            .limit(page.limit + 1)
            .all(self.db())
            .await?;
        self.page_from_rows(rows, page.limit, total_count)
    }

    /// How many entries the log holds: the last `seq`, since the chain numbers its entries
    /// from 1 without gaps. One index lookup, where counting reads every entry.
    async fn chain_length(&self) -> Result<u64> {
        let last: Option<i64> = entity::audit_entry::Entity::find()
            .select_only()
            .column(entity::audit_entry::Column::Seq)
            .order_by_desc(entity::audit_entry::Column::Seq)
            .limit(1)
            .into_tuple()
            .one(self.db())
            .await?;
        Ok(last.map_or(0, |seq| u64::try_from(seq).unwrap_or(0)))
    }

    /// A page filtered by a specifier, or by what `viewer` may view (`None`: the whole log).
    /// A specifier is matched by the policy grammar and visibility by the policy engine, not
    /// SQL: narrow by SQL first, then match each candidate's resources.
    async fn audit_page_by_match(
        &self,
        cond: Condition,
        spec: Option<&ResourceMatcher>,
        viewer: Option<&super::Principal>,
        page: Page,
    ) -> Result<AuditPage> {
        let candidates: Vec<(i64, String)> = entity::audit_entry::Entity::find()
            .filter(cond)
            .select_only()
            .column(entity::audit_entry::Column::Seq)
            .column(entity::audit_entry::Column::Resources)
            .order_by_desc(entity::audit_entry::Column::Seq)
            .into_tuple()
            .all(self.db())
            .await?;
        let matching: Vec<i64> = candidates
            .iter()
            .filter(|(_, resources)| {
                let parsed: Vec<Resource> = resources
                    .split('\n')
                    .filter_map(|r| r.parse().ok())
                    .collect();
                let matches_spec = spec.is_none_or(|m| parsed.iter().any(|r| m.matches(r)));
                matches_spec && viewer.is_none_or(|p| parsed.iter().any(|r| visible(p, r)))
            })
            .map(|(seq, _)| *seq)
            .collect();
        let total_count = matching.len() as u64;
        let seqs: Vec<i64> = matching
            .into_iter()
            .filter(|seq| page.cursor.is_none_or(|c| *seq < c))
            .take(usize::try_from(page.limit + 1).unwrap_or(usize::MAX))
            .collect();
        let rows = entity::audit_entry::Entity::find()
            .filter(entity::audit_entry::Column::Seq.is_in(seqs))
            .order_by_desc(entity::audit_entry::Column::Seq)
            .all(self.db())
            .await?;
        self.page_from_rows(rows, page.limit, total_count)
    }

    fn page_from_rows(
        &self,
        rows: Vec<entity::audit_entry::Model>,
        limit: u64,
        total_count: u64,
    ) -> Result<AuditPage> {
        let has_more = rows.len() as u64 > limit;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            items.push(rep_from_row(row)?);
        }
        let next = if has_more {
            items.last().map(|e| e.seq.to_string())
        } else {
            None
        };
        Ok(AuditPage {
            items,
            total_count,
            next,
        })
    }

    pub async fn get_audit_entry(&self, ctx: &Ctx, id: &str) -> Result<AuditEntryRep> {
        let not_found = || Error::not_found(format!("audit entry {id:?}"));
        let row = entity::audit_entry::Entity::find()
            .filter(entity::audit_entry::Column::Id.eq(id))
            .one(self.db())
            .await?
            .ok_or_else(not_found)?;
        let full = authorize(&ctx.principal, "viewAuditLog", &Resource::acct()).is_ok();
        // An entry the caller may not see is answered like one that does not exist.
        if !full
            && !row
                .resources
                .split('\n')
                .filter_map(|r| r.parse().ok())
                .any(|r| visible(&ctx.principal, &r))
        {
            return Err(not_found());
        }
        let mut rep = [rep_from_row(&row)?];
        self.add_recipients(&mut rep).await?;
        let [rep] = rep;
        Ok(rep)
    }

    /// The whole log as JSON Lines, oldest first. The export itself is audited first, so the
    /// file ends with the entry that records it.
    pub async fn export_audit(&self, ctx: &Ctx) -> Result<String> {
        authorize(&ctx.principal, "viewAuditLog", &Resource::acct())?;
        let mut tx = self.begin_write(ctx).await?;
        tx.audit(
            AuditDraft::new("auditlog", "audit log", "exportAuditLog", &Resource::acct())
                .describe("exported the audit log"),
        );
        tx.commit().await?;
        let mut out = String::new();
        let mut after = 0i64;
        loop {
            let rows = entity::audit_entry::Entity::find()
                .filter(entity::audit_entry::Column::Seq.gt(after))
                .order_by_asc(entity::audit_entry::Column::Seq)
                .limit(BATCH)
                .all(self.db())
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            for row in &rows {
                let rep = rep_from_row(row)?;
                out.push_str(&serde_json::to_string(&rep).map_err(Error::internal)?);
                out.push('\n');
            }
        }
        Ok(out)
    }

    /// Recomputes the whole chain and names the first entry that does not hold.
    ///
    /// The chain is checked up to the head as it is when verification starts: entries
    /// appended meanwhile are the next run's. Chunks are checked in parallel, each from what
    /// its first link claims to follow (`check_chunk`); taken in order, a chunk holds when
    /// its first link continues the chain so far, so the first break found is the lowest.
    pub async fn verify_audit(&self) -> Result<VerifyReport> {
        let recorded = entity::audit_head::Entity::find_by_id(1)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::internal("audit head row is missing"))?;
        let mut head = ChainHead::EMPTY;
        let mut chunks = chain_scan::scan(self.db().clone(), recorded.seq, check_chunk);
        while let Some(chunk) = chunks.next_chunk().await {
            let chunk = chunk?;
            if let Some((seq, prev_hash)) = &chunk.first
                && let Err(reason) = head.continued_by(*seq, prev_hash)
            {
                return self.broken(*seq, head, format!("{reason:?}")).await;
            }
            head = chunk.verified.unwrap_or(head);
            if let Some((seq, reason)) = chunk.broken {
                return self.broken(seq, head, reason).await;
            }
        }
        let entries = u64::try_from(head.seq).unwrap_or(0);
        let head_hash = hex::encode(head.hash);
        // Entries cut off the end leave the head ahead of the last row.
        if recorded.seq != head.seq || recorded.hash != head_hash {
            return Ok(VerifyReport {
                valid: false,
                entries,
                head_hash,
                first_broken_id: None,
                first_broken_seq: Some(head.seq + 1),
                reason: Some(format!(
                    "the chain head records seq {} but the log ends at seq {}",
                    recorded.seq, head.seq
                )),
            });
        }
        Ok(VerifyReport {
            valid: true,
            entries,
            head_hash,
            first_broken_id: None,
            first_broken_seq: None,
            reason: None,
        })
    }

    /// The report of a chain that breaks at `seq` (the entries `verified` passed hold).
    async fn broken(&self, seq: i64, verified: ChainHead, reason: String) -> Result<VerifyReport> {
        let id = entity::audit_entry::Entity::find_by_id(seq)
            .one(self.db())
            .await?
            .map(|row| row.id);
        Ok(VerifyReport {
            valid: false,
            entries: u64::try_from(seq - 1).unwrap_or(0),
            head_hash: hex::encode(verified.hash),
            first_broken_id: id,
            first_broken_seq: Some(seq),
            reason: Some(reason),
        })
    }

    /// Signs the current head.
    pub async fn audit_checkpoint(&self, ctx: &Ctx) -> Result<CheckpointRep> {
        authorize(&ctx.principal, "viewAuditLog", &Resource::acct())?;
        let head = entity::audit_head::Entity::find_by_id(1)
            .one(self.db())
            .await?
            .ok_or_else(|| Error::internal("audit head row is missing"))?;
        let hash = decode_hash(&head.hash)?;
        let cp = self.signer().sign(head.seq, &hash);
        Ok(CheckpointRep {
            seq: cp.seq,
            hash: cp.hash,
            signature: cp.signature,
            public_key: cp.public_key,
            algorithm: "Ed25519".to_owned(),
        })
    }
}

/// What one chunk says once checked on its own.
struct ChunkCheck {
    /// The first link's seq and `prevHash`: whether it continues the chain so far is for
    /// the caller to check, who alone knows where the chain so far ends.
    first: Option<(i64, String)>,
    /// The head after the links that hold, `None` when none does.
    verified: Option<ChainHead>,
    /// The first link that does not hold, and why.
    broken: Option<(i64, String)>,
}

/// Checks a chunk's links in order, as the whole chain's verification would if the chain
/// before the chunk ended where its first link claims: every hash, linkage, seq and query
/// column. Runs in a scanning lane, beside the other lanes.
fn check_chunk(links: &mut chain_scan::Links<'_>) -> ChunkCheck {
    let mut check = ChunkCheck {
        first: None,
        verified: None,
        broken: None,
    };
    let mut verifier: Option<ChainVerifier> = None;
    for link in links {
        let link = match link {
            Ok(link) => link,
            Err(bad) => {
                check.broken = Some((bad.after_seq + 1, "stored entry does not frame".into()));
                break;
            }
        };
        let verifier = verifier.get_or_insert_with(|| {
            check.first = Some((link.seq, link.prev_hash.to_owned()));
            ChainVerifier::resume_after(ChainHead::claimed_by(link.seq, link.prev_hash))
        });
        let before = verifier.head();
        let pushed = verifier.push_hex(
            link.seq,
            link.body.as_bytes(),
            link.prev_hash,
            link.hash,
            "",
        );
        if let Err(b) = pushed {
            check.broken = Some((link.seq, format!("{:?}", b.reason)));
            break;
        }
        // The hash holds for the body; the columns queries read must say the same.
        if let Err(mismatch) = audit::check_columns(&link.columns, link.body) {
            check.verified = Some(before);
            check.broken = Some((link.seq, mismatch.to_string()));
            return check;
        }
    }
    // Up to the first link, the head is only what that link claims: the caller uses it once
    // it has found the claim true.
    check.verified = verifier.map(|v| v.head());
    check
}

/// Reads the seed of the checkpoint key, or makes one. Two processes starting together on one
/// PostgreSQL race on the primary key; the loser reads the winner's seed.
pub(crate) async fn load_or_create_checkpoint_seed(service: &Service) -> Result<[u8; 32]> {
    let read = || async {
        let row = entity::setting::Entity::find_by_id(CHECKPOINT_SEED_KEY.to_owned())
            .one(service.db())
            .await?;
        row.map(|r| decode_hash(&r.value)).transpose()
    };
    if let Some(seed) = read().await? {
        return Ok(seed);
    }
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let ctx = Ctx::system();
    let mut tx = service.begin_write(&ctx).await?;
    let inserted = entity::setting::ActiveModel {
        key: Set(CHECKPOINT_SEED_KEY.to_owned()),
        value: Set(hex::encode(seed)),
    }
    .insert(tx.db())
    .await;
    if inserted.is_err() {
        drop(tx);
        return read()
            .await?
            .ok_or_else(|| Error::internal("checkpoint key vanished"));
    }
    tx.audit(
        AuditDraft::new(
            "auditlog",
            "checkpoint key",
            "createCheckpointKey",
            &Resource::acct(),
        )
        .describe("created the audit checkpoint signing key"),
    );
    tx.commit().await?;
    Ok(seed)
}
