//! The test bench: moto (Secrets Manager) and the vendor simulator, started once per test binary
//! on loopback, and helpers to walk the real rotation protocol against them.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api_key_rotator::config::Settings;
use api_key_rotator::metrics::Metrics;
use api_key_rotator::notify::EventBus;
use api_key_rotator::store::Store;
use api_key_rotator::timing::Timing;
use api_key_rotator::vendors::VendorClient;
use api_key_rotator::{Error, Outcome, Rotator};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{Credentials, Region, SharedCredentialsProvider};
use aws_sdk_secretsmanager::types::{ReplicaRegionType, Tag};
use serde_json::{Value, json};
use tokio::time::Instant;

#[allow(unused_imports)]
pub use api_key_rotator::config::{TAG_BASE_URL, TAG_KEY_FIELD, TAG_VENDOR};

/// One peer process. Its stdin is kept open; when the test binary exits the pipe closes and the
/// peer stops itself (`--exit-on-stdin-eof`).
pub struct Peer {
    /// The JSON line the peer printed once listening.
    pub info: Value,
    pub endpoint: String,
    _child: Child,
    _stdin: Mutex<ChildStdin>,
}

struct Peers {
    moto: Peer,
    sim: Peer,
}

static PEERS: OnceLock<Peers> = OnceLock::new();

fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("ROTATOR_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "moto is not installed: {} is missing. Run ./scripts/test (it creates .venv and installs moto[server] from tools/requirements.txt), or set ROTATOR_PYTHON to a Python that has moto[server].",
        venv.display()
    );
    venv
}

/// Starts `tools/<script>` with the project's Python and waits until it listens.
pub fn start(script: &str) -> Peer {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let log_dir = root.join("target/test-peers");
    std::fs::create_dir_all(&log_dir).expect("create target/test-peers");
    let log_path = log_dir.join(format!("{script}.{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("create the peer's log file");
    let mut child = Command::new(python())
        .arg(root.join("tools").join(script))
        .arg("--exit-on-stdin-eof")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start tools/{script}: {e}"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the peer's first line");
    let info = serde_json::from_str::<Value>(&line).unwrap_or(Value::Null);
    let endpoint = info["endpoint"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!(
                "tools/{script} did not start (is moto[server] installed? run ./scripts/test). Its output:\n{line}\n{log}"
            )
        });
    let stdin = Mutex::new(child.stdin.take().expect("piped stdin"));
    Peer { info, endpoint, _child: child, _stdin: stdin }
}

fn peers() -> &'static Peers {
    PEERS.get_or_init(|| Peers { moto: start("moto_server.py"), sim: start("vendor_sim.py") })
}

/// A name no other test (or earlier run against the same peers) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Timings scaled down for tests; the logic is the same as in production. createSecret needs
/// 8.1 s left ([`Timing::create_budget`]).
pub fn fast_timing() -> Timing {
    Timing {
        vendor_timeout: Duration::from_secs(1),
        vendor_connect_timeout: Duration::from_millis(500),
        precheck_budget: Duration::from_millis(1400),
        probe_budget: Duration::from_millis(1500),
        probe_accepts: 3,
        probe_interval: Duration::from_millis(300),
        store_budget: Duration::from_secs(4),
        store_readback: Duration::from_millis(500),
        test_budget: Duration::from_secs(3),
        safety_margin: Duration::from_millis(200),
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        rate_limit_default: Duration::from_secs(60),
        rate_limit_min: Duration::from_millis(100),
        rotate_attempts: 3,
        replica_budget: Duration::from_secs(4),
        replica_poll: Duration::from_millis(200),
        notify_budget: Duration::from_secs(1),
        ..Timing::default()
    }
}

pub struct Bench {
    pub sm: Client,
    pub http: reqwest::Client,
    pub moto: String,
    pub sim: String,
    /// The simulator's vendors (`GET /_sim/vendors`): each one's base path and base-URL variable.
    pub sim_vendors: Value,
}

