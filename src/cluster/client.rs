//! Connecting to a cluster: a kubeconfig context per environment, or the in-cluster service
//! account.
//!
//! Input: the environment's `cluster` setting. Output: a kube client, or an error naming the
//! context and what is missing.

use super::ClusterError;
use crate::config::Cluster;

/// A client for `cluster`.
pub async fn connect(cluster: &Cluster) -> Result<kube::Client, ClusterError> {
    let (what, config) = match cluster {
        Cluster::InCluster => (
            "the in-cluster service account".to_string(),
            kube::Config::incluster().map_err(|e| e.to_string()),
        ),
        Cluster::Context(context) => {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            (
                format!("kubeconfig context {context:?}"),
                kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| e.to_string()),
            )
        }
    };
    let config = config.map_err(|message| ClusterError::Connect {
        what: what.clone(),
        message,
    })?;
    kube::Client::try_from(config).map_err(|e| ClusterError::Connect {
        what,
        message: e.to_string(),
    })
}
