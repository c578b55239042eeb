//! The local-mode `StateStore`: one redb file under the data dir, a table of JSON records keyed
//! by `<app>-<env>`. redb is synchronous; calls run on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{StateStore, StoreError, SyncRecord};

const SYNCS: TableDefinition<&str, &[u8]> = TableDefinition::new("app_syncs");

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

    fn save_blocking(&self, record: &SyncRecord) -> Result<(), StoreError> {
        let json = serde_json::to_vec(record).map_err(|e| self.fail(&e))?;
        let txn = self.db.begin_write().map_err(|e| self.fail(&e))?;
        {
            let mut table = txn.open_table(SYNCS).map_err(|e| self.fail(&e))?;
            table
                .insert(record.name().as_str(), json.as_slice())
                .map_err(|e| self.fail(&e))?;
        }
        txn.commit().map_err(|e| self.fail(&e))
    }

    fn load_blocking(&self) -> Result<Vec<SyncRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.fail(&e))?;
        let table = match txn.open_table(SYNCS) {
            Ok(t) => t,
            // A new store has no table until the first save.
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(&e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.fail(&e))? {
            let (key, value) = entry.map_err(|e| self.fail(&e))?;
            let record: SyncRecord = serde_json::from_slice(value.value())
                .map_err(|e| self.fail(&format!("record {}: {e}", key.value())))?;
            out.push(record);
        }
        Ok(out)
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
}
