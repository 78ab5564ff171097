//! What the target cluster offers, read before anything is planned, and how the todo app adapts
//! to it. Every adaptation and every missing piece is said out loud, with the command that fixes
//! it; a value the user set is never overridden.

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use super::app::Values;
use crate::cluster::kinds;
use crate::cluster::live::Cluster;
use crate::error::Error;

/// The kind of cluster, as far as the app cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flavour {
    Minikube,
    Kind,
    DockerDesktop,
    /// A cloud provider's cluster (from the nodes' providerID), which provisions load balancers.
    Cloud(String),
    Other,
}

impl std::fmt::Display for Flavour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flavour::Minikube => f.write_str("minikube"),
            Flavour::Kind => f.write_str("kind"),
            Flavour::DockerDesktop => f.write_str("Docker Desktop"),
            Flavour::Cloud(p) => write!(f, "{p} cloud"),
            Flavour::Other => f.write_str("a generic cluster"),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Survey {
    pub storage_classes: Vec<String>,
    pub default_storage_class: Option<String>,
    pub ingress_classes: Vec<String>,
    /// An ingress controller pod is running somewhere.
    pub ingress_controller: bool,
    pub metrics_server: bool,
    /// The prometheus-operator's ServiceMonitor and PrometheusRule CRDs are served.
    pub monitoring: bool,
    /// Its Prometheus servers (read when those CRDs are served), or why they could not be read.
    pub prometheuses: Result<Vec<super::monitoring::Prometheus>, String>,
    pub load_balancer: bool,
    pub nodes: Nodes,
}

/// What the nodes say: the kind of cluster, its name there, and the images they already hold.
#[derive(Debug, Clone)]
pub(crate) struct Nodes {
    pub flavour: Flavour,
    /// The minikube profile or kind cluster, for `minikube -p` and `kind --name`.
    pub cluster_name: Option<String>,
    pub count: usize,
    /// Every name in the nodes' `status.images`, as the kubelet lists them.
    pub images: Vec<String>,
}

impl Nodes {
    pub(crate) fn read(nodes: &[Node]) -> Nodes {
        let flavour = flavour_of(nodes);
        let cluster_name = nodes.iter().find_map(|n| match flavour {
            Flavour::Minikube => n
                .metadata
                .labels
                .as_ref()?
                .get("minikube.k8s.io/name")
                .cloned(),
            // kind://docker/CLUSTER/NODE
            Flavour::Kind => n
                .spec
                .as_ref()?
                .provider_id
                .as_deref()?
                .split('/')
                .nth(3)
                .map(str::to_string),
            _ => None,
        });
        let images = nodes
            .iter()
            .filter_map(|n| n.status.as_ref()?.images.as_ref())
            .flatten()
            .flat_map(|i| i.names.iter().flatten().cloned())
            .collect();
        Nodes {
            flavour,
            cluster_name,
            count: nodes.len(),
            images,
        }
    }
}

