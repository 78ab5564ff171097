//! Usage history from a real Prometheus: recommend sizes containers from it (and says when it only
//! has one sample), diagnose and ask quote it as evidence. The Prometheus is Debian's 2.42 holding
//! a synthetic day of cAdvisor and kube-state-metrics series for namespace `shop`; the cluster is
//! the fake API server holding the same workloads.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};

use crate::support::fake_api::{FakeApi, dead_url};
use crate::support::prometheus::{self, History, Prom};
use crate::support::{Outcome, Sandbox};

const MI: f64 = 1024.0 * 1024.0;
const HOUR: i64 = 3600;

/// A pod's history: CPU cores and memory bytes as functions of the unix second.
struct PodHistory {
    pod: &'static str,
    /// Seconds before the end its container started.
    age: i64,
    cpu: fn(i64) -> f64,
    memory: fn(i64, i64) -> f64,
    /// Seconds before the end the container was OOM-killed.
    oom_kills_ago: &'static [i64],
    /// Share of CFS periods throttled, when it has a CPU limit.
    throttled: Option<f64>,
    /// Seconds before the end the pod was deleted (a rollout replaced it).
    gone_ago: i64,
}

/// Memory of the OOM-killed pod: 150Mi for most of the day, then three climbs to its 256Mi limit
/// 100 minutes apart, each ending in a kill (at 260, 160 and 60 minutes ago), then a fresh climb.
fn oomy_memory(t: i64, end: i64) -> f64 {
    let ago = end - t;
    if ago > 6 * HOUR {
        return 150.0 * MI;
    }
    let since = (6 * HOUR - ago) % 6000;
    100.0 * MI + 156.0 * MI * since as f64 / 6000.0
}

fn pods() -> Vec<PodHistory> {
    let day = 26 * HOUR;
    let steady = |_: i64| 0.1;
    let p = |pod, cpu, memory: fn(i64, i64) -> f64| PodHistory {
        pod,
        age: day,
        cpu,
        memory,
        oom_kills_ago: &[],
        throttled: None,
        gone_ago: 0,
    };
    // Busy 08:00-20:00 UTC, quiet at night: the swing an autoscaler is for.
    let daily = |t: i64| {
        if (8..20).contains(&(t % 86400 / HOUR)) {
            0.4
        } else {
            0.02
        }
    };
    vec![
        p("steady-0", steady, |_, _| 200.0 * MI),
        // Idle but for ten minutes at the top of every hour.
        p(
            "spiky-0",
            |t| if t % HOUR < 600 { 0.8 } else { 0.01 },
            |t, _| {
                if t % HOUR < 600 {
                    600.0 * MI
                } else {
                    100.0 * MI
                }
            },
        ),
        PodHistory {
            oom_kills_ago: &[260 * 60, 160 * 60, 60 * 60],
            ..p("oomy-0", |_| 0.05, oomy_memory)
        },
        PodHistory {
            throttled: Some(0.6),
            ..p("throttled-0", |_| 0.5, |_, _| 200.0 * MI)
        },
        PodHistory {
            age: 30 * 60,
            ..p("young-0", |_| 0.05, |_, _| 100.0 * MI)
        },
        PodHistory {
            gone_ago: 10 * HOUR,
            ..p("api-5f7c9d8b4-wq8zr", daily, |_, _| 150.0 * MI)
        },
        PodHistory {
            age: 10 * HOUR,
            ..p("api-7c9d8b4f5-x2x9q", daily, |_, _| 150.0 * MI)
        },
        PodHistory {
            age: 10 * HOUR,
            ..p("api-7c9d8b4f5-b7k4m", daily, |_, _| 150.0 * MI)
        },
        p("worker-6d8f7b9c4-k2lmn", |_| 0.25, |_, _| 180.0 * MI),
        // 20m of a 500m request: 4% utilization against a 70% target.
        p("batch-5b6c7d8e9-q4w5e", |_| 0.02, |_, _| 120.0 * MI),
        p("web-8f9a7b6c5-r2t3y", |_| 0.2, |_, _| 120.0 * MI),
    ]
}

/// The day of history, as the kubelet's cAdvisor and kube-state-metrics expose it, one sample a
/// minute.
fn fill(end: i64) -> History {
    let mut h = History::default();
    for p in pods() {
        pod_history(&mut h, &p, end);
    }
    autoscaler_history(&mut h, end);
    h
}

