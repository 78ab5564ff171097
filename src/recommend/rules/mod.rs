//! The recommendation rules: one table of what each checks, and one file per family.
//!
//! Rule ids are a public interface (suppression annotations, config files, SARIF rule ids and
//! pipelines all name them), so they only ever gain members; a rule's severity is fixed by the
//! table so a threshold means the same thing in every run.

mod apis;
pub(crate) use apis::retirement;
mod hardening;
mod history;
pub(crate) use history::proposal as history_proposal;
mod networking;
mod rbac;
mod reliability;
mod resources;
mod scaling;
mod security;

use serde::Serialize;
use serde_json::Value;

use super::inventory::{Inventory, Object, Workload};
use super::tree::{Interner, Tree};
use crate::analyze::Severity;
use crate::context::ObjectRef;

/// Which concern a rule serves; SARIF tags and text grouping use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Category {
    Validity,
    Reliability,
    Resources,
    Scaling,
    Security,
    Networking,
}

impl Category {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Category::Validity => "validity",
            Category::Reliability => "reliability",
            Category::Resources => "resources",
            Category::Scaling => "scaling",
            Category::Security => "security",
            Category::Networking => "networking",
        }
    }
}

/// What one rule checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub id: RuleId,
    pub severity: Severity,
    pub category: Category,
    /// Whether it runs unless configured otherwise: rules many teams disagree with (CPU limits)
    /// are there to be turned on.
    pub enabled: bool,
    /// One line: what is wrong when it fires.
    pub title: &'static str,
    /// Why it matters and what to do, for `--help`-level docs and SARIF.
    pub help: &'static str,
}

use Category::*;
use Severity::{Error as E, Info as I, Warning as W};

/// The rule table, written once: the id enum and [`RULES`] come from the same lines, in the same
/// order, so an id is always its own index in the table.
macro_rules! rules {
    ($($variant:ident = $id:literal, $sev:ident, $cat:ident, enabled $on:literal: $title:literal, $help:literal;)*) => {
        /// Every rule's id: typed in code, kebab-case in configs, annotations, SARIF and JSON.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub(crate) enum RuleId {
            $($variant,)*
        }

        impl RuleId {
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }
        }

        /// Every rule, in the order reports list them.
        pub(crate) const RULES: &[Rule] = &[
            $(Rule {
                id: RuleId::$variant,
                severity: $sev,
                category: $cat,
                enabled: $on,
                title: $title,
                help: $help,
            },)*
        ];
    };
}