/// Lists the nodes; an error says which request failed.
pub(crate) async fn list_nodes(cluster: &Cluster) -> Result<Vec<Node>, Error> {
    Api::<Node>::all(cluster.client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .map_err(|e| api_error("nodes", e))
}

fn api_error(what: &str, e: kube::Error) -> Error {
    Error::Api {
        resource: what.to_string(),
        code: crate::error::kube_code(&e),
        message: crate::error::kube_detail(&e),
    }
}

/// Reads what the app needs to know; lists it may not read count as absent.
pub(crate) async fn survey(cluster: &Cluster) -> Result<Survey, Error> {
    let client = cluster.client.clone();
    let lp = ListParams::default();
    let nodes = Nodes::read(&list_nodes(cluster).await?);
    let flavour = nodes.flavour.clone();
    let classes = Api::<StorageClass>::all(client.clone())
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let default_storage_class = classes
        .iter()
        .find(|c| {
            c.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("storageclass.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true")
        })
        .and_then(|c| c.metadata.name.clone());
    let ingress_classes = Api::<IngressClass>::all(client.clone())
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    let controllers = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().labels("app.kubernetes.io/component=controller"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let ingress_controller = controllers.iter().any(|p| {
        p.metadata
            .name
            .as_deref()
            .is_some_and(|n| n.contains("ingress"))
            && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    });
    let metrics_server = client
        .list_api_group_resources("metrics.k8s.io/v1beta1")
        .await
        .is_ok();
    let monitoring = client
        .list_api_group_resources("monitoring.coreos.com/v1")
        .await
        .is_ok_and(|l| {
            [&kinds::SERVICE_MONITORS, &kinds::PROMETHEUS_RULES]
                .iter()
                .all(|k| l.resources.iter().any(|r| r.name == k.plural))
        });
    let prometheuses = match monitoring {
        true => super::monitoring::prometheuses(cluster).await,
        false => Ok(Vec::new()),
    };
    let load_balancer = matches!(flavour, Flavour::Cloud(_) | Flavour::DockerDesktop)
        || Api::<Service>::all(client)
            .list(&lp)
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .iter()
            .any(|s| {
                s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer")
                    && s.status
                        .as_ref()
                        .and_then(|st| st.load_balancer.as_ref())
                        .and_then(|lb| lb.ingress.as_ref())
                        .is_some_and(|i| !i.is_empty())
            });
    Ok(Survey {
        storage_classes: classes
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect(),
        default_storage_class,
        ingress_classes,
        ingress_controller,
        metrics_server,
        monitoring,
        prometheuses,
        load_balancer,
        nodes,
    })
}

fn flavour_of(nodes: &[Node]) -> Flavour {
    for n in nodes {
        let labels = n.metadata.labels.clone().unwrap_or_default();
        let name = n.metadata.name.as_deref().unwrap_or_default();
        let provider = n
            .spec
            .as_ref()
            .and_then(|s| s.provider_id.as_deref())
            .unwrap_or_default();
        if labels.keys().any(|k| k.starts_with("minikube.k8s.io/")) {
            return Flavour::Minikube;
        }
        if provider.starts_with("kind://") {
            return Flavour::Kind;
        }
        if name == "docker-desktop" {
            return Flavour::DockerDesktop;
        }
        if let Some((scheme, _)) = provider.split_once("://")
            && !scheme.is_empty()
        {
            return Flavour::Cloud(scheme.to_string());
        }
    }
    Flavour::Other
}

/// A sentence for the user: something adapted, something left out, or something missing with
/// its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    Adapted(String),
    Info(String),
    Missing { what: String, fix: String },
}

/// The values the cluster calls for, on top of the user's, and what to tell the user.
pub(crate) fn adapt(s: &Survey, user: &Values, namespace: &str) -> (Values, Vec<Note>) {
    let mut v = user.clone();
    let mut notes = Vec::new();
    let set = |v: &mut Values, key: &str, value: serde_json::Value| {
        v.set(key, value).expect("adaptations use documented keys");
    };
    let addon = |name: &str, generic: &str| match s.nodes.flavour {
        Flavour::Minikube => format!("minikube addons enable {name}"),
        _ => generic.to_string(),
    };

    let ingress_wanted = user.get("ingress.enabled").and_then(|x| x.as_bool()) != Some(false);
    let mut ingress = ingress_wanted;
    if ingress_wanted && !user.has("ingress.className") {
        let wanted = "nginx";
        if !s.ingress_classes.iter().any(|c| c == wanted) {
            if let Some(other) = s.ingress_classes.first() {
                set(&mut v, "ingress.className", json!(other));
                notes.push(Note::Adapted(format!(
                    "Ingress: no IngressClass {wanted}; using {other}, the one this cluster has"
                )));
            } else {
                set(&mut v, "ingress.enabled", json!(false));
                ingress = false;
                notes.push(Note::Missing {
                    what: "no IngressClass and no ingress controller: the Ingress is left out"
                        .into(),
                    fix: addon(
                        "ingress",
                        "install an ingress controller (e.g. ingress-nginx), then deploy again",
                    ),
                });
            }
        }
    }
    if ingress && !s.ingress_controller && !s.ingress_classes.is_empty() {
        notes.push(Note::Missing {
            what: "no ingress controller is running: the Ingress will not answer yet".into(),
            fix: addon(
                "ingress",
                "start the ingress controller for the IngressClass",
            ),
        });
    }

    if !user.has("frontend.service.type") {
        match (&s.nodes.flavour, s.load_balancer) {
            (Flavour::Minikube, _) => {
                set(&mut v, "frontend.service.type", json!("NodePort"));
                if !user.has("frontend.service.nodePort") {
                    set(&mut v, "frontend.service.nodePort", json!(30080));
                }
                notes.push(Note::Adapted(format!(
                    "minikube: the frontend is a NodePort service on 30080 (open it with `minikube service todo-frontend -n {namespace}`)"
                )));
            }
            (_, true) => {
                set(&mut v, "frontend.service.type", json!("LoadBalancer"));
                notes.push(Note::Adapted(format!(
                    "{}: the cluster provisions load balancers, so the frontend is a LoadBalancer service",
                    s.nodes.flavour
                )));
            }
            (_, false) if !ingress => {
                set(&mut v, "frontend.service.type", json!("NodePort"));
                notes.push(Note::Adapted(
                    "no load balancer and no Ingress: the frontend is a NodePort service".into(),
                ));
            }
            _ => {}
        }
    }

    if !user.has("postgres.storageClassName") && s.default_storage_class.is_none() {
        match s.storage_classes.first() {
            Some(class) => {
                set(&mut v, "postgres.storageClassName", json!(class));
                notes.push(Note::Adapted(format!(
                    "storage: no default StorageClass; the database volume uses {class}"
                )));
            }
            None => notes.push(Note::Missing {
                what: "no StorageClass: the database volume cannot be provisioned and PostgreSQL will not start".into(),
                fix: addon(
                    "default-storageclass storage-provisioner",
                    "install a storage provisioner, or --set postgres.storageClassName=NAME",
                ),
            }),
        }
    }

    monitoring(s, user, &mut v, &mut notes, namespace);
    if !s.metrics_server {
        notes.push(Note::Missing {
            what: "metrics-server is not installed: the HPAs are created but cannot scale".into(),
            fix: addon(
                "metrics-server",
                "install metrics-server (kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/latest/download/components.yaml)",
            ),
        });
    }
    (v, notes)
}

/// Monitoring where the prometheus-operator's CRDs are served, unless the user decided.
fn monitoring(s: &Survey, user: &Values, v: &mut Values, notes: &mut Vec<Note>, namespace: &str) {
    let wanted = user.get("monitoring.enabled").and_then(|x| x.as_bool());
    match (wanted, s.monitoring) {
        (None, true) => {
            v.set("monitoring.enabled", json!(true))
                .expect("a documented key");
            notes.push(Note::Adapted(
                "monitoring: the cluster serves the prometheus-operator's CRDs, so the app gets ServiceMonitors, a PostgreSQL exporter, alerts and a Grafana dashboard (--set monitoring.enabled=false leaves them out)".into(),
            ));
        }
        (None, false) => notes.push(Note::Info(
            "monitoring left off: this cluster has no prometheus-operator CRDs (servicemonitors, prometheusrules.monitoring.coreos.com)".into(),
        )),
        (Some(true), false) => notes.push(Note::Missing {
            what: "monitoring.enabled is set, but this cluster does not serve the prometheus-operator's CRDs: the ServiceMonitors and alerts cannot be applied".into(),
            fix: "install the prometheus-operator (e.g. the kube-prometheus-stack chart), or --set monitoring.enabled=false".into(),
        }),
        (Some(_), _) => {}
    }
    if s.monitoring && wanted != Some(false) {
        let adapted = super::monitoring::adapt(&s.prometheuses, user, v, namespace);
        notes.extend(adapted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(flavour: Flavour) -> Survey {
        Survey {
            storage_classes: vec!["standard".into()],
            default_storage_class: Some("standard".into()),
            ingress_classes: vec!["nginx".into()],
            ingress_controller: true,
            metrics_server: true,
            monitoring: false,
            prometheuses: Ok(Vec::new()),
            load_balancer: false,
            nodes: Nodes {
                flavour,
                cluster_name: None,
                count: 1,
                images: Vec::new(),
            },
        }
    }

    #[test]
    fn minikube_gets_a_node_port_and_the_user_still_wins() {
        let (v, notes) = adapt(&survey(Flavour::Minikube), &Values::default(), "todo-app");
        assert_eq!(v.get("frontend.service.type"), Some(&json!("NodePort")));
        assert_eq!(v.get("frontend.service.nodePort"), Some(&json!(30080)));
        let adapted = notes.iter().filter(|n| matches!(n, Note::Adapted(_)));
        assert_eq!(adapted.count(), 1, "{notes:?}");
        let mut user = Values::default();
        user.set_arg("frontend.service.type=ClusterIP").unwrap();
        let (v, _) = adapt(&survey(Flavour::Minikube), &user, "todo-app");
        assert_eq!(v.get("frontend.service.type"), Some(&json!("ClusterIP")));
    }

    #[test]
    fn monitoring_follows_the_crds_unless_the_user_decided() {
        let mut s = survey(Flavour::Kind);
        let (v, notes) = adapt(&s, &Values::default(), "todo-app");
        assert_eq!(v.get("monitoring.enabled"), None);
        assert!(
            notes
                .iter()
                .any(|n| matches!(n, Note::Info(t) if t.starts_with("monitoring left off")))
        );
        s.monitoring = true;
        let (v, notes) = adapt(&s, &Values::default(), "todo-app");
        assert_eq!(v.get("monitoring.enabled"), Some(&json!(true)));
        assert!(
            notes
                .iter()
                .any(|n| matches!(n, Note::Adapted(t) if t.starts_with("monitoring:")))
        );
        let mut user = Values::default();
        user.set_arg("monitoring.enabled=false").unwrap();
        let (v, notes) = adapt(&s, &user, "todo-app");
        assert_eq!(v.get("monitoring.enabled"), Some(&json!(false)));
        assert!(
            !notes
                .iter()
                .any(|n| format!("{n:?}").contains("monitoring"))
        );
    }

    #[test]
    fn missing_pieces_come_with_their_fix() {
        let mut s = survey(Flavour::Minikube);
        s.ingress_classes.clear();
        s.ingress_controller = false;
        s.metrics_server = false;
        let (v, notes) = adapt(&s, &Values::default(), "todo-app");
        assert_eq!(v.get("ingress.enabled"), Some(&json!(false)));
        let fixes: Vec<&str> = notes
            .iter()
            .filter_map(|n| match n {
                Note::Missing { fix, .. } => Some(fix.as_str()),
                _ => None,
            })
            .collect();
        assert!(fixes.contains(&"minikube addons enable ingress"));
        assert!(fixes.contains(&"minikube addons enable metrics-server"));
    }
}