/// A secret staged for rotation: its vendor account, its ARN, the pending version's token.
pub struct Staged {
    pub account: Account,
    pub arn: String,
    pub token: String,
}

/// A simulated vendor account with its one live key.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub vendor: String,
    pub key: String,
}

pub async fn bench() -> Bench {
    let peers = peers();
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(&peers.moto.endpoint)
        .build();
    let http = reqwest::Client::new();
    let sim_vendors = http
        .get(format!("{}/_sim/vendors", peers.sim.endpoint))
        .send()
        .await
        .and_then(|response| response.error_for_status())
        .expect("GET /_sim/vendors")
        .json()
        .await
        .expect("the simulator's vendors");
    let bench = Bench {
        sm: Client::from_conf(config),
        http,
        moto: peers.moto.endpoint.clone(),
        sim: peers.sim.endpoint.clone(),
        sim_vendors,
    };
    // The function a staged rotation names (begin-rotation's default RotationLambdaARN), as a
    // deployer leaves it: every vendor at the simulator, the suite's promotion mode, the
    // template's sizes.
    static DEPLOYED: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let env = bench.env();
    DEPLOYED.get_or_init(|| bench.deploy(FUNCTION, &env, 90, 256)).await;
    bench
}

/// The rotation function a staged rotation names (moto's `api-key-rotator`).
pub const FUNCTION: &str = "api-key-rotator";

/// Every vendor the function rotates, by name (`vendors::ALL`, the one list).
pub fn vendor_names() -> impl Iterator<Item = &'static str> {
    api_key_rotator::vendors::ALL.iter().map(|vendor| vendor.name())
}

impl Bench {
    pub fn sim_base(&self, vendor: &str) -> String {
        let prefix = self.sim_vendors[vendor]["prefix"].as_str().unwrap_or_else(|| {
            panic!("the simulator has no vendor {vendor}: add it to VENDORS in tools/vendor_sim.py")
        });
        format!("{}{prefix}", self.sim)
    }

    /// Every vendor's base-URL variable, pointed at the simulator.
    pub fn vendor_env(&self) -> HashMap<String, String> {
        api_key_rotator::vendors::ALL
            .iter()
            .map(|vendor| (vendor.env_base_url().to_owned(), self.sim_base(vendor.name())))
            .collect()
    }

    /// Deploys (or deploys again) a rotation function in moto, as GetFunctionConfiguration will
    /// describe it: its environment, timeout (s) and memory (MB). Returns its ARN.
    pub async fn deploy(
        &self,
        name: &str,
        env: &HashMap<String, String>,
        timeout: u32,
        memory: u32,
    ) -> String {
        let body = json!({"FunctionName": name, "Variables": env, "Timeout": timeout, "MemorySize": memory});
        let answer = self.post(&format!("{}/_rotator/function", self.moto), body).await;
        answer["FunctionArn"].as_str().expect("a FunctionArn").to_owned()
    }

    /// The environment a deployer would give the function: every vendor pointed at the simulator,
    /// the simulator's vendors declared in `ROTATION_VENDORS`, and the promotion mode the suite
    /// runs in (`ROTATOR_TEST_PROMOTE`, see [`early`]).
    pub fn env(&self) -> HashMap<String, String> {
        let mut env = self.vendor_env();
        env.insert("ROTATION_VENDORS".into(), self.declarations().to_string());
        if early() {
            env.insert("ROTATION_PROMOTE".into(), "early".into());
        }
        env
    }

    /// `ROTATION_VENDORS` for the simulator: every vendor it serves that is not built in, under
    /// its own name, and Ringg and ProjectDiscovery written as declarations under
    /// [`declared_name`]s; each at the simulator.
    pub fn declarations(&self) -> Value {
        let mut declared = serde_json::Map::new();
        for (name, vendor) in self.sim_vendors.as_object().expect("the simulator's vendors") {
            // A catalog vendor is pointed at the simulator by an override of its base URL.
            if vendor["catalog"] == true {
                declared.insert(name.clone(), json!({ "base_url": self.sim_base(name) }));
                continue;
            }
            let Some(declaration) = vendor["declaration"].as_object() else { continue };
            let mut declaration = declaration.clone();
            declaration.insert("base_url".into(), json!(self.sim_base(name)));
            let name = if vendor["env"].is_null() { name.clone() } else { declared_name(name) };
            declared.insert(name, Value::Object(declaration));
        }
        Value::Object(declared)
    }