rules! {
    SchemaInvalid = "schema-invalid", E, Validity, enabled true:
        "A manifest does not match the Kubernetes API schema",
        "The API server rejects an object with an unknown field, a value of the wrong type or a missing required field, so the manifest cannot be applied as written. Fix the field at the reported path (the schemas are those of --kubernetes-version, or the cluster's own with --validate cluster).";
    ApiVersionDeprecated = "api-version-deprecated", W, Validity, enabled true:
        "An object uses an apiVersion deprecated in the target Kubernetes version",
        "A deprecated apiVersion is still served, but a later release removes it and the manifest then stops applying. Move to the replacement the message names before upgrading (apiVersions already removed are schema-invalid errors).";
    LivenessProbeMissing = "liveness-probe-missing", W, Reliability, enabled true:
        "A long-running container has no livenessProbe",
        "Without a liveness probe a hung process keeps its pod forever. Add an httpGet/tcpSocket/exec livenessProbe that fails only when a restart helps.";
    ReadinessProbeMissing = "readiness-probe-missing", W, Reliability, enabled true:
        "A served container has no readinessProbe",
        "Without a readiness probe a Service sends traffic to pods that are still starting or overloaded. Add a readinessProbe on the port the Service targets.";
    ProbesIdentical = "probes-identical", W, Reliability, enabled true:
        "livenessProbe and readinessProbe are identical",
        "When both probes are the same, a brief overload restarts the container instead of only taking it out of rotation. Give liveness a cheaper check or a higher failureThreshold.";
    ProbePortUndeclared = "probe-port-undeclared", E, Reliability, enabled true:
        "A probe targets a port the container does not declare",
        "A probe aimed at an undeclared port fails forever: the container is restarted (liveness) or never ready (readiness). Point it at a containerPort.";
    SingleReplica = "single-replica", W, Reliability, enabled true:
        "A workload behind a Service runs a single replica",
        "One replica means downtime on every node drain, rollout hiccup or crash. Run at least 2 (or an HPA with minReplicas >= 2); suppress for singletons such as a database primary.";
    PdbMissing = "pdb-missing", W, Reliability, enabled true:
        "A replicated workload has no PodDisruptionBudget",
        "Without a PodDisruptionBudget a node drain may evict every replica at once. Add one with maxUnavailable: 1.";
    SpreadMissing = "spread-missing", I, Reliability, enabled true:
        "Replicas may all land on one node",
        "With neither podAntiAffinity nor topologySpreadConstraints the scheduler may place every replica on the same node. Add a topologySpreadConstraint on kubernetes.io/hostname.";
    RollingUpdateRisky = "rolling-update-risky", W, Reliability, enabled true:
        "The update strategy can take every pod down at once",
        "Recreate, or a RollingUpdate whose maxUnavailable covers every replica, stops all pods before new ones are ready. Use RollingUpdate with maxUnavailable: 0 and maxSurge: 1.";
    BarePod = "bare-pod", W, Reliability, enabled true:
        "A Pod is created directly, without a controller",
        "Nothing recreates a bare Pod when its node fails, drains or is upgraded, and it cannot be rolled out. Run it from a Deployment (long-running) or a Job (runs to completion).";
    PdbNoDisruptions = "pdb-no-disruptions", E, Reliability, enabled true:
        "A PodDisruptionBudget allows no voluntary disruption",
        "With maxUnavailable 0, or minAvailable at or above the replicas (or the HPA's minReplicas), no pod may ever be evicted: node drains and cluster upgrades hang until someone deletes the budget. Allow at least one disruption (maxUnavailable: 1).";
    PriorityClassMissing = "priority-class-missing", I, Reliability, enabled true:
        "A long-running workload sets no priorityClassName",
        "Without a priority class every pod has the cluster's default priority, so under pressure the scheduler may preempt a critical service as readily as a batch job. Give important workloads a PriorityClass.";
    RequestsMissing = "requests-missing", W, Resources, enabled true:
        "A container has no CPU or memory request",
        "Without requests the scheduler packs pods blindly and the pod is first to be evicted under pressure. Set cpu and memory requests near observed usage.";
    MemoryLimitMissing = "memory-limit-missing", W, Resources, enabled true:
        "A container has no memory limit",
        "Without a memory limit one leaking container can exhaust its node. Set a memory limit above the container's peak usage.";
    CpuLimitMissing = "cpu-limit-missing", W, Resources, enabled false:
        "A container has no CPU limit",
        "Without a CPU limit a busy container can use every idle core of its node. Many teams omit CPU limits on purpose (throttling hurts latency more than sharing), so this rule is off by default: turn it on where limits are policy.";
    LimitBelowUsage = "limit-below-usage", W, Resources, enabled true:
        "A container runs at or above its limit",
        "Usage at 90% of the memory limit is one spike from an OOM kill; CPU at its limit is throttled. Raise the limit.";
    MemoryLimitOom = "memory-limit-oom", E, Resources, enabled true:
        "A container was OOM-killed at its memory limit",
        "The kernel killed the container for exceeding its memory limit. Raise the limit (the fix keeps 50% headroom over the larger of the limit and observed usage).";
    OomKillsSeen = "oom-kills-seen", W, Resources, enabled true:
        "A container was OOM-killed in the Prometheus history",
        "The kernel killed the container for exceeding its memory limit during the history window (container_oom_events_total, or kube-state-metrics' last terminated reason). The fix sizes memory from the peak, with 50% headroom over the limit it was killed at.";
    CpuThrottled = "cpu-throttled", W, Resources, enabled true:
        "A container was CPU-throttled in a quarter of its periods or more",
        "Throttling (container_cpu_cfs_throttled_periods_total over container_cpu_cfs_periods_total) stalls the container for the rest of each 100ms period once it spends its quota: latency suffers while average usage looks fine. Raise the CPU limit (the fix doubles it, or sets 120% of the peak), or drop it.";
    HpaMissing = "hpa-missing", I, Scaling, enabled true:
        "A replicated workload behind a Service has no HorizontalPodAutoscaler",
        "A fixed replica count cannot follow load. Add an HPA on CPU utilization (the workload needs CPU requests).";
    HpaTargetNoRequests = "hpa-target-no-requests", E, Scaling, enabled true:
        "An HPA scales on utilization of a resource its target does not request",
        "Utilization is measured against requests; without them the HPA cannot compute it and never scales. Set the request on every container of the target.";
    HpaMinEqualsMax = "hpa-min-equals-max", W, Scaling, enabled true:
        "An HPA has minReplicas equal to maxReplicas",
        "With min equal to max the autoscaler can never scale. Raise maxReplicas, or drop the HPA and set replicas.";
    HpaTargetMissing = "hpa-target-missing", E, Scaling, enabled true:
        "An HPA targets a workload that does not exist",
        "The HPA's scaleTargetRef names no workload among the inputs; it does nothing. Fix the name or kind.";
    Rightsizing = "rightsizing", I, Scaling, enabled true:
        "Requests are far from observed usage",
        "Requests far above usage waste capacity; below usage they overcommit the node. With Prometheus the suggestion comes from its history (CPU at a percentile of the rate, memory at the peak plus headroom; see --resources); without it, from one metrics.k8s.io sample, which a pod that idles now and spikes later makes wrong.";
    LoadSwings = "load-swings", I, Scaling, enabled true:
        "A workload's CPU swings widely at a fixed replica count",
        "When busy hours use several times the CPU of quiet ones, fixed replicas are either idle or short. A HorizontalPodAutoscaler on CPU utilization follows the load (needs Prometheus history).";
    HpaPinned = "hpa-pinned", W, Scaling, enabled true:
        "An HPA sat at maxReplicas for most of the history window",
        "An autoscaler held at its maximum cannot add the capacity the load asks for: requests queue or time out. Raise maxReplicas, or give the pods more CPU (needs Prometheus with kube-state-metrics).";
    HpaRangeUnused = "hpa-range-unused", I, Scaling, enabled true:
        "An HPA never reached maxReplicas in the history window",
        "A range the load never uses is harmless but says the bounds were guessed: a maxReplicas never approached, or an HPA that never left minReplicas, may not fit the workload (needs Prometheus with kube-state-metrics).";
    HpaTargetFar = "hpa-target-far", I, Scaling, enabled true:
        "An HPA's utilization target sits far from the utilization it sees",
        "An HPA held at minReplicas while utilization stays under half its target never scales; its minReplicas or the CPU requests are higher than the load needs (needs Prometheus history).";
    RunAsNonRootMissing = "run-as-non-root-missing", W, Security, enabled true:
        "A container may run as root",
        "Set securityContext.runAsNonRoot: true (and a non-zero runAsUser) so a compromised process is not root in the container.";
    Privileged = "privileged", E, Security, enabled true:
        "A container is privileged",
        "A privileged container has every capability and the host's devices: a breakout is a node compromise. Remove privileged: true and add only the capabilities needed.";
    PrivilegeEscalation = "privilege-escalation", W, Security, enabled true:
        "A container allows privilege escalation",
        "allowPrivilegeEscalation defaults to true: setuid binaries can gain privileges. Set securityContext.allowPrivilegeEscalation: false.";
    RootFilesystemWritable = "root-filesystem-writable", W, Security, enabled true:
        "A container's root filesystem is writable",
        "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the app must write (/tmp, caches).";
    CapabilitiesAdded = "capabilities-added", W, Security, enabled true:
        "A container adds Linux capabilities",
        "Added capabilities widen what a compromised process can do. Drop ALL and add back only what is proven necessary.";
    HostPath = "host-path", E, Security, enabled true:
        "A pod mounts a hostPath volume",
        "hostPath exposes the node's filesystem to the pod. Use a PersistentVolumeClaim, ConfigMap or emptyDir instead.";
    HostNetwork = "host-network", E, Security, enabled true:
        "A pod uses the host's network namespace",
        "hostNetwork: true bypasses NetworkPolicies and exposes node ports. Remove it and expose the pod through a Service.";
    HostPid = "host-pid", E, Security, enabled true:
        "A pod shares the host's process namespace",
        "hostPID: true lets the pod see and signal every process on the node. Remove it.";
    HostIpc = "host-ipc", E, Security, enabled true:
        "A pod shares the host's IPC namespace",
        "hostIPC: true lets the pod read and write the shared memory of every process on the node. Remove it.";
    HostPort = "host-port", W, Security, enabled true:
        "A container binds a port on the node (hostPort)",
        "A hostPort ties the pod to nodes where the port is free, limits it to one replica per node, and exposes it outside Services and NetworkPolicies. Expose it through a Service instead.";
    HostProcess = "host-process", E, Security, enabled true:
        "A Windows container runs as a host process",
        "windowsOptions.hostProcess: true runs the container as a process on the Windows node, with the node's privileges. Remove it unless this is a node agent.";
    CapabilitiesNotDropped = "capabilities-not-dropped", W, Security, enabled true:
        "A container does not drop all Linux capabilities",
        "Container runtimes grant a default set of capabilities, NET_RAW among them (raw sockets: ARP and DNS spoofing inside the cluster network). Set capabilities.drop: [ALL] and add back only what is needed.";
    SeccompProfileMissing = "seccomp-profile-missing", W, Security, enabled true:
        "A container runs without a seccomp profile",
        "Without seccompProfile RuntimeDefault (or a Localhost profile) every system call is open to a compromised process, and Unconfined says so explicitly. Set securityContext.seccompProfile.type: RuntimeDefault on the pod.";
    ApparmorUnconfined = "apparmor-unconfined", E, Security, enabled true:
        "A container runs with AppArmor unconfined",
        "An Unconfined AppArmor profile (securityContext.appArmorProfile or the container.apparmor.security.beta.kubernetes.io annotation) removes the runtime's default confinement. Use RuntimeDefault or a Localhost profile.";
    SelinuxOptionsUnsafe = "selinux-options-unsafe", E, Security, enabled true:
        "A pod sets a custom SELinux user, role or type",
        "A custom SELinux user or role, or a type other than the container types (container_t, container_init_t, container_kvm_t, container_engine_t), can lift the isolation SELinux gives containers; the Pod Security Standards' baseline forbids it. Remove seLinuxOptions, or keep only level.";
    ProcMountUnmasked = "proc-mount-unmasked", E, Security, enabled true:
        "A container mounts /proc unmasked",
        "procMount: Unmasked exposes the kernel's /proc paths the runtime normally hides. Remove it (the default is Default).";
    ImageLatest = "image-latest", W, Security, enabled true:
        "An image uses the latest tag or no tag",
        "A moving tag makes deploys unrepeatable and rollbacks impossible. Pin a version tag or a digest.";
    DefaultServiceAccount = "default-service-account", W, Security, enabled true:
        "A pod runs as the default ServiceAccount with its token mounted",
        "Every pod in the namespace shares the default ServiceAccount; its mounted token is a credential nobody needs. Set automountServiceAccountToken: false, or a dedicated ServiceAccount.";
    ServiceAccountTokenMounted = "service-account-token-mounted", I, Security, enabled true:
        "A pod mounts its ServiceAccount's API token without a sign that it uses the API",
        "Kubernetes mounts the pod's ServiceAccount token unless the pod spec or the ServiceAccount sets automountServiceAccountToken: false; anyone who gets code execution in the pod can then call the API server as that account. Most applications never do: set automountServiceAccountToken: false in the pod template (or on the ServiceAccount). Not reported when a RoleBinding or ClusterRoleBinding in the input names the account (the token is in use), nor in kube-system, whose components talk to the API server.";
    SecretLiteralEnv = "secret-literal-env", E, Security, enabled true:
        "A credential is written literally in an env var",
        "A literal credential is readable by anyone who can read the manifest or the pod spec. Move it into a Secret and use valueFrom.secretKeyRef.";
    ConfigmapCredentials = "configmap-credentials", E, Security, enabled true:
        "A ConfigMap holds what looks like a credential",
        "ConfigMaps are readable by anyone who may read configuration, are not encrypted at rest and show up in logs and diffs. Move passwords, tokens, keys and URLs with credentials into a Secret.";
    ImagePullPolicyMutable = "image-pull-policy-mutable", W, Security, enabled true:
        "A mutable image tag is pulled only if not present",
        "With latest (or no tag) and imagePullPolicy IfNotPresent or Never, each node runs whatever image it cached first: pods of one workload differ by node. Pin a version or digest, or use imagePullPolicy: Always.";
    RbacWildcard = "rbac-wildcard", W, Security, enabled true:
        "A Role grants a wildcard verb, resource or API group",
        "A * in verbs, resources or apiGroups grants every present and future permission of its kind, including ones added by CRDs later. List the verbs and resources the subject needs.";
    RbacPodExec = "rbac-pod-exec", W, Security, enabled true:
        "A Role grants exec into or attach to pods",
        "pods/exec and pods/attach give a shell in every pod the role reaches, with those pods' ServiceAccount tokens and Secrets. Grant them to people through short-lived access, not to standing roles.";
    RbacClusterAdminBinding = "rbac-cluster-admin-binding", E, Security, enabled true:
        "A binding grants cluster-admin",
        "cluster-admin can do anything to every object in the cluster. Bind a role that lists what the subject needs instead.";
    RbacWorkloadPowers = "rbac-workload-powers", W, Security, enabled true:
        "A workload's ServiceAccount is bound to a powerful role",
        "Every process in the pod can use its ServiceAccount token; a token that reads Secrets, execs into pods, holds wildcards or is cluster-admin turns one compromised container into a cluster compromise. Give the workload a role with only what it calls.";
    NetworkPolicyMissing = "network-policy-missing", W, Networking, enabled true:
        "No NetworkPolicy covers a workload's pods",
        "Pods no NetworkPolicy selects accept traffic from anywhere in the cluster. Add a default-deny policy and allow only the callers.";
    ServiceSelectsNothing = "service-selects-nothing", E, Networking, enabled true:
        "A Service's selector matches no pods",
        "A Service that selects nothing has no endpoints: every request to it fails. Make its selector match the workload's pod labels.";
    IngressBackendMissing = "ingress-backend-missing", E, Networking, enabled true:
        "An Ingress routes to a Service or port that does not exist",
        "Requests routed to a missing Service or port fail with 503. Point the backend at an existing Service and one of its ports.";
    IngressTlsMissing = "ingress-tls-missing", I, Networking, enabled true:
        "An Ingress serves without TLS",
        "An Ingress without spec.tls serves plain HTTP: credentials and cookies cross the network readable. Add a tls section with a certificate Secret (cert-manager can issue one).";
}

