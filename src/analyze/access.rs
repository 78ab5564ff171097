//! A log line where the API server refuses a pod's ServiceAccount:
//! `pods is forbidden: User "system:serviceaccount:app:worker" cannot list resource "pods" in API
//! group "" in the namespace "app"`. The operator needs the account, the verb and the resource.

/// What the API server refused, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub namespace: String,
    pub account: String,
    pub verb: String,
    pub resource: String,
    pub group: String,
    /// The namespace the request was for; `None` at cluster scope.
    pub scope: Option<String>,
}

impl Refusal {
    pub fn evidence(&self) -> String {
        let group = if self.group.is_empty() {
            "core".to_string()
        } else {
            self.group.clone()
        };
        let scope = match &self.scope {
            Some(ns) => format!("in namespace {ns}"),
            None => "at cluster scope".to_string(),
        };
        format!(
            "the API server refuses ServiceAccount {}/{}: it may not {} {} (API group {group}) {scope}",
            self.namespace, self.account, self.verb, self.resource
        )
    }

    pub fn fix(&self) -> String {
        let sa = format!("{}:{}", self.namespace, self.account);
        match &self.scope {
            Some(ns) => format!(
                "Grant ServiceAccount {sa} {} on {} in {ns}: `kubectl create role {}-{} --verb={} --resource={} -n {ns}` and `kubectl create rolebinding {}-{} --role={}-{} --serviceaccount={sa} -n {ns}` (check what it has with `kubectl auth can-i --list --as=system:serviceaccount:{sa} -n {ns}`).",
                self.verb,
                self.resource,
                self.account,
                self.resource,
                self.verb,
                self.resource,
                self.account,
                self.resource,
                self.account,
                self.resource
            ),
            None => format!(
                "Grant ServiceAccount {sa} {} on {} cluster-wide with a ClusterRole and ClusterRoleBinding (`kubectl create clusterrole ... --verb={} --resource={}`), or make the app ask only in its own namespace.",
                self.verb, self.resource, self.verb, self.resource
            ),
        }
    }
}

/// The refusal a log line reports, when it is one for a ServiceAccount.
pub(crate) fn refusal(line: &str) -> Option<Refusal> {
    // klog's structured lines quote the message again: `err="... User \"system:...\" ..."`.
    let line = line.replace("\\\"", "\"");
    let rest = &line[line.find("User \"system:serviceaccount:")? + 28..];
    let (who, rest) = rest.split_once('"')?;
    let (namespace, account) = who.split_once(':')?;
    let rest = rest.trim_start().strip_prefix("cannot ")?;
    let (verb, rest) = rest.split_once(' ')?;
    let rest = rest.strip_prefix("resource \"")?;
    let (resource, rest) = rest.split_once('"')?;
    let group = rest
        .split_once("in API group \"")
        .and_then(|(_, g)| g.split_once('"'))
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    // A clipped line may have lost its tail: only "at the cluster scope" says cluster-wide.
    let scope = if rest.contains("at the cluster scope") {
        None
    } else {
        let named = rest
            .split_once("in the namespace \"")
            .and_then(|(_, n)| n.split_once('"'))
            .map(|(n, _)| n.to_string());
        Some(named.unwrap_or_else(|| namespace.to_string()))
    };
    Some(Refusal {
        namespace: namespace.to_string(),
        account: account.to_string(),
        verb: verb.to_string(),
        resource: resource.to_string(),
        group,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_api_servers_refusal() {
        let line = r#"E1120 09:58:01.123 reflector.go:150] pkg/mod/k8s.io/client-go/tools/cache/reflector.go:125: Failed to list *v1.Pod: pods is forbidden: User "system:serviceaccount:shop:watcher" cannot list resource "pods" in API group "" in the namespace "shop""#;
        let r = refusal(line).unwrap();
        assert_eq!(
            (
                r.namespace.as_str(),
                r.account.as_str(),
                r.verb.as_str(),
                r.resource.as_str()
            ),
            ("shop", "watcher", "list", "pods")
        );
        assert_eq!(r.scope.as_deref(), Some("shop"));
        assert!(
            r.evidence()
                .contains("may not list pods (API group core) in namespace shop")
        );
        let klog = r#"E1120 reflector.go:158] "Unhandled Error" err="failed to list *v1.Pod: pods is forbidden: User \"system:serviceaccount:ops:pod-reaper\" cannot list resource \"pods\" in API group \"\" in the namespace \"ops\"""#;
        assert_eq!(refusal(klog).unwrap().account, "pod-reaper");
        let cluster = r#"nodes is forbidden: User "system:serviceaccount:monitoring:agent" cannot watch resource "nodes" in API group "" at the cluster scope"#;
        assert_eq!(refusal(cluster).unwrap().scope, None);
        assert!(refusal("connection refused").is_none());
    }
}
