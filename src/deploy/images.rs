//! The pre-flight image check: before the dry run and before any write, every image the plan's
//! pods would run is either on a node already or served by its registry. A missing one stops the
//! deploy with the fix for this cluster; one that cannot be verified (a registry that wants
//! credentials, or that does not answer in time) is a note and the deploy goes on.

use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use serde_json::Value;

use super::registry::{self, Answer};
use super::survey::Flavour;
use crate::cluster::live::Cluster;

/// An image reference normalised as the container runtimes do: `nginx` is
/// `docker.io/library/nginx:latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// `docker.io`, `ghcr.io`, `localhost:5000`.
    pub domain: String,
    /// The repository path inside the registry: `library/nginx`, `example/todo-backend`.
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses a reference as written in a pod spec or listed by the kubelet.
    pub(crate) fn parse(text: &str) -> Option<ImageRef> {
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) if d.contains(':') => (n, Some(d.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let (domain, rest) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest)
            }
            _ => ("docker.io".to_string(), name),
        };
        let domain = if domain == "index.docker.io" {
            "docker.io".to_string()
        } else {
            domain
        };
        let last = rest.rsplit('/').next().unwrap_or_default();
        let (path, tag) = match last.rsplit_once(':') {
            Some((_, tag)) => (&rest[..rest.len() - tag.len() - 1], Some(tag.to_string())),
            None => (rest, None),
        };
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c);
        if path.is_empty() || !path.chars().all(valid) || tag.as_deref() == Some("") {
            return None;
        }
        let path = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = tag.or_else(|| digest.is_none().then(|| "latest".to_string()));
        Some(ImageRef {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The tag or digest to ask for; the digest wins, as the kubelet pulls by it.
    pub(crate) fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Where the registry's API answers: Docker Hub's is not at `docker.io`.
    pub(crate) fn api_host(&self) -> &str {
        match self.domain.as_str() {
            "docker.io" => "registry-1.docker.io",
            d => d,
        }
    }

    /// Is `listed` (a name from a node's image list) this image?
    fn is(&self, listed: &ImageRef) -> bool {
        self.domain == listed.domain
            && self.path == listed.path
            && match &self.digest {
                Some(d) => listed.digest.as_ref() == Some(d),
                None => listed.digest.is_none() && listed.tag == self.tag,
            }
    }
}

/// One image as the plan uses it, with everything that decides whether the kubelet can get it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Use {
    /// As written in the manifests.
    pub image: String,
    /// `deployment/todo-backend`, each workload that runs it.
    pub workloads: Vec<String>,
    /// The kubelet pulls even when a node has it (`Always`, or `:latest` without a policy).
    pub always_pull: bool,
    /// `imagePullPolicy: Never`: only a node's copy counts.
    pub never_pull: bool,
    /// Pull secrets in the pod spec or the plan's ServiceAccount (never read, only counted).
    pub pull_secrets: bool,
    /// Namespace and ServiceAccount of the first workload, to look for pull secrets in the cluster.
    pub account: (String, String),
}

