//! Upgrade journals, append-only (design §2.4): each save is one `upgrade_entries` row whose
//! `seq` is the journal's version. The append checks the lease in the same statement — the row is
//! written only while `holder`/`epoch` are the fleet lease's — and a version another writer took
//! first is a duplicate key. The first entry also writes the `upgrades` row.

use bbctl_api::{PutUpgradeRequest, UpgradeEntry, UpgradeRecord};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Text};

use super::conn::{StoreConn, on_conn, sql};
use super::lease::{read, stale};
use super::{FleetStore, StoreError, check_token, is_unique_violation};

/// How many journals `GET /v1/upgrades` lists.
const LIST_LIMIT: i64 = 100;

const RECORD: &str = "SELECT u.id, u.created_at, e.seq, e.at, e.holder, e.epoch, e.doc \
     FROM upgrades u JOIN upgrade_entries e ON e.upgrade_id = u.id \
     WHERE u.fleet = $1 \
       AND e.seq = (SELECT MAX(seq) FROM upgrade_entries m WHERE m.upgrade_id = u.id)";

#[derive(QueryableByName)]
struct RecordRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Double)]
    created_at: f64,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Double)]
    at: f64,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Text)]
    doc: String,
}

impl RecordRow {
    fn into_wire(self) -> Result<UpgradeRecord, StoreError> {
        Ok(UpgradeRecord {
            doc: serde_json::from_str(&self.doc)
                .map_err(|e| StoreError::Malformed(format!("upgrade {}: {e}", self.id)))?,
            id: self.id,
            version: self.seq,
            created_at: self.created_at,
            updated_at: self.at,
            holder: self.holder,
            epoch: self.epoch,
        })
    }
}

#[derive(QueryableByName)]
struct EntryRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = BigInt)]
    epoch: i64,
    #[diesel(sql_type = Text)]
    holder: String,
    #[diesel(sql_type = Double)]
    at: f64,
}

#[derive(QueryableByName)]
struct Seq {
    #[diesel(sql_type = BigInt)]
    seq: i64,
}

fn get(c: &mut StoreConn, fleet: &str, id: &str) -> Result<Option<UpgradeRecord>, StoreError> {
    let q = sql(c, &format!("{RECORD} AND u.id = $2"));
    let row: Option<RecordRow> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(fleet)
        .bind::<Text, _>(id)
        .get_result(c)
        .optional())?;
    row.map(RecordRow::into_wire).transpose()
}

/// The latest `seq` of journal `id` (`None`: no entry).
fn latest(c: &mut StoreConn, id: &str) -> Result<Option<i64>, StoreError> {
    let q = sql(
        c,
        "SELECT MAX(seq) AS seq FROM upgrade_entries WHERE upgrade_id = $1 HAVING COUNT(*) > 0",
    );
    let row: Option<Seq> = on_conn!(c, |c| diesel::sql_query(q)
        .bind::<Text, _>(id)
        .get_result(c)
        .optional())?;
    Ok(row.map(|r| r.seq))
}

/// Appends entry `seq` while the lease is `holder`'s under `epoch` and `seq - 1` is the latest
/// entry; `Ok(false)`: nothing written (fenced or behind).
fn append(
    c: &mut StoreConn,
    fleet: &str,
    id: &str,
    seq: i64,
    req: &PutUpgradeRequest,
) -> Result<bool, diesel::result::Error> {
    let entry = sql(
        c,
        "INSERT INTO upgrade_entries (upgrade_id, seq, epoch, holder, at, doc) \
         SELECT $4, $5, l.epoch, l.holder, {now}, $6 FROM lease l \
         WHERE l.fleet = $1 AND l.holder = $2 AND l.epoch = $3 \
           AND (SELECT COALESCE(MAX(seq), 0) FROM upgrade_entries WHERE upgrade_id = $4) = $5 - 1 \
         FOR SHARE OF l RETURNING seq",
    );
    let upgrade = sql(
        c,
        "INSERT INTO upgrades (id, fleet, created_at) \
         SELECT $1, $2, MIN(at) FROM upgrade_entries WHERE upgrade_id = $1 \
         ON CONFLICT (id) DO NOTHING",
    );
    let doc = req.doc.to_string();
    on_conn!(c, |c| c.transaction(|c| {
        let written: Option<Seq> = diesel::sql_query(entry)
            .bind::<Text, _>(fleet)
            .bind::<Text, _>(&req.holder)
            .bind::<BigInt, _>(req.epoch)
            .bind::<Text, _>(id)
            .bind::<BigInt, _>(seq)
            .bind::<Text, _>(&doc)
            .get_result(c)
            .optional()?;
        if written.is_some() {
            diesel::sql_query(upgrade)
                .bind::<Text, _>(id)
                .bind::<Text, _>(fleet)
                .execute(c)?;
        }
        Ok(written.is_some())
    }))
}