    /// The `rotation:vendor` value a test's secret of `vendor` (a simulator vendor) gets in this
    /// run: the built-in's own, or with `ROTATOR_TEST_VENDORS=declared` its declared form.
    pub fn tag_name(&self, vendor: &str) -> String {
        let declarable =
            !self.sim_vendors[vendor]["env"].is_null() && !self.sim_vendors[vendor]["declaration"].is_null();
        if declared_forms() && declarable { declared_name(vendor) } else { vendor.to_owned() }
    }

    /// A vendor of this test's own: the simulator's `vendor` declared under a name no other test
    /// uses (the suite's secrets share one Secrets Manager, and the shared-key search compares
    /// every secret tagged for a vendor). Returns its name and a rotator that knows it; the
    /// simulator's accounts of `vendor` work with it. (The environment: [`Bench::own_vendor_env`].)
    pub fn own_vendor(&self, vendor: &str) -> (String, Rotator) {
        let (name, env) = self.own_vendor_env(vendor);
        (name, self.rotator_with(self.settings_from(env)))
    }

    /// [`Bench::own_vendor`]'s name, and the function's environment that declares it.
    pub fn own_vendor_env(&self, vendor: &str) -> (String, HashMap<String, String>) {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name =
            format!("own-{}-{}", std::process::id() % 100_000, COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut declaration = self.sim_vendors[vendor]["declaration"].clone();
        assert!(declaration.is_object(), "the simulator declares no {vendor}");
        declaration["base_url"] = json!(self.sim_base(vendor));
        let mut env = self.env();
        let mut declared = self.declarations();
        declared[&name] = declaration;
        env.insert("ROTATION_VENDORS".into(), declared.to_string());
        (name, env)
    }

    pub fn settings_from(&self, env: HashMap<String, String>) -> Settings {
        let mut settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("valid test settings");
        settings.timing = fast_timing();
        settings
    }

    pub fn rotator(&self) -> Rotator {
        self.rotator_with(self.settings_from(self.env()))
    }

    pub fn rotator_with(&self, settings: Settings) -> Rotator {
        self.rotator_on(settings, self.event_bus(&self.moto))
    }

    /// A rotator whose `Vendor Key Rotated` events go to `bus`.
    pub fn rotator_on(&self, settings: Settings, bus: EventBus) -> Rotator {
        let vendors = VendorClient::new(&settings.timing).expect("HTTP client");
        Rotator::new(Store::new(self.sm.clone()), vendors, bus, settings)
    }

    /// EventBridge at `endpoint` (moto's, or one that must fail), signed as in Lambda: temporary
    /// credentials with a session token (the wrapper wants it signed, as AWS does).
    pub fn event_bus(&self, endpoint: &str) -> EventBus {
        let credentials =
            Credentials::new("ASIATESTING", "ASIATESTING", Some("session".into()), None, "tests");
        EventBus::new(endpoint, "us-east-1".into(), Some(SharedCredentialsProvider::new(credentials)))
    }

    /// `api-key-rotator ARGS` in the shell of an operator who has not exported the stack's
    /// variables (plus `env`): each secret is judged in its rotation function's environment. stdin
    /// and stderr piped.
    pub fn operator(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_api-key-rotator"));
        command
            .args(args)
            .env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.moto)
            .env("AWS_ENDPOINT_URL_LAMBDA", &self.moto)
            .env("AWS_ENDPOINT_URL_EVENTBRIDGE", &self.moto)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// A rotator whose metrics records are kept, and the records (each parsed).
    pub fn recorded(&self, rotator: Rotator) -> (Arc<Mutex<Vec<Value>>>, Rotator) {
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&records);
        let metrics = Metrics::to("Test".into(), move |line| {
            sink.lock().unwrap().push(serde_json::from_str(&line).unwrap())
        });
        (records, rotator.with_metrics(metrics))
    }