/// One pod's cAdvisor series (CPU, memory, OOM kills, throttling) and kube-state-metrics series.
fn pod_history(h: &mut History, p: &PodHistory, end: i64) {
    let times: Vec<i64> = (end - p.age..=end - p.gone_ago).step_by(60).collect();
    let id = format!("/kubepods/burstable/pod-{}/cri-containerd-{}", p.pod, p.pod);
    let cadvisor = [
        ("container", "app"),
        ("id", id.as_str()),
        ("image", "registry.example.com/shop/app:1.4.2"),
        ("instance", "10.0.0.11:10250"),
        ("job", "kubelet"),
        ("metrics_path", "/metrics/cadvisor"),
        ("name", id.as_str()),
        ("namespace", "shop"),
        ("node", "node-1"),
        ("pod", p.pod),
    ];
    // The pod's own cgroup (container="") adds up its containers; queries must skip it.
    let pod_cgroup = [
        ("id", "/kubepods/burstable/pod"),
        ("instance", "10.0.0.11:10250"),
        ("job", "kubelet"),
        ("metrics_path", "/metrics/cadvisor"),
        ("namespace", "shop"),
        ("node", "node-1"),
        ("pod", p.pod),
    ];
    let mut used = 0.0;
    let cpu: Vec<(i64, f64)> = times
        .iter()
        .map(|t| {
            used += (p.cpu)(*t) * 60.0;
            (*t, used)
        })
        .collect();
    h.counter("container_cpu_usage_seconds_total", &cadvisor, &cpu);
    h.counter("container_cpu_usage_seconds_total", &pod_cgroup, &cpu);
    let memory: Vec<(i64, f64)> = times.iter().map(|t| (*t, (p.memory)(*t, end))).collect();
    h.gauge("container_memory_working_set_bytes", &cadvisor, &memory);
    let kills = |t: i64| p.oom_kills_ago.iter().filter(|ago| end - *ago <= t).count() as f64;
    let ooms: Vec<(i64, f64)> = times.iter().map(|t| (*t, kills(*t))).collect();
    h.counter("container_oom_events_total", &cadvisor, &ooms);
    if let Some(share) = p.throttled {
        throttling_history(h, &cadvisor, &times, share);
    }
    pod_state_history(h, p, &times, &ooms, end);
}

/// CFS periods, `share` of them throttled.
fn throttling_history(h: &mut History, cadvisor: &[(&str, &str)], times: &[i64], share: f64) {
    let periods: Vec<(i64, f64)> = times
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, i as f64 * 600.0))
        .collect();
    let throttled: Vec<(i64, f64)> = periods
        .iter()
        .map(|(t, v)| (*t, (v * share).round()))
        .collect();
    h.counter("container_cpu_cfs_periods_total", cadvisor, &periods);
    h.counter(
        "container_cpu_cfs_throttled_periods_total",
        cadvisor,
        &throttled,
    );
}

/// kube-state-metrics on the pod: a restart per OOM kill, and OOMKilled as the last termination
/// reason from the first kill on.
fn pod_state_history(
    h: &mut History,
    p: &PodHistory,
    times: &[i64],
    ooms: &[(i64, f64)],
    end: i64,
) {
    let ksm = [
        ("container", "app"),
        ("instance", "10.244.0.5:8080"),
        ("job", "kube-state-metrics"),
        ("namespace", "shop"),
        ("pod", p.pod),
        ("uid", "3c1f0e52-4d8a-4b8e-9a53-0c9d51f1e001"),
    ];
    h.counter("kube_pod_container_status_restarts_total", &ksm, ooms);
    if let Some(first) = p.oom_kills_ago.iter().max() {
        let mut labels = ksm.to_vec();
        labels.push(("reason", "OOMKilled"));
        let since: Vec<(i64, f64)> = times
            .iter()
            .filter(|t| **t >= end - first)
            .map(|t| (*t, 1.0))
            .collect();
        h.gauge(
            "kube_pod_container_status_last_terminated_reason",
            &labels,
            &since,
        );
    }
}