impl FleetStore {
    /// `PUT /v1/upgrades/{id}`: appends the journal's next state under the caller's lease.
    pub async fn put_upgrade(
        &self,
        id: String,
        req: PutUpgradeRequest,
    ) -> Result<UpgradeRecord, StoreError> {
        check_id(&id)?;
        check_token("holder", &req.holder)?;
        let seq = req.expected_version.unwrap_or(0).max(0) + 1;
        let fleet = self.fleet().to_owned();
        self.run(move |c| {
            match append(c, &fleet, &id, seq, &req) {
                Ok(true) => {
                    return get(c, &fleet, &id)?
                        .ok_or_else(|| StoreError::Malformed(format!("upgrade {id} vanished")));
                }
                Ok(false) => {}
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let lease = read(c, &fleet)?;
            let holds = lease
                .as_ref()
                .is_some_and(|l| l.holder == req.holder && l.epoch == req.epoch);
            if !holds {
                return Err(stale(&fleet, req.epoch, lease.as_ref()));
            }
            Err(StoreError::VersionMismatch {
                stored: latest(c, &id)?,
            })
        })
        .await
    }

    /// `GET /v1/upgrades/{id}`: the latest entry's document.
    pub async fn upgrade(&self, id: &str) -> Result<UpgradeRecord, StoreError> {
        let (fleet, id) = (self.fleet().to_owned(), id.to_owned());
        self.run(move |c| get(c, &fleet, &id)?.ok_or(StoreError::NoUpgrade(id)))
            .await
    }

    /// `GET /v1/upgrades`: the newest journals of this fleet, newest first.
    pub async fn upgrades(&self) -> Result<Vec<UpgradeRecord>, StoreError> {
        let fleet = self.fleet().to_owned();
        self.run(move |c| {
            let q = sql(
                c,
                &format!("{RECORD} ORDER BY u.created_at DESC, u.id DESC LIMIT {LIST_LIMIT}"),
            );
            let rows: Vec<RecordRow> =
                on_conn!(c, |c| diesel::sql_query(q).bind::<Text, _>(&fleet).load(c))?;
            rows.into_iter().map(RecordRow::into_wire).collect()
        })
        .await
    }

    /// `GET /v1/upgrades/{id}/entries`: who wrote each entry under which epoch, oldest first.
    pub async fn upgrade_entries(&self, id: &str) -> Result<Vec<UpgradeEntry>, StoreError> {
        let (fleet, id) = (self.fleet().to_owned(), id.to_owned());
        self.run(move |c| {
            let q = sql(
                c,
                "SELECT e.seq, e.epoch, e.holder, e.at FROM upgrade_entries e \
                 JOIN upgrades u ON u.id = e.upgrade_id \
                 WHERE u.fleet = $1 AND e.upgrade_id = $2 ORDER BY e.seq",
            );
            let rows: Vec<EntryRow> = on_conn!(c, |c| diesel::sql_query(q)
                .bind::<Text, _>(&fleet)
                .bind::<Text, _>(&id)
                .load(c))?;
            if rows.is_empty() {
                return Err(StoreError::NoUpgrade(id));
            }
            Ok(rows
                .into_iter()
                .map(|r| UpgradeEntry {
                    seq: r.seq,
                    epoch: r.epoch,
                    holder: r.holder,
                    at: r.at,
                })
                .collect())
        })
        .await
    }
}

/// A journal id: 1-100 characters of `[A-Za-z0-9._-]` (it is a URL path segment).
fn check_id(id: &str) -> Result<(), StoreError> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadRequest(
            "an id is 1-100 characters of [A-Za-z0-9._-]".into(),
        ))
    }
}