    // -- the vendor simulator ---------------------------------------------------------------

    pub async fn account(&self, vendor: &str) -> Account {
        let body = self.post(&format!("{}/_sim/accounts", self.sim), json!({ "vendor": vendor })).await;
        Account {
            id: body["account"].as_str().unwrap().into(),
            vendor: vendor.into(),
            key: body["key"].as_str().unwrap().into(),
        }
    }

    /// A new account at `vendor`, created with `options` (say, a create-then-revoke vendor's
    /// `key_cap`).
    pub async fn account_with(&self, vendor: &str, options: Value) -> Account {
        let mut body = json!({ "vendor": vendor });
        body.as_object_mut().unwrap().extend(options.as_object().cloned().unwrap_or_default());
        let body = self.post(&format!("{}/_sim/accounts", self.sim), body).await;
        Account {
            id: body["account"].as_str().unwrap().into(),
            vendor: vendor.into(),
            key: body["key"].as_str().unwrap().into(),
        }
    }

    /// Another live key of the account (another application's): (key, its id).
    pub async fn add_key(&self, account: &Account) -> (String, String) {
        let body = self.post(&format!("{}/_sim/accounts/{}/keys", self.sim, account.id), json!({})).await;
        (body["key"].as_str().unwrap().to_owned(), body["key_id"].as_str().unwrap().to_owned())
    }

    pub async fn state(&self, account: &Account) -> Value {
        self.get(&format!("{}/_sim/accounts/{}", self.sim, account.id)).await
    }

    pub async fn faults(&self, account: &Account, faults: Value) {
        self.post(&format!("{}/_sim/accounts/{}/faults", self.sim, account.id), faults).await;
    }

    pub async fn revoke(&self, account: &Account) {
        self.post(&format!("{}/_sim/accounts/{}/revoke", self.sim, account.id), json!({})).await;
    }

    /// The simulator's live key for the account.
    pub async fn live_key(&self, account: &Account) -> String {
        self.state(account).await["live_key"].as_str().unwrap().to_owned()
    }

    /// The vendor calls the simulator has had that presented `key`, at any vendor.
    pub async fn calls_with(&self, key: &str) -> u64 {
        let hex = api_key_rotator::sensitive::Sensitive::new(key).fingerprint().replace("sha256:", "");
        self.get(&format!("{}/_sim/calls?key_sha256={hex}", self.sim)).await["calls"].as_u64().unwrap()
    }

    /// The ids of the account's live keys at the simulator, by key.
    pub async fn live_keys(&self, account: &Account) -> HashMap<String, String> {
        let state = self.state(account).await;
        let live = state["live_keys"].as_object().expect("live_keys");
        live.iter().map(|(id, key)| (key.as_str().unwrap().to_owned(), id.clone())).collect()
    }

    /// The key a stage holds in a secret made with [`json_secret`].
    pub async fn key_in(&self, arn: &str, stage: &str) -> String {
        let value: Value = serde_json::from_str(&self.value(arn, stage).await).unwrap();
        value["api_key"].as_str().unwrap().to_owned()
    }

    pub async fn counter(&self, account: &Account, name: &str) -> u64 {
        self.state(account).await[name].as_u64().unwrap_or_else(|| panic!("no counter {name}"))
    }

    // -- Secrets Manager (moto) ----------------------------------------------------------------

    pub async fn create_secret(&self, value: &str, tags: &[(&str, &str)]) -> String {
        self.create_replicated_secret(value, tags, &[]).await
    }

