//! Image benchmarks (`cargo bench --bench image`). Prints the figure the README records: pack and
//! push of a 50 MB directory (half incompressible, half text) from scratch to a loopback
//! docker-registry, split into building the layer and pushing it.
//!
//! Needs Debian's `docker-registry` at /usr/bin/docker-registry, as the tests do.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry::artifact::pack::{ConfigChanges, PackRequest, Platform, layer, pack};
use gantry::artifact::registry::{Registry, RegistryOptions, Upload, parse_reference};

mod common;
use common::measure;

const MB: usize = 1024 * 1024;

struct Server(Child, #[allow(dead_code)] tempfile::TempDir, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let child = Command::new("/usr/bin/docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (apt-get install docker-registry)");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, dir, port)
}

/// 50 MB: 25 files of 1 MiB pseudo-random bytes and 25 of repetitive text, in 5 directories.
fn fill(dir: &Path) {
    let mut rng = fastrand::Rng::with_seed(7);
    for d in 0..5 {
        let sub = dir.join(format!("dir{d}"));
        std::fs::create_dir_all(&sub).expect("mkdir");
        for f in 0..10 {
            let data: Vec<u8> = if f % 2 == 0 {
                (0..MB).map(|_| rng.u8(..)).collect()
            } else {
                format!("line {f} of a log-like text file in dir {d}\n")
                    .repeat(MB / 40)
                    .into_bytes()
            };
            std::fs::write(sub.join(format!("file{f}.bin")), data).expect("write");
        }
    }
}

fn main() {
    let server = start_registry();
    let dir = tempfile::tempdir().expect("temp dir");
    fill(dir.path());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let layer_times = measure(5, || {
        layer::build(dir.path(), "/data", 0).expect("layer");
    });
    let built = layer::build(dir.path(), "/data", 0).expect("layer");

    let mut run = 0;
    let mut push = |upload: Upload| {
        run += 1;
        // A new repository each run, so every blob really travels.
        let dest = parse_reference(&format!("127.0.0.1:{}/bench/r{run}:1", server.2)).expect("ref");
        let registry = Registry::new(
            RegistryOptions {
                upload,
                ..RegistryOptions::default()
            },
            [&dest],
        );
        let request = PackRequest {
            base: None,
            dir: dir.path().to_path_buf(),
            prefix: "/data".into(),
            dest,
            platform: Platform::parse("linux/amd64").expect("platform"),
            changes: ConfigChanges {
                created: "1970-01-01T00:00:00Z".into(),
                created_by: "bench".into(),
                ..ConfigChanges::default()
            },
            mtime: 0,
        };
        runtime
            .block_on(pack(&registry, &request))
            .expect("pack and push");
    };
    let chunked = measure(5, || push(Upload::Chunked));
    let monolithic = measure(5, || push(Upload::Monolithic));

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let input = 50.0;
    println!(
        "pack+push 50 MB dir ({:.1} MB gzip layer), loopback docker-registry, 5 runs each:",
        f64::from(u32::try_from(built.gzip.len()).expect("layer under 4 GiB"))
            / f64::from(1024 * 1024)
    );
    println!(
        "  layer build (tar+gzip+2 hashes): median {:.0} ms ({:.0} MB/s)",
        ms(layer_times[2]),
        input / layer_times[2].as_secs_f64()
    );
    for (name, t) in [("chunked", &chunked), ("monolithic", &monolithic)] {
        println!(
            "  pack+push, {name:<10}: median {:.0} ms, min {:.0} ms, max {:.0} ms ({:.0} MB/s of input)",
            ms(t[2]),
            ms(t[0]),
            ms(t[4]),
            input / t[2].as_secs_f64()
        );
    }
}