fn pod_spec(o: &Value) -> Option<&Value> {
    match o["kind"].as_str()? {
        "Pod" => o.get("spec"),
        "CronJob" => o.pointer("/spec/jobTemplate/spec/template/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "Job"
        | "ReplicationController" => o.pointer("/spec/template/spec"),
        _ => None,
    }
}

fn has_pull_secrets(v: &Value) -> bool {
    v["imagePullSecrets"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// Every image the objects' pods would run, once each, in the order they appear.
pub(crate) fn uses(objects: &[Value]) -> Vec<Use> {
    let mut found: Vec<Use> = Vec::new();
    for o in objects {
        let Some(spec) = pod_spec(o) else { continue };
        let namespace = o["metadata"]["namespace"].as_str().unwrap_or("default");
        let account = spec["serviceAccountName"].as_str().unwrap_or("default");
        let account_secrets = objects.iter().any(|a| {
            a["kind"] == "ServiceAccount"
                && a["metadata"]["name"] == account
                && a["metadata"]["namespace"].as_str().unwrap_or("default") == namespace
                && has_pull_secrets(a)
        });
        let workload = format!(
            "{}/{}",
            o["kind"].as_str().unwrap_or_default().to_lowercase(),
            o["metadata"]["name"].as_str().unwrap_or_default()
        );
        let containers = ["initContainers", "containers"]
            .iter()
            .filter_map(|k| spec[k].as_array())
            .flatten();
        for c in containers {
            let Some(image) = c["image"].as_str() else {
                continue;
            };
            let policy = c["imagePullPolicy"].as_str();
            let latest = ImageRef::parse(image)
                .is_some_and(|r| r.digest.is_none() && r.tag.as_deref() == Some("latest"));
            let this = Use {
                image: image.to_string(),
                workloads: vec![workload.clone()],
                always_pull: policy == Some("Always") || (policy.is_none() && latest),
                never_pull: policy == Some("Never"),
                pull_secrets: has_pull_secrets(spec) || account_secrets,
                account: (namespace.to_string(), account.to_string()),
            };
            match found.iter_mut().find(|u| u.image == image) {
                Some(u) => {
                    if !u.workloads.contains(&workload) {
                        u.workloads.push(workload.clone());
                    }
                    u.always_pull |= this.always_pull;
                    u.never_pull &= this.never_pull;
                    u.pull_secrets &= this.pull_secrets;
                }
                None => found.push(this),
            }
        }
    }
    found
}

/// An image the cluster cannot get, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Missing {
    pub image: String,
    pub workloads: Vec<String>,
    pub why: String,
}

/// The check's outcome: what stops the deploy, and what could not be verified.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    pub missing: Vec<Missing>,
    pub notes: Vec<String>,
}

/// How long the registries get, all of them together: `--request-timeout`, at most 10s.
pub(crate) fn time_limit(request_timeout: Duration) -> Duration {
    let cap = Duration::from_secs(10);
    if request_timeout.is_zero() {
        cap
    } else {
        request_timeout.min(cap)
    }
}

/// Checks every use against the nodes' image lists, then asks the registries of the rest at once.
pub(crate) async fn check(
    cluster: &Cluster,
    flavour: &Flavour,
    on_nodes: &[String],
    wanted: &[Use],
    limit: Duration,
) -> Checked {
    let listed: Vec<ImageRef> = on_nodes.iter().filter_map(|n| ImageRef::parse(n)).collect();
    let mut checked = Checked::default();
    let mut ask = Vec::new();
    for u in wanted {
        let missing = |why: String| Missing {
            image: u.image.clone(),
            workloads: u.workloads.clone(),
            why,
        };
        let Some(r) = ImageRef::parse(&u.image) else {
            checked
                .missing
                .push(missing("not a valid image reference".into()));
            continue;
        };
        let on_node = listed.iter().any(|l| r.is(l));
        match (on_node, u.never_pull, u.always_pull) {
            (true, _, false) | (true, true, _) => {}
            (false, true, _) => checked.missing.push(missing(
                "imagePullPolicy is Never and no node has it".into(),
            )),
            _ => ask.push((u, r, on_node)),
        }
    }
    if ask.is_empty() {
        return checked;
    }
    let client = match registry::client(limit) {
        Ok(c) => c,
        Err(e) => {
            checked
                .notes
                .push(format!("the image registries were not checked: {e}"));
            return checked;
        }
    };
    let answers = futures::future::join_all(ask.iter().map(|(_, r, _)| async {
        tokio::time::timeout(limit, registry::probe(&client, r))
            .await
            .unwrap_or_else(|_| {
                Answer::Unreachable(format!("no answer within {}s", limit.as_secs()))
            })
    }))
    .await;
    for ((u, r, on_node), answer) in ask.iter().zip(answers) {
        judge(cluster, flavour, u, r, *on_node, answer, &mut checked).await;
    }
    checked
}

/// One registry answer, turned into a missing image or a note.
async fn judge(
    cluster: &Cluster,
    flavour: &Flavour,
    u: &Use,
    r: &ImageRef,
    on_node: bool,
    answer: Answer,
    checked: &mut Checked,
) {
    let registry = &r.domain;
    let where_ = if on_node {
        "imagePullPolicy makes the kubelet pull it although a node has it"
    } else {
        "not on any node"
    };
    let why = match answer {
        Answer::Found => return,
        Answer::NotFound => format!("{where_}, and {registry} has no such image (404)"),
        // On minikube and kind the kubelet has no credentials but the pod's pull secrets, so an
        // anonymous refusal with none of them is what the kubelet will meet too.
        Answer::NeedsCredentials
            if matches!(flavour, Flavour::Minikube | Flavour::Kind)
                && !u.pull_secrets
                && !live_pull_secrets(cluster, &u.account).await =>
        {
            format!(
                "{where_}, and {registry} refuses it to anonymous pulls (it does not exist, or it is private and the pods have no imagePullSecrets)"
            )
        }
        Answer::NeedsCredentials => {
            checked.notes.push(format!(
                "cannot verify image {}: {registry} needs credentials to answer (pull secrets are not read)",
                u.image
            ));
            return;
        }
        Answer::Unreachable(detail) => {
            checked.notes.push(format!(
                "cannot verify image {}: {registry} did not answer ({detail}); deploying anyway",
                u.image
            ));
            return;
        }
    };
    checked.missing.push(Missing {
        image: u.image.clone(),
        workloads: u.workloads.clone(),
        why,
    });
}

/// Whether the workload's ServiceAccount in the cluster names pull secrets (their contents are
/// never read).
async fn live_pull_secrets(cluster: &Cluster, (namespace, name): &(String, String)) -> bool {
    Api::<ServiceAccount>::namespaced(cluster.client.clone(), namespace)
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|sa| sa.image_pull_secrets)
        .is_some_and(|s| !s.is_empty())
}