    /// [`Bench::create_secret`], replicated to `regions`.
    pub async fn create_replicated_secret(
        &self,
        value: &str,
        tags: &[(&str, &str)],
        regions: &[&str],
    ) -> String {
        // Onboarded before it is tagged for its vendor: a first rotation running meanwhile in
        // another test never meets it half done.
        let tags = self.suite_tags(tags);
        let (vendor, others): (Vec<Tag>, Vec<Tag>) =
            tags.into_iter().partition(|t| t.key() == Some(TAG_VENDOR));
        let (arn, version) = self.create_tagged(value, others.clone(), regions).await;
        let tags: HashMap<String, String> = others
            .iter()
            .chain(&vendor)
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect();
        self.onboard(&arn, &version, value, &tags).await;
        if !vendor.is_empty() {
            let tag = self.sm.tag_resource().secret_id(&arn).set_tags(Some(vendor));
            tag.send().await.expect("TagResource");
        }
        arn
    }

    /// A secret as a deployer leaves it after onboarding (`api-key-rotator check`): the fingerprint
    /// of its key recorded on its version, so that other secrets' first rotations compare it
    /// without reading it. A value whose key does not read with `tags` gets this suite's rotation
    /// function (turned off), which may then read it: the suite's secrets share one Secrets
    /// Manager, and one nobody can compare would stop every first rotation of its vendor.
    async fn onboard(&self, arn: &str, version: &str, value: &str, tags: &HashMap<String, String>) {
        let field = api_key_rotator::config::key_field_from_tags(tags);
        let key = field.ok().and_then(|field| {
            api_key_rotator::secret::SecretValue::parse(
                &api_key_rotator::sensitive::Sensitive::new(value),
                &field,
            )
            .ok()
        });
        match key {
            Some(key) => {
                // ROTATION_FINGERPRINT.<the 12 hex digits of the key's fingerprint>, as check writes it.
                let label = format!("ROTATION_FINGERPRINT.{}", &key.key().fingerprint()["sha256:".len()..]);
                let put = self.sm.update_secret_version_stage().secret_id(arn).version_stage(label);
                put.move_to_version_id(version).send().await.expect("record the fingerprint");
            }
            None => {
                let function = format!("arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}");
                let body = json!({"SecretId": arn, "RotationLambdaARN": function});
                self.post(&format!("{}/_rotator/rotation-function", self.moto), body).await;
            }
        }
    }

    /// A tagged secret as it is before anyone looked at it: nothing recorded of its key, and no
    /// rotation function. Returns its ARN and its version.
    pub async fn create_unindexed(
        &self,
        value: &str,
        tags: &[(&str, &str)],
        regions: &[&str],
    ) -> (String, String) {
        self.create_tagged(value, self.suite_tags(tags), regions).await
    }

    /// `tags` as this run gives them: in the run with declared forms, a built-in vendor's secret
    /// names its declared form, unless it takes a base-URL tag (which only a built-in vendor's
    /// secret may).
    fn suite_tags(&self, tags: &[(&str, &str)]) -> Vec<Tag> {
        let declared = declared_forms() && !tags.iter().any(|(k, _)| *k == TAG_BASE_URL);
        tags.iter()
            .map(|(k, v)| {
                let v = if *k == TAG_VENDOR && declared && self.sim_vendors.get(*v).is_some() {
                    self.tag_name(v)
                } else {
                    v.to_string()
                };
                Tag::builder().key(*k).value(v).build()
            })
            .collect()
    }

    async fn create_tagged(&self, value: &str, tags: Vec<Tag>, regions: &[&str]) -> (String, String) {
        let regions: Vec<ReplicaRegionType> =
            regions.iter().map(|region| ReplicaRegionType::builder().region(*region).build()).collect();
        let out = self
            .sm
            .create_secret()
            .name(unique("secret"))
            .secret_string(value)
            .set_tags(Some(tags))
            .set_add_replica_regions((!regions.is_empty()).then_some(regions))
            .send()
            .await
            .expect("CreateSecret");
        (out.arn().unwrap().to_owned(), out.version_id().unwrap().to_owned())
    }

