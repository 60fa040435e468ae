//! awa-probe: the awacompat Rust probe (probes/PROTOCOL.md, protocol 1).
//!
//! Drives exactly one pinned release of the `awa` crate through its public API. One source
//! serves every release; the few calls that differ between API lines sit behind the Cargo
//! features `awa05` (awa 0.5.x) and `awa06` (awa 0.6.0 and later), exactly one enabled by the
//! builder (pinned/rust.go). build.rs bakes the linked awa version into AWA_PROBE_AWA_VERSION.
//!
//! stdout carries only protocol events, one JSON object per line, flushed per line. Logs go to
//! stderr (awa's tracing output at the level in AWA_PROBE_LOG, default "warn").

#[cfg(all(feature = "awa05", feature = "awa06"))]
compile_error!("enable exactly one of the features awa05 / awa06");
#[cfg(not(any(feature = "awa05", feature = "awa06")))]
compile_error!("enable exactly one of the features awa05 / awa06");

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::io::{BufRead, Write};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// The awa release this binary is linked against (from Cargo.lock, see build.rs).
const AWA_VERSION: &str = env!("AWA_PROBE_AWA_VERSION");
const PROTOCOL: u64 = 1;
/// Deadline of a non-work step without `timeout_ms` (or with 0). A work step without
/// `timeout_ms` (or with 0) has no deadline: it ends on its handled count or on stdin.
const DEFAULT_STEP_TIMEOUT_MS: u64 = 60_000;
/// How long `Client::shutdown` may drain in-flight handlers when a work step ends.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Events

static STDOUT_LOCK: Mutex<()> = Mutex::new(());

/// Writes one event line: `{"event":NAME, k1:v1, ...}` in the given key order, then flushes.
fn emit(event: &str, fields: &[(&str, Value)]) {
    let mut line = String::with_capacity(128);
    line.push_str("{\"event\":");
    line.push_str(&Value::String(event.to_string()).to_string());
    for (k, v) in fields {
        line.push(',');
        line.push_str(&Value::String((*k).to_string()).to_string());
        line.push(':');
        line.push_str(&v.to_string());
    }
    line.push_str("}\n");
    let _guard = STDOUT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = std::io::stdout().lock();
    // A closed stdout means the runner is gone; nothing useful is left to do.
    if out.write_all(line.as_bytes()).and_then(|_| out.flush()).is_err() {
        std::process::exit(3);
    }
}

/// A broken probe: `fatal`, then exit 2.
fn fatal(message: impl std::fmt::Display) -> ! {
    emit("fatal", &[("message", json!(message.to_string()))]);
    std::process::exit(2);
}

/// An error result of a step. `class` is the Python SDK's exception name; `variant` the Rust
/// name (the `AwaError` variant, or null when the error did not come from awa).
struct StepError {
    class: &'static str,
    variant: Option<String>,
    message: String,
    sqlstate: String,
}

impl StepError {
    fn other(class: &'static str, message: impl Into<String>) -> Self {
        StepError { class, variant: None, message: message.into(), sqlstate: String::new() }
    }
}

impl From<awa::AwaError> for StepError {
    fn from(err: awa::AwaError) -> Self {
        // The variant name is the head of the Debug form (`JobNotFound { id: 7 }`,
        // `Database(...)`). Working from the name keeps this exhaustive across releases that
        // add variants (StorageNotFinalized, SchemaNewerThanBinary, ...).
        let debug = format!("{err:?}");
        let variant: String = debug
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let class = match variant.as_str() {
            "UniqueConflict" => "UniqueConflict",
            "SchemaNotMigrated" | "SchemaNewerThanBinary" => "SchemaNotMigrated",
            "Database" | "TokioPg" => "DatabaseError",
            "Serialization" => "SerializationError",
            "Validation" => "ValidationError",
            "UnknownJobKind" => "UnknownJobKind",
            "StorageNotFinalized" => "StorageNotFinalized",
            // JobNotFound, CallbackNotFound and anything without a closer class.
            _ => "AwaError",
        };
        let sqlstate = match &err {
            awa::AwaError::Database(sqlx::Error::Database(db)) => {
                db.code().map(|c| c.to_string()).unwrap_or_default()
            }
            _ => String::new(),
        };
        StepError { class, variant: Some(variant), message: err.to_string(), sqlstate }
    }
}