/// How to get one image into this cluster.
pub(crate) fn fix(flavour: &Flavour, cluster_name: Option<&str>, image: &str) -> String {
    if ImageRef::parse(image).is_none() {
        return "write it as [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], the repository in lower case".into();
    }
    match flavour {
        Flavour::Minikube => {
            let p = profile_flag("-p", cluster_name, "minikube");
            format!(
                "minikube{p} image build -t {image} DIR (DIR holds its Dockerfile), or `minikube{p} image load {image}` if you built it with docker"
            )
        }
        Flavour::Kind => {
            let n = profile_flag("--name", cluster_name, "kind");
            format!("docker build -t {image} DIR, then `kind load docker-image {image}{n}`")
        }
        Flavour::DockerDesktop => format!(
            "docker build -t {image} DIR (Docker Desktop's Kubernetes runs the images docker builds)"
        ),
        _ => format!("push {image} to a registry the cluster can pull from"),
    }
}

/// ` -p NAME` unless NAME is the tool's default.
pub(crate) fn profile_flag(flag: &str, name: Option<&str>, default: &str) -> String {
    match name {
        Some(n) if n != default => format!(" {flag} {n}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap()
    }

    #[test]
    fn references_normalise_as_the_runtimes_do() {
        let n = r("nginx");
        assert_eq!(
            (n.domain.as_str(), n.path.as_str(), n.reference()),
            ("docker.io", "library/nginx", "latest")
        );
        assert_eq!(
            r("postgres:16-alpine"),
            r("docker.io/library/postgres:16-alpine")
        );
        assert_eq!(r("index.docker.io/bitnami/redis:7"), r("bitnami/redis:7"));
        let local = r("localhost:5000/team/app:1.0");
        assert_eq!(
            (local.domain.as_str(), local.path.as_str()),
            ("localhost:5000", "team/app")
        );
        let pinned = r("ghcr.io/example/todo-backend:1.4.2@sha256:abc");
        assert_eq!(pinned.reference(), "sha256:abc");
        assert_eq!(pinned.tag.as_deref(), Some("1.4.2"));
        assert!(ImageRef::parse("Nginx:1").is_none());
        assert!(ImageRef::parse("nginx:").is_none());
        assert!(ImageRef::parse("nginx@latest").is_none());
    }

    #[test]
    fn a_node_listing_matches_by_tag_or_digest_across_spellings() {
        assert!(r("postgres:16-alpine").is(&r("docker.io/library/postgres:16-alpine")));
        assert!(!r("postgres:16-alpine").is(&r("postgres:16")));
        assert!(r("nginx@sha256:aa").is(&r("docker.io/library/nginx@sha256:aa")));
        assert!(!r("nginx@sha256:aa").is(&r("nginx:latest")));
        assert!(!r("ghcr.io/example/x:1").is(&r("example/x:1")));
    }

    #[test]
    fn uses_come_from_every_pod_template_with_their_pull_rules() {
        let objects = vec![
            json!({"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"template": {"spec": {"serviceAccountName": "web",
                       "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                       "containers": [{"name": "web", "image": "nginx"}]}}}}),
            json!({"kind": "CronJob", "metadata": {"name": "backup", "namespace": "shop"},
                   "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                       "containers": [{"name": "b", "image": "busybox:1.36", "imagePullPolicy": "Never"}]}}}}}}),
            json!({"kind": "ServiceAccount", "metadata": {"name": "web", "namespace": "shop"},
                   "imagePullSecrets": [{"name": "regcred"}]}),
            json!({"kind": "Service", "metadata": {"name": "web"}, "spec": {}}),
        ];
        let u = uses(&objects);
        let images: Vec<&str> = u.iter().map(|u| u.image.as_str()).collect();
        assert_eq!(images, ["busybox:1.36", "nginx"]);
        assert_eq!(u[0].workloads, ["deployment/web", "cronjob/backup"]);
        assert!(!u[0].never_pull, "one workload may pull it");
        assert!(!u[0].pull_secrets, "the CronJob's pods have none");
        assert!(
            u[1].always_pull,
            ":latest without a policy is pulled every time"
        );
        assert!(u[1].pull_secrets, "from the plan's ServiceAccount");
    }

    #[test]
    fn registries_get_the_request_timeout_at_most_ten_seconds_never_forever() {
        let s = Duration::from_secs;
        assert_eq!(time_limit(s(2)), s(2));
        assert_eq!(time_limit(s(30)), s(10));
        assert_eq!(
            time_limit(Duration::ZERO),
            s(10),
            "0 waits forever for the API only"
        );
    }

    #[test]
    fn fixes_name_this_clusters_tool_and_profile() {
        let img = "ghcr.io/example/todo-backend:1.4.2";
        assert!(
            fix(&Flavour::Minikube, Some("minikube"), img)
                .starts_with("minikube image build -t ghcr.io/example/todo-backend:1.4.2 DIR")
        );
        assert!(fix(&Flavour::Minikube, Some("dev"), img).contains("minikube -p dev image load"));
        assert!(
            fix(&Flavour::Kind, Some("kind"), img)
                .ends_with("kind load docker-image ghcr.io/example/todo-backend:1.4.2`")
        );
        assert!(fix(&Flavour::Other, None, img).contains("registry the cluster can pull from"));
        assert!(fix(&Flavour::Minikube, None, "Todo:1").starts_with("write it as"));
    }
}