    /// Sets a replica region's ReplicationStatus (moto reports every replica InSync at once).
    pub async fn replica_state(&self, arn: &str, region: &str, status: &str, message: Option<&str>) {
        let mut body = json!({"SecretId": arn, "ReplicaRegion": region, "Status": status});
        if let Some(message) = message {
            body["StatusMessage"] = json!(message);
        }
        self.post(&format!("{}/_rotator/replica", self.moto), body).await;
    }

    /// Holds a replica region `InProgress` for `seconds`, then `InSync` again, as AWS reports a
    /// replica while it copies a new version.
    pub async fn replica_lag(&self, arn: &str, region: &str, seconds: f64) {
        let body =
            json!({"SecretId": arn, "ReplicaRegion": region, "Status": "InProgress", "Seconds": seconds});
        self.post(&format!("{}/_rotator/replica", self.moto), body).await;
    }

    /// A new account at `vendor`, a secret holding its key among other fields and tagged for
    /// it, and a rotation staged on that secret.
    pub async fn staged(&self, vendor: &str) -> Staged {
        self.staged_in(vendor, &[]).await
    }

    /// [`Bench::staged`], the secret replicated to `regions`.
    pub async fn staged_in(&self, vendor: &str, regions: &[&str]) -> Staged {
        let (account, arn) = self.tagged(vendor, regions).await;
        let token = self.begin_rotation(&arn, json!({})).await;
        Staged { account, arn, token }
    }

    /// A new account at `vendor`, and a secret holding its key among other fields, tagged for it
    /// and replicated to `regions`; no rotation staged.
    pub async fn tagged(&self, vendor: &str, regions: &[&str]) -> (Account, String) {
        let account = self.account(vendor).await;
        let value = json_secret("api_key", &account.key);
        let arn = self.create_replicated_secret(&value, &[(TAG_VENDOR, vendor)], regions).await;
        (account, arn)
    }

    /// What AWS does before it invokes createSecret: rotation enabled, and a new version id
    /// carrying AWSPENDING with no value. `extra` may set AutomaticallyAfterDays,
    /// ScheduleExpression or RotateImmediately.
    pub async fn begin_rotation(&self, arn: &str, extra: Value) -> String {
        let token = unique("token00000000000000000000000000");
        let mut body = json!({ "SecretId": arn, "ClientRequestToken": token, "AutomaticallyAfterDays": 30 });
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let answer = self.post(&format!("{}/_rotator/begin-rotation", self.moto), body).await;
        answer["VersionId"].as_str().expect("begin-rotation answers a VersionId").to_owned()
    }

    /// Makes the next `count` calls of `operation` on the secret `arn` fail.
    pub async fn moto_faults(&self, operation: &str, arn: &str, count: u32, status: u16, code: &str) {
        self.post(
            &format!("{}/_rotator/faults", self.moto),
            json!({ "Operation": operation, "SecretId": arn, "Count": count, "Status": status, "Code": code }),
        )
        .await;
    }

    /// Makes the next `count` calls of `operation` on the secret `arn` answer `body` as it is,
    /// with `status` (a garbled answer).
    pub async fn moto_body(&self, operation: &str, arn: &str, count: u32, status: u16, body: &str) {
        self.post(
            &format!("{}/_rotator/faults", self.moto),
            json!({ "Operation": operation, "SecretId": arn, "Count": count, "Status": status, "Body": body }),
        )
        .await;
    }

    /// Makes the next `count` calls of `operation` on the secret `arn` take effect but answer
    /// with a failure, as when the answer to a write that landed is lost.
    pub async fn moto_faults_after(&self, operation: &str, arn: &str, count: u32, status: u16, code: &str) {
        self.post(
            &format!("{}/_rotator/faults", self.moto),
            json!({ "Operation": operation, "SecretId": arn, "Count": count, "Status": status, "Code": code, "After": true }),
        )
        .await;
    }