fn emit_error(op: &str, r: &Value, e: StepError) {
    let mut fields = vec![("op", json!(op))];
    if !r.is_null() {
        fields.push(("ref", r.clone()));
    }
    fields.extend([
        ("class", json!(e.class)),
        ("message", json!(e.message)),
        ("sqlstate", json!(e.sqlstate)),
        ("variant", e.variant.map(Value::String).unwrap_or(Value::Null)),
    ]);
    emit("error", &fields);
}

// ---------------------------------------------------------------------------------------------
// Job args: any JSON object, under the spec's kind.

/// The job kind every enqueue and handler uses: the spec's `kind`, fixed once before any step.
static KIND: OnceLock<&'static str> = OnceLock::new();

fn kind() -> &'static str {
    KIND.get().copied().expect("kind is set before any step runs")
}

/// The probe's args type. It carries any JSON object through unchanged: every key lands in
/// `fields` and is serialized back as-is.
///
/// `JobArgs` is implemented by hand instead of `#[derive(awa::JobArgs)]` +
/// `#[awa(kind = "...")]` because the derive fixes the kind at compile time, while the
/// protocol takes it from the spec. The hand-written impl is exactly what the derive expands to
/// (`fn kind() -> &'static str`), with the string read from the spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProbeArgs {
    #[serde(flatten)]
    fields: Map<String, Value>,
}

impl awa::JobArgs for ProbeArgs {
    fn kind() -> &'static str {
        kind()
    }
}

// ---------------------------------------------------------------------------------------------
// Spec

#[derive(Deserialize)]
struct Spec {
    protocol: u64,
    database_url: String,
    kind: String,
    steps: Vec<Step>,
    /// How the probe leaves after its last step: "immediate" (default) or "normal". A Rust
    /// program has no interpreter to finalize, so both end with the same process exit.
    #[serde(default)]
    exit: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Step {
    Enqueue(EnqueueStep),
    Work(WorkStep),
    Cancel(JobIdStep),
    CancelByUniqueKey(CancelByUniqueKeyStep),
    GetJob(JobIdStep),
    ListJobs(ListJobsStep),
    QueueStats(RefStep),
    Migrate(RefStep),
    Sleep(SleepStep),
}

impl Step {
    fn op(&self) -> &'static str {
        match self {
            Step::Enqueue(_) => "enqueue",
            Step::Work(_) => "work",
            Step::Cancel(_) => "cancel",
            Step::CancelByUniqueKey(_) => "cancel_by_unique_key",
            Step::GetJob(_) => "get_job",
            Step::ListJobs(_) => "list_jobs",
            Step::QueueStats(_) => "queue_stats",
            Step::Migrate(_) => "migrate",
            Step::Sleep(_) => "sleep",
        }
    }

    fn reference(&self) -> Value {
        match self {
            Step::Enqueue(s) => s.r.clone(),
            Step::Work(s) => s.r.clone(),
            Step::Cancel(s) | Step::GetJob(s) => s.r.clone(),
            Step::CancelByUniqueKey(s) => s.r.clone(),
            Step::ListJobs(s) => s.r.clone(),
            Step::QueueStats(s) | Step::Migrate(s) => s.r.clone(),
            Step::Sleep(_) => Value::Null,
        }
    }

