//! Finding Prometheus in the cluster: the Services the common installs create, reached through the
//! API server's service proxy with the kubeconfig's own credentials (no port-forward, no Ingress).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ListParams};

use crate::cluster::kinds;
use crate::context::{Context, Scope};
use crate::selector;

/// A Service that serves the Prometheus API, and the port to reach it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) port: i32,
}

impl Found {
    /// The service proxy path the Prometheus API hangs off.
    pub(crate) fn proxy_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/services/http:{}:{}/proxy",
            self.namespace, self.name, self.port
        )
    }
}

/// The labels the known installs put on their Services: asking by label keeps the answer small
/// on a cluster of thousands of Services.
const SELECTORS: [&[(&str, &str)]; 4] = [
    &[("app.kubernetes.io/part-of", "kube-prometheus-stack")],
    &[("operated-prometheus", "true")],
    &[
        ("app.kubernetes.io/name", "prometheus"),
        ("app.kubernetes.io/component", "server"),
    ],
    &[("app", "prometheus"), ("component", "server")],
];

/// One selector as the API server reads it in `labelSelector=`.
fn query(selector: &[(&str, &str)]) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// One selector as a map, for [`selector::pairs_hold`].
fn pairs(selector: &[(&str, &str)]) -> BTreeMap<String, String> {
    selector
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The best candidate among the cluster's Services, if any: among `known`'s when it holds the
/// Services of every namespace (as `diagnose -A` has read them), else asked of the API server.
pub(crate) async fn find(
    client: &kube::Client,
    known: Option<&Context>,
) -> Result<Option<Found>, kube::Error> {
    if let Some(found) = known.and_then(among_collected) {
        return Ok(found);
    }
    let api = Api::<Service>::all(client.clone());
    let lists = futures::future::try_join_all(SELECTORS.map(|s| {
        let api = api.clone();
        async move { api.list(&ListParams::default().labels(&query(s))).await }
    }))
    .await?;
    let services: Vec<Service> = lists.into_iter().flat_map(|l| l.items).collect();
    Ok(best(&services))
}

/// The answer from a context's Services, when it holds every namespace's (else `None`): the
/// Services the installs' selectors would return, ranked as [`find`] ranks the listed ones.
fn among_collected(ctx: &Context) -> Option<Option<Found>> {
    if ctx.scope != Scope::AllNamespaces || !ctx.has(&kinds::SERVICES) {
        return None;
    }
    let selected: Vec<Service> = ctx
        .services
        .iter()
        .filter(|s| {
            // Every selector names labels, so a Service without any is selected by none.
            s.metadata.labels.as_ref().is_some_and(|labels| {
                SELECTORS
                    .iter()
                    .any(|sel| selector::pairs_hold(&pairs(sel), labels))
            })
        })
        .cloned()
        .collect();
    Some(best(&selected))
}

/// kube-prometheus-stack's own Service first (it is what its Grafana queries), then the
/// operator's governing `prometheus-operated`, then the prometheus chart's server.
pub(crate) fn best(services: &[Service]) -> Option<Found> {
    services
        .iter()
        .filter_map(|s| Some((rank(s)?, s)))
        .min_by_key(|(r, s)| (*r, s.metadata.namespace.clone(), s.metadata.name.clone()))
        .and_then(|(r, s)| {
            let (name, port) = PORTS[r];
            Some(Found {
                namespace: s.metadata.namespace.clone()?,
                name: s.metadata.name.clone()?,
                port: port_of(s, name, port)?,
            })
        })
}

/// The (port name, port number) each kind of install serves the API on.
const PORTS: [(&str, i32); 3] = [("http-web", 9090), ("web", 9090), ("http", 80)];

fn rank(s: &Service) -> Option<usize> {
    let labels = s.metadata.labels.clone().unwrap_or_default();
    let label = |k: &str| labels.get(k).map(String::as_str);
    let name = s.metadata.name.as_deref()?;
    if label("app.kubernetes.io/part-of") == Some("kube-prometheus-stack")
        && label("app").is_some_and(|a| a.ends_with("-prometheus"))
    {
        return Some(0);
    }
    if name == "prometheus-operated" {
        return Some(1);
    }
    let chart_server = (label("app.kubernetes.io/name") == Some("prometheus")
        && label("app.kubernetes.io/component") == Some("server"))
        || (label("app") == Some("prometheus") && label("component") == Some("server"));
    (chart_server || name == "prometheus-server" || name.ends_with("-prometheus-server"))
        .then_some(2)
}

/// The port by its usual name, else by its usual number, else the Service's only port.
fn port_of(s: &Service, name: &str, number: i32) -> Option<i32> {
    let ports = s.spec.as_ref()?.ports.as_ref()?;
    ports
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .or_else(|| ports.iter().find(|p| p.port == number))
        .or_else(|| (ports.len() == 1).then(|| &ports[0]))
        .map(|p| p.port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_context_of_every_namespace_answers_as_the_labelled_lists_would() {
        use k8s_openapi::jiff::Timestamp;
        let operated = service(
            json!({"metadata": {"name": "prometheus-operated", "namespace": "monitoring",
            "labels": {"operated-prometheus": "true"}}, "spec": {"ports": [{"name": "web", "port": 9090}]}}),
        );
        // Named like the chart's server but without its labels: the labelled lists miss it.
        let unlabelled = service(
            json!({"metadata": {"name": "prometheus-server", "namespace": "a"},
            "spec": {"ports": [{"name": "http", "port": 80}]}}),
        );
        let mut ctx = Context::empty("test", Scope::AllNamespaces, Timestamp::UNIX_EPOCH);
        ctx.services = vec![unlabelled.clone(), operated];
        let found = among_collected(&ctx).expect("answered from the context");
        assert_eq!(
            found.map(|f| f.name).as_deref(),
            Some("prometheus-operated")
        );
        ctx.services = vec![unlabelled];
        assert_eq!(among_collected(&ctx), Some(None));
        // One namespace's Services, or none readable, say nothing about the others.
        ctx.unavailable.insert(
            kinds::SERVICES.resource(),
            crate::context::Unavailable::Forbidden("no".into()),
        );
        assert_eq!(among_collected(&ctx), None);
        let ctx = Context::empty(
            "test",
            Scope::Namespace("shop".into()),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(among_collected(&ctx), None);
    }

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_stack_beats_the_operator_beats_the_chart() {
        // As kube-prometheus-stack 47 and the prometheus chart render them.
        let stack = service(
            json!({"metadata": {"name": "kube-prometheus-stack-prometheus", "namespace": "monitoring",
            "labels": {"app": "kube-prometheus-stack-prometheus", "self-monitor": "true", "app.kubernetes.io/part-of": "kube-prometheus-stack"}},
            "spec": {"ports": [{"name": "http-web", "port": 9090, "targetPort": 9090}, {"name": "reloader-web", "port": 8080, "targetPort": "reloader-web"}]}}),
        );
        let alertmanager = service(
            json!({"metadata": {"name": "kube-prometheus-stack-alertmanager", "namespace": "monitoring",
            "labels": {"app": "kube-prometheus-stack-alertmanager", "app.kubernetes.io/part-of": "kube-prometheus-stack"}},
            "spec": {"ports": [{"name": "http-web", "port": 9093}]}}),
        );
        let operated = service(
            json!({"metadata": {"name": "prometheus-operated", "namespace": "monitoring",
            "labels": {"operated-prometheus": "true"}},
            "spec": {"clusterIP": "None", "ports": [{"name": "web", "port": 9090, "targetPort": "web"}]}}),
        );
        let chart = service(
            json!({"metadata": {"name": "prometheus-server", "namespace": "prometheus",
            "labels": {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server"}},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 9090}]}}),
        );
        let all = [chart.clone(), operated.clone(), alertmanager.clone(), stack];
        let found = best(&all).unwrap();
        assert_eq!(
            (found.name.as_str(), found.port),
            ("kube-prometheus-stack-prometheus", 9090)
        );
        assert_eq!(
            found.proxy_path(),
            "/api/v1/namespaces/monitoring/services/http:kube-prometheus-stack-prometheus:9090/proxy"
        );
        let found = best(&[chart.clone(), operated, alertmanager.clone()]).unwrap();
        assert_eq!(found.name, "prometheus-operated");
        assert_eq!(best(&[chart, alertmanager.clone()]).unwrap().port, 80);
        assert_eq!(best(&[alertmanager]), None);
    }
}