    /// Queues a fault as `/_rotator/faults` takes it (Operation, SecretId, Count, Status, Code,
    /// After, Skip, Clear).
    pub async fn moto_fault(&self, fault: Value) {
        self.post(&format!("{}/_rotator/faults", self.moto), fault).await;
    }

    /// Sets one tag on the secret, as an operator would mid-rotation.
    pub async fn tag(&self, arn: &str, key: &str, value: &str) {
        self.sm
            .tag_resource()
            .secret_id(arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .expect("TagResource");
    }

    /// The parameters of every call of `operation` so far, on any secret (values left out).
    pub async fn all_requests(&self, operation: &str) -> Vec<Value> {
        let all = self.get(&format!("{}/_rotator/requests?Operation={operation}", self.moto)).await;
        all["Requests"].as_array().cloned().unwrap_or_default()
    }

    /// The parameters of every call of `operation` on the secret `arn` (values left out).
    pub async fn moto_requests(&self, operation: &str, arn: &str) -> Vec<Value> {
        let all = self.get(&format!("{}/_rotator/requests?Operation={operation}", self.moto)).await;
        all["Requests"].as_array().unwrap().iter().filter(|r| r["SecretId"] == arn).cloned().collect()
    }

    /// The `Vendor Key Rotated` events EventBridge took for the secret `arn` (injected failures
    /// left out), each entry's detail parsed.
    pub async fn events(&self, arn: &str) -> Vec<Value> {
        let puts = self.moto_requests("PutEvents", arn).await;
        let entries = puts
            .iter()
            .filter(|put| put["InjectedFault"].is_null())
            .flat_map(|put| put["Entries"].as_array().cloned().unwrap_or_default());
        entries.map(|entry| serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap()).collect()
    }

    pub async fn stages(&self, arn: &str) -> HashMap<String, Vec<String>> {
        let out = self.sm.describe_secret().secret_id(arn).send().await.expect("DescribeSecret");
        out.version_ids_to_stages().cloned().unwrap_or_default()
    }

    /// Every version kept as a rescue, with its label (`ROTATION_RESCUE.<version>`, one each).
    pub async fn rescues(&self, arn: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = self
            .stages(arn)
            .await
            .into_iter()
            .flat_map(|(version, labels)| {
                labels
                    .into_iter()
                    .filter(|l| l.starts_with("ROTATION_RESCUE"))
                    .map(move |l| (version.clone(), l))
            })
            .collect();
        found.sort();
        found
    }

    /// The one version kept as a rescue, and its label, which names it.
    pub async fn the_rescue(&self, arn: &str) -> (String, String) {
        let rescues = self.rescues(arn).await;
        assert_eq!(rescues.len(), 1, "{rescues:?}");
        let (version, label) = rescues.into_iter().next().unwrap();
        assert_eq!(label, format!("ROTATION_RESCUE.{version}"), "one label per rescue, naming it");
        (version, label)
    }

    /// The SecretString of version `version`.
    pub async fn value_of_version(&self, arn: &str, version: &str) -> String {
        let out = self.sm.get_secret_value().secret_id(arn).version_id(version).send().await;
        out.expect("GetSecretValue").secret_string().unwrap().to_owned()
    }

    pub async fn value(&self, arn: &str, stage: &str) -> String {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .send()
            .await
            .expect("GetSecretValue");
        out.secret_string().unwrap().to_owned()
    }

    // -- running the Lambda's logic ------------------------------------------------------------

    pub async fn step(
        &self,
        rotator: &Rotator,
        step: &str,
        arn: &str,
        token: &str,
    ) -> Result<Outcome, Error> {
        self.step_with(rotator, event(step, arn, token), Duration::from_secs(30)).await
    }

    pub async fn step_with(
        &self,
        rotator: &Rotator,
        event: Value,
        time_left: Duration,
    ) -> Result<Outcome, Error> {
        rotator.handle(&event, Instant::now() + time_left).await
    }

    /// createSecret, setSecret, testSecret and finishSecret on one token, each expected to work
    /// (with early promotion, setSecret and finishSecret find the version already current).
    pub async fn rotate(&self, rotator: &Rotator, arn: &str) -> String {
        let token = self.begin_rotation(arn, json!({})).await;
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let outcome = self.step(rotator, step, arn, &token).await;
            assert_eq!(outcome.as_ref().ok(), Some(&expected_outcome(step)), "{step}: {outcome:?}");
        }
        token
    }

