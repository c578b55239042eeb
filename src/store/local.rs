//! The local-mode `StateStore`: one redb file under the data dir, a table of JSON records keyed
//! by `<app>-<env>`. redb is synchronous; calls run on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{StateStore, StoreError, SyncRecord};
use crate::core::AppEnv;
use crate::rollout::drive::Canary;

const SYNCS: TableDefinition<&str, &[u8]> = TableDefinition::new("app_syncs");
const ROLLOUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("rollouts");

pub struct LocalStore {
    db: Arc<Database>,
    path: PathBuf,
}

impl LocalStore {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let fail = |message: String| StoreError::Local {
            path: path.display().to_string(),
            message,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let db = Database::create(path).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_path_buf(),
        })
    }

    fn fail(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError::Local {
            path: self.path.display().to_string(),
            message: e.to_string(),
        }
    }

    /// Writes `value` under `key` in `table` (`None` removes it), in one transaction.
    fn put(
        &self,
        table: TableDefinition<&str, &[u8]>,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.fail(&e))?;
        {
            let mut t = txn.open_table(table).map_err(|e| self.fail(&e))?;
            match value {
                Some(v) => {
                    t.insert(key, v).map_err(|e| self.fail(&e))?;
                }
                None => {
                    t.remove(key).map_err(|e| self.fail(&e))?;
                }
            }
        }
        txn.commit().map_err(|e| self.fail(&e))
    }

    /// Every value of `table`, parsed; a new store has no table until the first write.
    fn all<T: serde::de::DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(&e))?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(&e)),
        };
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| self.fail(&e))? {
            let (key, value) = entry.map_err(|e| self.fail(&e))?;
            out.push(
                serde_json::from_slice(value.value())
                    .map_err(|e| self.fail(&format!("record {}: {e}", key.value())))?,
            );
        }
        Ok(out)
    }

    fn save_blocking(&self, record: &SyncRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| self.fail(&e))?;
        self.put(SYNCS, &record.name(), Some(&json))
    }

    fn load_blocking(&self) -> Result<Vec<SyncRecord>, StoreError> {
        self.all(SYNCS)
    }

    fn save_rollout_blocking(
        &self,
        key: &AppEnv,
        canary: Option<&Canary>,
    ) -> Result<(), StoreError> {
        let json = canary
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| self.fail(&e))?;
        self.put(
            ROLLOUTS,
            &format!("{}-{}", key.app, key.env),
            json.as_deref(),
        )
    }
}

impl StateStore for Arc<LocalStore> {
    fn save<'a>(&'a self, record: &'a SyncRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        let this = Arc::clone(self);
        let record = record.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.save_blocking(&record))
                .await
                .map_err(|e| self.fail(&e))?
        })
    }

    fn load(&self) -> BoxFuture<'_, Result<Vec<SyncRecord>, StoreError>> {
        let this = Arc::clone(self);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.load_blocking())
                .await
                .map_err(|e| self.fail(&e))?
        })
    }

    fn save_rollout<'a>(
        &'a self,
        key: &'a AppEnv,
        canary: Option<&'a Canary>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let (this, key, canary) = (Arc::clone(self), key.clone(), canary.cloned());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.save_rollout_blocking(&key, canary.as_ref()))
                .await
                .map_err(|e| self.fail(&e))?
        })
    }

    fn load_rollouts(&self) -> BoxFuture<'_, Result<Vec<Canary>, StoreError>> {
        let this = Arc::clone(self);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || this.all(ROLLOUTS))
                .await
                .map_err(|e| self.fail(&e))?
        })
    }
}