    fn timeout_ms(&self) -> Option<u64> {
        match self {
            Step::Enqueue(s) => s.timeout_ms,
            Step::Work(s) => s.timeout_ms,
            Step::Cancel(s) | Step::GetJob(s) => s.timeout_ms,
            Step::CancelByUniqueKey(s) => s.timeout_ms,
            Step::ListJobs(s) => s.timeout_ms,
            Step::QueueStats(s) | Step::Migrate(s) => s.timeout_ms,
            Step::Sleep(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct EnqueueStep {
    #[serde(rename = "ref", default)]
    r: Value,
    queue: String,
    args: Map<String, Value>,
    #[serde(default)]
    priority: Option<i16>,
    #[serde(default)]
    max_attempts: Option<i16>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    run_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    unique: Option<UniqueField>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// `unique`: an object of the Python SDK's `unique_opts` keys (absent keys take the SDK
/// defaults), or `true` for all defaults; `false`/null/absent means not unique.
#[derive(Deserialize)]
#[serde(untagged)]
enum UniqueField {
    Flag(bool),
    Opts(UniqueSpec),
}

#[derive(Deserialize)]
struct UniqueSpec {
    #[serde(default)]
    by_args: Option<bool>,
    #[serde(default)]
    by_queue: Option<bool>,
    #[serde(default)]
    by_period: Option<i64>,
    #[serde(default)]
    states: Option<u8>,
}

#[derive(Deserialize)]
struct WorkStep {
    #[serde(rename = "ref", default)]
    r: Value,
    queue: String,
    #[serde(default)]
    max_workers: Option<u32>,
    #[serde(default)]
    behavior: Option<String>,
    #[serde(default)]
    handled: Option<u64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    storage_role: Option<String>,
    /// The queue's poll interval (QueueConfig::poll_interval); the SDK default when absent.
    #[serde(default)]
    poll_ms: Option<u64>,
    /// Every health_ms, the client's own health check as a `health` event; none when absent.
    #[serde(default)]
    health_ms: Option<u64>,
    /// Maintenance knobs (ClientBuilder::heartbeat_interval, heartbeat_staleness,
    /// heartbeat_rescue_interval, leader_election_interval); the SDK default when absent.
    #[serde(default)]
    heartbeat_interval_ms: Option<u64>,
    #[serde(default)]
    heartbeat_staleness_ms: Option<u64>,
    #[serde(default)]
    heartbeat_rescue_interval_ms: Option<u64>,
    #[serde(default)]
    leader_election_interval_ms: Option<u64>,
    /// A `complete` handler takes this long before it returns (jobs stay in flight).
    #[serde(default)]
    handle_ms: Option<u64>,
}

#[derive(Deserialize)]
struct JobIdStep {
    #[serde(rename = "ref", default)]
    r: Value,
    job_id: i64,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct CancelByUniqueKeyStep {
    #[serde(rename = "ref", default)]
    r: Value,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    period_bucket: Option<i64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct ListJobsStep {
    #[serde(rename = "ref", default)]
    r: Value,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct RefStep {
    #[serde(rename = "ref", default)]
    r: Value,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct SleepStep {
    ms: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behavior {
    Complete,
    FailOnce,
    Hold,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StorageRole {
    Auto,
    CanonicalDrain,
    QueueStorageTarget,
}

fn parse_behavior(s: Option<&str>) -> Result<Behavior, String> {
    match s.unwrap_or("complete") {
        "complete" => Ok(Behavior::Complete),
        "fail_once" => Ok(Behavior::FailOnce),
        "hold" => Ok(Behavior::Hold),
        other => Err(format!("work: unknown behavior {other:?}")),
    }
}

fn parse_storage_role(s: Option<&str>) -> Result<StorageRole, String> {
    match s.unwrap_or("auto") {
        "auto" => Ok(StorageRole::Auto),
        "canonical_drain" => Ok(StorageRole::CanonicalDrain),
        "queue_storage_target" => Ok(StorageRole::QueueStorageTarget),
        other => Err(format!("work: unknown storage_role {other:?}")),
    }
}

/// Rejects a spec the probe cannot run, before any step has a side effect.
fn validate(spec: &Spec) -> Result<(), String> {
    if spec.protocol != PROTOCOL {
        return Err(format!("unsupported protocol {} (this probe speaks {PROTOCOL})", spec.protocol));
    }
    if spec.kind.is_empty() {
        return Err("spec kind is empty".into());
    }
    match spec.exit.as_deref() {
        None | Some("immediate") | Some("normal") => {}
        Some(other) => return Err(format!("unknown exit {other:?} (immediate or normal)")),
    }
    for (i, step) in spec.steps.iter().enumerate() {
        match step {
            Step::Work(w) => {
                parse_behavior(w.behavior.as_deref()).map_err(|e| format!("step {i}: {e}"))?;
                parse_storage_role(w.storage_role.as_deref()).map_err(|e| format!("step {i}: {e}"))?;
            }
            Step::ListJobs(l) => {
                if let Some(s) = &l.state {
                    parse_state(s).map_err(|e| format!("step {i}: list_jobs: {e}"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_state(s: &str) -> Result<awa::JobState, String> {
    serde_json::from_value::<awa::JobState>(Value::String(s.to_string()))
        .map_err(|_| format!("unknown job state {s:?}"))
}

// ---------------------------------------------------------------------------------------------
// Rendering awa values

fn state_str(state: awa::JobState) -> Value {
    serde_json::to_value(state).unwrap_or(Value::Null)
}

fn job_json(job: &awa::JobRow) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "queue": job.queue,
        "state": state_str(job.state),
        "priority": job.priority,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "args": job.args,
        "tags": job.tags,
        "metadata": job.metadata,
    })
}

fn stat_json(q: &awa::admin::QueueOverview) -> Value {
    json!({
        "queue": q.queue,
        "available": q.available,
        "scheduled": q.scheduled,
        "running": q.running,
        "retryable": q.retryable,
        "failed": q.failed,
        "completed_last_hour": q.completed_last_hour,
        "total_queued": q.total_queued,
    })
}

// ---------------------------------------------------------------------------------------------
// Running steps

enum StdinMsg {
    Stop,
    Eof,
}

struct Probe {
    database_url: String,
    pool: Option<sqlx::PgPool>,
    stdin: mpsc::UnboundedReceiver<StdinMsg>,
    stdin_eof: bool,
}

impl Probe {
    /// The pool, created on first use. `connect_lazy` opens no connection until a query needs
    /// one, so a spec whose steps never touch the database never connects.
    fn pool(&mut self) -> Result<sqlx::PgPool, StepError> {
        if let Some(p) = &self.pool {
            return Ok(p.clone());
        }
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(20)
            .connect_lazy(&self.database_url)
            .map_err(|e| StepError::from(awa::AwaError::from(e)))?;
        self.pool = Some(pool.clone());
        Ok(pool)
    }

    async fn run(&mut self, step: Step) {
        let op = step.op();
        let r = step.reference();
        match step {
            Step::Sleep(s) => tokio::time::sleep(Duration::from_secs_f64(s.ms.max(0.0) / 1000.0)).await,
            Step::Work(w) => self.work(w).await,
            other => {
                let ms = other.timeout_ms().filter(|ms| *ms > 0).unwrap_or(DEFAULT_STEP_TIMEOUT_MS);
                let pool = match self.pool() {
                    Ok(p) => p,
                    Err(e) => return emit_error(op, &r, e),
                };
                let result =
                    tokio::time::timeout(Duration::from_millis(ms), run_db_step(&pool, other)).await;
                match result {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => emit_error(op, &r, e),
                    Err(_) => emit_error(
                        op,
                        &r,
                        StepError::other("Timeout", format!("step deadline of {ms} ms passed")),
                    ),
                }
            }
        }
    }

    async fn work(&mut self, w: WorkStep) {
        let r = w.r.clone();
        let behavior = parse_behavior(w.behavior.as_deref()).unwrap_or_else(|e| fatal(e));
        let role = parse_storage_role(w.storage_role.as_deref()).unwrap_or_else(|e| fatal(e));
        let limit = w.handled.unwrap_or(0);
        // The deadline covers the whole step, client start included; none when absent or 0.
        let timeout_ms = w.timeout_ms.unwrap_or(0);
        let deadline = (timeout_ms > 0)
            .then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms));
        // A `stop` that came while no work step ran is dropped; end of file is sticky.
        while let Ok(msg) = self.stdin.try_recv() {
            match msg {
                StdinMsg::Stop => eprintln!("awa-probe: stdin 'stop' outside a work step: ignored"),
                StdinMsg::Eof => self.stdin_eof = true,
            }
        }
        let pool = match self.pool() {
            Ok(p) => p,
            Err(e) => return emit_error("work", &r, e),
        };

        let shared = Arc::new(WorkShared {
            behavior,
            handle: Duration::from_millis(w.handle_ms.unwrap_or(0)),
            calls: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            released: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let (called_tx, mut called_rx) = mpsc::unbounded_channel::<()>();

        let mut config = awa::QueueConfig::default();
        config.max_workers = w.max_workers.filter(|n| *n > 0).unwrap_or(1);
        if let Some(ms) = w.poll_ms.filter(|ms| *ms > 0) {
            config.poll_interval = Duration::from_millis(ms);
        }
        let mut builder = awa::Client::builder(pool).queue(w.queue.clone(), config);
        let ms = |v: Option<u64>| v.filter(|ms| *ms > 0).map(Duration::from_millis);
        if let Some(d) = ms(w.heartbeat_interval_ms) {
            builder = builder.heartbeat_interval(d);
        }
        if let Some(d) = ms(w.heartbeat_staleness_ms) {
            builder = builder.heartbeat_staleness(d);
        }
        if let Some(d) = ms(w.heartbeat_rescue_interval_ms) {
            builder = builder.heartbeat_rescue_interval(d);
        }
        if let Some(d) = ms(w.leader_election_interval_ms) {
            builder = builder.leader_election_interval(d);
        }
        let builder = apply_storage_role(builder, role, w.storage_role.is_some());
        let handler_shared = shared.clone();
        let builder = builder.register::<ProbeArgs, _, _>(move |args: ProbeArgs, ctx: &awa::JobContext| {
            let job_id = ctx.job.id;
            let attempt = ctx.job.attempt;
            let shared = handler_shared.clone();
            let called = called_tx.clone();
            async move { handle(shared, called, job_id, attempt, args).await }
        });
        let client = match builder.build() {
            Ok(c) => c,
            Err(e) => {
                let debug = format!("{e:?}");
                let variant: String =
                    debug.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                return emit_error(
                    "work",
                    &r,
                    StepError {
                        class: "AwaError",
                        variant: Some(format!("BuildError::{variant}")),
                        message: e.to_string(),
                        sqlstate: String::new(),
                    },
                );
            }
        };
        let started = match deadline {
            Some(d) => match tokio::time::timeout_at(d, client.start()).await {
                Ok(res) => res.map_err(StepError::from),
                Err(_) => Err(StepError::other(
                    "Timeout",
                    format!("step deadline of {timeout_ms} ms passed"),
                )),
            },
            None => client.start().await.map_err(StepError::from),
        };
        if let Err(e) = started {
            // start() may have spawned services before failing; stop them before reporting.
            shared.released.store(true, Ordering::SeqCst);
            client.shutdown(SHUTDOWN_DRAIN).await;
            return emit_error("work", &r, e);
        }
        emit("ready", &[]);
        // Handlers wait for this, so no `handled` can come before `ready`.
        shared.ready.store(true, Ordering::SeqCst);
        shared.wake.notify_waiters();

        let mut health = w
            .health_ms
            .filter(|ms| *ms > 0)
            .map(|ms| tokio::time::interval(Duration::from_millis(ms)));
        if let Some(h) = health.as_mut() {
            h.tick().await; // the first tick is immediate; the first report comes one period in
        }
        let reason = loop {
            if limit > 0 && shared.calls.load(Ordering::SeqCst) >= limit {
                break "count";
            }
            if self.stdin_eof {
                break "stdin";
            }
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let health_due = async {
                match health.as_mut() {
                    Some(h) => {
                        h.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = called_rx.recv() => {}
                _ = health_due => report_health(&client, &w.queue).await,
                msg = self.stdin.recv() => match msg {
                    Some(StdinMsg::Stop) => break "stdin",
                    Some(StdinMsg::Eof) | None => {
                        self.stdin_eof = true;
                        break "stdin";
                    }
                },
                _ = until_deadline => break "timeout",
            }
        };

        // Let held handlers return, then shut the worker down gracefully.
        shared.released.store(true, Ordering::SeqCst);
        shared.wake.notify_waiters();
        client.shutdown(SHUTDOWN_DRAIN).await;
        emit(
            "stopped",
            &[("handled", json!(shared.calls.load(Ordering::SeqCst))), ("reason", json!(reason))],
        );
    }
}

#[cfg(feature = "awa06")]
fn apply_storage_role(b: awa::ClientBuilder, role: StorageRole, _given: bool) -> awa::ClientBuilder {
    use awa::worker::TransitionWorkerRole;
    b.transition_role(match role {
        StorageRole::Auto => TransitionWorkerRole::Auto,
        StorageRole::CanonicalDrain => TransitionWorkerRole::CanonicalDrain,
        StorageRole::QueueStorageTarget => TransitionWorkerRole::QueueStorageTarget,
    })
}

/// 0.5.x has no storage engine knobs (workers are canonical-only): a given `storage_role`,
/// whatever its value, is ignored with a note.
#[cfg(feature = "awa05")]
fn apply_storage_role(b: awa::ClientBuilder, _role: StorageRole, given: bool) -> awa::ClientBuilder {
    if given {
        emit(
            "note",
            &[("message", json!(format!("storage_role ignored: not supported by {AWA_VERSION}")))],
        );
    }
    b
}

/// Emits the running client's own health check as a `health` event: awa's word that its poll
/// loop and heartbeat are alive, and how many jobs it sees available in the step's queue (the
/// evidence an inert verdict rests on).
async fn report_health(client: &awa::Client, queue: &str) {
    let h = client.health_check().await;
    let mut fields = vec![
        ("poll_loop_alive", json!(h.poll_loop_alive)),
        ("heartbeat_alive", json!(h.heartbeat_alive)),
        ("postgres_connected", json!(h.postgres_connected)),
        ("shutting_down", json!(h.shutting_down)),
        ("leader", json!(h.leader)),
    ];
    if let Some(q) = h.queues.get(queue) {
        fields.push(("available", json!(q.available)));
        fields.push(("in_flight", json!(q.in_flight)));
    }
    emit("health", &fields);
}

/// State one work step shares with its handler calls.
struct WorkShared {
    behavior: Behavior,
    /// How long a `complete` handler takes (handle_ms).
    handle: Duration,
    calls: AtomicU64,
    /// `ready` has been written.
    ready: AtomicBool,
    /// The step has ended: held handlers return.
    released: AtomicBool,
    /// Wakes handlers waiting on `ready` or `released`.
    wake: Notify,
}

/// Waits until `flag` is set. The bounded wait picks up a wake-up that lands between the
/// check and the wait.
async fn wait_for(flag: &AtomicBool, wake: &Notify) {
    while !flag.load(Ordering::SeqCst) {
        let _ = tokio::time::timeout(Duration::from_millis(50), wake.notified()).await;
    }
}

/// The handler body. Its future must be Send + Sync + 'static (0.5.x requires Sync).
async fn handle(
    shared: Arc<WorkShared>,
    called: mpsc::UnboundedSender<()>,
    job_id: i64,
    attempt: i16,
    args: ProbeArgs,
) -> Result<awa::JobResult, awa::JobError> {
    // A job claimed while start() was still returning waits for `ready` (or for the end of a
    // step whose start failed).
    while !shared.ready.load(Ordering::SeqCst) && !shared.released.load(Ordering::SeqCst) {
        let _ = tokio::time::timeout(Duration::from_millis(50), shared.wake.notified()).await;
    }
    let result = match shared.behavior {
        Behavior::Complete => "completed",
        Behavior::FailOnce if attempt <= 1 => "retry",
        Behavior::FailOnce => "completed",
        Behavior::Hold => "held",
    };
    emit(
        "handled",
        &[
            ("job_id", json!(job_id)),
            ("attempt", json!(attempt)),
            ("args", Value::Object(args.fields)),
            ("result", json!(result)),
        ],
    );
    shared.calls.fetch_add(1, Ordering::SeqCst);
    let _ = called.send(());
    match result {
        // The shortest retry the SDK allows: an explicit retry with zero delay (the job goes
        // to `retryable` with run_at = now and is promoted on the next maintenance tick).
        "retry" => Ok(awa::JobResult::RetryAfter(Duration::ZERO)),
        "held" => {
            wait_for(&shared.released, &shared.wake).await;
            Ok(awa::JobResult::Completed)
        }
        _ => {
            if !shared.handle.is_zero() {
                // Dropped before it returns (the client gave up on the handler): say so.
                let guard = Interrupted { job_id, attempt };
                tokio::time::sleep(shared.handle).await;
                std::mem::forget(guard);
            }
            Ok(awa::JobResult::Completed)
        }
    }
}

/// Emits `interrupted` when a handler taking handle_ms is dropped before it returns.
/// (A handler that returns forgets it.)
struct Interrupted {
    job_id: i64,
    attempt: i16,
}

impl Drop for Interrupted {
    fn drop(&mut self) {
        emit("interrupted", &[("job_id", json!(self.job_id)), ("attempt", json!(self.attempt))]);
    }
}

/// Steps that only talk to the database through awa's producer/admin API.
async fn run_db_step(pool: &sqlx::PgPool, step: Step) -> Result<(), StepError> {
    match step {
        Step::Enqueue(s) => {
            let mut opts = awa::InsertOpts { queue: s.queue.clone(), ..Default::default() };
            if let Some(p) = s.priority {
                opts.priority = p;
            }
            if let Some(m) = s.max_attempts {
                opts.max_attempts = m;
            }
            if let Some(t) = s.tags {
                opts.tags = t;
            }
            if let Some(m) = s.metadata {
                opts.metadata = m;
            }
            opts.run_at = s.run_at;
            let unique = match s.unique {
                None | Some(UniqueField::Flag(false)) => None,
                Some(UniqueField::Flag(true)) => Some(UniqueSpec { by_args: None, by_queue: None, by_period: None, states: None }),
                Some(UniqueField::Opts(u)) => Some(u),
            };
            if let Some(u) = unique {
                let mut uo = awa::UniqueOpts::default();
                if let Some(v) = u.by_args {
                    uo.by_args = v;
                }
                if let Some(v) = u.by_queue {
                    uo.by_queue = v;
                }
                uo.by_period = u.by_period;
                if let Some(v) = u.states {
                    uo.states = v;
                }
                opts.unique = Some(uo);
            }
            let args = ProbeArgs { fields: s.args };
            let row = awa::insert_with(pool, &args, opts).await?;
            emit(
                "enqueued",
                &[("ref", s.r), ("job_id", json!(row.id)), ("state", state_str(row.state))],
            );
        }
        Step::Cancel(s) => match awa::admin::cancel(pool, s.job_id).await? {
            Some(job) => emit(
                "cancelled",
                &[("ref", s.r), ("job_id", json!(job.id)), ("state", state_str(job.state))],
            ),
            // Not produced by any release so far (not-found is Err(JobNotFound)).
            None => emit("cancelled", &[("ref", s.r), ("job_id", Value::Null)]),
        },
        Step::CancelByUniqueKey(s) => {
            let found = awa::admin::cancel_by_unique_key(
                pool,
                kind(),
                s.queue.as_deref(),
                s.args.as_ref(),
                s.period_bucket,
            )
            .await?;
            match found {
                Some(job) => emit(
                    "cancelled",
                    &[("ref", s.r), ("job_id", json!(job.id)), ("state", state_str(job.state))],
                ),
                None => emit("cancelled", &[("ref", s.r), ("job_id", Value::Null)]),
            }
        }
        Step::GetJob(s) => {
            let job = awa::admin::get_job(pool, s.job_id).await?;
            emit("read", &[("ref", s.r), ("job", job_json(&job))]);
        }
        Step::ListJobs(s) => {
            let state = match &s.state {
                Some(st) => Some(parse_state(st).map_err(|e| StepError::other("ValidationError", e))?),
                None => None,
            };
            let filter = awa::admin::ListJobsFilter {
                state,
                kind: s.kind.clone(),
                queue: s.queue.clone(),
                // None: the SDK's default limit.
                limit: s.limit,
                ..Default::default()
            };
            let jobs = awa::admin::list_jobs(pool, &filter).await?;
            emit("read", &[("ref", s.r), ("jobs", Value::Array(jobs.iter().map(job_json).collect()))]);
        }
        Step::QueueStats(s) => {
            let stats = awa::admin::queue_overviews(pool).await?;
            emit("read", &[("ref", s.r), ("stats", Value::Array(stats.iter().map(stat_json).collect()))]);
        }
        Step::Migrate(s) => {
            awa::migrations::run(pool).await?;
            emit("migrated", &[("ref", s.r)]);
        }
        Step::Work(_) | Step::Sleep(_) => unreachable!("handled by Probe::run"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn init_logging() {
    let level = std::env::var("AWA_PROBE_LOG").unwrap_or_else(|_| "warn".into());
    let level = tracing_subscriber::filter::LevelFilter::from_str(&level)
        .unwrap_or(tracing_subscriber::filter::LevelFilter::WARN);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .try_init();
}

/// Reads stdin on a plain thread (a tokio stdin read would keep the runtime from exiting):
/// each `stop` line ends one work step; end of file ends the current and every later one.
fn spawn_stdin_reader() -> mpsc::UnboundedReceiver<StdinMsg> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            match line {
                Ok(l) if l.trim() == "stop" => {
                    let _ = tx.send(StdinMsg::Stop);
                }
                Ok(l) if l.trim().is_empty() => {}
                Ok(l) => eprintln!("awa-probe: ignoring stdin line {l:?}"),
                Err(_) => break,
            }
        }
        let _ = tx.send(StdinMsg::Eof);
    });
    rx
}

#[tokio::main]
async fn main() {
    emit(
        "start",
        &[
            ("probe", json!("rust")),
            ("awa_version", json!(AWA_VERSION)),
            ("pid", json!(std::process::id())),
        ],
    );
    init_logging();

    let path = match std::env::args_os().nth(1) {
        Some(p) => p,
        None => fatal("usage: awa-probe SPEC.json"),
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| fatal(format!("read spec {}: {e}", path.to_string_lossy())));
    let spec: Spec = serde_json::from_str(&text).unwrap_or_else(|e| fatal(format!("bad spec: {e}")));
    validate(&spec).unwrap_or_else(|e| fatal(format!("bad spec: {e}")));
    let _ = KIND.set(Box::leak(spec.kind.clone().into_boxed_str()));

    let mut probe = Probe {
        // The spec file on disk has the password removed; the real URL is in the environment.
        database_url: std::env::var("AWACOMPAT_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or(spec.database_url),
        pool: None,
        stdin: spawn_stdin_reader(),
        stdin_eof: false,
    };
    for step in spec.steps {
        probe.run(step).await;
    }
    if let Some(pool) = probe.pool.take() {
        pool.close().await;
    }
    emit("done", &[]);
    std::process::exit(0);
}