/// The worker's autoscaler sat at its maximum all day, batch's at its minimum, and web's moved
/// between 2 and 5 of its 10.
fn autoscaler_history(h: &mut History, end: i64) {
    let times: Vec<i64> = (end - 26 * HOUR..=end).step_by(60).collect();
    type Replicas = fn(i64) -> f64;
    let hpas: [(&str, Replicas, f64, f64); 3] = [
        ("worker", |_| 4.0, 2.0, 4.0),
        ("batch", |_| 1.0, 1.0, 10.0),
        (
            "web",
            |t| {
                if (8..20).contains(&(t % 86400 / HOUR)) {
                    5.0
                } else {
                    2.0
                }
            },
            2.0,
            10.0,
        ),
    ];
    for (name, current, min, max) in hpas {
        let labels = [
            ("horizontalpodautoscaler", name),
            ("instance", "10.244.0.5:8080"),
            ("job", "kube-state-metrics"),
            ("namespace", "shop"),
        ];
        let series = |f: &dyn Fn(i64) -> f64| times.iter().map(|t| (*t, f(*t))).collect::<Vec<_>>();
        h.gauge(
            "kube_horizontalpodautoscaler_status_current_replicas",
            &labels,
            &series(&current),
        );
        h.gauge(
            "kube_horizontalpodautoscaler_spec_max_replicas",
            &labels,
            &series(&|_| max),
        );
        h.gauge(
            "kube_horizontalpodautoscaler_spec_min_replicas",
            &labels,
            &series(&|_| min),
        );
    }
}

fn prom() -> &'static Prom {
    prometheus::shared(fill)
}

fn resources(requests: Value, limits: Value) -> Value {
    json!({"requests": requests, "limits": limits})
}

/// The cluster side: the same workloads, their pods now, and one metrics.k8s.io sample each.
fn cluster(dir: &Path) {
    let shop = dir.join("shop");
    let monitoring = dir.join("monitoring");
    std::fs::create_dir_all(&shop).unwrap();
    std::fs::create_dir_all(&monitoring).unwrap();
    let sets = statefulset_resources();
    let deploys = deployment_resources();
    let write = |path: std::path::PathBuf, items: Vec<Value>| {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
        std::fs::write(path, list).unwrap();
    };
    write(shop.join("statefulsets.json"), statefulsets(&sets));
    write(shop.join("deployments.json"), deployments(&deploys));
    write(shop.join("replicasets.json"), replicasets(&deploys));
    write(shop.join("pods.json"), pods_now(&sets, &deploys));
    let services = vec![json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"selector": {"app": "api"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    })];
    write(shop.join("services.json"), services);
    write(shop.join("horizontalpodautoscalers.json"), autoscalers());
    // The Service the prometheus-operator creates for every Prometheus it runs.
    let operated = vec![json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "prometheus-operated", "namespace": "monitoring", "labels": {"operated-prometheus": "true"}},
        "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 9090, "protocol": "TCP", "targetPort": "web"}],
                 "selector": {"app.kubernetes.io/name": "prometheus"}}
    })];
    write(monitoring.join("services.json"), operated);
    std::fs::write(
        dir.join("metrics-pods.json"),
        json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetricsList", "items": metrics_now()})
            .to_string(),
    )
    .unwrap();
}

/// The StatefulSets, each with one pod `<name>-0`, and their containers' resources.
fn statefulset_resources() -> Vec<(&'static str, Value)> {
    vec![
        (
            "steady",
            resources(
                json!({"cpu": "150m", "memory": "512Mi"}),
                json!({"memory": "512Mi"}),
            ),
        ),
        (
            "spiky",
            resources(
                json!({"cpu": "100m", "memory": "128Mi"}),
                json!({"memory": "1Gi"}),
            ),
        ),
        (
            "oomy",
            resources(
                json!({"cpu": "100m", "memory": "256Mi"}),
                json!({"memory": "256Mi"}),
            ),
        ),
        (
            "throttled",
            resources(
                json!({"cpu": "500m", "memory": "256Mi"}),
                json!({"cpu": "500m", "memory": "256Mi"}),
            ),
        ),
        (
            "young",
            resources(
                json!({"cpu": "1", "memory": "1Gi"}),
                json!({"memory": "1Gi"}),
            ),
        ),
    ]
}

/// The Deployments: name, replicas, their ReplicaSet's hash and their containers' resources.
fn deployment_resources() -> Vec<(&'static str, i32, &'static str, Value)> {
    let res = |cpu: &str| {
        resources(
            json!({"cpu": cpu, "memory": "256Mi"}),
            json!({"memory": "256Mi"}),
        )
    };
    vec![
        ("api", 2, "7c9d8b4f5", res("100m")),
        ("batch", 1, "5b6c7d8e9", res("500m")),
        ("web", 2, "8f9a7b6c5", res("300m")),
        ("worker", 4, "6d8f7b9c4", res("300m")),
    ]
}

/// The pod template of workload `name`: one container, `app`, with `res`.
fn template(name: &str, res: Value) -> Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/app:1.4.2", "resources": res}]}
    })
}