impl RuleId {
    /// The id a user typed, if it names a rule.
    pub(crate) fn parse(id: &str) -> Option<RuleId> {
        RULES.iter().map(|r| r.id).find(|r| r.as_str() == id)
    }

    /// The rule's row in the table.
    pub(crate) fn rule(self) -> &'static Rule {
        &RULES[self as usize]
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A fix as a partial object: a server-side apply intent (only the named fields change; lists of
/// containers merge by name). It also rewrites manifest files by the same merge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Fix {
    /// What it changes, in a few words.
    pub summary: String,
    /// True when it creates an object that does not exist yet (a PodDisruptionBudget).
    pub creates: bool,
    /// The apply patch, kept as a [`Tree`]: a large run has a fix for nearly every workload,
    /// and as `Value`s they were a third of its memory.
    pub patch: Tree,
}

/// A fix as a rule writes it (the patch built with `json!`), before the [`Sink`] keeps it.
pub(super) struct Draft {
    summary: String,
    creates: bool,
    patch: Value,
}

/// One recommendation about one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Recommendation {
    pub rule: RuleId,
    pub severity: Severity,
    pub category: Category,
    pub object: ObjectRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
}

/// Where in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Location {
    pub file: String,
    pub line: usize,
}

/// Collects recommendations for one rule family.
pub(super) struct Sink<'a> {
    out: &'a mut Vec<Recommendation>,
    /// The strings of the patches, shared: they repeat the same keys and labels.
    strings: Interner,
}

