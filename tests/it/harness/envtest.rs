//! An envtest-style API server: etcd and kube-apiserver from `GANTRY_KUBE_ASSETS` (like
//! controller-runtime's `KUBEBUILDER_ASSETS`), on 127.0.0.1, with a generated service-account
//! key, a self-signed serving certificate and a static admin token, and kube-controller-manager
//! when the directory has it (the garbage collector finishes foreground deletions; the
//! `Deployment`, `ReplicaSet`, `Endpoints` and `EndpointSlice` controllers make what they make in any
//! cluster). Without the variable, [`Envtest::start`] prints `SKIP: GANTRY_KUBE_ASSETS not set`
//! and returns `None`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const TOKEN: &str = "gantry-envtest-admin-token";

pub struct Envtest {
    etcd: Child,
    apiserver: Child,
    controllers: Option<Child>,
    dir: TempDir,
    pub url: String,
    pub client: kube::Client,
}

impl Drop for Envtest {
    fn drop(&mut self) {
        let children = self
            .controllers
            .iter_mut()
            .chain([&mut self.apiserver, &mut self.etcd]);
        for child in children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn binary(assets: &Path, name: &str) -> PathBuf {
    let path = assets.join(name);
    assert!(
        path.is_file(),
        "GANTRY_KUBE_ASSETS={} has no {name}: it must hold etcd and kube-apiserver (as setup-envtest downloads them), and kube-controller-manager for the controllers",
        assets.display()
    );
    path
}

impl Envtest {
    /// Starts etcd and kube-apiserver, or returns `None` (with the printed reason) when
    /// `GANTRY_KUBE_ASSETS` is unset.
    pub async fn start() -> Option<Self> {
        let Some(assets) = std::env::var_os("GANTRY_KUBE_ASSETS").map(PathBuf::from) else {
            println!(
                "SKIP: GANTRY_KUBE_ASSETS not set (a directory with etcd and kube-apiserver runs these tests against a real API server)"
            );
            return None;
        };
        let dir = TempDir::new().expect("envtest dir");
        let (etcd_port, peer_port, api_port) =
            (super::free_port(), super::free_port(), super::free_port());
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd = Command::new(binary(&assets, "etcd"))
            .arg(format!("--data-dir={}", dir.path().join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"
            ))
            .arg(format!(
                "--initial-cluster=default=http://127.0.0.1:{peer_port}"
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd");

        let key = rcgen::KeyPair::generate().expect("service-account key");
        let key_file = dir.path().join("sa.key");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        // kube-apiserver verifies tokens with the public key; it refuses a private PKCS#8 key.
        let pub_file = dir.path().join("sa.pub");
        std::fs::write(&pub_file, key.public_key_pem()).expect("write public key");
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, format!("{TOKEN},admin,admin-uid,system:masters\n"))
            .expect("write tokens");
        let log = std::fs::File::create(dir.path().join("apiserver.log")).expect("apiserver log");
        let apiserver = Command::new(binary(&assets, "kube-apiserver"))
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg(format!("--cert-dir={}", dir.path().join("certs").display()))
            .arg(format!("--secure-port={api_port}"))
            .args(["--bind-address=127.0.0.1", "--advertise-address=127.0.0.1"])
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--service-account-issuer=https://127.0.0.1")
            .arg(format!("--service-account-key-file={}", pub_file.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                key_file.display()
            ))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .args([
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kube-apiserver");
        let url = format!("https://127.0.0.1:{api_port}");
        let mut env = Self {
            etcd,
            apiserver,
            controllers: None,
            dir,
            url: url.clone(),
            client: client(&url),
        };
        env.wait_ready().await;
        let manager = assets.join("kube-controller-manager");
        if manager.is_file() {
            env.controllers = Some(env.start_controllers(&manager, &key_file));
        } else {
            println!(
                "note: {} has no kube-controller-manager: no garbage collector or controllers run",
                assets.display()
            );
        }
        Some(env)
    }

    /// Whether kube-controller-manager runs (controllers make Endpoints, the garbage collector
    /// finishes foreground deletions).
    pub fn has_controllers(&self) -> bool {
        self.controllers.is_some()
    }

    fn start_controllers(&self, binary: &Path, key_file: &Path) -> Child {
        let kubeconfig = self.dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, self.kubeconfig()).expect("write kubeconfig");
        let log = std::fs::File::create(self.dir.path().join("controller-manager.log"))
            .expect("controller-manager log");
        Command::new(binary)
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["--leader-elect=false", "--secure-port=0"])
            .arg(format!(
                "--service-account-private-key-file={}",
                key_file.display()
            ))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kube-controller-manager")
    }

    /// A kubeconfig for the admin token (context `envtest`), for processes started by tests.
    pub fn kubeconfig(&self) -> String {
        self.kubeconfig_for("envtest")
    }

    /// A kubeconfig for the admin token whose context is called `context`.
    pub fn kubeconfig_for(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: {context}\n  context:\n    cluster: envtest\n    user: admin\ncurrent-context: {context}\n",
            self.url
        )
    }

    async fn wait_ready(&mut self) {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let start = Instant::now();
        loop {
            let ok = http
                .get(format!("{}/readyz", self.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if let Ok(Some(status)) = self.apiserver.try_wait() {
                let log = std::fs::read_to_string(self.dir.path().join("apiserver.log"))
                    .unwrap_or_default();
                panic!(
                    "kube-apiserver exited with {status}:\n{}",
                    log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "kube-apiserver not ready after 90 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn client(url: &str) -> kube::Client {
    let mut config = kube::Config::new(url.parse().expect("API server URL"));
    // The serving certificate is self-signed by kube-apiserver for 127.0.0.1.
    config.accept_invalid_certs = true;
    config.auth_info.token = Some(TOKEN.to_string().into());
    kube::Client::try_from(config).expect("kube client")
}