fn statefulsets(sets: &[(&str, Value)]) -> Vec<Value> {
    sets.iter().map(|(name, res)| json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "generation": 1},
        "spec": {"replicas": 1, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": template(name, res.clone())},
        "status": {"replicas": 1, "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}
    })).collect()
}

fn deployments(deploys: &[(&str, i32, &str, Value)]) -> Vec<Value> {
    deploys.iter().map(|(name, n, _, res)| json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"), "generation": 1},
        "spec": {"replicas": n, "selector": {"matchLabels": {"app": name}}, "template": template(name, res.clone())},
        "status": {"replicas": n, "readyReplicas": n, "updatedReplicas": n, "availableReplicas": n, "observedGeneration": 1}
    })).collect()
}

fn replicasets(deploys: &[(&str, i32, &str, Value)]) -> Vec<Value> {
    deploys.iter().map(|(name, n, hash, res)| json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("{name}-{hash}"), "namespace": "shop", "uid": format!("uid-{name}-{hash}"),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": format!("uid-{name}"), "controller": true}]},
        "spec": {"replicas": n, "selector": {"matchLabels": {"app": name}}, "template": template(name, res.clone())},
        "status": {"replicas": n, "readyReplicas": n, "availableReplicas": n}
    })).collect()
}

/// A running, ready pod of workload `app`, controlled by `owner` (kind, name).
fn pod(
    name: &str,
    app: &str,
    owner: (&str, &str),
    res: &Value,
    restarts: u32,
    last: Value,
) -> Value {
    let running = json!({"running": {"startedAt": "2026-11-20T09:00:00Z"}});
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": app}, "creationTimestamp": "2026-11-20T09:00:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner.0, "name": owner.1, "uid": format!("uid-{}", owner.1), "controller": true}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example.com/shop/app:1.4.2", "resources": res}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "app", "ready": true, "restartCount": restarts, "image": "registry.example.com/shop/app:1.4.2",
                                          "imageID": "", "started": true, "state": running, "lastState": last}]}
    })
}

/// The pods running now: one a StatefulSet (the OOM-killed one restarted three times), and the
/// Deployments' current replicas.
fn pods_now(sets: &[(&str, Value)], deploys: &[(&str, i32, &str, Value)]) -> Vec<Value> {
    let oom_last = json!({"terminated": {"reason": "OOMKilled", "exitCode": 137, "startedAt": "2026-11-20T09:00:00Z", "finishedAt": "2026-11-20T09:40:00Z"}});
    let mut pods: Vec<Value> = sets
        .iter()
        .map(|(name, res)| {
            let (restarts, last) = if *name == "oomy" {
                (3, oom_last.clone())
            } else {
                (0, json!({}))
            };
            pod(
                &format!("{name}-0"),
                name,
                ("StatefulSet", name),
                res,
                restarts,
                last,
            )
        })
        .collect();
    for (name, hash, suffix) in [
        ("api", "7c9d8b4f5", "x2x9q"),
        ("api", "7c9d8b4f5", "b7k4m"),
        ("worker", "6d8f7b9c4", "k2lmn"),
        ("batch", "5b6c7d8e9", "q4w5e"),
        ("web", "8f9a7b6c5", "r2t3y"),
    ] {
        let res = &deploys.iter().find(|d| d.0 == name).unwrap().3;
        let rs = format!("{name}-{hash}");
        pods.push(pod(
            &format!("{rs}-{suffix}"),
            name,
            ("ReplicaSet", &rs),
            res,
            0,
            json!({}),
        ));
    }
    pods
}

/// CPU autoscalers (70% target) of the worker, batch and web Deployments.
fn autoscalers() -> Vec<Value> {
    let hpa = |name: &str, min: u32, max: u32, now: u32| {
        json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "minReplicas": min, "maxReplicas": max,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            "status": {"currentReplicas": now, "desiredReplicas": now}
        })
    };
    vec![
        hpa("worker", 2, 4, 4),
        hpa("batch", 1, 10, 1),
        hpa("web", 2, 10, 2),
    ]
}

/// metrics.k8s.io this minute: the spiky pod happens to be idle.
fn metrics_now() -> Vec<Value> {
    let sample = |pod: &str, cpu: &str, mem: &str| {
        json!({
            "metadata": {"name": pod, "namespace": "shop"}, "timestamp": "2026-11-20T10:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": mem}}]
        })
    };
    vec![
        sample("steady-0", "100m", "200Mi"),
        sample("spiky-0", "10m", "100Mi"),
        sample("oomy-0", "50m", "120Mi"),
        sample("throttled-0", "500m", "200Mi"),
        sample("young-0", "50m", "100Mi"),
    ]
}