impl Sink<'_> {
    fn new(out: &mut Vec<Recommendation>) -> Sink<'_> {
        Sink {
            out,
            strings: Interner::default(),
        }
    }

    fn add(
        &mut self,
        id: RuleId,
        object: &Object,
        container: Option<&str>,
        message: String,
        fix: Option<Draft>,
    ) {
        let rule = id.rule();
        let fix = fix.map(|d| Fix {
            summary: d.summary,
            creates: d.creates,
            patch: Tree::from_value(&d.patch, &mut self.strings),
        });
        self.out.push(Recommendation {
            rule: rule.id,
            severity: rule.severity,
            category: rule.category,
            object: object.oref.clone(),
            container: container.map(str::to_string),
            message,
            location: object.file_line().map(|(file, line)| Location {
                file: file.to_string(),
                line,
            }),
            fix,
        });
    }
}

fn fix(summary: impl Into<String>, patch: Value) -> Option<Draft> {
    Some(Draft {
        summary: summary.into(),
        creates: false,
        patch,
    })
}

/// Every container of a pod template that runs to serve (init containers excluded).
fn containers<'a>(
    w: &'a Workload<'_>,
) -> impl Iterator<Item = &'a k8s_openapi::api::core::v1::Container> {
    w.spec.containers.iter()
}

