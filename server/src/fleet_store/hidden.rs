//! `hidden_masters`: rows of Buildbot's `masters` table that `bbctl masters prune` hid. bbctl
//! never writes Buildbot's own tables for this; it only remembers what not to show.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::conn::{on_conn, sql};
use super::{FleetStore, StoreError};

#[derive(QueryableByName)]
struct HiddenRow {
    #[diesel(sql_type = BigInt)]
    masterid: i64,
    #[diesel(sql_type = Text)]
    name: String,
}

impl FleetStore {
    /// The hidden rows of this fleet: (Buildbot masterid, name), by id.
    pub async fn hidden_masters(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let fleet = self.fleet().to_owned();
        self.run(move |c| {
            let q = sql(
                c,
                "SELECT masterid, name FROM hidden_masters WHERE fleet = $1 ORDER BY masterid",
            );
            let rows: Vec<HiddenRow> =
                on_conn!(c, |c| diesel::sql_query(q).bind::<Text, _>(&fleet).load(c))?;
            Ok(rows.into_iter().map(|r| (r.masterid, r.name)).collect())
        })
        .await
    }

    /// Hides `rows` (masterid, name), all or none; hiding a hidden row again keeps its first
    /// `hidden_at`. `by` is who asked (`X-Bbctl-Requested-By`).
    pub async fn hide_masters(
        &self,
        rows: &[(i64, String)],
        by: Option<&str>,
    ) -> Result<(), StoreError> {
        let (fleet, rows, by) = (
            self.fleet().to_owned(),
            rows.to_vec(),
            by.map(str::to_owned),
        );
        self.run(move |c| {
            let q = sql(
                c,
                "INSERT INTO hidden_masters (fleet, masterid, name, hidden_at, hidden_by) \
                 VALUES ($1, $2, $3, {now}, $4) ON CONFLICT (fleet, masterid) DO NOTHING",
            );
            on_conn!(c, |c| c.transaction(|c| {
                for (id, name) in &rows {
                    diesel::sql_query(q.as_str())
                        .bind::<Text, _>(&fleet)
                        .bind::<BigInt, _>(*id)
                        .bind::<Text, _>(name)
                        .bind::<Nullable<Text>, _>(by.as_deref())
                        .execute(c)?;
                }
                Ok::<_, diesel::result::Error>(())
            }))?;
            Ok(())
        })
        .await
    }
}