struct World {
    sb: Sandbox,
    api: FakeApi,
}

fn world() -> World {
    let sb = Sandbox::new();
    let dir = sb.path().join("cluster");
    cluster(&dir);
    let api = FakeApi::start(&dir);
    World { sb, api }
}

impl World {
    fn run(&self, args: &[&str]) -> Outcome {
        self.sb.against(&self.api, "shop").args(args).run()
    }

    fn json(&self, args: &[&str]) -> Value {
        let o = self.run(args);
        assert!(o.code == 0 || o.code == 3, "exit {}: {}", o.code, o.stderr);
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", o.stdout))
    }
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row for {name}: {report}"))
}

fn mi(v: &Value) -> f64 {
    v.as_f64().expect("bytes") / MI
}

fn recs<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["recommendations"]
        .as_array()
        .expect("recommendations")
        .iter()
        .filter(|r| r["rule"] == rule)
        .collect()
}

fn names(recs: &[&Value]) -> BTreeSet<String> {
    recs.iter()
        .map(|r| r["object"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn resources_come_from_the_history_per_container() {
    let w = world();
    let url = &prom().url;
    let r = w.json(&[
        "recommend",
        "--resources",
        "--history",
        "1d",
        "--prometheus",
        url,
        "-o",
        "json",
    ]);
    assert_eq!(
        (&r["apiVersion"], &r["kind"], &r["window"]),
        (
            &json!("kubectl-ai.io/v1alpha1"),
            &json!("ResourceSizing"),
            &json!("24h")
        )
    );
    assert_eq!(r["cpuPercentile"], 95.0);

    // Steady: a small change, with certainty.
    let steady = row(&r, "steady");
    assert_eq!(steady["basis"], "prometheus");
    assert_eq!(steady["confidence"], "high");
    assert_eq!(steady["proposed"]["cpuRequest"], 100);
    assert_eq!(
        mi(&steady["proposed"]["memoryRequest"]),
        230.0,
        "200Mi peak + 15%"
    );
    assert_eq!(mi(&steady["proposed"]["memoryLimit"]), 230.0);
    assert_eq!(steady["current"]["cpuRequest"], 150);

    // Spiky: the hourly spike sets both, though it idles most of the time.
    let spiky = row(&r, "spiky");
    let cpu = spiky["proposed"]["cpuRequest"].as_u64().unwrap();
    assert!((700..=850).contains(&cpu), "{spiky}");
    assert!(mi(&spiky["proposed"]["memoryRequest"]) >= 690.0, "{spiky}");

    // OOM-killed three times at its limit: memory goes up, past the limit it died at.
    let oomy = row(&r, "oomy");
    assert_eq!(oomy["oomKills"], 3, "{oomy}");
    assert!(mi(&oomy["proposed"]["memoryLimit"]) >= 384.0, "{oomy}");

    // Throttled in 60% of its periods: the CPU limit is raised.
    let throttled = row(&r, "throttled");
    let share = throttled["throttled"].as_f64().unwrap();
    assert!((0.55..0.65).contains(&share), "{throttled}");
    assert_eq!(throttled["proposed"]["cpuLimit"], 1000);

    // Half an hour of data: low confidence, nothing proposed.
    let young = row(&r, "young");
    assert_eq!(young["confidence"], "low");
    assert_eq!(young["proposed"], young["current"]);

    // Today's api pods are 10h old; the pod the rollout replaced carries the rest of the day.
    let api = row(&r, "api");
    assert_eq!(api["confidence"], "high", "{api}");
}

#[test]
fn the_text_report_says_where_the_numbers_come_from() {
    let w = world();
    let o = w.run(&[
        "recommend",
        "--resources",
        "--history",
        "1d",
        "--prometheus",
        &prom().url,
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with("Requests and limits from 24h of Prometheus history"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("statefulset/steady -n shop container app\n  confidence high"),
        "{}",
        o.stdout
    );
    // 50m of CPU and 282Mi of memory freed by steady, and the rest: a total the reader can act on.
    assert!(
        o.stdout
            .contains("  saves 50m CPU and 282Mi memory requested over 1 replica\n"),
        "{}",
        o.stdout
    );
    // api +600m, spiky +700m against 480m, 200m, 50m and 50m freed; 562Mi and 128Mi added against
    // 282Mi, 236Mi, 166Mi and 118Mi freed.
    assert!(
        o.stdout
            .ends_with("\nIn all: adds 520m CPU and saves 112Mi memory requested.\n"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("  cpu request 150m -> 100m\n"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("  risk: 3 OOM kills"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("  no change: too little history to propose a change"),
        "{}",
        o.stdout
    );

    // SARIF is for the rules: one clear line, exit 2.
    let o = w.run(&[
        "recommend",
        "--resources",
        "-o",
        "sarif",
        "--prometheus",
        &prom().url,
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr
            .starts_with("error: --resources writes text, json or yaml")
            && o.stderr.lines().count() == 1,
        "{}",
        o.stderr
    );

    // Without Prometheus: one sample, said so, and nothing sized from it here.
    let o = w.run(&["recommend", "--resources", "--prometheus", "off"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with("Usage from one metrics.k8s.io sample"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains(
            "statefulset/spiky -n shop container app\n  now using 10m CPU, 100Mi memory (one sample"
        ),
        "{}",
        o.stdout
    );
}

#[test]
fn one_sample_undersizes_the_spiky_pod_and_the_history_does_not() {
    let w = world();
    let alone = w.json(&[
        "recommend",
        "--prometheus",
        "off",
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    let one = recs(&alone, "rightsizing");
    let spiky = one
        .iter()
        .find(|r| r["object"]["name"] == "spiky")
        .expect("one-sample rightsizing of spiky");
    assert!(
        spiky["message"]
            .as_str()
            .unwrap()
            .contains("one metrics.k8s.io sample"),
        "{spiky}"
    );
    let requests = &spiky["fix"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]
        ["requests"];
    assert_eq!(requests["cpu"], "15m", "the idle minute, +20%");

    let r = w.json(&[
        "recommend",
        "--history",
        "1d",
        "--prometheus",
        &prom().url,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    assert!(
        r["source"]
            .as_str()
            .unwrap()
            .ends_with("with 24h of Prometheus history"),
        "{}",
        r["source"]
    );
    let sized = recs(&r, "rightsizing");
    let spiky = sized
        .iter()
        .find(|r| r["object"]["name"] == "spiky")
        .expect("history rightsizing of spiky");
    let message = spiky["message"].as_str().unwrap();
    assert!(
        message.contains("from 24h of Prometheus history")
            && !message.contains("one metrics.k8s.io sample"),
        "{message}"
    );
    let res = &spiky["fix"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"];
    let cpu = kubectl_ai::testing::millicores(res["requests"]["cpu"].as_str().unwrap()).unwrap();
    assert!(cpu >= 700, "{res}");
}

#[test]
fn the_rules_read_oom_kills_throttling_swings_and_pinned_autoscalers() {
    let w = world();
    let r = w.json(&[
        "recommend",
        "--history",
        "1d",
        "--prometheus",
        &prom().url,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names(&recs(&r, "oom-kills-seen")), set(&["oomy"]));
    // The history counted the kills and sizes from the peak: the one-pod-status rule stays quiet.
    assert!(recs(&r, "memory-limit-oom").is_empty(), "{r}");
    assert_eq!(names(&recs(&r, "cpu-throttled")), set(&["throttled"]));
    assert_eq!(names(&recs(&r, "load-swings")), set(&["api"]));
    assert_eq!(names(&recs(&r, "hpa-pinned")), set(&["worker"]));
    assert_eq!(names(&recs(&r, "hpa-target-far")), set(&["batch"]));
    assert_eq!(names(&recs(&r, "hpa-range-unused")), set(&["web"]));
    let far = recs(&r, "hpa-target-far")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        far.contains("targets 70% CPU, but the median utilization over 24h was 4%"),
        "{far}"
    );
    let unused = recs(&r, "hpa-range-unused")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        unused.contains("peaked at 5 replicas in 24h; maxReplicas 10"),
        "{unused}"
    );
    let sized = names(&recs(&r, "rightsizing"));
    assert!(
        sized.contains("steady") && !sized.contains("young"),
        "{sized:?}"
    );

    let oom = recs(&r, "oom-kills-seen")[0];
    let message = oom["message"].as_str().unwrap();
    assert!(
        message.contains("seen in 24h: 3 OOM kills") && message.contains("confidence high"),
        "{message}"
    );
    let limits =
        &oom["fix"]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"];
    assert!(
        kubectl_ai::testing::quantity_bytes(limits["memory"].as_str().unwrap()).unwrap()
            >= 384 * 1024 * 1024,
        "{limits}"
    );
    let pinned = recs(&r, "hpa-pinned")[0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pinned.contains("maxReplicas 4 for 100% of 24h"), "{pinned}");
}

#[test]
fn resources_fix_goes_through_the_plan_pipeline() {
    let w = world();
    let o = w.run(&[
        "recommend",
        "--resources",
        "--history",
        "1d",
        "--prometheus",
        &prom().url,
        "--fix",
        "--yes",
    ]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let applied: Vec<_> = w
        .api
        .real_mutations()
        .into_iter()
        .filter(|m| m.path.ends_with("/statefulsets/steady"))
        .collect();
    assert_eq!(applied.len(), 1, "{:?}", w.api.real_mutations());
    let body: Value = serde_json::from_str(&applied[0].body).unwrap();
    let res = &body["spec"]["template"]["spec"]["containers"][0]["resources"];
    assert_eq!(
        res,
        &json!({"requests": {"cpu": "100m", "memory": "230Mi"}, "limits": {"memory": "230Mi"}})
    );
    // Low confidence changes nothing.
    assert!(
        w.api
            .real_mutations()
            .iter()
            .all(|m| !m.path.ends_with("/statefulsets/young"))
    );
}

#[test]
fn prometheus_is_found_through_the_api_servers_service_proxy() {
    let w = world();
    w.api
        .proxy_to("monitoring", "prometheus-operated", &prom().url);
    let r = w.json(&["recommend", "--resources", "--history", "1d", "-o", "json"]);
    assert_eq!(row(&r, "steady")["basis"], "prometheus");
    assert!(
        r["source"].as_str().unwrap().contains("Prometheus history"),
        "{r}"
    );
    // Found by the installs' labels, not by listing every Service of the cluster.
    let lists: Vec<_> = w
        .api
        .journal()
        .into_iter()
        .filter(|j| j.path == "/api/v1/services")
        .collect();
    assert_eq!(lists.len(), 4, "{lists:?}");
    assert!(
        lists.iter().all(|j| j.param("labelSelector").is_some()),
        "{lists:?}"
    );
    let proxied: Vec<_> = w
        .api
        .journal()
        .into_iter()
        .filter(|j| j.path == "/api/v1/namespaces/monitoring/services/http:prometheus-operated:9090/proxy/api/v1/query")
        .collect();
    // Every question covers the namespace at once: 11 about containers and 4 about autoscalers,
    // however many pods (11) and autoscalers (3) there are.
    assert!(proxied.len() == 15, "{}", proxied.len());
    assert!(
        proxied
            .iter()
            .all(|j| j.query.contains("namespace%3D%22shop%22")),
        "{:?}",
        proxied[0].query
    );
}

#[test]
fn an_unreachable_or_unauthorized_prometheus_is_one_note_and_the_rest_works() {
    let w = world();
    let o = w.run(&[
        "recommend",
        "--prometheus",
        &dead_url(),
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let notes: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(notes.len(), 1, "{}", o.stderr);
    assert!(
        notes[0].starts_with("note: cannot reach Prometheus at http://127.0.0.1:")
            && notes[0].ends_with("rightsizing uses one metrics.k8s.io sample"),
        "{}",
        notes[0]
    );
    let r: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(
        names(&recs(&r, "rightsizing")).contains("spiky"),
        "the one-sample rules still ran"
    );

    let gate = prometheus::gate(&prom().url, "s3cret");
    let o = w.run(&[
        "recommend",
        "--prometheus",
        &gate.url,
        "-o",
        "json",
        "--fail-on",
        "never",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("refused the request (401)")
            && o.stderr.contains("--prometheus-token-file"),
        "{}",
        o.stderr
    );

    // A setting that cannot work is the user's to fix: one line, exit 2, whatever the command.
    for cmd in ["recommend", "diagnose"] {
        let o = w.run(&[
            cmd,
            "--prometheus",
            &gate.url,
            "--prometheus-token-file",
            "/nonexistent/token",
        ]);
        assert_eq!(o.code, 2, "{cmd}: {}", o.stderr);
        assert!(
            o.stderr
                .starts_with("error: --prometheus-token-file /nonexistent/token: cannot read it")
                && o.stderr.lines().count() == 1,
            "{cmd}: {}",
            o.stderr
        );
    }

    // With the token (from a file named in the config file) the history is there.
    let token = w.sb.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let config = w.sb.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {}\n  tokenFile: {}\n",
            gate.url,
            token.display()
        ),
    )
    .unwrap();
    let o =
        w.sb.against(&w.api, "shop")
            .env("KUBECTL_AI_CONFIG", &config)
            .args(["recommend", "--resources", "--history", "1d", "-o", "json"])
            .run();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(row(&r, "steady")["basis"], "prometheus", "{}", o.stderr);
}

#[test]
fn diagnose_and_ask_quote_the_recent_history() {
    let w = world();
    let url = &prom().url;
    let r = w.json(&["diagnose", "--prometheus", url, "-o", "json"]);
    let findings = r["findings"].as_array().expect("findings");
    let about_oomy = findings
        .iter()
        .find(|f| f["object"]["name"] == "oomy")
        .unwrap_or_else(|| panic!("no finding about oomy: {r}"));
    let evidence: Vec<&str> = about_oomy["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let history = evidence
        .iter()
        .find(|e| e.starts_with("history (Prometheus, last 6h)"))
        .unwrap_or_else(|| panic!("{evidence:?}"));
    assert!(history.contains("3 restarts, 3 OOM kills"), "{history}");
    // Sampled every 10 minutes, the last climb reads from about 100Mi to about its 256Mi limit
    // in the 100 minutes it took.
    let grew =
        regex::Regex::new(r"memory grew from (\d+)Mi to (\d+)Mi in the (\d+)m before its peak")
            .unwrap()
            .captures(history)
            .unwrap_or_else(|| panic!("{history}"));
    let n = |i: usize| grew[i].parse::<u32>().unwrap();
    assert!(
        n(1) <= 120 && n(2) >= 235 && (80..=100).contains(&n(3)),
        "{history}"
    );

    // The prompt carries it too, and the throttled pod (no finding) as an item of its own.
    let o = w.run(&[
        "ask",
        "--prometheus",
        url,
        "--show-prompt",
        "why is throttled slow",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("3 OOM kills"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("HISTORY pod throttled-0 -n shop (owner statefulset/throttled -n shop)")
            && o.stdout.contains("throttled in 60% of CPU periods"),
        "{}",
        o.stdout
    );
}

#[test]
fn a_cluster_wide_diagnosis_finds_prometheus_among_its_services_on_its_one_connection() {
    let w = world();
    w.api
        .proxy_to("monitoring", "prometheus-operated", &prom().url);
    // Credentials from an exec plugin that counts its runs: a second connection would run it
    // again.
    let runs = w.sb.path().join("exec-runs");
    let credential = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"fake-token"}}"#;
    let script = format!("echo run >> '{}'; echo '{credential}'", runs.display());
    let kubeconfig = w.sb.path().join("exec-kubeconfig");
    let users = json!([{"name": "tester", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
        "args": ["-c", script], "interactiveMode": "Never"}}}]);
    std::fs::write(
        &kubeconfig,
        json!({"apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": w.api.url}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": "shop"}}],
            "users": users})
        .to_string(),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let _ = std::fs::remove_file(&runs);
        w.api.reset_journal();
        let o =
            w.sb.kubectl_ai()
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(args)
                .run();
        assert!(o.code == 0 || o.code == 3, "exit {}: {}", o.code, o.stderr);
        let labelled = w
            .api
            .journal()
            .into_iter()
            .filter(|j| j.path == "/api/v1/services" && j.param("labelSelector").is_some())
            .count();
        let runs = std::fs::read_to_string(&runs).unwrap_or_default();
        (o.stdout, labelled, runs.lines().count())
    };

    // kube runs the plugin more than once while it builds one client: what one connection
    // costs is measured on a diagnosis that looks for no Prometheus.
    let (out, _, one_connection) = run(&["diagnose", "-A", "-o", "json", "--prometheus", "off"]);
    assert!(!out.contains("history (Prometheus"), "{out}");
    assert!(one_connection > 0, "the plugin ran");

    let (out, labelled, runs) = run(&["diagnose", "-A", "-o", "json"]);
    assert!(out.contains("history (Prometheus, last 6h)"), "{out}");
    assert_eq!(
        (labelled, runs),
        (0, one_connection),
        "labelled lists, plugin runs"
    );

    // One namespace's Services say nothing of where Prometheus runs: the installs' labels are
    // asked for, through the same connection.
    let (out, labelled, runs) = run(&["diagnose", "-o", "json"]);
    assert!(out.contains("history (Prometheus, last 6h)"), "{out}");
    assert_eq!(
        (labelled, runs),
        (4, one_connection),
        "labelled lists, plugin runs"
    );
}