/// The rules enabled by default over the inventory, at their table severity.
pub(crate) fn check(inv: &Inventory) -> Vec<Recommendation> {
    super::policy::Policy::default().apply(check_all(inv))
}

/// Runs every rule, enabled or not, over the inventory; output in rule-table order, then by
/// object. [`super::policy::Policy::apply`] decides what of it is reported, and how severely.
pub(crate) fn check_all(inv: &Inventory) -> Vec<Recommendation> {
    let workloads = inv.workloads();
    // The families are independent and read the inventory only: half of them run on a second
    // core. The sort below fixes the order whichever finishes first.
    let (mut out, security) = std::thread::scope(|s| {
        let workloads = &workloads;
        let security = s.spawn(move || {
            let mut out = Vec::new();
            let mut sink = Sink::new(&mut out);
            security::check(inv, workloads, &mut sink);
            hardening::check(workloads, &mut sink);
            rbac::check(inv, workloads, &mut sink);
            networking::check(inv, workloads, &mut sink);
            apis::check(inv, &mut sink);
            out
        });
        let mut out = Vec::new();
        let mut sink = Sink::new(&mut out);
        reliability::check(inv, workloads, &mut sink);
        resources::check(inv, workloads, &mut sink);
        scaling::check(inv, workloads, &mut sink);
        history::check(inv, workloads, &mut sink);
        let security = security
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (out, security)
    });
    out.reserve_exact(security.len());
    out.extend(security);
    sort_in_place(&mut out);
    out.dedup();
    out
}