    async fn post(&self, url: &str, body: Value) -> Value {
        let response =
            self.http.post(url).json(&body).send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
        assert!(response.status().is_success(), "POST {url}: {}", response.status());
        response.json().await.expect("JSON answer")
    }

    async fn get(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert!(response.status().is_success(), "GET {url}: {}", response.status());
        response.json().await.expect("JSON answer")
    }
}

/// Whether this run of the protocol suite is in early-promotion mode: scripts/test runs it once
/// in each mode (`ROTATOR_TEST_PROMOTE=early` for the second).
pub fn early() -> bool {
    std::env::var("ROTATOR_TEST_PROMOTE").is_ok_and(|mode| mode == "early")
}

/// Whether this run of the protocol suite rotates Ringg's and ProjectDiscovery's secrets through
/// their declared forms (`ROTATOR_TEST_VENDORS=declared`; scripts/test runs the suite that way
/// once more).
pub fn declared_forms() -> bool {
    std::env::var("ROTATOR_TEST_VENDORS").is_ok_and(|mode| mode == "declared")
}

/// The name a built-in vendor's declared form goes by.
pub fn declared_name(vendor: &str) -> String {
    format!("{vendor}-declared")
}

/// What a step that works returns in this run's mode.
pub fn expected_outcome(step: &str) -> Outcome {
    match step {
        "setSecret" | "finishSecret" if early() => Outcome::AlreadyDone,
        _ => Outcome::Done,
    }
}

/// The errorType of a step that must have failed.
pub fn error_type<T: std::fmt::Debug>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => err.error_type(),
    }
}

/// The event Secrets Manager would send.
pub fn event(step: &str, arn: &str, token: &str) -> Value {
    json!({ "Step": step, "SecretId": arn, "ClientRequestToken": token })
}

/// A write's VersionStages without the ROTATION_TARGET record and the ROTATION_FINGERPRINT
/// createSecret adds to them: the labels that say what the key is (AWSPENDING, AWSCURRENT).
pub fn key_stages(stages: &Value) -> Value {
    let labels = stages.as_array().expect("VersionStages").iter();
    let recorded = |label: &Value| {
        let label = label.as_str().unwrap_or_default();
        label.starts_with("ROTATION_TARGET.") || label.starts_with("ROTATION_FINGERPRINT.")
    };
    labels.filter(|label| !recorded(label)).cloned().collect()
}

/// The lines of the first report `check --json` printed in `said` (text around the JSON aside), by
/// name: (status, detail, fix).
pub fn check_lines(said: &str) -> HashMap<String, (String, String, String)> {
    let json = said.find('[').map(|start| &said[start..]).unwrap_or(said);
    let end = json.rfind(']').map_or(json.len(), |end| end + 1);
    let reports: Vec<Value> = serde_json::from_str(&json[..end]).unwrap_or_else(|_| panic!("{said}"));
    let checks = reports[0]["checks"].as_array().unwrap_or_else(|| panic!("{said}"));
    let text = |check: &Value, field: &str| check[field].as_str().unwrap_or_default().to_owned();
    checks
        .iter()
        .map(|c| (text(c, "check"), (text(c, "status"), text(c, "detail"), text(c, "fix"))))
        .collect()
}

/// A secret value with the key among other fields, in a deliberate order.
pub fn json_secret(field: &str, key: &str) -> String {
    format!(
        r#"{{"account":"ops@example.test","{field}":"{key}","region":"eu","extra":{{"b":1,"a":[true,null]}}}}"#
    )
}