/// Sorts by rule, object and container, equal ones kept in their order, without the scratch
/// copy of every recommendation a stable sort of them allocates: the order is found on their
/// positions, then each is moved once into place.
fn sort_in_place(recs: &mut [Recommendation]) {
    fn key(r: &Recommendation) -> (RuleId, &ObjectRef, &Option<String>) {
        (r.rule, &r.object, &r.container)
    }
    let mut order: Vec<usize> = (0..recs.len()).collect();
    order.sort_by(|&a, &b| key(&recs[a]).cmp(&key(&recs[b])));
    // Position j takes the recommendation at order[j]; follow each cycle of that permutation.
    for start in 0..recs.len() {
        let mut j = start;
        while order[j] != j {
            let from = order[j];
            order[j] = j;
            if from == start {
                break;
            }
            recs.swap(j, from);
            j = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_in_place_is_the_stable_sort() {
        let rec = |i: usize| {
            let rule = RULES[i * 7 % 5].id;
            Recommendation {
                rule,
                severity: Severity::Info,
                category: Category::Reliability,
                object: ObjectRef::new("Deployment", Some("ns"), &format!("d{}", i * 3 % 4)),
                container: None,
                // Equal keys differ here, so a change in their order shows.
                message: format!("#{i}"),
                location: None,
                fix: None,
            }
        };
        let mut recs: Vec<Recommendation> = (0..40).map(rec).collect();
        let mut want = recs.clone();
        want.sort_by(|a, b| (a.rule, &a.object).cmp(&(b.rule, &b.object)));
        sort_in_place(&mut recs);
        assert_eq!(recs, want);
    }

    #[test]
    fn rule_ids_are_unique_kebab_case_and_their_own_index() {
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.id as usize, i);
            assert_eq!(RuleId::parse(r.id.as_str()), Some(r.id));
        }
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id.as_str()).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
    }
}
